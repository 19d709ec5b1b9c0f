"""The daily reminder sweep: exactly once, latest missed only, renewals, digest, dry run, CLI."""

import re
from datetime import date, datetime, timedelta

import pytest

from allies.agreements.models import Agreement
from allies.agreements.operations import terminate_agreement
from allies.agreements.standing import lapse_date
from allies.agreements.terms import term_end
from allies.applications.models import Application
from allies.applications.operations import (
    approve_application,
)
from allies.extensions import db
from allies.mail.models import OutboxMessage
from allies.organizations.access import consume_link_token
from allies.organizations.models import SignInLink
from allies.reminders.models import Reminder, StaffDigest, SweepRun
from allies.reminders.operations import (
    reminders_for_agreement,
    run_sweep,
    sweep_health,
)
from allies.staff.models import StaffUser
from allies.staff.settings import set_setting
from tests.fixtures import Factory

START = date(2025, 3, 10)
END = term_end(START)  # 2027-03-09
LAPSE = lapse_date(END, 30)  # 2027-04-09


def sweep(app, day, **kwargs):
    """Run the sweep as of ``day`` and return its reminder lines as (agreement_id, kind)."""
    with app.app_context():
        result = run_sweep(day, **kwargs)
        assert not result.errors
        return result


def sent(result):
    """(agreement, kind) of the reminder lines of a sweep result (the staff digest left out)."""
    return [(line.agreement_id, line.kind) for line in result.lines if line.kind != "staff_digest"]


def kinds_of(app, agreement_id):
    with app.app_context():
        return [r.kind for r in reminders_for_agreement(agreement_id)]


def count(app, model, *where):
    with app.app_context():
        return db.session.scalar(db.select(db.func.count()).select_from(model).where(*where))


def reminder_messages(app):
    return count(app, OutboxMessage, OutboxMessage.kind == "reminder")


def test_sweep_twice_adds_nothing(app, factory):
    _org, agreement_id = factory.ally(start=START, name="Twice Clinic", email="twice@example.org")
    first = sweep(app, END - timedelta(days=30))
    assert sent(first) == [(agreement_id, "before_30")]
    line = [li for li in first.lines if li.kind == "before_30"][0]
    assert line.to_addr == "twice@example.org"
    assert "30 days" in line.subject
    reminders, messages = count(app, Reminder), reminder_messages(app)
    assert (reminders, messages) == (1, 1)

    again = sweep(app, END - timedelta(days=30))
    assert sent(again) == []
    next_day = sweep(app, END - timedelta(days=29))
    assert sent(next_day) == []
    assert (count(app, Reminder), reminder_messages(app)) == (reminders, messages)
    with app.app_context():
        (reminder,) = reminders_for_agreement(agreement_id)
        assert reminder.due_on == END - timedelta(days=30)
        assert reminder.outbox_message.to_addr == "twice@example.org"
        assert reminder.outbox_message.kind == "reminder"


def test_reminder_email_says_days_left_end_date_and_carries_a_working_renewal_link(app, factory):
    _org, agreement_id = factory.ally(start=START, name="Link Clinic")
    sweep(app, END - timedelta(days=90))
    with app.app_context():
        (reminder,) = reminders_for_agreement(agreement_id)
        message = reminder.outbox_message
        assert "ends in 90 days" in message.body_text
        assert "9 March 2027" in message.body_text
        assert "9 March 2027" in message.body_html
        url = re.search(r"(http://allies\.test/my/link/\S+)", message.body_text).group(1)
        assert f"next=%2Fmy%2Frenew%2F{agreement_id}" in url or f"/my/renew/{agreement_id}" in url
        assert url in message.body_html.replace("&amp;", "&")
        token = re.search(r"/my/link/([^?\s]+)", url).group(1)
        link = consume_link_token(token, "renewal")
        assert link.agreement_id == agreement_id
        assert link.contact.organization.name == "Link Clinic"


def test_every_kind_on_its_day_with_the_configured_offsets(app, factory):
    _org, agreement_id = factory.ally(start=START)
    with app.app_context():
        set_setting("reminder_offsets", [60, 14])
        db.session.commit()
    queued = {}
    day = END - timedelta(days=70)
    while day <= LAPSE + timedelta(days=3):
        for _id, kind in sent(sweep(app, day)):
            queued[kind] = day
        day += timedelta(days=1)
    assert queued == {
        "before_60": END - timedelta(days=60),
        "before_14": END - timedelta(days=14),
        "end_day": END,
        "lapse": LAPSE,
    }
    assert kinds_of(app, agreement_id) == ["before_60", "before_14", "end_day", "lapse"]


def test_after_downtime_only_the_latest_missed_reminder_is_sent(app, factory):
    _org, agreement_id = factory.ally(start=START)
    assert sent(sweep(app, END - timedelta(days=100))) == []
    # Down from 100 days before the end until 5 days before: 90, 30 and 7 were all missed.
    late = sweep(app, END - timedelta(days=5))
    assert sent(late) == [(agreement_id, "before_7")]
    assert "ends in 5 days" in [li for li in late.lines if li.kind == "before_7"][0].subject
    assert sent(sweep(app, END)) == [(agreement_id, "end_day")]
    # Down again from the end day until long after the lapse.
    assert sent(sweep(app, LAPSE + timedelta(days=20))) == [(agreement_id, "lapse")]
    assert kinds_of(app, agreement_id) == ["before_7", "end_day", "lapse"]
    # Nothing more, ever.
    assert sent(sweep(app, LAPSE + timedelta(days=21))) == []


def test_an_earlier_kind_is_never_sent_once_a_later_one_exists(app, factory):
    _org, agreement_id = factory.ally(start=START)
    assert sent(sweep(app, END - timedelta(days=7))) == [(agreement_id, "before_7")]
    # Travelling back to the day the 30-day reminder was due sends nothing.
    assert sent(sweep(app, END - timedelta(days=30))) == []
    assert kinds_of(app, agreement_id) == ["before_7"]


def test_the_first_sweep_looks_back_only_a_few_days(app, factory):
    _org, lapsed_long_ago = factory.ally(start=START - timedelta(days=400))
    _org, due_three_days_ago = factory.ally(start=START)
    first = sweep(app, END - timedelta(days=4))
    assert sent(first) == [(due_three_days_ago, "before_7")]
    assert kinds_of(app, lapsed_long_ago) == []


def test_a_long_outage_is_capped(app, factory):
    _org, agreement_id = factory.ally(start=START)
    sweep(app, START)
    # 800 days later the lapse notice (due 35 days ago) is still sent: within the 400-day cap.
    assert sent(sweep(app, LAPSE + timedelta(days=35))) == [(agreement_id, "lapse")]


def test_nothing_for_an_agreement_renewed_meanwhile(app, factory):
    _org, agreement_id = factory.ally(start=START)
    assert sent(sweep(app, END - timedelta(days=90))) == [(agreement_id, "before_90")]
    Factory(app).renewal(
        agreement_id,
        submitted_on=END - timedelta(days=60),
        approved_on=END - timedelta(days=45),
    )
    day = END - timedelta(days=44)
    while day <= LAPSE + timedelta(days=5):
        assert sent(sweep(app, day)) == [], day
        day += timedelta(days=1)
    assert kinds_of(app, agreement_id) == ["before_90"]
    # After a long outage, still nothing for the renewed term.
    assert sent(sweep(app, LAPSE + timedelta(days=100))) == []


def test_nothing_for_a_terminated_agreement(app, factory):
    _org, agreement_id = factory.ally(start=START)
    sweep(app, END - timedelta(days=60))
    with app.app_context():
        staff = db.session.scalar(db.select(StaffUser).where(StaffUser.role == "admin"))
        agreement = db.session.get(Agreement, agreement_id)
        terminate_agreement(
            agreement,
            staff=staff,
            reason="Asked to leave",
            on=END - timedelta(days=50),
            today=END - timedelta(days=50),
        )
    assert sent(sweep(app, END - timedelta(days=30))) == []
    assert sent(sweep(app, END)) == []
    assert sent(sweep(app, LAPSE)) == []
    assert kinds_of(app, agreement_id) == []


def test_a_renewal_waiting_for_review_holds_back_the_prompts_but_not_the_lapse_notice(app, factory):
    _org, agreement_id = factory.ally(start=START)
    assert sent(sweep(app, END - timedelta(days=30))) == [(agreement_id, "before_30")]
    application_id = Factory(app).renewal(agreement_id, submitted_on=END - timedelta(days=20))
    assert sent(sweep(app, END - timedelta(days=7))) == []
    assert sent(sweep(app, END)) == []
    lapse = sweep(app, LAPSE)
    assert sent(lapse) == [(agreement_id, "lapse")]
    with app.app_context():
        reminder = reminders_for_agreement(agreement_id)[-1]
        assert "waiting for our review" in reminder.outbox_message.body_text
        # Staff then approve the late renewal: it starts on the approval day.
        staff = db.session.scalar(db.select(StaffUser).where(StaffUser.role == "admin"))
        application = db.session.get(Application, application_id)
        successor = approve_application(application, staff=staff, start=None, today=LAPSE)
        assert successor.start_date == LAPSE
    assert sent(sweep(app, LAPSE + timedelta(days=1))) == []


def test_a_declined_renewal_lets_the_reminders_resume(app, factory):
    _org, agreement_id = factory.ally(start=START)
    application_id = Factory(app).renewal(agreement_id, submitted_on=END - timedelta(days=60))
    assert sent(sweep(app, END - timedelta(days=30))) == []
    with app.app_context():
        from allies.applications.operations import decline_application

        staff = db.session.scalar(db.select(StaffUser).where(StaffUser.role == "admin"))
        decline_application(
            db.session.get(Application, application_id), "Incomplete profile", staff=staff
        )
    assert sent(sweep(app, END - timedelta(days=7))) == [(agreement_id, "before_7")]


def test_staff_digest_once_per_week_on_or_after_its_weekday(app, factory):
    _id, staff_email, _pw = factory.staff("reviewer", email="digest@example.org")
    factory.application(name="Waiting Hospital")
    factory.ally(start=START, name="Ending Soon College")
    with app.app_context():
        set_setting("digest_weekday", 2)  # Wednesday
        db.session.add(
            OutboxMessage(
                message_id="<failed@allies.test>",
                to_addr="bounce@example.org",
                subject="A message that bounced",
                body_text="x",
                status="failed",
                last_error="550 no such user",
            )
        )
        db.session.commit()
        recipients = set(db.session.scalars(db.select(StaffUser.email)))
    monday = date(2027, 2, 15)
    assert END - monday <= timedelta(days=30)

    def digests(day):
        return sorted(li.to_addr for li in sweep(app, day).lines if li.kind == "staff_digest")

    assert digests(monday) == []
    assert digests(monday + timedelta(days=1)) == []
    assert digests(monday + timedelta(days=2)) == sorted(recipients)
    assert digests(monday + timedelta(days=3)) == []
    assert digests(monday + timedelta(days=6)) == []
    assert digests(monday + timedelta(days=8)) == []  # next Tuesday
    # Next Wednesday and Thursday missed (downtime): Friday sends the week's digest.
    assert digests(monday + timedelta(days=11)) == sorted(recipients)
    assert digests(monday + timedelta(days=12)) == []
    assert count(app, StaffDigest) == 2
    with app.app_context():
        message = db.session.scalar(
            db.select(OutboxMessage)
            .where(OutboxMessage.kind == "staff_digest", OutboxMessage.to_addr == staff_email)
            .order_by(OutboxMessage.id)
        )
        body = message.body_text
        assert "Applications waiting for review: 1" in body
        assert "Waiting Hospital" in body
        assert "Agreements ending within 30 days: 1" in body
        assert "Ending Soon College" in body
        assert "Emails that failed: 1" in body
        assert "bounce@example.org" in body
        assert "Waiting Hospital" in message.body_html


def test_staff_digest_goes_to_the_configured_address(app, factory):
    factory.staff("admin")
    with app.app_context():
        set_setting("staff_digest_email", "office@example.org")
        db.session.commit()
    result = sweep(app, date(2027, 1, 4))  # a Monday, the default weekday
    assert [(li.kind, li.to_addr) for li in result.lines] == [
        ("staff_digest", "office@example.org")
    ]


def test_dry_run_writes_nothing_and_shows_what_would_be_queued(app, factory):
    _org, agreement_id = factory.ally(start=START)
    day = END - timedelta(days=30)
    tables = (Reminder, OutboxMessage, SweepRun, SignInLink, StaffDigest)
    before = [count(app, table) for table in tables]
    dry = sweep(app, day, dry_run=True)
    assert [count(app, table) for table in tables] == before
    assert (agreement_id, "before_30") in sent(dry)
    real = sweep(app, day)
    assert real.lines == dry.lines
    assert sweep(app, day, dry_run=True).lines == []


def test_cli_prints_one_line_per_message_then_the_count(app, runner, factory):
    _org, agreement_id = factory.ally(start=START, name="Cli Clinic", email="cli@example.org")
    factory.staff("admin", email="boss@example.org")
    day = (END - timedelta(days=7)).isoformat()  # 2027-03-02, a Tuesday
    monday = runner.invoke(args=["reminders", "run", "--today", "2027-03-01", "--yes"])
    assert monday.output.splitlines() == [
        "staff_digest staff to admin2@alliance.example.org: SMA Allies: weekly digest, week of 1 March 2027",
        "staff_digest staff to boss@example.org: SMA Allies: weekly digest, week of 1 March 2027",
        "queued 2",
    ]
    dry = runner.invoke(args=["reminders", "run", "--today", day, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert dry.output.splitlines() == [
        f"before_7 agreement {agreement_id} to cli@example.org: "
        "Cli Clinic: your Ally agreement ends in 7 days (9 March 2027)",
        "queued 1",
    ]
    real = runner.invoke(args=["reminders", "run", "--today", day, "--yes"])
    assert real.output == dry.output
    again = runner.invoke(args=["reminders", "run", "--today", day, "--yes"])
    assert again.exit_code == 0
    assert again.output.splitlines() == ["queued 0"]
    next_monday = runner.invoke(args=["reminders", "run", "--today", "2027-03-08", "--yes"])
    assert next_monday.output.splitlines()[-1] == "queued 2"
    bad = runner.invoke(args=["reminders", "run", "--today", "2027-02-30"])
    assert bad.exit_code != 0


def test_sweep_health_reports_the_last_run_and_goes_stale(app, factory):
    with app.app_context():
        health = sweep_health(datetime(2027, 3, 2, 12, 0))
        assert health["stale"] is True
        assert health["last_finished_at"] is None
    factory.ally(start=START)
    sweep(app, END - timedelta(days=7))
    sweep(app, END - timedelta(days=7), dry_run=True)  # dry runs are not recorded
    with app.app_context():
        run = db.session.scalar(db.select(SweepRun))
        now = run.finished_at + timedelta(hours=1)
        health = sweep_health(now)
        assert health["stale"] is False
        assert health["last_as_of"] == END - timedelta(days=7)
        assert health["queued"] == 2
        assert health["queued_by_kind"] == {"before_7": 1, "staff_digest": 1}
        assert sweep_health(run.finished_at + timedelta(hours=35))["stale"] is False
        assert sweep_health(run.finished_at + timedelta(hours=37))["stale"] is True
    assert count(app, SweepRun) == 1


def test_status_command(app, runner, factory):
    assert runner.invoke(args=["reminders", "status"]).exit_code == 1
    runner.invoke(args=["reminders", "run"])
    result = runner.invoke(args=["reminders", "status"])
    assert result.exit_code == 0, result.output
    assert "Last completed" in result.output


@pytest.mark.parametrize("offset", [90, 30, 7])
def test_an_ally_without_a_contact_is_skipped_not_fatal(app, factory, offset):
    _org, agreement_id = factory.ally(start=START)
    _org2, other_id = factory.ally(start=START)
    with app.app_context():
        agreement = db.session.get(Agreement, agreement_id)
        for contact in agreement.organization.contacts:
            contact.is_enabled = False
        db.session.commit()
    result = sweep(app, END - timedelta(days=offset))
    assert sent(result) == [(other_id, f"before_{offset}")]
    assert result.skipped["no contact"] == 1


def test_an_end_day_reminder_sent_late_says_the_agreement_has_ended(app, factory):
    _org, agreement_id = factory.ally(start=START, name="Late Clinic")
    sweep(app, END - timedelta(days=3))
    late = sweep(app, END + timedelta(days=2))  # down on the end day and the day after
    assert sent(late) == [(agreement_id, "end_day")]
    (line,) = [li for li in late.lines if li.kind == "end_day"]
    assert line.subject == "Late Clinic: your Ally agreement ended on 9 March 2027"
    with app.app_context():
        message = reminders_for_agreement(agreement_id)[-1].outbox_message
        assert "ended on 9 March 2027" in message.body_text
        assert "ends today" not in message.body_text
        assert "until 8 April 2027" in message.body_text


def test_a_sweep_after_one_run_as_of_a_future_day_still_covers_the_last_week(app, factory):
    _org, agreement_id = factory.ally(start=START)
    sweep(app, END + timedelta(days=300))  # an operator ran the sweep as of a future day
    assert sent(sweep(app, END - timedelta(days=5))) == [(agreement_id, "before_7")]
