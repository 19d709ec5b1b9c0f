"""A per-process cache for the public pages, invalidated by a version token in the database.

Every change to something the public pages show (agreements, a known organization's profile,
types, settings, texts, conferences) replaces the token in ``content_version`` in the same
transaction. Every request reads the token afresh (one primary-key row, on a connection of the
cache's own in autocommit mode: a single round trip, see ``VersionReader``), so a change committed
by any worker or machine is seen by the very next request everywhere. Calendar dates are part of
every key, so statuses that change with the date are never stale.
"""

import os
import secrets
import threading
import weakref
from collections import OrderedDict
from datetime import datetime
from functools import wraps
from itertools import chain

from flask import current_app, g, get_flashed_messages, has_app_context, request, session
from sqlalchemy import String, create_engine, event, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.pool import NullPool

from allies.extensions import db
from allies.timeutil import utcnow


class ContentVersion(db.Model):
    """One row whose random token changes whenever public content changes.

    A random token rather than a counter, so a restored backup never reuses an old value.
    """

    __tablename__ = "content_version"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(32), default="")
    # When the token last changed (UTC): the public pages' Last-Modified.
    changed_at: Mapped[datetime | None] = mapped_column(default=None)


class PublicCache:
    """A small thread-safe LRU of rendered fragments and computed values."""

    def __init__(self, maxsize: int = 512):
        self.maxsize = maxsize
        self._entries: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

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


public_cache = PublicCache()


VERSION_QUERY = "SELECT token FROM content_version WHERE id = 1"

# Connections a parent process opened before forking: its own to use and close, never a child's
# (closing one here would end the parent's session too), so a child only keeps them referenced.
_inherited: list = []


class VersionReader:
    """Reads the current token of one database: one round trip, no transaction left open.

    Each thread keeps a connection of its own, in autocommit mode, outside the application's
    pool: no pre-ping, no BEGIN and no ROLLBACK around the query, and always the latest committed
    token (an ORM read through the request's session costs three or four round trips). A broken
    connection is replaced once; ``close()`` (when the application's engine is disposed) closes
    them all. After a fork the child opens its own.
    """

    def __init__(self, url, connect_args: dict | None = None):
        args = dict(connect_args or {})
        if url.get_backend_name() == "sqlite":
            args.setdefault("check_same_thread", False)  # close() may run in another thread
        self.engine = create_engine(
            url, poolclass=NullPool, isolation_level="AUTOCOMMIT", connect_args=args
        )
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list = []
        self._generation = 0
        self._pid = os.getpid()

    def _cursor(self):
        if self._pid != os.getpid():
            with self._lock:
                if self._pid != os.getpid():
                    _inherited.extend(self._connections)
                    self._connections = []
                    self._generation += 1
                    self._pid = os.getpid()
        mine = getattr(self._local, "mine", None)
        if mine is None or mine[0] != self._generation:
            connection = self.engine.raw_connection()
            with self._lock:
                self._connections.append(connection)
                mine = self._local.mine = (self._generation, connection, connection.cursor())
        return mine

    def read(self) -> str:
        """The token committed last (an empty string before the first one)."""
        for attempt in (1, 2):
            _generation, connection, cursor = self._cursor()
            try:
                cursor.execute(VERSION_QUERY)
                rows = cursor.fetchall()  # to the end: SQLite keeps no read transaction open
                return rows[0][0] if rows else ""
            except self.engine.dialect.loaded_dbapi.Error:
                # A broken connection (a restarted server, a disposed engine): once more on a new one.
                self._local.mine = None
                with self._lock:
                    if connection in self._connections:
                        self._connections.remove(connection)
                _invalidate(connection)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        with self._lock:
            connections, self._connections = self._connections, []
            self._generation += 1
        for connection in connections:
            _invalidate(connection)


def _invalidate(connection) -> None:
    try:
        connection.invalidate()
    except Exception:  # closing a broken connection may fail: it is gone either way
        pass


# The application's engine -> its reader (None: an in-memory SQLite database, read in-session).
_readers: "weakref.WeakKeyDictionary[Engine, VersionReader | None]" = weakref.WeakKeyDictionary()
_readers_lock = threading.Lock()


def _reader_for(engine: Engine) -> "VersionReader | None":
    try:
        return _readers[engine]
    except KeyError:
        pass
    with _readers_lock:
        if engine not in _readers:
            url = engine.url
            in_memory = url.get_backend_name() == "sqlite" and (
                url.database in (None, "", ":memory:") or url.query.get("mode") == "memory"
            )
            options = current_app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {}
            reader = None if in_memory else VersionReader(url, options.get("connect_args"))
            if reader is not None:
                event.listen(engine, "engine_disposed", lambda _engine: reader.close())
            _readers[engine] = reader
        return _readers[engine]


def _read_in_session() -> str:
    return db.session.scalar(select(ContentVersion.token).where(ContentVersion.id == 1)) or ""


def content_version() -> str:
    """The public content version: the latest committed token, read once per request."""
    if "content_version" not in g:
        reader = _reader_for(db.engine)
        g.content_version = reader.read() if reader is not None else _read_in_session()
    return g.content_version


def _changing() -> bool:
    """Whether this request's session holds changes it has not committed yet."""
    if not db.session.registry.has():
        return False
    own = db.session()
    return bool(own.info.get("public_content_changed") or own.new or own.dirty or own.deleted)


def cached(name: str, *key, make):
    """``make()`` cached under (name, database, content version, *key).

    A request in the middle of changing things gets ``make()`` uncached: what it computes may
    show changes that are not committed yet (or never will be), which no version names.
    """
    if _changing():
        return make()
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
        token, now = secrets.token_hex(16), utcnow()
        bumped = session.execute(
            update(ContentVersion).where(ContentVersion.id == 1).values(token=token, changed_at=now)
        )
        if bumped.rowcount == 0:
            session.execute(insert(ContentVersion).values(id=1, token=token, changed_at=now))
        session.info["public_content_changed"] = True
        _forget_request_version()


def _forget_request_version() -> None:
    if has_app_context():
        g.pop("content_version", None)


def _forget_version_at_transaction_end(session) -> None:
    if session.info.pop("public_content_changed", False):
        _forget_request_version()


def init_cache_invalidation() -> None:
    """Listen to every session's flushes (once per process)."""
    if not event.contains(Session, "before_flush", _bump_when_public_content_changes):
        event.listen(Session, "before_flush", _bump_when_public_content_changes)
        event.listen(Session, "after_commit", _forget_version_at_transaction_end)
        event.listen(Session, "after_rollback", _forget_version_at_transaction_end)


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
