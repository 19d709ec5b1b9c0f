"""Term arithmetic: leap days, year ends, and where a renewal starts (status: test_standing)."""

from datetime import date

import pytest

from allies.agreements.terms import renewal_start, term_end


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (date(2028, 2, 29), date(2030, 2, 28)),  # anniversary of 29 Feb in a common year is 1 March
        (date(2026, 2, 28), date(2028, 2, 27)),
        (date(2027, 3, 1), date(2029, 2, 28)),
        (date(2026, 3, 1), date(2028, 2, 29)),  # ends on a leap day
        (date(2026, 1, 1), date(2027, 12, 31)),  # year end
        (date(2026, 12, 31), date(2028, 12, 30)),
        (date(2030, 2, 28), date(2032, 2, 27)),
        (date(2032, 2, 29), date(2034, 2, 28)),
        (date(2026, 11, 22), date(2028, 11, 21)),
    ],
)
def test_term_ends_the_day_before_the_second_anniversary(start, end):
    assert term_end(start) == end


def test_renewal_is_contiguous_unless_lapsed():
    end = date(2027, 12, 31)
    assert renewal_start(previous_end=end, approved_on=date(2027, 11, 1), grace_days=30) == date(
        2028, 1, 1
    )
    assert renewal_start(previous_end=end, approved_on=date(2028, 1, 20), grace_days=30) == date(
        2028, 1, 1
    )
    assert renewal_start(previous_end=end, approved_on=date(2028, 3, 5), grace_days=30) == date(
        2028, 3, 5
    )
