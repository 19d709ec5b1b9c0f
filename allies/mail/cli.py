"""Outbox commands: ``flask --app wsgi outbox send``, ``outbox list`` and ``outbox redact``."""

import click
from flask.cli import AppGroup

from allies.mail.models import OUTBOX_STATES


@click.group("outbox", cls=AppGroup)  # its commands run inside the app context
def outbox_group():
    """Deliver and inspect the email outbox."""


@outbox_group.command("send")
@click.option("--batch-size", default=50, show_default=True, help="Messages claimed at a time.")
def outbox_send(batch_size):
    """Deliver every message that is due now, then print what happened."""
    from allies.mail.sender import DeliveryReport, deliver_pending

    total = DeliveryReport()
    while True:
        report = deliver_pending(batch_size=batch_size)
        total.add(report)
        if report.claimed == 0:
            break
    click.echo(str(total))
    if total.released:
        click.echo(f"{total.released} handed back untried (the run outlived its lease).")


@outbox_group.command("redact")
def outbox_redact():
    """Remove link tokens from messages delivered before delivery did it itself."""
    from allies.mail.sender import redact_delivered_messages

    changed = redact_delivered_messages()
    click.echo(f"Redacted the links of {changed} delivered message{'' if changed == 1 else 's'}.")


@outbox_group.command("list")
@click.option("--status", type=click.Choice(OUTBOX_STATES), default=None, help="Only this status.")
@click.option("--limit", default=20, show_default=True, help="How many messages to show.")
def outbox_list(status, limit):
    """Show recent messages, newest first, one per line."""
    from allies.mail.sender import recent_messages, summarize_outbox

    messages = recent_messages(status=status, limit=limit)
    if not messages:
        click.echo("The outbox is empty." if status is None else f"No {status} messages.")
    for message in messages:
        line = (
            f"#{message.id}  {message.created_at:%Y-%m-%d %H:%M} UTC  {message.status:<7}  "
            f"attempts {message.attempts}  {message.to_addr}  {message.subject}"
        )
        if message.status in ("pending", "failed") and message.last_error:
            line += f"  [{message.last_error.splitlines()[0][:120]}]"
        click.echo(line)
    counts = summarize_outbox()
    click.echo("Totals: " + ", ".join(f"{state} {counts[state]}" for state in OUTBOX_STATES))
