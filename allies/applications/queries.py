"""Reads for the review queue and the dashboard."""

from sqlalchemy.orm import joinedload

from allies.applications.models import (
    CLOSED_STATES,
    OPEN_STATES,
    Application,
    ApplicationKind,
    ApplicationState,
)
from allies.extensions import db


def applications_in(state: str, limit: int = 200) -> list[Application]:
    """Applications in ``state`` ("open" = waiting): waiting ones oldest first, others newest."""
    query = db.select(Application).options(
        joinedload(Application.organization), joinedload(Application.duplicate_of)
    )
    if state == "open":
        query = query.where(Application.state.in_(OPEN_STATES)).order_by(Application.submitted_at)
    elif state == "all":
        query = query.order_by(Application.submitted_at.desc())
    else:
        query = query.where(Application.state == state).order_by(
            Application.decided_at.desc(), Application.submitted_at.desc()
        )
    return list(db.session.scalars(query.limit(limit)))


def recent_decisions(limit: int = 10) -> list[Application]:
    """The latest approvals and declines."""
    return list(
        db.session.scalars(
            db.select(Application)
            .options(joinedload(Application.organization), joinedload(Application.decided_by))
            .where(Application.state.in_(CLOSED_STATES))
            .order_by(Application.decided_at.desc().nulls_last(), Application.id.desc())
            .limit(limit)
        )
    )


def waiting_counts() -> dict[str, int]:
    """How many new applications and renewals are waiting."""
    rows = db.session.execute(
        db.select(Application.kind, db.func.count(Application.id))
        .where(Application.state.in_(OPEN_STATES))
        .group_by(Application.kind)
    ).all()
    counts = {ApplicationKind.NEW: 0, ApplicationKind.RENEWAL: 0}
    counts.update(dict(rows))
    return counts


def open_renewal(agreement_id: int) -> Application | None:
    """The renewal of ``agreement_id`` waiting for review, if any."""
    return db.session.scalar(
        db.select(Application).where(
            Application.renews_agreement_id == agreement_id,
            Application.state.in_(OPEN_STATES),
        )
    )


def applications_of(organization_id: int) -> list[Application]:
    """Every application and renewal of an organization, newest first."""
    return list(
        db.session.scalars(
            db.select(Application)
            .where(Application.organization_id == organization_id)
            .order_by(Application.submitted_at.desc())
        )
    )


def last_endorsement(organization_id: int):
    """The endorsement of the organization's latest approved application or renewal."""
    application = db.session.scalar(
        db.select(Application)
        .where(
            Application.organization_id == organization_id,
            Application.state == ApplicationState.APPROVED,
        )
        .order_by(Application.decided_at.desc(), Application.id.desc())
        .limit(1)
    )
    return application.endorsement if application is not None else None


PROFILE_LABELS = {
    "name": "Name",
    "website": "Website",
    "type_id": "Type",
    "city": "City",
    "region": "Region",
    "country": "Country",
    "description": "Description",
    "logo_filename": "Logo",
}


def proposed_changes(application: Application) -> list[tuple[str, str, str]]:
    """(field, label, before, after) for each profile change a renewal holds for approval.

    Types are shown by name; logos by stored file name (the page shows the images).
    """
    from allies.organizations.models import OrganizationType

    organization = application.organization
    rows = []
    for field, after in (application.proposed_profile or {}).items():
        before = getattr(organization, field, None)
        if field == "type_id":
            before, after = (
                db.session.get(OrganizationType, value).name
                if value and db.session.get(OrganizationType, value)
                else ""
                for value in (before, after)
            )
        rows.append((field, PROFILE_LABELS.get(field, field), before or "", after or ""))
    return rows


def profile_as_proposed(application: Application) -> dict:
    """The organization's profile with the changes the application holds applied (for forms)."""
    organization = application.organization
    profile = {field: getattr(organization, field) for field in PROFILE_LABELS}
    profile.update(application.proposed_profile or {})
    return profile
