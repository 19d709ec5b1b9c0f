"""Conference pages: the public programme, a conference, its recognition roll and the Allies'
answer page; for staff, the list, a conference's invitations and answers, and editing."""

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user

from allies.agreements.standing import grace_days_setting, long_date
from allies.cache import whole_number, whole_page_cached
from allies.conferences.cli import init_blueprint
from allies.conferences.forms import AnswerForm, ConferenceForm, ConfirmForm
from allies.conferences.links import InvalidAnswerLink, organization_of_token
from allies.conferences.models import Conference
from allies.conferences.operations import (
    answer_refusal,
    delete_conference,
    invitation_refusal,
    invite_current_allies,
    remind_unanswered,
    reminder_refusal,
    save_answer,
    save_conference,
)
from allies.conferences.queries import (
    all_conferences,
    answer_counts,
    invitation_for,
    invitations_of,
    past_conferences,
    roll_page,
    roll_rows,
    upcoming_conferences,
)
from allies.csv_export import csv_response
from allies.errors import OperationError
from allies.extensions import db
from allies.inputs import int_arg
from allies.staff.access import admin_required, staff_required
from allies.staff.exports import record_download
from allies.timeutil import alliance_today, to_local

bp = Blueprint("conferences", __name__)
init_blueprint(bp)  # flask --app wsgi conferences invite ID

ROLL_PAGE_SIZE = 240


def _conference_or_404(conference_id: int) -> Conference:
    return db.session.get(Conference, conference_id) or abort(404)


# --- public ------------------------------------------------------------------------------------


@bp.get("/conferences")
@whole_page_cached
def archive():
    """Upcoming conferences, soonest first, then the archive by year, newest first."""
    today = alliance_today()
    return render_template(
        "conferences/archive.html",
        upcoming=upcoming_conferences(today),
        past=past_conferences(today),
    )


@bp.get("/conferences/<int:conference_id>")
@whole_page_cached
def show(conference_id: int):
    """One conference."""
    conference = _conference_or_404(conference_id)
    today = alliance_today()
    return render_template(
        "conferences/show.html",
        conference=conference,
        has_ended=conference.has_ended(today),
        has_started=conference.has_started(today),
    )


@bp.get("/conferences/<int:conference_id>/allies")
@whole_page_cached(query={"page": whole_number(1)})
def roll(conference_id: int):
    """The recognition roll: the Allies whose agreement covered the first day, A–Z, printable."""
    conference = _conference_or_404(conference_id)
    page = int_arg("page", 1, minimum=1)
    shown = roll_page(conference, grace_days_setting(), page, ROLL_PAGE_SIZE)
    if page > shown.pages:
        abort(404)
    return render_template(
        "conferences/roll.html",
        conference=conference,
        roll=shown,
        has_started=conference.has_started(alliance_today()),
        first_day=long_date(conference.start_date),
    )


@bp.get("/conferences/roll.css")
def roll_css():
    """The roll's stylesheet, with its print rules (the site's CSP allows no inline styles)."""
    response = current_app.response_class(
        render_template("conferences/roll.css"), mimetype="text/css"
    )
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.get("/conferences/<int:conference_id>/allies.csv")
@whole_page_cached
def roll_csv(conference_id: int):
    """The recognition roll as CSV (formula-safe)."""
    conference = _conference_or_404(conference_id)
    grace_days = grace_days_setting()

    def rows():  # read while the response is sent, a batch at a time
        yield from db.session.execute(
            roll_rows(conference, grace_days).execution_options(yield_per=1000)
        ).tuples()

    return csv_response(
        ["name", "website", "city", "region", "country"],
        rows(),
        f"conference-{conference.id}-allies.csv",
    )


@bp.route("/conferences/<int:conference_id>/answer/<token>", methods=["GET", "POST"])
def answer(conference_id: int, token: str):
    """An invited Ally answers (or changes its answer) through the link in its invitation."""
    conference = _conference_or_404(conference_id)
    try:
        organization_id = organization_of_token(conference_id, token[:500])
    except InvalidAnswerLink:
        return _link_problem(404, _("This link is not valid"), conference)
    invitation = invitation_for(conference_id, organization_id)
    if invitation is None:
        return _link_problem(404, _("This link is not valid"), conference)
    today = alliance_today()
    if conference.has_ended(today):
        return _link_problem(410, _("This conference is over"), conference)
    refusal = answer_refusal(invitation, today)
    form = AnswerForm(
        data={
            "attending": None
            if invitation.answered_at is None
            else ("yes" if invitation.attending else "no"),
            "people": invitation.people or None,
            "names": invitation.names,
        }
        if request.method == "GET"
        else None
    )
    status = 200
    if refusal is None and form.validate_on_submit():
        try:
            save_answer(
                invitation,
                attending=form.attending.data == "yes",
                people=form.people.data,
                names=form.names.data or "",
                today=today,
                ip=request.remote_addr,
            )
        except OperationError as exc:
            flash(str(exc), "error")
            status = 400
        else:
            flash(_("Thank you: your answer is saved."), "success")
            return redirect(request.path)
    elif request.method == "POST":
        status = 409 if refusal is not None else 400
    return (
        render_template(
            "conferences/answer.html",
            conference=conference,
            invitation=invitation,
            form=form,
            refusal=refusal,
            answered_at=to_local(invitation.answered_at),
        ),
        status,
    )


def _link_problem(status: int, heading: str, conference: Conference):
    return (
        render_template(
            "conferences/link_problem.html", heading=heading, status=status, conference=conference
        ),
        status,
    )


# --- staff -------------------------------------------------------------------------------------


@bp.get("/staff/conferences")
@staff_required
def index():
    """Every conference, latest first, each with a link to its invitations and answers."""
    return render_template(
        "conferences/staff_index.html", conferences=all_conferences(), today=alliance_today()
    )


@bp.route("/staff/conferences/new", methods=["GET", "POST"])
@bp.route("/staff/conferences/<int:conference_id>/edit", methods=["GET", "POST"])
@admin_required
def change(conference_id: int | None = None):
    """Add a conference, or change the one chosen."""
    conference = _conference_or_404(conference_id) if conference_id is not None else None
    form = ConferenceForm(obj=conference)
    if form.validate_on_submit():
        saved = save_conference(conference, form.data, staff=current_user)
        flash("Conference saved.", "success")
        return redirect(url_for(".manage", conference_id=saved.id))
    status = 400 if request.method == "POST" else 200
    return render_template("conferences/edit.html", form=form, conference=conference), status


@bp.post("/staff/conferences/<int:conference_id>/delete")
@admin_required
def delete(conference_id: int):
    """Remove a conference nobody was invited to."""
    conference = _conference_or_404(conference_id)
    try:
        delete_conference(conference, staff=current_user)
    except OperationError as exc:
        flash(str(exc), "error")
        return redirect(url_for(".manage", conference_id=conference_id))
    flash("Conference removed.", "success")
    return redirect(url_for(".index"))


@bp.get("/staff/conferences/<int:conference_id>")
@staff_required
def manage(conference_id: int):
    """A conference's invitations and answers, with the invite and remind actions."""
    conference = _conference_or_404(conference_id)
    today = alliance_today()
    return render_template(
        "conferences/manage.html",
        conference=conference,
        counts=answer_counts(conference.id),
        invitations=invitations_of(conference.id),
        invite_refusal=invitation_refusal(conference, today),
        remind_refusal=reminder_refusal(conference, today),
        reminded_at=to_local(conference.answers_reminded_at),
        form=ConfirmForm(),
    )


@bp.route("/staff/conferences/<int:conference_id>/invite", methods=["GET", "POST"])
@staff_required
def invite(conference_id: int):
    """Confirm, then invite the Allies current today that are not invited yet."""
    conference = _conference_or_404(conference_id)
    today = alliance_today()
    form = ConfirmForm()
    if form.validate_on_submit():
        try:
            result = invite_current_allies(conference, staff=current_user, today=today)
        except OperationError as exc:
            flash(str(exc), "error")
        else:
            noun = "invitation" if result.count == 1 else "invitations"
            flash(f"{result.count} {noun} queued.", "success")
        return redirect(url_for(".manage", conference_id=conference_id))
    refusal = invitation_refusal(conference, today)
    preview = (
        None
        if refusal
        else invite_current_allies(conference, staff=None, today=today, dry_run=True)
    )
    return render_template(
        "conferences/invite.html",
        conference=conference,
        refusal=refusal,
        preview=preview,
        form=form,
        today=long_date(today),
    )


@bp.post("/staff/conferences/<int:conference_id>/remind")
@staff_required
def remind(conference_id: int):
    """Send the one reminder to invited Allies that have not answered."""
    conference = _conference_or_404(conference_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        try:
            sent = remind_unanswered(conference, staff=current_user, today=alliance_today())
        except OperationError as exc:
            flash(str(exc), "error")
        else:
            flash(f"Reminder queued to {sent} All{'y' if sent == 1 else 'ies'}.", "success")
    return redirect(url_for(".manage", conference_id=conference_id))


@bp.get("/staff/conferences/<int:conference_id>/answers.csv")
@staff_required
def answers_csv(conference_id: int):
    """The answers as CSV (formula-safe)."""
    conference = _conference_or_404(conference_id)
    filename = f"conference-{conference.id}-answers.csv"
    # Attendees' names leave the system: audited like every export, before the rows are read
    # (the audit commits, which would expire rows already loaded).
    record_download("conference answers", filename, staff=current_user, ip=request.remote_addr)
    header = [
        "organization",
        "invited_at",
        "answer",
        "attending",
        "people",
        "names",
        "answered_at",
        "changes",
        "reminded_at",
    ]
    invitations = invitations_of(conference.id)
    rows = (
        (
            invitation.organization.name,
            _moment(invitation.invited_at),
            invitation.answer_text,
            ("yes" if invitation.attending else "no") if invitation.answered_at else "",
            invitation.people if invitation.answered_at else "",
            " / ".join(line.strip() for line in invitation.names.splitlines() if line.strip()),
            _moment(invitation.answered_at),
            invitation.answer_changes,
            _moment(invitation.reminded_at),
        )
        for invitation in invitations
    )
    return csv_response(header, rows, filename)


def _moment(value) -> str:
    local = to_local(value)
    return local.strftime("%Y-%m-%d %H:%M") if local is not None else ""
