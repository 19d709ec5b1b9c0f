"""Public pages: home, Become an Ally, the recognition page, one Ally, the JSON feed, logos."""

from flask import (
    Blueprint,
    abort,
    current_app,
    jsonify,
    render_template,
    request,
    send_file,
    url_for,
)

from allies.applications.statements import current_statements
from allies.organizations.profile import logo_path
from allies.organizations.queries import (
    count_current_allies,
    current_allies,
    current_ally,
    types_in_use,
)
from allies.timeutil import alliance_today
from allies.web import site_settings

bp = Blueprint("organizations", __name__)

LOGO_TYPES = {"png": "image/png", "jpg": "image/jpeg", "webp": "image/webp"}


def _listing_args():
    type_id = request.args.get("type", type=int)
    search = request.args.get("q", "", type=str)[:100]
    return type_id, search


@bp.get("/")
def home():
    """The alliance's Ally programme at a glance."""
    today = alliance_today()
    grace = site_settings()["grace_days"]
    return render_template(
        "organizations/home.html",
        ally_count=count_current_allies(today, grace),
        featured=current_allies(today, grace)[:6],
    )


@bp.get("/become-an-ally")
def become_an_ally():
    """What being an Ally means, the current texts, and the Apply button."""
    return render_template("organizations/become.html", texts=current_statements())


@bp.get("/allies")
def allies():
    """Current Allies A–Z, filtered by type and searched by name."""
    today = alliance_today()
    grace = site_settings()["grace_days"]
    type_id, search = _listing_args()
    return render_template(
        "organizations/allies.html",
        allies=current_allies(today, grace, type_id=type_id, search=search),
        types=types_in_use(today, grace),
        type_id=type_id,
        search=search,
    )


@bp.get("/allies.json")
def allies_json():
    """The same list as JSON, public profile fields only, for other sites."""
    today = alliance_today()
    grace = site_settings()["grace_days"]
    type_id, search = _listing_args()
    rows = current_allies(today, grace, type_id=type_id, search=search)
    response = jsonify(
        {
            "count": len(rows),
            "allies": [
                {
                    "name": org.name,
                    "slug": org.slug,
                    "url": url_for(".ally", slug=org.slug, _external=True),
                    "website": org.website,
                    "type": org.type.name if org.type else None,
                    "city": org.city,
                    "region": org.region,
                    "country": org.country,
                    "description": org.description,
                    "logo_url": url_for(".logo", name=org.logo_filename, _external=True)
                    if org.logo_filename
                    else None,
                    "ally_since": since,
                }
                for org, since in rows
            ],
        }
    )
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.get("/allies/<slug>")
def ally(slug: str):
    """One current Ally's public page."""
    organization, since = current_ally(slug, alliance_today(), site_settings()["grace_days"])
    if organization is None:
        abort(404)
    return render_template("organizations/ally.html", org=organization, since=since)


@bp.get("/logos/<name>")
def logo(name: str):
    """A stored logo, with an explicit type so browsers never guess."""
    path = logo_path(name)
    if path is None:
        abort(404)
    response = send_file(path, mimetype=LOGO_TYPES[path.suffix[1:]], max_age=86400)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
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
