"""The daily reminder sweep: decide from the agreements what is due, and queue it exactly once.

``run_sweep(today)`` is the whole daily job. It looks only at agreements with a reminder due in
the days since the last completed sweep (indexed range queries on ``agreement.end_date``), so its
work grows with what is due, not with the table. Each reminder is a ``reminder`` row, unique on
(agreement, kind), written in one transaction with its outbox message: a second sweep, at the
same time or later, adds nothing.

Reminders are queued in batches (``REMINDER_BATCH_SIZE``, default 500, a transaction each): the
batch's reminder rows go in with one ``INSERT … ON CONFLICT DO NOTHING … RETURNING``, and only the
rows it returns, those no other sweep holds, get a message. A batch commits its rows and their
messages together or not at all; a batch that fails is retried one reminder at a time, so one bad
agreement is reported without holding back the others.
"""

import json
import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from types import SimpleNamespace
from typing import NamedTuple

from flask import current_app
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _
from sqlalchemy import Integer, any_, bindparam, func, or_, text, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import selectinload

from allies.agreements.models import Agreement
from allies.agreements.standing import (
    days_to_end,
    ending_within_clause,
    grace_end,
    has_ended,
    live_clause,
    long_date,
)
from allies.applications.models import OPEN_STATES, Application, ApplicationKind, ApplicationState
from allies.bulk import insert_rows, update_rows
from allies.extensions import db
from allies.i18n import in_language
from allies.mail.models import OutboxMessage
from allies.mail.outbox import (
    EmailTemplate,
    Reader,
    insert_emails,
    personal_readers,
    personal_values,
    public_url,
    queue_email,
    reader_of,
    site_path,
)
from allies.organizations.access import make_link_tokens
from allies.organizations.models import Contact, Organization
from allies.reminders.lock import insert_ignoring_conflict
from allies.reminders.models import Reminder, StaffDigest, SweepRun
from allies.reminders.schedule import (
    END_DAY,
    LAPSE,
    STAFF_DIGEST,
    days_before_end,
    digest_is_due,
    due_dates,
    end_date_ranges,
    is_renewal_prompt,
    latest_due,
    normalize_offsets,
    sweep_window,
    week_start,
)
from allies.staff.queries import staff_recipients
from allies.staff.settings import all_settings
from allies.timeutil import utcnow

log = logging.getLogger(__name__)

STALE_AFTER = timedelta(hours=36)
DIGEST_ENDING_DAYS = 30
DIGEST_LIST_LIMIT = 25
_CHUNK = 500
# Reminders queued per transaction, unless the REMINDER_BATCH_SIZE setting says otherwise.
BATCH_SIZE = 500


class SweepLine(NamedTuple):
    """One message the sweep queued (or, in a dry run, would queue), with the addresses that
    got a copy of their own (a renewal prompt's signatory)."""

    agreement_id: int | None
    kind: str
    to_addr: str
    subject: str
    copies: tuple[str, ...] = ()

    def __str__(self) -> str:
        target = f"agreement {self.agreement_id}" if self.agreement_id is not None else "staff"
        copies = f" (and a copy of its own to {', '.join(self.copies)})" if self.copies else ""
        return f"{self.kind} {target} to {self.to_addr}{copies}: {self.subject}"


@dataclass
class SweepResult:
    """What one sweep did: the messages, what it skipped and why, and any errors."""

    as_of: date
    dry_run: bool
    window: tuple[date, date]
    lines: list[SweepLine] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    run_id: int | None = None

    @property
    def count(self) -> int:
        """How many reminders and digests were queued (or would be), their copies apart."""
        return len(self.lines)

    @property
    def copy_count(self) -> int:
        """How many copies of reminders were queued (or would be), each a message of its own."""
        return sum(len(line.copies) for line in self.lines)

    def summary(self) -> dict:
        """The run's summary as stored on its SweepRun row."""
        return {
            "window": [self.window[0].isoformat(), self.window[1].isoformat()],
            "queued": dict(Counter(line.kind for line in self.lines)),
            "copies": self.copy_count,
            "skipped": dict(self.skipped),
            "errors": self.errors[:20],
        }


@dataclass
class _Due:
    """A reminder the sweep has decided to send, with what the message needs."""

    agreement_id: int
    kind: str
    due_on: date
    end_date: date
    organization_name: str
    contact_id: int
    contact_email: str
    contact_name: str
    renewal_pending: bool
    # Who else gets the reminder, each in a message of their own with their own link
    # (personal_readers): a renewal prompt's signatory.
    copies: list[Reader] = field(default_factory=list)
    # The contact's language (contact.language): the reminder is written in it.
    contact_language: str = "en"

    @property
    def reader(self) -> Reader:
        """The primary contact, to whom the reminder (the one its record points at) goes."""
        return Reader(
            self.contact_id, self.contact_email, self.contact_name, "primary", self.contact_language
        )


def run_sweep(today: date, *, dry_run: bool = False, batch_size: int | None = None) -> SweepResult:
    """Queue every reminder and the staff digest due by ``today``. Commits per batch.

    A batch is ``batch_size`` reminders (default: the REMINDER_BATCH_SIZE setting, else
    BATCH_SIZE), written with their messages in one transaction. With ``dry_run`` nothing is
    written: the result lists what would be queued.
    """
    size = max(int(batch_size or current_app.config.get("REMINDER_BATCH_SIZE") or BATCH_SIZE), 1)
    started_at = utcnow()
    settings = all_settings()
    offsets = normalize_offsets(settings["reminder_offsets"])
    grace_days = int(settings["grace_days"])
    last_as_of, last_started_at = _last_completed()
    window = sweep_window(today, last_as_of)
    # A new installation looks no further back for declined renewals than for reminders.
    released_since = last_started_at or datetime.combine(window[0], datetime.min.time())
    result = SweepResult(as_of=today, dry_run=dry_run, window=window)

    if db.session.get_bind().dialect.name == "postgresql":
        # The candidate queries read a few index ranges: starting a parallel worker costs more
        # than the whole read (about 20 ms against 2 at 1,000,000 agreements). For this
        # transaction only.
        db.session.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
    due = _due_reminders(today, window, grace_days, offsets, result, released_since)
    if dry_run:
        result.lines.extend(_line(item, today) for item in due)
    elif due:
        # Recorded before the first batch: a run that dies mid-burst shows as unfinished.
        _record_run(result, started_at)
        for batch in _chunks(due, size):
            _queue_batch_or_each(batch, today, settings, result)

    try:
        _sweep_digest(today, settings, result)
    except Exception as exc:
        db.session.rollback()
        log.exception("the staff digest failed")
        result.errors.append(f"{STAFF_DIGEST}: {exc!r}")

    if not dry_run:
        # A run with errors is not complete: the next one covers its days again.
        _record_run(result, started_at, finished_at=None if result.errors else utcnow())
    return result


def _record_run(result: SweepResult, started_at: datetime, finished_at=None) -> None:
    """Write the run's SweepRun row (created on the first call, updated after) and commit."""
    values = {
        "finished_at": finished_at,
        "queued": result.count,
        "summary": json.dumps(result.summary()),
    }
    if result.run_id is None:
        run = SweepRun(as_of=result.as_of, started_at=started_at, **values)
        db.session.add(run)
        db.session.flush()
        result.run_id = run.id
    else:
        db.session.execute(update(SweepRun).where(SweepRun.id == result.run_id).values(**values))
    db.session.commit()


def _last_completed() -> tuple[date | None, datetime | None]:
    """The day the most recently completed (non-dry) sweep ran as of, and when it started."""
    row = db.session.execute(
        db.select(SweepRun.as_of, SweepRun.started_at)
        .where(SweepRun.finished_at.is_not(None))
        .order_by(SweepRun.finished_at.desc(), SweepRun.id.desc())
        .limit(1)
    ).first()
    return (row.as_of, row.started_at) if row is not None else (None, None)


def last_completed_as_of() -> date | None:
    """The day the most recently completed (non-dry) sweep ran as of, or None."""
    return _last_completed()[0]


def last_completed_started_at() -> datetime | None:
    """When the most recently completed (non-dry) sweep started, or None."""
    return _last_completed()[1]


def completed_sweep_on(day: date) -> bool:
    """Whether a sweep as of ``day`` has completed (the scheduler's catch-up check)."""
    return (
        db.session.scalar(
            db.select(SweepRun.id)
            .where(SweepRun.as_of == day, SweepRun.finished_at.is_not(None))
            .limit(1)
        )
        is not None
    )


def any_sweep_completed() -> bool:
    """Whether any sweep has ever completed here."""
    return (
        db.session.scalar(db.select(SweepRun.id).where(SweepRun.finished_at.is_not(None)).limit(1))
        is not None
    )


def _chunks(items: list, size: int = _CHUNK):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _id_chunks(ids) -> list[list[int]]:
    """``ids`` in lists for ``_one_of``: all at once on PostgreSQL, where they travel as one
    array parameter, and in chunks elsewhere (SQLite caps the parameters of a statement)."""
    ids = list(ids)
    if db.session.get_bind().dialect.name == "postgresql":
        return [ids] if ids else []
    return list(_chunks(ids))


def _one_of(column, ids: list[int]):
    """``column IN ids``: ``= ANY(array)`` on PostgreSQL, one parameter that the server plans and
    the driver parses once, rather than a statement of thousands of parameters."""
    if db.session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, ids, type_=postgresql.ARRAY(Integer)))
    return column.in_(ids)


def candidate_query(window: tuple[date, date], grace_days: int, offsets):
    """The select of (id, end date) of live agreements with a reminder due in ``window``, or None.

    One range per reminder offset on ``agreement.end_date`` (merged where they overlap), OR-ed:
    both databases answer it with index range scans (bench/reminders.py prints the plan).
    """
    ranges = end_date_ranges(window[0], window[1], grace_days, offsets)
    if not ranges:
        return None
    return db.select(Agreement.id, Agreement.end_date).where(
        or_(*(Agreement.end_date.between(low, high) for low, high in ranges)),
        live_clause(),
    )


def released_query(since: datetime | None):
    """The select of (id, end date) of live agreements whose renewal was declined or withdrawn
    since ``since`` (the start of the last completed sweep): a renewal prompt held back while
    that renewal waited may now be due."""
    query = (
        db.select(Agreement.id, Agreement.end_date)
        .join(Application, Application.renews_agreement_id == Agreement.id)
        .where(
            Application.kind == ApplicationKind.RENEWAL,
            Application.state.in_((ApplicationState.DECLINED, ApplicationState.WITHDRAWN)),
            live_clause(),
        )
        .distinct()
    )
    if since is not None:
        query = query.where(Application.decided_at >= since)
    return query


def _candidates(window: tuple[date, date], grace_days: int, offsets) -> list[tuple[int, date]]:
    """(id, end date) of live agreements with a reminder due in ``window``."""
    query = candidate_query(window, grace_days, offsets)
    return [] if query is None else list(db.session.execute(query).tuples())


def _due_reminders(
    today: date,
    window: tuple[date, date],
    grace_days: int,
    offsets,
    result: SweepResult,
    released_since: datetime | None = None,
) -> list[_Due]:
    """The reminders to send today: per agreement only the latest that is due, never one that is
    earlier than (or the same as) a reminder it already has, and no renewal prompt while a
    renewal waits for review. A prompt held back that way is sent by the first sweep after the
    renewal is declined or withdrawn, whenever it fell due."""
    wanted: dict[int, tuple[str, date, date]] = {}
    for agreement_id, end in _candidates(window, grace_days, offsets):
        found = latest_due(end, grace_days, offsets, today)
        if found is not None and found[1] >= window[0]:
            wanted[agreement_id] = (found[0], found[1], end)
    for agreement_id, end in db.session.execute(released_query(released_since)).tuples():
        found = latest_due(end, grace_days, offsets, today)
        if found is not None and is_renewal_prompt(found[0]):
            wanted[agreement_id] = (found[0], found[1], end)
    if not wanted:
        return []

    latest_sent: dict[int, date] = {}
    pending_renewal: set[int] = set()
    for chunk in _id_chunks(wanted):
        latest_sent.update(
            db.session.execute(
                db.select(Reminder.agreement_id, func.max(Reminder.due_on))
                .where(_one_of(Reminder.agreement_id, chunk))
                .group_by(Reminder.agreement_id)
            ).all()
        )
        pending_renewal.update(
            db.session.scalars(
                db.select(Application.renews_agreement_id).where(
                    Application.kind == ApplicationKind.RENEWAL,
                    Application.state.in_(OPEN_STATES),
                    _one_of(Application.renews_agreement_id, chunk),
                )
            )
        )

    to_load = []
    for agreement_id, (kind, due_on, _end) in wanted.items():
        if agreement_id in latest_sent and latest_sent[agreement_id] >= due_on:
            continue  # sent already, or a later reminder went out
        if is_renewal_prompt(kind) and agreement_id in pending_renewal:
            result.skipped["renewal waiting for review"] += 1
            continue
        to_load.append(agreement_id)

    due: list[_Due] = []
    for chunk in _id_chunks(to_load):
        # Plain rows rather than ORM objects: a burst reads thousands of organizations.
        agreements = db.session.execute(
            db.select(Agreement.id, Organization.id, Organization.name)
            .join(Organization, Agreement.organization_id == Organization.id)
            .where(_one_of(Agreement.id, chunk))
        ).all()
        contacts: dict[int, list] = {}
        for contact in db.session.execute(
            db.select(
                Contact.id,
                Contact.organization_id,
                Contact.role,
                Contact.name,
                Contact.email,
                Contact.is_enabled,
                Contact.language,
            )
            .where(_one_of(Contact.organization_id, [row[1] for row in agreements]))
            .order_by(Contact.id)
        ):
            contacts.setdefault(contact.organization_id, []).append(contact)
        for agreement_id, organization_id, organization_name in agreements:
            # The organization's own rule for who is primary and who signs, on these rows.
            holder = SimpleNamespace(contacts=contacts.get(organization_id, []))
            contact = Organization.contact_for(holder, "primary")
            if contact is None or not contact.email:
                result.skipped["no contact"] += 1
                continue
            kind, due_on, end = wanted[agreement_id]
            signatory = Organization.contact_for(holder, "signatory")
            item = _Due(
                agreement_id=agreement_id,
                kind=kind,
                due_on=due_on,
                end_date=end,
                organization_name=organization_name,
                contact_id=contact.id,
                contact_email=contact.email,
                contact_name=contact.name,
                contact_language=contact.language,
                renewal_pending=agreement_id in pending_renewal,
            )
            if is_renewal_prompt(kind) and signatory is not None:
                # The signatory signs the renewal, so prompts go to them too: a copy of their
                # own, the prompt's link acting as the contact it is sent to.
                item.copies = personal_readers(item.reader, [reader_of(signatory)])[1:]
            due.append(item)
    due.sort(key=lambda item: (item.end_date, item.agreement_id))
    return due


# The values of a reminder that are its own: the rest repeats across the reminders of a burst.
MERGED_FIELDS = ("contact_name", "organization_name", "renewal_url")


def _days(count: int) -> str:
    return _days_in(str(get_locale()), count)


@lru_cache(maxsize=512)
def _days_in(_language: str, count: int) -> str:
    """``count`` days in words, in ``_language`` (the current one: it keys the cache)."""
    return ngettext("%(num)d day", "%(num)d days", count)


# Stands for the organization's name in a subject made once for many (no name holds it).
_NAME_STAND_IN = "\x00name\x00"


def reminder_subject(kind: str, organization_name: str, end: date, today: date) -> str:
    """The subject line of a reminder of ``kind`` sent on ``today`` (in the current language:
    ``_reminder_email`` renders it in the contact's). Made once per language, kind and dates,
    the organization's name put in after: a burst has thousands with the same words."""
    if "\x00" in organization_name:
        return _subject(kind, organization_name, end, today)
    made = _subject_in(str(get_locale()), kind, end, today)
    return made.replace(_NAME_STAND_IN, organization_name)


@lru_cache(maxsize=512)
def _subject_in(_language: str, kind: str, end: date, today: date) -> str:
    return _subject(kind, _NAME_STAND_IN, end, today)


def _subject(kind: str, name: str, end: date, today: date) -> str:
    if kind == LAPSE:
        return _("%(name)s: your Ally agreement has lapsed", name=name)
    left = days_to_end(end, today)
    if has_ended(end, today):  # an end-day reminder sent late, after downtime
        return _("%(name)s: your Ally agreement ended on %(day)s", name=name, day=long_date(end))
    if kind == END_DAY or left == 0:
        return _("%(name)s: your Ally agreement ends today", name=name)
    return _(
        "%(name)s: your Ally agreement ends in %(days)s (%(day)s)",
        name=name,
        days=_days(left),
        day=long_date(end),
    )


def renewal_url(token: str, agreement_id: int) -> str:
    """The absolute URL of a renewal link (the sweep has no request).

    Built once per base URL with stand-ins, then filled in: building two URLs per message was
    a tenth of a burst. A token with characters a URL would quote is built the long way.
    """
    pattern = _renewal_url_pattern(current_app.config["PUBLIC_BASE_URL"])
    if pattern is None or not _URL_SAFE_TOKEN.fullmatch(token):
        return _built_renewal_url(token, agreement_id)
    return pattern.replace(_ID_STAND_IN, str(agreement_id)).replace(_TOKEN_STAND_IN, token)


def _built_renewal_url(token: str, agreement_id: int) -> str:
    return public_url(
        "portal.follow_link",
        token=token,
        next=site_path("portal.renew", agreement_id=agreement_id),
    )


# Link tokens (itsdangerous, URL-safe base64 and dots) need no quoting in a URL.
_URL_SAFE_TOKEN = re.compile(r"[A-Za-z0-9_.\-]+")
_TOKEN_STAND_IN, _ID_STAND_IN = "Tokenstandin", "9876543210123"


@lru_cache(maxsize=8)
def _renewal_url_pattern(_base_url: str) -> str | None:
    """The renewal URL with stand-ins for the token and the agreement, for ``renewal_url`` to
    fill in; None if filling it in would not give what building it gives."""
    pattern = _built_renewal_url(_TOKEN_STAND_IN, int(_ID_STAND_IN))
    if pattern.count(_TOKEN_STAND_IN) != 1 or pattern.count(_ID_STAND_IN) != 1:
        return None
    sample = pattern.replace(_ID_STAND_IN, "42").replace(_TOKEN_STAND_IN, "aB3.x-_Z9")
    return pattern if sample == _built_renewal_url("aB3.x-_Z9", 42) else None


def _line(item: _Due, today: date) -> SweepLine:
    subject = reminder_subject(item.kind, item.organization_name, item.end_date, today)
    copies = tuple(reader.email for reader in item.copies)
    return SweepLine(item.agreement_id, item.kind, item.contact_email, subject, copies)


def _queue_batch_or_each(batch: list[_Due], today: date, settings: dict, result) -> None:
    """Queue ``batch`` in one transaction; if that fails, each reminder in a transaction of its
    own, so that only the agreements that fail are reported (and left to the next run)."""
    try:
        queued, existing = _queue_batch(batch, today, settings)
    except Exception as exc:
        db.session.rollback()
        if len(batch) > 1:
            log.warning("a batch of %d reminders failed: queuing them one at a time", len(batch))
            for item in batch:
                _queue_batch_or_each([item], today, settings, result)
            return
        (item,) = batch
        log.exception("reminder %s for agreement %s failed", item.kind, item.agreement_id)
        result.errors.append(f"{item.kind} agreement {item.agreement_id}: {exc!r}")
        return
    result.lines.extend(_line(item, today) for item in queued)
    if existing:
        result.skipped["already queued"] += existing


def _queue_batch(batch: list[_Due], today: date, settings: dict) -> tuple[list[_Due], int]:
    """Write the reminder rows of ``batch`` and their messages in one transaction. Returns the
    reminders queued and how many another sweep had queued already.

    A reminder is written once per (agreement, kind), by the database's unique constraint. The
    usual case, nobody else sweeping, is written in the order that costs least: the messages,
    then the reminder rows pointing at them, conflicts ignored. If any reminder of the batch
    turns out to be queued already (a concurrent sweep), all of that is rolled back and the
    batch is written the careful way: the rows first, then messages for the new ones only. A
    reminder's copies (``_Due.copies``) are written with it, each with a link of its reader's
    own; the reminder row points at the primary contact's message.
    """
    now = utcnow()
    table = Reminder.__table__
    messages = _write_messages(batch, today, settings, now)
    inserted = insert_rows(
        table,
        [{**_reminder_row(item, now), "outbox_message_id": messages[_key(item)]} for item in batch],
        returning=(table.c.id,),
        skip_conflicts_on=["agreement_id", "kind"],
    )
    if len(inserted) == len(batch):
        db.session.commit()
        return batch, 0
    db.session.rollback()
    return _queue_batch_carefully(batch, today, settings)


def _queue_batch_carefully(
    batch: list[_Due], today: date, settings: dict
) -> tuple[list[_Due], int]:
    """``_queue_batch`` when another sweep is at work: the reminder rows go in first, ignoring
    conflicts on (agreement, kind), and only those the database returns get a message (and a
    renewal link), so a concurrent sweep never sends one twice."""
    now = utcnow()
    table = Reminder.__table__
    inserted = insert_rows(
        table,
        [_reminder_row(item, now) for item in batch],
        returning=(table.c.id, table.c.agreement_id, table.c.kind),
        skip_conflicts_on=["agreement_id", "kind"],
    )
    reminder_ids = {(agreement_id, kind): id_ for id_, agreement_id, kind in inserted}
    fresh = [item for item in batch if _key(item) in reminder_ids]
    if not fresh:  # another sweep got there first
        db.session.rollback()
        return [], len(batch)
    messages = _write_messages(fresh, today, settings, now)
    update_rows(
        table,
        "id",
        "outbox_message_id",
        [(reminder_ids[_key(item)], messages[_key(item)]) for item in fresh],
    )
    db.session.commit()
    return fresh, len(batch) - len(fresh)


def _key(item: _Due) -> tuple[int, str]:
    return (item.agreement_id, item.kind)


def _reminder_row(item: _Due, now: datetime) -> dict:
    return {
        "agreement_id": item.agreement_id,
        "kind": item.kind,
        "due_on": item.due_on,
        "queued_at": now,
    }


def _write_messages(items: list[_Due], today: date, settings: dict, now: datetime) -> dict:
    """Each reminder's message to its primary contact and its copies, with a renewal link of
    each reader's own, in one INSERT; the primary contact's message id per (agreement, kind)."""
    messages = [(item, reader) for item in items for reader in [item.reader, *item.copies]]
    tokens = make_link_tokens(
        [(reader.contact_id, item.agreement_id) for item, reader in messages], "renewal", now=now
    )
    email = EmailTemplate("reminder", settings=settings)
    grace_days = int(settings["grace_days"])
    message_ids = insert_emails(
        [
            _reminder_email(email, item, reader, token, today, grace_days)
            for (item, reader), token in zip(messages, tokens, strict=True)
        ]
    )
    return {
        _key(item): message_id
        for (item, reader), message_id in zip(messages, message_ids, strict=True)
        if reader.contact_id == item.contact_id
    }


def _reminder_email(
    email: EmailTemplate, item: _Due, reader: Reader, token: str, today: date, grace_days: int
) -> dict:
    """The outbox row of the reminder ``item`` to ``reader`` (the primary contact, or a copy's
    reader) with ``token``, their own renewal link (``email`` is the reminder template), written
    in the reader's language: its subject, dates and words too."""
    with in_language(reader.language):
        return _reminder_values(email, item, reader, token, today, grace_days)


def _reminder_values(
    email: EmailTemplate, item: _Due, reader: Reader, token: str, today: date, grace_days: int
) -> dict:
    days_left = days_to_end(item.end_date, today)
    # A copy names the primary contact and their role, and nothing else of theirs.
    copy_of = (
        Reader(None, "", item.contact_name, "primary")
        if reader.contact_id != item.contact_id
        else None
    )
    return personal_values(
        email,
        reader,
        reminder_subject(item.kind, item.organization_name, item.end_date, today),
        # What differs from one prompt to the next of a burst is merged into the prompt rendered
        # once per shape (EmailTemplate.values).
        merge=MERGED_FIELDS + (("copy_of.name",) if copy_of else ()),
        copy_of=copy_of,
        kind=item.kind,
        organization_name=item.organization_name,
        end_date=long_date(item.end_date),
        days_left=days_left,
        days_left_text=_days(max(days_left, 0)),
        offset=days_before_end(item.kind),
        is_lapse=item.kind == LAPSE,
        is_end_day=item.kind == END_DAY or days_left <= 0,
        has_ended=has_ended(item.end_date, today),
        grace_days=grace_days,
        grace_end=long_date(grace_end(item.end_date, grace_days)),
        renewal_pending=item.renewal_pending,
        renewal_url=renewal_url(token, item.agreement_id),
    )


def staff_digest_contents(today: date) -> dict:
    """What the weekly digest reports: waiting applications and renewals, agreements ending
    within 30 days, and failed emails (each list capped, with its full count)."""

    def waiting(kind: str):
        query = db.select(Application).where(
            Application.kind == kind, Application.state.in_(OPEN_STATES)
        )
        count = db.session.scalar(db.select(func.count()).select_from(query.subquery()))
        rows = db.session.scalars(
            query.options(selectinload(Application.organization))
            .order_by(Application.submitted_at, Application.id)
            .limit(DIGEST_LIST_LIMIT)
        ).all()
        return count, rows

    applications_count, applications = waiting(ApplicationKind.NEW)
    renewals_count, renewals = waiting(ApplicationKind.RENEWAL)
    ending = db.select(Agreement).where(ending_within_clause(today, DIGEST_ENDING_DAYS))
    ending_count = db.session.scalar(db.select(func.count()).select_from(ending.subquery()))
    ending_rows = db.session.scalars(
        ending.options(selectinload(Agreement.organization))
        .order_by(Agreement.end_date, Agreement.id)
        .limit(DIGEST_LIST_LIMIT)
    ).all()
    failed = db.select(OutboxMessage).where(OutboxMessage.status == "failed")
    failed_count = db.session.scalar(db.select(func.count()).select_from(failed.subquery()))
    failed_rows = db.session.scalars(
        failed.order_by(OutboxMessage.id.desc()).limit(DIGEST_LIST_LIMIT)
    ).all()
    return {
        "today": today,
        "applications": [(a.organization.name, a.submitted_at.date()) for a in applications],
        "applications_count": applications_count,
        "renewals": [(a.organization.name, a.submitted_at.date()) for a in renewals],
        "renewals_count": renewals_count,
        "ending": [(a.organization.name, long_date(a.end_date)) for a in ending_rows],
        "ending_count": ending_count,
        "failed": [(m.to_addr, m.subject, m.last_error) for m in failed_rows],
        "failed_count": failed_count,
        "limit": DIGEST_LIST_LIMIT,
    }


def digest_subject(settings: dict, monday: date) -> str:
    """The subject line of the digest for the week starting ``monday``."""
    return f"{settings['alliance_short_name']} Allies: weekly digest, week of {long_date(monday)}"


def _sweep_digest(today: date, settings: dict, result: SweepResult) -> None:
    """Queue the week's staff digest once, on or after the digest weekday."""
    if not digest_is_due(today, settings["digest_weekday"]):
        return
    monday = week_start(today)
    if db.session.scalar(db.select(StaffDigest.id).where(StaffDigest.week_start == monday)):
        return
    recipients = staff_recipients()
    if not recipients:
        result.skipped["digest without recipients"] += 1
        return
    subject = digest_subject(settings, monday)
    lines = [SweepLine(None, STAFF_DIGEST, address, subject) for address in recipients]
    if result.dry_run:
        result.lines.extend(lines)
        return
    digest_id = db.session.execute(
        insert_ignoring_conflict(
            StaffDigest.__table__,
            {"week_start": monday, "queued_at": utcnow()},
            ["week_start"],
            db.session.get_bind().dialect.name,
        ).returning(StaffDigest.id)
    ).scalar()
    if digest_id is None:
        db.session.rollback()
        return
    contents = staff_digest_contents(today)
    for address in recipients:
        queue_email(
            address,
            STAFF_DIGEST,
            subject,
            week_start=long_date(monday),
            settings=settings,
            **contents,
        )
    db.session.commit()
    result.lines.extend(lines)


def sweep_health(now: datetime | None = None, today: date | None = None) -> dict:
    """For the staff dashboard: when the sweep last completed, what it queued, and whether it is
    stale (never completed, or not for more than 36 hours).

    With ``today``, a sweep run as of a later day (``reminders run --today`` into the future) is
    not the current schedule: it is reported apart, and the current one is the last as of today
    or earlier.
    """
    now = now or utcnow()
    completed = db.select(SweepRun).where(SweepRun.finished_at.is_not(None))
    newest_first = (SweepRun.finished_at.desc(), SweepRun.id.desc())
    future = None
    if today is not None:
        future = db.session.scalar(
            completed.where(SweepRun.as_of > today).order_by(*newest_first).limit(1)
        )
        completed = completed.where(SweepRun.as_of <= today)
    last = db.session.scalar(completed.order_by(*newest_first).limit(1))
    latest = db.session.scalar(
        db.select(SweepRun).order_by(SweepRun.started_at.desc(), SweepRun.id.desc()).limit(1)
    )
    summary = json.loads(last.summary) if last is not None and last.summary else {}
    unfinished = latest if latest is not None and latest.finished_at is None else None
    unfinished_summary = (
        json.loads(unfinished.summary) if unfinished is not None and unfinished.summary else {}
    )
    return {
        "last_finished_at": last.finished_at if last else None,
        "last_as_of": last.as_of if last else None,
        "queued": last.queued if last else 0,
        "queued_by_kind": summary.get("queued", {}),
        "skipped": summary.get("skipped", {}),
        "stale": last is None or now - last.finished_at > STALE_AFTER,
        "hours_since": round((now - last.finished_at).total_seconds() / 3600, 1) if last else None,
        "unfinished_started_at": unfinished.started_at if unfinished else None,
        "unfinished_errors": unfinished_summary.get("errors", []),
        "future_as_of": future.as_of if future else None,
        "future_finished_at": future.finished_at if future else None,
    }


def reminders_for_agreement(agreement_id: int) -> list[Reminder]:
    """Every reminder queued for an agreement, in the order they fell due, with its message."""
    return list(
        db.session.scalars(
            db.select(Reminder)
            .where(Reminder.agreement_id == agreement_id)
            .options(selectinload(Reminder.outbox_message))
            .order_by(Reminder.due_on, Reminder.id)
        )
    )


def reminders_for_organization(organization_id: int) -> list[Reminder]:
    """Every reminder queued for any of an organization's terms, oldest first."""
    return list(
        db.session.scalars(
            db.select(Reminder)
            .join(Agreement, Reminder.agreement_id == Agreement.id)
            .where(Agreement.organization_id == organization_id)
            .options(selectinload(Reminder.outbox_message))
            .order_by(Reminder.due_on, Reminder.id)
        )
    )


def skip_reminders_already_due(
    agreement: Agreement, today: date, settings: dict | None = None
) -> list[Reminder]:
    """Record the reminders of ``agreement`` that fell due by ``today`` as handled, unsent.

    For a term that began before Allies held it (a roster import): the Ally heard about those
    dates from the alliance already, so no sweep, even one catching up after downtime, may send
    them. Each is a ``reminder`` row with no outbox message: the unique (agreement, kind) pair
    keeps the sweep from queuing that kind, and the sweep never sends a reminder earlier than
    one an agreement already has. The next reminder to fall due is sent as usual. Stages the
    rows; the caller commits. ``settings`` (all_settings()) saves a query per agreement.
    """
    settings = settings if settings is not None else all_settings()
    offsets = normalize_offsets(settings["reminder_offsets"])
    grace_days = int(settings["grace_days"])
    if agreement.id is None:
        db.session.flush()
    skipped = [
        Reminder(agreement_id=agreement.id, kind=kind, due_on=due_on, queued_at=utcnow())
        for kind, due_on in due_dates(agreement.end_date, grace_days, offsets)
        if due_on <= today
    ]
    db.session.add_all(skipped)
    return skipped
