"""What is due on a given day: reminder kinds, their dates and the sweep's window.

Pure functions of dates and settings, no database, so they can be property-tested. A reminder
kind is named after when it falls relative to the end of a term:

- ``before_<N>``: N days before the end date (one per offset in the ``reminder_offsets`` setting),
- ``end_day``: on the end date (the last day of the term),
- ``lapse``: on the first lapsed day, when the grace period has run out (terms.lapse_date).
"""

from datetime import date, datetime, timedelta
from functools import lru_cache

from allies.agreements.standing import lapse_date

BEFORE_PREFIX = "before_"
END_DAY = "end_day"
LAPSE = "lapse"
STAFF_DIGEST = "staff_digest"

# The first ever sweep looks back this far: a new installation does not send a lapse notice
# for every agreement that ran out years ago.
FIRST_RUN_LOOKBACK_DAYS = 7
# However long the scheduler was down, a sweep looks back at most this far.
MAX_CATCH_UP_DAYS = 400


def normalize_offsets(offsets) -> tuple[int, ...]:
    """The setting's offsets as distinct positive whole days, farthest from the end first."""
    days = set()
    for value in offsets or ():
        try:
            number = int(value)
        except (TypeError, ValueError):
            continue
        if number > 0:
            days.add(number)
    return tuple(sorted(days, reverse=True))


def offset_kind(days: int) -> str:
    """The kind of the reminder sent ``days`` before the end, e.g. ``before_30``."""
    return f"{BEFORE_PREFIX}{days}"


def reminder_kinds(offsets) -> tuple[str, ...]:
    """Every reminder kind for these offsets, in the order they fall due."""
    return tuple(offset_kind(days) for days in normalize_offsets(offsets)) + (END_DAY, LAPSE)


def days_before_end(kind: str) -> int | None:
    """N for a ``before_N`` kind, else None."""
    if kind.startswith(BEFORE_PREFIX):
        try:
            return int(kind[len(BEFORE_PREFIX) :])
        except ValueError:
            return None
    return None


def is_renewal_prompt(kind: str) -> bool:
    """Whether ``kind`` asks the Ally to renew before the term ends (held back while a renewal
    waits for review); the lapse notice is not one of these."""
    return kind == END_DAY or days_before_end(kind) is not None


def due_date(kind: str, end: date, grace_days: int) -> date:
    """The day a reminder of ``kind`` falls due for a term ending on ``end``."""
    if kind == END_DAY:
        return end
    if kind == LAPSE:
        return lapse_date(end, grace_days)
    days = days_before_end(kind)
    if days is None:
        raise ValueError(f"unknown reminder kind {kind!r}")
    return end - timedelta(days=days)


def due_dates(end: date, grace_days: int, offsets) -> list[tuple[str, date]]:
    """Each reminder kind with its due date for a term ending on ``end``, earliest first."""
    shifts = _kind_shifts(int(grace_days), normalize_offsets(offsets))
    return [(kind, end + timedelta(days=shift)) for kind, shift in shifts]


@lru_cache(maxsize=32)
def _kind_shifts(grace_days: int, offsets: tuple[int, ...]) -> tuple[tuple[str, int], ...]:
    # Worked out once per setting: a burst asks for the due dates of thousands of terms.
    return tuple((kind, _shift(kind, grace_days)) for kind in reminder_kinds(offsets))


def latest_due(end: date, grace_days: int, offsets, today: date) -> tuple[str, date] | None:
    """The latest reminder (kind, due date) that has fallen due by ``today``, or None.

    After downtime only this one is sent: the earlier ones are stale news.
    """
    latest = None
    for kind, due in due_dates(end, grace_days, offsets):
        if due <= today:
            latest = (kind, due)
    return latest


def latest_due_kind(end: date, grace_days: int, offsets, today: date) -> str | None:
    """The kind of the latest reminder due by ``today`` for a term ending on ``end``, or None."""
    found = latest_due(end, grace_days, offsets, today)
    return found[0] if found else None


def _shift(kind: str, grace_days: int) -> int:
    """Days from the end date to the due date of ``kind``."""
    return (due_date(kind, date(2001, 1, 1), grace_days) - date(2001, 1, 1)).days


def end_date_ranges(
    first_day: date, last_day: date, grace_days: int, offsets
) -> list[tuple[date, date]]:
    """Ranges of end dates, merged and sorted, of terms with a reminder due in [first_day, last_day].

    A reminder falling ``s`` days after the end is due in the window exactly when the end date
    is in [first_day - s, last_day - s]; each range is one indexed range query on end_date.
    """
    if last_day < first_day:
        return []
    ranges = sorted(
        (first_day - timedelta(days=shift), last_day - timedelta(days=shift))
        for shift in {_shift(kind, grace_days) for kind in reminder_kinds(offsets)}
    )
    merged: list[tuple[date, date]] = []
    for low, high in ranges:
        if merged and low <= merged[-1][1] + timedelta(days=1):
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    return merged


def sweep_window(today: date, last_as_of: date | None) -> tuple[date, date]:
    """The days a sweep on ``today`` covers: those since the last completed sweep, and today.

    The first ever sweep looks back FIRST_RUN_LOOKBACK_DAYS, and so does one as of a day before
    the last sweep's (someone ran a sweep as of a future day); no sweep looks back more than
    MAX_CATCH_UP_DAYS. A second sweep as of the same day covers that day only.
    """
    if last_as_of is None or last_as_of > today:
        first = today - timedelta(days=FIRST_RUN_LOOKBACK_DAYS)
    else:
        first = min(last_as_of + timedelta(days=1), today)
    return max(first, today - timedelta(days=MAX_CATCH_UP_DAYS)), today


def week_start(today: date) -> date:
    """The Monday of the ISO week containing ``today`` (the staff digest's key)."""
    return today - timedelta(days=today.weekday())


def digest_is_due(today: date, digest_weekday: int) -> bool:
    """Whether the week's staff digest may go out on ``today`` (on or after its weekday)."""
    return today.weekday() >= int(digest_weekday) % 7


def sweep_is_overdue(
    now_local: datetime, reminder_hour: int, done_today: bool, never_run: bool = False
) -> bool:
    """Whether a starting scheduler should sweep at once: today's has not run and its hour has
    passed, or no sweep has ever run (a new installation shows a working schedule at once)."""
    return not done_today and (now_local.hour >= reminder_hour or never_run)
