"""/staff/export: CSV tables (formula-safe, UTF-8 with a BOM, streamed), the JSON dump, who may
take which, and the audit entry of every download."""

import csv
import io
import json
from datetime import timedelta

import sqlalchemy as sa

from allies.extensions import db
from allies.staff.exports import NOT_EXPORTED
from allies.timeutil import alliance_today

CSV_DOWNLOADS = {
    "allies": "/staff/allies/export.csv",
    "agreements": "/staff/export/agreements.csv",
    "applications": "/staff/export/applications.csv",
    "contacts": "/staff/export/contacts.csv",
}


def _today(app):
    with app.app_context():
        return alliance_today()


def _csv(response) -> list[dict]:
    """The rows of a CSV download, after checking it is UTF-8 with a byte order mark."""
    body = response.get_data()
    assert body.startswith(b"\xef\xbb\xbf"), body[:20]
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))


def _programme(app, factory):
    """An active Ally with a formula for a name, a lapsed one, and an application with a
    question; returns the active Ally's organization id."""
    from allies.applications.models import Application
    from allies.applications.operations import ask_question
    from allies.staff.models import StaffUser

    today = _today(app)
    org_id, _agreement = factory.ally(start=today - timedelta(days=100), name="=HYPERLINK(1)")
    factory.ally(start=today - timedelta(days=900), name="Asociación Lapsa")
    application_id = factory.application(name="Waiting Clinic")
    with app.app_context():
        staff = db.session.scalar(sa.select(StaffUser).where(StaffUser.role == "admin"))
        ask_question(db.session.get(Application, application_id), "Where?", staff=staff)
    return org_id


def test_the_page_lists_every_download_with_who_may_take_it(client, auth):
    auth.login("reviewer")
    page = client.get("/staff/export").get_data(as_text=True)
    for path in ("/staff/allies/export.csv", "/staff/export/agreements.csv"):
        assert f'href="{path}"' in page
    assert "Contacts (CSV)" in page and 'href="/staff/export/contacts.csv"' not in page
    assert "Admins only" in page and 'href="/staff/export"' in page  # the navigation link
    auth.logout()
    auth.login("admin")
    page = client.get("/staff/export").get_data(as_text=True)
    assert 'href="/staff/export/contacts.csv"' in page
    assert 'href="/staff/export/programme.json"' in page


def test_csv_downloads_are_formula_safe_utf8_and_carry_the_status(app, client, auth, factory):
    _programme(app, factory)
    auth.login("admin")
    today = _today(app)

    response = client.get("/staff/allies/export.csv")
    assert response.mimetype == "text/csv" and response.is_streamed
    assert f'filename="allies-{today}.csv"' in response.headers["Content-Disposition"]
    allies = {row["name"]: row for row in _csv(response)}
    assert allies["'=HYPERLINK(1)"]["status"] == "active"
    assert allies["Asociación Lapsa"]["status"] == "lapsed"

    agreements = _csv(client.get("/staff/export/agreements.csv"))
    by_org = {row["organization"]: row for row in agreements}
    assert by_org["'=HYPERLINK(1)"]["status"] == "active"
    assert by_org["Asociación Lapsa"]["status"] == "lapsed"
    assert by_org["Asociación Lapsa"]["standing"].startswith("ended on")

    applications = _csv(client.get("/staff/export/applications.csv"))
    states = {row["organization"]: (row["kind"], row["state"]) for row in applications}
    assert states["Waiting Clinic"] == ("new", "info_requested")
    assert states["Asociación Lapsa"] == ("new", "approved")
    assert all(row["decided_by"] for row in applications if row["state"] == "approved")

    contacts = _csv(client.get("/staff/export/contacts.csv"))
    assert {row["organization"] for row in contacts} == {
        "'=HYPERLINK(1)",
        "Asociación Lapsa",
        "Waiting Clinic",
    }
    assert all(row["email"].endswith("@example.org") for row in contacts)


def test_the_allies_csv_holds_primary_contacts_for_admins_only(app, client, auth, factory):
    factory.ally(name="Contact Org", email="primary@contact.example.org")
    auth.login("reviewer")
    response = client.get("/staff/allies/export.csv")
    (row,) = _csv(response)
    assert row["name"] == "Contact Org" and row["status"] == "active"
    assert "primary_contact" not in row and "primary_email" not in row
    body = response.get_data(as_text=True)
    assert "primary@contact.example.org" not in body and "Pat Contact" not in body
    auth.logout()
    auth.login("admin")
    (row,) = _csv(client.get("/staff/allies/export.csv"))
    assert (row["primary_contact"], row["primary_email"]) == (
        "Pat Contact",
        "primary@contact.example.org",
    )


def test_the_json_dump_holds_the_programme_and_no_secret(app, client, auth, factory):
    from allies.organizations.operations import send_sign_in_link

    _programme(app, factory)
    with app.app_context():
        send_sign_in_link("contact1@example.org")
    auth.login("admin")
    response = client.get("/staff/export/programme.json")
    assert response.status_code == 200 and response.is_streamed
    assert response.headers["Content-Disposition"].endswith(f'-{_today(app)}.json"')
    text = response.get_data(as_text=True)
    dump = json.loads(text)

    assert {org["name"] for org in dump["organizations"]} >= {"=HYPERLINK(1)", "Asociación Lapsa"}
    assert all(org["contacts"] for org in dump["organizations"])
    waiting = next(a for a in dump["applications"] if a["state"] == "info_requested")
    assert waiting["endorsement"]["signer_name"] == "Sam Signer"
    assert [m["body"] for m in waiting["messages"]] == ["Where?"]
    assert {a["status"] for a in dump["agreements"]} == {"active", "lapsed"}
    assert dump["settings"]["grace_days"] == 30
    for table in ("statement_version", "organization_type", "audit_event", "outbox_message"):
        assert dump[table], table
    assert dump["staff_user"] and all("password_hash" not in u for u in dump["staff_user"])
    # Every table is in the dump, nested in a section or flat, or listed as left out.
    with app.app_context():
        nested = {"organization", "contact", "organization_note", "application", "endorsement"}
        nested |= {"application_message", "agreement", "reminder", "setting"}
        for table in db.metadata.tables:
            assert table in dump or table in nested or table in NOT_EXPORTED, table
        nonces = db.session.scalars(sa.text("SELECT nonce FROM sign_in_link")).all()
        hashes = db.session.scalars(sa.text("SELECT password_hash FROM staff_user")).all()
    assert nonces and hashes
    assert not any(secret in text for secret in nonces + hashes)
    assert "/my/link/[redacted]" in text and "session_version" not in text


def test_reviewers_take_the_tables_but_not_contacts_or_the_dump(client, auth):
    auth.login("reviewer")
    for kind in ("allies", "agreements", "applications"):
        assert client.get(CSV_DOWNLOADS[kind]).status_code == 200, kind
    assert client.get("/staff/export/contacts.csv").status_code == 403
    assert client.get("/staff/export/programme.json").status_code == 403


def test_every_download_is_audited_with_who_and_which_file(app, client, auth, factory):
    from allies.staff.models import AuditEvent

    email = auth.login("admin")
    for path in [*CSV_DOWNLOADS.values(), "/staff/export/programme.json"]:
        assert client.get(path).status_code == 200, path
    assert client.get("/staff/export").status_code == 200  # the page itself is no download
    with app.app_context():
        events = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.subject_type == "export").order_by(AuditEvent.id)
        ).all()
        assert [e.to_state for e in events] == [*CSV_DOWNLOADS, "programme"]
        assert all(e.action == "downloaded" and e.staff.email == email for e in events)
        assert events[-1].reason == f"allies-programme-{_today(app)}.json"


def test_a_large_export_streams_in_batches(app, client, auth, factory):
    """Rows are read a batch at a time: the queries do not grow with the rows."""
    from allies.agreements.models import Agreement
    from allies.organizations.models import Organization

    today = _today(app)
    with app.app_context():
        for n in range(1200):
            org = Organization(
                slug=f"bulk-{n}",
                name=f"Bulk {n}",
                normalized_name=f"bulk {n}",
                website=f"https://bulk{n}.example.org",
                website_domain=f"bulk{n}.example.org",
            )
            db.session.add(org)
            db.session.add(
                Agreement(
                    organization=org,
                    start_date=today - timedelta(days=10),
                    end_date=today + timedelta(days=700),
                )
            )
        db.session.commit()
    auth.login("reviewer")
    statements = []
    with app.app_context():
        engine = db.engine

    def count(*_args):
        statements.append(1)

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        rows = _csv(client.get("/staff/export/agreements.csv"))
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    assert len(rows) == 1200 and {row["status"] for row in rows} == {"active"}
    assert len(statements) < 30, len(statements)
