"""Benchmark: backup and restore of a programme of 1,000 Allies, on SQLite and PostgreSQL.

    .venv/bin/python bench/backup.py [--allies 1000] [--rounds 3] [--no-postgres]
        [--database-url postgresql+psycopg://… (a server where databases may be created)]

Builds, with bulk inserts (the ORM one by one would take minutes), 1,000 current Allies, each with
two contacts, an agreement, a logo (a ~25 KB PNG), four outbox messages and three audit events.
Then, per database, it times ``allies.backup.backup`` and ``allies.backup.restore`` in this
process (the median of ``--rounds``, each restore into a new empty database and upload folder),
and once each ``flask --app wsgi backup`` / ``restore`` end to end (process start included).
PostgreSQL runs on a throw-away server (tests/pg_server.py) unless ``--database-url`` names one.
Wall time and CPU time (this process and its pg_dump/pg_restore children; the PostgreSQL
server's own work is not in it) are shown, as a busy machine stretches the first. Prints the
figures; asserts nothing.
"""

import argparse
import io
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
from PIL import Image  # noqa: E402

from allies import create_app  # noqa: E402
from allies.extensions import db  # noqa: E402

BIN = ROOT / ".venv" / "bin"
SECRET = "bench-" + "x" * 40


def config(url: str, instance: Path) -> dict:
    return {
        "SQLALCHEMY_DATABASE_URI": url,
        "INSTANCE_PATH": str(instance),
        "SECRET_KEY": SECRET,
        "PUBLIC_BASE_URL": "http://allies.bench",
        "TIMEZONE": "UTC",
    }


def logo_bytes(rng: random.Random) -> bytes:
    """A PNG of about 25 KB that compresses no further, as re-encoded logos do not."""
    image = Image.frombytes("RGB", (96, 88), rng.randbytes(96 * 88 * 3))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def populate(app, count: int) -> None:
    """The schema, the defaults, and ``count`` current Allies with their rows and logos."""
    from flask_migrate import stamp

    from allies.agreements.models import Agreement
    from allies.agreements.terms import term_end
    from allies.bootstrap import ensure_defaults
    from allies.mail.models import OutboxMessage
    from allies.organizations.models import Contact, Organization, OrganizationType
    from allies.staff.models import AuditEvent
    from allies.timeutil import utcnow

    rng = random.Random(9)
    with app.app_context():
        db.create_all()
        stamp(revision="heads")
        ensure_defaults()
        types = db.session.scalars(db.select(OrganizationType.id)).all()
        now, today = utcnow(), date.today()
        uploads = Path(app.config["UPLOAD_FOLDER"])
        logos = []
        for _n in range(count):
            name = f"{rng.getrandbits(128):032x}.png"
            (uploads / name).write_bytes(logo_bytes(rng))
            logos.append(name)
        db.session.execute(
            sa.insert(Organization),
            [
                {
                    "id": n + 1,
                    "slug": f"ally-{n}",
                    "name": f"Health Ally {n:04d}",
                    "normalized_name": f"health ally {n:04d}",
                    "website": f"https://ally{n}.example.org",
                    "website_domain": f"ally{n}.example.org",
                    "type_id": types[n % len(types)],
                    "city": "Boston",
                    "region": "MA",
                    "country": "USA",
                    "description": "A health organization that teaches and practises social "
                    "medicine with its community partners, students and members. " * 2,
                    "logo_filename": logos[n],
                    "created_at": now,
                    "updated_at": now,
                }
                for n in range(count)
            ],
        )
        db.session.execute(
            sa.insert(Contact),
            [
                {
                    "organization_id": n + 1,
                    "role": role,
                    "name": f"{role.title()} Contact {n}",
                    "email": f"{role}{n}@ally{n}.example.org",
                    "created_at": now,
                }
                for n in range(count)
                for role in ("primary", "communications")
            ],
        )
        agreements = []
        for n in range(count):
            start = today - timedelta(days=n % 700)
            agreements.append(
                {
                    "organization_id": n + 1,
                    "start_date": start,
                    "end_date": term_end(start),
                    "termination_reason": "",
                    "note": "",
                    "created_at": now,
                }
            )
        db.session.execute(sa.insert(Agreement), agreements)
        body = "Dear colleague,\n\nYour agreement with the alliance ends soon. " * 12
        db.session.execute(
            sa.insert(OutboxMessage),
            [
                {
                    "message_id": f"<{n}.{k}@allies.bench>",
                    "kind": "reminder",
                    "to_addr": f"primary{n}@ally{n}.example.org",
                    "subject": f"Your agreement ends in {k * 30} days",
                    "body_text": body,
                    "body_html": f"<p>{body}</p>",
                    "status": "sent",
                    "next_attempt_at": now,
                    "created_at": now,
                    "sent_at": now,
                }
                for n in range(count)
                for k in range(4)
            ],
        )
        db.session.execute(
            sa.insert(AuditEvent),
            [
                {
                    "at": now,
                    "actor": "Admin",
                    "subject_type": "organization",
                    "subject_id": n + 1,
                    "action": action,
                    "reason": "",
                }
                for n in range(count)
                for action in ("submitted", "approved", "profile_updated")
            ],
        )
        db.session.commit()
        db.engine.dispose()


def upload_bytes(app) -> int:
    return sum(p.stat().st_size for p in Path(app.config["UPLOAD_FOLDER"]).iterdir())


def database_bytes(app) -> int:
    with app.app_context():
        url = db.engine.url
        if url.get_backend_name() == "sqlite":
            size = Path(url.database).stat().st_size
        else:
            size = db.session.scalar(sa.text("SELECT pg_database_size(current_database())"))
        db.session.remove()
        db.engine.dispose()
        return size


class Databases:
    """New empty databases of one kind: SQLite files in a folder, or on a PostgreSQL server."""

    def __init__(self, folder: Path, server_url: str | None):
        self.folder, self.server_url, self.made = folder, server_url, []

    def new(self, name: str) -> str:
        if self.server_url is None:
            return f"sqlite:///{self.folder}/{name}.sqlite3"
        engine = sa.create_engine(self.server_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            conn.execute(sa.text(f"CREATE DATABASE {name}"))
        engine.dispose()
        self.made.append(name)
        return self.server_url.rsplit("/", 1)[0] + "/" + name

    def drop_all(self) -> None:
        if self.server_url is None:
            return
        engine = sa.create_engine(self.server_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            for name in self.made:
                conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        engine.dispose()


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (pg_dump, pg_restore) so far."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def flask_cli(url: str, instance: Path, *args: str) -> float:
    """Run ``flask --app wsgi ARGS`` on ``url``; its wall time in seconds."""
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "ALLIES_INSTANCE_PATH": str(instance),
        "SECRET_KEY": SECRET,
        "ALLIES_TIMEZONE": "UTC",
    }
    started = time.perf_counter()
    subprocess.run(
        [str(BIN / "flask"), "--app", "wsgi", *args],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def bench(kind: str, databases: Databases, folder: Path, count: int, rounds: int) -> dict:
    from allies.backup import backup, restore

    source_url = databases.new("allies_bench_source")
    source = create_app(config(source_url, folder / "source"))
    started = time.perf_counter()
    populate(source, count)
    figures = {
        "kind": kind,
        "populate_s": time.perf_counter() - started,
        "database_bytes": database_bytes(source),
        "upload_bytes": upload_bytes(source),
        "backup_s": [],
        "restore_s": [],
        "backup_cpu_s": [],
        "restore_cpu_s": [],
    }
    for n in range(rounds):
        archive = folder / f"{kind}-{n}.tar.gz"
        with source.app_context():
            cpu = cpu_seconds()
            result = backup(archive)
            figures["backup_cpu_s"].append(cpu_seconds() - cpu)
            db.engine.dispose()
        figures["backup_s"].append(result.seconds)
        figures["archive_bytes"] = result.size
        target = create_app(config(databases.new(f"allies_bench_restore_{n}"), folder / f"t{n}"))
        with target.app_context():
            started, cpu = time.perf_counter(), cpu_seconds()
            restored = restore(archive)
            figures["restore_s"].append(time.perf_counter() - started)
            figures["restore_cpu_s"].append(cpu_seconds() - cpu)
            db.engine.dispose()
        assert restored.uploads == count, restored
    archive = folder / f"{kind}-cli.tar.gz"
    figures["cli_backup_s"] = flask_cli(source_url, folder / "source", "backup", str(archive))
    figures["cli_restore_s"] = flask_cli(
        databases.new("allies_bench_restore_cli"), folder / "tcli", "restore", str(archive)
    )
    return figures


def report(figures: dict, count: int) -> None:
    def ms(values):
        return (
            f"median {statistics.median(values) * 1000:7.0f} ms  (runs: "
            + ", ".join(f"{v * 1000:.0f}" for v in values)
            + ")"
        )

    mb = 1024 * 1024
    print(f"\n== {figures['kind']}: {count:,} Allies ==")
    print(f"populate (bulk inserts, logos)      {figures['populate_s']:7.1f} s")
    print(f"database                            {figures['database_bytes'] / mb:7.1f} MB")
    print(f"logos ({count:,} files)                {figures['upload_bytes'] / mb:7.1f} MB")
    print(f"archive (tar.gz)                    {figures['archive_bytes'] / mb:7.1f} MB")
    print(f"backup, in process                  {ms(figures['backup_s'])}")
    print(f"  CPU (with pg_dump)                {ms(figures['backup_cpu_s'])}")
    print(f"restore, in process                 {ms(figures['restore_s'])}")
    print(f"  CPU (with pg_restore)             {ms(figures['restore_cpu_s'])}")
    print(f"flask --app wsgi backup (CLI)       {figures['cli_backup_s'] * 1000:7.0f} ms")
    print(f"flask --app wsgi restore (CLI)      {figures['cli_restore_s'] * 1000:7.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--allies", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument(
        "--database-url", default="", help="a PostgreSQL server to create databases on"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="allies-bench-backup-") as name:
        folder = Path(name)
        figures = bench(
            "sqlite", Databases(folder, None), folder / "sqlite", args.allies, args.rounds
        )
        report(figures, args.allies)
        if args.no_postgres:
            return
        postgres = None
        server_url = args.database_url
        if not server_url:
            from tests.pg_server import ThrowAwayPostgres

            postgres = ThrowAwayPostgres()
            if not postgres.start():
                raise SystemExit(f"no PostgreSQL: {postgres.reason}")
            server_url = postgres.url
        databases = Databases(folder, server_url)
        try:
            figures = bench(
                "postgresql", databases, folder / "postgresql", args.allies, args.rounds
            )
            report(figures, args.allies)
        finally:
            databases.drop_all()
            if postgres is not None:
                postgres.stop()


if __name__ == "__main__":
    main()
