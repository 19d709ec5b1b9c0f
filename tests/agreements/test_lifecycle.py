"""Agreement lifecycle through the staff pages: renewal on paper, termination, grace on /allies."""

from datetime import date, timedelta

import sqlalchemy as sa

from allies.agreements.models import Agreement
from allies.applications.models import Application
from allies.applications.statements import current_statements
from allies.extensions import db


def _paper_renewal(app, client, org_id, agreement_id, signed_on):
    with app.app_context():
        texts = current_statements()
    return client.post(
        f"/staff/allies/{org_id}/agreements/{agreement_id}/renew",
        data={
            "endorse_mission": "y", "endorse_vision": "y", "endorse_values": "y",
            "mission_version_id": texts["mission"].id, "vision_version_id": texts["vision"].id,
            "values_version_id": texts["values"].id, "signer_name": "Paper Signer",
            "signer_title": "President", "signer_email": "paper@example.org",
            "signed_on": signed_on,
        },
    )  # fmt: skip


def test_staff_renew_on_paper_then_approve_gives_a_contiguous_term(app, client, auth, factory):
    today = date.today()
    org_id, agreement_id = factory.ally(start=today - timedelta(days=700))
    auth.login("reviewer")
    response = _paper_renewal(app, client, org_id, agreement_id, today.isoformat())
    assert response.status_code == 302
    with app.app_context():
        renewal = db.session.scalar(sa.select(Application).where(Application.kind == "renewal"))
        assert renewal.endorsement.recorded_by.role == "reviewer"
        assert renewal.endorsement.signer_name == "Paper Signer"
        renewal_id = renewal.id
    page = client.get(f"/staff/applications/{renewal_id}").get_data(as_text=True)
    assert "signed on paper" in page and today.strftime("%d %b %Y") in page
    client.post(f"/staff/applications/{renewal_id}/approve", data={"start_date": today.isoformat()})
    with app.app_context():
        old = db.session.get(Agreement, agreement_id)
        assert old.successor.start_date == old.end_date + timedelta(days=1)


def test_paper_renewal_form_errors_are_shown(app, client, auth, factory):
    org_id, agreement_id = factory.ally(start=date.today() - timedelta(days=700))
    auth.login("reviewer")
    response = client.post(
        f"/staff/allies/{org_id}/agreements/{agreement_id}/renew",
        data={"signer_email": "not-an-email", "signer_name": "Kept Name"},
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Please endorse the mission." in html and "Enter a valid email address" in html
    assert 'value="Kept Name"' in html


def test_terminating_a_paper_renewal_not_yet_started_ends_the_old_term_too(
    app, client, auth, factory
):
    today = date.today()
    org_id, agreement_id = factory.ally(start=today - timedelta(days=700), name="Ending Org")
    auth.login("admin")
    _paper_renewal(app, client, org_id, agreement_id, today.isoformat())
    with app.app_context():
        renewal_id = db.session.scalar(
            sa.select(Application.id).where(Application.kind == "renewal")
        )
    client.post(f"/staff/applications/{renewal_id}/approve", data={"start_date": today.isoformat()})
    detail = client.get(f"/staff/allies/{org_id}").get_data(as_text=True)
    # The old term is renewed, so termination is offered on the new one only.
    with app.app_context():
        successor_id = db.session.get(Agreement, agreement_id).successor.id
    assert f"/agreements/{successor_id}/terminate" in detail
    assert f"/agreements/{agreement_id}/terminate" not in detail
    response = client.post(
        f"/staff/allies/{org_id}/agreements/{successor_id}/terminate",
        data={"terminated_on": today.isoformat(), "reason": "Closed down"},
    )
    assert response.status_code == 302
    with app.app_context():
        old = db.session.get(Agreement, agreement_id)
        assert old.terminated_on == today and old.successor.terminated_on == today
        from allies.mail.models import OutboxMessage

        notice = db.session.scalar(
            sa.select(OutboxMessage).where(OutboxMessage.kind == "agreement_terminated")
        )
        assert "Closed down" in notice.body_text and notice.to_addr.endswith("@example.org")
    anonymous = app.test_client()
    with app.app_context():
        old_end = db.session.get(Agreement, agreement_id).end_date
    assert "Ending Org" not in anonymous.get("/allies").get_data(as_text=True)
    from allies.agreements.standing import status_of

    with app.app_context():
        later = db.session.get(Agreement, agreement_id).successor
        assert status_of(later, old_end + timedelta(days=10)) == "terminated"


def test_terminate_needs_a_reason(client, auth, factory):
    org_id, agreement_id = factory.ally()
    auth.login("reviewer")
    response = client.post(
        f"/staff/allies/{org_id}/agreements/{agreement_id}/terminate",
        data={"terminated_on": date.today().isoformat(), "reason": ""},
    )
    assert response.status_code == 400
    assert "A reason is required." in response.get_data(as_text=True)


def test_an_ally_in_grace_is_listed_as_renewal_in_progress(app, factory):
    today = date.today()
    factory.ally(start=today - timedelta(days=740), name="Graceful Org")  # ended ~10 days ago
    factory.ally(start=today - timedelta(days=30), name="Fresh Org")
    page = app.test_client().get("/allies").get_data(as_text=True)
    graceful = page[page.index("Graceful Org") :]
    graceful = graceful[: graceful.index("</li>")]
    fresh = page[page.index("Fresh Org") :]
    fresh = fresh[: fresh.index("</li>")]
    assert "Renewal in progress" in graceful
    assert "Renewal in progress" not in fresh


def test_staff_add_and_remove_contacts_but_never_the_last_primary(app, client, auth, factory):
    org_id, _agreement = factory.ally()
    auth.login("reviewer")
    client.post(
        f"/staff/allies/{org_id}/contacts",
        data={"role": "signatory", "name": "Sig Natory", "email": "sig@example.org"},
    )
    page = client.get(f"/staff/allies/{org_id}").get_data(as_text=True)
    assert "Sig Natory" in page
    import re

    removes = re.findall(rf'action="(/staff/allies/{org_id}/contacts/\d+/remove)"', page)
    assert len(removes) == 2
    for action in removes:
        client.post(action)
    page = client.get(f"/staff/allies/{org_id}").get_data(as_text=True)
    assert "Sig Natory" not in page
    assert "Pat Contact" in page  # the only primary contact stays


def test_dashboard_shows_what_needs_attention(client, auth, factory):
    today = date.today()
    factory.ally(start=today - timedelta(days=710), name="Soon Ending Org")
    factory.application(name="Waiting Org")
    auth.login("reviewer")
    page = client.get("/staff").get_data(as_text=True)
    assert "Waiting Org" in page and "days" in page
    ending = page[page.index("Ending within 30 days") :]
    assert "Soon Ending Org" in ending
    assert "The reminder schedule is not running." in page  # no sweep has ever run


def test_ally_page_for_staff_shows_the_whole_history_and_no_second_renewal(
    app, client, auth, factory
):
    today = date.today()
    org_id, agreement_id = factory.ally(start=today - timedelta(days=700))
    auth.login("reviewer")
    _paper_renewal(app, client, org_id, agreement_id, today.isoformat())
    with app.app_context():
        renewal_id = db.session.scalar(
            sa.select(Application.id).where(Application.kind == "renewal")
        )
    client.post(f"/staff/applications/{renewal_id}/approve", data={"start_date": today.isoformat()})
    page = client.get(f"/staff/allies/{org_id}").get_data(as_text=True)
    history = page[page.index("<h2>History</h2>") :]
    for action in ("submitted", "approved", "agreement started", "renewal submitted"):
        assert action in history, action
    assert "Record a renewal signed on paper" not in page  # already renewed
