"""Reads for the public pages: who is a current Ally, found in a fixed number of queries."""

from dataclasses import dataclass
from datetime import date

from sqlalchemy import func
from sqlalchemy.orm import joinedload

from allies.agreements.models import Agreement
from allies.agreements.standing import listed_clause, renewing_clause
from allies.extensions import db
from allies.organizations.models import Organization, OrganizationType


def _listed_ids(today: date, grace_days: int):
    return db.select(Agreement.organization_id).where(listed_clause(today, grace_days))


@dataclass(frozen=True)
class ListedAlly:
    """A current Ally as the public pages show it."""

    org: Organization
    since: int | None  # "Ally since": the year of ally_since when set, else of its first term
    renewing: bool  # past the end of its term, in grace: "renewal in progress"


def _listed_facts(
    organizations: list[Organization], today: date, grace_days: int
) -> dict[int, tuple]:
    """For each organization: ("Ally since" year, whether it is renewing, in grace).

    "Ally since" is ``organization.ally_since`` when set (an Ally imported with its history),
    else the year of its first term.
    """
    if not organizations:
        return {}
    org_ids = [org.id for org in organizations]
    first = dict(
        db.session.execute(
            db.select(Agreement.organization_id, func.min(Agreement.start_date))
            .where(Agreement.organization_id.in_(org_ids))
            .group_by(Agreement.organization_id)
        ).all()
    )
    renewing = set(
        db.session.scalars(
            db.select(Agreement.organization_id).where(
                Agreement.organization_id.in_(org_ids), renewing_clause(today, grace_days)
            )
        )
    )
    return {org.id: (_since(org, first.get(org.id)), org.id in renewing) for org in organizations}


def _since(organization: Organization, first_start: date | None) -> int | None:
    if organization.ally_since is not None:
        return organization.ally_since.year
    return first_start.year if first_start is not None else None


def current_allies(
    today: date, grace_days: int, *, type_id: int | None = None, search: str = ""
) -> list[ListedAlly]:
    """Current Allies A–Z, in a fixed number of queries."""
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
    facts = _listed_facts(organizations, today, grace_days)
    return [ListedAlly(org, *facts[org.id]) for org in organizations]


def current_ally(slug: str, today: date, grace_days: int) -> ListedAlly | None:
    """One current Ally by slug, or None."""
    organization = db.session.scalar(
        db.select(Organization)
        .options(joinedload(Organization.type))
        .where(Organization.slug == slug, Organization.id.in_(_listed_ids(today, grace_days)))
    )
    if organization is None:
        return None
    return ListedAlly(
        organization, *_listed_facts([organization], today, grace_days)[organization.id]
    )


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
