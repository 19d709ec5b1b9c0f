"""Benchmark: /allies with 1,000 current Allies under gunicorn versus a bare Flask endpoint.

DESIGN.md's budget: the page serves at least 0.8× the requests per second of the bare endpoint
served the same way. Needs `wrk` (Debian package). Prints the figures; asserts nothing.

    .venv/bin/python bench/allies_page.py [--allies 1000] [--workers 4] [--seconds 10]
        [--database-url postgresql+psycopg://…]
"""

import argparse
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def load_allies(env: dict, count: int) -> None:
    """Create ``count`` current Allies with bulk inserts (the ORM one by one would take minutes)."""
    sys.path.insert(0, str(ROOT))
    os.environ.update(env)
    from allies import create_app
    from allies.agreements.models import Agreement
    from allies.agreements.terms import term_end
    from allies.bootstrap import ensure_defaults
    from allies.cache import ContentVersion
    from allies.extensions import db
    from allies.organizations.models import Organization, OrganizationType

    app = create_app()
    with app.app_context():
        ensure_defaults()
        types = db.session.scalars(db.select(OrganizationType.id)).all()
        today = date.today()
        orgs = [
            {
                "slug": f"ally-{n}",
                "name": f"Health Ally {n:04d}",
                "normalized_name": f"health ally {n:04d}",
                "website": f"https://ally{n}.example.org",
                "website_domain": f"ally{n}.example.org",
                "type_id": types[n % len(types)],
                "city": "Boston",
                "region": "MA",
                "country": "USA",
                "description": "A health organization that teaches and practises social medicine "
                "with its community partners, students and members. " * 2,
            }
            for n in range(count)
        ]
        db.session.execute(db.insert(Organization), orgs)
        ids = db.session.scalars(db.select(Organization.id)).all()
        agreements = []
        for n, org_id in enumerate(ids):
            start = today - timedelta(days=n % 700)
            agreements.append(
                {"organization_id": org_id, "start_date": start, "end_date": term_end(start)}
            )
        db.session.execute(db.insert(Agreement), agreements)
        db.session.execute(db.update(ContentVersion).values(token=secrets.token_hex(8)))
        db.session.commit()


def serve(module: str, port: int, workers: int, env: dict, cwd: Path = ROOT) -> subprocess.Popen:
    process = subprocess.Popen(
        [
            str(BIN / "gunicorn"),
            "-w",
            str(workers),
            "-b",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            module,
        ],
        cwd=cwd,
        env=env,
    )
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
            return process
        except urllib.error.HTTPError:
            return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit(f"{module} did not start")


def wrk(url: str, seconds: int) -> float:
    out = subprocess.run(
        ["wrk", "-t2", "-c32", f"-d{seconds}s", url], capture_output=True, text=True, check=True
    ).stdout
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--allies", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    instance = tempfile.mkdtemp(prefix="allies-bench-")
    env = {
        **os.environ,
        "ALLIES_INSTANCE_PATH": instance,
        "DATABASE_URL": args.database_url or f"sqlite:///{instance}/allies.sqlite3",
        "SECRET_KEY": secrets.token_hex(32),
        "ALLIES_TIMEZONE": "UTC",
    }
    subprocess.run(
        [str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    load_allies(env, args.allies)
    results = {}
    for name, module, path in (
        ("hello", "bench.hello_app:app", "/hello"),
        ("allies", "wsgi:app", "/allies"),
    ):
        port = free_port()
        server = serve(module, port, args.workers, env)
        try:
            body = urllib.request.urlopen(f"http://127.0.0.1:{port}{path}").read().decode()
            if name == "allies":
                shown = re.search(r'class="count"[^>]*>(\d+) All', body).group(1)
                print(f"/allies lists {shown} Allies ({len(body) // 1024} KiB per page)")
            wrk(f"http://127.0.0.1:{port}{path}", 2)  # warm every worker
            results[name] = wrk(f"http://127.0.0.1:{port}{path}", args.seconds)
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(
        f"gunicorn -w {args.workers}, wrk -t2 -c32 -d{args.seconds}s on {env['DATABASE_URL'].split(':')[0]}"
    )
    print(f"bare hello : {results['hello']:8.0f} req/s")
    print(f"/allies    : {results['allies']:8.0f} req/s")
    print(f"ratio      : {results['allies'] / results['hello']:8.2f} (budget: at least 0.80)")
    shutil.rmtree(instance, ignore_errors=True)


if __name__ == "__main__":
    main()
