"""Signed-in sessions of staff and contacts: how they start, how long they last, how they end.

A session lives in the signed cookie, but every request checks it on the server:

- a staff session (Flask-Login) ends ``STAFF_SESSION_IDLE_TIMEOUT`` seconds after its last request
  and ``STAFF_SESSION_LIFETIME`` seconds after sign-in, and when the account's ``session_version``
  moves (sign-out, disabling, a new password). There is no "remember me": a remember cookie
  revives nothing, since it carries no sign-in time;
- a contact session ends ``CONTACT_SESSION_LIFETIME`` seconds after sign-in, and when the
  contact's ``session_version`` moves (sign-out, removal, a new email).

A session that has ended is emptied before anything else reads it, CSRF protection included, so
the CSRF token it holds ends with it; tokens also expire after the longest session lifetime.
Timestamps are whole seconds since the epoch, kept in the signed cookie.
"""

import time

from flask import current_app, request, session
from flask_login import current_user

LIFETIMES = ("CONTACT_SESSION_LIFETIME", "STAFF_SESSION_IDLE_TIMEOUT", "STAFF_SESSION_LIFETIME")

STAFF_SIGNED_IN_AT = "staff_signed_in_at"
STAFF_SEEN_AT = "staff_seen_at"
CONTACT_ID = "contact_id"
CONTACT_VERSION = "contact_version"
CONTACT_SIGNED_IN_AT = "contact_signed_in_at"


def _now() -> int:
    return int(time.time())


def _stamp(key: str):
    """A timestamp from the session, or None when it is missing or not a whole number."""
    value = session.get(key)
    return value if type(value) is int else None


# ---------------------------------------------------------------- staff


def start_staff_session() -> None:
    """Stamp a staff session just signed in (after ``login_user``): its clocks start now."""
    now = _now()
    session[STAFF_SIGNED_IN_AT] = now
    session[STAFF_SEEN_AT] = now


def staff_session_is_live() -> bool:
    """Whether this request's staff session is within its idle and absolute lifetimes."""
    signed_in_at, seen_at = _stamp(STAFF_SIGNED_IN_AT), _stamp(STAFF_SEEN_AT)
    if signed_in_at is None or seen_at is None:
        return False
    config, now = current_app.config, _now()
    return (
        now - signed_in_at < config["STAFF_SESSION_LIFETIME"]
        and now - seen_at < config["STAFF_SESSION_IDLE_TIMEOUT"]
    )


# ---------------------------------------------------------------- contacts


def start_contact_session(contact, *, scope: str, renewal_agreement_id: int | None = None) -> None:
    """A fresh session for ``contact`` signed in by an emailed link (until the browser closes).

    ``scope`` is "full" (a sign-in link) or "renewal" (a renewal link: that agreement only).
    """
    session.clear()
    session[CONTACT_ID] = contact.id
    session[CONTACT_VERSION] = contact.session_version
    session[CONTACT_SIGNED_IN_AT] = _now()
    session["contact_scope"] = scope
    session["renewal_agreement_id"] = renewal_agreement_id
    session.permanent = False


def contact_of_session():
    """The contact of this request's session if that session is live, else None."""
    from allies.extensions import db
    from allies.organizations.models import Contact

    contact_id, signed_in_at = session.get(CONTACT_ID), _stamp(CONTACT_SIGNED_IN_AT)
    if type(contact_id) is not int or signed_in_at is None:
        return None
    if _now() - signed_in_at >= current_app.config["CONTACT_SESSION_LIFETIME"]:
        return None
    contact = db.session.get(Contact, contact_id)
    if (
        contact is None
        or not contact.is_enabled
        or contact.session_version != session.get(CONTACT_VERSION)
    ):
        return None
    return contact


# ---------------------------------------------------------------- every request


def end_session() -> None:
    """Empty the session (who is signed in, the CSRF token, messages) and any remember cookie."""
    session.clear()
    if current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token") in request.cookies:
        session["_remember"] = "clear"  # Flask-Login deletes the cookie as the response leaves


def end_ended_sessions() -> None:
    """Before each request: empty a session whose sign-in has ended; a live staff one is seen."""
    if request.endpoint == "static":
        return
    if "_user_id" in session:
        # The user loader (allies/web.py) checks the account, its session_version and the
        # lifetimes; a session it refuses is over.
        if not current_user.is_authenticated:
            end_session()
            return
        session[STAFF_SEEN_AT] = _now()
    if CONTACT_ID in session:
        from allies.web import current_contact

        if current_contact() is None:
            end_session()


def init_app(app) -> None:
    """Check the lifetimes, tie CSRF tokens to them, and check sessions before every request.

    Call it before ``csrf.init_app``, so that an ended session is emptied before its CSRF token
    is checked.
    """
    for key in LIFETIMES:
        value = app.config[key]
        if type(value) is not int or value <= 0:
            raise RuntimeError(f"{key} must be a whole number of seconds above 0, not {value!r}.")
    app.config["WTF_CSRF_TIME_LIMIT"] = max(
        app.config["CONTACT_SESSION_LIFETIME"], app.config["STAFF_SESSION_LIFETIME"]
    )
    app.before_request(end_ended_sessions)
