"""Backup commands: ``flask --app wsgi backup PATH [--force]`` and ``flask --app wsgi restore PATH``.

Both call allies/backup.py; a refusal prints its reason and exits with status 1.
"""

import click
from flask.cli import with_appcontext

from allies.backup import KIND_NAMES, BackupError, backup, restore


def _size(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB" if size >= 1024 * 1024 else f"{size / 1024:.1f} KB"


@click.command("backup")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="Replace PATH if it exists.")
@with_appcontext
def backup_command(path, force):
    """Write a tar.gz archive at PATH: the database and the uploaded logos, while the app runs."""
    try:
        result = backup(path, force=force)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"Backed up the {KIND_NAMES[result.kind]} database (schema {result.revision or 'not stamped'}) "
        f"and {result.uploads} uploaded files to {result.path} "
        f"({_size(result.size)}, {result.seconds:.1f} s)."
    )


@click.command("restore")
@click.argument("path", type=click.Path(dir_okay=False))
@with_appcontext
def restore_command(path):
    """Restore the archive at PATH into an empty database and an empty upload folder."""
    try:
        result = restore(path)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"Restored the {KIND_NAMES[result.kind]} database (schema {result.revision or 'not stamped'}) "
        f"and {result.uploads} uploaded files from a backup made {result.created_at} by Allies "
        f"{result.app_version} ({result.seconds:.1f} s)."
    )
    if result.revision and result.head and result.revision != result.head:
        click.echo(
            f"This code's schema is {result.head}: run `flask --app wsgi db upgrade` next to "
            "bring the restored database forward."
        )
    elif not result.revision:
        click.echo(
            "The backup records no schema revision: if this database was not built by "
            "`flask --app wsgi db upgrade`, stamp it (`flask --app wsgi db stamp REVISION`)."
        )
