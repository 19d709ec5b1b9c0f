"""Conference commands: ``flask --app wsgi conferences invite ID [--dry-run]``.

They hang on the conferences blueprint's own command group (``bp.cli``, named after the
blueprint), so registering the blueprint registers them.
"""

import click
from flask.cli import with_appcontext


@click.command("invite")
@click.argument("conference_id", type=click.IntRange(min=1, max=2**31 - 1))
@click.option("--dry-run", is_flag=True, help="Show who would be invited; write nothing.")
@with_appcontext
def invite_command(conference_id, dry_run):
    """Invite the Allies current today not yet invited: one line per message, then `queued N`."""
    from allies.conferences.models import Conference
    from allies.conferences.operations import invite_current_allies
    from allies.errors import OperationError
    from allies.extensions import db
    from allies.timeutil import alliance_today

    conference = db.session.get(Conference, conference_id)
    if conference is None:
        raise click.ClickException(f"No conference with id {conference_id}.")
    try:
        result = invite_current_allies(
            conference,
            staff=None,
            today=alliance_today(),
            dry_run=dry_run,
            actor="command line",
        )
    except OperationError as exc:
        raise click.ClickException(str(exc)) from None
    for line in result.lines:
        click.echo(str(line))
    for why, count in sorted(result.skipped.items()):
        click.echo(f"skipped {count}: {why}", err=True)
    # As ``reminders run``: a dry run lists and counts what it would queue.
    click.echo(f"queued {result.count}")


def init_blueprint(bp) -> None:
    """Add the commands to the blueprint's group: ``flask --app wsgi conferences ...``."""
    bp.cli.help = "Invite Allies to a conference."
    bp.cli.add_command(invite_command)
