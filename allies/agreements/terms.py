"""Term arithmetic: where a term ends and where a renewal starts.

A term covers two full years: it ends the day before the second anniversary of its start. The
anniversary of 29 February in a common year is 1 March, so a term starting 2028-02-29 ends
2030-02-28. What a term's dates mean on a given day (its status) is decided in standing.py.
"""

from datetime import date, timedelta

from allies.agreements.standing import lapse_date

TERM_YEARS = 2


def anniversary(start: date, years: int) -> date:
    """The ``years``-th anniversary of ``start``; 29 February falls on 1 March in common years."""
    try:
        return start.replace(year=start.year + years)
    except ValueError:
        return date(start.year + years, 3, 1)


def term_end(start: date) -> date:
    """The last day of a term starting on ``start``."""
    return anniversary(start, TERM_YEARS) - timedelta(days=1)


def renewal_start(*, previous_end: date, approved_on: date, grace_days: int) -> date:
    """Where an approved renewal starts: the day after the old term, or the approval day if lapsed."""
    if approved_on >= lapse_date(previous_end, grace_days):
        return approved_on
    return previous_end + timedelta(days=1)
