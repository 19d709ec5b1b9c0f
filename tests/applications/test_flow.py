"""The whole slice through the test client: apply, review, approve, listed; declined is not."""

import io
import re
from datetime import date

from PIL import Image

from allies.applications.models import Application, Endorsement
from allies.applications.statements import current_statements
from allies.extensions import db
from allies.mail.models import OutboxMessage
from allies.staff.models import AuditEvent
from tests.fixtures import application_form, png_bytes


def listed_names(client) -> list[str]:
    return [ally["name"] for ally in client.get("/allies.json").get_json()["allies"]]


def links_in_outbox(app, to_addr: str) -> list[str]:
    with app.app_context():
        bodies = db.session.scalars(
            db.select(OutboxMessage.body_text).where(OutboxMessage.to_addr == to_addr)
        ).all()
    return [
        link for body in bodies for link in re.findall(r"http://allies\.test/my/link/\S+", body)
    ]


def test_apply_review_approve_then_listed(app, client, auth):
    data = application_form(app)
    data["logo"] = (io.BytesIO(png_bytes()), "logo.png")
    response = client.post("/apply", data=data, content_type="multipart/form-data")
    assert response.status_code == 302 and response.location.endswith("/apply/thanks")
    assert "dana@equity.example.org" in client.get("/apply/thanks").get_data(as_text=True)

    with app.app_context():
        application = db.session.scalar(db.select(Application))
        assert application.state == "submitted"
        assert application.organization.logo_filename.endswith(".png")
        endorsement = db.session.scalar(db.select(Endorsement))
        assert endorsement.signer_name == "Lee Chen" and endorsement.ip == "127.0.0.1"
        application_id = application.id
    assert "Health Equity Collective" not in listed_names(client)
    assert links_in_outbox(app, "dana@equity.example.org"), "the applicant is emailed a status link"

    auth.login("reviewer")
    review = client.get(f"/staff/applications/{application_id}").get_data(as_text=True)
    assert "Lee Chen" in review and "127.0.0.1" in review
    response = client.post(
        f"/staff/applications/{application_id}/approve", data={"start_date": "2026-03-01"}
    )
    assert response.status_code == 302

    with app.app_context():
        application = db.session.get(Application, application_id)
        assert application.state == "approved"
        agreement = application.organization.agreements[0]
        assert (agreement.start_date, agreement.end_date) == (date(2026, 3, 1), date(2028, 2, 29))
        actions = db.session.scalars(
            db.select(AuditEvent.action).where(AuditEvent.subject_type == "application")
        ).all()
        assert actions == ["submitted", "approved"]
        slug = application.organization.slug

    assert "Health Equity Collective" in listed_names(client)
    page = client.get("/allies").get_data(as_text=True)
    assert "Health Equity Collective" in page and 'rel="noopener' in page
    one = client.get(f"/allies/{slug}").get_data(as_text=True)
    assert "Ally since 2026" in one
    logo_url = client.get("/allies.json").get_json()["allies"][0]["logo_url"]
    logo = client.get(logo_url.replace("http://allies.test", ""))
    assert logo.status_code == 200 and logo.mimetype == "image/png"
    assert logo.headers["X-Content-Type-Options"] == "nosniff"
    assert max(Image.open(io.BytesIO(logo.data)).size) == 800


def test_declined_is_not_listed_and_the_reason_is_emailed(app, client, auth, factory):
    application_id = factory.application(name="Declined Org", email="no@declined.example.org")
    auth.login("reviewer")
    empty = client.post(f"/staff/applications/{application_id}/decline", data={"reason": ""})
    assert empty.status_code == 400 and "A reason is required to decline." in empty.get_data(
        as_text=True
    )
    client.post(
        f"/staff/applications/{application_id}/decline", data={"reason": "Outside our field."}
    )
    assert "Declined Org" not in listed_names(client)
    assert "Declined Org" not in client.get("/allies").get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Application, application_id).state == "declined"
        bodies = db.session.scalars(
            db.select(OutboxMessage.body_text).where(
                OutboxMessage.to_addr == "no@declined.example.org"
            )
        ).all()
        assert any("Outside our field." in body for body in bodies)


def test_question_answer_and_withdraw_through_the_status_link(app, client, auth, factory):
    application_id = factory.application(name="Asked Org", email="asked@example.org")
    auth.login("reviewer")
    client.post(f"/staff/applications/{application_id}/question", data={"body": "Who funds you?"})
    with app.app_context():
        assert db.session.get(Application, application_id).state == "info_requested"
    auth.logout()

    link = links_in_outbox(app, "asked@example.org")[-1]
    path = link.replace("http://allies.test", "")
    assert client.get(path).status_code == 200  # a GET only shows the button (mail scanners)
    token_path = path.split("?")[0]
    response = client.post(token_path, data={"next": f"/my/applications/{application_id}"})
    assert response.status_code == 302 and response.location.endswith(
        f"/my/applications/{application_id}"
    )
    page = client.get(f"/my/applications/{application_id}").get_data(as_text=True)
    assert "Who funds you?" in page

    client.post(
        f"/my/applications/{application_id}", data={"action": "answer", "answer-body": "Members."}
    )
    with app.app_context():
        assert db.session.get(Application, application_id).state == "submitted"
    missing = client.post(f"/my/applications/{application_id}", data={"action": "withdraw"})
    assert missing.status_code == 400 and "Tick the box to confirm." in missing.get_data(
        as_text=True
    )
    client.post(
        f"/my/applications/{application_id}",
        data={"action": "withdraw", "withdraw-confirm": "y", "withdraw-reason": "Not now"},
    )
    with app.app_context():
        assert db.session.get(Application, application_id).state == "withdrawn"
        kinds = db.session.scalars(
            db.select(OutboxMessage.kind).where(OutboxMessage.to_addr == "asked@example.org")
        ).all()
        assert kinds == [
            "application_received",
            "application_question",
            "answer_received",
            "application_withdrawn",
        ]
    # the same link cannot be used twice
    client.post("/my/sign-out")
    again = client.post(token_path, data={"next": "/my"})
    assert again.status_code == 400


def test_sign_in_request_answers_the_same_for_known_and_unknown(app, client, factory):
    factory.application(email="known@example.org")
    known = client.post("/sign-in", data={"email": "known@example.org"}).get_data(as_text=True)
    unknown = client.post("/sign-in", data={"email": "nobody@example.org"}).get_data(as_text=True)
    assert known.replace("known@", "X@") == unknown.replace("nobody@", "X@")
    assert len(links_in_outbox(app, "known@example.org")) == 2  # application + sign-in
    assert links_in_outbox(app, "nobody@example.org") == []


def test_duplicate_application_is_accepted_and_flagged(app, client, auth, factory):
    factory.ally(name="The Camden Coalition", website="https://camdenhealth.org")
    by_domain = factory.application(
        name="Camden Health Partners", website="https://www.camdenhealth.org/apply"
    )
    by_name = factory.application(
        name="Camden Coalition, Inc.", website="https://other.example.net"
    )
    fresh = factory.application(name="Entirely New Org", website="https://new.example.net")
    with app.app_context():
        assert db.session.get(Application, by_domain).duplicate_reason == "same website domain"
        assert db.session.get(Application, by_name).duplicate_reason == "same name"
        assert db.session.get(Application, fresh).duplicate_of_id is None
    auth.login("reviewer")
    assert "Possible duplicate" in client.get(f"/staff/applications/{by_domain}").get_data(
        as_text=True
    )


def test_statement_edit_makes_a_version_and_applications_keep_theirs(app, client, auth, factory):
    application_id = factory.application()
    auth.login("admin")
    client.post("/staff/texts", data={"kind": "mission", "mission-text": "A new mission."})
    with app.app_context():
        texts = current_statements()
        assert texts["mission"].version == 2 and texts["mission"].text == "A new mission."
        endorsement = db.session.get(Application, application_id).endorsement
        assert endorsement.mission_version.version == 1
    assert "A new mission." in client.get("/become-an-ally").get_data(as_text=True)


def test_endorsing_an_outdated_text_is_refused_and_keeps_input(app, client, auth):
    data = application_form(app)
    auth.login("admin")
    client.post("/staff/texts", data={"kind": "vision", "vision-text": "A changed vision."})
    auth.logout()
    response = client.post("/apply", data=data)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "The vision text was updated while you were reading it." in html
    assert "Please read the current text and tick again." in html  # next to the boxes
    assert 'value="Health Equity Collective"' in html
    assert "A changed vision." in html


def test_public_pages_follow_changes_at_once(app, client, auth, factory):
    org_id, agreement_id = factory.ally(name="Cached Clinic")
    visitor = app.test_client(use_cookies=False)  # no session: served from the whole-page cache
    assert "Cached Clinic" in visitor.get("/allies").get_data(as_text=True)
    assert "Cached Clinic" in visitor.get("/allies/cached-clinic").get_data(as_text=True)
    assert "Cached Clinic" in listed_names(visitor)
    auth.login("admin")
    client.post(
        f"/staff/allies/{org_id}/agreements/{agreement_id}/terminate",
        data={"terminated_on": date.today().isoformat(), "reason": "Asked to leave"},
    )
    assert "Cached Clinic" not in visitor.get("/allies").get_data(as_text=True)
    assert "Cached Clinic" not in listed_names(visitor)
    assert visitor.get("/allies/cached-clinic").status_code == 404
    assert "Cached Clinic" not in client.get("/allies").get_data(as_text=True)
