"""The dashboard charts: the figures on a known programme, the SVG, and its table alternative."""

import re
import xml.etree.ElementTree as ET
from datetime import date

import pytest
from sqlalchemy import event

from allies.agreements.models import Agreement
from allies.agreements.operations import terminate_agreement
from allies.extensions import db
from allies.staff.charts import dashboard_charts, next_months, past_months
from allies.staff.models import StaffUser

SVG = "{http://www.w3.org/2000/svg}"
TODAY = date(2026, 6, 15)

# Current Allies at each month's end, July 2024 to June 2026 (to date), for the programme below.
EXPECTED_ALLIES = [2, 2] + [3] * 4 + [4] * 4 + [5] * 5 + [4] * 6 + [3] * 2 + [3]
# Agreements ending each month, June 2026 to May 2028: E in June 2026, D in May 2027.
EXPECTED_ENDINGS = [1] + [0] * 10 + [1] + [0] * 12


@pytest.fixture
def app_config(app_config, database_url):
    app_config["TODAY"] = TODAY.isoformat()
    return app_config


@pytest.fixture
def programme(app, factory):
    """Five Allies and an applicant:

    A 2024-03-10 to 2026-03-09, not renewed: in grace to 8 April 2026, lapsed after.
    B from 2024-09-01, renewed on 2026-06-10 (the new term starts 2026-09-01).
    C from 2025-01-15, terminated from 2025-10-01.
    D from 2025-05-20 (ends 2027-05-19).  E from 2024-06-20 (ends 2026-06-19).
    """
    factory.ally(start=date(2024, 3, 10), name="Ally A")
    _org, b_agreement = factory.ally(start=date(2024, 9, 1), name="Ally B")
    factory.renewal(b_agreement, submitted_on=date(2026, 6, 5), approved_on=date(2026, 6, 10))
    _org, c_agreement = factory.ally(start=date(2025, 1, 15), name="Ally C")
    factory.ally(start=date(2025, 5, 20), name="Ally D")
    factory.ally(start=date(2024, 6, 20), name="Ally E")
    factory.application(name="Only Applied")
    with app.app_context():
        staff = db.session.scalar(db.select(StaffUser).where(StaffUser.role == "admin"))
        terminate_agreement(
            db.session.get(Agreement, c_agreement),
            staff=staff,
            reason="Asked to leave",
            on=date(2025, 10, 1),
            today=date(2025, 10, 1),
        )


def test_the_months(ctx):
    past = past_months(TODAY)
    assert [m.first for m in (past[0], past[-1])] == [date(2024, 7, 1), date(2026, 6, 1)]
    assert past[0].day == date(2024, 7, 31) and past[-1].day == TODAY
    assert past_months(date(2028, 3, 31))[-2].day == date(2028, 2, 29)
    ahead = next_months(TODAY)
    assert len(ahead) == 24 and ahead[0].first == date(2026, 6, 1)
    assert ahead[-1].day == date(2028, 5, 31)


def test_the_counts_on_a_known_programme(app, programme):
    with app.app_context():
        allies, endings = dashboard_charts(TODAY, 30)
    assert [label for label, _n in allies.rows][:2] == ["Jul 2024", "Aug 2024"]
    assert allies.rows[-1][0] == "Jun 2026 (to date)"
    assert [n for _label, n in allies.rows] == EXPECTED_ALLIES
    assert [label for label, _n in endings.rows][0] == "Jun 2026"
    assert [n for _label, n in endings.rows] == EXPECTED_ENDINGS
    assert "3 now, at most 5 (May 2025), at least 2 (Jul 2024)" in allies.description
    assert "2 in all; the most in Jun 2026, with 1" in endings.description


def test_the_charts_take_two_queries(app, programme):
    with app.app_context():
        db.session.execute(db.select(1))  # connected before counting
        statements = []

        def count(*_args):
            statements.append(1)

        event.listen(db.engine, "before_cursor_execute", count)
        try:
            dashboard_charts(TODAY, 30)
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
    assert len(statements) == 2


def _svgs(html: str) -> list[ET.Element]:
    return [ET.fromstring(svg) for svg in re.findall(r"<svg\b.*?</svg>", html, re.S)]


def _tables(html: str) -> list[list[tuple[str, int]]]:
    tables = []
    for details in re.findall(r"<details>(.*?)</details>", html, re.S):
        rows = re.findall(r'<tr><th scope="row">([^<]*)</th><td>(\d+)</td></tr>', details)
        tables.append([(label, int(value)) for label, value in rows])
    return tables


def test_the_dashboard_draws_both_charts_with_a_table_each(app, client, auth, programme):
    auth.login("reviewer")
    html = client.get("/staff").get_data(as_text=True)
    svgs = _svgs(html)
    assert len(svgs) == 2
    tables = _tables(html)
    assert [[n for _label, n in table] for table in tables] == [EXPECTED_ALLIES, EXPECTED_ENDINGS]
    for svg, table, title in zip(
        svgs,
        tables,
        ("Current Allies at each month's end", "Agreements ending per month"),
        strict=True,
    ):
        assert svg.get("role") == "img"
        assert svg.get("viewBox") and svg.get("width") == "100%"
        assert svg.find(f"{SVG}title").text == title
        desc = svg.find(f"{SVG}desc")
        assert desc.text.startswith("Bar chart of")
        assert svg.get("aria-labelledby") == svg.find(f"{SVG}title").get("id")
        assert svg.get("aria-describedby") == desc.get("id")
        bars = svg.findall(f"{SVG}g/{SVG}rect")
        assert [bar.find(f"{SVG}title").text for bar in bars] == [
            f"{label}: {value}" for label, value in table
        ]
        heights = [float(bar.get("height")) for bar in bars]
        values = [value for _label, value in table]
        top = max(values)
        # bars are proportional to their values
        assert all(
            abs(h * top - heights[values.index(top)] * v) < 0.1
            for h, v in zip(heights, values, strict=True)
        )
    assert "<script" not in html.split("<main", 1)[1]


def test_an_empty_programme_draws_empty_charts(app, client, auth):
    auth.login("reviewer")
    html = client.get("/staff").get_data(as_text=True)
    svgs = _svgs(html)
    assert len(svgs) == 2
    assert [set(n for _label, n in table) for table in _tables(html)] == [{0}, {0}]
    assert "0 in all." in html
