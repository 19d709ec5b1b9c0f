"""The dashboard's charts: their figures (asked of the standing rule) and their SVG geometry.

Two bar charts, drawn on the server (templates/staff/_charts.html renders the SVG, escaped):
current Allies at each month's end over the last 24 months, and agreements ending in each of the
next 24 months. Whether an Ally is current on a day, and whether an agreement is still due to
end, is decided by allies/agreements/standing.py; here are only calendars and geometry. Each
chart takes one query.
"""

import calendar
import math
from dataclasses import dataclass
from datetime import date

from sqlalchemy import extract, func, literal, union_all

from allies.agreements.models import Agreement
from allies.agreements.standing import ending_within_clause, listed_clause
from allies.extensions import db

MONTHS = 24

# The SVG's own coordinate system (viewBox); it scales to the width of its box, phones included.
WIDTH, HEIGHT = 360, 210
LEFT, RIGHT, TOP, BOTTOM = 36, 6, 12, 34
LABEL_EVERY = 6  # months between labels on the horizontal axis


@dataclass(frozen=True)
class Month:
    """A calendar month: its first day, and the day it is counted on."""

    first: date
    day: date  # the month's end, or today for the current month

    @property
    def label(self) -> str:
        """Nov 2026."""
        return f"{self.first:%b %Y}"


@dataclass(frozen=True)
class Bar:
    """One month's bar, in viewBox units."""

    label: str
    value: int
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class Tick:
    """A labelled line across (values) or a label below (months)."""

    label: str
    x: float
    y: float


@dataclass(frozen=True)
class Chart:
    """Everything the template draws, and the table that says the same in words."""

    key: str  # a stable id for the SVG's title and description
    title: str
    description: str
    column: str  # the heading of the value column in the table
    rows: list[tuple[str, int]]
    bars: list[Bar]
    value_ticks: list[Tick]
    month_ticks: list[Tick]
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    baseline: float = HEIGHT - BOTTOM


def _add_months(day: date, months: int) -> date:
    """The first day of the month ``months`` after the month of ``day``."""
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _month_end(first: date) -> date:
    return first.replace(day=calendar.monthrange(first.year, first.month)[1])


def past_months(today: date, count: int = MONTHS) -> list[Month]:
    """The ``count`` months up to this one, oldest first; this month counted on ``today``."""
    months = []
    for back in range(count - 1, -1, -1):
        first = _add_months(today, -back)
        months.append(Month(first, min(_month_end(first), today)))
    return months


def next_months(today: date, count: int = MONTHS) -> list[Month]:
    """This month and the ``count - 1`` after it, each counted to its end."""
    return [
        Month(first, _month_end(first))
        for first in (_add_months(today, ahead) for ahead in range(count))
    ]


def current_allies_by_month(today: date, grace_days: int) -> list[tuple[Month, int]]:
    """How many organizations were current Allies on each past month's counting day.

    One query: a count per day under the standing module's listed clause, joined by UNION ALL.
    """
    months = past_months(today)
    counts = union_all(
        *(
            db.select(
                literal(index).label("month"),
                func.count(func.distinct(Agreement.organization_id)).label("allies"),
            ).where(listed_clause(month.day, grace_days))
            for index, month in enumerate(months)
        )
    ).subquery()
    found = dict(db.session.execute(db.select(counts.c.month, counts.c.allies)).all())
    return [(month, found.get(index, 0)) for index, month in enumerate(months)]


def endings_by_month(today: date) -> list[tuple[Month, int]]:
    """How many agreements are due to end in each of the next months (from today on).

    Due to end: neither renewed nor terminated (standing's ``ending_within_clause``). One
    grouped query.
    """
    months = next_months(today)
    horizon = (months[-1].day - today).days
    year, month = extract("year", Agreement.end_date), extract("month", Agreement.end_date)
    rows = db.session.execute(
        db.select(year, month, func.count(Agreement.id))
        .where(ending_within_clause(today, horizon))
        .group_by(year, month)
    ).all()
    found = {(int(y), int(m)): count for y, m, count in rows}
    return [(m, found.get((m.first.year, m.first.month), 0)) for m in months]


def _tick_step(value: int) -> int:
    """The step between the four value lines: 1, 2 or 5 times a power of ten, so that four
    steps reach ``value``."""
    needed = max(1, math.ceil(value / 4))
    power = 10 ** math.floor(math.log10(needed))
    for step in (1, 2, 5, 10):
        if needed <= step * power:
            return step * power
    return 10 * power  # not reached


def bar_chart(
    key: str, title: str, description: str, column: str, data: list[tuple[str, int]]
) -> Chart:
    """The geometry of a bar chart of ``data`` ((label, value) in order)."""
    step = _tick_step(max((value for _label, value in data), default=0))
    top = step * 4
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_width / len(data)
    baseline = HEIGHT - BOTTOM
    bars = []
    for position, (label, value) in enumerate(data):
        height = plot_height * value / top
        bars.append(
            Bar(
                label=label,
                value=value,
                x=round(LEFT + position * slot + slot * 0.15, 2),
                y=round(baseline - height, 2),
                width=round(slot * 0.7, 2),
                height=round(height, 2),
            )
        )
    value_ticks = [
        Tick(str(step * line), LEFT - 6, round(baseline - plot_height * line / 4, 2))
        for line in range(5)
    ]
    month_ticks = [
        Tick(label, round(LEFT + position * slot + slot / 2, 2), baseline + 16)
        for position, (label, _value) in enumerate(data)
        if position % LABEL_EVERY == 0
    ]
    return Chart(key, title, description, column, data, bars, value_ticks, month_ticks)


def _extremes(data: list[tuple[str, int]]) -> tuple[tuple[str, int], tuple[str, int]]:
    """The first month with the fewest and the first with the most."""
    low = min(data, key=lambda row: row[1])
    high = max(data, key=lambda row: row[1])
    return low, high


def dashboard_charts(today: date, grace_days: int) -> list[Chart]:
    """The two dashboard charts as of ``today``."""
    past = current_allies_by_month(today, grace_days)
    allies = [
        (f"{month.label} (to date)" if month.day == today else month.label, count)
        for month, count in past
    ]
    (low_label, low), (high_label, high) = _extremes(allies)
    allies_chart = bar_chart(
        "allies-by-month",
        "Current Allies at each month's end",
        f"Bar chart of how many organizations were current Allies at the end of each month "
        f"from {allies[0][0]} to {allies[-1][0]}: {allies[-1][1]} now, "
        f"at most {high} ({high_label}), at least {low} ({low_label}).",
        "Current Allies",
        allies,
    )
    ahead = [(month.label, count) for month, count in endings_by_month(today)]
    total = sum(count for _label, count in ahead)
    _low, (busiest_label, busiest) = _extremes(ahead)
    busiest_text = f"; the most in {busiest_label}, with {busiest}" if busiest else ""
    endings_chart = bar_chart(
        "endings-by-month",
        "Agreements ending per month",
        f"Bar chart of how many agreements, not yet renewed or terminated, end in each month "
        f"from {ahead[0][0]} to {ahead[-1][0]}: {total} in all{busiest_text}.",
        "Agreements ending",
        ahead,
    )
    return [allies_chart, endings_chart]
