"""Reminder commands (filled in by the schedule work)."""

import click


@click.group("reminders")
def reminders_group():
    """Run the daily reminder sweep."""
