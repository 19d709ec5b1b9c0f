"""Reminder commands: ``flask --app wsgi reminders run --today YYYY-MM-DD [--dry-run]``."""

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
    help="Run as of this day (default: today in the alliance's time zone).",
)
@click.option("--dry-run", is_flag=True, help="Show what would be queued; write nothing.")
@with_appcontext
def run_command(today, dry_run):
    """Run the sweep as of a day: one line per message queued (or that would be), then `queued N`."""
    from allies.reminders.operations import run_sweep

    result = run_sweep(today.date() if today else alliance_today(), dry_run=dry_run)
    for line in result.lines:
        click.echo(str(line))
    for error in result.errors:
        click.echo(f"error {error}", err=True)
    click.echo(f"queued {result.count}")
    if result.errors:
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
