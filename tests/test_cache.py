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
from allies.cache import (
    ContentVersion,
    PublicCache,
    _reader_for,
    cached,
    content_version,
    public_cache,
    size_of,
)
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


# --- bounded in bytes, keyed by what changes the page -------------------------------------------


def test_the_cache_is_bounded_in_bytes_least_recently_used_first():
    store = PublicCache(max_bytes=12_000)
    for n in range(5):
        assert store.put(("k", n), b"x" * 2_000, 2_000)
    assert store.bytes == 10_000 and len(store) == 5
    store.get(("k", 0))  # used: now the most recent
    assert store.put(("k", 5), b"y" * 3_000, 3_000)
    assert store.bytes == 11_000
    assert store.get(("k", 0)) is not None  # kept
    assert store.get(("k", 1)) is None and store.get(("k", 2)) is not None  # the oldest went
    # too large for a quarter of the bound: served by the caller, never kept
    assert not store.put("huge", b"z" * 3_100, 3_100)
    assert store.get("huge") is None
    # a variant made later counts too, and pushes the least recently used out
    store.grow(("k", 2), store.get(("k", 2)), 900)
    assert store.bytes == 11_900 and len(store) == 5
    store.put(("k", 6), b"w" * 500, 500)
    assert store.bytes == 10_400 and store.get(("k", 3)) is None
    # an entry grown past a quarter of the bound goes
    store.grow(("k", 5), store.get(("k", 5)), 200)
    assert store.get(("k", 5)) is None and store.bytes == 7_400
    store.forget(("k", 5))
    store.clear()
    assert store.bytes == 0 and len(store) == 0


def test_fragment_sizes_count_the_text_they_hold():
    assert size_of("a" * 1000) >= 1000
    assert size_of({"html": "a" * 1000, "count": 3}) >= 1000
    assert size_of([("x" * 500, 1)] * 4) >= 2000


@pytest.fixture
def small_cache(app_config):
    """A worker allowed 150 KB of public pages."""
    app_config["PUBLIC_CACHE_BYTES"] = 150_000


def test_public_pages_stay_within_the_byte_bound(small_cache, app, client, factory):
    for n in range(12):
        factory.ally(name=f"Bounded Health {n:02d}")
    assert public_cache.max_bytes == 150_000
    sizes = []
    for n in range(40):  # distinct searches: distinct pages, each of a few KB
        response = client.get(f"/allies?q=Health%20{n:02d}", headers={"Accept-Encoding": "gzip"})
        assert response.status_code == 200
        sizes.append(len(response.data))
        assert public_cache.bytes <= 150_000
    pages = [key for key in public_cache._entries if key[0] == "page"]
    assert len(pages) < 40  # the first searches were evicted, least recently used first
    assert ("q", "Health 39") in pages[-1][4]  # the last one stays
    # the cache's own count of bytes matches what it holds
    held = sum(slot[1] for slot in public_cache._entries.values())
    assert held == public_cache.bytes


def test_thousands_of_host_headers_add_no_entries(app, client, factory):
    factory.ally()
    client.get("/allies")
    client.get("/allies.json")
    entries, held = len(public_cache), public_cache.bytes
    for n in range(1200):
        path = "/allies" if n % 2 else "/allies.json"
        response = client.get(f"{path}?utm={n}", headers={"Host": f"x{n}.example.org"})
        assert response.status_code == 200
        assert f"x{n}.example.org" not in response.text  # absolute links use the base URL
    assert (len(public_cache), public_cache.bytes) == (entries, held)
