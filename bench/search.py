"""Benchmark: the staff search on 10,000 organizations, on SQLite and on PostgreSQL.

Builds the organizations (each with two contacts and an application, most with an agreement) by
bulk inserts into a database made by ``flask db upgrade`` (so PostgreSQL has the migration's GIN
indexes), then times typical searches through ``allies.staff.search.search`` (the function the
page calls) and prints the median and 95th percentile of each. On PostgreSQL it also prints the
plans of the two full-text statements, to show the indexes in use. Prints figures; asserts
nothing.

    .venv/bin/python bench/search.py [--organizations 10000] [--repeat 40]
        [--only sqlite|postgresql] [--database-url URL (an empty PostgreSQL database)]

Without --database-url the PostgreSQL run starts a throw-away server (tests/pg_server.py).
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
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
sys.path.insert(0, str(ROOT))

WORDS = (
    "Health Community Care Medical Nursing Equity Social Medicine Public Rural Urban Family "
    "Clinic Network Alliance Collective Institute Foundation Partners Students Workers"
).split()
CITIES = (
    "Boston Chicago Kampala Lagos Lima Quito Accra Recife Oslo Bergen Kingston Nairobi Manila "
    "Denver Cambridge Bern Leeds Dhaka Hanoi Toronto"
).split()
FIRST = "Ana Lee Sam Dana Pat Kim Noor Ravi Mei Omar Sara Tomas Ines Yuki Aisha".split()
LAST = "Lima Chen Rivera Okafor Silva Nguyen Haddad Kumar Berg Costa Mensah Ortiz".split()


def organization_name(n: int) -> str:
    """The generated name of organization ``n``: three words and a number."""
    return " ".join(WORDS[(n * k + k) % len(WORDS)] for k in (1, 3, 7)) + f" {n:05d}"


def contact_email(n: int, k: int = 0) -> str:
    """The generated email of a contact of organization ``n``."""
    return (
        f"{FIRST[(n + k) % len(FIRST)]}.{LAST[(n + k) % len(LAST)]}{n}@org{n}.example.org".lower()
    )


# (what a staff member looks for, the query)
QUERIES = (
    ("an exact name", organization_name(4217)),
    ("a common word", "nursing"),
    ("two words", " ".join(organization_name(4217).split()[:2]).lower()),
    ("a city", "Kampala"),
    ("an email", contact_email(4217)),
    ("a website domain", "org4217.example.org"),
    ("a number prefix", "0421"),
    ("nothing matches", "zzqxw"),
)


def build(count: int) -> None:
    """``count`` organizations with contacts, applications and agreements, by bulk inserts."""
    from allies import create_app
    from allies.agreements.models import Agreement
    from allies.agreements.terms import term_end
    from allies.applications.models import Application
    from allies.bootstrap import ensure_defaults
    from allies.extensions import db
    from allies.organizations.models import Contact, Organization

    app = create_app()
    with app.app_context():
        ensure_defaults()
        today = date.today()
        organizations = []
        for n in range(count):
            name = organization_name(n)
            organizations.append(
                {
                    "slug": f"org-{n}",
                    "name": name,
                    "normalized_name": name.lower(),
                    "website": f"https://org{n}.example.org",
                    "website_domain": f"org{n}.example.org",
                    "city": CITIES[n % len(CITIES)],
                    "region": "",
                    "country": "",
                    "description": f"{name} trains {WORDS[n % 7].lower()} workers with its "
                    "community partners, students and members, and teaches social medicine.",
                }
            )
        db.session.execute(db.insert(Organization), organizations)
        ids = db.session.scalars(db.select(Organization.id).order_by(Organization.id)).all()
        contacts = []
        for n, org_id in enumerate(ids):
            for role, k in (("primary", 0), ("signatory", 5)):
                contacts.append(
                    {
                        "organization_id": org_id,
                        "role": role,
                        "name": f"{FIRST[(n + k) % len(FIRST)]} {LAST[(n + k) % len(LAST)]}",
                        "email": contact_email(n, k),
                    }
                )
        db.session.execute(db.insert(Contact), contacts)
        primary = dict(
            db.session.execute(
                db.select(Contact.organization_id, Contact.id).where(Contact.role == "primary")
            ).all()
        )
        db.session.execute(
            db.insert(Application),
            [
                {
                    "organization_id": org_id,
                    "contact_id": primary[org_id],
                    "state": "submitted" if n % 10 == 0 else "approved",
                }
                for n, org_id in enumerate(ids)
            ],
        )
        agreements = []
        for n, org_id in enumerate(ids):
            if n % 10:
                start = today - timedelta(days=n % 900)
                agreements.append(
                    {"organization_id": org_id, "start_date": start, "end_date": term_end(start)}
                )
        db.session.execute(db.insert(Agreement), agreements)
        db.session.commit()
        if db.engine.dialect.name == "postgresql":
            db.session.execute(db.text("ANALYZE"))
            db.session.commit()
        db.engine.dispose()


def measure(repeat: int) -> tuple[list[tuple[str, str, int, float, float]], list[str]]:
    """For each query: (what, query, hits, median ms, p95 ms); and the PostgreSQL plans."""
    from sqlalchemy import event

    from allies import create_app
    from allies.extensions import db
    from allies.staff.search import search

    app = create_app()
    figures, plans = [], []
    with app.app_context():
        for what, query in QUERIES:
            results = search(query)  # warm
            times = []
            for _ in range(repeat):
                started = time.perf_counter()
                search(query)
                times.append((time.perf_counter() - started) * 1000)
                db.session.rollback()  # each search on its own, as each request is
            p95 = statistics.quantiles(times, n=20)[-1]
            hits = f"{len(results.hits)}{'+' if results.more else ''}"
            figures.append((what, query, hits, statistics.median(times), p95))
        if db.engine.dialect.name == "postgresql":
            statements = []

            def record(_conn, _cursor, statement, parameters, _context, _many):
                if "@@" in statement:
                    statements.append((statement, parameters))

            event.listen(db.engine, "before_cursor_execute", record)
            search("Kampala")
            event.remove(db.engine, "before_cursor_execute", record)
            connection = db.session.connection()
            for statement, parameters in statements:
                rows = connection.exec_driver_sql("EXPLAIN ANALYZE " + statement, parameters)
                plans.append("\n".join(row[0] for row in rows))
        db.engine.dispose()
    return figures, plans


def run(url: str | None, count: int, repeat: int) -> None:
    instance = tempfile.mkdtemp(prefix="allies-bench-search-")
    env = {
        "ALLIES_INSTANCE_PATH": instance,
        "DATABASE_URL": url or f"sqlite:///{instance}/allies.sqlite3",
        "SECRET_KEY": secrets.token_hex(32),
        "ALLIES_TIMEZONE": "UTC",
    }
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        subprocess.run(
            [str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"],
            cwd=ROOT,
            env={**os.environ},
            check=True,
            capture_output=True,
        )
        started = time.perf_counter()
        build(count)
        built = time.perf_counter() - started
        figures, plans = measure(repeat)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        shutil.rmtree(instance, ignore_errors=True)
    kind = env["DATABASE_URL"].split(":")[0]
    print(f"\n{kind}: {count} organizations, {2 * count} contacts (built in {built:.1f} s); ")
    print(f"search() {repeat} times per query, milliseconds")
    print(f"{'looking for':<20} {'query':<34} {'hits':>5} {'median':>8} {'p95':>8}")
    for what, query, hits, median, p95 in figures:
        print(f"{what:<20} {query:<34} {hits:>5} {median:8.2f} {p95:8.2f}")
    for plan in plans:
        print("\n" + plan)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--organizations", type=int, default=10000)
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--only", choices=("sqlite", "postgresql"))
    parser.add_argument("--database-url", default="", help="an empty PostgreSQL database")
    args = parser.parse_args()
    if args.only != "postgresql":
        run(None, args.organizations, args.repeat)
    if args.only == "sqlite":
        return
    if args.database_url:
        run(args.database_url, args.organizations, args.repeat)
        return
    from tests.pg_server import ThrowAwayPostgres

    postgres = ThrowAwayPostgres()
    if not postgres.start():
        raise SystemExit(f"no PostgreSQL: {postgres.reason}")
    try:
        run(postgres.url, args.organizations, args.repeat)
    finally:
        postgres.stop()


if __name__ == "__main__":
    main()
