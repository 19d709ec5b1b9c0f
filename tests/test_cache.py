"""The public page cache: a change committed anywhere is on every worker's very next page.

Each process keeps its own cache, keyed by the content version in the database; every request
reads that version afresh, so there is no moment when one worker shows a change and another does
not. The gunicorn test is the journey that once failed: after an approval, ``/allies`` came from
the other worker's cache, made before it.
"""

import contextlib
import html
import secrets
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from allies import create_app
from allies.cache import ContentVersion, _reader_for, cached, content_version
from allies.extensions import db
from allies.organizations.models import Organization
from bench.serve import GunicornServer
from tests.fixtures import DATABASES, SKIPPED


def _commit_behind_the_apps_back(url: str, organization_id: int, name: str) -> None:
    """Rename an Ally and bump the version in one transaction, as another process would."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.update(Organization)
                .where(Organization.id == organization_id)
                .values(name=name, description="Renamed.")
            )
            conn.execute(
                sa.update(ContentVersion)
                .where(ContentVersion.id == 1)
                .values(token=secrets.token_hex(16))
            )
    finally:
        engine.dispose()


def test_a_change_committed_by_another_process_is_on_the_next_page(app, client, factory):
    organization_id, _ = factory.ally()
    with app.app_context():
        old = db.session.get(Organization, organization_id).name
    assert old in client.get("/allies").text  # cached now, with this version

    _commit_behind_the_apps_back(
        app.config["SQLALCHEMY_DATABASE_URI"], organization_id, "Renamed Elsewhere Health"
    )

    page = client.get("/allies").text
    assert "Renamed Elsewhere Health" in page and old not in page
    assert "Renamed Elsewhere Health" in client.get("/allies.json").text


def test_a_request_changing_things_caches_nothing(app, factory):
    organization_id, _ = factory.ally()
    made = []

    def make():
        made.append(db.session.get(Organization, organization_id).name)
        return made[-1]

    with app.test_request_context("/"):
        organization = db.session.get(Organization, organization_id)
        organization.name = "Not Committed Yet"
        # Rendered from the uncommitted change, so never cached: a rollback leaves no trace.
        assert cached("name", make=make) == "Not Committed Yet"
        db.session.rollback()
        assert cached("name", make=make) != "Not Committed Yet"
        assert cached("name", make=make) == made[-1]
    assert len(made) == 2


def test_the_version_survives_a_lost_connection_and_a_disposed_engine(app, factory):
    organization_id, _ = factory.ally()
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    with app.test_request_context("/"):
        first = content_version()
        _generation, connection, _cursor = _reader_for(db.engine)._cursor()
        if url.startswith("postgresql"):  # the server ends the session, as on a restart
            backend = connection.dbapi_connection.info.backend_pid
            db.session.execute(sa.text(f"SELECT pg_terminate_backend({backend})"))
            db.session.commit()
        else:
            connection.dbapi_connection.close()
    _commit_behind_the_apps_back(url, organization_id, "Renamed Once")
    with app.test_request_context("/"):
        second = content_version()
    assert second != first

    with app.app_context():
        db.engine.dispose()
    _commit_behind_the_apps_back(url, organization_id, "Renamed Twice")
    with app.test_request_context("/"):
        assert content_version() not in (first, second)


# --- under gunicorn ----------------------------------------------------------------------------


@contextlib.contextmanager
def _fresh_database(kind: str):
    """None (the server's own SQLite file) or a new PostgreSQL database, dropped afterwards."""
    if kind == "sqlite":
        yield None
        return
    if kind in SKIPPED:
        pytest.skip(f"{kind}: {SKIPPED[kind]}")
    server = make_url(DATABASES[kind])
    name = f"allies_cache_{secrets.token_hex(4)}"
    engine = sa.create_engine(server, isolation_level="AUTOCOMMIT")

    def run(statement: str) -> None:
        with engine.connect() as conn:
            conn.execute(sa.text(statement))

    run(f"CREATE DATABASE {name}")
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        run(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        engine.dispose()


def _get_allies_page(base_url: str) -> str:
    """``GET /allies`` exactly (another query string would be another cache entry)."""
    with urllib.request.urlopen(base_url + "/allies", timeout=30) as response:
        return response.read().decode()


def _allies_pages(server: GunicornServer, already_logged: int) -> tuple[list[str], set[int]]:
    """``/allies`` from fresh connections, in bursts, until both workers have answered.

    Returns the pages and the pids of the workers that served them (from the access log).
    """
    pages: list[str] = []
    pids: set[int] = set()
    with ThreadPoolExecutor(8) as pool:
        for _burst in range(25):
            pages += pool.map(_get_allies_page, [server.base_url] * 8)
            deadline = time.monotonic() + 5
            while True:  # gunicorn logs a request just after answering it
                served = [
                    entry
                    for entry in server.access_log()[already_logged:]
                    if entry["path"] == "/allies"
                ]
                if len(served) >= len(pages) or time.monotonic() > deadline:
                    break
                time.sleep(0.01)
            pids = {entry["pid"] for entry in served}
            if len(pids) >= 2:
                break
    return pages, pids


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_every_gunicorn_worker_shows_a_committed_change_on_its_very_next_page(kind, tmp_path):
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(_fresh_database(kind))
        server = stack.enter_context(
            GunicornServer(url, workers=2, demo=True, folder=str(tmp_path / "server"))
        )

        # Both workers have the page cached, and have just checked the version.
        before, pids = _allies_pages(server, 0)
        assert len(pids) == 2, f"one worker served every request: {pids}"
        writer = create_app(
            {
                "TESTING": True,
                "SECRET_KEY": secrets.token_hex(32),
                "SQLALCHEMY_DATABASE_URI": server.database_url,
                "INSTANCE_PATH": str(tmp_path / "writer"),
                "TIMEZONE": "UTC",
            }
        )
        with writer.app_context():
            listed = [
                org
                for org in db.session.scalars(sa.select(Organization).order_by(Organization.id))
                if html.escape(org.name) in before[-1]
            ]
            assert listed, "no demo Ally on /allies"
            old_name = listed[0].name

            # Committed by this process, through the ORM, as a staff action in a worker would.
            logged = len(server.access_log())
            listed[0].name = "Riverbend Community Health Collaborative"
            listed[0].description = "Renamed."
            db.session.commit()
            after, pids = _allies_pages(server, logged)
            db.engine.dispose()

        problems = server.tracebacks()
    assert not problems, problems[0]
    assert len(pids) == 2, f"one worker served every request after the change: {pids}"
    stale = [page for page in after if html.escape(old_name) in page]
    assert not stale, f"{len(stale)} of {len(after)} pages after the commit showed the old name"
    assert all("Riverbend Community Health Collaborative" in page for page in after)
