"""The public conference archive, and its editing by admins."""

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from allies.conferences.forms import ConferenceForm
from allies.conferences.models import Conference
from allies.conferences.operations import delete_conference, save_conference
from allies.extensions import db
from allies.staff.access import admin_required

bp = Blueprint("conferences", __name__)


def _all_conferences() -> list[Conference]:
    return list(db.session.scalars(db.select(Conference).order_by(Conference.year.desc())))


@bp.get("/conferences")
def archive():
    """Every conference, newest first."""
    return render_template("conferences/archive.html", conferences=_all_conferences())


@bp.route("/staff/conferences", methods=["GET", "POST"])
@bp.route("/staff/conferences/<int:conference_id>", methods=["GET", "POST"])
@admin_required
def edit(conference_id: int | None = None):
    """Add a conference, or change the one chosen."""
    conference = db.session.get(Conference, conference_id) if conference_id else None
    if conference_id and conference is None:
        abort(404)
    form = ConferenceForm(obj=conference)
    if form.validate_on_submit():
        save_conference(conference, form.data, staff=current_user)
        flash("Conference saved.", "success")
        return redirect(url_for(".edit"))
    status = 400 if request.method == "POST" else 200
    return (
        render_template(
            "conferences/edit.html",
            form=form,
            conference=conference,
            conferences=_all_conferences(),
        ),
        status,
    )


@bp.post("/staff/conferences/<int:conference_id>/delete")
@admin_required
def delete(conference_id: int):
    """Remove a conference from the archive."""
    conference = db.session.get(Conference, conference_id) or abort(404)
    delete_conference(conference, staff=current_user)
    flash("Conference removed.", "success")
    return redirect(url_for(".edit"))
