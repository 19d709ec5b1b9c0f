"""HTTP for the public pages: validators, Cache-Control, compression, and cached hits before Flask.

A public page (``allies.cache.whole_page_cached``) is a function of its key: the content version,
the alliance's date, the language, the path and the query parameters it reads. So is its strong
ETag (a hash of the key, the code and the variant: identity, gzip or br), and its Last-Modified
(when the content version last changed, never before the start of the alliance's current day,
since statuses change with the date). A cached entry keeps the body and each compressed variant
once it has been asked for, with every header prepared.

``PublicPages`` sits in front of the Flask application: for an anonymous GET or HEAD of a public
page it reads the content version (one round trip), and answers a cached entry or a conditional
request itself, with no request context, session, CSRF, rate limiter or template. Anything else,
misses included, goes on to Flask, and the decorator renders and keeps the page.
"""

import gzip
import hashlib
import os
from datetime import UTC, datetime
from datetime import time as day_time
from functools import cache
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

import brotli
import werkzeug.urls  # noqa: F401  (registers the werkzeug.url_quote decoding errors)
from flask import current_app
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException
from werkzeug.http import http_date, parse_accept_header, parse_cookie, parse_date, parse_etags
from werkzeug.routing import RequestRedirect
from werkzeug.wsgi import get_path_info

from allies import clock
from allies.cache import (
    ENVIRON_VERSION,
    _reader_for,
    normal_query,
    page_language,
    public_cache,
)
from allies.extensions import db
from allies.web import security_headers_of

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
PROJECT_DIR = os.path.dirname(PACKAGE_DIR)
# The source a page is made from: a deploy that changes any of it changes every ETag.
SOURCE_FOLDERS = (PACKAGE_DIR, os.path.join(PROJECT_DIR, "templates"))
SOURCE_SUFFIXES = (".py", ".html", ".css", ".txt", ".js", ".svg", ".po", ".xml")

# A public response varies with the encoding asked for, with a session cookie (a personal page)
# and with the language: the ``lang`` cookie, else Accept-Language (allies/i18n.py).
PUBLIC_VARY = "Accept-Encoding, Cookie, Accept-Language"
NOT_MODIFIED = "304 Not Modified"
# The headers a public entry sets itself; the view's other headers (a download's file name, CORS)
# are kept with the entry.
OWN_HEADERS = frozenset(
    ("content-type", "content-length", "content-encoding", "etag", "last-modified")
    + ("cache-control", "vary", "date", "set-cookie")
)


@cache
def code_fingerprint() -> str:
    """A hash of the application's source and templates, computed once per process."""
    digest = hashlib.sha1()
    for folder in SOURCE_FOLDERS:
        for root, dirs, files in os.walk(folder):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in sorted(files):
                if name.endswith(SOURCE_SUFFIXES):
                    path = os.path.join(root, name)
                    digest.update(os.path.relpath(path, PROJECT_DIR).encode())
                    with open(path, "rb") as source:
                        digest.update(source.read())
    return digest.hexdigest()


def choose_encoding(accept: str) -> str:
    """``br``, ``gzip`` or ``identity``: the best encoding an ``Accept-Encoding`` value allows."""
    if ";" not in accept:  # the usual "gzip, deflate, br": no weights to read
        names = {part.strip().lower() for part in accept.split(",")}
        if "br" in names or "*" in names:
            return "br"
        return "gzip" if "gzip" in names else "identity"
    accepted = parse_accept_header(accept)
    weights = {name: accepted.quality(name) for name in ("br", "gzip")}
    best = max(weights, key=lambda name: (weights[name], name == "br"))
    return best if weights[best] > 0 else "identity"


def compress(body: bytes, encoding: str, config) -> bytes:
    """``body`` in ``encoding``; the same bytes every time (gzip without a timestamp)."""
    if encoding == "br":
        return brotli.compress(body, quality=int(config["PUBLIC_BROTLI_QUALITY"]))
    return gzip.compress(body, compresslevel=int(config["PUBLIC_GZIP_LEVEL"]), mtime=0)


def query_args(query: str) -> MultiDict:
    """The query string of a WSGI environ parsed exactly as ``request.args`` parses it."""
    return MultiDict(
        parse_qsl(
            query.encode("latin1").decode(), keep_blank_values=True, errors="werkzeug.url_quote"
        )
    )


def _etag_listed(header: str, etag: str) -> bool:
    """Whether an If-None-Match value names ``etag`` (weak comparison, as RFC 9110 asks)."""
    return parse_etags(header).contains_weak(etag)


class PageRequest:
    """What one request for a public page is: its cache key, ETags and Last-Modified."""

    __slots__ = ("app", "key", "path", "token", "changed_at", "today", "_etag_base")

    def __init__(self, app, database, path, query, token, changed_at, today, language):
        self.app = app
        self.key = ("page", database, token, path, query, language, today)
        self.path = path
        self.token, self.changed_at, self.today = token, changed_at, today
        self._etag_base = None

    def etag(self, encoding: str) -> str:
        """The strong ETag (unquoted) of this page in ``encoding``."""
        if self._etag_base is None:
            config = self.app.config
            parts = (code_fingerprint(), config.get("PUBLIC_BASE_URL"), config["TIMEZONE"])
            self._etag_base = hashlib.sha1(repr(parts + self.key[2:]).encode()).hexdigest()[:32]
        return self._etag_base if encoding == "identity" else f"{self._etag_base}-{encoding}"

    def last_modified(self) -> datetime:
        """When the content version changed, not before today began nor after now (UTC)."""
        zone = ZoneInfo(self.app.config["TIMEZONE"])
        day_start = datetime.combine(self.today, day_time.min, tzinfo=zone).astimezone(UTC)
        changed = self.changed_at.replace(tzinfo=UTC) if self.changed_at else day_start
        return min(max(changed, day_start), datetime.now(UTC)).replace(microsecond=0)

    def cache_control(self) -> str:
        config = self.app.config
        return (
            f"public, max-age={int(config['PUBLIC_MAX_AGE'])}, "
            f"stale-while-revalidate={int(config['PUBLIC_STALE_WHILE_REVALIDATE'])}"
        )

    def etag_matching(self, environ) -> str | None:
        """The ETag of one of this page's variants named by If-None-Match, or None.

        Only an exact ETag counts (not ``*``): it proves the client had this very page, so the
        page exists and is unchanged, and a 304 needs no rendering even without an entry.
        """
        header = environ.get("HTTP_IF_NONE_MATCH")
        if not header:
            return None
        listed = parse_etags(header)
        for encoding in ("identity", "gzip", "br"):
            etag = self.etag(encoding)
            if listed.contains_weak(etag):
                return etag
        return None

    def validator_headers(self, etag: str, last_modified: str) -> list:
        return [
            ("ETag", f'"{etag}"'),
            ("Last-Modified", last_modified),
            ("Cache-Control", self.cache_control()),
            ("Vary", PUBLIC_VARY),
        ]

    def not_modified(self, etag: str):
        """A 304 for this page (status, headers, body), as an entry would answer it."""
        headers = self.validator_headers(etag, http_date(self.last_modified()))
        return NOT_MODIFIED, headers + _security_headers(self.app, self.path), []


def _security_headers(app, path: str) -> list:
    """The page's security headers: a page partners may frame has its own framing policy,
    which its 304s carry too (a 304's headers replace those a browser stored)."""
    return list(security_headers_of(app, path))


class PageEntry:
    """A rendered public page with its prepared headers and, once asked for, compressed bodies."""

    __slots__ = (
        "page",
        "key",
        "body",
        "compressible",
        "content_type",
        "extra",
        "last_modified",
        "variants",
    )

    def __init__(self, page: PageRequest, response):
        self.page, self.key = page, page.key
        self.body = response.get_data()
        self.compressible = len(self.body) >= int(page.app.config["PUBLIC_COMPRESS_MIN_BYTES"])
        self.content_type = response.headers.get("Content-Type", "text/html; charset=utf-8")
        extra = [(k, v) for k, v in response.headers.items() if k.lower() not in OWN_HEADERS]
        named = {k.lower() for k, _v in extra}
        self.extra = extra + [
            (k, v) for k, v in _security_headers(page.app, page.path) if k.lower() not in named
        ]
        moment = page.last_modified()
        self.last_modified = (moment, http_date(moment))
        self.variants: dict = {}
        self._add_variant("identity", self.body)

    @property
    def nbytes(self) -> int:
        """The bytes this entry holds: every body, and a little for the headers."""
        return sum(len(variant[0]) + 1024 for variant in self.variants.values())

    def _add_variant(self, encoding: str, body: bytes):
        etag = self.page.etag(encoding)
        validators = self.page.validator_headers(etag, self.last_modified[1])
        headers = [("Content-Type", self.content_type), ("Content-Length", str(len(body)))]
        if encoding != "identity":
            headers.append(("Content-Encoding", encoding))
        variant = (body, headers + validators + self.extra, validators + self.extra, etag)
        # setdefault: two threads compressing at once keep one variant, counted once
        kept = self.variants.setdefault(encoding, variant)
        return kept, kept is variant

    def variant(self, encoding: str, cache=None):
        """(body, headers, 304 headers, etag) in ``encoding``, compressing it on first demand."""
        found = self.variants.get(encoding)
        if found is None:
            body = compress(self.body, encoding, self.page.app.config)
            found, added = self._add_variant(encoding, body)
            if added and cache is not None:
                cache.grow(self.key, self, len(body) + 1024)
        return found

    def serve(self, environ, cache=None):
        """(status, headers, body) for a request: a 304 when its validators match."""
        encoding = "identity"
        if self.compressible:
            accept = environ.get("HTTP_ACCEPT_ENCODING")
            if accept:
                encoding = choose_encoding(accept)
        body, headers, not_modified, etag = self.variant(encoding, cache)
        none_match = environ.get("HTTP_IF_NONE_MATCH")
        if none_match is not None:
            if _etag_listed(none_match, etag):
                return NOT_MODIFIED, not_modified, []
        else:
            since = environ.get("HTTP_IF_MODIFIED_SINCE")
            if since is not None:
                moment = parse_date(since)
                if moment is not None and moment >= self.last_modified[0]:
                    return NOT_MODIFIED, not_modified, []
        return "200 OK", headers, [body]


def flask_response(status: str, headers: list, body: list):
    """A Flask response for (status, headers, body) from an entry or a page request."""
    response = current_app.response_class(b"".join(body), status=int(status[:3]), headers=headers)
    response.allies_prepared = True  # allies/web.py: its headers are already there
    return response


def personal(response):
    """Mark a page rendered for one visitor: no validators, stored by no browser or proxy."""
    response.headers["Cache-Control"] = "private, no-store"
    response.headers.remove("ETag")
    response.headers.remove("Last-Modified")
    response.vary.add("Cookie")
    return response


class PublicPages:
    """WSGI middleware: answers anonymous GET and HEAD requests for cached public pages."""

    def __init__(self, app, wsgi_app):
        self.app = app
        self.wsgi_app = wsgi_app
        self._adapter = None
        self._source = None  # (database name in keys, version reader); reader None: in-session

    def __call__(self, environ, start_response):
        method = environ.get("REQUEST_METHOD")
        if method != "GET" and method != "HEAD":
            return self.wsgi_app(environ, start_response)
        cookie = environ.get("HTTP_COOKIE")
        if cookie and self._personal(cookie):
            return self.wsgi_app(environ, start_response)
        found = self._public_page(environ)
        if found is None:
            return self.wsgi_app(environ, start_response)
        path, spec = found
        database, reader = self._database()
        if reader is None:
            return self.wsgi_app(environ, start_response)
        try:
            token, changed_at = reader.read_row()
        except Exception:  # the database is down: Flask answers with its error page
            return self.wsgi_app(environ, start_response)
        environ[ENVIRON_VERSION] = (token, changed_at)
        query = environ.get("QUERY_STRING")
        try:
            items = normal_query(spec, query_args(query)) if spec and query else ()
        except UnicodeError:  # not UTF-8: Flask reads it its own way
            return self.wsgi_app(environ, start_response)
        page = PageRequest(
            self.app,
            database,
            path,
            items,
            token,
            changed_at,
            self._today(),
            page_language(environ),
        )
        entry = public_cache.get(page.key)
        if entry is not None:
            status, headers, body = entry.serve(environ, public_cache)
        else:
            matched = page.etag_matching(environ)
            if matched is None:
                return self.wsgi_app(environ, start_response)  # rendered and kept by the view
            status, headers, body = page.not_modified(matched)
        start_response(status, headers)
        return [] if method == "HEAD" else body

    def _personal(self, cookie: str) -> bool:
        config = self.app.config
        names = (
            config["SESSION_COOKIE_NAME"],
            config.get("REMEMBER_COOKIE_NAME", "remember_token"),
        )
        if not any(name in cookie for name in names):
            return False
        cookies = parse_cookie(cookie)
        return any(name in cookies for name in names)

    def _public_page(self, environ):
        """(path, query spec) when the request is for a whole-page-cached view, else None."""
        if self._adapter is None:
            self._adapter = self.app.url_map.bind("localhost")
        path = "/" + get_path_info(environ).lstrip("/")  # as request.path reads it
        try:
            endpoint, _values = self._adapter.match(path, method="GET")
        except (HTTPException, RequestRedirect):
            return None
        spec = getattr(self.app.view_functions.get(endpoint), "public_query", None)
        return None if spec is None else (path, spec)

    def _database(self):
        if self._source is None:
            with self.app.app_context():
                self._source = (str(db.engine.url), _reader_for(db.engine))
        return self._source

    def _today(self):
        fixed = clock.fixed_today(self.app.config)
        return (
            fixed if fixed is not None else clock.real_today(ZoneInfo(self.app.config["TIMEZONE"]))
        )
