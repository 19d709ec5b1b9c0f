"""Operator commands: ``flask --app wsgi <command>``. Each calls domain operations."""

import os
import secrets

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from allies.extensions import db


@click.command("bootstrap")
@with_appcontext
@click.option("--demo/--no-demo", default=None, help="Load demo data (default: ALLIES_DEMO, on).")
def bootstrap_command(demo):
    """First-run set-up: defaults, the first admin (password printed once), demo data.

    Safe to run at every start: later runs change nothing unless --demo is given.
    """
    from allies.bootstrap import create_first_admin, ensure_defaults
    from allies.demo import demo_is_loaded, load_demo

    ensure_defaults()
    created = create_first_admin()
    if created is not None:
        email, password = created
        banner = "=" * 64
        click.echo(
            f"\n{banner}\n  Allies admin account created (shown only this once):\n"
            f"    email:    {email}\n    password: {password}\n"
            f"  Sign in at {current_app.config['PUBLIC_BASE_URL']}/staff/sign-in\n{banner}\n"
        )
    if demo is None:
        # Only the first run (the one that creates the first admin) loads demo data by itself,
        # so a site set up with ALLIES_DEMO=0 never gains it later.
        demo = created is not None and os.environ.get("ALLIES_DEMO", "1") not in (
            "0",
            "false",
            "no",
        )
    if demo and not demo_is_loaded():
        click.echo(load_demo())


@click.command("demo")
@with_appcontext
def demo_command():
    """Load the demo Allies, application and conferences (safe to run twice)."""
    from allies.bootstrap import ensure_defaults
    from allies.demo import demo_is_loaded, load_demo

    ensure_defaults()
    if demo_is_loaded():
        click.echo("Demo data is already loaded.")
        return
    click.echo(load_demo())


users_group = AppGroup("users", help="Manage staff accounts.")


@users_group.command("create")
@click.option("--email", required=True)
@click.option("--role", type=click.Choice(["reviewer", "admin"]), default="reviewer")
@click.option("--name", default="")
@click.option("--password", default=None, help="Default: a generated password, printed once.")
def users_create(email, role, name, password):
    """Create a staff account."""
    from allies.errors import OperationError
    from allies.staff.operations import create_staff_user

    generated = password is None
    password = password or secrets.token_urlsafe(12)
    try:
        user = create_staff_user(email=email, name=name, role=role, password=password, staff=None)
    except OperationError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Created {user.role} {user.email}")
    if generated:
        click.echo(f"Password (shown once): {password}")


@users_group.command("unlock")
@click.argument("email")
@click.option("--address", default=None, help="Also clear the failures counted for this IP.")
def users_unlock(email, address):
    """Let a staff account sign in again: clear its failed sign-in counters."""
    from allies.staff.models import StaffUser
    from allies.staff.operations import unlock_sign_in

    user = db.session.scalar(db.select(StaffUser).where(StaffUser.email == email.strip().lower()))
    if user is None:
        raise click.ClickException(f"No staff account with the email {email}.")
    try:
        cleared = unlock_sign_in(user, address=address)
    except NotImplementedError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Unlocked {user.email}: {cleared} failed sign-in counters cleared.")


@click.command("check-deploy")
@with_appcontext
def check_deploy_command():
    """List what is unsafe in this configuration for production; exit 1 if anything is."""
    from allies.deploy import unsafe_settings

    problems = unsafe_settings(current_app.config)
    for problem in problems:
        click.echo(f"UNSAFE: {problem}")
    if problems:
        raise SystemExit(1)
    click.echo("No problems found.")


def init_app(app) -> None:
    """Register every command on ``app``."""
    from allies.backup_cli import backup_command, restore_command
    from allies.mail.cli import outbox_group
    from allies.organizations.cli import allies_group
    from allies.reminders.cli import reminders_group
    from jobs.scheduler import scheduler_command

    for command in (
        bootstrap_command,
        demo_command,
        users_group,
        check_deploy_command,
        outbox_group,
        reminders_group,
        allies_group,
        scheduler_command,
        backup_command,
        restore_command,
    ):
        app.cli.add_command(command)

    @app.shell_context_processor
    def shell_context():
        return {"db": db}
