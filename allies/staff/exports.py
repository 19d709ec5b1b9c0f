"""What staff download from /staff/export: CSV tables and a JSON dump of the whole programme.

Each function here yields rows (or JSON text) from queries read in batches, so a download of
100,000 rows streams instead of being built in memory; the views only wrap them in a response.
Every download is audited first (``record_download``): who took which file, when, from where.

The JSON dump holds everything public and private about the programme, nested where a thing
belongs to another (an organization's contacts and notes, an application's endorsement and
messages, an agreement's reminders and derived status), then every other table flat. What it
leaves out is listed in ``NOT_EXPORTED`` (whole tables: link nonces and the app's own machinery,
such as rate limits, the scheduler lease, the page cache's version) and ``SECRET_COLUMNS``
(password hashes, session versions, claim tokens). Outbox bodies go through
``redact_link_tokens``, so no sign-in link travels. ``download_row`` applies both to every row,
here and in a contact's personal-data download.
"""

import json
from collections.abc import Iterable, Iterator, Mapping
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import joinedload, selectinload

from allies.agreements.models import Agreement
from allies.agreements.standing import describe, grace_days_setting, status_of
from allies.applications.models import Application
from allies.extensions import db
from allies.mail.outbox import redact_link_tokens
from allies.organizations.models import Contact, Organization
from allies.staff.audit import record_event
from allies.staff.settings import all_settings
from allies.timeutil import utcnow

BATCH = 500

# The downloads of /staff/export: kind -> (title, who may take it).
DOWNLOADS = {
    "allies": ("Allies (CSV)", "reviewer"),
    "agreements": ("Agreements (CSV)", "reviewer"),
    "applications": ("Applications (CSV)", "reviewer"),
    "contacts": ("Contacts (CSV)", "admin"),
    "programme": ("Everything (JSON)", "admin"),
}

# Tables the JSON dump leaves out, and why.
NOT_EXPORTED = {
    "sign_in_link": "link nonces are keys to contacts' accounts",
    "rate_limit_counter": "request counters, not programme data",
    "scheduler_lease": "which process runs the scheduler",
    "content_version": "the public page cache's version",
    "alembic_version": "the schema's migration",
}
# Columns no download holds: keys to accounts and the sender's bookkeeping. The one list for
# the JSON dump and a contact's personal data (organizations/personal_data.py): see download_row.
SECRET_COLUMNS = {
    "staff_user": {"password_hash", "session_version"},
    "contact": {"session_version"},
    "outbox_message": {"claim_token", "claimed_until"},
    "sign_in_link": {"nonce"},
}


def export_filename(kind: str, today: date) -> str:
    """The file a download is saved as: what it is and the alliance's date."""
    extension = "json" if kind == "programme" else "csv"
    name = "allies" if kind == "allies" else f"allies-{kind}"
    return f"{name}-{today.isoformat()}.{extension}"


def record_download(kind: str, filename: str, *, staff, ip: str | None = None) -> None:
    """Audit one download (who, which file, when, from where). Commits."""
    record_event(
        None,
        "downloaded",
        staff=staff,
        subject_type="export",
        to_state=kind,
        reason=filename,
        ip=ip,
    )
    db.session.commit()


def _batched(query):
    """Rows of an ORM ``query`` fetched BATCH at a time (a server-side cursor on PostgreSQL)."""
    return db.session.scalars(query.execution_options(yield_per=BATCH))


# --- CSV tables ----------------------------------------------------------------------------------

ALLIES_HEADER = (
    "name",
    "website",
    "type",
    "city",
    "region",
    "country",
    "status",
    "term_start",
    "term_end",
    "standing",
)
# Bulk contact data is for admins (like the Contacts CSV): reviewers' Allies CSV goes without.
ALLIES_CONTACT_HEADER = ("primary_contact", "primary_email")


def allies_csv(listings: Iterable, *, staff) -> tuple[tuple[str, ...], Iterator[tuple]]:
    """The header and rows of the Allies CSV that ``staff`` may take: one row per Ally from
    (organization, standing.Listing) pairs, as /staff/allies lists them, with the primary
    contact's name and email for admins only."""
    with_contacts = bool(staff.is_admin)
    header = ALLIES_HEADER + (ALLIES_CONTACT_HEADER if with_contacts else ())
    return header, _allies_rows(listings, with_contacts)


def _allies_rows(listings: Iterable, with_contacts: bool) -> Iterator[tuple]:
    for org, entry in listings:
        row = (
            org.name,
            org.website,
            org.type.name if org.type else "",
            org.city,
            org.region,
            org.country,
            entry.status,
            entry.start,
            entry.end,
            entry.summary,
        )
        if with_contacts:
            contact = org.contact_for("primary")
            row += (contact.name, contact.email) if contact else ("", "")
        yield row


AGREEMENTS_HEADER = (
    "agreement_id",
    "organization_id",
    "organization",
    "start",
    "end",
    "status",
    "standing",
    "terminated_on",
    "termination_reason",
    "renews_agreement_id",
    "renewed_by_agreement_id",
    "created_at",
)


def agreements_table(today: date) -> Iterator[tuple]:
    """Every term ever made, by organization then start, with its status from standing.py."""
    grace_days = grace_days_setting()
    query = (
        db.select(Agreement)
        .options(joinedload(Agreement.organization), selectinload(Agreement.successor))
        .order_by(Agreement.organization_id, Agreement.start_date, Agreement.id)
    )
    for agreement in _batched(query):
        successor = agreement.successor
        yield (
            agreement.id,
            agreement.organization_id,
            agreement.organization.name,
            agreement.start_date,
            agreement.end_date,
            status_of(agreement, today, grace_days),
            describe(agreement, today, grace_days),
            agreement.terminated_on,
            agreement.termination_reason,
            agreement.previous_id,
            successor.id if successor is not None else "",
            agreement.created_at,
        )


APPLICATIONS_HEADER = (
    "application_id",
    "kind",
    "state",
    "organization_id",
    "organization",
    "submitted_at",
    "decided_at",
    "decided_by",
    "decision_reason",
    "renews_agreement_id",
)


def applications_table() -> Iterator[tuple]:
    """Every application and renewal, oldest first: kind, state, dates, decision, organization."""
    query = (
        db.select(Application)
        .options(joinedload(Application.organization), joinedload(Application.decided_by))
        .order_by(Application.submitted_at, Application.id)
    )
    for application in _batched(query):
        yield (
            application.id,
            application.kind,
            application.state,
            application.organization_id,
            application.organization.name,
            application.submitted_at,
            application.decided_at,
            application.decided_by.label if application.decided_by else "",
            application.decision_reason,
            application.renews_agreement_id,
        )


CONTACTS_HEADER = (
    "contact_id",
    "organization_id",
    "organization",
    "role",
    "name",
    "title",
    "email",
    "phone",
    "enabled",
    "erased_at",
    "created_at",
)


def contacts_table() -> Iterator[tuple]:
    """Every contact of every organization, removed and erased ones included (flagged)."""
    query = (
        db.select(Contact)
        .options(joinedload(Contact.organization))
        .order_by(Contact.organization_id, Contact.id)
    )
    for contact in _batched(query):
        yield (
            contact.id,
            contact.organization_id,
            contact.organization.name,
            contact.role,
            contact.name,
            contact.title,
            contact.email,
            contact.phone,
            "yes" if contact.is_enabled else "no",
            contact.erased_at,
            contact.created_at,
        )


# --- the JSON dump -------------------------------------------------------------------------------


def json_value(value):
    """``value`` as JSON holds it: dates ISO 8601, timestamps ISO 8601 in UTC (with a Z)."""
    if isinstance(value, datetime):
        return value.isoformat() + ("Z" if value.tzinfo is None else "")
    if isinstance(value, date):
        return value.isoformat()
    return value


def download_row(table_name: str, values: Mapping) -> dict:
    """A row of ``table_name`` as every download holds it: JSON-ready values, the table's
    SECRET_COLUMNS left out, and an outbox message's emailed link tokens redacted."""
    skipped = SECRET_COLUMNS.get(table_name, set())
    row = {key: json_value(value) for key, value in values.items() if key not in skipped}
    if table_name == "outbox_message":
        for key in ("body_text", "body_html"):
            if key in row:
                row[key] = redact_link_tokens(row[key])
    return row


def columns_of(obj, exclude: Iterable[str] = ()) -> dict:
    """Every column of a model instance as ``download_row`` holds it, ``exclude`` left out too."""
    values = {
        attr.key: getattr(obj, attr.key)
        for attr in sa.inspect(type(obj)).column_attrs
        if attr.key not in exclude
    }
    return download_row(obj.__tablename__, values)


def _organizations() -> Iterator[dict]:
    from allies.organizations.models import OrganizationNote

    notes_by_org: dict[int, list[dict]] = {}
    # Notes are few beside organizations; one pass keeps the organization query a plain stream.
    for note in _batched(db.select(OrganizationNote).order_by(OrganizationNote.id)):
        notes_by_org.setdefault(note.organization_id, []).append(columns_of(note))
    query = (
        db.select(Organization)
        .options(selectinload(Organization.contacts))
        .order_by(Organization.id)
    )
    for org in _batched(query):
        yield {
            **columns_of(org),
            "contacts": [columns_of(contact) for contact in org.contacts],
            "notes": notes_by_org.get(org.id, []),
        }


def _applications() -> Iterator[dict]:
    query = (
        db.select(Application)
        .options(selectinload(Application.endorsement), selectinload(Application.messages))
        .order_by(Application.id)
    )
    for application in _batched(query):
        endorsement = application.endorsement
        yield {
            **columns_of(application),
            "endorsement": columns_of(endorsement) if endorsement is not None else None,
            "messages": [columns_of(message) for message in application.messages],
        }


def _agreements(today: date) -> Iterator[dict]:
    grace_days = grace_days_setting()
    query = (
        db.select(Agreement)
        .options(selectinload(Agreement.successor), selectinload(Agreement.reminders))
        .order_by(Agreement.id)
    )
    for agreement in _batched(query):
        yield {
            **columns_of(agreement),
            "status": str(status_of(agreement, today, grace_days)),
            "standing": describe(agreement, today, grace_days),
            "reminders": [columns_of(reminder) for reminder in agreement.reminders],
        }


def _table_rows(table: sa.Table) -> Iterator[dict]:
    """Every row of ``table`` (by primary key), as ``download_row`` holds it."""
    query = sa.select(table).order_by(*table.primary_key.columns)
    result = db.session.execute(query.execution_options(yield_per=BATCH)).mappings()
    for row in result:
        yield download_row(table.name, row)


# Tables written nested into another section of the dump.
NESTED = {
    "organization": "organizations",
    "contact": "organizations",
    "organization_note": "organizations",
    "application": "applications",
    "endorsement": "applications",
    "application_message": "applications",
    "agreement": "agreements",
    "reminder": "agreements",
    "setting": "settings",
}


class _Items:
    """A section of the dump written as a JSON array, one item at a time."""

    def __init__(self, items: Iterable):
        self.items = items


def _dump_json(value) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def programme_dump(today: date) -> Iterator[str]:
    """The JSON text of the whole programme, in pieces (see the module's docstring)."""
    if db.engine.dialect.name == "postgresql":
        # One snapshot for every section: rows committed meanwhile appear in none of them.
        db.session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    sections: list[tuple[str, object]] = [
        ("format", "allies-export-1"),
        ("exported_at", json_value(utcnow())),
        ("today", today.isoformat()),
        ("not_exported", NOT_EXPORTED),
        ("settings", all_settings()),
        ("organizations", _Items(_organizations())),
        ("applications", _Items(_applications())),
        ("agreements", _Items(_agreements(today))),
    ]
    for table in db.metadata.sorted_tables:
        if table.name not in NESTED and table.name not in NOT_EXPORTED:
            sections.append((table.name, _Items(_table_rows(table))))
    yield "{"
    for index, (key, value) in enumerate(sections):
        yield ("," if index else "") + "\n" + _dump_json(key) + ": "
        if isinstance(value, _Items):
            yield "["
            for position, item in enumerate(value.items):
                yield ("," if position else "") + "\n  " + _dump_json(item)
            yield "\n]"
        else:
            yield _dump_json(value)
    yield "\n}\n"
