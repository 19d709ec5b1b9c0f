"""Request-wide behaviour: security headers, who is signed in, template context, error pages."""

import sys
from urllib.parse import urlencode, urlsplit

from flask import current_app, g, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.middleware.proxy_fix import ProxyFix

from allies.deploy import fatal_problems
from allies.extensions import db, limiter, login_manager
from allies.sessions import contact_of_session, staff_session_is_live
from allies.staff.models import StaffUser
from allies.staff.settings import all_settings

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


# Pages partners may show in an <iframe> on their own sites (issue 12): these alone allow any
# site to frame them; every other page refuses framing ('none' and X-Frame-Options: DENY).
FRAMABLE_PATHS = frozenset({"/embed/allies"})
FRAMABLE_CSP = CSP.replace("frame-ancestors 'none'", "frame-ancestors *")

# Where init_app leaves the prepared security headers (read by allies/public_http.py).
SECURITY_HEADERS = "allies.security_headers"
FRAMABLE_SECURITY_HEADERS = "allies.framable_security_headers"


def security_headers_for(config, *, framable: bool = False) -> tuple:
    """The security headers every response carries, as (name, value) pairs.

    ``framable``: those of a page in FRAMABLE_PATHS, whose policy lets any site frame it (and
    so without X-Frame-Options, which can only refuse).
    """
    headers = (
        ("Content-Security-Policy", FRAMABLE_CSP if framable else CSP),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "strict-origin-when-cross-origin"),
    )
    if not framable:
        headers += (("X-Frame-Options", "DENY"),)
    if config["ALLIES_ENV"] == "production":
        headers += (("Strict-Transport-Security", "max-age=31536000; includeSubDomains"),)
    return headers


def security_headers_of(app, path: str) -> tuple:
    """The prepared security headers of the page at ``path`` (its own framing policy)."""
    key = FRAMABLE_SECURITY_HEADERS if path in FRAMABLE_PATHS else SECURITY_HEADERS
    return app.extensions.get(key, ())


@login_manager.user_loader
def load_staff_user(user_id: str):
    """Load staff from the session; a bumped session_version signs every old cookie out.

    The session must also be within its lifetimes (allies/sessions.py), so a remember cookie,
    which carries no sign-in time, revives nothing.
    """
    try:
        staff_id, version = (int(part) for part in user_id.split(":"))
    except ValueError:
        return None
    if not staff_session_is_live():
        return None
    user = db.session.get(StaffUser, staff_id)
    if user is None or user.session_version != version or not user.is_enabled:
        return None
    return user


def current_contact():
    """The contact signed in with an emailed link, or None (cached per request)."""
    if "contact" not in g:
        g.contact = contact_of_session()
    return g.contact


def safe_next(target: str | None, default: str) -> str:
    """``target`` if it is a path on this site, else ``default`` (no open redirects)."""
    target = (target or "").strip()
    if not target or "\\" in target or any(ord(ch) < 32 for ch in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    return target


# Paths of staff and personal pages: never stored by browsers or proxies, never canonical.
PRIVATE_PREFIXES = ("/staff", "/my", "/sign-in")


def canonical_url() -> str | None:
    """This page's address on the public base URL, for ``<link rel="canonical">`` and og:url;
    None on staff and personal pages.

    A whole-page-cached page sees only its declared query parameters, normalised, so they are
    part of it (page 2 of a list is its own page); another page's parameters are left out.
    """
    if request.path.startswith(PRIVATE_PREFIXES):
        return None
    url = current_app.config["PUBLIC_BASE_URL"].rstrip("/") + request.path
    view = current_app.view_functions.get(request.endpoint)
    if getattr(view, "public_query", None) and request.args:
        url += "?" + urlencode(list(request.args.items(multi=True)))
    return url


def site_settings() -> dict:
    """Alliance settings for this request (cached until public content changes)."""
    if "site" not in g:
        from allies.cache import cached

        g.site = cached("settings", make=all_settings)
    return g.site


def _checking_deployment() -> bool:
    """``flask check-deploy`` must be able to list the problems that stop a normal start."""
    return "check-deploy" in sys.argv[1:]


def init_app(app) -> None:
    """Register headers, context and error handlers on ``app``."""
    if app.config["ALLIES_ENV"] == "production" and not _checking_deployment():
        problems = fatal_problems(app.config)
        if problems:
            raise RuntimeError("Refusing to start in production: " + " ".join(problems))
    if app.config.get("TRUSTED_PROXIES"):
        # Behind N proxies, take the client's address and scheme from their X-Forwarded headers,
        # so endorsements record the signer's IP and rate limits count per visitor.
        hops = int(app.config["TRUSTED_PROXIES"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)

    @limiter.request_filter
    def reads_are_not_limited() -> bool:
        """Only form posts (sign-in, links) carry limits; reads skip the limiter entirely."""
        return request.method in ("GET", "HEAD", "OPTIONS")

    login_manager.login_view = "staff.sign_in"
    login_manager.login_message = "Please sign in to continue."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"

    # Prepared once: cached public pages carry them too (allies/public_http.py).
    app.extensions[SECURITY_HEADERS] = security_headers_for(app.config)
    app.extensions[FRAMABLE_SECURITY_HEADERS] = security_headers_for(app.config, framable=True)

    @app.after_request
    def security_headers(response):
        if getattr(response, "allies_prepared", False):
            return response  # a cached public page: its headers came with it
        headers = response.headers
        for name, value in security_headers_of(app, request.path):
            headers.setdefault(name, value)
        if request.path.startswith(PRIVATE_PREFIXES):
            # pages with contact details or private links are never stored by browsers or proxies
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.template_filter("initials")
    def initials(name: str) -> str:
        words = [w for w in (name or "").replace("The ", "").split() if w[:1].isalnum()]
        return "".join(w[0] for w in words[:2]).upper() or "?"

    @app.template_filter("local")
    def local_time(moment, fmt="%d %b %Y, %H:%M"):
        from allies.i18n import format_moment
        from allies.timeutil import to_local

        value = to_local(moment)
        return format_moment(value, fmt) if value else ""  # in the page's language

    @app.template_filter("days_since")
    def days_since(moment, today) -> int:
        """Whole days from a stored timestamp to ``today``, by the alliance's calendar."""
        from allies.timeutil import to_local

        return (today - to_local(moment).date()).days

    from allies.mail.outbox import public_url

    # Absolute links on the public base URL (feeds, social cards, emails), never the Host.
    app.jinja_env.globals.update(public_url=public_url, canonical_url=canonical_url)

    @app.context_processor
    def inject_site():
        return {"site": site_settings(), "current_contact": current_contact}

    def error_page(code: int, title: str, message: str):
        return render_template("error.html", code=code, title=title, message=message), code

    # Error pages are written in the visitor's language (gettext: allies/i18n.py).
    @app.errorhandler(404)
    def not_found(_error):
        return error_page(404, _("Page not found"), _("We could not find that page."))

    @app.errorhandler(403)
    def forbidden(_error):
        return error_page(403, _("Not allowed"), _("Your account cannot open this page."))

    @app.errorhandler(413)
    def too_large(_error):
        return error_page(
            413,
            _("File too large"),
            _("The file you sent is too large. Logos must be 2 MB or smaller."),
        )

    @app.errorhandler(429)
    def too_many(_error):
        return error_page(429, _("Too many attempts"), _("Please wait a minute and try again."))

    @app.errorhandler(CSRFError)
    def csrf_failed(_error):
        return error_page(
            400,
            _("Form expired"),
            _("The form expired or was sent from elsewhere. Please try again."),
        )

    @app.errorhandler(500)
    def server_error(_error):
        db.session.rollback()
        return error_page(
            500,
            _("Something went wrong"),
            _(
                "The request did not complete. A change is saved whole or not at all, so nothing "
                "was half-saved: please check the page and try again. If it keeps happening, "
                "contact the alliance."
            ),
        )
