"""Contact sessions end on the server: sign-out, removal, a new email and the lifetime end them."""

import time

import pytest

from allies.extensions import db
from allies.organizations.access import make_link_token
from allies.organizations.models import Contact, Organization
from allies.organizations.operations import add_contact, remove_contact
from tests.fixtures import csrf_token_from, sign_in_contact

DOMAIN = "allies.test"  # SERVER_NAME in the test configuration


def _copy_session_cookie(app, client):
    """A second browser holding a copy of ``client``'s session cookie, as a thief would."""
    cookie = client.get_cookie("session", domain=DOMAIN)
    assert cookie is not None, "the client holds no session cookie"
    thief = app.test_client()
    thief.set_cookie("session", cookie.value, domain=DOMAIN)
    return thief


def _age_contact_session(client, seconds: int) -> None:
    """Move the contact's sign-in ``seconds`` into the past (no sleeping)."""
    with client.session_transaction() as session:
        session["contact_signed_in_at"] = (
            session.get("contact_signed_in_at", int(time.time())) - seconds
        )


def _contact(app, organization_id, role="primary") -> int:
    with app.app_context():
        return db.session.get(Organization, organization_id).contact_for(role).id


def _opens_my(client) -> bool:
    response = client.get("/my")
    assert response.status_code in (200, 302), response.status_code
    return response.status_code == 200


# ---------------------------------------------------------------- ending sessions everywhere


def test_a_copy_of_the_cookie_taken_before_sign_out_no_longer_opens_my(app, client, factory):
    organization_id, _agreement_id = factory.ally()
    sign_in_contact(app, client, organization_id)
    assert _opens_my(client)
    thief = _copy_session_cookie(app, client)
    assert _opens_my(thief), "the copy works while the contact is signed in"

    client.post("/my/sign-out")

    assert not _opens_my(client)
    assert not _opens_my(thief), "signing out ends the session the copy carries too"


def test_signing_out_on_one_device_ends_the_contacts_other_sessions(app, factory):
    organization_id, _agreement_id = factory.ally()
    laptop, phone = app.test_client(), app.test_client()
    for browser in (laptop, phone):
        sign_in_contact(app, browser, organization_id)
        assert _opens_my(browser)

    laptop.post("/my/sign-out")

    assert not _opens_my(phone)
    sign_in_contact(app, phone, organization_id)
    assert _opens_my(phone), "a new link signs the contact in again"


def test_removing_a_contact_ends_its_sessions(app, client, factory):
    organization_id, _agreement_id = factory.ally()
    with app.app_context():
        organization = db.session.get(Organization, organization_id)
        add_contact(
            organization,
            {"role": "signatory", "name": "Sam Signer", "email": "sam@example.org"},
            actor="test",
        )
    sign_in_contact(app, client, organization_id, role="signatory")
    assert _opens_my(client)
    thief = _copy_session_cookie(app, client)
    with app.app_context():
        signatory = db.session.scalar(db.select(Contact).where(Contact.role == "signatory"))
        version = signatory.session_version
        remove_contact(signatory, actor="test")
        assert signatory.session_version == version + 1

    assert not _opens_my(client)
    assert not _opens_my(thief)


def test_a_change_of_the_contacts_email_ends_its_sessions(app, client, factory):
    organization_id, _agreement_id = factory.ally()
    sign_in_contact(app, client, organization_id)
    assert _opens_my(client)
    contact_id = _contact(app, organization_id)
    with app.app_context():
        contact = db.session.get(Contact, contact_id)
        contact.email = "someone.else@example.org"
        db.session.commit()

    assert not _opens_my(client), "the session belonged to the old address"


def test_other_changes_to_a_contact_keep_its_sessions(app, client, factory):
    organization_id, _agreement_id = factory.ally()
    sign_in_contact(app, client, organization_id)
    with app.app_context():
        contact = db.session.get(Contact, _contact(app, organization_id))
        contact.phone = "+1 555 0100"
        contact.email = contact.email  # the same address is no change
        db.session.commit()
    assert _opens_my(client)


def test_a_renewal_link_session_ends_at_sign_out_too(app, client, factory):
    organization_id, agreement_id = factory.ally()
    with app.app_context():
        contact = db.session.get(Organization, organization_id).contact_for("primary")
        from allies.agreements.models import Agreement

        token = make_link_token(contact, "renewal", db.session.get(Agreement, agreement_id))
        db.session.commit()
    assert client.post(f"/my/link/{token}").status_code == 302
    assert client.get(f"/my/renew/{agreement_id}").status_code == 200
    thief = _copy_session_cookie(app, client)
    client.post("/my/sign-out")
    assert thief.get(f"/my/renew/{agreement_id}").status_code == 302


# ---------------------------------------------------------------- lifetime


def test_a_contact_session_ends_twelve_hours_after_sign_in(app, client, factory):
    organization_id, _agreement_id = factory.ally()
    sign_in_contact(app, client, organization_id)
    _age_contact_session(client, 12 * 3600 - 60)
    assert _opens_my(client), "eleven hours and 59 minutes in, still signed in"
    _age_contact_session(client, 61)
    response = client.get("/my")
    assert response.status_code == 302
    assert "/sign-in" in response.headers["Location"]


@pytest.fixture
def short_contact_sessions(app_config):
    app_config["CONTACT_SESSION_LIFETIME"] = 600


def test_the_contact_session_lifetime_is_configurable(short_contact_sessions, app, client, factory):
    assert app.config["CONTACT_SESSION_LIFETIME"] == 600
    organization_id, _agreement_id = factory.ally()
    sign_in_contact(app, client, organization_id)
    _age_contact_session(client, 590)
    assert _opens_my(client)
    _age_contact_session(client, 20)
    assert not _opens_my(client)


def test_the_default_contact_session_lifetime_is_twelve_hours(app):
    assert app.config["CONTACT_SESSION_LIFETIME"] == 12 * 3600


# ---------------------------------------------------------------- CSRF tokens end with the session


@pytest.fixture
def csrf_on(app_config):
    app_config["WTF_CSRF_ENABLED"] = True


def _sign_in_with_csrf(app, client, organization_id) -> None:
    """Follow an emailed link the way a browser does: the page, then its form."""
    with app.app_context():
        contact = db.session.get(Organization, organization_id).contact_for("primary")
        token = make_link_token(contact, "sign-in")
        db.session.commit()
    page = client.get(f"/my/link/{token}").get_data(as_text=True)
    response = client.post(f"/my/link/{token}", data={"csrf_token": csrf_token_from(page)})
    assert response.status_code == 302, response.get_data(as_text=True)


def _ask_for_a_link(client, csrf_token: str) -> int:
    return client.post(
        "/sign-in", data={"email": "nobody@example.org", "csrf_token": csrf_token}
    ).status_code


def test_a_csrf_token_taken_before_sign_out_is_refused_after_it(csrf_on, app, client, factory):
    organization_id, _agreement_id = factory.ally()
    _sign_in_with_csrf(app, client, organization_id)
    old_token = csrf_token_from(client.get("/my").get_data(as_text=True))
    thief = _copy_session_cookie(app, client)

    assert client.post("/my/sign-out", data={"csrf_token": old_token}).status_code == 302

    assert _ask_for_a_link(client, old_token) == 400, "the signed-out browser's old token"
    assert _ask_for_a_link(thief, old_token) == 400, "the copied cookie with its token"
    fresh = csrf_token_from(client.get("/sign-in").get_data(as_text=True))
    assert _ask_for_a_link(client, fresh) == 200


def test_a_csrf_token_of_an_expired_contact_session_is_refused(csrf_on, app, client, factory):
    organization_id, _agreement_id = factory.ally()
    _sign_in_with_csrf(app, client, organization_id)
    old_token = csrf_token_from(client.get("/my").get_data(as_text=True))
    _age_contact_session(client, 12 * 3600 + 1)
    assert _ask_for_a_link(client, old_token) == 400


def test_csrf_tokens_last_no_longer_than_a_session(app):
    assert app.config["WTF_CSRF_TIME_LIMIT"] == 12 * 3600
