"""Invitations: the Allies current on the day of sending, once per (conference, organization),
to the primary contact with the signatory in copy; the confirm step's count; the CLI; the one
reminder; the answers' counts and CSV."""

import threading
import time
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from allies.conferences.models import Conference, Invitation
from allies.conferences.operations import invite_current_allies, remind_unanswered, save_answer
from allies.errors import OperationError
from allies.extensions import db
from allies.mail.models import OutboxMessage
from allies.organizations.models import Contact
from allies.staff.models import AuditEvent
from tests.fixtures import start_for_end

TODAY = date(2030, 3, 2)
FIRST_DAY = date(2030, 6, 10)


@pytest.fixture
def conference_id(app):
    app.config["TODAY"] = TODAY
    with app.app_context():
        conference = Conference(
            title="Health Equity Together",
            place="Lima, Peru",
            start_date=FIRST_DAY,
            end_date=FIRST_DAY + timedelta(days=2),
        )
        db.session.add(conference)
        db.session.commit()
        return conference.id


def _with_signatory(app, organization_id, email):
    with app.app_context():
        db.session.add(
            Contact(organization_id=organization_id, role="signatory", name="Sig", email=email)
        )
        db.session.commit()


def _invite(app, conference_id, today=TODAY, **kwargs):
    with app.app_context():
        conference = db.session.get(Conference, conference_id)
        return invite_current_allies(conference, staff=None, today=today, **kwargs)


def _invitations(app, conference_id):
    with app.app_context():
        return db.session.scalar(
            sa.select(sa.func.count(Invitation.id)).where(Invitation.conference_id == conference_id)
        )


def _messages(app, kind):
    with app.app_context():
        return list(
            db.session.execute(
                sa.select(OutboxMessage.to_addr, OutboxMessage.cc_addrs, OutboxMessage.body_text)
                .where(OutboxMessage.kind == kind)
                .order_by(OutboxMessage.id)
            ).tuples()
        )


def test_staff_confirm_then_invite_the_allies_current_today(
    app, client, auth, factory, conference_id
):
    current, _ = factory.ally(name="Current Org", email="primary@current.example.org", start=TODAY)
    _with_signatory(app, current, "signs@current.example.org")
    factory.ally(name="Lapsed Org", start=start_for_end(TODAY - timedelta(days=40)))
    factory.ally(name="Grace Org", start=start_for_end(TODAY - timedelta(days=5)))
    factory.ally(name="Future Org", start=TODAY + timedelta(days=3))
    auth.login("reviewer")
    confirm = client.get(f"/staff/conferences/{conference_id}/invite").get_data(as_text=True)
    assert "Send 2 invitations" in confirm  # Current Org and Grace Org (listed today)
    assert "Current Org" in confirm and "Lapsed Org" not in confirm
    assert _invitations(app, conference_id) == 0  # the confirm step writes nothing
    done = client.post(f"/staff/conferences/{conference_id}/invite", follow_redirects=True)
    assert "2 invitations queued." in done.get_data(as_text=True)
    messages = _messages(app, "conference_invitation")
    assert len(messages) == 2
    to_current = next(m for m in messages if m[0] == "primary@current.example.org")
    assert to_current[1] == "signs@current.example.org"
    assert f"/conferences/{conference_id}/answer/" in to_current[2]
    # Sending again invites nobody: the page says so before anything is sent.
    again = client.get(f"/staff/conferences/{conference_id}/invite").get_data(as_text=True)
    assert "has already been invited" in again
    with app.app_context():
        actions = db.session.scalars(
            sa.select(AuditEvent.action).where(AuditEvent.subject_type == "conference_invitation")
        ).all()
        assert actions == ["conference_invited", "conference_invited"]


def test_sending_again_invites_only_allies_who_became_current_since(app, factory, conference_id):
    factory.ally(name="Early Org", start=TODAY - timedelta(days=50))
    assert _invite(app, conference_id).count == 1
    factory.ally(name="Later Org", start=TODAY + timedelta(days=10))
    later = TODAY + timedelta(days=10)
    assert [
        line.organization_name for line in _invite(app, conference_id, later, dry_run=True).lines
    ] == ["Later Org"]
    assert _invitations(app, conference_id) == 1  # the dry run wrote nothing
    result = _invite(app, conference_id, later)
    assert [line.organization_name for line in result.lines] == ["Later Org"]
    assert _invite(app, conference_id, later).count == 0
    assert _invitations(app, conference_id) == 2
    assert len(_messages(app, "conference_invitation")) == 2


class _WritesHeld:
    """Hold the invitation table's writes (readers go on) until ``release()``: both sends then
    read the same Allies to invite before either can write, so they truly race."""

    def __init__(self, url: str):
        self.engine = sa.create_engine(url)
        self.conn = self.engine.connect()
        if url.startswith("sqlite"):
            self.conn.exec_driver_sql("BEGIN IMMEDIATE")  # the one writer's lock; WAL readers go on
        else:
            self.conn.exec_driver_sql("LOCK TABLE conference_invitation IN EXCLUSIVE MODE")

    def release(self) -> None:
        if self.engine.dialect.name == "sqlite":
            self.conn.exec_driver_sql("ROLLBACK")
        else:
            self.conn.rollback()
        self.conn.close()
        self.engine.dispose()


def test_two_simultaneous_sends_invite_each_ally_exactly_once(app, factory, conference_id):
    for n in range(8):
        factory.ally(name=f"Race Org {n}", start=TODAY - timedelta(days=20))
    barrier = threading.Barrier(3)
    results, errors = [], []

    def send():
        try:
            with app.app_context():
                conference = db.session.get(Conference, conference_id)
                barrier.wait(timeout=30)
                try:
                    results.append(invite_current_allies(conference, staff=None, today=TODAY))
                finally:
                    db.session.remove()
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    held = _WritesHeld(app.config["SQLALCHEMY_DATABASE_URI"])
    threads = [threading.Thread(target=send) for _ in range(2)]
    try:
        for thread in threads:
            thread.start()
        barrier.wait(timeout=30)
        time.sleep(1.0)  # both sends have read the Allies to invite and wait to write
    finally:
        held.release()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == [] and len(results) == 2
    # Each send saw all eight; between them each was invited once.
    for result in results:
        assert result.count + result.skipped["invited meanwhile by another send"] == 8
    assert sum(result.count for result in results) == 8
    assert _invitations(app, conference_id) == 8
    recipients = [to for to, _cc, _body in _messages(app, "conference_invitation")]
    assert len(recipients) == len(set(recipients)) == 8


def test_no_invitations_to_a_year_only_or_started_conference(app, factory, conference_id):
    factory.ally(start=TODAY - timedelta(days=20))
    with pytest.raises(OperationError, match="started"):
        _invite(app, conference_id, FIRST_DAY)
    with app.app_context():
        db.session.add(
            Conference(
                title="Old",
                place="Chicago, IL, USA",
                start_date=date(2031, 1, 1),
                end_date=date(2031, 12, 31),
                dates_year_only=True,
            )
        )
        db.session.commit()
        old_id = db.session.scalar(sa.select(Conference.id).where(Conference.title == "Old"))
    with pytest.raises(OperationError, match="dates"):
        _invite(app, old_id)
    assert _invitations(app, conference_id) == 0


def test_the_cli_invites_one_line_per_message(app, runner, factory, conference_id):
    factory.ally(name="Cli Org", email="cli@example.org", start=TODAY - timedelta(days=20))
    dry = runner.invoke(args=["conferences", "invite", str(conference_id), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert dry.output.splitlines() == ["invitation Cli Org to cli@example.org", "queued 1"]
    assert _invitations(app, conference_id) == 0
    real = runner.invoke(args=["conferences", "invite", str(conference_id)])
    assert real.output.splitlines() == ["invitation Cli Org to cli@example.org", "queued 1"]
    again = runner.invoke(args=["conferences", "invite", str(conference_id)])
    assert again.output.splitlines() == ["queued 0"]
    missing = runner.invoke(args=["conferences", "invite", "9999"])
    assert missing.exit_code != 0 and "No conference with id 9999" in missing.output
    with app.app_context():
        event = db.session.scalar(
            sa.select(AuditEvent).where(AuditEvent.action == "conference_invited")
        )
        assert event.actor == "command line"


def test_the_reminder_goes_once_to_those_who_have_not_answered(
    app, client, auth, factory, conference_id
):
    factory.ally(name="Answered Org", email="answered@example.org", start=TODAY)
    factory.ally(name="Silent Org", email="silent@example.org", start=TODAY)
    _invite(app, conference_id)
    with app.app_context():
        answered = db.session.scalar(
            sa.select(Invitation).where(Invitation.organization.has(name="Answered Org"))
        )
        save_answer(answered, attending=True, people=3, names="A\nB", today=TODAY)
    auth.login("reviewer")
    page = client.get(f"/staff/conferences/{conference_id}").get_data(as_text=True)
    assert "Remind those who have not answered" in page
    client.post(f"/staff/conferences/{conference_id}/remind")
    reminders = _messages(app, "conference_reminder")
    assert [to for to, _cc, _body in reminders] == ["silent@example.org"]
    second = client.post(f"/staff/conferences/{conference_id}/remind", follow_redirects=True)
    assert "already been sent" in second.get_data(as_text=True)
    assert len(_messages(app, "conference_reminder")) == 1
    page = client.get(f"/staff/conferences/{conference_id}").get_data(as_text=True)
    assert "Remind those who have not answered</button>" not in page  # disabled after
    with app.app_context():
        conference = db.session.get(Conference, conference_id)
        with pytest.raises(OperationError):
            remind_unanswered(conference, staff=None, today=TODAY)
        assert db.session.scalar(
            sa.select(AuditEvent.action).where(AuditEvent.action == "conference_reminder_sent")
        )


def test_counts_and_the_answers_csv(app, client, auth, factory, conference_id):
    for name in ("=Yes Org", "No Org", "Quiet Org"):
        factory.ally(name=name, start=TODAY)
    _invite(app, conference_id)
    with app.app_context():
        invitations = {
            inv.organization.name: inv for inv in db.session.scalars(sa.select(Invitation)).all()
        }
        save_answer(
            invitations["=Yes Org"],
            attending=True,
            people=4,
            names="=cmd|' /C calc'!A0",
            today=TODAY,
        )
        save_answer(invitations["No Org"], attending=True, people=2, names="", today=TODAY)
        save_answer(invitations["No Org"], attending=False, people=None, names="", today=TODAY)
    auth.login("reviewer")
    page = client.get(f"/staff/conferences/{conference_id}").get_data(as_text=True)
    for figure, label in ((3, "invited"), (1, "attending"), (1, "not attending"),
                          (1, "not answered"), (4, "people expected")):  # fmt: skip
        assert f"<strong>{figure}</strong> {label}" in page
    csv = client.get(f"/staff/conferences/{conference_id}/answers.csv").get_data(as_text=True)
    lines = csv.lstrip("\ufeff").splitlines()
    assert len(lines) == 4
    yes_line = next(line for line in lines if line.startswith("'=Yes Org,"))
    assert "'=cmd" in yes_line
    no_line = next(line for line in lines if line.startswith("No Org"))
    assert "not attending" in no_line and no_line.endswith(",1,")  # changed once, not reminded
