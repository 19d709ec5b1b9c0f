"""Public pages for other sites: the Atom feed of new Allies, the roll partners embed, the icon.

``/allies.atom`` lists the last FEED_SIZE current Allies by the day they became Allies (``Ally
since``: an imported Ally's own date, else the start of its first term), newest first.
``/embed/allies`` is the compact roll a partner shows in an ``<iframe>``: the one page any site
may frame (``allies.web.FRAMABLE_PATHS``), a page of EMBED_PAGE_SIZE Allies at a time with a link
to the whole list. ``/favicon.ico`` answers the browsers that ask for it without a page.
"""

import re
from contextlib import nullcontext
from datetime import UTC, date, datetime, time
from pathlib import Path
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, render_template, request, send_file
from markupsafe import Markup

from allies.cache import cached, page_language, whole_number, whole_page_cached
from allies.inputs import int_arg
from allies.mail.outbox import public_url
from allies.organizations.profile import logo_path
from allies.organizations.queries import newest_allies
from allies.organizations.views import LOGO_TYPES, listed_page
from allies.timeutil import alliance_today, alliance_zone
from allies.web import site_settings

bp = Blueprint("feeds", __name__)

FEED_SIZE = 50  # entries in /allies.atom
EMBED_PAGE_SIZE = 60  # Allies on a page of /embed/allies
# The languages the embed's ``lang`` parameter may ask for (allies/i18n.py's, once it lands).
EMBED_LANGUAGES = ("en", "es")
DEFAULT_ICON = Path(__file__).resolve().parents[1] / "static" / "favicon.svg"
ICON_MAX_AGE = 24 * 3600  # the icon may change (settings), so a day rather than a year
# Characters XML 1.0 cannot hold at all, even escaped: a description pasted with one would
# otherwise make the whole feed unreadable.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def xml_text(value) -> str:
    """``value`` as text an XML document can hold (Jinja escapes it as the template renders)."""
    return _NOT_XML.sub("", str(value or ""))


def one_of(choices: tuple):
    """A query parameter normaliser (``allies.cache``) keeping only one of ``choices``."""

    def normal(raw: str | None) -> str | None:
        raw = (raw or "").strip().lower()
        return raw if raw in choices else None

    return normal


def rfc3339(moment: datetime) -> str:
    """A naive-UTC or aware timestamp as Atom writes it: ``2026-03-01T05:00:00Z``."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.replace(microsecond=0).isoformat() + "Z"


def day_start(day: date) -> datetime:
    """The first moment of ``day`` in the alliance's time zone, as naive UTC."""
    local = datetime.combine(day, time.min, tzinfo=alliance_zone())
    return local.astimezone(UTC).replace(tzinfo=None)


def entry_id(organization) -> str:
    """A tag: URI naming an Ally for good (RFC 4151): the site's host, the day the
    organization was first recorded, and its id; never the name or slug, which may change."""
    host = urlsplit(current_app.config["PUBLIC_BASE_URL"]).hostname or "localhost"
    return f"tag:{host},{organization.created_at:%Y-%m-%d}:ally:{organization.id}"


def _feed_document(today: date) -> str:
    settings = site_settings()
    entries = []
    for ally in newest_allies(today, settings["grace_days"], limit=FEED_SIZE):
        org = ally.org
        published = day_start(ally.became)
        # A profile edited since (a new description, a new name) is an update of the entry.
        updated = max(published, org.updated_at or published)
        entries.append(
            {
                "id": entry_id(org),
                "title": org.name,
                "url": public_url("organizations.ally", slug=org.slug),
                "summary": org.description,
                "type": org.type.name if org.type else None,
                "published": rfc3339(published),
                "updated": rfc3339(updated),
                "_updated": updated,
            }
        )
    # The feed changed when its newest entry did; an empty feed as of today.
    updated = max((e["_updated"] for e in entries), default=day_start(today))
    logo = settings["alliance_logo"]
    return render_template(
        "organizations/allies.atom.xml",
        entries=entries,
        updated=rfc3339(updated),
        self_url=public_url("feeds.atom"),
        alternate_url=public_url("organizations.allies"),
        logo_url=public_url("organizations.logo", name=logo) if logo else None,
    )


@bp.get("/allies.atom")
@whole_page_cached
def atom():
    """An Atom 1.0 feed of the newest current Allies, for feed readers and other sites."""
    today = alliance_today()
    body = cached("allies.atom", today, make=lambda: _feed_document(today))
    return current_app.response_class(body, mimetype="application/atom+xml")


def _rendered_in(language: str):
    """Render inside in ``language`` when Flask-Babel is set up (issue 12's Spanish); English
    strings as they are before then."""
    if "babel" not in current_app.extensions:
        return nullcontext()
    from flask_babel import force_locale

    return force_locale(language)


@bp.get("/embed/allies")
@whole_page_cached(
    query={"type": whole_number(), "page": whole_number(1), "lang": one_of(EMBED_LANGUAGES)}
)
def embed():
    """Current Allies A–Z for a partner's ``<iframe>``: logos and names linking (in a new tab)
    to their pages, a page at a time, ``?type=`` as on /allies and ``?lang=`` (else the
    visitor's language). No navigation, header or footer; any site may frame it."""
    today = alliance_today()
    type_id = int_arg("type")
    page = int_arg("page", 1, minimum=1)
    language = request.args.get("lang") or page_language(request.environ)

    def make():
        grace = site_settings()["grace_days"]
        shown = listed_page(today, grace, page=page, per_page=EMBED_PAGE_SIZE, type_id=type_id)
        if not shown.paging.exists:
            return None
        with _rendered_in(language):
            return Markup(
                render_template(
                    "organizations/embed.html",
                    allies=shown.allies,
                    paging=shown.paging,
                    type_id=type_id,
                    language=language,
                    type_name=next(
                        (a.org.type.name for a in shown.allies if type_id and a.org.type), None
                    ),
                )
            )

    html = cached("embed", today, type_id, page, language, make=make)
    if html is None:
        abort(404)
    return html


@bp.get("/favicon.ico")
def favicon():
    """The alliance's logo if it has one, else the default icon (browsers ask for this path)."""
    logo = site_settings()["alliance_logo"]
    path = logo_path(logo) if logo else None
    if path is not None:
        return send_file(path, mimetype=LOGO_TYPES[path.suffix[1:]], max_age=ICON_MAX_AGE)
    return send_file(DEFAULT_ICON, mimetype="image/svg+xml", max_age=ICON_MAX_AGE)


@bp.app_template_filter("xml_text")
def _xml_text_filter(value) -> str:
    return xml_text(value)
