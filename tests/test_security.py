"""Security: cookies, headers, production checks, tokens, uploads, escaping, exports, faults."""

import io
import os
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from PIL import Image

from allies import create_app
from allies.applications.models import Application
from allies.extensions import db
from allies.organizations.access import InvalidLink, consume_link_token, make_link_token
from allies.organizations.models import Contact, Organization
from allies.timeutil import utcnow
from tests.fixtures import application_form, png_bytes

# ---------------------------------------------------------------- cookies and sessions


def _cookie(response, name):
    for header in response.headers.getlist("Set-Cookie"):
        if header.startswith(name + "="):
            return header
    return ""


def test_session_cookie_flags(client, factory):
    _id, email, password = factory.staff("reviewer")
    response = client.post(
        "/staff/sign-in", data={"email": email, "password": password, "remember": "y"}
    )
    session_cookie = _cookie(response, "session")
    assert "HttpOnly" in session_cookie and "SameSite=Lax" in session_cookie
    assert _cookie(response, "remember_token") == "", "no remember cookie outlives a session"


def test_production_cookies_are_secure(app_config):
    app_config.update(
        ALLIES_ENV="production",
        SECRET_KEY="9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        PUBLIC_BASE_URL="https://allies.test",
    )
    app_config["ALLOW_SQLITE_IN_PRODUCTION"] = True
    app = create_app(app_config)
    assert app.config["SESSION_COOKIE_SECURE"] and app.config["REMEMBER_COOKIE_SECURE"]
    response = app.test_client().get("/")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_sign_in_starts_a_new_session(client, factory):
    with client.session_transaction() as session:
        session["planted"] = "by an attacker"
    _id, email, password = factory.staff("reviewer")
    client.post("/staff/sign-in", data={"email": email, "password": password})
    with client.session_transaction() as session:
        assert "planted" not in session


def test_sign_out_ends_every_session_of_the_account(app, factory):
    _id, email, password = factory.staff("reviewer")
    first, second = app.test_client(), app.test_client()
    for browser in (first, second):
        browser.post("/staff/sign-in", data={"email": email, "password": password, "remember": "y"})
        assert browser.get("/staff").status_code == 200
    first.post("/staff/sign-out")
    assert first.get("/staff").status_code == 302
    assert second.get("/staff").status_code == 302, "the other device is signed out too"


def test_disabling_an_account_ends_its_sessions(app, client, auth, factory):
    user_id, email, password = factory.staff("reviewer")
    victim = app.test_client()
    victim.post("/staff/sign-in", data={"email": email, "password": password})
    assert victim.get("/staff").status_code == 200
    auth.login("admin")
    client.post(
        f"/staff/users/{user_id}", data={"name": "R", "role": "reviewer"}
    )  # enabled unticked
    assert victim.get("/staff").status_code == 302
    again = victim.post("/staff/sign-in", data={"email": email, "password": password})
    assert again.status_code == 401


# ---------------------------------------------------------------- headers and production


def test_security_headers_on_every_response(client):
    for path in (
        "/",
        "/allies",
        "/allies.json",
        "/apply",
        "/staff/sign-in",
        "/missing",
        "/theme.css",
    ):
        headers = client.get(path).headers
        csp = headers["Content-Security-Policy"]
        for directive in (
            "default-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
        ):
            assert directive in csp, (path, directive)
        assert "unsafe-inline" not in csp
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"]


def test_pages_have_no_inline_script(client):
    for path in ("/", "/allies", "/apply", "/become-an-ally", "/sign-in", "/staff/sign-in"):
        html = client.get(path).get_data(as_text=True)
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), path
        assert " onclick=" not in html and " style=" not in html


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"SECRET_KEY": ""}, "SECRET_KEY is not set"),
        ({"SECRET_KEY": "changeme"}, "SECRET_KEY is weak"),
        ({"DEBUG": True}, "DEBUG is on"),
        ({"ALLOW_SQLITE_IN_PRODUCTION": False}, "The database is SQLite"),
    ],
)
def test_production_refuses_unsafe_configuration(tmp_path, overrides, message):
    config = {
        "ALLIES_ENV": "production",
        "SECRET_KEY": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "PUBLIC_BASE_URL": "https://allies.example.org",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.sqlite3",
        "ALLOW_SQLITE_IN_PRODUCTION": True,
        "INSTANCE_PATH": str(tmp_path),
        **overrides,
    }
    with pytest.raises(RuntimeError, match=message):
        create_app(config)


def test_check_deploy_lists_what_is_unsafe(runner):
    result = runner.invoke(args=["check-deploy"])
    assert result.exit_code == 1
    assert "UNSAFE: The database is SQLite" in result.output or "postgresql" in str(
        runner.app.config["SQLALCHEMY_DATABASE_URI"]
    )
    assert "UNSAFE: SESSION_COOKIE_SECURE is off" in result.output
    assert "UNSAFE: MAIL_SERVER is not set" in result.output


# ---------------------------------------------------------------- rate limits


@pytest.fixture
def limited(app_config):
    app_config["RATELIMIT_ENABLED"] = True
    app_config["SIGN_IN_RATE_LIMIT"] = "5 per minute"


def test_sign_in_attempts_are_rate_limited_in_the_database(limited, app, client, factory):
    _id, email, _password = factory.staff("reviewer")
    codes = [
        client.post("/staff/sign-in", data={"email": email, "password": "wrong"}).status_code
        for _ in range(7)
    ]
    assert codes[:5] == [401] * 5 and codes[5:] == [429, 429]
    # counted in the shared database table, not in this worker's memory
    from allies.staff.ratelimit import RateLimitCounter

    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.max(RateLimitCounter.count))) >= 5


# ---------------------------------------------------------------- tokens


def _contact(app, factory):
    factory.application(email="links@example.org")
    with app.app_context():
        return db.session.scalar(sa.select(Contact.id).where(Contact.email == "links@example.org"))


def test_tokens_refused_when_tampered_expired_reused_or_for_another_purpose(app, factory):
    contact_id = _contact(app, factory)
    with app.test_request_context():
        contact = db.session.get(Contact, contact_id)
        good = make_link_token(contact, "sign-in")
        old = make_link_token(contact, "sign-in")
        other = make_link_token(contact, "sign-in")
        db.session.commit()
        with pytest.raises(InvalidLink):
            consume_link_token(good[:-2] + ("AA" if not good.endswith("AA") else "BB"), "sign-in")
        with pytest.raises(InvalidLink):
            consume_link_token(other, "renewal")  # made for another purpose
        later = utcnow() + timedelta(seconds=app.config["SIGN_IN_LINK_MAX_AGE"] + 5)
        with pytest.raises(InvalidLink):
            consume_link_token(old, "sign-in", now=later)  # expired
        assert consume_link_token(good, "sign-in").contact_id == contact_id
        with pytest.raises(InvalidLink):
            consume_link_token(good, "sign-in")  # used


def test_a_renewal_link_opens_only_its_agreement(app, client, factory):
    _org, agreement_id = factory.ally(name="Renewing Org", email="renew@example.org")
    _other_org, other_agreement = factory.ally(name="Other Org", email="other@example.org")
    with app.test_request_context():
        from allies.agreements.models import Agreement

        agreement = db.session.get(Agreement, agreement_id)
        token = make_link_token(agreement.organization.contacts[0], "renewal", agreement=agreement)
        db.session.commit()
    response = client.post(f"/my/link/{token}")
    assert response.status_code == 302 and response.location.endswith(f"/my/renew/{agreement_id}")
    assert client.get(f"/my/renew/{agreement_id}").status_code == 200
    assert client.get(f"/my/renew/{other_agreement}").status_code == 404
    assert client.get("/my").status_code == 302  # the portal needs a sign-in link
    with app.app_context():
        own_application = db.session.scalar(
            sa.select(Application.id).where(Application.organization_id == _org)
        )
    assert client.get(f"/my/applications/{own_application}").status_code == 302


# ---------------------------------------------------------------- uploads


def _post_logo(app, client, payload: bytes, filename: str):
    data = application_form(app)
    data["logo"] = (io.BytesIO(payload), filename)
    return client.post("/apply", data=data, content_type="multipart/form-data")


def _stored_files(app):
    import os

    folder = app.config["UPLOAD_FOLDER"]
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


def test_request_over_the_size_cap_is_413_and_stores_nothing(app, client):
    response = _post_logo(app, client, b"\x89PNG" + b"\0" * (4 * 1024 * 1024), "huge.png")
    assert response.status_code == 413
    assert "File too large" in response.get_data(as_text=True)
    assert _stored_files(app) == []
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Organization.id))) == 0


def test_decompression_bomb_is_refused_quickly(app, client):
    import time

    out = io.BytesIO()
    Image.new("1", (20000, 20000)).save(out, format="PNG", optimize=True)
    assert len(out.getvalue()) < 2 * 1024 * 1024
    started = time.perf_counter()
    html = _post_logo(app, client, out.getvalue(), "bomb.png").get_data(as_text=True)
    assert time.perf_counter() - started < 5
    assert "too large" in html or "PNG, JPEG or WebP" in html
    assert _stored_files(app) == []


def test_stored_logo_is_reencoded_without_metadata(app, client):
    image = Image.new("RGB", (300, 200), (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = "SecretCamera"  # Make
    exif[0x8825] = {2: (1.0, 2.0, 3.0)}  # GPS
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif.tobytes(), comment=b"private note")
    assert b"SecretCamera" in out.getvalue()
    assert _post_logo(app, client, out.getvalue(), "photo.jpg").status_code == 302
    [name] = _stored_files(app)
    assert re.fullmatch(r"[0-9a-f]{32}\.jpg", name)
    stored = open(f"{app.config['UPLOAD_FOLDER']}/{name}", "rb").read()
    assert b"SecretCamera" not in stored and b"private note" not in stored
    assert Image.open(io.BytesIO(stored)).getexif() == {}


def test_logo_route_refuses_paths(client):
    assert client.get("/logos/..%2Finstance%2Fsecret_key").status_code == 404
    assert client.get("/logos/secret_key").status_code == 404


# ---------------------------------------------------------------- escaping and exports

HOSTILE = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'


def test_user_text_is_escaped_on_every_page(app, client, auth, factory):
    org_id, _agreement = factory.ally(
        name="Evil " + HOSTILE,
        description="About " + HOSTILE,
        city=HOSTILE,
        email="evil@example.org",
    )
    with app.app_context():
        slug = db.session.get(Organization, org_id).slug
        application_id = db.session.scalar(sa.select(Application.id))
    auth.login("admin")
    pages = [
        "/",
        "/allies",
        f"/allies/{slug}",
        "/staff",
        f"/staff/applications/{application_id}",
        "/staff/allies",
        f"/staff/allies/{org_id}",
        "/staff/applications?state=all",
    ]
    for path in pages:
        html = client.get(path).get_data(as_text=True)
        assert "<script>alert(1)</script>" not in html, path
        assert "<img src=x onerror" not in html, path
        assert "&lt;script&gt;" in html, path
    assert client.get("/allies.json").get_json()["allies"][0]["name"].startswith("Evil <script>")


def test_csv_export_neutralises_formulas(app, client, auth, factory):
    factory.ally(name='=HYPERLINK("http://evil")', city="+1+1", region="-2", country="@SUM(A1)")
    auth.login("reviewer")
    response = client.get("/staff/allies/export.csv")
    assert response.mimetype == "text/csv"
    body = response.get_data(as_text=True)
    assert "'=HYPERLINK" in body and ",'+1+1," in body and ",'-2," in body and ",'@SUM(A1)," in body
    for line in body.splitlines()[1:]:
        for cell in line.split(","):
            assert not cell.startswith(("=", "+", "-", "@")), cell


def test_public_pages_never_show_contact_details(app, client, factory):
    factory.ally(name="Private Org", email="secret.person@example.org")
    with app.app_context():
        contact = db.session.scalar(sa.select(Contact))
        contact.phone = "+1 555 0199"
        contact.name = "Secret Person Name"
        db.session.commit()
        slug = db.session.scalar(sa.select(Organization.slug))
    for path in ("/", "/allies", f"/allies/{slug}", "/allies.json", "/become-an-ally"):
        body = client.get(path).get_data(as_text=True)
        for private in ("secret.person@example.org", "+1 555 0199", "Secret Person Name"):
            assert private not in body, (path, private)
    ally = client.get("/allies.json").get_json()["allies"][0]
    assert set(ally) == {
        "name",
        "slug",
        "url",
        "website",
        "type",
        "city",
        "region",
        "country",
        "description",
        "logo_url",
        "ally_since",
    }


# ---------------------------------------------------------------- database faults


class StatementBomb:
    """Raises on the Nth SQL statement after it is armed."""

    def __init__(self, fail_at: int):
        self.fail_at = fail_at
        self.count = 0
        self.armed = False

    def __call__(self, conn, cursor, statement, parameters, context, executemany):
        if self.armed and not statement.lstrip().upper().startswith(
            ("SAVEPOINT", "RELEASE", "ROLLBACK")
        ):
            self.count += 1
            if self.count == self.fail_at:
                raise sa.exc.OperationalError(statement, parameters, Exception("injected fault"))


def _approval_statements(app, factory, auth, client) -> int:
    application_id = factory.application()
    auth.login("reviewer")
    client.get(f"/staff/applications/{application_id}")
    bomb = StatementBomb(fail_at=10**9)
    with app.app_context():
        sa.event.listen(db.engine, "before_cursor_execute", bomb)
        bomb.armed = True
        client.post(
            f"/staff/applications/{application_id}/approve", data={"start_date": "2026-05-01"}
        )
        sa.event.remove(db.engine, "before_cursor_execute", bomb)
    return bomb.count


def _snapshot(app):
    with app.app_context():
        return {
            table.name: db.session.execute(sa.select(sa.func.count()).select_from(table)).scalar()
            for table in db.metadata.sorted_tables
            if table.name not in ("rate_limit_counter",)
        }


def test_a_fault_on_any_statement_of_an_approval_leaves_nothing_half_written(
    app, client, auth, factory
):
    total = _approval_statements(app, factory, auth, client)
    assert total > 5
    app.config["PROPAGATE_EXCEPTIONS"] = False
    for fail_at in range(1, total + 1):
        application_id = factory.application()
        before = _snapshot(app)
        bomb = StatementBomb(fail_at)
        with app.app_context():
            sa.event.listen(db.engine, "before_cursor_execute", bomb)
            bomb.armed = True
            response = client.post(
                f"/staff/applications/{application_id}/approve", data={"start_date": "2026-05-01"}
            )
            bomb.armed = False
            sa.event.remove(db.engine, "before_cursor_execute", bomb)
        after = _snapshot(app)
        with app.app_context():
            state = db.session.get(Application, application_id).state
        assert response.status_code == 500, fail_at  # every statement of the approval matters
        assert "nothing was half-saved" in response.get_data(as_text=True)
        assert state == "submitted", fail_at
        assert after == before, (fail_at, {k for k in after if after[k] != before[k]})


def test_private_pages_are_never_cached(client, auth, factory):
    application_id = factory.application()
    auth.login("reviewer")
    for path in ("/staff", f"/staff/applications/{application_id}", "/staff/outbox", "/sign-in"):
        assert client.get(path).headers["Cache-Control"] == "no-store", path


def test_no_staff_role_sees_sign_in_tokens_in_the_outbox(app, client, auth, factory):
    factory.application(email="holder@example.org")
    with app.app_context():
        from allies.mail.models import OutboxMessage

        message = db.session.scalar(
            sa.select(OutboxMessage).where(OutboxMessage.to_addr == "holder@example.org")
        )
        token = re.search(r"/my/link/([A-Za-z0-9._-]+)", message.body_text).group(1)
    for role in ("reviewer", "admin"):
        auth.login(role)
        page = client.get(f"/staff/outbox/{message.id}").get_data(as_text=True)
        assert token not in page and "/my/link/[redacted]" in page, role
        preview = client.get(f"/staff/outbox/{message.id}/preview").get_data(as_text=True)
        assert token not in preview, role
        auth.logout()


def test_line_breaks_in_one_line_fields_cannot_reach_email_headers(app, client):
    data = application_form(app, name="Evil\r\nBcc: victim@example.org", contact_title="A\nB")
    assert client.post("/apply", data=data).status_code == 302
    with app.app_context():
        organization = db.session.scalar(sa.select(Organization))
        assert organization.name == "Evil Bcc: victim@example.org"
        from allies.mail.models import OutboxMessage

        subjects = db.session.scalars(sa.select(OutboxMessage.subject)).all()
    assert subjects and all("\n" not in subject and "\r" not in subject for subject in subjects)


@pytest.fixture
def apply_limited(app_config):
    app_config["RATELIMIT_ENABLED"] = True
    app_config["APPLY_RATE_LIMIT"] = "3 per hour"


def test_applications_are_rate_limited(apply_limited, app, client):
    codes = [
        client.post("/apply", data=application_form(app, name=f"Org {n}")).status_code
        for n in range(5)
    ]
    assert codes == [302, 302, 302, 429, 429]


def test_orphan_logos_are_removed_after_a_day(app, client):
    import os
    import time

    from allies.organizations.operations import remove_orphan_logos

    assert _post_logo(app, client, png_bytes(), "kept.png").status_code == 302
    [kept] = _stored_files(app)
    data = application_form(app, city="")  # a form error: the logo is stored, the form never sent
    data["logo"] = (io.BytesIO(png_bytes()), "abandoned.png")
    client.post("/apply", data=data, content_type="multipart/form-data")
    orphan = next(name for name in _stored_files(app) if name != kept)
    with app.app_context():
        assert remove_orphan_logos() == 0  # too fresh: its form may still be sent
        old = time.time() - 2 * 86400
        for name in (kept, orphan):
            os.utime(f"{app.config['UPLOAD_FOLDER']}/{name}", (old, old))
        assert remove_orphan_logos() == 1
    assert _stored_files(app) == [kept]


def test_check_deploy_lists_problems_even_where_production_would_refuse_to_start(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    env = {
        "PATH": os.environ["PATH"],
        "ALLIES_ENV": "production",
        "ALLIES_INSTANCE_PATH": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "check-deploy"],
        cwd=root, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "UNSAFE: SECRET_KEY is not set." in result.stdout
    assert "UNSAFE: The database is SQLite" in result.stdout
    assert "Traceback" not in result.stderr


def test_behind_a_trusted_proxy_the_visitor_address_is_used(app_config, tmp_path):
    app_config["TRUSTED_PROXIES"] = 1
    app = create_app(app_config)
    with app.app_context():
        from allies.bootstrap import ensure_defaults

        ensure_defaults()
    client = app.test_client()
    data = application_form(app)
    response = client.post(
        "/apply", data=data, headers={"X-Forwarded-For": "203.0.113.7"},
        environ_base={"REMOTE_ADDR": "10.0.0.2"},
    )  # fmt: skip
    assert response.status_code == 302
    with app.app_context():
        from allies.applications.models import Endorsement

        assert db.session.scalar(sa.select(Endorsement.ip)) == "203.0.113.7"
