"""The audit log: edits record each changed field before and after, and /staff/audit shows the
whole log newest first, filtered by who, organization, action and dates, a page at a time."""

from datetime import datetime, timedelta

import pytest

from allies.extensions import db
from allies.organizations.models import Organization, OrganizationType
from allies.staff.models import AuditEvent, StaffUser
from allies.staff.operations import (
    add_organization_type,
    save_settings,
    set_organization_type_enabled,
)
from allies.timeutil import alliance_today


def _events(app, action, subject_type=None):
    with app.app_context():
        query = db.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        if subject_type:
            query = query.where(AuditEvent.subject_type == subject_type)
        events = list(db.session.scalars(query))
        for event in events:
            db.session.expunge(event)
        return events


def _profile_form(app, org_id, **changes):
    with app.app_context():
        org = db.session.get(Organization, org_id)
        data = {
            "name": org.name,
            "website": org.website,
            "type_id": str(org.type_id or 0),
            "city": org.city,
            "region": org.region,
            "country": org.country,
            "description": org.description,
        }
    data.update(changes)
    return data


def _two_types(app):
    with app.app_context():
        types = list(db.session.scalars(db.select(OrganizationType).order_by(OrganizationType.id)))
        return [(t.id, t.name) for t in types[:2]]


# --- edits record their values ----------------------------------------------------------------


def test_a_profile_update_records_each_changed_field_before_and_after(app, client, auth, factory):
    (first_type, first_name), (second_type, second_name) = _two_types(app)
    org_id, _ = factory.ally(name="Old Name Health", type_id=first_type)
    auth.login("reviewer")
    response = client.post(
        f"/staff/allies/{org_id}/profile",
        data=_profile_form(
            app, org_id, name="New Name Health", city="Quito", type_id=str(second_type)
        ),
    )
    assert response.status_code == 302, response.get_data(as_text=True)

    (event,) = _events(app, "profile_updated")
    assert event.subject_type == "organization" and event.subject_id == org_id
    assert event.changes == {
        "name": ["Old Name Health", "New Name Health"],
        "city": ["Boston", "Quito"],
        "type_id": [first_type, second_type],
    }
    # The log shows types by name, not by id.
    page = client.get("/staff/audit?action=profile_updated").get_data(as_text=True)
    assert "Old Name Health → New Name Health" in page
    assert "Boston → Quito" in page
    assert f"{first_name} → {second_name}" in page


def test_an_applicant_correcting_the_profile_records_the_changes(app, factory):
    from allies.applications.models import Application
    from allies.applications.operations import update_application

    application_id = factory.application(name="Typo Helth")
    with app.app_context():
        application = db.session.get(Application, application_id)
        update_application(
            application,
            {"name": "Typo Health", "city": "Boston"},
            "We support the mission.",
            contact=application.contact,
        )
    (event,) = _events(app, "updated", "application")
    assert event.changes == {"name": ["Typo Helth", "Typo Health"]}
    assert event.actor.startswith("applicant ")


def test_renewal_profile_changes_are_recorded_when_approval_publishes_them(app, factory):
    with app.app_context():
        today = alliance_today()
    org_id, agreement_id = factory.ally(start=today - timedelta(days=700), name="Renewing Org")
    factory.renewal(
        agreement_id,
        submitted_on=today,
        approved_on=today,
        profile={"name": "Renewing Org", "city": "Lima", "logo_filename": "new-logo.png"},
    )
    (event,) = _events(app, "profile_updated")
    assert event.subject_type == "organization" and event.subject_id == org_id
    assert event.staff_id is not None
    assert event.changes == {"city": ["Boston", "Lima"], "logo_filename": [None, "new-logo.png"]}


def test_removing_the_logo_records_the_file_name(app, client, auth, factory):
    org_id, _ = factory.ally()
    with app.app_context():
        db.session.get(Organization, org_id).logo_filename = "abc123.png"
        db.session.commit()
    auth.login("reviewer")
    assert client.post(f"/staff/allies/{org_id}/logo/remove").status_code == 302
    (event,) = _events(app, "logo_removed")
    assert event.changes == {"logo_filename": ["abc123.png", None]}


def test_type_and_setting_changes_record_their_values(app, factory):
    staff_id, _email, _password = factory.staff("admin")
    with app.app_context():
        staff = db.session.get(StaffUser, staff_id)
        org_type = add_organization_type("Community clinic", staff=staff)
        set_organization_type_enabled(org_type, False, staff=staff)
        save_settings({"alliance_name": "New Alliance", "reminder_offsets": [60, 7]}, staff=staff)
    assert _events(app, "type_added")[0].changes == {"name": [None, "Community clinic"]}
    assert _events(app, "type_disabled")[0].changes == {"is_enabled": [True, False]}
    settings = {e.reason: e.changes for e in _events(app, "setting_changed")}
    assert settings["alliance_name"] == {
        "alliance_name": ["Social Mission Alliance", "New Alliance"]
    }
    assert settings["reminder_offsets"] == {"reminder_offsets": [[90, 30, 7], [60, 7]]}


# --- /staff/audit -----------------------------------------------------------------------------


def _add_events(app, *events):
    """Write audit events as they were recorded at given moments (naive UTC)."""
    with app.app_context():
        for fields in events:
            db.session.add(
                AuditEvent(
                    **{"actor": "system", "subject_type": "setting", "subject_id": 0, **fields}
                )
            )
        db.session.commit()


def _table(page: str) -> str:
    return page[page.index("<tbody>") : page.index("</tbody>")] if "<tbody>" in page else ""


def test_the_log_lists_every_event_newest_first_with_its_subject_linked(app, client, auth, factory):
    org_id, agreement_id = factory.ally(name="Linked Org")
    auth.login("reviewer")
    page = client.get("/staff/audit").get_data(as_text=True)
    rows = _table(page)
    # Submitted, then approved (the agreement started with it): newest first.
    assert rows.index("<td>approved</td>") < rows.index("<td>submitted</td>")
    assert rows.index("<td>agreement started</td>") < rows.index("<td>submitted</td>")
    assert f'href="/staff/allies/{org_id}"' in rows  # the agreement's organization
    assert 'href="/staff/applications/' in rows
    assert "Application of Linked Org" in rows
    assert "submitted → approved" in rows
    assert 'aria-current="page"' not in page  # one page: no page links


def test_filters_narrow_the_log(app, client, auth, factory):
    (type_id, _name), _ = _two_types(app)
    org_id, _ = factory.ally(name="Alpha Clinic", type_id=type_id)
    other_id, _ = factory.ally(name="Beta Hospital", type_id=type_id)
    auth.login("reviewer")
    client.post(f"/staff/allies/{org_id}/profile", data=_profile_form(app, org_id, city="Lima"))
    with app.app_context():
        admin_id = db.session.scalar(
            db.select(StaffUser.id).where(StaffUser.role == "admin").order_by(StaffUser.id)
        )
        reviewer_id = db.session.scalar(db.select(StaffUser.id).where(StaffUser.role == "reviewer"))

    mine = _table(client.get(f"/staff/audit?who=staff:{reviewer_id}").get_data(as_text=True))
    assert mine.count("<tr>") == 1 and "profile updated" in mine

    applicants = _table(client.get("/staff/audit?who=applicants").get_data(as_text=True))
    assert applicants.count("<tr>") == 2 and "<td>submitted</td>" in applicants
    assert "<td>approved</td>" not in applicants

    admin = _table(client.get(f"/staff/audit?who=staff:{admin_id}").get_data(as_text=True))
    assert "<td>approved</td>" in admin and "<td>submitted</td>" not in admin

    # An organization: its own events and its application's and agreement's.
    alpha = client.get(f"/staff/audit?organization={org_id}").get_data(as_text=True)
    assert "History of" in alpha and "Alpha Clinic" in alpha
    rows = _table(alpha)
    assert "Beta Hospital" not in rows
    for action in ("submitted", "approved", "agreement started", "profile updated"):
        assert f"<td>{action}</td>" in rows, action
    by_name = _table(client.get("/staff/audit?org_name=beta").get_data(as_text=True))
    assert "Beta Hospital" in by_name and "Alpha Clinic" not in by_name
    assert "profile updated" not in by_name

    action = _table(client.get("/staff/audit?action=profile_updated").get_data(as_text=True))
    assert action.count("<tr>") == 1 and "Alpha Clinic" in action
    combined = client.get(f"/staff/audit?organization={other_id}&action=profile_updated")
    assert "No events match these filters" in combined.get_data(as_text=True)


@pytest.fixture
def in_chicago(app_config):
    app_config["TIMEZONE"] = "America/Chicago"


def test_dates_are_the_alliance_calendar_days_both_included(in_chicago, app, client, auth):
    _add_events(
        app,
        # 21:00 on 1 March in Chicago (UTC-6), already 2 March in UTC.
        {"at": datetime(2026, 3, 2, 3, 0), "action": "late_on_the_first"},
        {"at": datetime(2026, 3, 2, 7, 0), "action": "early_on_the_second"},
        {"at": datetime(2026, 2, 28, 23, 0), "action": "on_the_last_of_february"},
    )
    auth.login("reviewer")
    first = _table(client.get("/staff/audit?start=2026-03-01&end=2026-03-01").get_data(True))
    assert "late on the first" in first
    assert "early on the second" not in first and "on the last of february" not in first
    both = _table(client.get("/staff/audit?start=2026-03-01&end=2026-03-02").get_data(True))
    assert "late on the first" in both and "early on the second" in both
    until = _table(client.get("/staff/audit?end=2026-02-28").get_data(True))
    assert "on the last of february" in until and "late on the first" not in until
    # Shown in the alliance's zone.
    assert "01 Mar 2026, 21:00" in first


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("start=2026-02-30", "start", "Not a valid date"),
        ("end=yesterday", "end", "Not a valid date"),
        ("start=0001-01-01", "start", "Give a date between"),
        ("end=9999-12-31", "end", "Give a date between"),
        ("start=2026-03-02&end=2026-03-01", "end", "The end comes before the start."),
        ("who=staff:999999", "who", "No one like that is in the log"),
        ("who=everyone", "who", "No one like that is in the log"),
        ("action=no_such_action", "action", "No event of that kind is in the log"),
        ("org_name=" + "x" * 201, "org_name", "200"),
    ],
)
def test_a_bad_filter_says_what_is_wrong_next_to_the_field(
    app, client, auth, query, field, message
):
    auth.login("reviewer")
    response = client.get(f"/staff/audit?{query}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    error = page[page.index(f'id="{field}-error"') :]
    assert message in error[: error.index("</p>")]
    assert "Correct the filters above" in page
    # What was typed stays in the form.
    value = query.split("&")[-1].split("=", 1)[1] if field == "end" else None
    if value and field == "end" and "yesterday" in query:
        assert 'value="yesterday"' in page


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("organization=2147483648", 404),
        ("organization=-1", 404),
        ("page=0", 404),
        ("page=99999999999999999999", 404),
        ("page=abc", 200),
        ("page=1.5", 200),
        ("organization=abc", 200),
        ("who=%00", 200),
        ("start=%00", 200),
        ("org_name=%25_%5C", 200),
    ],
)
def test_no_parameter_gives_a_server_error(app, client, auth, query, status):
    auth.login("reviewer")
    assert client.get(f"/staff/audit?{query}").status_code == status


def test_an_unknown_organization_says_so(app, client, auth):
    auth.login("reviewer")
    page = client.get("/staff/audit?organization=4242").get_data(as_text=True)
    assert "No organization has the number 4242" in page
    assert "<tbody>" not in page


def test_the_log_comes_a_page_at_a_time_with_a_short_window_of_links(app, client, auth):
    start = datetime(2026, 1, 1, 12, 0)
    _add_events(
        app,
        *(
            {"at": start + timedelta(minutes=n), "action": "numbered", "reason": f"event {n:03d}"}
            for n in range(1, 501)
        ),
    )
    auth.login("reviewer")  # one more event (the sign-in) is not recorded as audit
    with app.app_context():
        total = db.session.scalar(db.select(db.func.count()).select_from(AuditEvent))
    pages = -(-total // 50)
    first = client.get("/staff/audit?action=numbered").get_data(as_text=True)
    assert "500 events match" in first and "page 1 of 10" in first
    assert "event 500" in first and "event 451" in first and "event 450" not in first
    nav = first[first.index('aria-label="Pages of the audit log"') :]
    assert "?action=numbered&amp;page=10" in nav or "page=10&amp;action=numbered" in nav
    assert "page=5" not in nav  # a window, not every page

    fourth = client.get("/staff/audit?action=numbered&page=4").get_data(as_text=True)
    assert "event 350" in fourth and "event 301" in fourth and "event 300" not in fourth
    assert '<span aria-current="page">4</span>' in fourth
    # Past the last page: the last page.
    last = client.get("/staff/audit?action=numbered&page=4000").get_data(as_text=True)
    assert "event 001" in last and "page 10 of 10" in last
    assert pages >= 10


def test_the_log_is_linked_from_the_staff_navigation_and_the_ally_page(app, client, auth, factory):
    org_id, _ = factory.ally()
    auth.login("reviewer")
    dashboard = client.get("/staff").get_data(as_text=True)
    assert 'href="/staff/audit"' in dashboard
    ally = client.get(f"/staff/allies/{org_id}").get_data(as_text=True)
    assert f'href="/staff/audit?organization={org_id}"' in ally


def test_an_allys_history_holds_its_conference_invitation_and_answer(app, client, auth, factory):
    """The invitation and the Ally's answer (by its link) are in the Ally's full history, the
    answer filed with Ally contacts, and downloading the answers is audited like every export."""
    from datetime import date

    from allies.conferences.models import Conference, Invitation
    from allies.conferences.operations import invite_current_allies, save_answer

    today = date(2030, 3, 2)
    app.config["TODAY"] = today
    org_id, _ = factory.ally(name="Invited Health", start=date(2029, 6, 1))
    with app.app_context():
        conference = Conference(
            title="Health Equity Together",
            place="Lima, Peru",
            start_date=date(2030, 6, 10),
            end_date=date(2030, 6, 12),
        )
        db.session.add(conference)
        db.session.commit()
        conference_id = conference.id
        invite_current_allies(conference, staff=None, today=today)
        invitation = db.session.scalar(db.select(Invitation))
        save_answer(invitation, attending=True, people=2, names="Ana", ip=None, today=today)
    auth.login("reviewer")
    history = client.get(f"/staff/audit?organization={org_id}").get_data(as_text=True)
    assert "conference_invited" in history and "conference_answered" in history
    assert "Invitation of Invited Health to Health Equity Together" in history
    answered_by = "Invited Health (invitation link)"
    assert answered_by in client.get("/staff/audit?who=contacts").get_data(as_text=True)
    assert answered_by not in client.get("/staff/audit?who=system").get_data(as_text=True)

    assert client.get(f"/staff/conferences/{conference_id}/answers.csv").status_code == 200
    (download,) = _events(app, "downloaded")
    assert download.to_state == "conference answers"
    assert download.reason == f"conference-{conference_id}-answers.csv"
