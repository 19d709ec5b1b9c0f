"""A renewal's confirmation copied to the communications contact is a message of their own.

The confirmation carries a status link that signs its holder in as the contact it was made for;
the communications contact gets their own copy with a link of their own rather than being in Cc.
A message with no personal link (the approval) keeps its Cc.
"""

import re
from datetime import date, timedelta

from allies.agreements.terms import term_end
from allies.applications.models import Application
from allies.extensions import db
from allies.mail.models import OutboxMessage
from allies.mail.outbox import queue_email
from allies.organizations.models import Organization
from allies.organizations.operations import add_contact
from allies.sessions import CONTACT_ID

START = date(2025, 3, 10)
END = term_end(START)
PRIMARY = "primary@confirm.example.org"
NEWS = "news@confirm.example.org"
TOKEN = re.compile(r"/my/link/([A-Za-z0-9._-]+)")


def _messages(app, kind):
    with app.app_context():
        messages = db.session.scalars(
            db.select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)
        ).all()
        for message in messages:
            db.session.expunge(message)
        return messages


def _ally_with_communications(app, factory, language="en"):
    organization_id, agreement_id = factory.ally(start=START, name="Confirm Org", email=PRIMARY)
    with app.app_context():
        contact = add_contact(
            db.session.get(Organization, organization_id),
            {"role": "communications", "name": "Nico News", "email": NEWS},
            actor="test",
        )
        contact.language = language
        db.session.commit()
        return organization_id, agreement_id, contact.id


def test_the_communications_contact_gets_their_own_confirmation_and_link(app, client, factory):
    organization_id, agreement, news_id = _ally_with_communications(app, factory)
    renewal = factory.renewal(agreement, submitted_on=END - timedelta(days=60))

    messages = _messages(app, "renewal_received")
    assert [(m.to_addr, m.cc_addrs) for m in messages] == [(PRIMARY, ""), (NEWS, "")]
    primary, copy = messages
    primary_token = TOKEN.search(primary.body_text).group(1)
    news_token = TOKEN.search(copy.body_text).group(1)
    assert primary_token not in copy.body_text + copy.body_html
    assert news_token in copy.body_html and news_token != primary_token
    assert "A copy of the confirmation sent to Pat Contact (primary contact)." in copy.body_text
    assert "A copy of" not in primary.body_text

    # The copy's link signs in as the communications contact and opens the renewal's page.
    response = client.post(f"/my/link/{news_token}", data={"next": f"/my/applications/{renewal}"})
    assert response.status_code == 302 and response.location.endswith(f"/my/applications/{renewal}")
    with client.session_transaction() as session:
        assert session[CONTACT_ID] == news_id
    assert client.get(response.location).status_code == 200
    client.post("/my/sign-out")
    client.post(f"/my/link/{primary_token}")
    with client.session_transaction() as session:
        with app.app_context():
            primary_id = db.session.get(Application, renewal).contact_id
        assert session[CONTACT_ID] == primary_id


def test_the_copy_is_in_the_communications_contacts_language(app, factory):
    _org, agreement, _id = _ally_with_communications(app, factory, language="es")
    factory.renewal(agreement, submitted_on=END - timedelta(days=60))
    primary, copy = _messages(app, "renewal_received")
    assert "Copia de la confirmación enviada a Pat Contact (contacto principal)." in copy.body_text
    assert copy.subject == "Recibimos la renovación de Confirm Org"
    assert primary.subject == "We received Confirm Org's renewal"


def test_an_approval_carries_no_personal_link_and_keeps_its_copy(app, factory):
    _org, agreement, _id = _ally_with_communications(app, factory)
    factory.renewal(
        agreement, submitted_on=END - timedelta(days=60), approved_on=END - timedelta(days=50)
    )
    approved = _messages(app, "application_approved")[-1]
    assert (approved.to_addr, approved.cc_addrs) == (PRIMARY, NEWS)
    assert "/my/link/" not in approved.body_text + approved.body_html


def test_a_message_with_a_personal_link_cannot_be_copied(app):
    """The rule is enforced where messages are built: a Cc on a sign-in link is refused."""
    import pytest

    with app.app_context(), pytest.raises(ValueError, match="personal link"):
        queue_email(
            PRIMARY,
            "renewal_received",
            "Subject",
            cc=[NEWS],
            application=None,
            organization={"name": "X"},
            agreement={"end_date": None},
            status_link="https://allies.example.org/my/link/abc",
        )
