"""Outbox commands (filled in by the delivery work)."""

import click


@click.group("outbox")
def outbox_group():
    """Deliver and inspect the email outbox."""
