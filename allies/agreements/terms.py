"""Term arithmetic and agreement status: the one place these rules are decided.

A term covers two full years: it ends the day before the second anniversary of its start. The
anniversary of 29 February in a common year is 1 March, so a term starting 2028-02-29 ends
2030-02-28.
"""

from datetime import date, timedelta

TERM_YEARS = 2
EXPIRING_DAYS = 90
RENEWAL_OPENS_DAYS = 90

STATUSES = ("upcoming", "active", "expiring", "grace", "lapsed", "terminated", "renewed")
# Statuses in which an Ally appears on the public recognition page.
LISTED_STATUSES = ("active", "expiring", "grace")


def anniversary(start: date, years: int) -> date:
    """The ``years``-th anniversary of ``start``; 29 February falls on 1 March in common years."""
    try:
        return start.replace(year=start.year + years)
    except ValueError:
        return date(start.year + years, 3, 1)


def term_end(start: date) -> date:
    """The last day of a term starting on ``start``."""
    return anniversary(start, TERM_YEARS) - timedelta(days=1)


def lapse_date(end: date, grace_days: int) -> date:
    """The first day on which an agreement ending on ``end`` is lapsed."""
    return end + timedelta(days=grace_days + 1)


def agreement_status(
    *,
    start: date,
    end: date,
    today: date,
    grace_days: int,
    terminated_on: date | None = None,
    renewed: bool = False,
) -> str:
    """The status of a term on ``today`` from its dates and the decisions taken on it."""
    if terminated_on is not None and terminated_on <= today:
        return "terminated"
    if renewed and today > end:
        return "renewed"  # the successor has taken over
    if today < start:
        return "upcoming"
    if today <= end:
        return "expiring" if (end - today).days <= EXPIRING_DAYS else "active"
    if today < lapse_date(end, grace_days):
        return "grace"
    return "lapsed"


def renewal_is_open(*, end: date, today: date) -> bool:
    """Renewal opens 90 days before the end and stays open until the agreement is renewed."""
    return today >= end - timedelta(days=RENEWAL_OPENS_DAYS)


def renewal_start(*, previous_end: date, approved_on: date, grace_days: int) -> date:
    """Where an approved renewal starts: the day after the old term, or the approval day if lapsed."""
    if approved_on >= lapse_date(previous_end, grace_days):
        return approved_on
    return previous_end + timedelta(days=1)
