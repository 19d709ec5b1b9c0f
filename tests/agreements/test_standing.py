"""The standing module: the status table, and each SQL clause against its Python form.

The table below is the one place a test states the renewal window and the grace period: change
them in standing.py and here, and nowhere else.
"""

from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from allies.agreements import standing
from allies.agreements.models import Agreement
from allies.agreements.standing import Status, Term
from allies.agreements.terms import renewal_start, term_end
from allies.extensions import db
from allies.organizations.models import Organization

WINDOW_DAYS = 90
GRACE_DAYS = 30

START, END = date(2026, 1, 1), date(2027, 12, 31)
ENDED_EARLY = date(2027, 6, 1)
SUCCESSOR = date(2028, 1, 1)

# (today, terminated_on, successor_start) -> status, for a term of START..END and 30 days' grace.
STATUS_TABLE = [
    (date(2025, 12, 31), None, None, Status.UPCOMING),
    (START, None, None, Status.ACTIVE),
    (END - timedelta(days=WINDOW_DAYS + 1), None, None, Status.ACTIVE),
    (END - timedelta(days=WINDOW_DAYS), None, None, Status.EXPIRING),
    (END, None, None, Status.EXPIRING),
    (END + timedelta(days=1), None, None, Status.GRACE),
    (END + timedelta(days=GRACE_DAYS), None, None, Status.GRACE),
    (END + timedelta(days=GRACE_DAYS + 1), None, None, Status.LAPSED),
    (ENDED_EARLY - timedelta(days=1), ENDED_EARLY, None, Status.ACTIVE),
    (ENDED_EARLY, ENDED_EARLY, None, Status.TERMINATED),
    # renewed from the approval on, even before the old term ends
    (END - timedelta(days=60), None, SUCCESSOR, Status.RENEWED),
    (END + timedelta(days=5), None, SUCCESSOR, Status.RENEWED),
]


def test_the_window_and_the_grace_period_are_those_of_the_table():
    assert standing.RENEWAL_WINDOW_DAYS == WINDOW_DAYS
    assert standing.DEFAULT_GRACE_DAYS == GRACE_DAYS


@pytest.mark.parametrize(("today", "terminated_on", "successor_start", "expected"), STATUS_TABLE)
def test_status_table(today, terminated_on, successor_start, expected):
    term = Term(START, END, terminated_on, successor_start)
    assert standing.status(term, today, GRACE_DAYS) is expected


def test_renewal_opens_with_the_window_and_grace_ends_with_the_grace_period():
    assert standing.renewal_opens_on(END) == END - timedelta(days=WINDOW_DAYS)
    assert standing.grace_end(END, GRACE_DAYS) == END + timedelta(days=GRACE_DAYS)
    assert standing.lapse_date(END, GRACE_DAYS) == END + timedelta(days=GRACE_DAYS + 1)


def test_a_term_renewed_early_stays_listed_until_its_successor_starts():
    term = Term(START, END, None, SUCCESSOR)
    assert standing.is_listed(term, END, GRACE_DAYS)
    assert not standing.is_listed(term, SUCCESSOR, GRACE_DAYS)
    assert not standing.is_renewing(term, END, GRACE_DAYS)
    assert not standing.is_live(term)


# --- each SQL clause agrees with its Python form --------------------------------------------------

chains = st.fixed_dictionaries(
    {
        "start": st.dates(min_value=date(2001, 1, 1), max_value=date(2090, 12, 31)),
        # Each renewal is approved this many days after the previous term's end (-90: it opens).
        "renewals": st.lists(st.integers(min_value=-WINDOW_DAYS, max_value=120), max_size=2),
        "terminate_at": st.one_of(st.none(), st.integers(min_value=0, max_value=800)),
        "grace_days": st.integers(min_value=0, max_value=120),
        "today_anchor": st.integers(min_value=0, max_value=11),
        "today_delta": st.integers(min_value=-100, max_value=100),
        "ending_days": st.integers(min_value=0, max_value=120),
    }
)


def _chain(case):
    """The terms of one organization as (start, end, terminated_on), oldest first."""
    terms, start = [], case["start"]
    for renewal in [None, *case["renewals"]]:
        if renewal is not None:
            previous_end = terms[-1][1]
            start = renewal_start(
                previous_end=previous_end,
                approved_on=previous_end + timedelta(days=renewal),
                grace_days=case["grace_days"],
            )
        terms.append([start, term_end(start), None])
    if case["terminate_at"] is not None:
        terms[-1][2] = min(terms[-1][0] + timedelta(days=case["terminate_at"]), terms[-1][1])
    return terms


def _today(case, terms):
    anchors = [
        moment
        for start, end, terminated_on in terms
        for moment in (start, end, standing.lapse_date(end, case["grace_days"]), terminated_on)
        if moment is not None
    ]
    return anchors[case["today_anchor"] % len(anchors)] + timedelta(days=case["today_delta"])


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=chains)
# Renewed on its last day: the old term is "renewed" and listed, the new one not yet started.
@example(
    case={
        "start": date(2001, 1, 1),
        "renewals": [0],
        "terminate_at": None,
        "grace_days": 0,
        "today_anchor": 1,
        "today_delta": 0,
        "ending_days": 0,
    }
)
# Ended, with a renewal approved on the lapse day that starts then: renewed, not "renewing".
@example(
    case={
        "start": date(2001, 1, 1),
        "renewals": [2],
        "terminate_at": None,
        "grace_days": 1,
        "today_anchor": 1,
        "today_delta": 1,
        "ending_days": 0,
    }
)
# A leap-day start, renewed in grace, the new term terminated on its first day.
@example(
    case={
        "start": date(2004, 2, 29),
        "renewals": [5],
        "terminate_at": 0,
        "grace_days": 10,
        "today_anchor": 4,
        "today_delta": 0,
        "ending_days": 30,
    }
)
def test_every_sql_clause_agrees_with_its_python_form(app, case):
    terms = _chain(case)
    grace_days, today, days = case["grace_days"], _today(case, terms), case["ending_days"]
    clauses = {
        "listed": standing.listed_clause(today, grace_days),
        "renewing": standing.renewing_clause(today, grace_days),
        "live": standing.live_clause(),
        "ending": standing.ending_within_clause(today, days),
    }
    with app.app_context():
        try:
            organization = Organization(
                slug="prop",
                name="Prop",
                normalized_name="prop",
                website="https://prop.example.org",
                website_domain="prop.example.org",
            )
            db.session.add(organization)
            rows, previous = [], None
            for start, end, terminated_on in terms:
                row = Agreement(
                    organization=organization,
                    start_date=start,
                    end_date=end,
                    terminated_on=terminated_on,
                    previous=previous,
                )
                db.session.add(row)
                rows.append(row)
                previous = row
            db.session.flush()
            in_sql = {
                name: set(db.session.scalars(db.select(Agreement.id).where(clause)))
                for name, clause in clauses.items()
            }
            facts = {row.id: Term.of(row) for row in rows}
        finally:
            db.session.rollback()
    in_python = {
        "listed": {i for i, t in facts.items() if standing.is_listed(t, today, grace_days)},
        "renewing": {i for i, t in facts.items() if standing.is_renewing(t, today, grace_days)},
        "live": {i for i, t in facts.items() if standing.is_live(t)},
        "ending": {i for i, t in facts.items() if standing.ends_within(t, today, days)},
    }
    assert in_sql == in_python, (today, terms)
