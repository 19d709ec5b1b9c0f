"""Reminder bursts: hundreds due at once are queued in batches, still exactly once.

The burst is the day an imported roster comes due: a few hundred Allies brought in by the real
roster import, all with the same term, plus Allies made by the factory for the sweep's special
cases (a signatory with a copy of their own, no contact left, a renewal waiting for review). A small
``REMINDER_BATCH_SIZE`` makes the few hundred cross several batch boundaries.
"""

import csv
import json
import math
import re
import threading
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from allies.agreements.models import Agreement
from allies.agreements.terms import term_end
from allies.extensions import db
from allies.mail.models import OutboxMessage
from allies.organizations.access import InvalidLink, consume_link_token, make_link_token
from allies.organizations.models import Organization, OrganizationType, SignInLink
from allies.organizations.operations import add_contact
from allies.organizations.roster import REQUIRED_COLUMNS, import_roster
from allies.reminders.models import Reminder, SweepRun
from allies.reminders.operations import run_sweep
from allies.timeutil import utcnow

START = date(2025, 3, 10)
END = term_end(START)  # 2027-03-09
IMPORTED_ON = START + timedelta(days=30)
DUE_DAY = END - timedelta(days=30)  # every burst Ally's 30-day reminder falls due
BATCH = 40


@pytest.fixture(autouse=True)
def small_batches(app_config):
    """Build the app with small batches, so a few hundred reminders cross batch boundaries."""
    app_config["REMINDER_BATCH_SIZE"] = BATCH


def burst_email(n: int) -> str:
    return f"contact{n}@burst{n}.example.org"


def import_allies(app, folder, count: int) -> dict[int, tuple[str, str]]:
    """Import ``count`` Allies whose terms began on START; {agreement id: (name, email)}."""
    with app.app_context():
        type_name = db.session.scalar(
            db.select(OrganizationType.name).where(OrganizationType.is_enabled).limit(1)
        )
    path = folder / "roster.csv"
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(REQUIRED_COLUMNS)
        for n in range(count):
            writer.writerow(
                [
                    f"Burst Clinic {n:04d}",
                    f"https://burst{n}.example.org",
                    type_name,
                    "Recife",
                    "PE",
                    "Brazil",
                    "A clinic that came in with the roster.",
                    f"Contact {n}",
                    "Director",
                    burst_email(n),
                    "",
                    START.isoformat(),
                ]
            )
    with app.app_context():
        report = import_roster(path, today=IMPORTED_ON)
        assert report.ok and report.imported == count, report.lines()[-3:]
        rows = db.session.execute(
            db.select(Agreement.id, Organization.name)
            .join(Organization, Agreement.organization_id == Organization.id)
            .where(Organization.name.like("Burst Clinic %"))
        ).all()
    return {
        agreement_id: (name, burst_email(int(name.rsplit(" ", 1)[1])))
        for agreement_id, name in rows
    }


class Statements:
    """Counts, while active, the commits and the INSERTs into each table on ``engine``."""

    def __init__(self, engine):
        self.engine = engine
        self.commits = 0
        self.inserts: dict[str, int] = {}

    def _commit(self, _conn):
        self.commits += 1

    def _execute(self, _conn, _cursor, statement, _parameters, _context, _executemany):
        words = statement.split(None, 3)
        if len(words) > 2 and words[0].upper() == "INSERT":
            table = words[2].strip('"')
            self.inserts[table] = self.inserts.get(table, 0) + 1

    def __enter__(self):
        sa.event.listen(self.engine, "commit", self._commit)
        sa.event.listen(self.engine, "before_cursor_execute", self._execute)
        return self

    def __exit__(self, *_exc):
        sa.event.remove(self.engine, "commit", self._commit)
        sa.event.remove(self.engine, "before_cursor_execute", self._execute)


def reminder_rows(app) -> list[tuple[int, str, str, str, str, str]]:
    """(agreement, kind, to, cc, subject, body) of every reminder with a message."""
    with app.app_context():
        return db.session.execute(
            db.select(
                Reminder.agreement_id,
                Reminder.kind,
                OutboxMessage.to_addr,
                OutboxMessage.cc_addrs,
                OutboxMessage.subject,
                OutboxMessage.body_text,
            )
            .join(OutboxMessage, Reminder.outbox_message_id == OutboxMessage.id)
            .order_by(Reminder.agreement_id)
        ).all()


def counts(app) -> tuple[int, int, int]:
    """(reminder rows, reminder rows without a message, reminder messages in the outbox: the
    copies of their own that signatories get included)."""
    with app.app_context():
        total = db.session.scalar(db.select(sa.func.count()).select_from(Reminder))
        bare = db.session.scalar(
            db.select(sa.func.count())
            .select_from(Reminder)
            .where(Reminder.outbox_message_id.is_(None))
        )
        messages = db.session.scalar(
            db.select(sa.func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.kind == "reminder")
        )
        return total, bare, messages


def test_a_burst_is_queued_in_batches_once_each_with_the_right_message(app, factory, tmp_path):
    _org, signed = factory.ally(
        start=START, name="Signed Clinic", email="primary@signed.example.org"
    )
    _org, silent = factory.ally(start=START, name="Silent Clinic")
    _org, renewing = factory.ally(start=START, name="Renewing Clinic")
    with app.app_context():
        organization = db.session.get(Agreement, signed).organization
        add_contact(
            organization,
            {"role": "signatory", "name": "Sig Natory", "email": "Sig@Signed.example.org"},
            actor="test",
        )
        for contact in db.session.get(Agreement, silent).organization.contacts:
            contact.is_enabled = False
        db.session.commit()
    factory.renewal(renewing, submitted_on=DUE_DAY - timedelta(days=10))
    burst = import_allies(app, tmp_path, 230)
    expected = dict(burst)
    expected[signed] = ("Signed Clinic", "primary@signed.example.org")

    with app.app_context():
        dry = run_sweep(DUE_DAY, dry_run=True)
        with Statements(db.engine) as seen:
            result = run_sweep(DUE_DAY)
    assert not result.errors
    lines = [line for line in result.lines if line.kind != "staff_digest"]
    assert lines == [line for line in dry.lines if line.kind != "staff_digest"]
    assert sorted((line.agreement_id, line.kind, line.to_addr) for line in lines) == sorted(
        (agreement_id, "before_30", email) for agreement_id, (_name, email) in expected.items()
    )
    assert result.skipped == {"no contact": 1, "renewal waiting for review": 1}
    # The signatory's copy is a message of its own, counted apart from the reminders.
    assert [line.copies for line in lines if line.copies] == [("sig@signed.example.org",)]
    assert result.copy_count == dry.copy_count == 1

    # In batches: a transaction and one INSERT into reminder and outbox_message per batch of
    # BATCH (the sweep run's start and end and the digest are a few more commits), not per
    # message: a copy goes in with its reminder.
    batches = math.ceil(len(expected) / BATCH)
    assert batches >= 5
    assert seen.commits <= batches + 3, seen.commits
    assert seen.inserts.get("reminder", 0) <= batches, seen.inserts
    assert seen.inserts.get("outbox_message", 0) <= batches + 1, seen.inserts  # + the digest

    rows = reminder_rows(app)
    assert len(rows) == len(expected) == len({row[0] for row in rows})
    for agreement_id, kind, to_addr, cc, subject, body in rows:
        name, email = expected[agreement_id]
        assert (kind, to_addr) == ("before_30", email)
        assert subject == f"{name}: your Ally agreement ends in 30 days (9 March 2027)"
        assert f"{name}'s Ally agreement" in body and "/my/link/" in body
        assert cc == ""  # the renewal link acts as the primary contact: nobody in copy
    # One reminder row per (agreement, kind); one message more, the signatory's own copy.
    assert counts(app) == (len(expected), 0, len(expected) + 1)
    with app.app_context():
        copy = db.session.scalar(
            db.select(OutboxMessage).where(OutboxMessage.to_addr == "sig@signed.example.org")
        )
        assert (copy.kind, copy.cc_addrs) == ("reminder", "")
        signed_body = next(row[5] for row in rows if row[0] == signed)
        primary_token = re.search(r"/my/link/([^?\s]+)", signed_body).group(1)
        copy_token = re.search(r"/my/link/([^?\s]+)", copy.body_text).group(1)
        assert primary_token not in copy.body_text + copy.body_html
        assert "A copy of the reminder sent to Pat Contact (primary contact)." in copy.body_text
        assert consume_link_token(copy_token, "renewal").contact.email == "sig@signed.example.org"

    with app.app_context():
        run = db.session.scalar(db.select(SweepRun))
        assert run.finished_at is not None and run.queued == result.count
        assert json.loads(run.summary)["copies"] == 1
        again = run_sweep(DUE_DAY)
    assert [line for line in again.lines if line.kind != "staff_digest"] == []
    assert again.copy_count == 0
    assert counts(app) == (len(expected), 0, len(expected) + 1)


FAULT_SQL = {
    "sqlite": [
        "CREATE TRIGGER burst_fault BEFORE INSERT ON outbox_message "
        "WHEN NEW.to_addr = '{email}' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION burst_fault() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF NEW.to_addr = '{email}' THEN RAISE EXCEPTION 'refused by the test'; END IF; "
        "RETURN NEW; END $$",
        "CREATE TRIGGER burst_fault BEFORE INSERT ON outbox_message "
        "FOR EACH ROW EXECUTE FUNCTION burst_fault()",
    ],
}
UNFAULT_SQL = {
    "sqlite": ["DROP TRIGGER IF EXISTS burst_fault"],
    "postgresql": [
        "DROP TRIGGER IF EXISTS burst_fault ON outbox_message",
        "DROP FUNCTION IF EXISTS burst_fault()",
    ],
}


def run_sql(app, statements) -> None:
    with app.app_context(), db.engine.begin() as conn:
        for statement in statements:
            conn.execute(sa.text(statement))


def test_a_fault_in_the_second_batch_loses_nothing_and_sends_nothing_twice(app, tmp_path):
    burst = import_allies(app, tmp_path, 3 * BATCH)
    order = sorted(burst)  # the sweep queues same-day terms in agreement order
    faulty = order[BATCH + 5]  # in the second batch
    faulty_email = burst[faulty][1]
    dialect = (
        "postgresql" if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql") else "sqlite"
    )
    run_sql(app, [sql.format(email=faulty_email) for sql in FAULT_SQL[dialect]])
    try:
        with app.app_context():
            result = run_sweep(DUE_DAY)
            run = db.session.scalar(db.select(SweepRun))
            assert run.finished_at is None  # a run with errors is not complete
    finally:
        run_sql(app, UNFAULT_SQL[dialect])

    # The faulty agreement's batch was rolled back as a whole, then its other reminders were
    # queued one by one: only the faulty one is missing, with neither row nor message.
    assert len(result.errors) == 1 and f"agreement {faulty}" in result.errors[0]
    assert "refused by the test" in result.errors[0]
    queued = {line.agreement_id for line in result.lines if line.kind != "staff_digest"}
    assert queued == set(burst) - {faulty}
    assert counts(app) == (len(burst) - 1, 0, len(burst) - 1)

    with app.app_context():
        later = run_sweep(DUE_DAY)
    assert not later.errors
    assert [
        (line.agreement_id, line.kind) for line in later.lines if line.kind != "staff_digest"
    ] == [(faulty, "before_30")]
    rows = reminder_rows(app)
    assert sorted(row[0] for row in rows) == sorted(burst)
    assert all(row[2] == burst[row[0]][1] for row in rows)
    assert counts(app) == (len(burst), 0, len(burst))


def test_two_sweeps_at_once_queue_each_reminder_once(app, tmp_path):
    burst = import_allies(app, tmp_path, 4 * BATCH + 7)
    start = threading.Barrier(2)
    results, failures = [], []

    def sweep():
        try:
            with app.app_context():
                start.wait(timeout=30)
                results.append(run_sweep(DUE_DAY))
        except Exception as exc:  # reported below, not lost in the thread
            failures.append(exc)

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures, failures
    assert len(results) == 2
    assert [result.errors for result in results] == [[], []]
    reported = [
        line.agreement_id for result in results for line in result.lines if line.agreement_id
    ]
    # Each reminder is reported by exactly one of the two sweeps, and queued once.
    assert sorted(reported) == sorted(burst)
    assert counts(app) == (len(burst), 0, len(burst))
    rows = reminder_rows(app)
    assert sorted(row[0] for row in rows) == sorted(burst)
    assert all(row[2] == burst[row[0]][1] for row in rows)


def test_a_burst_keeps_each_contact_to_its_live_links_and_the_new_link_works(app, factory):
    _org, holder = factory.ally(start=START, name="Linked Clinic")
    _org, other = factory.ally(start=START, name="Other Clinic")
    with app.app_context():
        contact = db.session.get(Agreement, holder).organization.contact_for("primary")
        old = [
            make_link_token(contact, "renewal", now=utcnow() - timedelta(hours=3 - n))
            for n in range(3)
        ]
        db.session.commit()
        contact_id = contact.id
    result = run_sweep_in(app, DUE_DAY)
    assert sorted(line.agreement_id for line in result.lines if line.agreement_id) == sorted(
        [holder, other]
    )
    with app.app_context():
        links = db.session.scalars(
            db.select(SignInLink)
            .where(SignInLink.contact_id == contact_id, SignInLink.purpose == "renewal")
            .order_by(SignInLink.created_at, SignInLink.id)
        ).all()
        # The limit is three live links: the oldest of the three made before was retired.
        assert [link.used_at is None for link in links] == [False, True, True, True]
        assert links[-1].agreement_id == holder
    (_id, _kind, _to, _cc, _subject, body) = [
        row for row in reminder_rows(app) if row[0] == holder
    ][0]
    token = re.search(r"/my/link/([^?\s]+)", body).group(1)
    with app.app_context():
        assert consume_link_token(token, "renewal").agreement_id == holder
        with pytest.raises(InvalidLink):
            consume_link_token(old[0], "renewal")
        assert consume_link_token(old[1], "renewal").contact_id == contact_id


def run_sweep_in(app, day):
    with app.app_context():
        result = run_sweep(day)
        assert not result.errors
        return result


def test_a_reminder_another_sweep_queued_meanwhile_is_not_queued_again(app, tmp_path, monkeypatch):
    """Between choosing what is due and writing it, another sweep queues one reminder of the
    second batch: that batch, written messages first, is rolled back and written again rows
    first, so the reminder keeps the one row the other sweep wrote and gets no message here,
    and every other reminder is queued once, with its message and link."""
    from allies.reminders import operations

    burst = import_allies(app, tmp_path, 2 * BATCH + 3)
    taken = sorted(burst)[BATCH + 2]  # in the second batch
    choose = operations._due_reminders

    def chosen_then_taken_by_another_sweep(*args, **kwargs):
        due = choose(*args, **kwargs)
        item = next(item for item in due if item.agreement_id == taken)
        db.session.add(
            Reminder(
                agreement_id=item.agreement_id,
                kind=item.kind,
                due_on=item.due_on,
                queued_at=utcnow(),
            )
        )
        db.session.commit()
        return due

    monkeypatch.setattr(operations, "_due_reminders", chosen_then_taken_by_another_sweep)
    with app.app_context():
        result = run_sweep(DUE_DAY)
    assert not result.errors
    assert result.skipped["already queued"] == 1
    queued = sorted(line.agreement_id for line in result.lines if line.agreement_id)
    assert queued == sorted(set(burst) - {taken})
    # every reminder has one row; all but the taken one have their message, and no more
    assert counts(app) == (len(burst), 1, len(burst) - 1)
    with app.app_context():
        links = db.session.scalar(
            db.select(sa.func.count())
            .select_from(SignInLink)
            .where(SignInLink.purpose == "renewal")
        )
    assert links == len(burst) - 1  # the rolled-back attempt left no link behind
