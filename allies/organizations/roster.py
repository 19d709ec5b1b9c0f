"""Bring an existing roster of Allies in from a CSV file, with their real terms.

``flask --app wsgi allies import ROSTER.csv [--dry-run]`` calls ``import_roster``. The file is
UTF-8 (with or without the byte-order mark Excel and LibreOffice write), with a header row naming
the columns in any order: REQUIRED_COLUMNS, and optionally ``ally_since`` (a year, meaning 1
January of it, or a date; default the agreement's start) and ``logo`` (a PNG, JPEG or WebP file,
its path relative to the CSV). Quoted fields may hold commas and line breaks.

Each row is checked with the rules of the application form (its own field classes, bound to the
row) and the logo rules, and against the organizations already here that the app's duplicate
detection matches (same name or website domain). One that is an Ally here (listed today, by the
standing rule, or holding a term with the row's start) is reported "already present" and left
alone, so importing a file twice adds nothing. One that is here but not an Ally (an application
waiting for review, declined or withdrawn; a term lapsed, ended early or not yet begun) makes the
row an error that names it: importing would otherwise skip an organization the roster says is an
Ally. Row N is the Nth record after the header (the spreadsheet's row N + 1); blank records are
skipped but still counted.

A logo is read only when its path, symlinks resolved, stays inside the CSV's folder, names a
regular file and is within the form's upload limit (``LOGO_MAX_BYTES``).

A row's term must be in force: a start after today is refused (approve an Ally that has not
started through Allies), and so is a term that has already lapsed (give the start of the current
term, after the latest renewal). A term that ended within the grace period is imported and
listed as "renewal in progress".

Each imported Ally gets its organization, primary contact, an approved application decided by
the roster import, an endorsement of the current texts marked "before Allies" and signed at the
import time, its agreement (end by the one term rule), an audit entry, and the reminders that
came due by today recorded as handled, so only the next one due is sent. Everything is written
in one transaction, and nothing at all if any row is invalid.
"""

import csv
import io
import os
import re
import stat
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from flask import current_app
from werkzeug.datastructures import FileStorage, MultiDict

from allies.agreements.operations import start_agreement
from allies.agreements.queries import agreements_of
from allies.agreements.standing import (
    Status,
    Term,
    is_listed,
    lapse_date,
    status,
    status_of,
    term_in_force,
)
from allies.agreements.terms import term_end
from allies.applications.forms import ApplicationForm
from allies.applications.models import (
    OPEN_STATES,
    STATEMENT_KINDS,
    Application,
    ApplicationKind,
    ApplicationState,
    Endorsement,
)
from allies.applications.queries import applications_of
from allies.applications.statements import current_statements
from allies.errors import OperationError, operation
from allies.extensions import db
from allies.organizations.forms import ProfileForm
from allies.organizations.models import Contact, Organization, OrganizationType
from allies.organizations.profile import normalize_name, unique_slug, website_domain
from allies.reminders.operations import skip_reminders_already_due
from allies.staff.audit import record_event
from allies.staff.settings import all_settings
from allies.timeutil import to_local, utcnow

REQUIRED_COLUMNS = (
    "name",
    "website",
    "type",
    "city",
    "region",
    "country",
    "description",
    "contact_name",
    "contact_title",
    "contact_email",
    "contact_phone",
    "agreement_start",
)
OPTIONAL_COLUMNS = ("ally_since", "logo")
COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
ACTOR = "roster import"
# The roster's column for each field of the form, where the names differ.
_COLUMN_OF_FIELD = {"type_id": "type"}
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_YEAR = re.compile(r"\d{4}")


class RosterRowForm(ProfileForm):
    """One roster row: the profile fields and the applicant's fields of the application form.

    The contact fields are the application form's own declarations, so a rule changed there
    applies to the import too.
    """

    contact_name = ApplicationForm.contact_name
    contact_title = ApplicationForm.contact_title
    contact_email = ApplicationForm.contact_email
    contact_phone = ApplicationForm.contact_phone
    contact_data = ApplicationForm.contact_data


@dataclass
class RowOutcome:
    """What the import found (or did) for one row."""

    number: int
    name: str
    errors: list[tuple[str, str]] = field(default_factory=list)
    present_as: str | None = None  # the organization already here, when the row is present
    start: date | None = None
    end: date | None = None
    status: Status | None = None

    def lines(self) -> list[str]:
        """The report's lines for this row."""
        if self.errors:
            return [
                f"row {self.number}: ERROR {column}: {message}" for column, message in self.errors
            ]
        if self.present_as is not None:
            also = "" if self.present_as == self.name else f" (as {self.present_as})"
            return [f"row {self.number}: already present {self.name}{also}"]
        return [
            f"row {self.number}: ok {self.name} (term {self.start} – {self.end}, {self.status})"
        ]


@dataclass
class RosterReport:
    """The outcome of an import: one entry per row, and how many Allies it added (or would)."""

    rows: list[RowOutcome]
    dry_run: bool
    imported: int = 0

    @property
    def invalid(self) -> int:
        """How many rows have errors (any one means nothing is written)."""
        return sum(1 for row in self.rows if row.errors)

    @property
    def ok(self) -> bool:
        """Whether every row is valid."""
        return self.invalid == 0

    def lines(self) -> list[str]:
        """The whole report: a line per row (an error line per problem), then the count."""
        lines = [line for row in self.rows for line in row.lines()]
        verb = "would import" if self.dry_run else "imported"
        if self.ok:
            lines.append(f"{verb} {self.imported}")
        else:
            rows = "row has" if self.invalid == 1 else "rows have"
            lines.append(f"{verb} 0 ({self.invalid} {rows} errors; nothing was written)")
        return lines


@dataclass
class _Planned:
    """A valid new row, ready to write."""

    outcome: RowOutcome
    form: RosterRowForm
    start: date
    ally_since: date


# --- reading the file ------------------------------------------------------------------------


def read_roster(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header (lower-cased column names) and the numbered records of the CSV at ``path``.

    Raises OperationError, with a message for the operator, for a file that is not UTF-8 CSV
    or whose header does not name exactly the roster's columns.
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise OperationError(f"Cannot read {path}: {exc.strerror or exc}.") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise OperationError(
            f"{path.name} is not UTF-8 text (byte {exc.start + 1} is not UTF-8). "
            "Save it as CSV UTF-8 from the spreadsheet."
        ) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if not header or not any(cell.strip() for cell in header):
            raise OperationError(f"{path.name} is empty: the first row must name the columns.")
        header = [cell.strip().lower() for cell in header]
        _check_header(header)
        records = [(number, record) for number, record in enumerate(reader, start=1)]
    except csv.Error as exc:
        raise OperationError(f"{path.name}, line {reader.line_num}: {exc}.") from None
    return header, records


def _check_header(header: list[str]) -> None:
    unknown = [
        repr(name) if name else f"an unnamed column ({position})"
        for position, name in enumerate(header, start=1)
        if name not in COLUMNS
    ]
    if unknown:
        raise OperationError(
            "Unknown columns: "
            + ", ".join(unknown)
            + ". The roster's columns are: "
            + ", ".join(COLUMNS)
            + "."
        )
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise OperationError("Columns named more than once: " + ", ".join(repeated) + ".")
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        raise OperationError("Missing columns: " + ", ".join(missing) + ".")


# --- checking rows ---------------------------------------------------------------------------


def _enabled_types() -> dict[str, int]:
    rows = db.session.execute(
        db.select(OrganizationType.name, OrganizationType.id)
        .where(OrganizationType.is_enabled)
        .order_by(OrganizationType.position, OrganizationType.name)
    ).all()
    return {name: type_id for name, type_id in rows}


def _parse_start(value: str, today: date, grace_days: int, errors: list) -> date | None:
    value = value.strip()
    if not value:
        errors.append(("agreement_start", "required: the date the current term began, YYYY-MM-DD"))
        return None
    try:
        if not _ISO_DATE.fullmatch(value):
            raise ValueError
        start = date.fromisoformat(value)
    except ValueError:
        errors.append(("agreement_start", f"{value!r} is not a date written YYYY-MM-DD"))
        return None
    end = term_end(start)
    found = status(Term(start, end), today, grace_days)
    if found is Status.UPCOMING:
        errors.append(
            (
                "agreement_start",
                f"{start} is after today ({today}): import terms that have begun, and approve "
                "an Ally whose term has not begun through Allies",
            )
        )
        return None
    if found is Status.LAPSED:
        errors.append(
            (
                "agreement_start",
                f"the term {start} – {end} lapsed on {lapse_date(end, grace_days)}; give the "
                "start of the current term (after the latest renewal)",
            )
        )
        return None
    return start


def _parse_ally_since(value: str, start: date | None, errors: list) -> date | None:
    value = (value or "").strip()
    if not value:
        return start
    try:
        if _YEAR.fullmatch(value):
            since = date(int(value), 1, 1)
        elif _ISO_DATE.fullmatch(value):
            since = date.fromisoformat(value)
        else:
            raise ValueError
    except ValueError:
        errors.append(("ally_since", f"{value!r} is not a year (2019) or a date (2019-03-01)"))
        return None
    if start is not None and since > start:
        errors.append(("ally_since", f"{since} is after the agreement's start ({start})"))
        return None
    return since


def _logo_upload(value: str, folder: Path, errors: list) -> FileStorage | None:
    """The logo file named in the row, as the form takes an upload (read into memory).

    Only a regular file inside the roster's folder (``folder``, already resolved), after
    symlinks are resolved, and no larger than the form's upload limit is read: a roster must not
    reach other files, and a device or a huge file would exhaust memory (a pipe would hang).
    """
    value = (value or "").strip()
    if not value:
        return None
    try:
        path = (folder / value).resolve()
    except (OSError, RuntimeError):  # a symlink loop (RuntimeError before Python 3.13)
        errors.append(("logo", f"no readable file at {folder / value}"))
        return None
    if not path.is_relative_to(folder):
        errors.append(
            (
                "logo",
                f"{value} is outside the roster's folder: a logo must be a file in {folder} "
                "or below it",
            )
        )
        return None
    try:
        # Checked on the open file, so nothing can be swapped in between; O_NONBLOCK so that
        # opening a named pipe returns at once instead of waiting for a writer.
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    except OSError:
        errors.append(("logo", f"no readable file at {path}"))
        return None
    facts = os.fstat(descriptor)
    max_bytes = current_app.config["LOGO_MAX_BYTES"]
    problem = None
    if not stat.S_ISREG(facts.st_mode):
        problem = f"{value} is not a regular file"
    elif facts.st_size > max_bytes:
        problem = f"{value} is {facts.st_size:,} bytes: {_logo_limit(max_bytes)}"
    if problem is not None:
        os.close(descriptor)
        errors.append(("logo", problem))
        return None
    with os.fdopen(descriptor, "rb") as file:
        try:
            # Bounded: the file may grow after it was measured (the form then says too large).
            data = file.read(max_bytes + 1)
        except OSError:
            errors.append(("logo", f"no readable file at {path}"))
            return None
    return FileStorage(stream=io.BytesIO(data), filename=path.name)


def _logo_limit(max_bytes: int) -> str:
    # In the words of the form's own message (profile.prepare_logo), with the exact figure.
    return f"the logo must be {max_bytes // (1024 * 1024)} MB ({max_bytes:,} bytes) or smaller"


def _check_row(
    number, values, folder, types, today, grace_days
) -> tuple[RowOutcome, _Planned | None]:
    """Check one row with the application form's rules; the plan is None when it has errors."""
    errors: list[tuple[str, str]] = []
    type_name = values.get("type", "").strip()
    type_id = {name.lower(): type_id for name, type_id in types.items()}.get(type_name.lower())
    if type_id is None:
        known = "; ".join(types)
        problem = "required" if not type_name else f"unknown type {type_name!r}"
        errors.append(("type", f"{problem}; the types are: {known}"))
    data = MultiDict(
        {
            name: values.get(name, "")
            for name in REQUIRED_COLUMNS
            if name not in ("type", "agreement_start")
        }
    )
    data["type_id"] = str(type_id or 0)
    upload = _logo_upload(values.get("logo", ""), folder, errors)
    if upload is not None:
        data["logo"] = upload
    form = RosterRowForm(formdata=data, meta={"csrf": False})
    form.validate()
    for name, messages in form.errors.items():
        column = _COLUMN_OF_FIELD.get(name, name)
        if column == "type" and type_id is None:
            continue  # already said, with the list of types
        errors.extend((column, message) for message in messages)
    start = _parse_start(values.get("agreement_start", ""), today, grace_days, errors)
    since = _parse_ally_since(values.get("ally_since", ""), start, errors)
    name = (form.name.data or "").strip() or values.get("name", "").strip()
    outcome = RowOutcome(number=number, name=name)
    order = {column: position for position, column in enumerate(COLUMNS)}
    outcome.errors = sorted(errors, key=lambda error: order.get(error[0], len(order)))
    if outcome.errors:
        return outcome, None
    outcome.start, outcome.end = start, term_end(start)
    outcome.status = status(Term(start, outcome.end), today, grace_days)
    return outcome, _Planned(outcome, form, start, since)


def _namesakes(name: str, website: str) -> list[Organization]:
    """Every organization here that the application's duplicate check
    (applications.operations.find_possible_duplicate) would match: the same website domain or
    the same name. All of them, not only the first, because an organization declined once and
    approved on a second application is here twice."""
    return list(
        db.session.scalars(
            db.select(Organization)
            .where(
                (Organization.website_domain == website_domain(website))
                | (Organization.normalized_name == normalize_name(name))
            )
            .order_by(Organization.id)
        )
    )


def _already_here(
    name: str, website: str, start: date, today: date, grace_days: int
) -> tuple[str | None, tuple[str, str] | None]:
    """Whether the row's organization is here already: ``(its name here, None)`` when it is an
    Ally here, ``(None, (column, message))`` when it is here but not an Ally (which the row must
    not paper over), ``(None, None)`` when it is new.

    An Ally here is listed today (standing's rule, whatever its term's dates), or holds a term
    with the row's start: the row's own term, imported before and perhaps ended since, so a
    second run of the same file adds nothing.
    """
    namesakes = _namesakes(name, website)
    for organization in namesakes:
        agreements = agreements_of(organization.id)
        if any(agreement.start_date == start for agreement in agreements):
            return organization.name, None
        in_force = term_in_force(agreements, today)
        if in_force is not None and is_listed(Term.of(in_force), today, grace_days):
            return organization.name, None
    if not namesakes:
        return None, None
    # Name the one that needs a decision first, else the newest.
    waiting = {organization.id: _open_application(organization.id) for organization in namesakes}
    organization = max(namesakes, key=lambda o: (waiting[o.id] is not None, o.id))
    if organization.website_domain == website_domain(website):
        column, same = "website", "same website domain"
    else:
        column, same = "name", "same name"
    return None, (
        column,
        f"{same} as {organization.name}, "
        + _not_an_ally(organization, waiting[organization.id], today, grace_days),
    )


def _open_application(organization_id: int) -> Application | None:
    return next(
        (a for a in applications_of(organization_id) if a.state in OPEN_STATES),
        None,
    )


def _not_an_ally(organization, waiting, today: date, grace_days: int) -> str:
    """Why ``organization``, here but not listed, cannot be taken for the row's Ally, and what
    to do instead."""
    if waiting is not None:
        return (
            f"whose application #{waiting.id} is waiting for review: approve or decline "
            f"application #{waiting.id} first"
        )
    page = f"/staff/allies/{organization.id}"
    in_force = term_in_force(agreements_of(organization.id), today)
    if in_force is not None:
        term = f"whose term {in_force.start_date} – {in_force.end_date}"
        found = status_of(in_force, today, grace_days)
        if found is Status.LAPSED:
            return (
                f"{term} lapsed on {lapse_date(in_force.end_date, grace_days)}: renew it from "
                f"its staff page ({page}) instead of importing it"
            )
        if found is Status.TERMINATED:
            return (
                f"{term} was ended early on {in_force.terminated_on}: it is not an Ally here; "
                "leave the row out"
            )
        if found is Status.UPCOMING:
            return f"{term} was approved in Allies and has not begun: leave the row out ({page})"
        return f"{term} is {found}, not in force: leave the row out ({page})"
    decided = next(
        (
            a
            for a in applications_of(organization.id)
            if a.state in (ApplicationState.DECLINED, ApplicationState.WITHDRAWN)
        ),
        None,
    )
    if decided is not None:
        on = to_local(decided.decided_at).date() if decided.decided_at else "an unknown day"
        return (
            f"whose application #{decided.id} was {decided.state} on {on}: it is not an Ally "
            "here; leave the row out, or bring it in through a new application"
        )
    return "which is not an Ally here: leave the row out"


def check_roster(path: Path, today: date) -> tuple[list[RowOutcome], list[_Planned]]:
    """Every row's outcome, and the valid rows not yet present (to write). Reads only."""
    header, records = read_roster(path)
    types = _enabled_types()
    grace_days = int(all_settings()["grace_days"])
    folder = path.resolve().parent
    outcomes: list[RowOutcome] = []
    planned: list[_Planned] = []
    seen_names: dict[str, int] = {}
    seen_domains: dict[str, int] = {}
    for number, record in records:
        if not any(cell.strip() for cell in record):
            continue  # a blank line, as spreadsheets leave at the end
        if len(record) != len(header):
            outcomes.append(
                RowOutcome(
                    number,
                    "",
                    [("row", f"has {len(record)} fields, the header has {len(header)}")],
                )
            )
            continue
        outcome, plan = _check_row(
            number, dict(zip(header, record, strict=True)), folder, types, today, grace_days
        )
        outcomes.append(outcome)
        if plan is None:
            continue
        key, domain = normalize_name(outcome.name), website_domain(plan.form.website.data)
        if key in seen_names:
            outcome.errors.append(("name", f"the same organization as row {seen_names[key]}"))
        if domain in seen_domains:
            outcome.errors.append(
                ("website", f"the same website domain as row {seen_domains[domain]}")
            )
        seen_names.setdefault(key, number)
        seen_domains.setdefault(domain, number)
        if outcome.errors:
            continue
        present_as, problem = _already_here(
            outcome.name, plan.form.website.data, plan.start, today, grace_days
        )
        if problem is not None:
            outcome.errors.append(problem)
        elif present_as is not None:
            outcome.present_as = present_as
        else:
            planned.append(plan)
    return outcomes, planned


# --- writing ---------------------------------------------------------------------------------


@operation
def import_roster(
    path: Path, *, today: date, dry_run: bool = False, now: datetime | None = None
) -> RosterReport:
    """Import the roster at ``path`` as of ``today``: all valid rows, or nothing. Commits.

    Returns the report; raises OperationError for a file it cannot read as a roster. With
    ``dry_run``, or when any row is invalid, nothing is written. ``now`` (naive UTC) is the
    import time recorded on the endorsements (default: the current time).
    """
    path = Path(path)
    texts = current_statements()
    if any(kind not in texts for kind in STATEMENT_KINDS) or not _enabled_types():
        raise OperationError(
            "This installation has no organization types or mission, vision and values texts "
            "yet: run `flask --app wsgi bootstrap` first."
        )
    outcomes, planned = check_roster(path, today)
    report = RosterReport(rows=outcomes, dry_run=dry_run)
    if not report.ok or dry_run:
        report.imported = len(planned) if report.ok else 0
        db.session.rollback()
        return report
    now = now or utcnow()
    settings = all_settings()
    for plan in planned:
        _write_ally(plan, texts, path.name, today=today, now=now, settings=settings)
    report.imported = len(planned)
    db.session.commit()
    return report


def _write_ally(plan: _Planned, texts, file_name: str, *, today, now, settings) -> None:
    """Stage one imported Ally: organization, contact, approved application, endorsement before
    Allies, agreement, audit entry, and its reminders already due marked as handled."""
    profile = plan.form.profile_data()  # stores the checked logo, if any
    organization = Organization(
        slug=unique_slug(profile["name"], Organization),
        normalized_name=normalize_name(profile["name"]),
        website_domain=website_domain(profile["website"]),
        ally_since=plan.ally_since,
        **profile,
    )
    contact = Contact(organization=organization, role="primary", **plan.form.contact_data())
    contact.email = contact.email.strip().lower()
    where = f"{file_name}, row {plan.outcome.number}"
    application = Application(
        kind=ApplicationKind.NEW,
        organization=organization,
        contact=contact,
        state=ApplicationState.APPROVED,
        submitted_at=now,
        decided_at=now,
        decision_reason=f"An Ally before the alliance used Allies: imported from {where}.",
    )
    db.session.add_all([organization, contact, application])
    db.session.add(
        Endorsement(
            application=application,
            mission_version_id=texts["mission"].id,
            vision_version_id=texts["vision"].id,
            values_version_id=texts["values"].id,
            signer_name=contact.name,
            signer_title=contact.title,
            signer_email=contact.email,
            signed_at=now,
            ip=None,
            before_allies=True,
        )
    )
    db.session.flush()
    agreement = start_agreement(
        organization, plan.start, staff=None, application=application, note=ACTOR
    )
    record_event(
        organization,
        "imported",
        actor=ACTOR,
        to_state=f"{agreement.start_date}..{agreement.end_date}",
        reason=f"From {where}; Ally since {plan.ally_since}.",
    )
    skip_reminders_already_due(agreement, today, settings)
