"""Importing an existing roster: `flask --app wsgi allies import ROSTER.csv [--dry-run]`.

The instance's clock is set to 2026-11-23 (the day examples/roster.csv was written for), so the
terms in the files keep their standing whenever the tests run.
"""

import csv
import json
import os
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from allies.agreements.models import Agreement
from allies.agreements.terms import term_end
from allies.applications.models import Application, Endorsement
from allies.applications.statements import current_statements
from allies.extensions import db
from allies.mail.models import OutboxMessage
from allies.organizations.models import Contact, Organization
from allies.reminders.models import Reminder
from allies.staff.models import AuditEvent
from tests.fixtures import PROJECT_DIR, png_bytes, start_for_end

TODAY = date(2026, 11, 23)
COLUMNS = [
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
    "ally_since",
    "logo",
]


@pytest.fixture
def app_config(app_config, database_url):
    app_config["TODAY"] = TODAY.isoformat()
    return app_config


def row(n: int = 1, **overrides) -> dict:
    """A valid roster row for an organization numbered ``n``."""
    values = {
        "name": f"Community Health Org {n}",
        "website": f"https://roster{n}.example.org",
        "type": "Community organization",
        "city": "Albuquerque",
        "region": "NM",
        "country": "USA",
        "description": "Community health workers and clinicians learning together.",
        "contact_name": f"Alex Contact {n}",
        "contact_title": "Director",
        "contact_email": f"alex{n}@roster{n}.example.org",
        "contact_phone": "+1 505 555 0100",
        "agreement_start": "2026-03-02",
        "ally_since": "",
        "logo": "",
    }
    values.update(overrides)
    return values


def write_roster(folder: Path, rows, columns=COLUMNS, encoding="utf-8", name="roster.csv") -> Path:
    path = folder / name
    with path.open("w", encoding=encoding, newline="") as out:
        writer = csv.writer(out)
        writer.writerow(columns)
        for values in rows:
            writer.writerow([values.get(column, "") for column in columns])
    return path


def run_import(runner, path, *options):
    result = runner.invoke(args=["allies", "import", str(path), *options])
    return result, result.output.splitlines()


def counts(app) -> dict:
    with app.app_context():
        return {
            model.__name__: db.session.scalar(db.select(db.func.count()).select_from(model))
            for model in (
                Organization,
                Contact,
                Application,
                Endorsement,
                Agreement,
                Reminder,
                AuditEvent,
                OutboxMessage,
            )
        }


def allies_json(client) -> dict:
    return {ally["name"]: ally for ally in json.loads(client.get("/allies.json").data)["allies"]}


# --- the example roster --------------------------------------------------------------------------


def test_example_roster_imports_on_a_fresh_install(app, runner, client):
    bootstrap = runner.invoke(args=["bootstrap", "--no-demo"])
    assert bootstrap.exit_code == 0, bootstrap.output
    example = PROJECT_DIR / "examples" / "roster.csv"

    result, lines = run_import(runner, example)

    assert result.exit_code == 0, result.output
    with example.open(encoding="utf-8-sig", newline="") as f:
        names = [record["name"] for record in csv.DictReader(f)]
    assert lines[-1] == f"imported {len(names)}"
    for number, (line, name) in enumerate(zip(lines, names, strict=False), start=1):
        assert line.startswith(f"row {number}: ok {name} (term "), line
        assert line.endswith((", active)", ", expiring)")), line
    listed = allies_json(client)
    assert sorted(listed) == sorted(names)
    assert listed["The American Academy of Family Physicians"]["ally_since"] == 2019
    assert listed["The Albert Schweitzer Fellowship"]["ally_since"] == 2025  # its term's start

    before = counts(app)
    again, lines = run_import(runner, example)
    assert again.exit_code == 0, again.output
    assert lines[:-1] == [
        f"row {number}: already present {name}" for number, name in enumerate(names, start=1)
    ]
    assert lines[-1] == "imported 0"
    assert counts(app) == before


def test_example_roster_beside_the_demo_data_adds_only_the_new_allies(app, runner, tmp_path):
    """The demo Allies are the seed page's too: the current ones are left alone, and the demo's
    lapsed Ally and waiting applicant are not Allies, so their rows refuse the import."""
    runner.invoke(args=["demo"])
    example = PROJECT_DIR / "examples" / "roster.csv"
    with app.app_context():
        lapsed = db.session.scalar(
            db.select(Organization).where(Organization.name == "Cambridge Health Alliance (CHA)")
        )
        (lapsed_term,) = lapsed.agreements
        waiting = db.session.scalar(
            db.select(Application.id)
            .join(Organization, Application.organization_id == Organization.id)
            .where(Organization.name == "People Power Health")
        )
        lapsed_line = (
            "row 6: ERROR website: same website domain as Cambridge Health Alliance (CHA), "
            f"whose term {lapsed_term.start_date} – {lapsed_term.end_date} lapsed on "
            f"{lapsed_term.end_date + timedelta(days=31)}: renew it from its staff page "
            f"(/staff/allies/{lapsed.id}) instead of importing it"
        )
    before = counts(app)

    result, lines = run_import(runner, example)

    assert result.exit_code == 1
    assert lapsed_line in lines
    assert (
        "row 11: ERROR website: same website domain as People Power Health, whose application "
        f"#{waiting} is waiting for review: approve or decline application #{waiting} first"
    ) in lines
    assert lines[-1] == "imported 0 (2 rows have errors; nothing was written)"
    assert counts(app) == before

    with example.open(encoding="utf-8-sig", newline="") as f:
        records = list(csv.DictReader(f))
    kept = [r for r in records if r["name"] not in (lapsed.name, "People Power Health")]
    result, lines = run_import(runner, write_roster(tmp_path, kept, columns=list(records[0])))
    assert result.exit_code == 0, result.output
    assert any(": already present The Camden Coalition" in line for line in lines)
    assert any(": ok The BMPRC Initiative (term" in line for line in lines)


# --- what an imported Ally gets -----------------------------------------------------------------


def test_an_imported_ally_has_its_real_term_endorsement_audit_and_no_email(app, tmp_path):
    from allies.organizations.roster import import_roster

    path = write_roster(
        tmp_path,
        [
            row(1, agreement_start="2025-02-28", ally_since="2017"),
            row(2, agreement_start="2026-01-05", ally_since="2021-06-15"),
            row(3, agreement_start="2024-12-30"),
        ],
    )
    imported_at = datetime(2026, 11, 23, 14, 30)
    with app.app_context():
        report = import_roster(path, today=TODAY, now=imported_at)
        assert report.lines() == [
            "row 1: ok Community Health Org 1 (term 2025-02-28 – 2027-02-27, active)",
            "row 2: ok Community Health Org 2 (term 2026-01-05 – 2028-01-04, active)",
            "row 3: ok Community Health Org 3 (term 2024-12-30 – 2026-12-29, expiring)",
            "imported 3",
        ]
        texts = current_statements()
        org = db.session.scalar(
            db.select(Organization).where(Organization.name == "Community Health Org 1")
        )
        assert org.ally_since == date(2017, 1, 1)
        assert (org.website, org.city, org.region, org.country) == (
            "https://roster1.example.org",
            "Albuquerque",
            "NM",
            "USA",
        )
        assert org.type.name == "Community organization"
        contact = org.contact_for("primary")
        assert (contact.name, contact.title, contact.email) == (
            "Alex Contact 1",
            "Director",
            "alex1@roster1.example.org",
        )
        application = db.session.scalar(
            db.select(Application).where(Application.organization_id == org.id)
        )
        assert (application.kind, application.state) == ("new", "approved")
        assert application.decided_by_id is None
        assert "roster.csv, row 1" in application.decision_reason
        endorsement = application.endorsement
        assert endorsement.before_allies is True
        assert endorsement.signed_at == imported_at
        assert endorsement.mission_version_id == texts["mission"].id
        assert endorsement.vision_version_id == texts["vision"].id
        assert endorsement.values_version_id == texts["values"].id
        assert (endorsement.signer_name, endorsement.signer_email) == (
            contact.name,
            contact.email,
        )
        (agreement,) = org.agreements
        assert (agreement.start_date, agreement.end_date) == (
            date(2025, 2, 28),
            term_end(date(2025, 2, 28)),
        )
        assert agreement.application_id == application.id
        events = db.session.scalars(
            db.select(AuditEvent).where(
                AuditEvent.subject_type == "organization", AuditEvent.subject_id == org.id
            )
        ).all()
        assert [(e.action, e.actor) for e in events] == [("imported", "roster import")]
        by_name = {o.name: o.ally_since for o in db.session.scalars(db.select(Organization)).all()}
        assert by_name["Community Health Org 2"] == date(2021, 6, 15)
        assert by_name["Community Health Org 3"] == date(2024, 12, 30)  # default: the start
        assert db.session.scalar(db.select(db.func.count(OutboxMessage.id))) == 0


def test_dry_run_writes_nothing(app, runner, tmp_path):
    logo = tmp_path / "logo.png"
    logo.write_bytes(png_bytes())
    path = write_roster(tmp_path, [row(1, logo="logo.png"), row(2)])
    before = counts(app)

    result, lines = run_import(runner, path, "--dry-run")

    assert result.exit_code == 0, result.output
    assert lines[0].startswith("row 1: ok Community Health Org 1 (term 2026-03-02 – 2028-03-01")
    assert lines[-1] == "would import 2"
    assert counts(app) == before
    uploads = Path(app.config["UPLOAD_FOLDER"])
    assert not uploads.exists() or not any(uploads.iterdir())


# --- every row checked like the application form ----------------------------------------------


def test_any_invalid_row_writes_nothing_and_says_what_is_wrong(app, runner, tmp_path):
    path = write_roster(
        tmp_path,
        [
            row(1),
            row(2, contact_email="not-an-email", website="ftp://org2.example.org"),
            row(3, type="Spaceship operator", city=""),
            row(4, agreement_start="02/03/2026", ally_since="last year"),
            row(5, description="x" * 501, contact_title=""),
        ],
    )
    before = counts(app)

    result, lines = run_import(runner, path)

    assert result.exit_code == 1
    assert lines[0].startswith("row 1: ok Community Health Org 1 (term ")  # valid, not written
    assert lines[1] == "row 2: ERROR website: The website must start with http:// or https://."
    assert lines[2] == (
        "row 2: ERROR contact_email: Enter a valid email address, like name@example.org."
    )
    assert lines[3].startswith("row 3: ERROR type: unknown type 'Spaceship operator'; the types")
    assert "Community organization" in lines[3] and "Academic institution" in lines[3]
    assert lines[4] == "row 3: ERROR city: This field is required."
    assert lines[5] == (
        "row 4: ERROR agreement_start: '02/03/2026' is not a date written YYYY-MM-DD"
    )
    assert lines[6].startswith("row 4: ERROR ally_since: 'last year' is not a year")
    assert lines[7].startswith("row 5: ERROR description: ")
    assert lines[8] == "row 5: ERROR contact_title: This field is required."
    assert lines[9:] == ["imported 0 (4 rows have errors; nothing was written)"]
    assert counts(app) == before


def test_an_invalid_row_fails_a_dry_run_too(app, runner, tmp_path):
    path = write_roster(tmp_path, [row(1), row(2, name="")])
    result, lines = run_import(runner, path, "--dry-run")
    assert result.exit_code == 1
    assert lines == [
        "row 1: ok Community Health Org 1 (term 2026-03-02 – 2028-03-01, active)",
        "row 2: ERROR name: This field is required.",
        "would import 0 (1 row has errors; nothing was written)",
    ]


@pytest.mark.parametrize(
    "columns, message",
    [
        (COLUMNS + ["notes", "Member ID"], "Unknown columns: 'notes', 'member id'."),
        (COLUMNS + [""], "Unknown columns: an unnamed column (15)."),
        (
            [c for c in COLUMNS if c not in ("city", "agreement_start")],
            "Missing columns: city, agreement_start.",
        ),
        (COLUMNS + ["name"], "Columns named more than once: name."),
    ],
)
def test_the_header_must_name_the_roster_columns(app, runner, tmp_path, columns, message):
    path = write_roster(tmp_path, [row(1)], columns=columns)
    before = counts(app)
    result, _lines = run_import(runner, path)
    assert result.exit_code == 1
    assert message in result.output
    assert counts(app) == before


def test_a_file_that_is_not_utf8_or_is_empty_is_refused(app, runner, tmp_path):
    latin = write_roster(tmp_path, [row(1, city="Bogotá")], encoding="latin-1")
    result, _lines = run_import(runner, latin)
    assert result.exit_code == 1
    assert "is not UTF-8 text" in result.output
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    result, _lines = run_import(runner, empty)
    assert result.exit_code == 1
    assert "empty.csv is empty" in result.output


def test_bom_any_column_order_quoted_commas_and_line_breaks(app, runner, client, tmp_path):
    """As Excel and LibreOffice save "CSV UTF-8": a byte-order mark, quotes where needed."""
    columns = list(reversed(COLUMNS[:-2]))  # no optional columns, any order
    description = 'Nurses, doctors and "promotoras",\ntogether since 2010.'
    path = write_roster(
        tmp_path,
        [row(1, name="Salud Comunitaria Año Nuevo", description=description, region="")],
        columns=columns,
        encoding="utf-8-sig",
    )
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")

    result, lines = run_import(runner, path)

    assert result.exit_code == 0, result.output
    assert lines[0].startswith("row 1: ok Salud Comunitaria Año Nuevo (term")
    with app.app_context():
        org = db.session.scalar(db.select(Organization))
        assert org.description == description
        assert org.region == ""
    assert "Salud Comunitaria Año Nuevo" in allies_json(client)


def test_rows_count_from_the_first_record_after_the_header(app, runner, tmp_path):
    path = write_roster(tmp_path, [row(1)])
    with path.open("a", encoding="utf-8", newline="") as out:
        out.write("\r\n")  # a blank record: skipped, still counted
        out.write('"Short Row","https://short.example.org",Community organization\r\n')
        out.write(",,,,,,,,,,,,,\r\n")  # a spreadsheet's empty row
    result, lines = run_import(runner, path)
    assert result.exit_code == 1
    assert lines == [
        "row 1: ok Community Health Org 1 (term 2026-03-02 – 2028-03-01, active)",
        "row 3: ERROR row: has 3 fields, the header has 14",
        "imported 0 (1 row has errors; nothing was written)",
    ]


def test_duplicates_within_the_file_are_errors(app, runner, tmp_path):
    path = write_roster(
        tmp_path,
        [
            row(1, name="The Camden Coalition", website="https://camdenhealth.org"),
            row(2, name="Camden Coalition, Inc.", website="https://other.example.org"),
            row(3, website="https://www.camdenhealth.org/about"),
        ],
    )
    result, lines = run_import(runner, path)
    assert result.exit_code == 1
    assert lines == [
        "row 1: ok The Camden Coalition (term 2026-03-02 – 2028-03-01, active)",
        "row 2: ERROR name: the same organization as row 1",
        "row 3: ERROR website: the same website domain as row 1",
        "imported 0 (2 rows have errors; nothing was written)",
    ]


def test_an_organization_already_here_is_left_alone(app, runner, factory, tmp_path):
    """Same name or same website domain, as the application's duplicate check decides, and
    listed today (whatever its term's dates)."""
    factory.ally(
        name="Health Equity Collective",
        website="https://equity.example.org",
        start=date(2025, 6, 1),
    )
    factory.ally(name="Rural Docs", website="https://ruraldocs.example.org", start=TODAY)
    path = write_roster(
        tmp_path,
        [
            row(1, name="The Health Equity Collective"),
            row(2, name="Rural Doctors Network", website="http://www.ruraldocs.example.org"),
            row(3),
        ],
    )
    before = counts(app)

    result, lines = run_import(runner, path)

    assert result.exit_code == 0, result.output
    assert lines == [
        "row 1: already present The Health Equity Collective (as Health Equity Collective)",
        "row 2: already present Rural Doctors Network (as Rural Docs)",
        "row 3: ok Community Health Org 3 (term 2026-03-02 – 2028-03-01, active)",
        "imported 1",
    ]
    after = counts(app)
    assert after["Organization"] == before["Organization"] + 1
    assert after["Agreement"] == before["Agreement"] + 1


def _organization_id(app, name: str) -> int:
    with app.app_context():
        return db.session.scalar(db.select(Organization.id).where(Organization.name == name))


def test_an_application_waiting_for_review_is_not_an_ally_and_refuses_the_import(
    app, runner, factory
):
    """The reviewer's repro: the example roster after one of its organizations only applied."""
    assert runner.invoke(args=["bootstrap", "--no-demo"]).exit_code == 0
    name = "The American Academy of Family Physicians"
    application_id = factory.application(name=name)
    before = counts(app)

    result, lines = run_import(runner, PROJECT_DIR / "examples" / "roster.csv")

    assert result.exit_code == 1
    assert lines[0] == (
        f"row 1: ERROR name: same name as {name}, whose application #{application_id} is "
        f"waiting for review: approve or decline application #{application_id} first"
    )
    assert lines[1].startswith("row 2: ok ")
    assert lines[-1] == "imported 0 (1 row has errors; nothing was written)"
    assert counts(app) == before


def test_a_declined_or_withdrawn_applicant_is_named_and_refuses_the_import(
    app, runner, factory, tmp_path
):
    from allies.applications.operations import decline_application, withdraw_application
    from allies.staff.models import StaffUser

    declined = factory.application(name="Declined Org", website="https://declined.example.org")
    withdrawn = factory.application(name="Gone Org", website="https://gone.example.org")
    factory.staff("admin")
    with app.app_context():
        staff = db.session.scalar(db.select(StaffUser))
        application = db.session.get(Application, declined)
        decline_application(application, "Not a health organization.", staff=staff)
        declined_on = application.decided_at.date()
        application = db.session.get(Application, withdrawn)
        withdraw_application(application, contact=application.contact)
        withdrawn_on = application.decided_at.date()
    path = write_roster(
        tmp_path,
        [
            row(1, name="Declined Org"),
            row(2, name="Someone Else", website="https://www.gone.example.org/about"),
        ],
    )
    before = counts(app)

    result, lines = run_import(runner, path)

    assert result.exit_code == 1
    assert lines == [
        f"row 1: ERROR name: same name as Declined Org, whose application #{declined} was "
        f"declined on {declined_on}: it is not an Ally here; leave the row out, or bring it in "
        "through a new application",
        f"row 2: ERROR website: same website domain as Gone Org, whose application "
        f"#{withdrawn} was withdrawn on {withdrawn_on}: it is not an Ally here; leave the row "
        "out, or bring it in through a new application",
        "imported 0 (2 rows have errors; nothing was written)",
    ]
    assert counts(app) == before


def test_a_lapsed_terminated_or_not_yet_begun_ally_is_named_and_refuses_the_import(
    app, runner, factory, tmp_path
):
    from allies.agreements.operations import terminate_agreement
    from allies.staff.models import StaffUser

    lapsed_id, _ = factory.ally(name="Lapsed Org", start=date(2023, 5, 1))
    _, ended = factory.ally(name="Ended Org", start=date(2026, 1, 5))
    waiting_id, _ = factory.ally(name="Waiting Org", start=date(2027, 1, 10))
    with app.app_context():
        staff = db.session.scalar(db.select(StaffUser))
        terminate_agreement(
            db.session.get(Agreement, ended),
            staff=staff,
            reason="Asked to leave.",
            on=date(2026, 9, 1),
            today=date(2026, 9, 1),
        )
    path = write_roster(
        tmp_path, [row(1, name="Lapsed Org"), row(2, name="Ended Org"), row(3, name="Waiting Org")]
    )
    before = counts(app)

    result, lines = run_import(runner, path)

    assert result.exit_code == 1
    assert lines == [
        "row 1: ERROR name: same name as Lapsed Org, whose term 2023-05-01 – 2025-04-30 lapsed "
        f"on 2025-05-31: renew it from its staff page (/staff/allies/{lapsed_id}) instead of "
        "importing it",
        "row 2: ERROR name: same name as Ended Org, whose term 2026-01-05 – 2028-01-04 was "
        "ended early on 2026-09-01: it is not an Ally here; leave the row out",
        "row 3: ERROR name: same name as Waiting Org, whose term 2027-01-10 – 2029-01-09 was "
        f"approved in Allies and has not begun: leave the row out (/staff/allies/{waiting_id})",
        "imported 0 (3 rows have errors; nothing was written)",
    ]
    assert counts(app) == before


def test_an_ally_here_under_a_second_record_is_present_despite_an_old_decline(
    app, runner, factory, tmp_path
):
    """Declined once, applied again and approved: the Ally is already here."""
    from allies.applications.operations import decline_application
    from allies.staff.models import StaffUser

    first = factory.application(name="Second Try Org", website="https://try.example.org")
    factory.staff("admin")
    with app.app_context():
        staff = db.session.scalar(db.select(StaffUser))
        decline_application(db.session.get(Application, first), "Too early.", staff=staff)
    factory.ally(name="Second Try Org", website="https://try.example.org", start=TODAY)
    path = write_roster(tmp_path, [row(1, name="Second Try Org")])

    result, lines = run_import(runner, path)

    assert result.exit_code == 0, result.output
    assert lines == ["row 1: already present Second Try Org", "imported 0"]


def test_a_second_run_adds_nothing_even_after_the_term_was_terminated(
    app, runner, factory, tmp_path
):
    """The same start as a term already here is that term: it is never imported twice."""
    from allies.agreements.operations import terminate_agreement
    from allies.staff.models import StaffUser

    path = write_roster(tmp_path, [row(1)])
    assert run_import(runner, path)[0].exit_code == 0
    factory.staff("admin")
    with app.app_context():
        terminate_agreement(
            db.session.scalar(db.select(Agreement)),
            staff=db.session.scalar(db.select(StaffUser)),
            reason="Merged with another organization.",
            on=TODAY,
            today=TODAY,
        )
    before = counts(app)

    result, lines = run_import(runner, path)

    assert result.exit_code == 0, result.output
    assert lines == ["row 1: already present Community Health Org 1", "imported 0"]
    assert counts(app) == before


# --- terms that are not in force ----------------------------------------------------------------


def test_future_and_lapsed_terms_are_refused_and_grace_is_imported(app, runner, client, tmp_path):
    lapsed_start = start_for_end(TODAY - timedelta(days=31))  # grace (30 days) has run out
    grace_start = start_for_end(TODAY - timedelta(days=30))  # the last day of grace
    path = write_roster(
        tmp_path,
        [
            row(1, agreement_start="2026-11-24"),
            row(2, agreement_start=lapsed_start.isoformat()),
            row(3, agreement_start=grace_start.isoformat()),
            row(4, agreement_start="2026-03-02", ally_since="2026-03-03"),
        ],
    )
    result, lines = run_import(runner, path)
    assert result.exit_code == 1
    assert lines[0] == (
        "row 1: ERROR agreement_start: 2026-11-24 is after today (2026-11-23): import terms "
        "that have begun, and approve an Ally whose term has not begun through Allies"
    )
    assert lines[1] == (
        f"row 2: ERROR agreement_start: the term {lapsed_start} – {TODAY - timedelta(days=31)} "
        "lapsed on 2026-11-23; give the start of the current term (after the latest renewal)"
    )
    assert lines[2].startswith("row 3: ok Community Health Org 3 (term ")
    assert lines[3] == (
        "row 4: ERROR ally_since: 2026-03-03 is after the agreement's start (2026-03-02)"
    )

    path = write_roster(tmp_path, [row(3, agreement_start=grace_start.isoformat())])
    result, lines = run_import(runner, path)
    assert result.exit_code == 0, result.output
    assert lines[0] == (
        f"row 1: ok Community Health Org 3 (term {grace_start} – {TODAY - timedelta(days=30)}, "
        "grace)"
    )
    assert "Community Health Org 3" in allies_json(client)  # listed: renewal in progress


# --- logos -------------------------------------------------------------------------------------


def test_logos_are_checked_with_the_logo_rules_and_stored(app, runner, client, tmp_path):
    (tmp_path / "logos").mkdir()
    (tmp_path / "logos" / "good.png").write_bytes(png_bytes(size=(1600, 400)))
    (tmp_path / "logos" / "fake.png").write_text("<svg onload=alert(1)>")
    path = write_roster(
        tmp_path,
        [
            row(1, logo="logos/good.png"),
            row(2, logo="logos/fake.png"),
            row(3, logo="logos/missing.png"),
        ],
    )
    result, lines = run_import(runner, path)
    assert result.exit_code == 1
    assert lines[0].startswith("row 1: ok Community Health Org 1 (term ")
    assert lines[1] == "row 2: ERROR logo: The logo must be a PNG, JPEG or WebP image."
    assert lines[2].startswith("row 3: ERROR logo: no readable file at ")
    assert lines[2].endswith("missing.png")

    path = write_roster(tmp_path, [row(1, logo="logos/good.png")])
    result, lines = run_import(runner, path)
    assert result.exit_code == 0, result.output
    with app.app_context():
        org = db.session.scalar(db.select(Organization))
        stored = Path(app.config["UPLOAD_FOLDER"]) / org.logo_filename
        assert stored.is_file()
    from PIL import Image

    with Image.open(stored) as image:
        assert max(image.size) == app.config["LOGO_MAX_SIDE"]  # re-encoded and resized
    logo_url = allies_json(client)["Community Health Org 1"]["logo_url"]
    assert client.get(logo_url.replace("http://allies.test", "")).status_code == 200


def test_a_logo_must_be_inside_the_rosters_folder(app, runner, tmp_path):
    """No path out of the CSV's folder: not by "..", not absolute, not through a symlink."""
    folder = tmp_path / "roster"
    (folder / "logos").mkdir(parents=True)
    outside = tmp_path / "outside.png"
    outside.write_bytes(png_bytes())
    (folder / "logos" / "link.png").symlink_to(outside)
    (folder / "logos" / "inner.png").write_bytes(png_bytes())
    (folder / "logos" / "inner-link.png").symlink_to(folder / "logos" / "inner.png")
    path = write_roster(
        folder,
        [
            row(1, logo="../outside.png"),
            row(2, logo=str(outside)),
            row(3, logo="logos/link.png"),
            row(4, logo="logos/../logos/inner-link.png"),  # inside, however it is spelled
        ],
    )
    before = counts(app)

    result, lines = run_import(runner, path)

    assert result.exit_code == 1
    within = f"a logo must be a file in {folder.resolve()} or below it"
    assert lines == [
        f"row 1: ERROR logo: ../outside.png is outside the roster's folder: {within}",
        f"row 2: ERROR logo: {outside} is outside the roster's folder: {within}",
        f"row 3: ERROR logo: logos/link.png is outside the roster's folder: {within}",
        "row 4: ok Community Health Org 4 (term 2026-03-02 – 2028-03-01, active)",
        "imported 0 (3 rows have errors; nothing was written)",
    ]
    assert counts(app) == before


def test_a_logo_must_be_a_regular_file_within_the_upload_limit_and_is_not_read_otherwise(
    app, runner, tmp_path
):
    """/dev/zero, a named pipe or a huge file would exhaust memory or hang the import."""
    limit = app.config["LOGO_MAX_BYTES"]
    (tmp_path / "logos").mkdir()
    os.mkfifo(tmp_path / "logos" / "pipe.png")  # opening it for reading would wait forever
    (tmp_path / "logos" / "zero.png").symlink_to("/dev/zero")
    with (tmp_path / "logos" / "huge.png").open("wb") as huge:
        huge.truncate(1 << 40)  # sparse: a terabyte on paper, nothing on disk
    (tmp_path / "logos" / "big.png").write_bytes(png_bytes() + b"\0" * limit)
    big = (tmp_path / "logos" / "big.png").stat().st_size
    path = write_roster(
        tmp_path,
        [
            row(1, logo="/dev/zero"),
            row(2, logo="logos/zero.png"),
            row(3, logo="logos/pipe.png"),
            row(4, logo="logos"),
            row(5, logo="logos/huge.png"),
            row(6, logo="logos/big.png"),
        ],
    )
    before = counts(app)

    result, lines = run_import(runner, path, "--dry-run")

    assert result.exit_code == 1
    outside = f"is outside the roster's folder: a logo must be a file in {tmp_path.resolve()}"
    the_limit = f"the logo must be 2 MB ({limit:,} bytes) or smaller"
    assert lines == [
        f"row 1: ERROR logo: /dev/zero {outside} or below it",
        f"row 2: ERROR logo: logos/zero.png {outside} or below it",
        "row 3: ERROR logo: logos/pipe.png is not a regular file",
        "row 4: ERROR logo: logos is not a regular file",
        f"row 5: ERROR logo: logos/huge.png is {1 << 40:,} bytes: {the_limit}",
        f"row 6: ERROR logo: logos/big.png is {big:,} bytes: {the_limit}",
        "would import 0 (6 rows have errors; nothing was written)",
    ]
    assert counts(app) == before


# --- reminders ---------------------------------------------------------------------------------


def _reminder_kinds(result, agreement_id: int) -> list[str]:
    return [line.kind for line in result.lines if line.agreement_id == agreement_id]


def test_reminders_due_before_the_import_are_never_sent_the_next_one_is(app, factory, tmp_path):
    from allies.organizations.roster import import_roster
    from allies.reminders.operations import run_sweep

    with app.app_context():
        # The last completed sweep was 60 days ago: the next one catches up on all of them.
        run_sweep(TODAY - timedelta(days=60))
    expiring_end = TODAY + timedelta(days=27)  # 90 and 30 days before: already due
    grace_end = TODAY - timedelta(days=5)  # every prompt and the end day: due; lapse: to come
    _org, control = factory.ally(start=start_for_end(expiring_end))  # approved in Allies
    path = write_roster(
        tmp_path,
        [
            row(1, agreement_start=start_for_end(expiring_end).isoformat()),
            row(2, agreement_start=start_for_end(grace_end).isoformat()),
        ],
    )
    with app.app_context():
        assert import_roster(path, today=TODAY).ok
        ids = dict(
            db.session.execute(
                db.select(Agreement.end_date, Agreement.id).where(Agreement.note == "roster import")
            ).all()
        )
        expiring, grace = ids[expiring_end], ids[grace_end]
        skipped = db.session.execute(
            db.select(Reminder.agreement_id, Reminder.kind, Reminder.outbox_message_id).order_by(
                Reminder.agreement_id, Reminder.due_on
            )
        ).all()
        assert skipped == [
            (expiring, "before_90", None),
            (expiring, "before_30", None),
            (grace, "before_90", None),
            (grace, "before_30", None),
            (grace, "before_7", None),
            (grace, "end_day", None),
        ]

        today = run_sweep(TODAY)
        assert _reminder_kinds(today, control) == ["before_30"]  # what the import prevents
        assert _reminder_kinds(today, expiring) == []
        assert _reminder_kinds(today, grace) == []
        assert _reminder_kinds(run_sweep(TODAY + timedelta(days=19)), expiring) == []
        assert _reminder_kinds(run_sweep(TODAY + timedelta(days=20)), expiring) == ["before_7"]
        assert _reminder_kinds(run_sweep(TODAY + timedelta(days=25)), grace) == []
        assert _reminder_kinds(run_sweep(TODAY + timedelta(days=26)), grace) == ["lapse"]


def test_the_sweep_command_after_an_import_queues_nothing_already_due(app, runner, tmp_path):
    path = write_roster(
        tmp_path, [row(1, agreement_start=start_for_end(TODAY + timedelta(days=3)).isoformat())]
    )
    assert run_import(runner, path)[0].exit_code == 0
    result = runner.invoke(args=["reminders", "run"])
    assert result.exit_code == 0, result.output
    assert "agreement" not in result.output  # before_7 fell due 4 days ago: not sent
    result = runner.invoke(args=["reminders", "run", "--today", "2026-11-26", "--yes"])
    assert "end_day agreement" in result.output


# --- staff pages -------------------------------------------------------------------------------


def test_staff_pages_show_the_endorsement_as_before_allies(app, runner, client, auth, tmp_path):
    path = write_roster(
        tmp_path, [row(1, agreement_start=start_for_end(TODAY + timedelta(days=20)).isoformat())]
    )
    assert run_import(runner, path)[0].exit_code == 0
    with app.app_context():
        org_id = db.session.scalar(db.select(Organization.id))
        application_id = db.session.scalar(db.select(Application.id))
        imported_on = db.session.scalar(db.select(Endorsement.signed_at)).strftime("%d %b %Y")
    auth.login("reviewer")

    ally_page = client.get(f"/staff/allies/{org_id}").get_data(as_text=True)
    review = client.get(f"/staff/applications/{application_id}").get_data(as_text=True)

    assert f"before Allies (imported {imported_on})" in ally_page
    assert "not sent: it came due before the roster import" in ally_page
    assert f"before Allies (imported {imported_on}" in review
    assert "imported from roster.csv, row 1" in review
