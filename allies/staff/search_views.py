"""The staff search page: one query string in, ranked hits out (allies/staff/search.py)."""

from flask import Blueprint, render_template, request

from allies.staff.access import staff_required
from allies.staff.search import search

bp = Blueprint("search", __name__, url_prefix="/staff")


@bp.get("/search")
@staff_required
def index():
    """Organizations, applications and contacts matching ``q``, with the matching field."""
    results = search(request.args.get("q", type=str) or "")
    return render_template("staff/search.html", results=results)
