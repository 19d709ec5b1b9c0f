"""Fixtures: the app on each database, a client, a CLI runner, factories and sign-in helpers.

Every test that uses ``app`` runs on SQLite and, when a PostgreSQL server is available, on
PostgreSQL too. ``make test`` starts a throw-away server; ALLIES_TEST_POSTGRES_URL points the
tests at an existing one instead.
"""

import os
import re
import tempfile
from datetime import date

import pytest
import sqlalchemy as sa

import allies.models  # noqa: F401  (every table on the metadata)
from allies import create_app
from allies.extensions import db
from allies.organizations.cache import public_cache
from tests.pg_server import ThrowAwayPostgres

DATABASES: dict[str, str | None] = {}
SKIPPED: dict[str, str] = {}
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


class Factory:
    """Makes staff, applications and Allies through the real operations."""

    def __init__(self, app):
        self.app = app
        self.counter = 0

    def staff(self, role="admin", email=None, password="correct-horse-battery"):
        from allies.staff.operations import create_staff_user

        self.counter += 1
        with self.app.app_context():
            user = create_staff_user(
                email=email or f"{role}{self.counter}@alliance.example.org",
                name=f"{role.title()} {self.counter}",
                role=role,
                password=password,
                staff=None,
            )
            return user.id, user.email, password

    def application(self, name=None, website=None, email=None, **profile):
        """Submit an application as an applicant would; returns its id."""
        from allies.applications.operations import EndorsementInput, submit_application
        from allies.applications.statements import current_statements

        self.counter += 1
        name = name or f"Health Org {self.counter}"
        with self.app.app_context():
            texts = current_statements()
            application = submit_application(
                {
                    "name": name,
                    "website": website or f"https://org{self.counter}.example.org",
                    "type_id": None,
                    "city": "Boston",
                    "region": "MA",
                    "country": "USA",
                    "description": f"{name} trains health professionals.",
                    "logo_filename": None,
                    **profile,
                },
                {
                    "name": "Pat Contact",
                    "title": "Director",
                    "email": email or f"contact{self.counter}@example.org",
                    "phone": "",
                },
                "We support the mission.",
                EndorsementInput(
                    version_ids={k: v.id for k, v in texts.items()},
                    endorsed={k: True for k in texts},
                    signer_name="Sam Signer",
                    signer_title="CEO",
                    signer_email=email or f"contact{self.counter}@example.org",
                    ip="127.0.0.1",
                ),
            )
            return application.id

    def ally(self, start=None, **kwargs):
        """An approved Ally; returns (organization_id, agreement_id)."""
        from allies.applications.models import Application
        from allies.applications.operations import approve_application
        from allies.staff.models import StaffUser

        application_id = self.application(**kwargs)
        with self.app.app_context():
            staff = db.session.scalar(db.select(StaffUser).where(StaffUser.role == "admin"))
            if staff is None:
                self.staff("admin")
                staff = db.session.scalar(db.select(StaffUser).where(StaffUser.role == "admin"))
            application = db.session.get(Application, application_id)
            start = start or date.today()
            agreement = approve_application(application, staff=staff, start=start, today=start)
            return application.organization_id, agreement.id

    def renewal(self, agreement_id, *, submitted_on, approved_on=None):
        """The Ally contact submits a renewal; an admin approves it on ``approved_on`` if given.

        Returns the renewal application's id.
        """
        from allies.agreements.models import Agreement
        from allies.applications.operations import (
            EndorsementInput,
            approve_application,
            submit_renewal,
        )
        from allies.applications.statements import current_statements
        from allies.staff.models import StaffUser

        with self.app.app_context():
            agreement = db.session.get(Agreement, agreement_id)
            contact = agreement.organization.contact_for("primary")
            texts = current_statements()
            application = submit_renewal(
                agreement,
                {},
                "We are still with you.",
                EndorsementInput(
                    version_ids={k: v.id for k, v in texts.items()},
                    endorsed={k: True for k in texts},
                    signer_name="Sam Signer",
                    signer_title="CEO",
                    signer_email=contact.email,
                    ip="127.0.0.1",
                ),
                contact=contact,
                today=submitted_on,
            )
            if approved_on is not None:
                staff = db.session.scalar(db.select(StaffUser).where(StaffUser.role == "admin"))
                approve_application(application, staff=staff, start=None, today=approved_on)
            return application.id


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


def csrf_token_from(html: str) -> str:
    """The CSRF token of the first form in ``html``."""
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', html
    )
    assert match, "no csrf_token in the page"
    return match.group(1)
