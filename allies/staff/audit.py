"""The audit trail: every change of state is recorded with who, when, from what, to what, why."""

from allies.extensions import db
from allies.staff.models import AuditEvent


def record_event(
    subject,
    action: str,
    *,
    staff=None,
    actor: str | None = None,
    from_state: str | None = None,
    to_state: str | None = None,
    reason: str = "",
    ip: str | None = None,
    subject_type: str | None = None,
) -> AuditEvent:
    """Stage an audit event about ``subject`` (a model instance with an id); the caller commits.

    For things without an integer id (settings), pass ``subject=None`` and a ``subject_type``.
    """
    if subject is not None and subject.id is None:
        db.session.flush()
    event = AuditEvent(
        staff_id=staff.id if staff is not None else None,
        actor=actor or (staff.label if staff is not None else "system"),
        subject_type=subject_type or subject.__tablename__,
        subject_id=subject.id if subject is not None else 0,
        action=action,
        from_state=from_state,
        to_state=to_state,
        reason=reason or "",
        ip=ip,
    )
    db.session.add(event)
    return event


def history_of(subject) -> list[AuditEvent]:
    """Every audit event about ``subject``, oldest first."""
    return list(
        db.session.scalars(
            db.select(AuditEvent)
            .where(
                AuditEvent.subject_type == subject.__tablename__,
                AuditEvent.subject_id == subject.id,
            )
            .order_by(AuditEvent.at, AuditEvent.id)
        )
    )


def history_of_all(subjects) -> list[AuditEvent]:
    """Every audit event about any of ``subjects`` (model instances), oldest first."""
    by_type: dict[str, list[int]] = {}
    for subject in subjects:
        by_type.setdefault(subject.__tablename__, []).append(subject.id)
    if not by_type:
        return []
    return list(
        db.session.scalars(
            db.select(AuditEvent)
            .where(
                db.or_(
                    *(
                        (AuditEvent.subject_type == kind) & AuditEvent.subject_id.in_(ids)
                        for kind, ids in by_type.items()
                    )
                )
            )
            .order_by(AuditEvent.at, AuditEvent.id)
        )
    )
