"""The conferences migration carries the old archive forward: year → year-only dates, theme →
title, place and attendance kept; then invitations can be stored."""

from datetime import date

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from allies import create_app
from allies.extensions import db
from tests.fixtures import DATABASES, SKIPPED

BEFORE = "c4d8e2f6a913"
OLD_ROWS = [
    (2016, "Reimagining Social Medicine", "Minneapolis, MN, USA", "800+"),
    (2020, "Global Social Medicine Summit: =Building Community", "Virtual", ""),
    (2027, "Health Equity Together", "Lima, Peru", ""),
]


def _empty_database(kind: str, tmp_path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path}/conference-migration.sqlite3"
    if kind in SKIPPED:
        pytest.skip(f"postgresql: {SKIPPED[kind]}")
    server = DATABASES[kind]
    engine = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text("DROP DATABASE IF EXISTS allies_conference_migration"))
        conn.execute(sa.text("CREATE DATABASE allies_conference_migration"))
    engine.dispose()
    return server.rsplit("/", 1)[0] + "/allies_conference_migration"


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_old_conferences_are_carried_forward(kind, tmp_path):
    url = _empty_database(kind, tmp_path)
    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "m" * 40, "INSTANCE_PATH": str(tmp_path)}
    )
    with app.app_context():
        upgrade(revision=BEFORE)
        with db.engine.begin() as conn:
            for year, theme, place, attendance in OLD_ROWS:
                conn.execute(
                    sa.text(
                        "INSERT INTO conference (year, theme, place, attendance) "
                        "VALUES (:year, :theme, :place, :attendance)"
                    ),
                    {"year": year, "theme": theme, "place": place, "attendance": attendance},
                )
        upgrade()
        with db.engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT title, place, attendance, start_date, end_date, dates_year_only, "
                    "description, link, answers_reminded_at FROM conference ORDER BY id"
                )
            ).all()
        tables = set(sa.inspect(db.engine).get_table_names())
        # And back down, then up again: the year comes back from the dates.
        downgrade(revision=BEFORE)
        with db.engine.connect() as conn:
            years = conn.execute(sa.text("SELECT year, theme FROM conference ORDER BY id")).all()
        upgrade()
        db.engine.dispose()

    assert "conference_invitation" in tables
    assert len(rows) == len(OLD_ROWS)
    for row, (year, theme, place, attendance) in zip(rows, OLD_ROWS, strict=True):
        title, new_place, new_attendance, start, end, year_only, description, link, reminded = row
        assert (title, new_place, new_attendance) == (theme, place, attendance)
        assert _as_date(start) == date(year, 1, 1) and _as_date(end) == date(year, 12, 31)
        assert bool(year_only) is True
        assert (description, link, reminded) == ("", "", None)
    assert [tuple(row) for row in years] == [(year, theme) for year, theme, *_ in OLD_ROWS]


def _as_date(value):
    return date.fromisoformat(value) if isinstance(value, str) else value
