"""Reads about agreements: derived status for a row, and the SQL form of "currently listed"."""

from datetime import date, timedelta

from sqlalchemy import and_, exists, or_
from sqlalchemy.orm import aliased

from allies.agreements.models import Agreement
from allies.agreements.terms import agreement_status, renewal_is_open
from allies.extensions import db
from allies.staff.settings import get_setting


def status_of(agreement: Agreement, today: date, grace_days: int | None = None) -> str:
    """The derived status of ``agreement`` on ``today`` (see terms.agreement_status)."""
    if grace_days is None:
        grace_days = get_setting("grace_days")
    return agreement_status(
        start=agreement.start_date,
        end=agreement.end_date,
        today=today,
        grace_days=grace_days,
        terminated_on=agreement.terminated_on,
        renewed=agreement.successor is not None,
    )


def listed_clause(today: date, grace_days: int):
    """SQL condition on Agreement true when it keeps its organization on the public page today.

    This is terms.LISTED_STATUSES restated for an index: started, not past grace, not
    terminated, and not yet succeeded by a started renewal (which then speaks for the
    organization itself); a property test checks the two forms agree.
    """
    successor = aliased(Agreement)
    return and_(
        Agreement.start_date <= today,
        Agreement.end_date >= today - timedelta(days=grace_days),
        or_(Agreement.terminated_on.is_(None), Agreement.terminated_on > today),
        ~exists().where(successor.previous_id == Agreement.id, successor.start_date <= today),
    )


def term_in_force(agreements: list[Agreement], today: date) -> Agreement | None:
    """Of an organization's terms (newest first), the one that speaks for it today.

    That is the newest term already started; a renewal approved early waits its turn.
    """
    for agreement in agreements:
        if agreement.start_date <= today:
            return agreement
    return agreements[-1] if agreements else None


def agreements_of(organization_id: int) -> list[Agreement]:
    """Every term of the organization, newest first."""
    return list(
        db.session.scalars(
            db.select(Agreement)
            .where(Agreement.organization_id == organization_id)
            .order_by(Agreement.start_date.desc(), Agreement.id.desc())
        )
    )


RENEWABLE_STATUSES = ("active", "expiring", "grace", "lapsed")


def may_renew(agreement: Agreement, today: date) -> bool:
    """Whether ``agreement`` can be renewed today: not ended early, not renewed, window open."""
    return (
        agreement.successor is None
        and status_of(agreement, today) in RENEWABLE_STATUSES
        and renewal_is_open(end=agreement.end_date, today=today)
    )
