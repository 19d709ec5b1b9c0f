"""First-run defaults: organization types, the first texts, the conference archive, one admin."""

import secrets

from allies.applications.models import STATEMENT_KINDS
from allies.applications.statements import current_statements, save_statement
from allies.conferences.models import Conference
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

# From the sister consortium's history of conferences.
CONFERENCES = (
    (2016, "Reimagining Social Medicine", "Minneapolis, MN, USA", "800+"),
    (
        2017,
        "Beyond Reimagining: Accelerating Praxis, Social Medicine in Practice",
        "Chicago, IL, USA",
        "450+",
    ),
    (
        2018,
        "Sharing Strategies for Health Equity: Social Medicine in Action",
        "Churchrock, NM, USA",
        "400+",
    ),
    (
        2019,
        "Sustaining the Global Struggle for Health Equity Locally: Building Across Difference",
        "Jaltenengo de la Paz, Chiapas, Mexico",
        "500+",
    ),
    (
        2020,
        "Global Social Medicine Summit: Building Community, Critical Consciousness and a "
        "Movement for Health Equity",
        "Virtual",
        "500+",
    ),
)


def ensure_defaults() -> None:
    """Create the default types, texts and conference archive where none exist. Commits."""
    if db.session.scalar(db.select(db.func.count(OrganizationType.id))) == 0:
        for position, name in enumerate(DEFAULT_TYPES):
            db.session.add(OrganizationType(name=name, position=position))
    if db.session.scalar(db.select(db.func.count(Conference.id))) == 0:
        for year, theme, place, attendance in CONFERENCES:
            db.session.add(Conference(year=year, theme=theme, place=place, attendance=attendance))
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
