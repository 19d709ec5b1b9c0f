"""Benchmark: what checking the public content version on every request costs.

Prints figures and asserts nothing:

1. the in-process cost of the version check one request makes (``allies.cache.content_version``),
   next to an ORM read of the same row through the request's session (pool checkout with
   pre-ping, SELECT, and the rollback when the request ends) for reference;
2. the in-process cost of a whole cached ``GET /allies`` and of the bare "hello", called as WSGI
   applications (no server, no network: steadier than requests per second on a busy machine);
3. requests per second of the cached ``/allies`` page (1,000 Allies by default) and of a bare
   Flask "hello" endpoint under gunicorn, measured in alternating rounds (the median is shown).

On SQLite by default; ``--throwaway-postgres`` starts a temporary PostgreSQL server
(tests/pg_server.py), ``--database-url`` uses an existing, empty database. Needs ``wrk``.

    .venv/bin/python bench/content_version.py [--allies 1000] [--workers 2] [--seconds 5]
        [--rounds 3 (0: in-process figures only)] [--calls 20000] [--throwaway-postgres | --database-url URL]
        [--env NAME=VALUE …]
"""

import argparse
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.allies_page import BIN, free_port, load_allies, serve, wrk  # noqa: E402


def per_call(function, calls: int) -> float:
    """Microseconds per call of ``function()``: the best of three timed batches."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(calls):
            function()
        best = min(best, time.perf_counter() - started)
    return best / calls * 1e6


def wsgi_call(app, path: str):
    """A function that serves ``GET path`` once through ``app`` as a WSGI server would."""
    from werkzeug.test import EnvironBuilder

    environ = EnvironBuilder(path=path, base_url="http://127.0.0.1:8000").get_environ()

    def start_response(status, _headers, _exc_info=None):
        if not status.startswith("200"):
            raise RuntimeError(f"GET {path}: {status}")

    def call() -> None:
        body = app(dict(environ), start_response)
        try:
            for _chunk in body:
                pass
        finally:
            getattr(body, "close", lambda: None)()

    return call


def version_check_costs(calls: int) -> dict[str, float]:
    """Per-request costs in this process (the app from the environment), in microseconds."""
    from flask import g
    from sqlalchemy import select

    from allies import create_app
    from allies.cache import ContentVersion, content_version
    from allies.extensions import db
    from bench.hello_app import app as hello_app

    app = create_app()
    allies_page, hello = wsgi_call(app, "/allies"), wsgi_call(hello_app, "/hello")
    allies_page()  # cached now
    with app.test_request_context("/allies"):

        def check() -> None:
            g.pop("content_version", None)  # a new request
            content_version()

        def orm_read() -> None:
            db.session.scalar(select(ContentVersion.token).where(ContentVersion.id == 1))
            db.session.remove()

        check()  # connect once before timing
        orm_read()
        costs = {"check": per_call(check, calls), "orm": per_call(orm_read, calls // 4 or 1)}
    costs["allies"] = per_call(allies_page, calls // 4 or 1)
    costs["hello"] = per_call(hello, calls // 4 or 1)
    with app.app_context():
        db.engine.dispose()
    return costs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--allies", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3, help="0: no gunicorn, no wrk")
    parser.add_argument("--calls", type=int, default=20000)
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--database-url", default="")
    where.add_argument("--throwaway-postgres", action="store_true")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--compare-with", metavar="DIR", help="another copy of the project")
    args = parser.parse_args()
    if args.rounds > 0 and shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")

    postgres = None
    database_url = args.database_url
    if args.throwaway_postgres:
        from tests.pg_server import ThrowAwayPostgres

        postgres = ThrowAwayPostgres()
        if not postgres.start():
            raise SystemExit(f"no PostgreSQL: {postgres.reason}")
        database_url = postgres.url
    instance = tempfile.mkdtemp(prefix="allies-bench-")
    env = {
        **os.environ,
        "ALLIES_INSTANCE_PATH": instance,
        "DATABASE_URL": database_url or f"sqlite:///{instance}/allies.sqlite3",
        "SECRET_KEY": secrets.token_hex(32),
        "ALLIES_TIMEZONE": "UTC",
        **dict(item.split("=", 1) for item in args.env),
    }
    try:
        subprocess.run(
            [str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
        load_allies(env, args.allies)
        costs = version_check_costs(args.calls)

        servers = {}
        candidates = [
            ("bare hello", "bench.hello_app:app", "/hello", ROOT),
            ("cached /allies", "wsgi:app", "/allies", ROOT),
        ]
        if args.compare_with:
            compared = Path(args.compare_with).resolve()
            candidates.append((f"cached /allies, {compared.name}", "wsgi:app", "/allies", compared))
        results: dict[str, list[float]] = {name: [] for name, *_rest in candidates}
        try:
            for name, module, path, cwd in candidates if args.rounds > 0 else ():
                port = free_port()
                servers[name] = (serve(module, port, args.workers, env, cwd), port, path)
                urllib.request.urlopen(f"http://127.0.0.1:{port}{path}").read()
                wrk(f"http://127.0.0.1:{port}{path}", 2)  # warm every worker
            for _ in range(args.rounds):
                for name, (_process, port, path) in servers.items():
                    results[name].append(wrk(f"http://127.0.0.1:{port}{path}", args.seconds))
        finally:
            for process, _port, _path in servers.values():
                process.terminate()
                process.wait(timeout=30)
    finally:
        shutil.rmtree(instance, ignore_errors=True)
        if postgres is not None:
            postgres.stop()

    print(f"database {env['DATABASE_URL'].split(':')[0]}, {args.allies} Allies")
    print(f"version check per request       : {costs['check']:8.1f} µs")
    print(f"ORM read of the row (reference) : {costs['orm']:8.1f} µs")
    print(f"cached GET /allies, in-process  : {costs['allies']:8.1f} µs")
    print(f"bare hello, in-process          : {costs['hello']:8.1f} µs")
    if args.rounds < 1:
        return
    print(
        f"gunicorn -w {args.workers}, wrk -t2 -c32, {args.rounds} alternating rounds of "
        f"{args.seconds} s (median, then each round)"
    )
    hello = statistics.median(results["bare hello"])
    width = max(len(name) for name in results)
    for name, rounds in results.items():
        median = statistics.median(rounds)
        ratio = "" if name == "bare hello" else f"  {median / hello:.2f}× hello (budget: 0.80)"
        print(f"{name:<{width}} : {median:6.0f} req/s{ratio}  {[round(r) for r in rounds]}")


if __name__ == "__main__":
    main()
