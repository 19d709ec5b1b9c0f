"""Queue email in the outbox inside the caller's transaction (delivery is in sender.py), and keep
the tokens of emailed links off the outbox pages and out of delivered messages' stored copies."""

import re
from collections.abc import Callable, Iterable
from email.utils import make_msgid
from typing import NamedTuple
from urllib.parse import urlsplit

from flask import current_app, g
from flask_babel import lazy_gettext as _l
from markupsafe import escape

from allies.bulk import insert_rows_returning_ids
from allies.extensions import db
from allies.i18n import in_language
from allies.mail.models import OutboxMessage


def queue_email(
    to_addr: str, template: str, subject, *, cc=(), language: str | None = None, **context
) -> OutboxMessage:
    """Render ``templates/email/<template>.txt`` and ``.html`` and stage them for delivery.

    ``cc`` lists addresses in copy; the recipient and repeats are left out of it. ``language``
    is the recipient's (``contact.language``; English when None, as for staff): the message and
    its ``subject`` (a lazy string, ``lazy_gettext``) are written in it, whatever the language
    of the request that caused it.

    The message is added to the current session only: it is written when, and only if, the
    event that caused it commits.
    """
    message = OutboxMessage(
        **email_values(to_addr, template, subject, cc=cc, language=language, **context)
    )
    db.session.add(message)
    return message


def email_values(
    to_addr: str, template: str, subject, *, cc=(), language: str | None = None, **context
) -> dict:
    """The column values of the outbox row ``queue_email`` would stage (rendered, not staged)."""
    return EmailTemplate(template, settings=context.pop("settings", None)).values(
        to_addr, subject, cc=cc, language=language, **context
    )


class EmailTemplate:
    """``templates/email/<template>.txt`` and ``.html``, ready to build many messages.

    The one way a message is built: ``queue_email`` builds one, and a burst (the reminder
    sweep) builds a batch with one instance and writes it with ``insert_emails``. The templates
    are fetched (compiled once per process by Jinja), and the context every message shares (the
    settings, the base URL, the app's context processors) prepared, once per instance.
    """

    def __init__(self, template: str, *, settings: dict | None = None):
        if settings is None:
            from allies.staff.settings import all_settings

            settings = all_settings()
        self.template = template
        env = current_app.jinja_env
        self.text = env.get_template(f"email/{template}.txt")
        self.html = env.get_template(f"email/{template}.html")
        self.context = {
            "settings": settings,
            "base_url": current_app.config["PUBLIC_BASE_URL"].rstrip("/"),
        }
        current_app.update_template_context(self.context)
        domain = current_app.config["MAIL_DEFAULT_SENDER"].rsplit("@", 1)[-1].strip("> ")
        self.sender_domain = domain or "allies.local"
        # (language, the context but the merged values) -> bodies with stand-ins, or None
        self._shapes: dict = {}

    def _bodies(self, context: dict) -> tuple[str, str]:
        return self.text.render(context), self.html.render(context)

    def _merged_bodies(self, language, merge: tuple[str, ...], context: dict):
        """The bodies of a message whose ``merge`` values vary from message to message while
        the rest of ``context`` repeats (a burst of reminders): the templates are rendered once
        per shape (the language and the rest of the context) with a stand-in for each merged
        value, and each message replaces the stand-ins with its values, escaped in the HTML as
        Jinja would. A name ``"a.b"`` merges field ``b`` of the named tuple ``context["a"]``.

        A shape is trusted only after its first message, rendered in full too, came out the
        same both ways (a template that transformed a merged value, or chose by it, would
        not); otherwise that shape is always rendered in full. None when this message cannot be
        merged (a value that is not a non-empty string, or a context that cannot be a key).
        """
        varying = {name: _merged_value(context, name) for name in merge}
        if not all(
            type(value) is str and value and "\x00" not in value for value in varying.values()
        ):
            return None
        try:
            rest = _with_values(context, dict.fromkeys(merge, ""))
            shape = (language, frozenset(rest.items()))
            known = self._shapes.get(shape, _UNKNOWN)
        except TypeError:  # an unhashable value in the context
            return None
        if known is None:
            return None
        stand_ins = {name: f"\x00{index}\x00" for index, name in enumerate(merge)}
        if known is _UNKNOWN:
            known = self._bodies({**self.context, **_with_values(context, stand_ins)})
            full = self._bodies({**self.context, **context})
            if _merge(known, stand_ins, varying) != full:
                known = None
            self._shapes[shape] = known
            return full
        return _merge(known, stand_ins, varying)

    def values(
        self,
        to_addr: str,
        subject,
        *,
        cc=(),
        language: str | None = None,
        merge: tuple[str, ...] = (),
        **context,
    ) -> dict:
        """The outbox row's values of one message; ``cc`` lists addresses in copy (the
        recipient and repeats are left out of it). Written in ``language`` (the recipient's;
        English when None), the subject too when it is a lazy string.

        ``merge`` names context values (plain strings) that the templates only print: a burst
        renders its messages once per shape and merges those values in (``_merged_bodies``).
        """
        with in_language(language):
            bodies = self._merged_bodies(language, merge, context) if merge else None
            if bodies is None:
                bodies = self._bodies({**self.context, **context})
            values = {
                "message_id": make_msgid(domain=self.sender_domain),
                "kind": self.template,
                "to_addr": to_addr,
                "cc_addrs": ", ".join(copy_list(to_addr, cc)),
                "subject": str(subject),
                "body_text": bodies[0],
                "body_html": bodies[1],
            }
        if values["cc_addrs"] and has_personal_link(values["body_text"] + values["body_html"]):
            # Whoever is in copy could sign in as the recipient: see personal_readers.
            raise ValueError(
                f"a {self.template} message carries a personal link: it goes to its contact "
                "alone, and each person to copy gets their own (queue_personal_email)"
            )
        return values


_UNKNOWN = object()


def _merged_value(context: dict, name: str):
    """The value ``name`` names in ``context``: a key, or ``key.field`` of a named tuple."""
    key, _dot, attribute = name.partition(".")
    value = context.get(key)
    return getattr(value, attribute, None) if attribute else value


def _with_values(context: dict, values: dict) -> dict:
    """``context`` with the values ``values`` names (as ``_merged_value`` reads them) replaced."""
    changed = dict(context)
    for name, value in values.items():
        key, _dot, attribute = name.partition(".")
        if attribute:
            changed[key] = changed[key]._replace(**{attribute: value})
        else:
            changed[key] = value
    return changed


def _merge(bodies: tuple[str, str], stand_ins: dict, values: dict) -> tuple[str, str]:
    """``bodies`` (text, HTML) with each stand-in replaced by its value (escaped in the HTML)."""
    text, html = bodies
    for name, stand_in in stand_ins.items():
        text = text.replace(stand_in, values[name])
        html = html.replace(stand_in, str(escape(values[name])))
    return text, html


# How a copy names the person the message was written for ("... sent to NAME (primary contact).").
ROLE_WORDS = {
    "primary": _l("primary contact"),
    "signatory": _l("signatory"),
    "communications": _l("communications contact"),
}


class Reader(NamedTuple):
    """A contact who receives a message carrying a personal link (one of their own)."""

    contact_id: int | None
    email: str
    name: str
    role: str
    language: str | None = None

    @property
    def role_words(self):
        """The reader's role as a copy names it, in the language being rendered."""
        return ROLE_WORDS.get(self.role, self.role)


def reader_of(contact) -> Reader:
    """The ``Reader`` of a contact (a ``Contact`` or a row with the same attributes)."""
    return Reader(
        contact.id, contact.email, contact.name, contact.role, getattr(contact, "language", None)
    )


def personal_readers(to: Reader, copies: Iterable[Reader | None]) -> list[Reader]:
    """Who gets a message that carries a link acting as one contact: the rule, in one place.

    Such a link (a sign-in or renewal link, ``/my/link/<token>``) signs its holder in as the
    contact it was made for, so the message goes to that contact (``to``) alone, never with
    anyone in Cc. Each person who should be copied gets a message of their own instead, with a
    link of their own, saying whom it is a copy for (``personal_values``). Returns ``to`` first,
    then each of ``copies`` with an address, other than ``to`` and repeats (by address), in
    order. Messages with no such link (a conference invitation's answer link acts for the
    organization, not a person) keep a plain Cc.
    """
    seen = {(to.email or "").strip().lower()}
    readers = [to]
    for reader in copies:
        key = (reader.email or "").strip().lower() if reader is not None else ""
        if key and key not in seen:
            seen.add(key)
            readers.append(reader)
    return readers


def personal_values(
    email: EmailTemplate, reader: Reader, subject, *, copy_of: Reader | None = None, **context
) -> dict:
    """The outbox row of one message of ``personal_readers``: to ``reader`` alone, in their
    language, greeting them (``contact_name``); a copy names the reader it copies
    (``copy_of``, which templates show as "A copy of ... sent to NAME (role)")."""
    return email.values(
        reader.email,
        subject,
        language=reader.language,
        contact_name=reader.name,
        copy_of=copy_of,
        **context,
    )


def queue_personal_email(
    to,
    copies,
    template: str,
    subject,
    *,
    link: Callable[[object], dict],
    **context,
) -> list[OutboxMessage]:
    """Stage a message carrying a personal link to the contact ``to`` and a copy of its own to
    each contact of ``copies`` (None entries are skipped), by ``personal_readers``' rule.

    ``link(contact)`` makes that contact's link and returns it as template context (e.g.
    ``{"status_link": url}``). ``subject`` is a lazy string, written in each reader's language.
    Returns the messages, ``to``'s first. Added to the session only, like ``queue_email``.
    """
    contacts = {}
    for contact in (to, *copies):
        if contact is not None:
            contacts.setdefault((contact.email or "").strip().lower(), contact)
    readers = personal_readers(reader_of(to), [reader_of(c) for c in copies if c is not None])
    email = EmailTemplate(template, settings=context.pop("settings", None))
    messages = []
    for reader in readers:
        contact = contacts[reader.email.strip().lower()]
        copy_of = readers[0] if reader is not readers[0] else None
        message = OutboxMessage(
            **personal_values(email, reader, subject, copy_of=copy_of, **context, **link(contact))
        )
        db.session.add(message)
        messages.append(message)
    return messages


def insert_emails(values: list[dict]) -> list[int]:
    """Write messages built by an ``EmailTemplate`` in one INSERT; their ids, in order.

    For bursts (the reminder sweep's batches): like ``queue_email`` the rows belong to the
    caller's transaction and are delivered only if it commits, but they are written at once
    rather than staged as objects.
    """
    return insert_rows_returning_ids(OutboxMessage.__table__, values, key="message_id")


def _public_adapter():
    # Bound once per application context: a burst of reminders builds thousands of links.
    adapter = g.get("public_url_adapter")
    if adapter is None:
        base = urlsplit(current_app.config["PUBLIC_BASE_URL"].rstrip("/"))
        adapter = g.public_url_adapter = current_app.url_map.bind(
            base.netloc, script_name=base.path or "/", url_scheme=base.scheme or "http"
        )
    return adapter


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
# A sign-in or renewal link with its token (a redacted one, "[redacted]", does not match).
_PERSONAL_LINK = re.compile(re.escape(LINK_PATH) + "[A-Za-z0-9._-]+")


def redact_link_tokens(body: str) -> str:
    """``body`` with the token of every emailed link replaced by ``[redacted]`` (``?next=`` kept).

    Outbox pages show every body through this, and a delivered message is stored through it: no
    page shows, and no delivered message keeps, a key to a contact's account.
    """
    return _LINK_TOKEN.sub(r"\1" + REDACTED_TOKEN, body or "")


def has_personal_link(body: str) -> bool:
    """Whether ``body`` carries a live sign-in or renewal link (one acting as a contact)."""
    return _PERSONAL_LINK.search(body or "") is not None


def has_links(body: str) -> bool:
    """Whether ``body`` carries an emailed link (its token live or already redacted)."""
    return _LINK_PREFIX.search(body or "") is not None
