"""Staff sessions end after 30 minutes idle and 12 hours in all; nothing revives them."""

import time

import pytest
from flask_login.utils import encode_cookie

from tests.fixtures import csrf_token_from

DOMAIN = "allies.test"  # SERVER_NAME in the test configuration
MINUTE, HOUR = 60, 3600


def _age(client, *, signed_in: int = 0, seen: int = 0) -> None:
    """Move the sign-in and the last request ``signed_in``/``seen`` seconds into the past."""
    now = int(time.time())
    with client.session_transaction() as session:
        session["staff_signed_in_at"] = session.get("staff_signed_in_at", now) - signed_in
        session["staff_seen_at"] = session.get("staff_seen_at", now) - seen


def _signed_in(client) -> bool:
    response = client.get("/staff")
    assert response.status_code in (200, 302), response.status_code
    return response.status_code == 200


def _sign_in(client, email, password, **extra):
    response = client.post("/staff/sign-in", data={"email": email, "password": password, **extra})
    assert response.status_code == 302, response.get_data(as_text=True)
    return response


# ---------------------------------------------------------------- idle and absolute lifetimes


def test_a_staff_session_ends_after_thirty_minutes_idle(client, auth):
    auth.login("reviewer")
    _age(client, signed_in=29 * MINUTE, seen=29 * MINUTE)
    assert _signed_in(client), "29 minutes idle: still signed in"
    _age(client, signed_in=29 * MINUTE, seen=29 * MINUTE)
    assert _signed_in(client), "each request restarts the idle clock"
    _age(client, seen=30 * MINUTE + 1)
    response = client.get("/staff")
    assert response.status_code == 302
    assert "/staff/sign-in" in response.headers["Location"]
    assert not _signed_in(client), "the session stays ended"


def test_a_staff_session_ends_twelve_hours_after_sign_in_however_busy(client, auth):
    auth.login("admin")
    _age(client, signed_in=12 * HOUR - MINUTE)
    assert _signed_in(client)
    _age(client, signed_in=MINUTE + 1)  # a request a moment ago, but 12 hours since sign-in
    assert not _signed_in(client)


def test_a_session_without_its_timestamps_is_not_a_session(app, client, auth):
    """A cookie from before sessions had lifetimes (or a forged-up one) opens nothing."""
    auth.login("admin")
    with client.session_transaction() as session:
        session.pop("staff_signed_in_at", None)
    assert not _signed_in(client)


@pytest.fixture
def short_staff_sessions(app_config):
    app_config.update(STAFF_SESSION_IDLE_TIMEOUT=5 * MINUTE, STAFF_SESSION_LIFETIME=HOUR)


def test_the_staff_lifetimes_are_configurable(short_staff_sessions, app, client, auth):
    assert app.config["STAFF_SESSION_IDLE_TIMEOUT"] == 5 * MINUTE
    assert app.config["STAFF_SESSION_LIFETIME"] == HOUR
    auth.login("admin")
    _age(client, seen=5 * MINUTE + 1)
    assert not _signed_in(client)
    auth.login("admin")
    _age(client, signed_in=HOUR + 1)
    assert not _signed_in(client)


def test_the_default_staff_lifetimes(app):
    assert app.config["STAFF_SESSION_IDLE_TIMEOUT"] == 30 * MINUTE
    assert app.config["STAFF_SESSION_LIFETIME"] == 12 * HOUR


def test_lifetimes_must_be_positive_numbers_of_seconds(app_config):
    from allies import create_app

    app_config["STAFF_SESSION_IDLE_TIMEOUT"] = 0
    with pytest.raises(RuntimeError, match="STAFF_SESSION_IDLE_TIMEOUT"):
        create_app(app_config)


# ---------------------------------------------------------------- "remember me" revives nothing


def test_signing_in_sets_no_remember_cookie(client, factory):
    _id, email, password = factory.staff("reviewer")
    response = _sign_in(client, email, password, remember="y")
    cookies = " ".join(response.headers.getlist("Set-Cookie"))
    assert "remember_token=" not in cookies
    assert "Keep me signed in" not in client.get("/staff/sign-in").get_data(as_text=True)


def test_a_remember_cookie_cannot_revive_a_session(app, client, factory):
    """Not after the browser drops the session, nor after an idle timeout or 12 hours."""
    user_id, email, password = factory.staff("admin")
    _sign_in(client, email, password, remember="y")
    with app.test_request_context():
        # what Flask-Login's 365-day remember cookie held for this account
        remember = encode_cookie(f"{user_id}:1")

    returning = app.test_client()  # the browser closed: no session cookie, only the remember one
    returning.set_cookie("remember_token", remember, domain=DOMAIN)
    assert not _signed_in(returning)

    client.set_cookie("remember_token", remember, domain=DOMAIN)
    _age(client, seen=30 * MINUTE + 1)
    assert not _signed_in(client), "not after an idle timeout"
    _sign_in(client, email, password)
    client.set_cookie("remember_token", remember, domain=DOMAIN)
    _age(client, signed_in=12 * HOUR + 1)
    assert not _signed_in(client), "not after 12 hours"


# ---------------------------------------------------------------- CSRF tokens end with the session


@pytest.fixture
def csrf_on(app_config):
    app_config["WTF_CSRF_ENABLED"] = True


def _sign_in_with_csrf(client, factory) -> str:
    _id, email, password = factory.staff("admin")
    page = client.get("/staff/sign-in").get_data(as_text=True)
    _sign_in(client, email, password, csrf_token=csrf_token_from(page))
    return csrf_token_from(client.get("/staff").get_data(as_text=True))


def _ask_for_a_link(client, csrf_token: str) -> int:
    return client.post(
        "/sign-in", data={"email": "nobody@example.org", "csrf_token": csrf_token}
    ).status_code


def test_a_csrf_token_taken_before_sign_out_is_refused_after_it(csrf_on, client, factory):
    old_token = _sign_in_with_csrf(client, factory)
    assert client.post("/staff/sign-out", data={"csrf_token": old_token}).status_code == 302
    assert _ask_for_a_link(client, old_token) == 400


def test_a_csrf_token_of_an_idle_session_is_refused(csrf_on, client, factory):
    old_token = _sign_in_with_csrf(client, factory)
    _age(client, seen=30 * MINUTE + 1)
    assert _ask_for_a_link(client, old_token) == 400
    fresh = csrf_token_from(client.get("/sign-in").get_data(as_text=True))
    assert _ask_for_a_link(client, fresh) == 200


def test_a_csrf_token_of_a_revoked_session_is_refused(csrf_on, app, client, factory):
    """A copy of the cookie, with its token, is refused once the account signs out elsewhere."""
    old_token = _sign_in_with_csrf(client, factory)
    copy = app.test_client()
    copy.set_cookie("session", client.get_cookie("session", domain=DOMAIN).value, domain=DOMAIN)
    client.post("/staff/sign-out", data={"csrf_token": old_token})
    assert _ask_for_a_link(copy, old_token) == 400
