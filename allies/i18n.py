"""Languages: which one a visitor reads (a ``lang`` cookie, else Accept-Language, else English).

The choice is made from the WSGI environ alone, so the cached-page layer in front of Flask
(``allies/public_http.py``) keys a page on the same language Flask-Babel renders it in. Staff
pages stay in English until they are translated. Emails are rendered in the language recorded on
the contact (``contact.language``) with ``flask_babel.force_locale``: see ``email_language``.
"""

import os
from datetime import date
from functools import lru_cache
from urllib.parse import urlencode

from babel import Locale
from flask import Blueprint, g, make_response, redirect, request
from flask_babel import Babel, force_locale, get_locale, get_translations
from flask_babel import format_date as babel_format_date
from flask_babel import lazy_gettext as _l
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header, parse_cookie

DEFAULT_LANGUAGE = "en"
# Each language in its own name, as the switch shows it.
LANGUAGES = {"en": "English", "es": "Español"}
LANGUAGE_COOKIE = "lang"
LANGUAGE_COOKIE_MAX_AGE = 365 * 24 * 3600
TRANSLATIONS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "translations")
# Paths whose pages are not translated yet: always English, whatever the visitor asks for.
ENGLISH_ONLY_PREFIXES = ("/staff",)

babel = Babel()
bp = Blueprint("i18n", __name__)


@lru_cache(maxsize=512)
def language_of_accept(header: str) -> str:
    """The best of our languages for an ``Accept-Language`` value (``es-MX`` counts as ``es``)."""
    accepted = parse_accept_header(header, LanguageAccept)
    return accepted.best_match(tuple(LANGUAGES), default=DEFAULT_LANGUAGE) or DEFAULT_LANGUAGE


def language_of_cookie(cookie_header: str | None) -> str | None:
    """The language a ``lang`` cookie names, or None (absent or not one of ours)."""
    if not cookie_header or LANGUAGE_COOKIE not in cookie_header:
        return None  # most requests: no parsing at all
    chosen = parse_cookie(cookie_header).get(LANGUAGE_COOKIE)
    return chosen if chosen in LANGUAGES else None


def choose_language(environ) -> tuple[str, bool]:
    """(language, whether the choice read Accept-Language) for a request's WSGI environ.

    Runs without a request context: the cached-page layer calls it before Flask.
    """
    path = environ.get("PATH_INFO") or ""
    if path.startswith(ENGLISH_ONLY_PREFIXES):
        return DEFAULT_LANGUAGE, False
    chosen = language_of_cookie(environ.get("HTTP_COOKIE"))
    if chosen is not None:
        return chosen, False
    header = environ.get("HTTP_ACCEPT_LANGUAGE")
    if not header:
        return DEFAULT_LANGUAGE, False
    return language_of_accept(header[:500]), True


def select_locale() -> str:
    """Flask-Babel's locale selector: the request's language; English outside a request."""
    if not request:
        return DEFAULT_LANGUAGE
    return choose_language(request.environ)[0]


def current_language() -> str:
    """The language being rendered now (a request's, or one forced for an email)."""
    try:
        locale = get_locale()
    except (KeyError, RuntimeError):  # no app context, or an app without Babel
        return DEFAULT_LANGUAGE
    return locale.language if locale is not None and locale.language in LANGUAGES else "en"


def email_language(language: str | None) -> str:
    """A contact's recorded language, or English when it is missing or not one of ours."""
    return language if language in LANGUAGES else DEFAULT_LANGUAGE


# Parsed once: a burst of reminders switches language for every message.
_LOCALES = {code: Locale.parse(code) for code in LANGUAGES}


def in_language(language: str | None):
    """A context manager rendering everything inside it in ``language`` (emails, jobs); English
    when ``language`` is None or not one of ours."""
    return force_locale(_LOCALES[email_language(language)])


class Later:
    """Text worked out when it is written (``str``), in the language in force then: dates and
    words an email's context carries, rendered later in the recipient's language."""

    __slots__ = ("make",)

    def __init__(self, make):
        self.make = make

    def __str__(self) -> str:
        return str(self.make())


def long_date(day: date | None) -> str:
    """A date written out in the current language: ``28 February 2027``, ``28 de febrero de 2027``."""
    if day is None:
        return ""
    if current_language() == "en":
        return f"{day.day} {day:%B %Y}"  # British order, which Babel's "en" does not give
    return babel_format_date(day, "long")


def date_range(start: date, end: date) -> str:
    """Two dates as one range: ``14–16 March 2027``; ``14–16 de marzo de 2027``."""
    if start == end:
        return long_date(start)
    if current_language() == "en":
        if (start.year, start.month) == (end.year, end.month):
            return f"{start.day}–{end.day} {end:%B %Y}"
        if start.year == end.year:
            return f"{start.day} {start:%B} – {end.day} {end:%B %Y}"
        return f"{long_date(start)} – {long_date(end)}"
    from babel.dates import format_interval

    return format_interval(start, end, "yMMMMd", locale=get_locale())


# strftime patterns the templates use, and how each is written in another language (Babel).
_BABEL_PATTERNS = {
    "%d %b %Y, %H:%M": "d MMM y, HH:mm",
    "%d %b %Y": "d MMM y",
    "%d %B %Y": "long",
    "%-d %B %Y at %H:%M": "d 'de' MMMM 'de' y, HH:mm",
}


def format_moment(value, fmt: str) -> str:
    """``value`` (a date or datetime) by the strftime ``fmt`` in English, by Babel otherwise."""
    if value is None:
        return ""
    if current_language() == "en" or fmt not in _BABEL_PATTERNS:
        return value.strftime(fmt)
    from babel.dates import format_date, format_datetime

    pattern = _BABEL_PATTERNS[fmt]
    locale = get_locale()
    if "H" in pattern:
        return format_datetime(value, pattern, locale=locale)
    return format_date(value, pattern, locale=locale)


def format_number(value) -> str:
    """A count written for the language: ``10,000`` in English, ``10.000`` in Spanish."""
    from babel.numbers import format_decimal

    return format_decimal(value, locale=current_language())


# Status badges on the pages a contact sees: an agreement's status, an application's state.
STATUS_WORDS = {
    "upcoming": _l("upcoming"),
    "active": _l("active"),
    "expiring": _l("expiring"),
    "grace": _l("grace"),
    "lapsed": _l("lapsed"),
    "terminated": _l("terminated"),
    "renewed": _l("renewed"),
    "submitted": _l("submitted"),
    "info_requested": _l("info requested"),
    "approved": _l("approved"),
    "declined": _l("declined"),
    "withdrawn": _l("withdrawn"),
}


def status_words(status) -> str:
    """A status or state as a badge writes it, in the current language."""
    words = STATUS_WORDS.get(str(status))
    return str(words) if words is not None else str(status).replace("_", " ")


# A contact's role as pages write it (lower case, in a sentence).
ROLE_WORDS = {
    "primary": _l("primary"),
    "signatory": _l("signatory"),
    "communications": _l("communications"),
}


def role_words(role) -> str:
    """A contact's role in the current language."""
    words = ROLE_WORDS.get(str(role))
    return str(words) if words is not None else str(role)


def switch_url(language: str) -> str:
    """The language switch's link to ``language``, coming back to this very page.

    The way back holds the path and the query parameters the view read (a cached page sees
    only its declared ones), so a cached page never carries one visitor's stray parameters.
    """
    here = request.path
    if request.args:
        here += "?" + urlencode(list(request.args.items(multi=True)))
    return f"/language/{language}?" + urlencode({"next": here})


@bp.get("/language/<code>")
def choose(code: str):
    """Remember the chosen language in a cookie for a year and go back to a page of this site."""
    from allies.web import safe_next

    target = safe_next(request.args.get("next"), "/")
    response = make_response(redirect(target, 303))
    if code in LANGUAGES:
        response.set_cookie(
            LANGUAGE_COOKIE,
            code,
            max_age=LANGUAGE_COOKIE_MAX_AGE,
            samesite="Lax",
            secure=request.is_secure,
            httponly=True,  # no script reads it
        )
    return response


def compile_catalogues(directory: str = TRANSLATIONS_DIR) -> list[str]:
    """Compile every ``messages.po`` newer than its ``messages.mo``; the paths written.

    The compiled files are not committed (``make translations-compile`` makes them); this
    catches a start or a test run from a fresh checkout. A read-only folder is left alone.
    """
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    written = []
    if not os.path.isdir(directory):
        return written
    for language in sorted(os.listdir(directory)):
        folder = os.path.join(directory, language, "LC_MESSAGES")
        po, mo = os.path.join(folder, "messages.po"), os.path.join(folder, "messages.mo")
        if not os.path.exists(po):
            continue
        if os.path.exists(mo) and os.path.getmtime(mo) >= os.path.getmtime(po):
            continue
        with open(po, "rb") as source:
            catalogue = read_po(source, locale=language)
        temporary = f"{mo}.{os.getpid()}.tmp"
        try:
            with open(temporary, "wb") as target:
                write_mo(target, catalogue)
            os.replace(temporary, mo)  # atomic: another worker never reads half a file
        except OSError:
            continue
        written.append(mo)
    return written


def _install_template_gettext(app) -> None:
    """Templates' gettext callables, reading the catalogue of the locale in force directly.

    Flask-Babel's own resolve the request context, the domain and the locale's name at every
    call (about 15 µs in a template): a page of 48 Allies made some 200 such calls. These look
    up the domain and locale Flask-Babel has chosen for the context (``force_locale`` included,
    since it sets the same attribute) and keep each pair's catalogue, as Flask-Babel's domain
    cache does; before Flask-Babel has chosen them, the first call goes the long way.
    """
    catalogues: dict = {}

    def translations():
        babel_context = g.get("_flask_babel")
        key = (
            getattr(babel_context, "babel_domain", None),
            getattr(babel_context, "babel_locale", None),
        )
        if None in key:
            return get_translations()  # which sets both, for the next call
        found = catalogues.get(key)
        if found is None:
            found = catalogues[key] = get_translations()
        return found

    app.jinja_env.install_gettext_callables(
        gettext=lambda string: translations().ugettext(string),
        ngettext=lambda singular, plural, n: translations().ungettext(singular, plural, n),
        pgettext=lambda context, string: translations().upgettext(context, string),
        npgettext=lambda context, singular, plural, n: translations().unpgettext(
            context, singular, plural, n
        ),
        newstyle=True,
    )


def init_app(app) -> None:
    """Flask-Babel with our selector and catalogues, the switch's route, template helpers."""
    compile_catalogues()
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LANGUAGE)
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", TRANSLATIONS_DIR)
    babel.init_app(app, locale_selector=select_locale)
    app.jinja_env.add_extension("jinja2.ext.i18n")
    _install_template_gettext(app)
    # {% trans %} blocks are stored with their whitespace folded, as babel.cfg extracts them.
    app.jinja_env.policies["ext.i18n.trimmed"] = True
    app.register_blueprint(bp)
    from allies.applications.statements import STATEMENT_TITLES

    app.jinja_env.globals.update(
        current_language=current_language,
        languages=LANGUAGES,
        language_switch_url=switch_url,
        long_date=long_date,
        status_words=status_words,
        role_words=role_words,
        format_moment=format_moment,
        statement_titles=STATEMENT_TITLES,
    )
    app.jinja_env.filters["long_date"] = long_date
    app.jinja_env.filters["number"] = format_number
