"""Reads for the public pages: who is a current Ally, found in a fixed number of queries."""

from datetime import date

from sqlalchemy import func
from sqlalchemy.orm import joinedload

from allies.agreements.models import Agreement
from allies.agreements.queries import listed_clause
from allies.extensions import db
from allies.organizations.models import Organization, OrganizationType


def _listed_ids(today: date, grace_days: int):
    return db.select(Agreement.organization_id).where(listed_clause(today, grace_days))


def current_allies(today: date, grace_days: int, *, type_id: int | None = None, search: str = ""):
    """Current Allies A–Z as (organization, year it first became an Ally), in two queries."""
    query = (
        db.select(Organization)
        .options(joinedload(Organization.type))
        .where(Organization.id.in_(_listed_ids(today, grace_days)))
        .order_by(Organization.normalized_name, Organization.name)
    )
    if type_id:
        query = query.where(Organization.type_id == type_id)
    search = (search or "").strip()
    if search:
        escaped = search.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(func.lower(Organization.name).like(f"%{escaped}%", escape="\\"))
    organizations = list(db.session.scalars(query))
    since = dict(
        db.session.execute(
            db.select(Agreement.organization_id, func.min(Agreement.start_date))
            .where(Agreement.organization_id.in_([o.id for o in organizations] or [0]))
            .group_by(Agreement.organization_id)
        ).all()
    )
    return [(org, since[org.id].year if org.id in since else None) for org in organizations]


def current_ally(slug: str, today: date, grace_days: int):
    """One current Ally by slug with the year it first became an Ally, or (None, None)."""
    organization = db.session.scalar(
        db.select(Organization)
        .options(joinedload(Organization.type))
        .where(Organization.slug == slug, Organization.id.in_(_listed_ids(today, grace_days)))
    )
    if organization is None:
        return None, None
    first = db.session.scalar(
        db.select(func.min(Agreement.start_date)).where(
            Agreement.organization_id == organization.id
        )
    )
    return organization, first.year if first else None


def count_current_allies(today: date, grace_days: int) -> int:
    """How many organizations are current Allies."""
    return db.session.scalar(
        db.select(func.count(func.distinct(Agreement.organization_id))).where(
            listed_clause(today, grace_days)
        )
    )


def types_in_use(today: date, grace_days: int) -> list[OrganizationType]:
    """Types that at least one current Ally has, for the filter."""
    return list(
        db.session.scalars(
            db.select(OrganizationType)
            .where(
                OrganizationType.id.in_(
                    db.select(Organization.type_id).where(
                        Organization.id.in_(_listed_ids(today, grace_days))
                    )
                )
            )
            .order_by(OrganizationType.position, OrganizationType.name)
        )
    )
