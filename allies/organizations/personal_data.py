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
- outbox messages to the person not yet delivered: one meant for the organization
  (``READDRESSED_KINDS``: reminders, invitations, decisions) goes to the first address in its
  copy, or else to another enabled primary contact of the organization, greeting them by name
  and with a renewal link of their own in place of the person's; a personal one (sign-in and
  status links), or one with nobody left to take it, is not sent (marked failed, saying why).
  The person is taken out of the copy of the others; a delivered message's ``.eml`` file in the
  mail folder is written again from the pseudonymised row.

Where the person is looked for is one list (``_places``): the download holds exactly the rows
erasure rewrites, plus the contact row, the applications they sent and their sign-in links'
dates. Both leave out the columns ``allies.staff.exports.SECRET_COLUMNS`` names.

Free text is matched on the full name, the email and the phone, whole words and case-insensitive
(an HTML body's escaped form of the name too): a first name alone in a message ("Thanks, Dana")
is not recognised.
"""

import os
import re
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from email.policy import SMTP as SMTP_POLICY

import sqlalchemy as sa
from flask import current_app
from markupsafe import escape

from allies.errors import OperationError, operation
from allies.extensions import db
from allies.organizations.models import Contact, Organization, SignInLink
from allies.staff.audit import record_event
from allies.staff.exports import columns_of, download_row, json_value
from allies.timeutil import utcnow

# Tables whose rows are other people's records: never rewritten when someone else is erased.
OTHER_PEOPLE = ("contact", "staff_user")
# Tables with nothing personal in text, or handled on their own below.
NOT_SCANNED = ("sign_in_link", "rate_limit_counter", "scheduler_lease", "alembic_version")
NOT_DELIVERED = ("pending", "sending")
NOT_SENT_REASON = "Not sent: the recipient's personal data was erased."
# Outbox messages (by kind, their template's name) that speak to the organization rather than to
# the person: still waiting when the person is erased, they go to someone else there. Every
# other kind is personal and never readdressed: ``sign_in_link`` and the messages with a status
# link (``application_received``, ``application_question``, ``renewal_received``) carry a link
# that signs its holder in as the person; ``answer_received`` acknowledges what the person
# wrote; ``staff_*`` and ``test_message`` are for staff. A reminder carries the person's renewal
# link too: the new recipient gets a link of their own in its place (``_hand_over_links``).
READDRESSED_KINDS = frozenset(
    {
        "reminder",
        "conference_invitation",
        "conference_reminder",
        "application_approved",
        "application_declined",
        "application_withdrawn",
        "agreement_terminated",
    }
)
# An emailed sign-in or renewal link's token (mail.outbox.LINK_PATH); a conference answer link
# is the organization's, not the person's, and stays as it is.
_PERSONAL_LINK = re.compile(r"/my/link/([A-Za-z0-9._-]+)")


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

    def scrub(self, value, *, names: bool = True, name: str | None = None):
        """``value`` (text, or JSON made of dicts and lists) with the person replaced: by the
        pseudonym, or their full name by ``name`` if given."""
        if isinstance(value, dict):
            return {key: self.scrub(item, names=names, name=name) for key, item in value.items()}
        if isinstance(value, list):
            return [self.scrub(item, names=names, name=name) for item in value]
        if not isinstance(value, str):
            return value
        if self.email:
            value = self._email.sub(self.new_email, value)
        if names:
            replacement = self.new_name if name is None else name
            for pattern in self._names:
                value = pattern.sub(lambda _match: replacement, value)
            if self._phone:
                value = self._phone.sub("[phone erased]", value)
        return value


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


# --- where the person is written: one list for the download and the erasure ---------------------


@dataclass(frozen=True)
class _Place:
    """Rows of one table where the person may be written."""

    table: sa.Table
    where: object  # an SQL condition on the table
    names: bool  # the full name and the phone are matched too, not only the email


def _places(contact: Contact, matcher: _Matcher, message_ids: list[int]) -> list[_Place]:
    """Where the person is looked for (see the module): ``personal_data`` downloads the rows
    these hold that mention the person, and ``erase_contact`` rewrites the same rows.

    ``message_ids``: the outbox messages to, copying or naming the person (``_outbox_messages``).
    """
    from allies.applications.models import Application, ApplicationMessage, Endorsement
    from allies.mail.models import OutboxMessage

    tables = db.metadata.tables
    organization = contact.organization
    applications = db.select(Application.id).where(Application.organization_id == organization.id)
    places = [
        # The name and phone, where they belong to this organization or speak of this person.
        _Place(tables["audit_event"], _organization_subjects(organization), names=True),
        _Place(tables["outbox_message"], OutboxMessage.id.in_(message_ids), names=True),
        _Place(
            tables["endorsement"],
            sa.or_(
                Endorsement.application_id.in_(applications),
                sa.func.lower(Endorsement.signer_email) == matcher.email,
            ),
            names=True,
        ),
        _Place(
            tables["application_message"],
            ApplicationMessage.application_id.in_(applications),
            names=True,
        ),
    ]
    for table in db.metadata.sorted_tables:
        if "organization_id" in table.c and table.name not in OTHER_PEOPLE:
            places.append(_Place(table, table.c.organization_id == organization.id, names=True))
    # The email, anywhere else it is written.
    if matcher.email:
        for table in db.metadata.sorted_tables:
            if table.name in OTHER_PEOPLE or table.name in NOT_SCANNED:
                continue
            columns = _text_columns(table)
            if columns:
                anywhere = sa.or_(*(_contains(column, matcher.email) for column in columns))
                places.append(_Place(table, anywhere, names=False))
    return places


def _text_columns(table: sa.Table) -> list[sa.Column]:
    return [
        column
        for column in table.columns
        if isinstance(column.type, sa.String | sa.JSON) and not column.primary_key
    ]


def _changes(row, columns: list[sa.Column], matcher: _Matcher, *, names: bool) -> dict:
    """The text columns of ``row`` that mention the person, scrubbed."""
    changed = {}
    for column in columns:
        value = row[column.name]
        if value is None:
            continue
        new = matcher.scrub(value, names=names)
        if new != value:
            changed[column.name] = new
    return changed


def _rows_mentioning(places: list[_Place], matcher: _Matcher) -> dict[str, list[dict]]:
    """The rows of ``places`` that mention the person, whole, by table (each row once, in
    primary-key order)."""
    found: dict[str, dict[tuple, dict]] = {}
    for place in places:
        columns = _text_columns(place.table)
        if not columns:
            continue
        keys = list(place.table.primary_key.columns)
        for row in db.session.execute(sa.select(place.table).where(place.where)).mappings():
            if _changes(row, columns, matcher, names=place.names):
                key = tuple(row[column.name] for column in keys)
                found.setdefault(place.table.name, {})[key] = download_row(place.table.name, row)
    return {table: [rows[key] for key in sorted(rows)] for table, rows in found.items()}


# The download's sections for the tables that have one; other tables go under "other_records".
SECTIONS = {
    "endorsement": "endorsements_signed",
    "application_message": "application_messages_naming_them",
    "organization_note": "staff_notes_naming_them",
    "outbox_message": "emails",
    "audit_event": "audit_events",
}


def personal_data(contact: Contact) -> dict:
    """Everything Allies holds about the person behind ``contact``, ready for JSON.

    Their contact row; the applications they sent; every row erasure would rewrite (``_places``):
    the endorsements signed with their address or naming them, the emails to them, copying them
    or naming them (links in bodies redacted), the audit events that mention them, the staff
    notes and messages on their organization that name them, and anything else of their
    organization's that does (conference answers, agreements' termination reasons...) under
    ``other_records``; and the dates of their sign-in links (never the links).
    """
    from allies.applications.models import Application

    matcher = _Matcher(contact)
    organization = contact.organization
    applications = db.session.scalars(
        db.select(Application).where(Application.contact_id == contact.id).order_by(Application.id)
    ).all()
    sent = {application.id for application in applications}
    links = db.session.scalars(
        db.select(SignInLink).where(SignInLink.contact_id == contact.id).order_by(SignInLink.id)
    ).all()
    message_ids = [message.id for message in _outbox_messages(contact, matcher)]
    found = _rows_mentioning(_places(contact, matcher, message_ids), matcher)
    # The applications they sent are listed whole above; the rest that name them, here.
    others = [row for row in found.pop("application", []) if row["id"] not in sent]
    if others:
        found["application"] = others
    data = {
        "format": "allies-personal-data-2",
        "exported_at": json_value(utcnow()),
        "contact": columns_of(contact),
        "organization": {"id": organization.id, "name": organization.name},
        "applications_sent": [columns_of(application) for application in applications],
    }
    for table, section in SECTIONS.items():
        data[section] = found.pop(table, [])
    data["other_records"] = found
    data["sign_in_links"] = [columns_of(link) for link in links]
    return data


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


# --- mail still waiting ---------------------------------------------------------------------------


def _undelivered(matcher: _Matcher, *, lock: bool = False) -> list:
    """Outbox messages not yet delivered that are to or copy the person."""
    from allies.mail.models import OutboxMessage

    if not matcher.email:
        return []
    query = (
        db.select(OutboxMessage)
        .where(
            OutboxMessage.status.in_(NOT_DELIVERED),
            sa.or_(
                sa.func.lower(OutboxMessage.to_addr) == matcher.email,
                _contains(OutboxMessage.cc_addrs, matcher.email),
            ),
        )
        .order_by(OutboxMessage.id)
    )
    if lock:
        # Rows this session loaded earlier (``_outbox_messages``) are read again under the lock:
        # a sender may have claimed or delivered one meanwhile.
        query = query.with_for_update().execution_options(populate_existing=True)
    return db.session.scalars(query).all()


def _is_to(message, matcher: _Matcher) -> bool:
    return message.to_addr.strip().lower() == matcher.email


def _copies_without(message, matcher: _Matcher) -> list[str]:
    return [
        address.strip().lower()
        for address in message.cc_addrs.split(",")
        if address.strip() and address.strip().lower() != matcher.email
    ]


def _new_recipient(message, contact: Contact, matcher: _Matcher) -> str | None:
    """Who at the organization gets ``message`` (to the person, not yet delivered) instead of
    them, or None: it is then not sent.

    A message of ``READDRESSED_KINDS`` goes to the first address in its copy, or else to another
    enabled primary contact of the organization; the latter only when the message names the
    organization, since the same address may be a contact of another organization too. A
    person's own copy of a reminder is not readdressed: the reminder's recipient has theirs.
    """
    if message.kind not in READDRESSED_KINDS or _is_personal_copy(message):
        return None
    copies = _copies_without(message, matcher)
    if copies:
        return copies[0]
    organization = contact.organization
    name = organization.name.lower()
    if (
        name not in (message.subject or "").lower()
        and name not in (message.body_text or "").lower()
    ):
        return None
    for other in organization.contacts:
        email = (other.email or "").strip().lower()
        if (
            other.role == "primary"
            and other.is_enabled
            and other.erased_at is None
            and email
            and email != matcher.email
        ):
            return email
    return None


def _is_personal_copy(message) -> bool:
    """Whether ``message`` is a reminder's copy for one person (``mail.outbox.personal_readers``):
    it carries their own link and no reminder record points at it. The reminder itself went to
    someone else, so the copy has nobody to go to instead."""
    from allies.reminders.models import Reminder

    if message.kind != "reminder":
        return False
    if not _PERSONAL_LINK.search((message.body_text or "") + (message.body_html or "")):
        return False
    pointed_at = db.session.scalar(
        db.select(Reminder.id).where(Reminder.outbox_message_id == message.id).limit(1)
    )
    return pointed_at is None


def _contact_at(organization: Organization, address: str) -> Contact | None:
    """The enabled contact of ``organization`` with ``address``, if any."""
    for other in organization.contacts:
        if other.is_enabled and other.erased_at is None and other.email.lower() == address:
            return other
    return None


def _readdress(message, address: str, contact: Contact, matcher: _Matcher) -> None:
    """Send ``message`` to ``address`` instead of the person (who leaves its copy too)."""
    recipient = _contact_at(contact.organization, address)
    message.cc_addrs = ", ".join(
        [copy for copy in _copies_without(message, matcher) if copy != address]
    )
    message.to_addr = address
    message.status = "pending"
    message.last_error = ""
    # The person's name in these messages is the greeting: it now greets the new recipient.
    if recipient is not None and recipient.name:
        message.subject = matcher.scrub(message.subject, name=recipient.name)
        message.body_text = matcher.scrub(message.body_text, name=recipient.name)
        message.body_html = matcher.scrub(message.body_html, name=str(escape(recipient.name)))
    _hand_over_links(message, recipient)


def _hand_over_links(message, recipient: Contact | None) -> None:
    """Replace the person's sign-in or renewal links in a readdressed ``message``.

    A reminder's renewal link becomes one of the new recipient's own for the same agreement; any
    other such link, or one for an address that is no contact, is redacted (the reminder says to
    reply for a new link). The person's links die with the erasure anyway: this keeps a dead key
    to their account out of somebody else's mailbox, and gives the organization a working one.
    """
    from allies.mail.outbox import REDACTED_TOKEN
    from allies.organizations.access import make_link_token
    from allies.reminders.models import Reminder

    texts = (message.body_text or "") + (message.body_html or "")
    if not _PERSONAL_LINK.search(texts):
        return
    replacement = REDACTED_TOKEN
    reminder = db.session.scalar(
        db.select(Reminder).where(Reminder.outbox_message_id == message.id)
    )
    if message.kind == "reminder" and reminder is not None and recipient is not None:
        replacement = make_link_token(recipient, "renewal", agreement=reminder.agreement)

    def replace(match):
        return "/my/link/" + replacement

    message.body_text = _PERSONAL_LINK.sub(replace, message.body_text or "")
    message.body_html = _PERSONAL_LINK.sub(replace, message.body_html or "")


def _kinds(messages) -> str:
    counts = Counter(message.kind.replace("_", " ") for message in messages)
    return ", ".join(f"{kind} ({n})" if n > 1 else kind for kind, n in sorted(counts.items()))


# --- erasure -----------------------------------------------------------------------------------


def erasure_warnings(contact: Contact, today: date) -> list[str]:
    """What the admin should know before erasing ``contact`` (nothing here refuses it)."""
    from allies.agreements.queries import agreements_of
    from allies.agreements.standing import Term, grace_days_setting, is_listed, term_in_force

    warnings = []
    organization = contact.organization
    other_primaries = [
        c
        for c in organization.contacts
        if c.role == "primary" and c.is_enabled and c.id != contact.id
    ]
    in_force = term_in_force(agreements_of(organization.id), today)
    listed = in_force is not None and is_listed(Term.of(in_force), today, grace_days_setting())
    if contact.role == "primary" and contact.is_enabled and not other_primaries and listed:
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
    matcher = _Matcher(contact)
    readdressed: dict[str, list] = {}
    not_sent = []
    for message in _undelivered(matcher):
        if _is_to(message, matcher):
            address = _new_recipient(message, contact, matcher)
            if address is None:
                not_sent.append(message)
            else:
                readdressed.setdefault(address, []).append(message)
    for address, messages in readdressed.items():
        warnings.append(
            f"{len(messages)} email(s) to them not yet sent, for {organization.name} "
            f"({_kinds(messages)}), will go to {address} instead."
        )
    if not_sent:
        warnings.append(
            f"{len(not_sent)} email(s) to them not yet sent will not be sent "
            f"({_kinds(not_sent)}): sign-in and status links are theirs alone, and other "
            "emails go to someone else only if one is in copy or another primary contact "
            "is enabled."
        )
    return warnings


@dataclass
class Erasure:
    """What an erasure changed."""

    pseudonym: str
    rows: dict[str, int] = field(default_factory=dict)
    messages_cancelled: int = 0
    messages_readdressed: int = 0
    files_rewritten: int = 0
    file_errors: list[str] = field(default_factory=list)

    def count(self, table: str, n: int = 1) -> None:
        self.rows[table] = self.rows.get(table, 0) + n


def _scrub_rows(place: _Place, matcher: _Matcher, erasure: Erasure) -> None:
    """Rewrite the text columns of the rows of ``place`` that mention the person."""
    table = place.table
    columns = _text_columns(table)
    if not columns:
        return
    keys = list(table.primary_key.columns)
    for row in db.session.execute(sa.select(*keys, *columns).where(place.where)).mappings().all():
        changed = _changes(row, columns, matcher, names=place.names)
        if changed:
            db.session.execute(
                sa.update(table)
                .where(*(key == row[key.name] for key in keys))
                .values(**changed)
                .execution_options(synchronize_session=False)
            )
            erasure.count(table.name)


def _handle_undelivered(contact: Contact, matcher: _Matcher, erasure: Erasure) -> None:
    """Emails not yet delivered: to the person, readdressed or not sent (``_new_recipient``);
    copying them, sent without them.

    A message a sender is delivering right now (its lease still running) cannot be changed under
    it: the erasure is refused until it is done.
    """
    now = utcnow()
    for message in _undelivered(matcher, lock=True):
        if message.status == "sending" and message.claimed_until and message.claimed_until > now:
            raise OperationError(
                "An email to this contact is being sent right now; try again in a minute."
            )
        message.claim_token = None
        message.claimed_until = None
        if _is_to(message, matcher):
            address = _new_recipient(message, contact, matcher)
            if address is None:
                message.status = "failed"
                message.last_error = NOT_SENT_REASON
                erasure.messages_cancelled += 1
            else:
                _readdress(message, address, contact, matcher)
                erasure.messages_readdressed += 1
        else:
            message.cc_addrs = ", ".join(_copies_without(message, matcher))
            message.status = "pending"
    db.session.flush()


@operation
def erase_contact(contact: Contact, *, staff, reason: str, ip: str | None = None) -> Erasure:
    """Replace the person behind ``contact`` by a pseudonym everywhere (see the module). Commits.

    Refused when the contact is already erased, or while an email to them is being delivered.
    The audit event says who erased which contact and why; the reason is pseudonymised too.
    """
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
    # Before readdressing: a message readdressed no longer names them, but its .eml may.
    touched_messages = [message.id for message in _outbox_messages(contact, matcher)]
    _handle_undelivered(contact, matcher, erasure)
    for place in _places(contact, matcher, touched_messages):
        _scrub_rows(place, matcher, erasure)

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
