"""Renewal prompts held back while a renewal waits, and who each reminder goes to."""

from datetime import date, timedelta

from allies.agreements.models import Agreement
from allies.agreements.terms import term_end
from allies.applications.models import Application
from allies.applications.operations import decline_application, withdraw_application
from allies.extensions import db
from allies.mail.models import OutboxMessage
from allies.mail.sender import build_email
from allies.organizations.models import Organization
from allies.organizations.operations import add_contact
from allies.reminders.models import Reminder
from allies.reminders.operations import run_sweep
from allies.staff.models import StaffUser

START = date(2025, 3, 10)
END = term_end(START)  # 2027-03-09


def sweep(app, day):
    """Run the sweep as of ``day``; (agreement, kind) of each reminder it queued."""
    with app.app_context():
        result = run_sweep(day)
        assert not result.errors
        return [(line.agreement_id, line.kind) for line in result.lines if line.agreement_id]


def _reminder_kinds(app, agreement_id):
    with app.app_context():
        return sorted(
            db.session.scalars(
                db.select(Reminder.kind).where(Reminder.agreement_id == agreement_id)
            )
        )


def test_a_prompt_held_while_a_renewal_waits_goes_out_once_it_is_declined(app, factory):
    _org, agreement = factory.ally(start=START)
    assert sweep(app, END - timedelta(days=90)) == [(agreement, "before_90")]
    renewal = factory.renewal(agreement, submitted_on=END - timedelta(days=40))
    assert sweep(app, END - timedelta(days=30)) == []  # held: the renewal waits for review
    assert sweep(app, END - timedelta(days=29)) == []
    with app.app_context():
        staff = db.session.scalar(db.select(StaffUser))
        decline_application(
            db.session.get(Application, renewal), "Please update your profile.", staff=staff
        )
    assert sweep(app, END - timedelta(days=24)) == [(agreement, "before_30")]
    assert sweep(app, END - timedelta(days=23)) == []  # exactly once
    assert sweep(app, END - timedelta(days=7)) == [(agreement, "before_7")]
    assert _reminder_kinds(app, agreement) == ["before_30", "before_7", "before_90"]


def test_after_a_withdrawal_only_the_latest_held_prompt_goes_out(app, factory):
    _org, agreement = factory.ally(start=START)
    sweep(app, END - timedelta(days=90))
    renewal = factory.renewal(agreement, submitted_on=END - timedelta(days=40))
    for day in (30, 7, 3):
        assert sweep(app, END - timedelta(days=day)) == []
    with app.app_context():
        application = db.session.get(Application, renewal)
        withdraw_application(application, contact=application.contact)
    assert sweep(app, END - timedelta(days=2)) == [(agreement, "before_7")]
    assert _reminder_kinds(app, agreement) == ["before_7", "before_90"]


def _add(app, organization_id, role, email):
    with app.app_context():
        organization = db.session.get(Organization, organization_id)
        add_contact(
            organization,
            {"role": role, "name": role.title(), "email": email},
            actor="test",
        )


def _headers(app, kind):
    with app.app_context():
        messages = db.session.scalars(
            db.select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)
        ).all()
        return [(m.to_addr, build_email(m).get("Cc")) for m in messages]


def test_prompts_reach_the_signatory_and_confirmations_communications_each_on_their_own(
    app, factory
):
    org_id, agreement = factory.ally(start=START, email="primary@example.org")
    _add(app, org_id, "signatory", "signer@example.org")
    _add(app, org_id, "communications", "news@example.org")

    # A prompt and a renewal confirmation carry a link that signs in as their recipient: each
    # person gets a message of their own (tests/reminders/test_personal_copies.py), no Cc.
    assert sweep(app, END - timedelta(days=90)) == [(agreement, "before_90")]
    assert _headers(app, "reminder") == [
        ("primary@example.org", None),
        ("signer@example.org", None),
    ]
    assert _reminder_kinds(app, agreement) == ["before_90"]  # one record for both readers

    factory.renewal(
        agreement, submitted_on=END - timedelta(days=60), approved_on=END - timedelta(days=50)
    )
    assert _headers(app, "renewal_received") == [
        ("primary@example.org", None),
        ("news@example.org", None),
    ]
    # The approval carries no personal link: the communications contact is in copy.
    assert _headers(app, "application_approved")[-1] == (
        "primary@example.org",
        "news@example.org",
    )
    with app.app_context():
        assert db.session.get(Agreement, agreement).successor is not None


def test_the_lapse_notice_is_not_copied_to_the_signatory(app, factory):
    org_id, agreement = factory.ally(start=START, email="primary@example.org")
    _add(app, org_id, "signatory", "signer@example.org")
    assert sweep(app, END + timedelta(days=31)) == [(agreement, "lapse")]
    assert _headers(app, "reminder") == [("primary@example.org", None)]
