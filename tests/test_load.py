"""Under gunicorn: a load of concurrent applicants and readers on PostgreSQL loses and doubles
nothing, and the sign-in rate limit is one limit however many workers serve the attempts.

The servers are gunicorn on loopback ports (bench/serve.py), stopped at the end whatever
happens; the load comes from bench/load.py, run as a separate process.
"""

import contextlib
import json
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from bench.load import Client, FormParser, Recorder
from bench.serve import PROJECT_DIR, GunicornServer

APPLICANTS = 200
READERS = 50
READS_PER_READER = 20
LOAD_TIMEOUT = 75  # seconds, the load generator's hard limit
SIGN_IN_LIMIT = 5


def _session_databases(config) -> tuple[dict, dict]:
    """The DATABASES and SKIPPED of the conftest pytest loaded.

    ``from tests.conftest import DATABASES`` gives a second, never-configured copy of the module
    while tests/ has no __init__.py (pytest imports the file as ``conftest``), so ask pytest.
    """
    wanted = os.path.join(PROJECT_DIR, "tests", "conftest.py")
    for plugin in config.pluginmanager.get_plugins():
        if os.path.abspath(getattr(plugin, "__file__", None) or "") == wanted:
            return plugin.DATABASES, plugin.SKIPPED
    raise RuntimeError("tests/conftest.py is not loaded")


def _postgres_server(config):
    """The test session's PostgreSQL server URL, or a skip saying why there is none."""
    databases, skipped = _session_databases(config)
    if "postgresql" in skipped:
        pytest.skip(f"postgresql: {skipped['postgresql']}")
    return make_url(databases["postgresql"])


def _run_sql(server, *statements: str) -> None:
    engine = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            for statement in statements:
                conn.execute(sa.text(statement))
    finally:
        engine.dispose()


@contextlib.contextmanager
def _fresh_postgres_database(config, name: str):
    """A new, empty database on the session's PostgreSQL server (its URL); dropped afterwards."""
    server = _postgres_server(config)
    _run_sql(server, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", f"CREATE DATABASE {name}")
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        _run_sql(server, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="module")
def load_server(request, tmp_path_factory):
    """gunicorn (3 workers × 4 threads) on a fresh PostgreSQL database with the demo Allies."""
    with _fresh_postgres_database(request.config, "allies_load") as url:
        folder = str(tmp_path_factory.mktemp("load-server"))
        with GunicornServer(url, workers=3, threads=4, demo=True, folder=folder) as server:
            yield server


def _run_load(server: GunicornServer, tmp_path, run_id: str, *options: str) -> tuple:
    """Run bench/load.py as its own process; its completed process and its figures."""
    figures_path = tmp_path / f"load-{run_id}.json"
    command = [sys.executable, "bench/load.py", "--base-url", server.base_url]
    command += [*options, "--timeout", str(LOAD_TIMEOUT), "--run-id", run_id]
    command += ["--json", str(figures_path)]
    result = subprocess.run(
        command, cwd=PROJECT_DIR, capture_output=True, text=True, timeout=LOAD_TIMEOUT + 30
    )
    print(result.stdout, result.stderr)
    assert figures_path.exists(), result.stdout + result.stderr
    return result, json.loads(figures_path.read_text())


def _query(url: str, sql: str, **params) -> list[tuple]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(sa.text(sql), params)]
    finally:
        engine.dispose()


def _server_problems(server: GunicornServer) -> str:
    tracebacks = server.tracebacks()
    errors = [e for e in server.access_log() if e["status"] >= 500]
    text = f"{len(errors)} responses with 5xx: {errors[:5]}\n"
    if tracebacks:
        text += f"{len(tracebacks)} tracebacks; the first:\n{tracebacks[0]}"
    return text


def test_concurrent_applicants_and_readers_on_postgresql(load_server, tmp_path):
    run_id = "a" + uuid.uuid4().hex[:8]
    result, figures = _run_load(
        load_server, tmp_path, run_id,
        "--applicants", str(APPLICANTS),
        "--readers", str(READERS),
        "--reads-per-reader", str(READS_PER_READER),
    )  # fmt: skip
    url = load_server.database_url
    problems = _server_problems(load_server)

    assert figures["server_errors"] == 0, problems
    assert figures["connection_errors"] == 0, figures["failures"]
    assert not figures["timed_out"], figures["failures"]
    assert [a["n"] for a in figures["applicants"] if a["ok"]] == list(range(1, APPLICANTS + 1)), (
        figures["failures"]
    )
    assert all(a["location"].endswith("/apply/thanks") for a in figures["applicants"])
    assert figures["kinds"]["allies"]["requests"] + figures["kinds"]["allies_json"]["requests"] > 0
    assert result.returncode == 0, result.stdout + result.stderr

    names = {f"Load {run_id} Health Org {n:04d}" for n in range(1, APPLICANTS + 1)}
    emails = {f"load-{run_id}-{n}@example.org" for n in range(1, APPLICANTS + 1)}
    applications = _query(
        url,
        "SELECT o.name, a.state, a.kind FROM application a"
        " JOIN organization o ON o.id = a.organization_id WHERE o.name LIKE :prefix",
        prefix=f"Load {run_id} %",
    )
    assert len(applications) == APPLICANTS  # none lost, none doubled
    assert {name for name, _, _ in applications} == names
    assert {(state, kind) for _, state, kind in applications} == {("submitted", "new")}
    organizations = _query(
        url, "SELECT name FROM organization WHERE name LIKE :p", p=f"Load {run_id} %"
    )
    assert sorted(name for (name,) in organizations) == sorted(names)

    received = Counter(
        to for (to,) in _query(
            url,
            "SELECT to_addr FROM outbox_message WHERE kind = 'application_received'"
            " AND to_addr LIKE :prefix",
            prefix=f"load-{run_id}-%",
        )
    )  # fmt: skip
    assert set(received) == emails
    assert set(received.values()) == {1}  # one email per application
    to_staff = Counter(
        _query(
            url,
            "SELECT to_addr, subject FROM outbox_message WHERE kind = 'staff_new_application'"
            " AND subject LIKE :like",
            like=f"%Load {run_id} %",
        )
    )
    recipients = {to for to, _ in to_staff}
    assert recipients, "no staff notification queued"
    assert set(to_staff.values()) == {1}
    assert len(to_staff) == APPLICANTS * len(recipients)


def test_one_organization_name_applied_for_at_once(load_server, tmp_path):
    """A double-clicked submit, or two colleagues applying at once: each is kept, none fails."""
    run_id = "d" + uuid.uuid4().hex[:8]
    _result, figures = _run_load(
        load_server, tmp_path, run_id,
        "--applicants", "20", "--distinct-names", "2", "--readers", "0",
    )  # fmt: skip
    problems = _server_problems(load_server)
    assert figures["server_errors"] == 0, problems
    assert figures["applicants_ok"] == 20, figures["failures"]
    rows = _query(
        load_server.database_url,
        "SELECT o.name, o.slug FROM application a JOIN organization o ON o.id = a.organization_id"
        " WHERE o.name LIKE :prefix",
        prefix=f"Load {run_id} %",
    )
    assert Counter(name for name, _ in rows) == {
        f"Load {run_id} Health Org 0001": 10,
        f"Load {run_id} Health Org 0002": 10,
    }
    assert len({slug for _, slug in rows}) == 20


def _sign_in(server: GunicornServer, email: str, password: str, *, gate=None):
    """GET the sign-in page for a CSRF token (fresh connection and cookie jar), then POST it."""
    client = Client("127.0.0.1", server.port, Recorder(), time.monotonic() + 60, 30)
    page = client.request("sign_in_get", "GET", "/staff/sign-in")
    assert page is not None and page.status == 200
    parser = FormParser()
    parser.feed(page.text)
    form = {"csrf_token": parser.inputs["csrf_token"], "email": email, "password": password}
    if gate is not None:
        gate.wait(timeout=30)
    response = client.request("sign_in_post", "POST", "/staff/sign-in", form)
    assert response is not None, client.recorder.failures
    return response


def _logged_posts(server: GunicornServer, path: str, expected: int) -> list[dict]:
    """The access log's POSTs to ``path`` once ``expected`` are there (logged after answering)."""
    deadline = time.monotonic() + 10
    while True:
        posts = [e for e in server.access_log() if e["method"] == "POST" and e["path"] == path]
        if len(posts) >= expected or time.monotonic() > deadline:
            return posts
        time.sleep(0.05)


def _normalised(body: str, email: str) -> str:
    """The page without what differs by design: the CSRF token and the email typed back."""
    body = re.sub(r'(name="csrf_token"[^>]*value=")[^"]*', r"\1TOKEN", body)
    return body.replace(email, "EMAIL")


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_sign_in_rate_limit_is_shared_by_gunicorn_workers(kind, request, tmp_path):
    with contextlib.ExitStack() as stack:
        url = None  # an SQLite file in the server's instance folder
        if kind == "postgresql":
            url = stack.enter_context(_fresh_postgres_database(request.config, "allies_rate_limit"))
        # Failures from one address, whatever the account (both emails below count there).
        env = {"ALLIES_SIGN_IN_ADDRESS_RATE_LIMIT": f"{SIGN_IN_LIMIT} per minute"}
        server = stack.enter_context(
            GunicornServer(url, workers=3, env=env, folder=str(tmp_path / "server"))
        )
        known, unknown = server.admin_email, "nobody-here@example.org"
        assert known

        # Unknown email and wrong password: the same status and the same page.
        first = _sign_in(server, unknown, "not-the-password")
        second = _sign_in(server, known, "not-the-password")
        assert first.status == second.status == 401
        assert _normalised(first.text, unknown) == _normalised(second.text, known)

        # Ten more at once, from fresh connections, so that several workers serve them.
        gate = threading.Barrier(10)
        answers: dict[int, object] = {}

        def attempt(i: int) -> None:
            answers[i] = _sign_in(server, (known, unknown)[i % 2], f"wrong-{i}", gate=gate)

        threads = [threading.Thread(target=attempt, args=(i,)) for i in range(10)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert len(answers) == 10
        posts = _logged_posts(server, "/staff/sign-in", expected=12)
        problems = _server_problems(server)
        counters = _query(server.database_url, "SELECT key, count FROM rate_limit_counter")

    statuses = [first.status, second.status] + [answers[i].status for i in range(10)]
    assert Counter(statuses) == {401: SIGN_IN_LIMIT, 429: 12 - SIGN_IN_LIMIT}, (statuses, problems)
    assert len(posts) == 12
    assert len({e["pid"] for e in posts}) >= 2, posts  # served by more than one worker
    emails = {i: (known, unknown)[i % 2] for i in range(10)}
    refused = {i: answers[i] for i in range(10) if answers[i].status == 429}
    assert {emails[i] for i in refused} == {known, unknown}
    assert len({_normalised(r.text, emails[i]) for i, r in refused.items()}) == 1
    failed = {_normalised(r.text, emails[i]) for i, r in answers.items() if r.status == 401}
    assert failed == {_normalised(first.text, unknown)}
    assert all(r.headers.get("Retry-After") for r in refused.values())
    # The counters are rows in the application database, shared by every worker.
    assert counters, "no counter in the rate_limit_counter table"
    # Each refused attempt gave its place back: the address's counter holds the failures alone.
    assert max(count for _, count in counters) == SIGN_IN_LIMIT, counters
