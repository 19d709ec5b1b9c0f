"""The scheduler: real processes racing on one database, the single-scheduler lock, the jobs."""

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import date, datetime, timedelta

import pytest

from allies.extensions import db
from allies.mail.models import OutboxMessage
from allies.reminders.lock import SchedulerLock
from allies.reminders.models import Reminder, SchedulerLease, SweepRun
from allies.reminders.operations import run_sweep
from allies.reminders.schedule import sweep_is_overdue
from allies.staff.settings import set_setting
from allies.timeutil import alliance_today
from jobs.scheduler import (
    DELIVERY_JOB,
    MISFIRE_GRACE_SECONDS,
    SWEEP_JOB,
    build_scheduler,
)
from tests.fixtures import PROJECT_DIR, start_for_end

FLASK = os.path.join(PROJECT_DIR, ".venv", "bin", "flask")
if not os.path.exists(FLASK):  # a virtualenv elsewhere
    FLASK = os.path.join(os.path.dirname(sys.executable), "flask")

DAY = date(2027, 3, 2)  # a Tuesday


def env_for(app) -> dict:
    """The environment of a real process on the test's database and instance folder."""
    env = dict(os.environ)
    env.update(
        DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
        ALLIES_INSTANCE_PATH=app.instance_path,
        ALLIES_TIMEZONE=app.config["TIMEZONE"],
        ALLIES_PUBLIC_BASE_URL=app.config["PUBLIC_BASE_URL"],
        SECRET_KEY=app.config["SECRET_KEY"],
        PYTHONUNBUFFERED="1",
    )
    return env


def flask(app, *args) -> subprocess.Popen:
    return subprocess.Popen(
        [FLASK, "--app", "wsgi", *args],
        cwd=PROJECT_DIR,
        env=env_for(app),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process, timeout=120):
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


def allies_due_on(factory, day: date, count: int) -> dict[int, str]:
    """``count`` Allies with a reminder due on ``day``, cycling through the kinds."""
    offsets = {"before_90": 90, "before_30": 30, "before_7": 7, "end_day": 0, "lapse": -31}
    expected = {}
    kinds = list(offsets)
    for index in range(count):
        kind = kinds[index % len(kinds)]
        _org, agreement_id = factory.ally(start=start_for_end(day + timedelta(days=offsets[kind])))
        expected[agreement_id] = kind
    return expected


def assert_each_reminder_once(app, expected: dict[int, str]):
    with app.app_context():
        rows = db.session.execute(
            db.select(Reminder.agreement_id, Reminder.kind, Reminder.outbox_message_id)
        ).all()
        assert sorted((r.agreement_id, r.kind) for r in rows) == sorted(expected.items())
        message_ids = [r.outbox_message_id for r in rows]
        assert None not in message_ids and len(set(message_ids)) == len(rows)
        reminder_messages = db.session.scalar(
            db.select(db.func.count()).where(OutboxMessage.kind == "reminder")
        )
        assert reminder_messages == len(expected)


def queued_total(outputs) -> int:
    total = 0
    for out in outputs:
        counts = [line for line in out.splitlines() if line.startswith("queued ")]
        assert len(counts) <= 1
        total += int(counts[0].split()[1]) if counts else 0
    return total


def test_two_scheduler_processes_at_once_queue_each_reminder_once(app, factory):
    expected = allies_due_on(factory, DAY, 10)
    args = ("scheduler", "--once", "--today", DAY.isoformat(), "--retry-seconds", "0.2")
    first, second = flask(app, *args), flask(app, *args)
    results = [finish(first), finish(second)]
    for code, out, err in results:
        assert code == 0, (out, err)
    assert_each_reminder_once(app, expected)
    with app.app_context():
        digests = db.session.scalar(
            db.select(db.func.count()).where(OutboxMessage.kind == "staff_digest")
        )
        runs = db.session.scalar(db.select(db.func.count()).select_from(SweepRun))
    assert runs == 2
    assert queued_total(out for _code, out, _err in results) == len(expected) + digests


def test_two_sweeps_at_once_without_the_lock_add_nothing_twice(app, factory):
    """``reminders run`` takes no lock: the unique constraint alone keeps each reminder single."""
    expected = allies_due_on(factory, DAY, 25)
    args = ("reminders", "run", "--today", DAY.isoformat(), "--yes")
    processes = [flask(app, *args) for _ in range(3)]
    results = [finish(process) for process in processes]
    for code, out, err in results:
        assert code == 0, (out, err)
    assert_each_reminder_once(app, expected)
    with app.app_context():
        digests = db.session.scalar(
            db.select(db.func.count()).where(OutboxMessage.kind == "staff_digest")
        )
    assert queued_total(out for _code, out, _err in results) == len(expected) + digests


def test_a_second_scheduler_waits_while_the_lock_is_held(app, factory):
    with app.app_context():
        holder = SchedulerLock(db.engine, holder="test-holder")
        assert holder.acquire()
    try:
        code, out, err = finish(
            flask(app, "scheduler", "--once", "--retry-seconds", "0.2", "--lock-timeout", "2")
        )
        assert code == 1, (out, err)
        assert "another scheduler is active" in err
        assert "gave up waiting" in err
        with app.app_context():
            assert db.session.scalar(db.select(db.func.count()).select_from(SweepRun)) == 0
    finally:
        with app.app_context():
            holder.release()
    code, out, err = finish(flask(app, "scheduler", "--once", "--retry-seconds", "0.2"))
    assert code == 0, (out, err)
    assert out.splitlines()[-1].startswith(("queued", "delivered"))


def test_the_lease_excludes_a_second_holder_until_it_expires(app):
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            pytest.skip("PostgreSQL uses the advisory lock (next test)")
        first = SchedulerLock(db.engine, holder="first", lease_seconds=60)
        second = SchedulerLock(db.engine, holder="second", lease_seconds=60)
        now = datetime(2027, 3, 2, 8, 0)
        assert first.kind == second.kind == "lease"
        assert first.acquire(now)
        assert not second.acquire(now)
        assert second.current_holder(now) == "first"
        assert first.renew(now + timedelta(seconds=50))
        assert not second.acquire(now + timedelta(seconds=100))  # renewed until 08:01:50
        # The first holder dies and stops renewing: after the lease runs out the second takes over.
        assert second.acquire(now + timedelta(seconds=111))
        assert not first.renew(now + timedelta(seconds=112))
        first.release()  # releasing a lost lock does not free someone else's
        assert second.current_holder(now + timedelta(seconds=112)) == "second"
        second.release()
        assert db.session.scalar(db.select(db.func.count()).select_from(SchedulerLease)) == 0


def test_the_advisory_lock_excludes_a_second_holder(app):
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("SQLite uses the lease row (previous test)")
        first = SchedulerLock(db.engine, holder="first")
        second = SchedulerLock(db.engine, holder="second")
        assert first.kind == "advisory"
        assert first.acquire()
        assert not second.acquire()
        assert first.renew()
        first.release()
        assert second.acquire()
        assert not first.acquire()
        # The holder's connection dies (a crashed process): the server drops its lock.
        second._connection.invalidate()
        assert not second.renew()
        assert first.acquire()
        first.release()


def test_the_scheduler_process_catches_up_then_stops_on_sigterm(app):
    with app.app_context():
        set_setting("reminder_hour", 0)  # the hour has always passed: a catch-up sweep at start
        db.session.commit()
        today = alliance_today()
    process = flask(app, "scheduler", "--retry-seconds", "0.2")
    try:
        deadline = time.monotonic() + 60
        done = False
        while time.monotonic() < deadline and not done:
            time.sleep(0.3)
            assert process.poll() is None, process.communicate()
            with app.app_context():
                done = (
                    db.session.scalar(
                        db.select(SweepRun.id).where(
                            SweepRun.as_of == today, SweepRun.finished_at.is_not(None)
                        )
                    )
                    is not None
                )
                db.session.rollback()
        assert done, "the catch-up sweep did not run"
    finally:
        process.send_signal(signal.SIGTERM)
        code, out, err = finish(process, timeout=60)
    assert code == 0, (out, err)
    assert "sweeping now" in err
    assert "scheduler stopped" in err
    with app.app_context():
        # The lock was released: another scheduler can take it at once.
        lock = SchedulerLock(db.engine, holder="after")
        assert lock.acquire()
        lock.release()


def test_the_schedule_declares_its_jobs(app):
    with app.app_context():
        set_setting("reminder_hour", 23)
        db.session.commit()
        lock = SchedulerLock(db.engine, holder="inspect")
    scheduler = build_scheduler(app, lock)
    jobs = {job.id: job for job in scheduler.get_jobs()}
    sweep = jobs[SWEEP_JOB]
    assert sweep.coalesce is True
    assert sweep.max_instances == 1
    assert sweep.misfire_grace_time == MISFIRE_GRACE_SECONDS >= 3600
    assert "hour='23'" in str(sweep.trigger)
    assert str(sweep.trigger.timezone) == app.config["TIMEZONE"]
    assert DELIVERY_JOB in jobs
    assert [job.id for job in jobs.values()].count(SWEEP_JOB) == 1, "one sweep job"
    assert getattr(sweep, "next_run_time", None) is not None, "no sweep ever ran: one at once"
    with app.app_context():
        # The alliance's date, not the machine's: near midnight they differ.
        run_sweep(alliance_today())
    again = {job.id: job for job in build_scheduler(app, lock).get_jobs()}[SWEEP_JOB]
    # Today's sweep is done, so none runs at once, whatever the hour (it failed at 23:xx when it
    # expected a catch-up after the hour had passed).
    assert getattr(again, "next_run_time", None) is None, "today's sweep ran: nothing at once"


def test_catch_up_only_when_the_hour_has_passed_and_today_has_not_run():
    morning, evening = datetime(2027, 3, 2, 6, 30), datetime(2027, 3, 2, 9, 0)
    assert not sweep_is_overdue(morning, 8, done_today=False)
    assert sweep_is_overdue(evening, 8, done_today=False)
    assert not sweep_is_overdue(evening, 8, done_today=True)
    assert sweep_is_overdue(datetime(2027, 3, 2, 8, 0), 8, done_today=False)
    assert sweep_is_overdue(morning, 8, done_today=False, never_run=True)
    assert not sweep_is_overdue(morning, 8, done_today=True, never_run=True)


def test_the_web_app_starts_no_scheduler(app, client):
    """Only ``flask scheduler`` starts one: building the app and serving requests never does."""
    client.get("/")
    client.get("/allies")
    names = [thread.name for thread in threading.enumerate()]
    assert not any("apscheduler" in name.lower() for name in names), names
