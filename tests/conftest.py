"""Fixtures: the app on each database, a client, a CLI runner, factories and sign-in helpers.

Every test that uses ``app`` runs on SQLite and, when a PostgreSQL server is available, on
PostgreSQL too. ``make test`` starts a throw-away server; ALLIES_TEST_POSTGRES_URL points the
tests at an existing one instead.

Plain helpers that test modules import (Factory, application_form, csrf_token_from, ...) are
in tests/fixtures.py; test modules never import from a conftest or from one another.
"""

import os
import tempfile

import pytest
import sqlalchemy as sa

import allies.models  # noqa: F401  (every table on the metadata)
from allies import create_app
from allies.cache import public_cache
from allies.extensions import db
from tests.fixtures import DATABASES, SKIPPED, Factory
from tests.pg_server import ThrowAwayPostgres

_PG = ThrowAwayPostgres()
_SCHEMA_READY: set[str] = set()
SQLITE_DIR = tempfile.mkdtemp(prefix="allies-test-")


def pytest_configure(config):
    DATABASES["sqlite"] = "sqlite:///" + os.path.join(SQLITE_DIR, "test.sqlite3")
    url = os.environ.get("ALLIES_TEST_POSTGRES_URL")
    if os.environ.get("ALLIES_TEST_SKIP_POSTGRES"):
        SKIPPED["postgresql"] = "ALLIES_TEST_SKIP_POSTGRES is set"
    elif url:
        DATABASES["postgresql"] = url
    elif _PG.start():
        DATABASES["postgresql"] = _PG.url
    else:
        SKIPPED["postgresql"] = _PG.reason


def pytest_unconfigure(config):
    _PG.stop()


def pytest_report_header(config):
    lines = ["databases: " + ", ".join(DATABASES)]
    lines += [f"database skipped: {name} ({why})" for name, why in SKIPPED.items()]
    return lines


def pytest_terminal_summary(terminalreporter):
    terminalreporter.write_line("databases: " + ", ".join(DATABASES))
    for name, why in SKIPPED.items():
        terminalreporter.write_line(f"database skipped: {name} ({why})")


def _prepare_schema(url: str) -> None:
    """Create the schema once per database per session, then empty every table before each test."""
    engine = sa.create_engine(url)
    try:
        if url not in _SCHEMA_READY:
            db.metadata.drop_all(engine)
            with engine.begin() as conn:
                conn.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))
            db.metadata.create_all(engine)
            _SCHEMA_READY.add(url)
        tables = [t.name for t in db.metadata.sorted_tables]
        with engine.begin() as conn:
            if url.startswith("postgresql"):
                conn.execute(sa.text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
            else:
                conn.execute(sa.text("PRAGMA foreign_keys=OFF"))
                for table in reversed(tables):
                    conn.execute(sa.text(f"DELETE FROM {table}"))
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request):
    """The URL of a clean database; each test using it runs once per database."""
    if request.param in SKIPPED:
        pytest.skip(f"{request.param}: {SKIPPED[request.param]}")
    url = DATABASES[request.param]
    _prepare_schema(url)
    return url


@pytest.fixture
def app_config(database_url, tmp_path):
    """The configuration the ``app`` fixture is built with; tests may update it first."""
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key-" + "x" * 32,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_ENABLED": False,
        "SERVER_NAME": "allies.test",
        "PUBLIC_BASE_URL": "http://allies.test",
        "TIMEZONE": "UTC",
    }


@pytest.fixture
def app(app_config):
    """A fresh application on a clean database with the first-run defaults."""
    application = create_app(app_config)
    public_cache.clear()  # each test's database starts afresh
    with application.app_context():
        from allies.bootstrap import ensure_defaults

        ensure_defaults()
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def ctx(app):
    """An application context for calling operations directly."""
    with app.app_context():
        yield


@pytest.fixture
def factory(app):
    return Factory(app)


class Auth:
    """Sign staff in and out through the real sign-in form."""

    def __init__(self, client, factory):
        self.client = client
        self.factory = factory

    def login(self, role="admin"):
        _id, email, password = self.factory.staff(role)
        response = self.client.post(
            "/staff/sign-in", data={"email": email, "password": password}, follow_redirects=False
        )
        assert response.status_code == 302, response.get_data(as_text=True)
        return email

    def logout(self):
        return self.client.post("/staff/sign-out")


@pytest.fixture
def auth(client, factory):
    return Auth(client, factory)
