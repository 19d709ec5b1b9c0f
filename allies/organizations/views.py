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
from allies.cache import cached, text, whole_number, whole_page_cached
from allies.conferences.queries import recognised_at
from allies.inputs import int_arg
from allies.mail.outbox import public_url
from allies.organizations.profile import logo_path
from allies.organizations.queries import (
    current_allies,
    current_ally,
    types_in_use,
)
from allies.timeutil import alliance_today
from allies.web import site_settings

bp = Blueprint("organizations", __name__)

LOGO_TYPES = {"png": "image/png", "jpg": "image/jpeg", "webp": "image/webp"}
# A logo's name is new for every upload (profile.save_logo), so its bytes never change.
LOGO_MAX_AGE = 365 * 24 * 3600
PAGE_SIZE = 48


def _listing_args():
    type_id = int_arg("type")
    search = request.args.get("q", "", type=str)[:100]
    return type_id, search


@bp.get("/")
@whole_page_cached
def home():
    """The alliance's Ally programme at a glance."""
    today = alliance_today()

    def make():
        grace = site_settings()["grace_days"]
        allies = current_allies(today, grace)
        return {
            "count": len(allies),
            "html": Markup(
                render_template("organizations/_cards.html", allies=allies[:6], heading="h3")
            ),
        }

    return render_template("organizations/home.html", featured=cached("home", today, make=make))


@bp.get("/become-an-ally")
@whole_page_cached
def become_an_ally():
    """What being an Ally means, the current texts, and the Apply button."""
    return render_template("organizations/become.html", texts=current_statements())


@bp.get("/allies")
@whole_page_cached(query={"type": whole_number(), "q": text(100), "page": whole_number(1)})
def allies():
    """Current Allies A–Z, filtered by type and searched by name, a page at a time."""
    today = alliance_today()
    type_id, search = _listing_args()
    page = int_arg("page", 1, minimum=1)

    def make():
        grace = site_settings()["grace_days"]
        allies = current_allies(today, grace, type_id=type_id, search=search)
        pages = max(1, -(-len(allies) // PAGE_SIZE))
        shown = allies[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
        return {
            "count": len(allies),
            "pages": pages,
            "first": (page - 1) * PAGE_SIZE + 1,
            "last": (page - 1) * PAGE_SIZE + len(shown),
            "types": [(t.id, t.name) for t in types_in_use(today, grace)],
            "html": Markup(
                render_template("organizations/_cards.html", allies=shown, heading="h2")
            ),
        }

    listing = cached("allies", today, type_id, search.strip().lower(), page, make=make)
    if page > listing["pages"]:
        abort(404)
    return render_template(
        "organizations/allies.html", listing=listing, type_id=type_id, search=search, page=page
    )


@bp.get("/allies.json")
def allies_json():
    """The same list as JSON, public profile fields only, for other sites."""
    today = alliance_today()
    type_id, search = _listing_args()
    body = cached(
        "allies.json",
        today,
        type_id,
        search.strip().lower(),
        make=lambda: _allies_json_body(today, type_id, search),
    )
    response = current_app.response_class(body, mimetype="application/json")
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


def _allies_json_body(today, type_id, search) -> str:
    rows = current_allies(today, site_settings()["grace_days"], type_id=type_id, search=search)
    return current_app.json.dumps({"count": len(rows), "allies": [_public_fields(a) for a in rows]})


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
        )

    page = cached("ally", today, slug, make=make)
    if page is None:
        abort(404)
    html, name, description = page
    return render_template("organizations/ally.html", html=html, name=name, description=description)


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
