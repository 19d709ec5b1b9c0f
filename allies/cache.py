"""A per-process cache for the public pages, invalidated by a version number in the database.

Every change to something the public pages show (agreements, a known organization's profile,
types, settings, texts, conferences) bumps ``content_version`` in the same transaction, so each
worker sees the change on its next request. Calendar dates are part of every key, so statuses
that change with the date are never stale. The version itself is read from the database at most
every PUBLIC_CACHE_SECONDS (default 2) per process, and at once after this process commits a
change: another worker's change shows within that many seconds.
"""

import secrets
import threading
import time
from collections import OrderedDict
from functools import wraps
from itertools import chain

from flask import current_app, g, get_flashed_messages, has_app_context, request, session
from sqlalchemy import String, event, insert, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from allies.extensions import db


class ContentVersion(db.Model):
    """One row whose random token changes whenever public content changes.

    A random token rather than a counter, so a restored backup never reuses an old value.
    """

    __tablename__ = "content_version"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(32), default="")


class PublicCache:
    """A small thread-safe LRU of rendered fragments and computed values."""

    def __init__(self, maxsize: int = 512):
        self.maxsize = maxsize
        self._entries: OrderedDict = OrderedDict()
        self._lock = threading.Lock()
        # database URL -> (version token, monotonic time it was read)
        self.versions: dict[str, tuple[str, float]] = {}

    def get_or_make(self, key, make):
        """The value cached under ``key``, computing it with ``make()`` on a miss."""
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
        value = make()
        with self._lock:
            self._entries[key] = value
            while len(self._entries) > self.maxsize:
                self._entries.popitem(last=False)
        return value

    def forget(self, key) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.versions.clear()


public_cache = PublicCache()


def content_version() -> str:
    """The current public content version (fixed for the request, re-read every few seconds)."""
    if "content_version" not in g:
        database = current_app.config["SQLALCHEMY_DATABASE_URI"]
        known = public_cache.versions.get(database)
        max_age = current_app.config.get("PUBLIC_CACHE_SECONDS", 2)
        if known is not None and time.monotonic() - known[1] < max_age:
            g.content_version = known[0]
        else:
            g.content_version = (
                db.session.scalar(select(ContentVersion.token).where(ContentVersion.id == 1)) or ""
            )
            public_cache.versions[database] = (g.content_version, time.monotonic())
    return g.content_version


def cached(name: str, *key, make):
    """``make()`` cached under (name, database, content version, *key)."""
    return public_cache.get_or_make((name, str(db.engine.url), content_version(), *key), make)


def _public_models():
    from allies.agreements.models import Agreement
    from allies.applications.models import StatementVersion
    from allies.conferences.models import Conference
    from allies.organizations.models import OrganizationType
    from allies.staff.models import Setting

    return (Agreement, OrganizationType, Setting, StatementVersion, Conference)


def _bump_when_public_content_changes(session, _flush_context, _instances) -> None:
    from allies.organizations.models import Organization

    public = _public_models()
    touched = any(
        isinstance(obj, public) for obj in chain(session.new, session.dirty, session.deleted)
    )
    # A new organization is only an applicant; an existing one may be listed.
    touched = touched or any(
        isinstance(obj, Organization) and session.is_modified(obj)
        for obj in chain(session.dirty, session.deleted)
    )
    if touched:
        token = secrets.token_hex(16)
        bumped = session.execute(
            update(ContentVersion).where(ContentVersion.id == 1).values(token=token)
        )
        if bumped.rowcount == 0:
            session.execute(insert(ContentVersion).values(id=1, token=token))
        session.info["public_content_changed"] = True


def _forget_version_after_commit(session) -> None:
    if session.info.pop("public_content_changed", False):
        public_cache.versions.clear()
        if has_app_context():
            g.pop("content_version", None)


def init_cache_invalidation() -> None:
    """Listen to every session's flushes (once per process)."""
    if not event.contains(Session, "before_flush", _bump_when_public_content_changes):
        event.listen(Session, "before_flush", _bump_when_public_content_changes)
        event.listen(Session, "after_commit", _forget_version_after_commit)
        event.listen(
            Session, "after_rollback", lambda s: s.info.pop("public_content_changed", None)
        )


def whole_page_cached(view):
    """Serve a public GET page from the cache for visitors without a session.

    With no session there is nobody signed in and no message to flash, so the whole page is a
    function of the content version, the date and the URL. Everyone else gets it rendered.
    """

    @wraps(view)
    def wrapped(*args, **kwargs):
        if request.method != "GET" or current_app.config["SESSION_COOKIE_NAME"] in request.cookies:
            return view(*args, **kwargs)
        from allies.timeutil import alliance_today

        def render():
            response = current_app.make_response(view(*args, **kwargs))
            if response.status_code != 200 or session.modified or get_flashed_messages():
                return response
            return response.get_data(), response.mimetype

        # The raw query string and host (JSON has absolute links) keep the key cheap to build.
        key = (
            "page",
            current_app.config["SQLALCHEMY_DATABASE_URI"],
            content_version(),
            request.environ.get("HTTP_HOST", ""),
            request.path,
            request.environ.get("QUERY_STRING", ""),
            alliance_today(),
        )
        result = public_cache.get_or_make(key, render)
        if not isinstance(result, tuple):
            # an error or a personalised response: never cached, served as it is
            public_cache.forget(key)
            return result
        body, mimetype = result
        return current_app.response_class(body, mimetype=mimetype)

    return wrapped
