"""The schedule (filled in by the schedule work)."""

import click


@click.command("scheduler")
def scheduler_command():
    """Run the schedule as its own process."""
