"""Reads about agreements: an organization's terms, newest first."""

from allies.agreements.models import Agreement
from allies.extensions import db


def agreements_of(organization_id: int) -> list[Agreement]:
    """Every term of the organization, newest first."""
    return list(
        db.session.scalars(
            db.select(Agreement)
            .where(Agreement.organization_id == organization_id)
            .order_by(Agreement.start_date.desc(), Agreement.id.desc())
        )
    )
