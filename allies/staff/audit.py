"""The audit trail: every change of state is recorded with who, when, from what, to what, why.

Each event names its subject by ``subject_type`` (the table name) and ``subject_id``: an
organization, an application, an agreement, a contact, a staff user, an organization type, a
conference, a statement version, an outbox message, or ``setting`` (id 0) for alliance settings.
An edit also records ``changes``, ``{field: [before, after]}``, so the log shows what it changed.

The reads behind ``/staff/audit`` are here too: the log filtered by who, organization, action and
dates, a page at a time, and what each event's subject is called.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from allies.extensions import db
from allies.staff.models import AuditEvent, StaffUser


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
    changes: dict | None = None,
) -> AuditEvent:
    """Stage an audit event about ``subject`` (a model instance with an id); the caller commits.

    For things without an integer id (settings), pass ``subject=None`` and a ``subject_type``.
    ``changes`` is an edit's ``{field: [before, after]}`` (JSON values); empty means none.
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
        changes={field: list(pair) for field, pair in changes.items()} if changes else None,
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


# --- the whole log (/staff/audit) ---------------------------------------------------------------

# Who acted, beyond staff users (``staff:<id>``): what people outside staff are recorded as.
APPLICANT_PREFIX = "applicant "
CONTACT_PREFIX = "ally contact "
OTHER_ACTORS = {
    "applicants": "Applicants",
    "contacts": "Ally contacts",
    "system": "System and command line",
}


@dataclass
class LogFilter:
    """What the log is narrowed to; None means any."""

    who: str | None = None  # "staff:<id>" or a key of OTHER_ACTORS
    organization_id: int | None = None
    organization_name: str | None = None  # part of a name, any case
    action: str | None = None
    start: date | None = None  # alliance dates, both included
    end: date | None = None


def who_choices() -> list[tuple[str, str]]:
    """(value, label) for the "who" select: every staff user, then the other kinds of actor."""
    users = db.session.execute(
        db.select(StaffUser.id, StaffUser.name, StaffUser.email).order_by(
            StaffUser.name, StaffUser.email
        )
    )
    return [(f"staff:{id_}", name or email) for id_, name, email in users] + list(
        OTHER_ACTORS.items()
    )


def actions_present() -> list[str]:
    """Every kind of action the log holds, A–Z."""
    return list(
        db.session.scalars(db.select(AuditEvent.action).distinct().order_by(AuditEvent.action))
    )


def _utc_start_of(day: date, zone) -> datetime:
    """The first moment of an alliance calendar date, as the naive UTC the log stores."""
    return datetime.combine(day, time.min, tzinfo=zone).astimezone(UTC).replace(tzinfo=None)


def _who_clause(who: str):
    if who.startswith("staff:") and who[6:].isdigit():
        return AuditEvent.staff_id == int(who[6:])
    if who == "applicants":
        return AuditEvent.actor.startswith(APPLICANT_PREFIX, autoescape=True)
    if who == "contacts":
        return AuditEvent.actor.startswith(CONTACT_PREFIX, autoescape=True)
    if who == "system":
        return (
            AuditEvent.staff_id.is_(None)
            & ~AuditEvent.actor.startswith(APPLICANT_PREFIX, autoescape=True)
            & ~AuditEvent.actor.startswith(CONTACT_PREFIX, autoescape=True)
        )
    return db.false()  # someone the log cannot hold: nothing matches


def _organization_clause(organizations):
    """Events about the organizations selected by ``organizations`` (a select of ids), their
    applications, agreements and contacts."""
    from allies.agreements.models import Agreement
    from allies.applications.models import Application
    from allies.conferences.models import Invitation
    from allies.organizations.models import Contact

    def about(kind, ids):
        return (AuditEvent.subject_type == kind) & AuditEvent.subject_id.in_(ids)

    return db.or_(
        about("organization", organizations),
        about(
            "application",
            db.select(Application.id).where(Application.organization_id.in_(organizations)),
        ),
        about(
            "agreement", db.select(Agreement.id).where(Agreement.organization_id.in_(organizations))
        ),
        about("contact", db.select(Contact.id).where(Contact.organization_id.in_(organizations))),
        about(
            "conference_invitation",
            db.select(Invitation.id).where(Invitation.organization_id.in_(organizations)),
        ),
    )


def _clauses(filters: LogFilter, zone) -> list:
    from allies.organizations.models import Organization
    from allies.organizations.profile import normalize_name

    clauses = []
    if filters.who:
        clauses.append(_who_clause(filters.who))
    if filters.organization_id is not None:
        clauses.append(_organization_clause(db.select(db.literal(filters.organization_id))))
    if filters.organization_name:
        wanted = normalize_name(filters.organization_name)
        clauses.append(
            _organization_clause(
                db.select(Organization.id).where(
                    Organization.normalized_name.contains(wanted, autoescape=True)
                )
            )
        )
    if filters.action:
        clauses.append(AuditEvent.action == filters.action)
    if filters.start:
        clauses.append(AuditEvent.at >= _utc_start_of(filters.start, zone))
    if filters.end:
        clauses.append(AuditEvent.at < _utc_start_of(filters.end + timedelta(days=1), zone))
    return clauses


def count_events(filters: LogFilter, zone) -> int:
    """How many events match ``filters`` (``zone``: the alliance's, for the dates)."""
    return db.session.scalar(
        db.select(db.func.count()).select_from(AuditEvent).where(*_clauses(filters, zone))
    )


def log_page(filters: LogFilter, zone, *, limit: int, offset: int = 0) -> list[AuditEvent]:
    """The events matching ``filters``, newest first, ``limit`` from ``offset``."""
    return list(
        db.session.scalars(
            db.select(AuditEvent)
            .where(*_clauses(filters, zone))
            .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
            .limit(limit)
            .offset(offset)
        )
    )


@dataclass
class Subject:
    """What an event is about, as the log shows it: a label and where it lives."""

    label: str
    organization_id: int | None = None
    application_id: int | None = None


def subjects_of(events) -> dict[tuple[str, int], Subject]:
    """(subject_type, subject_id) -> Subject for ``events``: one query per kind of subject."""
    from allies.agreements.models import Agreement
    from allies.applications.models import Application
    from allies.conferences.models import Conference, Invitation
    from allies.organizations.models import Contact, Organization, OrganizationType

    wanted: dict[str, set[int]] = {}
    for event in events:
        wanted.setdefault(event.subject_type, set()).add(event.subject_id)
    found: dict[tuple[str, int], Subject] = {}

    def rows(*columns, key, ids, join=None):
        query = db.select(*columns).where(key.in_(ids))
        if join is not None:
            query = query.join(Organization, join == Organization.id)
        return db.session.execute(query)

    if ids := wanted.get("organization"):
        for id_, name in rows(Organization.id, Organization.name, key=Organization.id, ids=ids):
            found["organization", id_] = Subject(name, organization_id=id_)
    if ids := wanted.get("application"):
        for id_, kind, org_id, name in rows(
            Application.id,
            Application.kind,
            Application.organization_id,
            Organization.name,
            key=Application.id,
            ids=ids,
            join=Application.organization_id,
        ):
            found["application", id_] = Subject(
                f"Renewal of {name}" if kind == "renewal" else f"Application of {name}",
                organization_id=org_id,
                application_id=id_,
            )
    if ids := wanted.get("agreement"):
        for id_, start, org_id, name in rows(
            Agreement.id,
            Agreement.start_date,
            Agreement.organization_id,
            Organization.name,
            key=Agreement.id,
            ids=ids,
            join=Agreement.organization_id,
        ):
            found["agreement", id_] = Subject(
                f"Agreement of {name} from {start}", organization_id=org_id
            )
    if ids := wanted.get("contact"):
        for id_, org_id, name in rows(
            Contact.id,
            Contact.organization_id,
            Organization.name,
            key=Contact.id,
            ids=ids,
            join=Contact.organization_id,
        ):
            found["contact", id_] = Subject(f"A contact of {name}", organization_id=org_id)
    if ids := wanted.get("staff_user"):
        for id_, name, email in rows(
            StaffUser.id, StaffUser.name, StaffUser.email, key=StaffUser.id, ids=ids
        ):
            found["staff_user", id_] = Subject(f"Staff account {name or email}")
    if ids := wanted.get("organization_type"):
        for id_, name in rows(
            OrganizationType.id, OrganizationType.name, key=OrganizationType.id, ids=ids
        ):
            found["organization_type", id_] = Subject(f"Type {name}")
    if ids := wanted.get("conference"):
        for id_, title in rows(Conference.id, Conference.title, key=Conference.id, ids=ids):
            found["conference", id_] = Subject(f"Conference {title}")
    if ids := wanted.get("conference_invitation"):
        for id_, org_id, name, title in db.session.execute(
            db.select(
                Invitation.id, Invitation.organization_id, Organization.name, Conference.title
            )
            .join(Organization, Invitation.organization_id == Organization.id)
            .join(Conference, Invitation.conference_id == Conference.id)
            .where(Invitation.id.in_(ids))
        ):
            found["conference_invitation", id_] = Subject(
                f"Invitation of {name} to {title}", organization_id=org_id
            )
    if wanted.get("export"):
        found["export", 0] = Subject("A download from Export")
    return found


def type_names() -> dict[int, str]:
    """Organization type names by id, to show the type ids an edit records."""
    from allies.organizations.models import OrganizationType

    return dict(db.session.execute(db.select(OrganizationType.id, OrganizationType.name)).all())
