"""Staff sign-in limits: failed attempts slow whoever fails, never the account's owner.

Only failures count. Each attempt takes its place in three counters before the password is
checked (at once, so concurrent attempts in several workers cannot overshoot), and is answered
429 if any is full; after the answer, an attempt that was not a refused password (401) gives its
places back (``settle``), so a successful sign-in, a form error or a refusal costs nothing. The
three counters:

- per account and address, ``SIGN_IN_RATE_LIMIT`` (the low ceiling): a stranger guessing at an
  account from their address is stopped there, and the owner at their own address is not;
- per address, whatever the account, ``SIGN_IN_ADDRESS_RATE_LIMIT``: one address trying many
  accounts;
- per account from every address, ``SIGN_IN_ACCOUNT_RATE_LIMIT`` (the high ceiling): a stranger
  spreading guesses over many addresses. A browser that has signed in to the account before
  carries a signed cookie saying so (OWASP's "device cookie"), and its failures are counted on
  their own: a stranger who reaches the ceiling locks out new browsers, never the owner's.

``flask --app wsgi users unlock EMAIL`` clears every counter of an account
(``operations.unlock_sign_in``). Accounts are keyed by a hash of the normalised email, so a
key never grows with what was posted.
"""

import hashlib
import secrets

from flask import current_app, request
from flask_limiter.util import get_remote_address
from flask_login import current_user
from itsdangerous import BadSignature, URLSafeTimedSerializer

from allies.extensions import limiter
from allies.staff.ratelimit import clear_counters

DEVICE_COOKIE = "allies_staff_device"
DEVICE_COOKIE_PATH = "/staff/sign-in"
DEVICE_MAX_AGE = 180 * 24 * 3600  # renewed at each sign-in


def account_id(email: str) -> str:
    """The account part of a counter's key: a hash of the email as sign-in normalises it."""
    normalized = (email or "").strip().lower()
    return hashlib.sha256(normalized.encode("utf-8", "replace")).hexdigest()[:32]


def _posted_account() -> str | None:
    email = request.form.get("email") or ""
    return account_id(email) if email.strip() else None


def _address_key() -> str:
    return "sign-in-address:" + get_remote_address()


def _account_address_key() -> str:
    account = _posted_account()
    # An empty key skips the limit: a form without an email is refused before any check.
    return f"sign-in-account:{account}|address:{get_remote_address()}" if account else ""


def _account_key() -> str:
    account = _posted_account()
    if not account:
        return ""
    device = _known_device(account)
    return f"sign-in-account:{account}" + (f"|device:{device}" if device else "")


def _config_limit(name: str):
    return lambda: current_app.config[name]


def limited(view):
    """Apply the three sign-in ceilings to ``view``'s POSTs (with ``settle`` after the answer)."""
    for name, key_func in (
        ("SIGN_IN_RATE_LIMIT", _account_address_key),
        ("SIGN_IN_ADDRESS_RATE_LIMIT", _address_key),
        ("SIGN_IN_ACCOUNT_RATE_LIMIT", _account_key),
    ):
        view = limiter.limit(_config_limit(name), methods=["POST"], key_func=key_func)(view)
    return view


def settle(response):
    """After a sign-in POST: a refused password (401) stays counted; any other answer gives its
    places back. A sign-in that succeeded also marks the browser as known to the account."""
    if request.endpoint != "staff.sign_in" or request.method != "POST":
        return response
    if response.status_code != 401 and limiter.enabled:
        for limit in limiter.current_limits:
            if "/sign-in-" in limit.key:
                limiter.storage.incr(limit.key, limit.limit.get_expiry(), amount=-1)
    if response.status_code == 302 and current_user.is_authenticated:
        remember_device(response, current_user.email)
    return response


# ---------------------------------------------------------------- the browser that signed in


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt="staff-sign-in-device")


def _known_device(account: str) -> str | None:
    """The device id in this browser's cookie if it signed in to ``account`` before."""
    try:
        value = _serializer().loads(request.cookies.get(DEVICE_COOKIE, ""), max_age=DEVICE_MAX_AGE)
    except BadSignature:
        return None
    if not isinstance(value, dict) or value.get("account") != account:
        return None
    device = value.get("device")
    return device if isinstance(device, str) and device.isalnum() else None


def remember_device(response, email: str):
    """Mark this browser as one that signed in to ``email`` (on a successful sign-in)."""
    account = account_id(email)
    device = _known_device(account) or secrets.token_hex(8)
    response.set_cookie(
        DEVICE_COOKIE,
        _serializer().dumps({"account": account, "device": device}),
        max_age=DEVICE_MAX_AGE,
        path=DEVICE_COOKIE_PATH,
        secure=current_app.config.get("SESSION_COOKIE_SECURE", False),
        httponly=True,
        samesite="Strict",
    )
    return response


def clear_account(email: str) -> int:
    """Delete every counter of ``email``'s account, from every address; how many there were."""
    return clear_counters(limiter.storage, f"sign-in-account:{account_id(email)}")


def clear_address(address: str) -> int:
    """Delete the counter of failures from ``address`` (whatever the account)."""
    return clear_counters(limiter.storage, f"/sign-in-address:{address.strip()}/")
