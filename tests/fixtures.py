"""Helpers shared by test modules: plain functions and classes, imported by name.

Pytest fixtures live in conftest.py (tests/conftest.py for all, tests/<domain>/conftest.py for
one folder). Test modules never import from one another or from a conftest; what they share is
here.
"""

import io
import re
from datetime import date, timedelta
from pathlib import Path

from PIL import Image

from allies.agreements.terms import term_end
from allies.applications.statements import current_statements
from allies.extensions import db
from allies.mail.models import OutboxMessage
from allies.mail.outbox import queue_email

PROJECT_DIR = Path(__file__).resolve().parents[1]

# The databases of this test session, filled in by tests/conftest.py (pytest_configure):
# name -> URL, and name -> why it is skipped.
DATABASES: dict[str, str | None] = {}
SKIPPED: dict[str, str] = {}


# --- the application form ---------------------------------------------------------------------


def start_for_end(end: date) -> date:
    """A start date whose term ends on ``end`` (searched around two years before)."""
    guess = end - timedelta(days=730)
    for shift in range(-3, 4):
        start = guess + timedelta(days=shift)
        if term_end(start) == end:
            return start
    raise AssertionError(f"no term ends on {end}")


def png_bytes(size=(1200, 600), color=(10, 80, 90)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="PNG")
    return out.getvalue()


def application_form(app, **overrides) -> dict:
    with app.app_context():
        texts = current_statements()
        from allies.organizations.models import OrganizationType

        type_id = db.session.scalar(db.select(OrganizationType.id).limit(1))
    data = {
        "name": "Health Equity Collective",
        "website": "https://equity.example.org",
        "type_id": str(type_id),
        "city": "Chicago",
        "region": "IL",
        "country": "USA",
        "description": "Training clinicians to organise with their communities.",
        "contact_name": "Dana Rivera",
        "contact_title": "Director",
        "contact_email": "dana@equity.example.org",
        "contact_phone": "+1 312 555 0100",
        "support_statement": "We teach social medicine in our residency programmes.",
        "endorse_mission": "y",
        "endorse_vision": "y",
        "endorse_values": "y",
        "mission_version_id": str(texts["mission"].id),
        "vision_version_id": str(texts["vision"].id),
        "values_version_id": str(texts["values"].id),
        "signer_name": "Lee Chen",
        "signer_title": "Chief Executive",
    }
    data.update(overrides)
    return data


def csrf_token_from(html: str) -> str:
    """The CSRF token of the first form in ``html``."""
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', html
    )
    assert match, "no csrf_token in the page"
    return match.group(1)


# --- factories --------------------------------------------------------------------------------


class Factory:
    """Makes staff, applications and Allies through the real operations."""

    def __init__(self, app):
        self.app = app
        self.counter = 0

    def staff(self, role="admin", email=None, password="correct-horse-battery"):
        from allies.staff.operations import create_staff_user

        self.counter += 1
        with self.app.app_context():
            user = create_staff_user(
                email=email or f"{role}{self.counter}@alliance.example.org",
                name=f"{role.title()} {self.counter}",
                role=role,
                password=password,
                staff=None,
            )
            return user.id, user.email, password

    def application(self, name=None, website=None, email=None, **profile):
        """Submit an application as an applicant would; returns its id."""
        from allies.applications.operations import EndorsementInput, submit_application
        from allies.applications.statements import current_statements

        self.counter += 1
        name = name or f"Health Org {self.counter}"
        with self.app.app_context():
            texts = current_statements()
            application = submit_application(
                {
                    "name": name,
                    "website": website or f"https://org{self.counter}.example.org",
                    "type_id": None,
                    "city": "Boston",
                    "region": "MA",
                    "country": "USA",
                    "description": f"{name} trains health professionals.",
                    "logo_filename": None,
                    **profile,
                },
                {
                    "name": "Pat Contact",
                    "title": "Director",
                    "email": email or f"contact{self.counter}@example.org",
                    "phone": "",
                },
                "We support the mission.",
                EndorsementInput(
                    version_ids={k: v.id for k, v in texts.items()},
                    endorsed={k: True for k in texts},
                    signer_name="Sam Signer",
                    signer_title="CEO",
                    signer_email=email or f"contact{self.counter}@example.org",
                    ip="127.0.0.1",
                ),
            )
            return application.id

    def ally(self, start=None, **kwargs):
        """An approved Ally; returns (organization_id, agreement_id)."""
        from allies.applications.models import Application
        from allies.applications.operations import approve_application
        from allies.staff.models import StaffUser

        application_id = self.application(**kwargs)
        with self.app.app_context():
            staff = db.session.scalar(db.select(StaffUser).where(StaffUser.role == "admin"))
            if staff is None:
                self.staff("admin")
                staff = db.session.scalar(db.select(StaffUser).where(StaffUser.role == "admin"))
            application = db.session.get(Application, application_id)
            start = start or date.today()
            agreement = approve_application(application, staff=staff, start=start, today=start)
            return application.organization_id, agreement.agreement_id

    def renewal(self, agreement_id, *, submitted_on, approved_on=None, profile=None):
        """The Ally contact submits a renewal (with ``profile`` changes, if given); an admin
        approves it on ``approved_on`` if given.

        Returns the renewal application's id.
        """
        from allies.agreements.models import Agreement
        from allies.applications.operations import (
            EndorsementInput,
            approve_application,
            submit_renewal,
        )
        from allies.applications.statements import current_statements
        from allies.staff.models import StaffUser

        with self.app.app_context():
            agreement = db.session.get(Agreement, agreement_id)
            contact = agreement.organization.contact_for("primary")
            texts = current_statements()
            application = submit_renewal(
                agreement,
                profile or {},
                "We are still with you.",
                EndorsementInput(
                    version_ids={k: v.id for k, v in texts.items()},
                    endorsed={k: True for k in texts},
                    signer_name="Sam Signer",
                    signer_title="CEO",
                    signer_email=contact.email,
                    ip="127.0.0.1",
                ),
                contact=contact,
                today=submitted_on,
            )
            if approved_on is not None:
                staff = db.session.scalar(db.select(StaffUser).where(StaffUser.role == "admin"))
                approve_application(application, staff=staff, start=None, today=approved_on)
            return application.id


# --- the outbox -------------------------------------------------------------------------------


def queue(app, count, to="member{n}@example.org"):
    """Queue ``count`` test messages in one committed transaction; returns their ids."""
    with app.app_context():
        messages = [
            queue_email(
                to.format(n=n), "test_message", f"Test message {n}", name=f"Member {n}", number=n
            )
            for n in range(count)
        ]
        db.session.commit()
        return [message.id for message in messages]


def rows(app):
    """Every outbox row as a detached snapshot, by id."""
    with app.app_context():
        result = {}
        for message in db.session.scalars(db.select(OutboxMessage).order_by(OutboxMessage.id)):
            db.session.expunge(message)
            result[message.id] = message
        return result


def sign_in_contact(app, client, organization_id: int, role: str = "primary") -> None:
    """Sign an organization's contact in through an emailed link, as they would."""
    from allies.extensions import db
    from allies.organizations.access import make_link_token
    from allies.organizations.models import Organization

    with app.app_context():
        contact = db.session.get(Organization, organization_id).contact_for(role)
        token = make_link_token(contact, "sign-in")
        db.session.commit()
    response = client.post(f"/my/link/{token}")
    assert response.status_code == 302, response.get_data(as_text=True)
