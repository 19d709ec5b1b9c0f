"""Organization commands: ``flask --app wsgi allies import ROSTER.csv [--dry-run]``."""

from pathlib import Path

import click
from flask.cli import with_appcontext

from allies.timeutil import alliance_today


@click.group("allies")
def allies_group():
    """Bring Allies in from elsewhere."""


@allies_group.command("import")
@click.argument(
    "roster", type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path)
)
@click.option("--dry-run", is_flag=True, help="Check every row and report; write nothing.")
@with_appcontext
def import_command(roster: Path, dry_run: bool):
    """Import the existing Allies listed in ROSTER (CSV), with their real terms.

    Columns, by header name in any order: name, website, type, city, region, country,
    description, contact_name, contact_title, contact_email, contact_phone, agreement_start
    (YYYY-MM-DD), and optionally ally_since (a year or a date) and logo (a file path relative to
    the CSV). Prints a line per row ("row N" is the Nth record after the header), then
    "imported N" ("would import N" with --dry-run). Any invalid row: nothing is written and the
    exit status is 1. A row whose organization is already an Ally here is left alone ("already
    present"), so a second run adds nothing; one whose organization is here but not an Ally (an
    application waiting or declined, a term lapsed or ended) is an error naming it. A logo must
    be a regular file inside the CSV's folder, within the logo size limit.
    """
    from allies.errors import OperationError
    from allies.organizations.roster import import_roster

    try:
        report = import_roster(roster, today=alliance_today(), dry_run=dry_run)
    except OperationError as exc:
        raise click.ClickException(str(exc)) from None
    for line in report.lines():
        click.echo(line)
    if not report.ok:
        raise SystemExit(1)
