"""Benchmark: importing a roster (``flask --app wsgi allies import``) on a throw-away database.

Prints figures and asserts nothing. On a new SQLite database (migrated, then the first-run
defaults) it times, in this process:

1. ``examples/roster.csv``: the dry run, the import, and a second run (every row already present);
2. a generated roster of ``--rows`` Allies (1,000 by default) the same three ways;

and the whole command for the example roster as an operator runs it (a new process: start-up
included). The instance's clock is set to the day the example roster was written for
(2026-11-23), so its terms are in force whenever this runs.

``--throwaway-postgres`` starts a temporary PostgreSQL server (tests/pg_server.py) and
``--postgres URL`` uses an existing, empty database instead of SQLite.

    .venv/bin/python bench/import_roster.py [--rows 1000] [--throwaway-postgres | --postgres URL]
"""

import argparse
import csv
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
sys.path.insert(0, str(ROOT))

TODAY = date(2026, 11, 23)
EXAMPLE = ROOT / "examples" / "roster.csv"


def generate_roster(path: Path, rows: int) -> None:
    """Write a roster of ``rows`` distinct Allies whose terms began over the last two years."""
    from allies.bootstrap import DEFAULT_TYPES
    from allies.organizations.roster import REQUIRED_COLUMNS

    with path.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(REQUIRED_COLUMNS + ("ally_since",))
        for n in range(rows):
            start = TODAY - timedelta(days=n * 700 // max(rows, 1))
            writer.writerow(
                [
                    f"Generated Health Ally {n:05d}",
                    f"https://ally{n}.bench.example.org",
                    DEFAULT_TYPES[n % len(DEFAULT_TYPES)],
                    "Boston",
                    "MA",
                    "USA",
                    "A health organization that teaches, practises and studies social medicine, "
                    "with its community partners.",
                    f"Contact {n}",
                    "Director",
                    f"contact{n}@ally{n}.bench.example.org",
                    "+1 617 555 0100",
                    start.isoformat(),
                    str(2010 + n % 15) if n % 3 == 0 else "",
                ]
            )


def timed(function) -> tuple[float, object]:
    """(seconds, result) of one call of ``function()``."""
    started = time.perf_counter()
    result = function()
    return time.perf_counter() - started, result


def measure(path: Path) -> dict[str, float]:
    """Seconds for the dry run, the import and the second run of the roster at ``path``."""
    from allies.extensions import db
    from allies.organizations.roster import import_roster

    figures = {}
    for label, dry_run in (("dry run", True), ("import", False), ("second run", False)):
        seconds, report = timed(
            lambda dry_run=dry_run: import_roster(path, today=TODAY, dry_run=dry_run)
        )
        if not report.ok:
            raise SystemExit("\n".join(report.lines()[:20]))
        figures[label] = seconds
        figures[f"{label} rows"] = report.imported
        db.session.remove()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1000)
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--postgres", default="", metavar="URL", help="an existing, empty database")
    where.add_argument("--throwaway-postgres", action="store_true")
    args = parser.parse_args()

    postgres = None
    database_url = args.postgres
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
        "ALLIES_TODAY": TODAY.isoformat(),
    }
    try:
        subprocess.run(
            [str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
        os.environ.update(env)
        from allies import create_app
        from allies.bootstrap import ensure_defaults

        app = create_app()
        generated = Path(instance) / "generated.csv"
        with app.app_context():
            ensure_defaults()
            generate_roster(generated, args.rows)
            example = measure(EXAMPLE)
            big = measure(generated)
            from allies.extensions import db

            db.engine.dispose()
        # The whole command as an operator types it (every row is present by now: each is
        # still read and checked).
        command_seconds, _ = timed(
            lambda: subprocess.run(
                [
                    str(BIN / "flask"),
                    "--app",
                    "wsgi",
                    "allies",
                    "import",
                    str(EXAMPLE),
                    "--dry-run",
                ],
                cwd=ROOT,
                env=env,
                check=True,
                capture_output=True,
            )
        )
    finally:
        shutil.rmtree(instance, ignore_errors=True)
        if postgres is not None:
            postgres.stop()

    print(f"database {env['DATABASE_URL'].split(':')[0]}")
    for name, figures in (
        (f"example roster ({EXAMPLE.name})", example),
        (f"generated ({args.rows} rows)", big),
    ):
        rows = figures["import rows"]
        print(f"{name}: {rows} Allies")
        for label in ("dry run", "import", "second run"):
            per_row = figures[label] / max(rows, 1) * 1000
            print(f"  {label:<11}: {figures[label]:7.3f} s  ({per_row:6.2f} ms per row)")
    print(f"whole command (new process), example roster --dry-run: {command_seconds:.2f} s")


if __name__ == "__main__":
    main()
