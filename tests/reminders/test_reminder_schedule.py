"""Property tests: term arithmetic, reminder dates and the sweep's window, across leap years.

(Status and the SQL clauses of the standing module are checked in tests/agreements.)
"""

from datetime import date, timedelta

from hypothesis import assume, given
from hypothesis import strategies as st

from allies.agreements.standing import (
    RENEWAL_WINDOW_DAYS,
    Status,
    Term,
    lapse_date,
    renewal_opens_on,
    status,
)
from allies.agreements.terms import anniversary, renewal_start, term_end
from allies.reminders.schedule import (
    END_DAY,
    FIRST_RUN_LOOKBACK_DAYS,
    LAPSE,
    MAX_CATCH_UP_DAYS,
    due_date,
    due_dates,
    end_date_ranges,
    latest_due,
    latest_due_kind,
    normalize_offsets,
    reminder_kinds,
    sweep_window,
)

LEAP_DAYS = [date(year, 2, 29) for year in range(1904, 2400, 4) if year % 100 or year % 400 == 0]


def _near_leap_day(anchor: date, shift: int) -> date:
    return anchor + timedelta(days=shift)


# Plain dates, plus dates within a few days of a 29 February (and of century non-leap years).
any_day = st.dates(min_value=date(1901, 1, 1), max_value=date(2399, 12, 31))
leapish_day = st.builds(_near_leap_day, st.sampled_from(LEAP_DAYS), st.integers(-3, 3))
century_day = st.builds(
    _near_leap_day,
    st.sampled_from([date(2100, 2, 28), date(2200, 2, 28), date(2300, 2, 28), date(2000, 2, 29)]),
    st.integers(-3, 3),
)
days = st.one_of(any_day, leapish_day, century_day)
offsets = st.lists(st.integers(min_value=1, max_value=400), min_size=0, max_size=6)
grace = st.integers(min_value=0, max_value=120)


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _contains_leap_day(first: date, last: date) -> bool:
    return any(
        first <= date(year, 2, 29) <= last
        for year in range(first.year, last.year + 1)
        if _is_leap(year)
    )


@given(days)
def test_a_term_ends_the_day_before_its_second_anniversary(start):
    end = term_end(start)
    assert end + timedelta(days=1) == anniversary(start, 2)
    if (start.month, start.day) == (2, 29):
        assert end == date(start.year + 2, 2, 28)
    else:
        assert (end + timedelta(days=1)).timetuple()[1:3] == start.timetuple()[1:3]
        assert end.year in (start.year + 1, start.year + 2)
    length = (end - start).days + 1
    assert length == (731 if _contains_leap_day(start, end) else 730)


@given(days, days)
def test_term_end_is_monotonic(first, second):
    assume(first < second)
    assert term_end(first) <= term_end(second)


@given(days, grace, st.lists(st.integers(min_value=-95, max_value=200), min_size=1, max_size=4))
def test_renewed_terms_are_contiguous_unless_lapsed(start, grace_days, approvals):
    """A chain of renewals never overlaps nor leaves a gap, except after a lapse."""
    for offset in approvals:
        end = term_end(start)
        approved_on = end + timedelta(days=offset)
        assume(approved_on >= renewal_opens_on(end))
        following = renewal_start(previous_end=end, approved_on=approved_on, grace_days=grace_days)
        if approved_on < lapse_date(end, grace_days):
            assert following == end + timedelta(days=1)
        else:
            assert following == approved_on > end
        assert following > end
        start = following


@given(days, grace, offsets)
def test_reminders_fall_due_in_order_on_their_days(start, grace_days, offset_list):
    end = term_end(start)
    dues = due_dates(end, grace_days, offset_list)
    assert [kind for kind, _ in dues] == list(reminder_kinds(offset_list))
    assert [kind for kind, _ in dues][-2:] == [END_DAY, LAPSE]
    assert all(a[1] < b[1] for a, b in zip(dues, dues[1:], strict=False))
    for kind, due in dues:
        assert due_date(kind, end, grace_days) == due
        current = status(Term(start, end), due, grace_days)
        if kind == LAPSE:
            assert due == lapse_date(end, grace_days)
            assert current is Status.LAPSED
            before = status(Term(start, end), due - timedelta(days=1), grace_days)
            assert before is (Status.GRACE if grace_days else Status.EXPIRING)
        elif kind == END_DAY:
            assert due == end
            assert current is Status.EXPIRING
        else:
            days_left = (end - due).days
            assert kind == f"before_{days_left}"
            assert (due >= renewal_opens_on(end)) == (days_left <= RENEWAL_WINDOW_DAYS)
            if due >= start:
                expected = Status.EXPIRING if days_left <= RENEWAL_WINDOW_DAYS else Status.ACTIVE
                assert current is expected


@given(days, grace, offsets, st.integers(min_value=-500, max_value=900))
def test_latest_due_is_the_last_reminder_whose_day_has_come(start, grace_days, offset_list, shift):
    end = term_end(start)
    today = end + timedelta(days=shift)
    dues = due_dates(end, grace_days, offset_list)
    passed = [(kind, due) for kind, due in dues if due <= today]
    assert latest_due(end, grace_days, offset_list, today) == (passed[-1] if passed else None)
    assert latest_due_kind(end, grace_days, offset_list, today) == (
        passed[-1][0] if passed else None
    )
    # On its own due day each kind is the latest.
    for kind, due in dues:
        assert latest_due_kind(end, grace_days, offset_list, due) == kind


@given(
    days,
    grace,
    offsets,
    st.integers(min_value=0, max_value=MAX_CATCH_UP_DAYS),
    st.lists(st.integers(min_value=-200, max_value=900), min_size=1, max_size=10),
)
def test_end_date_ranges_select_exactly_the_terms_with_something_due(
    first_day, grace_days, offset_list, width, probes
):
    """The sweep's indexed range queries find a term iff one of its reminders falls in the window."""
    last_day = first_day + timedelta(days=width)
    assume(last_day.year < 2399 and first_day.year > 1902)
    ranges = end_date_ranges(first_day, last_day, grace_days, offset_list)
    assert all(low <= high for low, high in ranges)
    assert all(a[1] + timedelta(days=1) < b[0] for a, b in zip(ranges, ranges[1:], strict=False))
    assert len(ranges) <= len(reminder_kinds(offset_list))
    for probe_shift in probes:
        end = first_day + timedelta(days=probe_shift - grace_days)
        selected = any(low <= end <= high for low, high in ranges)
        due_in_window = any(
            first_day <= due <= last_day for _kind, due in due_dates(end, grace_days, offset_list)
        )
        assert selected == due_in_window


@given(days, st.one_of(st.none(), days))
def test_the_window_covers_the_days_since_the_last_sweep_and_is_bounded(today, last_as_of):
    first, last = sweep_window(today, last_as_of)
    assert last == today
    assert today - timedelta(days=MAX_CATCH_UP_DAYS) <= first <= today
    if last_as_of is not None and today - timedelta(days=MAX_CATCH_UP_DAYS) <= last_as_of < today:
        assert first == last_as_of + timedelta(days=1)
    if last_as_of == today:
        assert first == today
    if last_as_of is None or last_as_of > today:
        assert first == today - timedelta(days=FIRST_RUN_LOOKBACK_DAYS)


@given(offsets)
def test_offsets_are_normalized(offset_list):
    normal = normalize_offsets(offset_list + [0, -5, "x", None])
    assert list(normal) == sorted(set(offset_list), reverse=True)
