"""A contact's personal data: everything Allies holds about one person, and erasing it.

Erasure replaces the person's name, email and phone with a pseudonym ("Erased contact 42",
``erased-42@invalid``, no phone) wherever Allies holds them, and keeps the organization's
history (applications, endorsements, agreements, audit events, emails sent) with the pseudonym
in their place:

- the contact row: pseudonym, title cleared, ``erased_at`` set, disabled, every session ended;
  their sign-in links not yet used are deleted (used ones keep only dates);
- the email address wherever any text holds it (every text column of every table but the other
  contacts' and staff accounts' rows: audit events, outbox messages, endorsements, notes...);
- the full name and the phone in everything that belongs to the organization (its applications'
  statements, decisions, messages and endorsements, its agreements' notes, staff notes, any other
  table with an ``organization_id``), in audit events about it, and in outbox messages that name
  the person together with the organization;
- outbox messages to the person not yet delivered are not sent (marked failed, saying why), and
  they are taken out of the copy of the others; a delivered message's ``.eml`` file in the mail
  folder is written again from the pseudonymised row.

Free text is matched on the full name, the email and the phone, whole words and case-insensitive
(an HTML body's escaped form of the name too): a first name alone in a message ("Thanks, Dana")
is not recognised.
"""

import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from datetime import date, datetime
from email.policy import SMTP as SMTP_POLICY

import sqlalchemy as sa
from flask import current_app
from markupsafe import escape

from allies.errors import OperationError, operation
from allies.extensions import db
from allies.organizations.models import Contact, Organization, SignInLink
from allies.staff.audit import record_event
from allies.timeutil import utcnow

# Tables whose rows are other people's records: never rewritten when someone else is erased.
OTHER_PEOPLE = ("contact", "staff_user")
# Tables with nothing personal in text, or handled on their own below.
NOT_SCANNED = ("sign_in_link", "rate_limit_counter", "scheduler_lease", "alembic_version")
NOT_DELIVERED = ("pending", "sending")
NOT_SENT_REASON = "Not sent: the recipient's personal data was erased."


def pseudonym_name(contact: Contact) -> str:
    """The name an erased contact is known by."""
    return f"Erased contact {contact.id}"


def pseudonym_email(contact: Contact) -> str:
    """The address an erased contact is known by (``.invalid`` never delivers)."""
    return f"erased-{contact.id}@invalid"


# --- what Allies holds about a person --------------------------------------------------------------


class _Matcher:
    """Finds and replaces one person's email, full name and phone in text."""

    def __init__(self, contact: Contact):
        self.email = (contact.email or "").strip().lower()
        self.name = (contact.name or "").strip()
        self.phone = (contact.phone or "").strip()
        self.new_email = pseudonym_email(contact)
        self.new_name = pseudonym_name(contact)
        self._email = self._word(self.email)
        names = {self.name, str(escape(self.name))} if len(self.name) > 1 else set()
        self._names = [self._word(name) for name in sorted(names, key=len, reverse=True)]
        # A phone number of a few digits would match unrelated numbers.
        digits = sum(ch.isdigit() for ch in self.phone)
        self._phone = self._word(self.phone) if digits >= 6 else None

    @staticmethod
    def _word(text: str):
        return re.compile(r"(?<![\w.+-])" + re.escape(text) + r"(?![\w-])", re.IGNORECASE)

    def mentions_email(self, text) -> bool:
        return bool(self.email) and isinstance(text, str) and bool(self._email.search(text))

    def mentions(self, text) -> bool:
        """Whether ``text`` holds the email, the full name or the phone."""
        if not isinstance(text, str):
            return False
        patterns = [self._email, *self._names] + ([self._phone] if self._phone else [])
        return any(pattern.search(text) for pattern in patterns)

    def scrub(self, value, *, names: bool = True):
        """``value`` (text, or JSON made of dicts and lists) with the person replaced."""
        if isinstance(value, dict):
            return {key: self.scrub(item, names=names) for key, item in value.items()}
        if isinstance(value, list):
            return [self.scrub(item, names=names) for item in value]
        if not isinstance(value, str):
            return value
        if self.email:
            value = self._email.sub(self.new_email, value)
        if names:
            for pattern in self._names:
                value = pattern.sub(self.new_name, value)
            if self._phone:
                value = self._phone.sub("[phone erased]", value)
        return value


def _json(value):
    if isinstance(value, datetime):
        return value.isoformat() + "Z"
    if isinstance(value, date):
        return value.isoformat()
    return value


def _columns(obj, exclude=()) -> dict:
    return {
        attr.key: _json(getattr(obj, attr.key))
        for attr in sa.inspect(type(obj)).column_attrs
        if attr.key not in exclude
    }


def _organization_subjects(organization: Organization):
    """The audit subjects that belong to ``organization``: itself, its applications, agreements,
    contacts (as an SQL condition on AuditEvent)."""
    from allies.agreements.models import Agreement
    from allies.applications.models import Application
    from allies.organizations.models import OrganizationNote
    from allies.staff.models import AuditEvent

    def of(model):
        return db.select(model.id).where(model.organization_id == organization.id)

    return sa.or_(
        (AuditEvent.subject_type == "organization") & (AuditEvent.subject_id == organization.id),
        (AuditEvent.subject_type == "application") & AuditEvent.subject_id.in_(of(Application)),
        (AuditEvent.subject_type == "agreement") & AuditEvent.subject_id.in_(of(Agreement)),
        (AuditEvent.subject_type == "contact") & AuditEvent.subject_id.in_(of(Contact)),
        (AuditEvent.subject_type == "organization_note")
        & AuditEvent.subject_id.in_(of(OrganizationNote)),
    )


def _contains(column, text: str):
    return sa.func.lower(sa.cast(column, sa.Text)).contains(text.lower(), autoescape=True)


def _audit_events(contact: Contact, matcher: _Matcher) -> list:
    """Audit events that mention the person: their email anywhere, their name about their
    organization."""
    from allies.staff.models import AuditEvent

    text_columns = (
        AuditEvent.actor,
        AuditEvent.reason,
        AuditEvent.from_state,
        AuditEvent.to_state,
        AuditEvent.changes,
    )
    by_email = sa.or_(*(_contains(column, matcher.email) for column in text_columns))
    events = db.session.scalars(
        db.select(AuditEvent)
        .where(sa.or_(by_email, _organization_subjects(contact.organization)))
        .order_by(AuditEvent.id)
    )
    fields = ("actor", "reason", "from_state", "to_state")
    return [
        event
        for event in events
        if any(matcher.mentions(getattr(event, name)) for name in fields)
        or matcher.mentions(json.dumps(event.changes, ensure_ascii=False))
    ]


def _outbox_messages(contact: Contact, matcher: _Matcher) -> list:
    """Outbox messages to or copying the person, or naming them (their email anywhere, their name
    together with their organization's name)."""
    from allies.mail.models import OutboxMessage

    texts = (OutboxMessage.subject, OutboxMessage.body_text, OutboxMessage.body_html)
    conditions = [
        sa.func.lower(OutboxMessage.to_addr) == matcher.email,
        _contains(OutboxMessage.cc_addrs, matcher.email),
        *(_contains(column, matcher.email) for column in texts),
    ]
    if matcher.name:
        org_name = contact.organization.name
        conditions.append(
            sa.or_(*(_contains(column, matcher.name) for column in texts))
            & sa.or_(
                _contains(OutboxMessage.subject, org_name),
                _contains(OutboxMessage.body_text, org_name),
            )
        )
    messages = db.session.scalars(
        db.select(OutboxMessage).where(sa.or_(*conditions)).order_by(OutboxMessage.id)
    )
    return [
        message
        for message in messages
        if any(
            matcher.mentions(text)
            for text in (message.to_addr, message.cc_addrs, message.subject, message.body_text)
        )
        or matcher.mentions(message.body_html)
    ]


def personal_data(contact: Contact) -> dict:
    """Everything Allies holds about the person behind ``contact``, ready for JSON.

    Their contact row; the applications they sent; the endorsements signed with their address
    (or their name, for their organization); the emails to them, copying them or naming them
    (links in bodies redacted); the audit events that mention them; the staff notes and messages
    on their organization that name them; and the dates of their sign-in links (never the links).
    """
    from allies.applications.models import Application, ApplicationMessage, Endorsement
    from allies.mail.outbox import redact_link_tokens
    from allies.organizations.models import OrganizationNote

    matcher = _Matcher(contact)
    organization = contact.organization
    applications = db.session.scalars(
        db.select(Application).where(Application.contact_id == contact.id).order_by(Application.id)
    ).all()
    organization_applications = db.select(Application.id).where(
        Application.organization_id == organization.id
    )
    endorsements = [
        endorsement
        for endorsement in db.session.scalars(
            db.select(Endorsement)
            .where(
                sa.or_(
                    sa.func.lower(Endorsement.signer_email) == matcher.email,
                    Endorsement.application_id.in_(organization_applications),
                )
            )
            .order_by(Endorsement.id)
        )
        if matcher.mentions(endorsement.signer_email) or matcher.mentions(endorsement.signer_name)
    ]
    messages = [
        message
        for message in db.session.scalars(
            db.select(ApplicationMessage)
            .where(ApplicationMessage.application_id.in_(organization_applications))
            .order_by(ApplicationMessage.id)
        )
        if matcher.mentions(message.body)
    ]
    notes = [
        note
        for note in db.session.scalars(
            db.select(OrganizationNote)
            .where(OrganizationNote.organization_id == organization.id)
            .order_by(OrganizationNote.id)
        )
        if matcher.mentions(note.body)
    ]
    links = db.session.scalars(
        db.select(SignInLink).where(SignInLink.contact_id == contact.id).order_by(SignInLink.id)
    ).all()
    emails = []
    for message in _outbox_messages(contact, matcher):
        row = _columns(message, exclude=("claim_token", "claimed_until"))
        row["body_text"] = redact_link_tokens(message.body_text)
        row["body_html"] = redact_link_tokens(message.body_html)
        emails.append(row)
    return {
        "format": "allies-personal-data-1",
        "exported_at": _json(utcnow()),
        "contact": _columns(contact, exclude=("session_version",)),
        "organization": {"id": organization.id, "name": organization.name},
        "applications_sent": [_columns(application) for application in applications],
        "endorsements_signed": [_columns(endorsement) for endorsement in endorsements],
        "application_messages_naming_them": [_columns(message) for message in messages],
        "staff_notes_naming_them": [_columns(note) for note in notes],
        "emails": emails,
        "audit_events": [_columns(event) for event in _audit_events(contact, matcher)],
        "sign_in_links": [_columns(link, exclude=("nonce",)) for link in links],
    }


@operation
def record_personal_data_download(contact: Contact, *, staff, ip: str | None = None) -> None:
    """Audit that ``staff`` downloaded the contact's personal data. Commits."""
    record_event(
        contact.organization,
        "contact_data_downloaded",
        staff=staff,
        reason=f"Personal data of contact {contact.id}",
        ip=ip,
    )
    db.session.commit()


# --- erasure -----------------------------------------------------------------------------------


def erasure_warnings(contact: Contact, today: date) -> list[str]:
    """What the admin should know before erasing ``contact`` (nothing here refuses it)."""
    from allies.agreements.queries import agreements_of
    from allies.agreements.standing import Status, status_of, term_in_force
    from allies.mail.models import OutboxMessage

    warnings = []
    organization = contact.organization
    other_primaries = [
        c
        for c in organization.contacts
        if c.role == "primary" and c.is_enabled and c.id != contact.id
    ]
    in_force = term_in_force(agreements_of(organization.id), today)
    current = in_force is not None and status_of(in_force, today) in (
        Status.UPCOMING,
        Status.ACTIVE,
        Status.EXPIRING,
        Status.GRACE,
    )
    if contact.role == "primary" and contact.is_enabled and not other_primaries and current:
        warnings.append(
            f"{organization.name} is a current Ally and this is its only primary contact: "
            "after erasure no reminder reaches it until you add another primary contact."
        )
    namesakes = db.session.scalars(
        db.select(Contact).where(
            sa.func.lower(Contact.email) == (contact.email or "").lower(),
            Contact.id != contact.id,
            Contact.erased_at.is_(None),
        )
    ).all()
    for other in namesakes:
        warnings.append(
            f"The same address is also a contact of {other.organization.name}; that contact is "
            "not erased (erase it too if the person asked), but emails and audit entries with "
            "the address are."
        )
    waiting = db.session.scalar(
        db.select(sa.func.count())
        .select_from(OutboxMessage)
        .where(
            OutboxMessage.status.in_(NOT_DELIVERED),
            sa.func.lower(OutboxMessage.to_addr) == (contact.email or "").lower(),
        )
    )
    if waiting:
        warnings.append(f"{waiting} email(s) to them not yet sent will not be sent.")
    return warnings


@dataclass
class Erasure:
    """What an erasure changed."""

    pseudonym: str
    rows: dict[str, int] = field(default_factory=dict)
    messages_cancelled: int = 0
    files_rewritten: int = 0
    file_errors: list[str] = field(default_factory=list)

    def count(self, table: str, n: int = 1) -> None:
        self.rows[table] = self.rows.get(table, 0) + n


def _text_columns(table: sa.Table) -> list[sa.Column]:
    return [
        column
        for column in table.columns
        if isinstance(column.type, sa.String | sa.JSON) and not column.primary_key
    ]


def _scrub_rows(table: sa.Table, where, matcher: _Matcher, erasure: Erasure, *, names: bool):
    """Rewrite the text columns of ``table``'s rows matching ``where`` that mention the person."""
    columns = _text_columns(table)
    if not columns:
        return
    keys = list(table.primary_key.columns)
    for row in db.session.execute(sa.select(*keys, *columns).where(where)).mappings().all():
        changed = {}
        for column in columns:
            value = row[column.name]
            if value is None:
                continue
            new = matcher.scrub(value, names=names)
            if new != value:
                changed[column.name] = new
        if changed:
            db.session.execute(
                sa.update(table)
                .where(*(key == row[key.name] for key in keys))
                .values(**changed)
                .execution_options(synchronize_session=False)
            )
            erasure.count(table.name)


def _handle_undelivered(matcher: _Matcher, erasure: Erasure) -> None:
    """Emails not yet delivered: to the person, not sent; copying them, sent without them.

    A message a sender is delivering right now (its lease still running) cannot be changed under
    it: the erasure is refused until it is done.
    """
    from allies.mail.models import OutboxMessage
    from allies.mail.outbox import copy_list

    now = utcnow()
    waiting = db.session.scalars(
        db.select(OutboxMessage)
        .where(
            OutboxMessage.status.in_(NOT_DELIVERED),
            sa.or_(
                sa.func.lower(OutboxMessage.to_addr) == matcher.email,
                _contains(OutboxMessage.cc_addrs, matcher.email),
            ),
        )
        .with_for_update()
    ).all()
    for message in waiting:
        if message.status == "sending" and message.claimed_until and message.claimed_until > now:
            raise OperationError(
                "An email to this contact is being sent right now; try again in a minute."
            )
        message.claim_token = None
        message.claimed_until = None
        if message.to_addr.strip().lower() == matcher.email:
            message.status = "failed"
            message.last_error = NOT_SENT_REASON
            erasure.messages_cancelled += 1
        else:
            others = [a for a in message.cc_addrs.split(",") if a.strip().lower() != matcher.email]
            message.cc_addrs = ", ".join(copy_list(message.to_addr, others))
            message.status = "pending"
    db.session.flush()


@operation
def erase_contact(contact: Contact, *, staff, reason: str, ip: str | None = None) -> Erasure:
    """Replace the person behind ``contact`` by a pseudonym everywhere (see the module). Commits.

    Refused when the contact is already erased, or while an email to them is being delivered.
    The audit event says who erased which contact and why; the reason is pseudonymised too.
    """
    from allies.applications.models import Application, ApplicationMessage, Endorsement
    from allies.mail.models import OutboxMessage

    # Held until the commit: a second admin erasing at the same moment waits, then is refused.
    db.session.execute(
        db.select(Contact.id).where(Contact.id == contact.id).with_for_update()
    ).all()
    db.session.refresh(contact)
    if contact.erased_at is not None:
        raise OperationError("This contact was erased already.")
    matcher = _Matcher(contact)
    erasure = Erasure(pseudonym=pseudonym_name(contact))
    organization = contact.organization
    _handle_undelivered(matcher, erasure)
    touched_messages = [message.id for message in _outbox_messages(contact, matcher)]

    tables = db.metadata.tables
    # The name and phone, where they belong to this organization or speak of this person.
    _scrub_rows(
        tables["audit_event"], _organization_subjects(organization), matcher, erasure, names=True
    )
    _scrub_rows(
        tables["outbox_message"],
        OutboxMessage.id.in_(touched_messages),
        matcher,
        erasure,
        names=True,
    )
    applications = db.select(Application.id).where(Application.organization_id == organization.id)
    _scrub_rows(
        tables["endorsement"],
        sa.or_(
            Endorsement.application_id.in_(applications),
            sa.func.lower(Endorsement.signer_email) == matcher.email,
        ),
        matcher,
        erasure,
        names=True,
    )
    _scrub_rows(
        tables["application_message"],
        ApplicationMessage.application_id.in_(applications),
        matcher,
        erasure,
        names=True,
    )
    for table in db.metadata.sorted_tables:
        if "organization_id" in table.c and table.name not in OTHER_PEOPLE:
            _scrub_rows(
                table, table.c.organization_id == organization.id, matcher, erasure, names=True
            )
    # The email, anywhere else it is written.
    for table in db.metadata.sorted_tables:
        if table.name in OTHER_PEOPLE or table.name in NOT_SCANNED:
            continue
        columns = _text_columns(table)
        if columns and matcher.email:
            anywhere = sa.or_(*(_contains(column, matcher.email) for column in columns))
            _scrub_rows(table, anywhere, matcher, erasure, names=False)

    # The contact itself: the validator on email also ends its sessions.
    contact.name = pseudonym_name(contact)
    contact.email = pseudonym_email(contact)
    contact.phone = ""
    contact.title = ""
    contact.is_enabled = False
    contact.erased_at = utcnow()
    contact.end_sessions()
    erasure.count("contact")
    deleted = db.session.execute(
        sa.delete(SignInLink)
        .where(SignInLink.contact_id == contact.id, SignInLink.used_at.is_(None))
        .execution_options(synchronize_session=False)
    ).rowcount
    if deleted:
        erasure.count("sign_in_link (deleted)", deleted)

    record_event(
        organization,
        "contact_erased",
        staff=staff,
        from_state=contact.role,
        reason=matcher.scrub(f"Erased contact {contact.id}: {reason}".strip()),
        ip=ip,
    )
    db.session.commit()
    _rewrite_mail_files(touched_messages, erasure)
    return erasure


def _rewrite_mail_files(message_ids: list[int], erasure: Erasure) -> None:
    """Write again, from the pseudonymised rows, the .eml files delivery left in the mail folder.

    Files are not part of the transaction, so this runs after the commit; a file that cannot be
    written is reported (the database is erased either way).
    """
    from allies.mail.models import OutboxMessage
    from allies.mail.sender import build_email, eml_filename

    folder = current_app.config.get("MAIL_FOLDER")
    if not folder or not os.path.isdir(folder) or not message_ids:
        return
    for message in db.session.scalars(
        db.select(OutboxMessage).where(OutboxMessage.id.in_(message_ids))
    ):
        path = os.path.join(folder, eml_filename(message))
        if not os.path.exists(path):
            continue
        try:
            data = build_email(message).as_bytes(policy=SMTP_POLICY)
            fd, temp_path = tempfile.mkstemp(dir=folder, prefix=".erase-", suffix=".tmp")
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(temp_path, path)
        except OSError as exc:
            erasure.file_errors.append(f"{os.path.basename(path)}: {exc}")
        else:
            erasure.files_rewritten += 1
    db.session.commit()
