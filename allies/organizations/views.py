"""Public pages: home, Become an Ally, the recognition page, one Ally, the JSON feed, logos."""

from flask import (
    Blueprint,
    abort,
    current_app,
    render_template,
    request,
    send_file,
)
from markupsafe import Markup

from allies.applications.statements import current_statements
from allies.cache import cached, recall, remember, text, whole_number, whole_page_cached
from allies.conferences.queries import recognised_at
from allies.i18n import current_language
from allies.inputs import int_arg
from allies.mail.outbox import public_url
from allies.organizations.cards import render_cards
from allies.organizations.profile import logo_path
from allies.organizations.queries import (
    AllyPage,
    all_current_allies,
    count_listed,
    current_allies_page,
    current_ally,
    types_in_use,
)
from allies.timeutil import alliance_today
from allies.web import site_settings

bp = Blueprint("organizations", __name__)

LOGO_TYPES = {"png": "image/png", "jpg": "image/jpeg", "webp": "image/webp"}
# A logo's name is new for every upload (profile.save_logo), so its bytes never change.
LOGO_MAX_AGE = 365 * 24 * 3600
PAGE_SIZE = 48  # Allies on a page of /allies
HOME_SHOWN = 6  # Allies the home page shows
JSON_PER_PAGE = 100  # Allies on a page of /allies.json unless ``per_page`` says otherwise
JSON_MAX_PER_PAGE = 500
# How many pages back a page looks for a remembered end to start from.
PAGE_ENDS_LOOKED_BACK = 20


def _listing_args():
    type_id = int_arg("type")
    search = request.args.get("q", "", type=str)[:100]
    return type_id, search


def listed_page(today, grace_days, *, page=1, per_page, type_id=None, search="") -> AllyPage:
    """A page of the current Allies (``queries.current_allies_page``) for the public lists,
    with what earlier pages of the same list learnt, kept until the content changes: its count
    (a pass over every Ally that every page shares) and where earlier pages ended (so that
    walking Next reads one page, and a page a few after one seen counts off only the pages
    between, not every row before it)."""
    the_list = (today, type_id or None, search.strip().lower())
    total = cached(
        "allies.count",
        *the_list,
        make=lambda: count_listed(today, grace_days, type_id=type_id, search=search),
    )
    after, after_page = None, None
    for earlier in range(page - 1, max(page - 1 - PAGE_ENDS_LOOKED_BACK, 0), -1):
        after = recall("allies.page-end", *the_list, per_page, earlier)
        if after is not None:
            after_page = earlier
            break
    shown = current_allies_page(
        today,
        grace_days,
        page=page,
        per_page=per_page,
        type_id=type_id,
        search=search,
        total=total,
        after=after,
        after_page=after_page,
    )
    if shown.last_key is not None:
        remember("allies.page-end", *the_list, per_page, page, value=shown.last_key)
    return shown


@bp.get("/")
@whole_page_cached
def home():
    """The alliance's Ally programme at a glance: how many Allies, and the first few."""
    today = alliance_today()

    def make():
        grace = site_settings()["grace_days"]
        featured = listed_page(today, grace, per_page=HOME_SHOWN)
        return {
            "count": featured.paging.total,
            "html": render_cards(featured.allies, "h3"),
        }

    return render_template(
        "organizations/home.html", featured=cached("home", today, current_language(), make=make)
    )


@bp.get("/become-an-ally")
@whole_page_cached
def become_an_ally():
    """What being an Ally means, the current texts, and the Apply button."""
    return render_template(
        "organizations/become.html", texts=current_statements(current_language())
    )


@bp.get("/allies")
@whole_page_cached(query={"type": whole_number(), "q": text(100), "page": whole_number(1)})
def allies():
    """Current Allies A–Z, filtered by type and searched by name, a page at a time (paged and
    counted in SQL: a page past the last is a 404)."""
    today = alliance_today()
    type_id, search = _listing_args()
    page = int_arg("page", 1, minimum=1)

    def make():
        grace = site_settings()["grace_days"]
        shown = listed_page(
            today,
            grace,
            page=page,
            per_page=PAGE_SIZE,
            type_id=type_id,
            search=search,
        )
        if not shown.paging.exists:
            return None
        return {
            "paging": shown.paging,
            "types": [(t.id, t.name) for t in types_in_use(today, grace)],
            "html": render_cards(shown.allies, "h2"),
        }

    # The fragment holds words ("Ally since"): one per language.
    listing = cached(
        "allies", today, current_language(), type_id, search.strip().lower(), page, make=make
    )
    if listing is None:
        abort(404)
    return render_template(
        "organizations/allies.html", listing=listing, type_id=type_id, search=search
    )


@bp.get("/allies.json")
@whole_page_cached(
    query={
        "type": whole_number(),
        "q": text(100),
        "page": whole_number(1),
        "per_page": whole_number(JSON_PER_PAGE, most=JSON_MAX_PER_PAGE),
    }
)
def allies_json():
    """The list as JSON for other sites, a page at a time, public profile fields only.

    Query: ``page`` (from 1), ``per_page`` (default JSON_PER_PAGE, at most JSON_MAX_PER_PAGE;
    more is served as the most), ``type`` and ``q`` as on /allies. The body holds ``total``
    (``count``, its older name), ``page``, ``pages``, ``per_page``, absolute ``next`` and
    ``prev`` links (null at either end) and ``allies``; the same links go in a ``Link`` header.
    Links are on the configured public base URL, never the request's Host. A page past the last
    is a 404 with a JSON message. Every Ally in one document: /allies/all.json.
    """
    today = alliance_today()
    type_id, search = _listing_args()
    page = int_arg("page", 1, minimum=1)
    per_page = min(int_arg("per_page", JSON_PER_PAGE, minimum=1), JSON_MAX_PER_PAGE)
    feed = cached(
        "allies.json",
        today,
        type_id,
        search.strip().lower(),
        page,
        per_page,
        make=lambda: _allies_json_page(today, type_id, search, page, per_page),
    )
    if feed is None:
        response = current_app.response_class(
            current_app.json.dumps({"error": f"There is no page {page} of this list."}),
            status=404,
            mimetype="application/json",
        )
    else:
        body, links = feed
        response = current_app.response_class(body, mimetype="application/json")
        if links:
            response.headers["Link"] = ", ".join(f'<{url}>; rel="{rel}"' for rel, url in links)
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


def _allies_json_page(today, type_id, search, page, per_page) -> tuple[str, list] | None:
    """The body of one page of /allies.json and its (rel, url) links; None past the last page."""
    grace = site_settings()["grace_days"]
    shown = listed_page(
        today,
        grace,
        page=page,
        per_page=per_page,
        type_id=type_id,
        search=search,
    )
    paging = shown.paging
    if not paging.exists:
        return None

    def link(number):
        if number is None:
            return None
        return public_url(
            "organizations.allies_json",
            page=number,
            per_page=per_page if per_page != JSON_PER_PAGE else None,
            type=type_id,
            q=search.strip() or None,
        )

    next_url, prev_url = link(paging.next), link(paging.previous)
    body = current_app.json.dumps(
        {
            "total": paging.total,
            "count": paging.total,
            "page": paging.page,
            "pages": paging.pages,
            "per_page": per_page,
            "next": next_url,
            "prev": prev_url,
            "allies": [_public_fields(a) for a in shown.allies],
        }
    )
    links = [(rel, url) for rel, url in (("next", next_url), ("prev", prev_url)) if url]
    return body, links


@bp.get("/allies/all.json")
@whole_page_cached
def all_allies_json():
    """Every current Ally in one JSON document, for partners who mirror the whole list.

    The fields of /allies.json, A–Z, with ``total`` (and ``count``); no paging. Built in two
    queries (the organizations, then their facts) and served from the page cache.
    """
    today = alliance_today()

    def make():
        rows = all_current_allies(today, site_settings()["grace_days"])
        return current_app.json.dumps(
            {
                "total": len(rows),
                "count": len(rows),
                "allies": [_public_fields(a) for a in rows],
            }
        )

    response = current_app.response_class(
        cached("allies/all.json", today, make=make), mimetype="application/json"
    )
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


def _public_fields(ally) -> dict:
    """An Ally's public profile for the JSON feed: never a contact's name, email or phone."""
    org = ally.org
    return {
        "name": org.name,
        "slug": org.slug,
        "url": public_url("organizations.ally", slug=org.slug),
        "website": org.website,
        "type": org.type.name if org.type else None,
        "city": org.city,
        "region": org.region,
        "country": org.country,
        "description": org.description,
        "logo_url": public_url("organizations.logo", name=org.logo_filename)
        if org.logo_filename
        else None,
        "ally_since": ally.since,
    }


@bp.get("/allies/<slug>")
@whole_page_cached
def ally(slug: str):
    """One current Ally's public page."""
    today = alliance_today()

    def make():
        grace = site_settings()["grace_days"]
        ally = current_ally(slug, today, grace)
        if ally is None:
            return None
        organization = ally.org
        recognised = recognised_at(organization.id, today, grace)
        return (
            Markup(
                render_template(
                    "organizations/_ally_page.html",
                    ally=ally,
                    org=organization,
                    recognised_at=recognised,
                )
            ),
            organization.name,
            organization.description,
            organization.logo_filename,  # the image of a shared link's preview
        )

    page = cached("ally", today, current_language(), slug, make=make)
    if page is None:
        abort(404)
    html, name, description, logo = page
    return render_template(
        "organizations/ally.html", html=html, name=name, description=description, logo=logo
    )


@bp.get("/logos/<name>")
def logo(name: str):
    """A stored logo, with an explicit type so browsers never guess; kept for a year."""
    path = logo_path(name)
    if path is None:
        abort(404)
    response = send_file(path, mimetype=LOGO_TYPES[path.suffix[1:]], max_age=LOGO_MAX_AGE)
    response.cache_control.immutable = True
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; base-uri 'none'; frame-ancestors 'none'; sandbox"
    )
    return response


@bp.get("/theme.css")
def theme():
    """The alliance's colours as CSS variables (settings are the one place they are set)."""
    settings = site_settings()
    css = render_template(
        "theme.css", brand=settings["brand_color"], accent=settings["accent_color"]
    )
    response = current_app.response_class(css, mimetype="text/css")
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
