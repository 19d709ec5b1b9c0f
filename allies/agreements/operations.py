"""Every change to agreements: making terms, renewing, terminating."""

from datetime import date

from allies.agreements.models import Agreement
from allies.agreements.terms import renewal_start, term_end
from allies.errors import OperationError
from allies.extensions import db
from allies.mail.outbox import queue_email
from allies.staff.audit import record_event
from allies.staff.settings import get_setting


def start_agreement(organization, start: date, *, staff, application=None, note="") -> Agreement:
    """Stage a new two-year term for ``organization`` starting on ``start``; the caller commits."""
    agreement = Agreement(
        organization=organization,
        start_date=start,
        end_date=term_end(start),
        application_id=application.id if application is not None else None,
        created_by_id=staff.id if staff is not None else None,
        note=note,
    )
    db.session.add(agreement)
    record_event(
        agreement, "agreement_started", staff=staff, to_state=f"{start}..{agreement.end_date}"
    )
    return agreement


def renew_agreement(
    previous: Agreement, *, approved_on: date, staff, application=None
) -> Agreement:
    """Stage the term that follows ``previous``: contiguous, or from ``approved_on`` after a lapse."""
    if previous.successor is not None:
        raise OperationError("This agreement has already been renewed.")
    if previous.terminated_on is not None:
        raise OperationError("A terminated agreement cannot be renewed; approve a new application.")
    start = renewal_start(
        previous_end=previous.end_date,
        approved_on=approved_on,
        grace_days=get_setting("grace_days"),
    )
    agreement = start_agreement(previous.organization, start, staff=staff, application=application)
    agreement.previous = previous
    return agreement


def terminate_agreement(agreement: Agreement, *, staff, reason: str, on: date) -> None:
    """End ``agreement`` early from ``on``, with a reason. Commits."""
    reason = (reason or "").strip()
    if not reason:
        raise OperationError("A reason is required to terminate an agreement.")
    if agreement.terminated_on is not None:
        raise OperationError("This agreement is already terminated.")
    # An approved renewal that has not started would otherwise bring the Ally back later.
    for term in (agreement, agreement.successor):
        if term is None or term.terminated_on is not None:
            continue
        term.terminated_on = on
        term.termination_reason = reason
        term.terminated_by_id = staff.id
        record_event(
            term, "agreement_terminated", staff=staff, to_state="terminated", reason=reason
        )
    contact = agreement.organization.contact_for("primary")
    if contact is not None:
        queue_email(
            contact.email,
            "agreement_terminated",
            f"{agreement.organization.name}'s Ally agreement has ended",
            organization=agreement.organization,
            agreement=agreement,
            reason=reason,
        )
    db.session.commit()
