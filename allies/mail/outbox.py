"""Queue email in the outbox inside the caller's transaction (delivery is in sender.py), and keep
the tokens of emailed links off the outbox pages and out of delivered messages' stored copies."""

import re
from email.utils import make_msgid
from urllib.parse import urlsplit

from flask import current_app, render_template

from allies.extensions import db
from allies.mail.models import OutboxMessage


def queue_email(to_addr: str, template: str, subject: str, *, cc=(), **context) -> OutboxMessage:
    """Render ``templates/email/<template>.txt`` and ``.html`` and stage them for delivery.

    ``cc`` lists addresses in copy; the recipient and repeats are left out of it.

    The message is added to the current session only: it is written when, and only if, the
    event that caused it commits.
    """
    from allies.staff.settings import all_settings

    context.setdefault("settings", all_settings())
    context.setdefault("base_url", current_app.config["PUBLIC_BASE_URL"].rstrip("/"))
    body_text = render_template(f"email/{template}.txt", **context)
    body_html = render_template(f"email/{template}.html", **context)
    sender_domain = current_app.config["MAIL_DEFAULT_SENDER"].rsplit("@", 1)[-1].strip("> ")
    message = OutboxMessage(
        message_id=make_msgid(domain=sender_domain or "allies.local"),
        kind=template,
        to_addr=to_addr,
        cc_addrs=", ".join(copy_list(to_addr, cc)),
        subject=subject,
        body_text=body_text,
        body_html=body_html,
    )
    db.session.add(message)
    return message


def _public_adapter():
    base = urlsplit(current_app.config["PUBLIC_BASE_URL"].rstrip("/"))
    return current_app.url_map.bind(
        base.netloc, script_name=base.path or "/", url_scheme=base.scheme or "http"
    )


def public_url(endpoint: str, **values) -> str:
    """An absolute URL on PUBLIC_BASE_URL for email, with or without a request in progress."""
    values = {key: value for key, value in values.items() if value is not None}
    return _public_adapter().build(endpoint, values, force_external=True)


def site_path(endpoint: str, **values) -> str:
    """The path of ``endpoint`` on the public site (for ``next`` parameters in links)."""
    return _public_adapter().build(endpoint, values)


def copy_list(to_addr: str, cc) -> list[str]:
    """The distinct addresses of ``cc`` other than ``to_addr``, in order."""
    seen = {(to_addr or "").strip().lower()}
    addresses = []
    for address in cc:
        key = (address or "").strip().lower()
        if key and key not in seen:
            seen.add(key)
            addresses.append(key)
    return addresses


# The path of an emailed sign-in or renewal link (portal.follow_link): its token signs the holder in.
LINK_PATH = "/my/link/"
# A conference invitation's answer link (conferences.answer) acts for the Ally too.
ANSWER_LINK_MARK = "/answer/"
# Plain substrings that every such link contains, for a database LIKE that finds candidates.
LINK_MARKS = (LINK_PATH, ANSWER_LINK_MARK)
_LINK_PREFIX = re.compile("(" + re.escape(LINK_PATH) + r"|/conferences/\d+/answer/)")
_LINK_TOKEN = re.compile(_LINK_PREFIX.pattern + "[A-Za-z0-9._-]+")
REDACTED_TOKEN = "[redacted]"


def redact_link_tokens(body: str) -> str:
    """``body`` with the token of every emailed link replaced by ``[redacted]`` (``?next=`` kept).

    Outbox pages show every body through this, and a delivered message is stored through it: no
    page shows, and no delivered message keeps, a key to a contact's account.
    """
    return _LINK_TOKEN.sub(r"\1" + REDACTED_TOKEN, body or "")


def has_links(body: str) -> bool:
    """Whether ``body`` carries an emailed link (its token live or already redacted)."""
    return _LINK_PREFIX.search(body or "") is not None
