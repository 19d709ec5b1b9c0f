"""Demo data so a new installation's pages are not empty: Allies at different ages, one applicant.

Names and sites come from the alliance's own Allies page; the descriptions are our own.
"""

from datetime import date, timedelta

from dateutil.relativedelta import relativedelta

from allies.agreements.operations import renew_agreement, start_agreement
from allies.applications.models import Application, ApplicationState, Endorsement
from allies.applications.statements import current_statements
from allies.conferences.models import Conference
from allies.extensions import db
from allies.organizations.models import Contact, Organization, OrganizationType
from allies.organizations.profile import normalize_name, unique_slug, website_domain
from allies.timeutil import alliance_today

# (name, website, type, city, region, country, description, months since the term started)
DEMO_ALLIES = (
    (
        "The American Academy of Family Physicians",
        "https://www.aafp.org",
        "Professional association",
        "Leawood",
        "KS",
        "USA",
        "A national association of family doctors working for comprehensive, continuing care for "
        "every community.",
        4,
    ),
    (
        "The Anchor Institutions Task Force (AITF)",
        "https://www.margainc.com/aitf/",
        "Network or coalition",
        "New York",
        "NY",
        "USA",
        "A network of leaders helping universities, hospitals and other anchor institutions invest "
        "in the communities around them.",
        22,
    ),
    (
        "The Albert Schweitzer Fellowship",
        "https://www.schweitzerfellowship.org",
        "Nonprofit or foundation",
        "Boston",
        "MA",
        "USA",
        "Mentored service fellowships that build graduate students' skills to meet the health needs "
        "of underserved people.",
        12,
    ),
    (
        "The American Medical Student Association (AMSA)",
        "https://www.amsa.org",
        "Student organization",
        "Sterling",
        "VA",
        "USA",
        "A student-led association working for better care for all people and a more humane "
        "medical education.",
        24,
    ),
    (
        "Cambridge Health Alliance (CHA)",
        "https://www.challiance.org",
        "Health system or hospital",
        "Cambridge",
        "MA",
        "USA",
        "A public health system serving diverse communities north of Boston with coordinated, "
        "compassionate care.",
        27,
    ),
    (
        "The Camden Coalition",
        "https://camdenhealth.org",
        "Community organization",
        "Camden",
        "NJ",
        "USA",
        "Person-centred programmes and new models of care for people facing chronic illness and "
        "social barriers to health.",
        30,
    ),
    (
        "The Network Towards Unity for Health (TUFH)",
        "https://tufh.org",
        "Network or coalition",
        "Bern",
        "",
        "Switzerland",
        "An international network for equitable, community-oriented health services, education and "
        "research.",
        8,
    ),
    (
        "The Organization for Associate Degree Nursing (OADN)",
        "https://www.oadn.org",
        "Professional association",
        "Lexington",
        "KY",
        "USA",
        "Leadership in associate degree nursing education, keeping a diverse pathway into the "
        "nursing profession open.",
        15,
    ),
)

DEMO_APPLICANT = (
    "People Power Health",
    "https://peoplepowerhealth.org",
    "Community organization",
    "Boston",
    "MA",
    "USA",
    "Bringing community organizing to health professionals and growing a community of health "
    "activists who learn from each other.",
)


# The sister consortium's conferences (seeds/000_…): year, theme, place, attendance. Only the
# year is known, so they are "year only".
DEMO_CONFERENCES = (
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

# One upcoming conference, with real dates a few months ahead of the demo's today.
DEMO_UPCOMING_CONFERENCE = (
    "Organizing for Health Equity: Allies in Practice",
    "Albuquerque, NM, USA",
    "Three days of plenaries, workshops and site visits on organizing with communities for "
    "health equity. Allies are recognised at the opening plenary.",
)


def demo_is_loaded() -> bool:
    """Whether the demo organizations are already present."""
    return (
        db.session.scalar(
            db.select(Organization.id).where(Organization.website_domain == "aafp.org")
        )
        is not None
    )


def _organization(name, website, type_name, city, region, country, description) -> Organization:
    org_type = db.session.scalar(
        db.select(OrganizationType).where(OrganizationType.name == type_name)
    )
    organization = Organization(
        name=name,
        slug=unique_slug(name, Organization),
        normalized_name=normalize_name(name),
        website=website,
        website_domain=website_domain(website),
        type=org_type,
        city=city,
        region=region,
        country=country,
        description=description,
    )
    # Demo contacts never use the real organizations' domains: nobody real gets demo email.
    mailbox = organization.slug.replace("-", ".")[:40]
    contact = Contact(
        organization=organization,
        role="primary",
        name="Demo Contact",
        title="Partnerships Lead",
        email=f"{mailbox}@example.org",
    )
    db.session.add_all([organization, contact])
    return organization


def _application(organization: Organization, state: str, submitted_days_ago: int) -> Application:
    texts = current_statements()
    contact = organization.contacts[0]
    today = alliance_today()
    application = Application(
        kind="new",
        organization=organization,
        contact=contact,
        state=state,
        support_statement="We teach and practise social medicine with our members and partners.",
    )
    application.submitted_at = _days_ago(today, submitted_days_ago)
    db.session.add(application)
    db.session.add(
        Endorsement(
            application=application,
            mission_version_id=texts["mission"].id,
            vision_version_id=texts["vision"].id,
            values_version_id=texts["values"].id,
            signer_name=contact.name,
            signer_title="Executive Director",
            signer_email=contact.email,
            signed_at=application.submitted_at,
            ip="127.0.0.1",
        )
    )
    return application


def _days_ago(today, days):
    from datetime import datetime

    return datetime.combine(today - timedelta(days=days), datetime.min.time()).replace(hour=15)


def _demo_conferences(today) -> None:
    """The five past conferences (year only) and one upcoming, each unless already present."""
    known = set(db.session.scalars(db.select(Conference.title)))
    for year, title, place, attendance in DEMO_CONFERENCES:
        if title not in known:
            db.session.add(
                Conference(
                    title=title,
                    place=place,
                    attendance=attendance,
                    start_date=date(year, 1, 1),
                    end_date=date(year, 12, 31),
                    dates_year_only=True,
                )
            )
    title, place, description = DEMO_UPCOMING_CONFERENCE
    if title not in known:
        start = today + relativedelta(months=4)
        db.session.add(
            Conference(
                title=title,
                place=place,
                description=description,
                start_date=start,
                end_date=start + timedelta(days=2),
            )
        )


def load_demo() -> str:
    """Create the demo Allies and one pending application. Commits; returns a summary line."""
    today = alliance_today()
    for name, website, type_name, city, region, country, description, months in DEMO_ALLIES:
        organization = _organization(name, website, type_name, city, region, country, description)
        start = today - relativedelta(months=months)
        application = _application(
            organization, ApplicationState.APPROVED, (today - start).days + 20
        )
        db.session.flush()
        agreement = start_agreement(
            organization, start, staff=None, application=application, note="demo data"
        )
        if months >= 24 and name.startswith("The Camden"):
            db.session.flush()
            renew_agreement(
                agreement, approved_on=agreement.end_date - timedelta(days=20), staff=None
            )
    _application(_organization(*DEMO_APPLICANT), ApplicationState.SUBMITTED, 3)
    _demo_conferences(today)
    db.session.commit()
    return (
        f"Loaded demo data: {len(DEMO_ALLIES)} organizations with agreements, 1 pending "
        f"application, {len(DEMO_CONFERENCES) + 1} conferences."
    )
