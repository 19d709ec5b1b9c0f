"""Every change to agreements: making terms, renewing, terminating."""

from datetime import date

from flask_babel import lazy_gettext as _l

from allies.agreements.models import Agreement
from allies.agreements.standing import (
    grace_days_setting,
    has_ended,
    renewal_refusal,
    termination_refusal,
)
from allies.agreements.terms import renewal_start, term_end
from allies.errors import OperationError, operation
from allies.extensions import db
from allies.mail.outbox import queue_email
from allies.staff.audit import record_event


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
    refusal = renewal_refusal(previous, approved_on)
    if refusal is not None:
        raise OperationError(refusal)
    start = renewal_start(
        previous_end=previous.end_date,
        approved_on=approved_on,
        grace_days=grace_days_setting(),
    )
    agreement = start_agreement(previous.organization, start, staff=staff, application=application)
    agreement.previous = previous
    return agreement


@operation
def terminate_agreement(agreement: Agreement, *, staff, reason: str, on: date, today: date) -> None:
    """End ``agreement`` early from ``on``, with a reason. Commits.

    Refused for a term that is lapsed, terminated or renewed (see standing.termination_refusal).
    Ending a renewal that has not started also ends the term it was to follow, which would
    otherwise keep the Ally listed until its end.
    """
    # applications.operations imports this module: its use cases are looked up when called.
    from allies.applications.operations import decline_waiting_renewals

    reason = (reason or "").strip()
    if not reason:
        raise OperationError("A reason is required to terminate an agreement.")
    refusal = termination_refusal(agreement, today)
    if refusal is not None:
        raise OperationError(refusal)
    previous = agreement.previous
    ending = [agreement]
    if (
        previous is not None
        and previous.terminated_on is None
        and not has_ended(previous.end_date, on)
    ):
        ending.append(previous)
    for term in ending:
        term.terminated_on = on
        term.termination_reason = reason
        term.terminated_by_id = staff.id
        record_event(
            term, "agreement_terminated", staff=staff, to_state="terminated", reason=reason
        )
        # A renewal waiting for a term that ends early can never be approved.
        decline_waiting_renewals(
            term, staff=staff, reason=f"The agreement was terminated: {reason}"
        )
    contact = agreement.organization.contact_for("primary")
    if contact is not None:
        queue_email(
            contact.email,
            "agreement_terminated",
            _l("%(name)s's Ally agreement has ended", name=agreement.organization.name),
            language=contact.language,
            organization=agreement.organization,
            agreement=agreement,
            reason=reason,
        )
    db.session.commit()
