"""Staff notes on an organization: added from the Ally's page or the review page, shown newest
first on both, dated and signed, audited, kept as written, never public."""

import pytest

from allies.errors import OperationError
from allies.extensions import db
from allies.organizations.models import Organization, OrganizationNote
from allies.organizations.notes import NOTE_MAX, add_note, notes_of
from allies.staff.models import AuditEvent, StaffUser


def _note_bodies(app, org_id):
    with app.app_context():
        return [note.body for note in notes_of(org_id)]


def _org_of(app, application_id):
    from allies.applications.models import Application

    with app.app_context():
        return db.session.get(Application, application_id).organization_id


def _section(page: str, heading: str = 'id="notes"') -> str:
    part = page[page.index(heading) :]
    return part[: part.index("</section>")]


def test_staff_add_notes_on_the_ally_page_newest_first_dated_and_signed(app, client, auth, factory):
    org_id, _ = factory.ally(name="Noted Org")
    email = auth.login("reviewer")
    for body in ("Met them at the conference.", "They asked about co-branding."):
        response = client.post(f"/staff/allies/{org_id}/notes", data={"note-body": body})
        assert response.status_code == 302
        assert response.location.endswith(f"/staff/allies/{org_id}#notes")
    page = client.get(f"/staff/allies/{org_id}").get_data(as_text=True)
    notes = _section(page)
    assert notes.index("They asked about co-branding.") < notes.index("Met them at the conference.")
    with app.app_context():
        reviewer = db.session.scalar(db.select(StaffUser).where(StaffUser.email == email))
        assert notes.count(reviewer.label) == 2
        stored = db.session.scalars(db.select(OrganizationNote)).all()
        assert {n.staff_id for n in stored} == {reviewer.id}
        assert all(n.created_at is not None for n in stored)
        events = db.session.scalars(
            db.select(AuditEvent).where(AuditEvent.action == "note_added")
        ).all()
        assert len(events) == 2
        assert {(e.subject_type, e.subject_id, e.staff_id) for e in events} == {
            ("organization", org_id, reviewer.id)
        }
        assert {e.reason for e in events} == {
            "Met them at the conference.",
            "They asked about co-branding.",
        }
    # In the page's history and in the audit log too.
    assert "note added" in page[page.index("<h2>History</h2>") :]
    log = client.get(f"/staff/audit?organization={org_id}&action=note_added").get_data(True)
    assert "They asked about co-branding." in log


def test_a_note_added_on_the_review_page_shows_on_both_pages(app, client, auth, factory):
    application_id = factory.application(name="Applicant Org")
    org_id = _org_of(app, application_id)
    auth.login("reviewer")
    response = client.post(
        f"/staff/applications/{application_id}/notes",
        data={"note-body": "Called the director: the statement is theirs."},
    )
    assert response.status_code == 302
    assert response.location.endswith(f"/staff/applications/{application_id}#notes")
    review = client.get(f"/staff/applications/{application_id}").get_data(as_text=True)
    assert "Called the director: the statement is theirs." in _section(review)
    ally = client.get(f"/staff/allies/{org_id}").get_data(as_text=True)
    assert "Called the director: the statement is theirs." in _section(ally)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("", "Write the note before adding it."),
        ("x" * (NOTE_MAX + 1), f"at most {NOTE_MAX} characters"),
    ],
)
@pytest.mark.parametrize("where", ["ally", "review"])
def test_a_bad_note_is_refused_next_to_the_field_keeping_what_was_typed(
    app, client, auth, factory, body, message, where
):
    org_id, _ = factory.ally()
    auth.login("reviewer")
    if where == "ally":
        url = f"/staff/allies/{org_id}/notes"
    else:
        with app.app_context():
            from allies.applications.models import Application

            application_id = db.session.scalar(
                db.select(Application.id).where(Application.organization_id == org_id)
            )
        url = f"/staff/applications/{application_id}/notes"
    response = client.post(url, data={"note-body": body})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    error = page[page.index('id="note-body-error"') :]
    assert message in error[: error.index("</p>")]
    assert 'aria-invalid="true"' in _section(page)
    if body:
        assert body in _section(page)
    assert _note_bodies(app, org_id) == []


def test_a_blank_note_typed_with_spaces_only_is_refused(app, client, auth, factory):
    org_id, _ = factory.ally()
    auth.login("reviewer")
    response = client.post(f"/staff/allies/{org_id}/notes", data={"note-body": "   \n  "})
    assert response.status_code == 400
    assert _note_bodies(app, org_id) == []


def test_add_note_refuses_an_empty_or_long_note_and_writes_nothing(app, factory):
    org_id, _ = factory.ally()
    staff_id, _email, _password = factory.staff("reviewer")
    with app.app_context():
        organization = db.session.get(Organization, org_id)
        staff = db.session.get(StaffUser, staff_id)
        for body in ("", "  ", "y" * (NOTE_MAX + 1)):
            with pytest.raises(OperationError):
                add_note(organization, body, staff=staff)
        note = add_note(organization, "  Kept, trimmed.  ", staff=staff)
        assert note.body == "Kept, trimmed." and note.author == staff.label
        assert (
            db.session.scalar(db.select(db.func.count()).where(AuditEvent.action == "note_added"))
            == 1
        )


def test_a_long_note_is_summarised_in_the_audit_log(app, factory):
    org_id, _ = factory.ally()
    staff_id, _email, _password = factory.staff("reviewer")
    with app.app_context():
        add_note(
            db.session.get(Organization, org_id),
            "word " * 100,
            staff=db.session.get(StaffUser, staff_id),
        )
        reason = db.session.scalar(
            db.select(AuditEvent.reason).where(AuditEvent.action == "note_added")
        )
    assert len(reason) == 120 and reason.endswith("…")


def test_notes_are_kept_as_written(app):
    """Append-only: there is no route to edit or delete a note."""
    note_rules = [rule for rule in app.url_map.iter_rules() if "notes" in rule.rule]
    assert sorted((rule.rule, sorted(rule.methods - {"OPTIONS"})) for rule in note_rules) == [
        ("/staff/allies/<int:organization_id>/notes", ["POST"]),
        ("/staff/applications/<int:application_id>/notes", ["POST"]),
    ]


def test_notes_are_never_public(app, client, auth, factory):
    org_id, _ = factory.ally(name="Private Notes Org")
    auth.login("reviewer")
    client.post(f"/staff/allies/{org_id}/notes", data={"note-body": "Staff eyes only 7731."})
    auth.logout()
    with app.app_context():
        slug = db.session.get(Organization, org_id).slug
    for path in (f"/allies/{slug}", "/allies", "/allies.json"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert "Staff eyes only 7731." not in response.get_data(as_text=True), path
    response = client.post(f"/staff/allies/{org_id}/notes", data={"note-body": "anon"})
    assert response.status_code == 302 and "/staff/sign-in" in response.location


def test_a_note_on_an_unknown_organization_or_application_is_a_404(app, client, auth):
    auth.login("reviewer")
    for url in ("/staff/allies/4242/notes", "/staff/applications/4242/notes"):
        assert client.post(url, data={"note-body": "Lost note."}).status_code == 404
