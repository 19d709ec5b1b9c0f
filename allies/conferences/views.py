"""The public conference archive."""

from flask import Blueprint, render_template

from allies.conferences.models import Conference
from allies.extensions import db

bp = Blueprint("conferences", __name__)


@bp.get("/conferences")
def archive():
    """Every conference, newest first."""
    conferences = db.session.scalars(db.select(Conference).order_by(Conference.year.desc()))
    return render_template("conferences/archive.html", conferences=list(conferences))
