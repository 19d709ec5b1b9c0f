"""Benchmark: the daily reminder sweep over 100,000 agreements.

    .venv/bin/python bench/reminders.py [--count 100000] [--database-url postgresql+psycopg://...]

Creates the agreements with bulk inserts in a fresh SQLite database in a temporary folder (and,
with ``--database-url``, in that PostgreSQL database too: its Allies tables are DROPPED and
recreated), then times ``run_sweep`` when nothing is due and when 1% is due, and shows the query
plan of the candidate query (it must use the ``agreement.end_date`` index). Target: under 2 s
when nothing is due. Run by hand or in CI; never a timed test.
"""

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import sqlalchemy as sa  # noqa: E402

from allies import create_app  # noqa: E402
from allies.extensions import db  # noqa: E402

TODAY = date(2027, 6, 1)  # a Tuesday
BATCH = 10_000


def build_app(url: str, instance: str):
    return create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "INSTANCE_PATH": instance,
            "SECRET_KEY": "bench-" + "x" * 40,
            "PUBLIC_BASE_URL": "http://allies.bench",
            "TIMEZONE": "UTC",
        }
    )


def populate(count: int) -> None:
    """Organizations, contacts and agreements, none with a reminder due on TODAY."""
    from allies.agreements.models import Agreement
    from allies.bootstrap import ensure_defaults
    from allies.organizations.models import Contact, Organization
    from allies.reminders.models import StaffDigest, SweepRun
    from allies.reminders.schedule import end_date_ranges, week_start
    from allies.staff.settings import all_settings
    from allies.timeutil import utcnow

    db.drop_all()
    with db.engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))
    db.create_all()
    ensure_defaults()
    settings = all_settings()
    due_today = end_date_ranges(TODAY, TODAY, settings["grace_days"], settings["reminder_offsets"])
    rng = random.Random(7)
    now = utcnow()

    def end_date() -> date:
        while True:
            end = TODAY + timedelta(days=rng.randint(-800, 1400))
            if not any(low <= end <= high for low, high in due_today):
                return end

    for first in range(1, count + 1, BATCH):
        ids = range(first, min(first + BATCH, count + 1))
        db.session.execute(
            sa.insert(Organization),
            [
                {
                    "id": i,
                    "slug": f"org-{i}",
                    "name": f"Organization {i}",
                    "normalized_name": f"organization {i}",
                    "website": f"https://org{i}.example.org",
                    "website_domain": f"org{i}.example.org",
                    "description": "",
                    "created_at": now,
                    "updated_at": now,
                }
                for i in ids
            ],
        )
        db.session.execute(
            sa.insert(Contact),
            [
                {
                    "id": i,
                    "organization_id": i,
                    "role": "primary",
                    "name": f"Contact {i}",
                    "email": f"contact{i}@org{i}.example.org",
                    "created_at": now,
                }
                for i in ids
            ],
        )
        rows = []
        for i in ids:
            end = end_date()
            rows.append(
                {
                    "id": i,
                    "organization_id": i,
                    "start_date": end - timedelta(days=729),
                    "end_date": end,
                    "termination_reason": "",
                    "note": "",
                    "created_at": now,
                }
            )
        db.session.execute(sa.insert(Agreement), rows)
        db.session.commit()
    # Steady state: yesterday's sweep completed, and this week's digest went out on Monday.
    db.session.add(
        SweepRun(as_of=TODAY - timedelta(days=1), started_at=now, finished_at=now, queued=0)
    )
    db.session.add(StaffDigest(week_start=week_start(TODAY), queued_at=now))
    db.session.commit()
    if dialect() == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM ANALYZE"))
    else:
        with db.engine.begin() as conn:
            conn.execute(sa.text("ANALYZE"))


def dialect() -> str:
    return db.engine.dialect.name


def make_due(count: int) -> dict[str, int]:
    """Move ``count`` agreements so that one reminder of each kind is due on TODAY."""
    from allies.agreements.models import Agreement

    shifts = {"before_90": 90, "before_30": 30, "before_7": 7, "end_day": 0, "lapse": -31}
    total = db.session.scalar(sa.select(sa.func.count()).select_from(Agreement))
    chosen = random.Random(11).sample(range(1, total + 1), count)
    kinds: dict[str, int] = {}
    for index, agreement_id in enumerate(chosen):
        kind = list(shifts)[index % len(shifts)]
        end = TODAY + timedelta(days=shifts[kind])
        db.session.execute(
            sa.update(Agreement)
            .where(Agreement.id == agreement_id)
            .values(end_date=end, start_date=end - timedelta(days=729))
        )
        kinds[kind] = kinds.get(kind, 0) + 1
    db.session.commit()
    return kinds


def candidate_plan() -> list[str]:
    """The query plan of the sweep's candidate query, exactly as run_sweep builds it."""
    from allies.reminders.operations import candidate_query
    from allies.staff.settings import all_settings

    settings = all_settings()
    query = candidate_query((TODAY, TODAY), settings["grace_days"], settings["reminder_offsets"])
    sql = str(query.compile(db.engine, compile_kwargs={"literal_binds": True}))
    with db.engine.connect() as conn:
        if dialect() == "postgresql":
            return [row[0] for row in conn.execute(sa.text("EXPLAIN " + sql))]
        return [row[-1] for row in conn.execute(sa.text("EXPLAIN QUERY PLAN " + sql))]


def timed(function, repeat: int) -> tuple[list[float], object]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
        db.session.remove()
    return times, result


def bench(url: str, count: int, instance: str) -> dict:
    from allies.reminders.operations import run_sweep

    app = build_app(url, instance)
    figures = {"database": url.split(":", 1)[0]}
    with app.app_context():
        started = time.perf_counter()
        populate(count)
        figures["populate_s"] = time.perf_counter() - started
        plan = candidate_plan()
        figures["plan"] = plan
        figures["uses_end_date_index"] = any("ix_agreement_end_date" in line for line in plan)

        times, result = timed(lambda: run_sweep(TODAY), 5)
        assert result.count == 0, result.lines[:5]
        figures["nothing_due_s"] = times
        times, result = timed(lambda: run_sweep(TODAY, dry_run=True), 3)
        figures["nothing_due_dry_s"] = times

        due = count // 100
        figures["due_by_kind"] = make_due(due)
        times, result = timed(lambda: run_sweep(TODAY, dry_run=True), 1)
        assert result.count == due, result.count
        figures["one_percent_dry_s"] = times
        times, result = timed(lambda: run_sweep(TODAY), 1)
        assert result.count == due and not result.errors, (result.count, result.errors[:3])
        figures["one_percent_s"] = times
        times, result = timed(lambda: run_sweep(TODAY), 3)
        assert result.count == 0
        figures["one_percent_again_s"] = times
    with app.app_context():
        db.engine.dispose()
    return figures


def report(figures: dict, count: int) -> None:
    def fmt(values):
        return (
            f"median {statistics.median(values) * 1000:8.1f} ms   (runs: "
            + ", ".join(f"{v * 1000:.1f}" for v in values)
            + ")"
        )

    print(f"\n== {figures['database']}: {count:,} agreements ==")
    print(f"populate (bulk inserts)                  {figures['populate_s']:8.1f} s")
    print("candidate query plan:")
    for line in figures["plan"]:
        print(f"    {line}")
    print(f"uses ix_agreement_end_date               {figures['uses_end_date_index']}")
    print(f"sweep, nothing due                       {fmt(figures['nothing_due_s'])}")
    print(f"sweep, nothing due, dry run              {fmt(figures['nothing_due_dry_s'])}")
    due = sum(figures["due_by_kind"].values())
    print(f"1% due: {due:,} reminders {figures['due_by_kind']}")
    print(f"sweep, 1% due, dry run                   {fmt(figures['one_percent_dry_s'])}")
    print(f"sweep, 1% due (queues {due:,} + outbox)     {fmt(figures['one_percent_s'])}")
    print(f"sweep again, 1% already queued           {fmt(figures['one_percent_again_s'])}")
    verdict = "OK" if statistics.median(figures["nothing_due_s"]) < 2 else "OVER BUDGET"
    print(f"budget (< 2 s when nothing is due)       {verdict}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument(
        "--database-url",
        help="also run on this PostgreSQL database (its Allies tables are dropped and recreated)",
    )
    args = parser.parse_args()
    ok = True
    with tempfile.TemporaryDirectory(prefix="allies-bench-") as folder:
        urls = ["sqlite:///" + os.path.join(folder, "bench.sqlite3")]
        if args.database_url:
            urls.append(args.database_url)
        for url in urls:
            figures = bench(url, args.count, os.path.join(folder, "instance"))
            report(figures, args.count)
            ok = (
                ok
                and figures["uses_end_date_index"]
                and statistics.median(figures["nothing_due_s"]) < 2
            )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
