"""Bad input on every form: a clear message next to the field, and nothing typed is lost."""

import io
import re

import pytest
from PIL import Image

from allies.applications.models import Application
from allies.extensions import db
from tests.fixtures import application_form, png_bytes


def field_error(html: str, field_id: str) -> str:
    """The error text shown next to ``field_id`` ('' when there is none)."""
    match = re.search(rf'<p class="error-message" id="{field_id}-error">(.*?)</p>', html, re.S)
    return re.sub(r"<[^>]+>", "", match.group(1)).strip() if match else ""


def test_empty_application_marks_every_required_field(client):
    html = client.post("/apply", data={}).get_data(as_text=True)
    for field_id in (
        "name",
        "website",
        "type_id",
        "city",
        "country",
        "description",
        "contact_name",
        "contact_title",
        "contact_email",
        "support_statement",
        "endorse_mission",
        "endorse_vision",
        "endorse_values",
        "signer_name",
        "signer_title",
    ):
        assert field_error(html, field_id), field_id
    assert field_error(html, "endorse_values") == "Please endorse the values."
    assert field_error(html, "region") == ""  # optional
    assert 'aria-invalid="true"' in html and 'id="error-summary"' in html


@pytest.mark.parametrize(
    ("website", "message"),
    [
        ("javascript:alert(1)", "must start with http"),
        ("java\tscript:alert(1)", "cannot contain spaces"),
        ("data:text/html,hi", "must start with http"),
        ("ftp://example.org", "must start with http"),
        ("https://", "Enter a full web address"),
        ("not a url", "cannot contain spaces"),
    ],
)
def test_websites_must_be_http(app, client, website, message):
    response = client.post("/apply", data=application_form(app, website=website))
    html = response.get_data(as_text=True)
    assert message in field_error(html, "website")
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(Application.id))) == 0


def test_bare_domain_gets_https(app, client):
    client.post("/apply", data=application_form(app, website="equity.example.org"))
    with app.app_context():
        assert (
            db.session.scalar(db.select(Application)).organization.website
            == "https://equity.example.org"
        )


def test_typed_values_are_kept_after_an_error(app, client):
    data = application_form(app, contact_email="not-an-email", description="Our <b>work</b> & more")
    html = client.post("/apply", data=data).get_data(as_text=True)
    assert field_error(html, "contact_email")
    assert 'value="Health Equity Collective"' in html
    assert "Our &lt;b&gt;work&lt;/b&gt; &amp; more" in html
    assert 'value="Dana Rivera"' in html
    assert re.search(r'id="endorse_mission"[^>]*checked', html) or re.search(
        r'checked[^>]*id="endorse_mission"', html
    )


def test_description_limit(app, client):
    html = client.post("/apply", data=application_form(app, description="x" * 501)).get_data(
        as_text=True
    )
    assert "500" in field_error(html, "description")


def _upload(app, client, payload: bytes, filename: str, **overrides):
    data = application_form(app, **overrides)
    data["logo"] = (io.BytesIO(payload), filename)
    return client.post("/apply", data=data, content_type="multipart/form-data")


def test_accepted_logo_is_not_asked_for_again(app, client):
    first = _upload(app, client, png_bytes(), "logo.png", city="")
    html = first.get_data(as_text=True)
    assert field_error(html, "city")
    assert field_error(html, "logo") == ""
    token = re.search(r'name="accepted_logo" type="hidden" value="([^"]+)"', html) or re.search(
        r'id="accepted_logo" name="accepted_logo" type="hidden" value="([^"]+)"', html
    )
    token = token or re.search(r'name="accepted_logo"[^>]*value="([^"]+)"', html)
    assert token, "the accepted logo travels with the form"
    assert "Logo received" in html
    data = application_form(app)
    data["accepted_logo"] = token.group(1)
    assert client.post("/apply", data=data).status_code == 302
    with app.app_context():
        assert db.session.scalar(db.select(Application)).organization.logo_filename.endswith(".png")


def test_a_forged_accepted_logo_is_ignored(app, client):
    data = application_form(app, accepted_logo="../../etc/passwd")
    assert client.post("/apply", data=data).status_code == 302
    with app.app_context():
        assert db.session.scalar(db.select(Application)).organization.logo_filename is None


@pytest.mark.parametrize(
    ("payload", "filename", "message"),
    [
        (b"<svg xmlns='http://www.w3.org/2000/svg'></svg>", "logo.svg", "PNG, JPEG or WebP"),
        (b"<html><script>alert(1)</script></html>", "logo.png", "PNG, JPEG or WebP"),
        (None, "logo.gif", "PNG, JPEG or WebP"),
        (None, "truncated.jpg", "damaged or incomplete"),
    ],
)
def test_bad_logos_are_refused_with_a_message(app, client, payload, filename, message):
    if filename == "logo.gif":
        out = io.BytesIO()
        Image.new("RGB", (20, 20)).save(out, format="GIF")
        payload = out.getvalue()
    if filename == "truncated.jpg":
        out = io.BytesIO()
        Image.effect_noise((400, 400), 50).convert("RGB").save(out, format="JPEG")
        payload = out.getvalue()[:2000]
    html = _upload(app, client, payload, filename).get_data(as_text=True)
    assert message in field_error(html, "logo")
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(Application.id))) == 0


def test_logo_over_two_megabytes_is_refused(app, client):
    big = b"\x89PNG\r\n\x1a\n" + b"\0" * (2 * 1024 * 1024 + 10)
    html = _upload(app, client, big, "big.png").get_data(as_text=True)
    assert "2 MB or smaller" in field_error(html, "logo")


def test_staff_sign_in_gives_one_message_for_any_failure(client, factory):
    _id, email, _password = factory.staff("reviewer")
    wrong = client.post("/staff/sign-in", data={"email": email, "password": "wrong-password"})
    unknown = client.post(
        "/staff/sign-in", data={"email": "who@example.org", "password": "wrong-password"}
    )
    assert wrong.status_code == unknown.status_code == 401
    message = "The email or password is not right."
    assert message in wrong.get_data(as_text=True) and message in unknown.get_data(as_text=True)
    assert f'value="{email}"' in wrong.get_data(as_text=True)


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example",
        "//evil.example",
        "/\\evil.example",
        "////evil.example",
        "javascript:alert(1)",
    ],
)
def test_next_only_goes_to_local_paths(client, factory, target):
    _id, email, password = factory.staff("reviewer")
    response = client.post(
        "/staff/sign-in", query_string={"next": target}, data={"email": email, "password": password}
    )
    assert response.status_code == 302
    assert response.location in ("/staff", "http://allies.test/staff")


def test_next_local_path_is_followed(client, factory):
    _id, email, password = factory.staff("reviewer")
    response = client.post(
        "/staff/sign-in",
        query_string={"next": "/staff/applications"},
        data={"email": email, "password": password},
    )
    assert response.location.endswith("/staff/applications")


def test_settings_reject_bad_offsets_and_colours(client, auth):
    auth.login("admin")
    response = client.post(
        "/staff/settings",
        data={
            "alliance_name": "SMA",
            "alliance_short_name": "SMA",
            "contact_email": "a@example.org",
            "brand_color": "red",
            "accent_color": "#112233",
            "reminder_hour": "8",
            "reminder_offsets": "90, soon",
            "grace_days": "30",
            "digest_weekday": "0",
        },
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Use a colour like" in field_error(html, "brand_color")
    assert "whole numbers" in field_error(html, "reminder_offsets")
    assert 'value="90, soon"' in html


def test_settings_save(app, client, auth):
    auth.login("admin")
    response = client.post(
        "/staff/settings",
        data={
            "alliance_name": "Health Alliance",
            "alliance_short_name": "HA",
            "contact_email": "a@example.org",
            "brand_color": "#123456",
            "accent_color": "#112233",
            "reminder_hour": "7",
            "reminder_offsets": "60,14, 3",
            "grace_days": "15",
            "digest_weekday": "2",
        },
    )
    assert response.status_code == 302
    with app.app_context():
        from allies.staff.settings import all_settings

        settings = all_settings()
    assert settings["reminder_offsets"] == [60, 14, 3] and settings["grace_days"] == 15
    assert "Health Alliance" in client.get("/").get_data(as_text=True)
    assert "#123456" in client.get("/theme.css").get_data(as_text=True)


def test_staff_user_form_errors(client, auth):
    auth.login("admin")
    response = client.post(
        "/staff/users", data={"email": "bad", "role": "admin", "password": "short"}
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert field_error(html, "email") and "at least 10" in field_error(html, "password")


def test_question_needs_text(client, auth, factory):
    application_id = factory.application()
    auth.login("reviewer")
    response = client.post(f"/staff/applications/{application_id}/question", data={"body": ""})
    assert response.status_code == 400
    assert "Write the question." in response.get_data(as_text=True)


def test_approve_needs_a_valid_start_date_and_changes_nothing_without_one(
    app, client, auth, factory
):
    application_id = factory.application()
    auth.login("reviewer")
    response = client.post(
        f"/staff/applications/{application_id}/approve", data={"start_date": "31/02/2026"}
    )
    assert response.status_code == 400
    assert field_error(response.get_data(as_text=True), "start_date")
    with app.app_context():
        assert db.session.get(Application, application_id).state == "submitted"


@pytest.mark.parametrize(
    ("path", "data", "field_id", "message"),
    [
        ("/sign-in", {"email": "nope"}, "email", "valid email"),
        ("/staff/types", {"name": ""}, "name", "required"),
        ("/staff/texts", {"kind": "mission", "mission-text": ""}, "mission-text", "required"),
    ],
)
def test_small_forms_show_errors_next_to_the_field(client, auth, path, data, field_id, message):
    auth.login("admin")
    response = client.post(path, data=data)
    assert response.status_code in (200, 400)
    assert message in field_error(response.get_data(as_text=True), field_id)


def test_contact_form_errors_keep_what_was_typed(app, client, factory):
    application_id = factory.application(email="portal@example.org")
    from allies.organizations.access import make_link_token
    from allies.organizations.models import Contact

    with app.test_request_context():
        contact = db.session.scalar(db.select(Contact).where(Contact.email == "portal@example.org"))
        token = make_link_token(contact, "sign-in")
        db.session.commit()
    client.post(f"/my/link/{token}")
    response = client.post(
        "/my/contacts", data={"role": "communications", "name": "Kim Comms", "email": "kim@"}
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "valid email" in field_error(html, "email") and 'value="Kim Comms"' in html
    assert application_id
