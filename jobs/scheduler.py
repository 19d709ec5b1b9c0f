"""The schedule: ``flask --app wsgi scheduler`` runs it as one process of its own.

It holds no rule, and no calendar of its own: every date is ``alliance_today()`` (the one clock,
allies/clock.py, which ``ALLIES_TODAY`` may set); only the hour the sweep runs at is the wall
clock's. The daily sweep job calls ``allies.reminders.operations.run_sweep`` and the delivery job
calls ``allies.mail.sender.deliver_pending``, each inside an app context. Only this
command starts a scheduler: nothing happens on import, so web workers never run jobs. Before
declaring any job the process takes the single-scheduler lock (allies/reminders/lock.py); a
second copy waits, logging, until the first stops.
"""

import logging
import signal
import threading
import time
from datetime import date, datetime
from zoneinfo import ZoneInfo

import click
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from flask import current_app
from flask.cli import with_appcontext

log = logging.getLogger("allies.scheduler")

SWEEP_JOB = "daily-sweep"
DELIVERY_JOB = "deliver-outbox"
LOCK_JOB = "renew-lock"
REFRESH_JOB = "refresh-schedule"
DELIVERY_SECONDS = 10
REFRESH_MINUTES = 5
MISFIRE_GRACE_SECONDS = 6 * 3600


def sweep_job(app, today: date | None = None):
    """The daily job: run the reminder sweep as of the alliance's today (allies/clock.py)."""
    from allies.organizations.operations import remove_orphan_logos
    from allies.reminders.operations import run_sweep
    from allies.timeutil import alliance_today

    with app.app_context():
        result = run_sweep(today or alliance_today())
        log.info(
            "sweep as of %s queued %d%s",
            result.as_of,
            result.count,
            f", {len(result.errors)} errors" if result.errors else "",
        )
        removed = remove_orphan_logos()
        if removed:
            log.info("removed %d logo files no organization uses", removed)
        return result


def delivery_job(app):
    """Deliver what is waiting in the outbox."""
    from allies.mail.sender import deliver_pending

    with app.app_context():
        return deliver_pending()


def _sweep_trigger(hour: int, zone: ZoneInfo) -> CronTrigger:
    return CronTrigger(hour=hour, minute=0, timezone=zone)


def build_scheduler(app, lock) -> BlockingScheduler:
    """The process's schedule: the daily sweep (at once too if today's is overdue), outbox
    delivery, lock renewal and following the reminder hour setting."""
    from allies.reminders.operations import any_sweep_completed, completed_sweep_on
    from allies.reminders.schedule import sweep_is_overdue
    from allies.staff.settings import get_setting
    from allies.timeutil import alliance_today

    zone = ZoneInfo(app.config["TIMEZONE"])
    with app.app_context():
        hour = int(get_setting("reminder_hour"))
        # The date is the alliance's one clock (ALLIES_TODAY when set); the hour is the wall's.
        now_local = datetime.now(zone)
        done_today = completed_sweep_on(alliance_today())
        never_run = not any_sweep_completed()
    overdue = sweep_is_overdue(now_local, hour, done_today, never_run)
    if overdue:
        log.info("today's sweep is due (never run, or %02d:00 has passed): sweeping now", hour)
    scheduler = BlockingScheduler(timezone=zone)
    scheduler.add_job(
        sweep_job,
        _sweep_trigger(hour, zone),
        args=[app],
        id=SWEEP_JOB,
        name="daily reminder sweep",
        coalesce=True,
        max_instances=1,
        misfire_grace_time=MISFIRE_GRACE_SECONDS,
        replace_existing=True,
        # the one sweep job runs at once when overdue, then daily at the hour
        **({"next_run_time": now_local} if overdue else {}),
    )
    scheduler.add_job(
        delivery_job,
        IntervalTrigger(seconds=DELIVERY_SECONDS, timezone=zone),
        args=[app],
        id=DELIVERY_JOB,
        name="deliver the outbox",
        coalesce=True,
        max_instances=1,
        misfire_grace_time=DELIVERY_SECONDS * 3,
        replace_existing=True,
    )
    scheduler.add_job(
        _renew_lock,
        IntervalTrigger(seconds=max(1, lock.lease_seconds // 3), timezone=zone),
        args=[lock, scheduler],
        id=LOCK_JOB,
        name="renew the scheduler lock",
        coalesce=True,
        max_instances=1,
        replace_existing=True,
    )
    scheduler.add_job(
        _refresh_schedule,
        IntervalTrigger(minutes=REFRESH_MINUTES, timezone=zone),
        args=[app, scheduler, zone],
        id=REFRESH_JOB,
        name="follow the reminder hour setting",
        coalesce=True,
        max_instances=1,
        replace_existing=True,
    )
    log.info("daily sweep at %02d:00 %s", hour, zone.key)
    return scheduler


def _renew_lock(lock, scheduler) -> None:
    """Keep the lock; if it was lost, stop running jobs at once (the command waits for it again)."""
    if not lock.renew():
        log.error("lost the scheduler lock: stopping the jobs")
        scheduler.shutdown(wait=False)


def _refresh_schedule(app, scheduler, zone: ZoneInfo) -> None:
    """Move the daily sweep when an admin changes the reminder hour."""
    from allies.staff.settings import get_setting

    with app.app_context():
        hour = int(get_setting("reminder_hour"))
    job = scheduler.get_job(SWEEP_JOB)
    if job is not None and str(job.trigger) != str(_sweep_trigger(hour, zone)):
        log.info("reminder hour is now %02d:00: rescheduling the sweep", hour)
        job.reschedule(_sweep_trigger(hour, zone))


def wait_for_lock(
    lock, *, retry_seconds: float, timeout: float | None, stop: threading.Event
) -> bool:
    """Try the lock until it is ours (True), or until ``timeout`` or a stop signal (False)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    logged = False
    while not stop.is_set():
        if lock.acquire():
            log.info("holding the scheduler lock (%s) as %s", lock.kind, lock.holder)
            return True
        if not logged:
            holder = lock.current_holder()
            log.info(
                "another scheduler is active%s; waiting (retrying every %gs)",
                f" ({holder})" if holder else "",
                retry_seconds,
            )
            logged = True
        if deadline is not None and time.monotonic() >= deadline:
            log.warning("gave up waiting for the scheduler lock")
            return False
        stop.wait(retry_seconds)
    return False


def run_once(app, today: date | None) -> None:
    """One sweep and one delivery, printing what the sweep queued (for operators and tests)."""
    result = sweep_job(app, today)
    if result is not None:
        for line in result.lines:
            click.echo(str(line))
        for error in result.errors:
            click.echo(f"error {error}", err=True)
        click.echo(f"queued {result.count}")
    delivered = delivery_job(app)
    if delivered is not None:
        click.echo(f"delivered {delivered}")


def _configure_logging() -> None:
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
    log.setLevel(logging.INFO)
    # APScheduler logs every run of the 10-second delivery job at INFO.
    logging.getLogger("apscheduler.executors.default").setLevel(logging.WARNING)


@click.command("scheduler")
@click.option("--once", is_flag=True, help="Take the lock, run one sweep and one delivery, exit.")
@click.option(
    "--today",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="With --once: sweep as of this day instead of today.",
)
@click.option(
    "--retry-seconds",
    type=float,
    default=15.0,
    show_default=True,
    help="How often a waiting scheduler retries the lock.",
)
@click.option(
    "--lock-timeout",
    type=float,
    default=None,
    help="Give up (exit 1) after waiting this many seconds for the lock (default: wait).",
)
@with_appcontext
def scheduler_command(once, today, retry_seconds, lock_timeout):
    """Run the schedule as its own process (one per deployment; a second copy waits)."""
    from allies.extensions import db
    from allies.reminders.lock import SchedulerLock

    if today is not None and not once:
        raise click.UsageError("--today is only for --once; the schedule always runs as of today.")
    _configure_logging()
    app = current_app._get_current_object()
    stop = threading.Event()
    running: dict[str, BlockingScheduler] = {}

    def on_signal(signum, _frame):
        log.info("signal %s: stopping", signum)
        stop.set()
        scheduler = running.get("scheduler")
        if scheduler is not None and scheduler.running:
            scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    lock = SchedulerLock(db.engine)
    try:
        if not wait_for_lock(lock, retry_seconds=retry_seconds, timeout=lock_timeout, stop=stop):
            raise SystemExit(0 if stop.is_set() else 1)
        if once:
            run_once(app, today.date() if today else None)
            return
        while not stop.is_set():
            scheduler = build_scheduler(app, lock)
            running["scheduler"] = scheduler
            if stop.is_set():  # a signal came while the schedule was being built
                break
            scheduler.start()  # blocks until a signal, or the lock is lost
            running.pop("scheduler", None)
            if stop.is_set():
                break
            lock.release()
            if not wait_for_lock(lock, retry_seconds=retry_seconds, timeout=None, stop=stop):
                break
    finally:
        lock.release()
        with app.app_context():
            db.session.remove()
        log.info("scheduler stopped")
