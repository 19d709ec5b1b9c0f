"""First-run defaults: organization types, the first texts, one admin.

The sister consortium's conference archive is demo data (allies/demo.py).
"""

import secrets

from allies.applications.models import STATEMENT_KINDS
from allies.applications.statements import current_statements, save_statement
from allies.extensions import db
from allies.organizations.models import OrganizationType
from allies.staff.models import StaffUser

DEFAULT_TYPES = (
    "Professional association",
    "Academic institution",
    "Health system or hospital",
    "Community organization",
    "Student organization",
    "Nonprofit or foundation",
    "Network or coalition",
    "Consultancy or company",
    "Government agency",
)

FIRST_TEXTS = {
    "mission": (
        "To advance health professions education in which social mission is valued, so that "
        "graduates are prepared to improve the health of individuals, communities and nations "
        "and to drive health equity."
    ),
    "vision": (
        "A world in which every health professional is educated to partner with patients and "
        "communities, to respond to the social determinants of health, and to act for justice."
    ),
    "values": (
        "Equity and justice in health; the voice and leadership of communities; collaboration "
        "across professions, sectors and borders; learning from one another; accountability to "
        "the people we serve."
    ),
}


def ensure_defaults() -> None:
    """Create the default types and texts where none exist. Commits."""
    if db.session.scalar(db.select(db.func.count(OrganizationType.id))) == 0:
        for position, name in enumerate(DEFAULT_TYPES):
            db.session.add(OrganizationType(name=name, position=position))
    from allies.cache import ContentVersion

    if db.session.get(ContentVersion, 1) is None:
        db.session.add(ContentVersion(id=1, token="initial"))
    db.session.commit()
    current = current_statements()
    for kind in STATEMENT_KINDS:
        if kind not in current:
            save_statement(kind, FIRST_TEXTS[kind], staff=None)


def create_first_admin(email: str = "admin@example.org") -> tuple[str, str] | None:
    """Create an admin with a random password when there is no staff at all.

    Returns (email, password) so the caller can show the password once; None if staff exist.
    """
    if db.session.scalar(db.select(db.func.count(StaffUser.id))):
        return None
    from allies.staff.operations import create_staff_user

    password = secrets.token_urlsafe(12)
    create_staff_user(
        email=email, name="Administrator", role="admin", password=password, staff=None
    )
    return email, password
