"""Changes to an organization's profile and contacts, and emailed sign-in links."""

import time
from datetime import timedelta
from pathlib import Path

from flask import current_app

from allies.errors import OperationError, operation
from allies.extensions import db
from allies.mail.outbox import public_url, queue_email
from allies.organizations.access import make_link_token
from allies.organizations.models import CONTACT_ROLES, Contact, Organization
from allies.organizations.profile import logo_path, normalize_name, website_domain
from allies.staff.audit import record_event

PROFILE_FIELDS = ("name", "website", "type_id", "city", "region", "country", "description")


def apply_profile(organization: Organization, profile: dict) -> None:
    """Stage profile changes (a new logo only when one was given); the caller commits."""
    for field in PROFILE_FIELDS:
        if field in profile:
            setattr(organization, field, profile[field])
    if profile.get("logo_filename"):
        organization.logo_filename = profile["logo_filename"]
    organization.normalized_name = normalize_name(organization.name)
    organization.website_domain = website_domain(organization.website)


def profile_changes(organization: Organization, profile: dict) -> dict:
    """The fields of ``profile`` whose values differ from the organization's (a new logo only)."""
    changes = {
        field: profile[field]
        for field in PROFILE_FIELDS
        if field in profile and profile[field] != getattr(organization, field)
    }
    if profile.get("logo_filename") and profile["logo_filename"] != organization.logo_filename:
        changes["logo_filename"] = profile["logo_filename"]
    return changes


def update_profile(organization: Organization, profile: dict, *, actor: str, staff=None) -> None:
    """Change the public profile. Commits."""
    apply_profile(organization, profile)
    record_event(organization, "profile_updated", staff=staff, actor=actor)
    db.session.commit()


def remove_logo(organization: Organization, *, staff) -> None:
    """Take the logo off the public profile. Commits."""
    organization.logo_filename = None
    record_event(organization, "logo_removed", staff=staff)
    db.session.commit()


@operation
def add_contact(organization: Organization, fields: dict, *, actor: str, staff=None) -> Contact:
    """Add a contact with a role (primary, signatory, communications). Commits."""
    if fields.get("role") not in CONTACT_ROLES:
        raise OperationError("Choose a role for the contact.")
    contact = Contact(
        organization=organization,
        role=fields["role"],
        name=fields["name"].strip(),
        title=(fields.get("title") or "").strip(),
        email=fields["email"].strip().lower(),
        phone=(fields.get("phone") or "").strip(),
    )
    db.session.add(contact)
    record_event(
        organization,
        "contact_added",
        staff=staff,
        actor=actor,
        to_state=contact.role,
        reason=contact.email,
    )
    db.session.commit()
    return contact


@operation
def remove_contact(contact: Contact, *, actor: str, staff=None) -> None:
    """Disable a contact and end its sessions; the last enabled primary stays. Commits."""
    organization = contact.organization
    if contact.role == "primary":
        others = [
            c
            for c in organization.contacts
            if c.role == "primary" and c.is_enabled and c.id != contact.id
        ]
        if not others:
            raise OperationError("An organization needs a primary contact; add another one first.")
    contact.is_enabled = False
    contact.end_sessions()
    record_event(
        organization,
        "contact_removed",
        staff=staff,
        actor=actor,
        from_state=contact.role,
        reason=contact.email,
    )
    db.session.commit()


def send_sign_in_link(email: str, *, next_path: str | None = None) -> bool:
    """Email a sign-in link to every enabled contact with ``email``. Commits.

    Returns whether anyone was found, for logging only: the page says the same either way.
    """
    contacts = list(
        db.session.scalars(
            db.select(Contact).where(
                Contact.email == (email or "").strip().lower(), Contact.is_enabled
            )
        )
    )
    for contact in contacts:
        token = make_link_token(contact, "sign-in")
        link = public_url("portal.follow_link", token=token, next=next_path)
        queue_email(
            contact.email,
            "sign_in_link",
            f"Your sign-in link for {contact.organization.name}",
            contact=contact,
            organization=contact.organization,
            link=link,
        )
    db.session.commit()
    return bool(contacts)


def _logos_waiting_in_renewals() -> set[str]:
    """Logos sent with renewals that wait for review (published only on approval)."""
    from allies.applications.models import OPEN_STATES, Application

    proposals = db.session.scalars(
        db.select(Application.proposed_profile).where(
            Application.state.in_(OPEN_STATES), Application.proposed_profile.is_not(None)
        )
    )
    return {p["logo_filename"] for p in proposals if p and p.get("logo_filename")}


def remove_orphan_logos(*, older_than: timedelta = timedelta(days=1)) -> int:
    """Delete stored logos no organization uses, once they are a day old; returns how many.

    A logo is stored as soon as it is uploaded (so a form error never asks for it again); the
    ones whose form was never sent would otherwise stay on disk for ever.
    """
    folder = Path(current_app.config["UPLOAD_FOLDER"])
    if not folder.is_dir():
        return 0
    in_use = (
        set(
            db.session.scalars(
                db.select(Organization.logo_filename).where(Organization.logo_filename.is_not(None))
            )
        )
        | _logos_waiting_in_renewals()
    )
    cutoff = time.time() - older_than.total_seconds()
    removed = 0
    for path in folder.iterdir():
        if path.name in in_use or logo_path(path.name) is None:
            continue
        if path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)
            removed += 1
    return removed
