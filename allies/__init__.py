"""Allies: an ally membership system for health alliances."""

import os

from flask import Flask

from allies.config import configure
from allies.extensions import csrf, db, init_sqlite_pragmas, limiter, login_manager, migrate

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
PROJECT_DIR = os.path.dirname(PACKAGE_DIR)


def create_app(test_config: dict | None = None) -> Flask:
    """Build the application: configuration, extensions, blueprints and CLI commands."""
    app = Flask(
        __name__,
        instance_path=(test_config or {}).get("INSTANCE_PATH")
        or os.environ.get("ALLIES_INSTANCE_PATH")
        or os.path.join(PROJECT_DIR, "instance"),
        instance_relative_config=True,
        template_folder=os.path.join(PROJECT_DIR, "templates"),
    )
    configure(app, test_config)

    from allies import models  # noqa: F401  (registers every table with the metadata)

    init_sqlite_pragmas()
    from allies.cache import init_cache_invalidation

    init_cache_invalidation()
    db.init_app(app)
    migrate.init_app(app, db, directory=os.path.join(PROJECT_DIR, "migrations"))
    from allies import sessions

    sessions.init_app(app)  # before CSRF: an ended session's token is refused with it
    csrf.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)

    from allies import clock, i18n, inputs, web

    web.init_app(app)
    i18n.init_app(app)
    clock.init_app(app)
    inputs.init_app(app)  # before the blueprints: their <int:…> rules use the bounded converter

    from allies.agreements.views import bp as agreements_bp
    from allies.applications.views import bp as applications_bp
    from allies.applications.views_portal import bp as portal_bp
    from allies.conferences.views import bp as conferences_bp
    from allies.mail.views import bp as mail_bp
    from allies.organizations.feeds import bp as feeds_bp
    from allies.organizations.staff_views import bp as ally_admin_bp
    from allies.organizations.views import bp as organizations_bp
    from allies.staff.audit_views import bp as audit_bp
    from allies.staff.export_views import bp as exports_bp
    from allies.staff.search_views import bp as search_bp
    from allies.staff.views import bp as staff_bp

    for blueprint in (
        organizations_bp,
        feeds_bp,
        applications_bp,
        portal_bp,
        agreements_bp,
        ally_admin_bp,
        conferences_bp,
        mail_bp,
        staff_bp,
        search_bp,
        audit_bp,
        exports_bp,
    ):
        app.register_blueprint(blueprint)

    from allies import cli

    cli.init_app(app)
    from allies import cache

    cache.init_app(app)  # last: its cached-page shortcut goes in front of everything else
    return app
