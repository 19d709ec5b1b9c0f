"""A renewal prompt's copy to the signatory is a message of their own, with a link of their own.

The prompt's renewal link signs its holder in as the contact it was made for: a signatory in Cc
of the primary contact's prompt could act as the primary contact. Each person gets their own
message instead, in their own language, the copy saying who else received the reminder.
"""

import re
from datetime import date, timedelta

from allies.agreements.terms import term_end
from allies.extensions import db
from allies.mail.models import OutboxMessage
from allies.organizations.models import Contact, Organization, SignInLink
from allies.organizations.operations import add_contact
from allies.reminders.models import Reminder
from allies.reminders.operations import run_sweep
from allies.sessions import CONTACT_ID

START = date(2025, 3, 10)
END = term_end(START)  # 2027-03-09
PRIMARY = "primary@copies.example.org"
SIGNER = "signer@copies.example.org"
TOKEN = re.compile(r"/my/link/([A-Za-z0-9._-]+)")


def _ally_with_signatory(app, factory, *, signer_language="en"):
    """An Ally (primary contact Pat Contact) with a signatory; (organization, agreement, ids)."""
    organization_id, agreement_id = factory.ally(start=START, name="Copies Clinic", email=PRIMARY)
    with app.app_context():
        organization = db.session.get(Organization, organization_id)
        signatory = add_contact(
            organization,
            {"role": "signatory", "name": "Sofía Firma", "email": SIGNER},
            actor="test",
        )
        signatory.language = signer_language
        db.session.commit()
        ids = {
            "primary": organization.contact_for("primary").id,
            "signatory": signatory.id,
        }
    return organization_id, agreement_id, ids


def _reminder_messages(app) -> list[OutboxMessage]:
    with app.app_context():
        messages = db.session.scalars(
            db.select(OutboxMessage)
            .where(OutboxMessage.kind == "reminder")
            .order_by(OutboxMessage.id)
        ).all()
        for message in messages:
            db.session.expunge(message)
        return messages


def _sweep(app, day):
    with app.app_context():
        result = run_sweep(day)
        assert not result.errors
        return result


def _signed_in_as(app, client, token: str) -> int:
    """Follow an emailed link as its holder would; the contact id the session then holds."""
    response = client.post(f"/my/link/{token}")
    assert response.status_code == 302, response.get_data(as_text=True)
    with client.session_transaction() as session:
        return session[CONTACT_ID]


def test_the_signatory_gets_a_copy_of_their_own_and_never_the_primary_contacts_link(
    app, client, factory
):
    _org, agreement, ids = _ally_with_signatory(app, factory)
    result = _sweep(app, END - timedelta(days=90))
    assert [(line.agreement_id, line.kind) for line in result.lines if line.agreement_id] == [
        (agreement, "before_90")
    ]

    messages = _reminder_messages(app)
    assert sorted((m.to_addr, m.cc_addrs) for m in messages) == [(PRIMARY, ""), (SIGNER, "")]
    primary = next(m for m in messages if m.to_addr == PRIMARY)
    copy = next(m for m in messages if m.to_addr == SIGNER)
    primary_token = TOKEN.search(primary.body_text).group(1)
    signer_token = TOKEN.search(copy.body_text).group(1)
    assert primary_token != signer_token
    # No message addressed to or copying the signatory holds the primary contact's key.
    for message in messages:
        if SIGNER in (message.to_addr, *message.cc_addrs.split(", ")):
            assert primary_token not in message.body_text + message.body_html
    assert signer_token in copy.body_html

    # The reminder record points at the primary contact's message; the copy is its own message.
    with app.app_context():
        reminder = db.session.scalar(db.select(Reminder).where(Reminder.agreement_id == agreement))
        assert reminder.outbox_message_id == primary.id
    assert "Hello Sofía Firma," in copy.body_text
    assert "A copy of the reminder sent to Pat Contact (primary contact)." in copy.body_text
    assert "A copy of the reminder sent to Pat Contact (primary contact)." in copy.body_html
    assert "A copy of" not in primary.body_text + primary.body_html
    assert copy.subject == primary.subject

    # Each link signs in as the person it was sent to, and opens the renewal.
    assert _signed_in_as(app, client, signer_token) == ids["signatory"]
    client.post("/my/sign-out")
    assert _signed_in_as(app, client, primary_token) == ids["primary"]
    with app.app_context():
        links = db.session.execute(
            db.select(SignInLink.contact_id, SignInLink.agreement_id).where(
                SignInLink.purpose == "renewal"
            )
        ).all()
        assert sorted(links) == sorted([(ids["primary"], agreement), (ids["signatory"], agreement)])


def test_the_copy_is_written_in_its_readers_language(app, factory):
    _ally_with_signatory(app, factory, signer_language="es")
    _sweep(app, END - timedelta(days=30))
    copy = next(m for m in _reminder_messages(app) if m.to_addr == SIGNER)
    primary = next(m for m in _reminder_messages(app) if m.to_addr == PRIMARY)
    assert "Hola, Sofía Firma:" in copy.body_text
    assert "Copia del recordatorio enviado a Pat Contact (contacto principal)." in copy.body_text
    assert '<html lang="es">' in copy.body_html
    assert copy.subject.startswith("Copies Clinic: su acuerdo de Aliado termina en 30 días")
    assert primary.subject == "Copies Clinic: your Ally agreement ends in 30 days (9 March 2027)"


def test_a_second_sweep_queues_no_copy_again(app, factory):
    _ally_with_signatory(app, factory)
    _sweep(app, END - timedelta(days=90))
    again = _sweep(app, END - timedelta(days=90))
    later = _sweep(app, END - timedelta(days=89))
    assert [line for line in again.lines + later.lines if line.agreement_id] == []
    assert again.copy_count == later.copy_count == 0
    messages = _reminder_messages(app)
    assert [m.to_addr for m in messages].count(SIGNER) == 1
    assert len(messages) == 2
    # The next prompt comes with its own copy, once.
    _sweep(app, END - timedelta(days=30))
    _sweep(app, END - timedelta(days=30))
    assert [m.to_addr for m in _reminder_messages(app)].count(SIGNER) == 2


def test_the_lapse_notice_goes_to_the_primary_contact_alone(app, factory):
    _ally_with_signatory(app, factory)
    result = _sweep(app, END + timedelta(days=31))
    assert result.copy_count == 0
    assert [(m.to_addr, m.cc_addrs) for m in _reminder_messages(app)] == [(PRIMARY, "")]


def test_a_dry_run_names_the_copies_it_would_send(app, factory):
    _org, agreement, _ids = _ally_with_signatory(app, factory)
    with app.app_context():
        dry = run_sweep(END - timedelta(days=90), dry_run=True)
    (line,) = [line for line in dry.lines if line.agreement_id]
    assert (line.agreement_id, line.to_addr, line.copies) == (agreement, PRIMARY, (SIGNER,))
    assert f"a copy of its own to {SIGNER}" in str(line)
    assert dry.copy_count == 1
    assert _reminder_messages(app) == []


def test_each_contact_keeps_to_its_live_links(app, factory):
    _org, _agreement, ids = _ally_with_signatory(app, factory)
    app.config["LIVE_LINKS_PER_CONTACT"] = 1
    with app.app_context():
        from allies.organizations.access import make_link_token

        signatory = db.session.get(Contact, ids["signatory"])
        make_link_token(signatory, "renewal")
        db.session.commit()
    _sweep(app, END - timedelta(days=90))
    with app.app_context():
        live = db.session.execute(
            db.select(SignInLink.contact_id, db.func.count())
            .where(SignInLink.purpose == "renewal", SignInLink.used_at.is_(None))
            .group_by(SignInLink.contact_id)
        ).all()
    assert dict(live) == {ids["primary"]: 1, ids["signatory"]: 1}
