"""A per-process cache for the public pages, invalidated by a version token in the database.

Every change to something the public pages show (agreements, a known organization's profile,
types, settings, texts, conferences) replaces the token in ``content_version`` in the same
transaction. Every request reads the token afresh (one primary-key row, on a connection of the
cache's own in autocommit mode: a single round trip, see ``VersionReader``), so a change committed
by any worker or machine is seen by the very next request everywhere. Calendar dates are part of
every key, so statuses that change with the date are never stale.

The cache is bounded in bytes (``PUBLIC_CACHE_BYTES`` per worker process), least recently used
first out. Whole public pages are kept with their compressed variants and served, with their
HTTP validators, by ``allies/public_http.py``: a key holds only what changes the page (the path,
the query parameters the page reads, normalised, the language and the date), never the Host.
"""

import os
import re
import secrets
import sys
import threading
import weakref
from collections import OrderedDict
from datetime import datetime
from functools import wraps
from itertools import chain

from flask import current_app, g, has_app_context, has_request_context, request, session
from sqlalchemy import String, create_engine, event, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.pool import NullPool
from werkzeug.datastructures import ImmutableMultiDict

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


# Defaults for the public cache and the HTTP headers of public pages (instance config or
# ALLIES_* environment variables override them).
CACHE_DEFAULTS = {
    # The most bytes one worker keeps: bodies with their compressed variants, and fragments.
    "PUBLIC_CACHE_BYTES": 32 * 1024 * 1024,
    # The most bytes of rendered Ally cards one worker keeps (allies/organizations/cards.py).
    "CARD_CACHE_BYTES": 16 * 1024 * 1024,
    # Cache-Control of public pages: fresh for a minute, then served stale while revalidating.
    "PUBLIC_MAX_AGE": 60,
    "PUBLIC_STALE_WHILE_REVALIDATE": 300,
    # Bodies smaller than this are sent as they are (compression would gain next to nothing).
    "PUBLIC_COMPRESS_MIN_BYTES": 500,
    "PUBLIC_GZIP_LEVEL": 6,
    # Brotli 5 compresses a 40 KB page in about 1 ms; 11 saves 20% more but takes 40 ms.
    "PUBLIC_BROTLI_QUALITY": 5,
}


def size_of(value) -> int:
    """Roughly how many bytes ``value`` holds (strings, bytes and the containers of them).

    Anything else counts as its own ``sys.getsizeof``: fragments are strings and small records.
    """
    if isinstance(value, bytes | bytearray | str):
        return len(value) + 50
    if isinstance(value, dict):
        return 64 + sum(size_of(k) + size_of(v) for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return 56 + sum(size_of(item) for item in value)
    sized = getattr(value, "nbytes", None)
    if isinstance(sized, int):
        return sized
    return sys.getsizeof(value)


class PublicCache:
    """A thread-safe LRU bounded in bytes: whole pages and computed fragments.

    An entry larger than a quarter of the bound is never kept (it would push out everything
    else); it is computed and served each time. ``grow`` accounts for bytes an entry gains later
    (a compressed variant made on first demand).
    """

    def __init__(self, max_bytes: int = CACHE_DEFAULTS["PUBLIC_CACHE_BYTES"]):
        self.max_bytes = max_bytes
        self.bytes = 0
        self._entries: OrderedDict = OrderedDict()  # key -> [value, size]
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key, default=None):
        """The value under ``key`` (now the most recently used), or ``default``."""
        with self._lock:
            slot = self._entries.get(key)
            if slot is None:
                return default
            self._entries.move_to_end(key)
            return slot[0]

    def put(self, key, value, size: int | None = None) -> bool:
        """Keep ``value`` under ``key``, evicting the least recently used; False if too large."""
        size = size_of(value) if size is None else size
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self.bytes -= old[1]
            if size > self.max_bytes // 4:
                return False
            self._entries[key] = [value, size]
            self.bytes += size
            self._evict()
        return True

    def grow(self, key, value, extra: int) -> None:
        """``value`` (still under ``key``, unless evicted meanwhile) now holds ``extra`` bytes more."""
        with self._lock:
            slot = self._entries.get(key)
            if slot is None or slot[0] is not value:
                return
            slot[1] += extra
            self.bytes += extra
            if slot[1] > self.max_bytes // 4:
                self._entries.pop(key)
                self.bytes -= slot[1]
            self._evict()

    def _evict(self) -> None:
        while self.bytes > self.max_bytes and self._entries:
            _key, (_value, size) = self._entries.popitem(last=False)
            self.bytes -= size

    def get_or_make(self, key, make):
        """The value cached under ``key``, computing it with ``make()`` on a miss."""
        missing = object()
        value = self.get(key, missing)
        if value is missing:
            value = make()
            self.put(key, value)
        return value

    def forget(self, key) -> None:
        with self._lock:
            slot = self._entries.pop(key, None)
            if slot is not None:
                self.bytes -= slot[1]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.bytes = 0


public_cache = PublicCache()
# Rendered fragments keyed by everything they show, so they outlive content versions.
card_cache = PublicCache(CACHE_DEFAULTS["CARD_CACHE_BYTES"])


VERSION_QUERY = "SELECT token, changed_at FROM content_version WHERE id = 1"

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
        return self.read_row()[0]

    def read_row(self) -> "tuple[str, datetime | None]":
        """The token committed last and when it changed (UTC), in one round trip."""
        for attempt in (1, 2):
            _generation, connection, cursor = self._cursor()
            try:
                cursor.execute(VERSION_QUERY)
                rows = cursor.fetchall()  # to the end: SQLite keeps no read transaction open
                return (rows[0][0], _as_datetime(rows[0][1])) if rows else ("", None)
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


def _as_datetime(value) -> "datetime | None":
    """A timestamp as the driver returns it (SQLite: text) as a naive UTC datetime."""
    if value is None or isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


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


def _read_in_session() -> "tuple[str, datetime | None]":
    row = db.session.execute(
        select(ContentVersion.token, ContentVersion.changed_at).where(ContentVersion.id == 1)
    ).first()
    return (row[0] or "", row[1]) if row else ("", None)


# Where the public pages' WSGI layer leaves the version it read, so the request reads it once.
ENVIRON_VERSION = "allies.content_version"


def _load_version() -> None:
    passed = request.environ.pop(ENVIRON_VERSION, None) if has_request_context() else None
    if passed is None:
        reader = _reader_for(db.engine)
        passed = reader.read_row() if reader is not None else _read_in_session()
    g.content_version, g.content_changed_at = passed


def content_version() -> str:
    """The public content version: the latest committed token, read once per request."""
    if "content_version" not in g:
        _load_version()
    return g.content_version


def content_changed_at() -> "datetime | None":
    """When the public content version last changed (naive UTC), read with the token."""
    if "content_version" not in g:
        _load_version()
    return g.content_changed_at


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


def recall(name: str, *key):
    """What ``remember`` kept under (name, *key) for the current content version, or None."""
    if _changing():
        return None
    return public_cache.get((name, str(db.engine.url), content_version(), *key))


def remember(name: str, *key, value) -> None:
    """Keep ``value`` under (name, *key) until the content changes (``cached``'s other half,
    for a fact learnt while computing something else)."""
    if not _changing():
        public_cache.put((name, str(db.engine.url), content_version(), *key), value)


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
        g.pop("content_changed_at", None)


def _forget_version_at_transaction_end(session) -> None:
    if session.info.pop("public_content_changed", False):
        _forget_request_version()


def init_cache_invalidation() -> None:
    """Listen to every session's flushes (once per process)."""
    if not event.contains(Session, "before_flush", _bump_when_public_content_changes):
        event.listen(Session, "before_flush", _bump_when_public_content_changes)
        event.listen(Session, "after_commit", _forget_version_at_transaction_end)
        event.listen(Session, "after_rollback", _forget_version_at_transaction_end)


# --- whole public pages ---------------------------------------------------------------------

# A whole number as ``allies.inputs.int_arg`` reads one.
_WHOLE_NUMBER = re.compile(r"-?[0-9]+")


def whole_number(default: int | None = None, most: int | None = None):
    """A query parameter read with ``int_arg(name, default)``: ``01`` is ``1``, ``abc`` absent.

    The default itself counts as absent, so ``?page=1`` and no page share a cache entry; a page
    that serves anything above ``most`` as ``most`` says so, and they share one too.
    """

    def normal(raw: str | None) -> str | None:
        raw = (raw or "").strip()
        if not _WHOLE_NUMBER.fullmatch(raw):
            return None
        if len(raw.lstrip("-0")) > 10:
            return raw  # out of any range: the page answers 404, which is never kept
        value = int(raw)
        if most is not None and value > most:
            value = most
        return None if value == default else str(value)

    return normal


def text(limit: int):
    """A text query parameter read as its first ``limit`` characters (empty: absent)."""

    def normal(raw: str | None) -> str | None:
        return raw[:limit] or None if raw else None

    return normal


def normal_query(spec: dict, args) -> tuple:
    """The parameters of ``spec`` present in ``args``, normalised, as ((name, value), …)."""
    items = []
    for name, normal in spec.items():
        value = normal(args.get(name))
        if value is not None:
            items.append((name, value))
    return tuple(items)


def page_language(environ=None) -> str:
    """The language a public page is rendered in: part of every page's key and ETag.

    Decided by ``allies.i18n.choose_language`` from the request's WSGI ``environ`` alone (the
    cached path runs before Flask): the ``lang`` cookie, else Accept-Language, else English.
    Public pages therefore name ``Accept-Language`` in ``Vary`` (``public_http.PUBLIC_VARY``).
    """
    if environ is None:
        return "en"
    from allies.i18n import choose_language

    return choose_language(environ)[0]


def is_personal(cookies) -> bool:
    """Whether a request may see a personal page: it carries a session or remember cookie.

    Signed-in contacts and staff, and flashed messages, all live in the session cookie.
    """
    config = current_app.config
    return (
        config["SESSION_COOKIE_NAME"] in cookies
        or config.get("REMEMBER_COOKIE_NAME", "remember_token") in cookies
    )


def whole_page_cached(view=None, *, query: dict | None = None):
    """Serve a public GET page from the cache, with ETag, Last-Modified and Cache-Control.

    ``query`` names the query parameters the page reads, each with its normaliser
    (``whole_number``, ``text``); the view sees only those, normalised, so the page is a
    function of its key and a junk parameter never makes another entry. A visitor with a session
    or remember cookie gets the page rendered for them, marked ``private, no-store``. Cached hits
    are answered before Flask by ``allies.public_http.PublicPages``; this is the path of misses.
    """
    spec = dict(query or {})

    def decorate(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            from allies import public_http
            from allies.timeutil import alliance_today

            items = normal_query(spec, request.args)
            request.args = ImmutableMultiDict(items)
            if request.method not in ("GET", "HEAD") or is_personal(request.cookies):
                return public_http.personal(current_app.make_response(view(*args, **kwargs)))
            page = public_http.PageRequest(
                current_app._get_current_object(),
                str(db.engine.url),
                request.path,
                items,
                content_version(),
                content_changed_at(),
                alliance_today(),
                page_language(request.environ),
            )
            entry = public_cache.get(page.key)
            if entry is None:
                matched = page.etag_matching(request.environ)
                if matched is not None:
                    return public_http.flask_response(*page.not_modified(matched))
                response = current_app.make_response(view(*args, **kwargs))
                if response.status_code != 200 or response.headers.get("Set-Cookie"):
                    return response  # an error or a personal page: never kept
                if session.modified:
                    return public_http.personal(response)  # it flashed a message
                entry = public_http.PageEntry(page, response)
                public_cache.put(page.key, entry, entry.nbytes)
            return public_http.flask_response(*entry.serve(request.environ, public_cache))

        wrapped.public_query = spec
        return wrapped

    return decorate(view) if view is not None else decorate


def init_app(app) -> None:
    """Configure the cache from ``app`` and put the cached-page shortcut in front of it."""
    from allies.public_http import PublicPages

    for name, value in CACHE_DEFAULTS.items():
        app.config.setdefault(name, value)
    public_cache.max_bytes = int(app.config["PUBLIC_CACHE_BYTES"])
    card_cache.max_bytes = int(app.config["CARD_CACHE_BYTES"])
    app.wsgi_app = PublicPages(app, app.wsgi_app)
