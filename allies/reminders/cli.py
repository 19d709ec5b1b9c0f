"""Reminder commands: ``flask --app wsgi reminders run --today YYYY-MM-DD [--dry-run] [--yes]``.

A run as of a day after the instance's today (the real date, or ``ALLIES_TODAY`` when the clock
is set) queues real email that the sender will deliver: unless it is a dry run, the command says
so and asks first (``--yes`` answers for the operator). Without a yes it queues nothing and exits
non-zero, as it does with no terminal to ask on (CI).
"""

import click
from flask.cli import with_appcontext

from allies.timeutil import alliance_today


@click.group("reminders")
def reminders_group():
    """Run the daily reminder sweep."""


@reminders_group.command("run")
@click.option(
    "--today",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Run as of this day (default: the instance's today: the real date in the alliance's "
    "time zone, or ALLIES_TODAY when set). A later day asks first.",
)
@click.option("--dry-run", is_flag=True, help="Show what would be queued; write nothing.")
@click.option(
    "--yes",
    is_flag=True,
    help="Queue real email for a day after today without asking.",
)
@with_appcontext
def run_command(today, dry_run, yes):
    """Run the sweep as of a day: one line per message queued (or that would be), then `queued N`."""
    from allies.reminders.operations import run_sweep

    instance_today = alliance_today()
    day = today.date() if today else instance_today
    if day > instance_today and not dry_run and not yes:
        _confirm_future_run(day, instance_today)
    result = run_sweep(day, dry_run=dry_run)
    for line in result.lines:
        click.echo(str(line))
    for error in result.errors:
        click.echo(f"error {error}", err=True)
    click.echo(f"queued {result.count}")
    if result.errors:
        raise SystemExit(1)


def _confirm_future_run(day, instance_today) -> None:
    """Ask before queuing real email as of a future day; exit 1 having queued nothing if not."""
    click.echo(
        f"{day.isoformat()} is after this instance's today ({instance_today.isoformat()}). "
        f"This run queues REAL email to Allies and staff as if it were {day.isoformat()}, and "
        "the outbox sender delivers it. Use --dry-run to only see what it would queue.",
        err=True,
    )
    try:
        confirmed = click.confirm("Queue real email now?", default=False, err=True)
    except click.Abort:  # no terminal to answer on (end of input), or Ctrl-C
        confirmed = False
        click.echo("", err=True)
    if not confirmed:
        click.echo(
            "Nothing queued. Run again with --yes to queue without asking, or with --dry-run.",
            err=True,
        )
        raise SystemExit(1)


@reminders_group.command("status")
@with_appcontext
def status_command():
    """When the sweep last completed, what it queued, and whether it is stale."""
    from allies.reminders.operations import sweep_health

    health = sweep_health()
    if health["last_finished_at"] is None:
        click.echo("The sweep has never completed.")
    else:
        click.echo(
            f"Last completed {health['last_finished_at']:%Y-%m-%d %H:%M} UTC "
            f"(as of {health['last_as_of']}), queued {health['queued']}"
            + "".join(f", {kind} {n}" for kind, n in sorted(health["queued_by_kind"].items()))
        )
    if health["unfinished_started_at"] is not None:
        click.echo(
            f"A sweep started {health['unfinished_started_at']:%Y-%m-%d %H:%M} UTC did not finish."
        )
        for error in health["unfinished_errors"]:
            click.echo(f"  error {error}")
    if health["stale"]:
        click.echo("STALE: no sweep has completed in the last 36 hours. Is the scheduler running?")
        raise SystemExit(1)
