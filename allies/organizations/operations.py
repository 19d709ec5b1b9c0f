"""Changes to an organization's profile and contacts, and emailed sign-in links."""

import time
from datetime import timedelta
from pathlib import Path

from flask import current_app
from flask_babel import lazy_gettext as _l

from allies.errors import OperationError, operation
from allies.extensions import db
from allies.mail.outbox import public_url, queue_email
from allies.organizations.access import make_link_token
from allies.organizations.models import CONTACT_ROLES, Contact, Organization
from allies.organizations.profile import logo_path, normalize_name, website_domain
from allies.staff.audit import record_event

PROFILE_FIELDS = ("name", "website", "type_id", "city", "region", "country", "description")


def apply_profile(organization: Organization, profile: dict) -> dict:
    """Stage profile changes (a new logo only when one was given); the caller commits.

    Returns what changed, ``{field: [before, after]}``, for the audit event (a logo by file name).
    """
    changed = {
        field: [getattr(organization, field), after]
        for field, after in profile_changes(organization, profile).items()
    }
    for field in PROFILE_FIELDS:
        if field in profile:
            setattr(organization, field, profile[field])
    if profile.get("logo_filename"):
        organization.logo_filename = profile["logo_filename"]
    organization.normalized_name = normalize_name(organization.name)
    organization.website_domain = website_domain(organization.website)
    return changed


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
    """Change the public profile; the audit event records each changed field. Commits."""
    changes = apply_profile(organization, profile)
    record_event(organization, "profile_updated", staff=staff, actor=actor, changes=changes)
    db.session.commit()


def remove_logo(organization: Organization, *, staff) -> None:
    """Take the logo off the public profile. Commits."""
    changes = {"logo_filename": [organization.logo_filename, None]}
    organization.logo_filename = None
    record_event(organization, "logo_removed", staff=staff, changes=changes)
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


SIGN_IN_LINK_TEMPLATE = "sign_in_link"


def send_sign_in_link(email: str, *, next_path: str | None = None, now=None) -> bool:
    """Email a sign-in link to the enabled contacts with ``email``, within its hourly limit. Commits.

    One address gets at most SIGN_IN_LINKS_PER_HOUR of these emails in any hour, however many
    sources ask: beyond that a request sends nothing (the oldest contacts with the address are
    served first). Concurrent requests for one address, from any worker, count one after another.
    Returns whether anyone was found, for logging only: the page says the same either way.
    ``now`` (naive UTC) is for tests that travel in time.
    """
    from allies.timeutil import utcnow

    now = now or utcnow()
    address = (email or "").strip().lower()
    contacts = list(
        db.session.scalars(
            db.select(Contact)
            .where(Contact.email == address, Contact.is_enabled)
            .order_by(Contact.id)
        )
    )
    if not contacts:
        return False
    _hold_contacts([contact.id for contact in contacts])
    limit = int(current_app.config["SIGN_IN_LINKS_PER_HOUR"])
    room = max(limit - sign_in_links_sent(address, now), 0)
    if room < len(contacts):
        current_app.logger.warning(
            "sign-in links: hourly limit of %d reached for contacts %s; %d of %d sent",
            limit,
            [contact.id for contact in contacts],
            room,
            len(contacts),
        )
    for contact in contacts[:room]:
        token = make_link_token(contact, "sign-in", now=now)
        link = public_url("portal.follow_link", token=token, next=next_path)
        message = queue_email(
            contact.email,
            SIGN_IN_LINK_TEMPLATE,
            _l("Your sign-in link for %(name)s", name=contact.organization.name),
            language=contact.language,
            contact=contact,
            organization=contact.organization,
            link=link,
        )
        message.created_at = now  # what the hourly count reads
    db.session.commit()
    return True


def sign_in_links_sent(address: str, now) -> int:
    """How many sign-in link emails went to ``address`` in the hour before ``now`` (any source)."""
    from allies.mail.models import OutboxMessage

    return db.session.scalar(
        db.select(db.func.count())
        .select_from(OutboxMessage)
        .where(
            OutboxMessage.kind == SIGN_IN_LINK_TEMPLATE,
            OutboxMessage.to_addr == address,
            OutboxMessage.created_at > now - timedelta(hours=1),
        )
    )


def _hold_contacts(contact_ids: list[int]) -> None:
    """Make other transactions that hold these contacts wait until this one ends.

    An UPDATE that changes nothing takes the rows' locks on PostgreSQL and the single writer's
    lock on SQLite, so what is counted next cannot be outdated by another worker's commit.
    """
    db.session.execute(
        db.update(Contact)
        .where(Contact.id.in_(contact_ids))
        .values(email=Contact.email)
        .execution_options(synchronize_session=False)
    )


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
    ones whose form was never sent would otherwise stay on disk for ever. The alliance's own
    logo (the ``alliance_logo`` setting) is in use too.
    """
    from allies.staff.settings import get_setting

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
        | {get_setting("alliance_logo")}
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
