"""Applying (public) and reviewing applications and renewals (staff)."""

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user

from allies.agreements.queries import agreements_of
from allies.agreements.standing import long_date, verdicts
from allies.applications import queries
from allies.applications.forms import (
    ApplicationForm,
    ApproveForm,
    DeclineForm,
    QuestionForm,
)
from allies.applications.models import Application
from allies.applications.operations import (
    approve_application,
    ask_question,
    decline_application,
    submit_application,
)
from allies.applications.statements import changes_since, current_statements
from allies.errors import OperationError
from allies.extensions import db, limiter
from allies.i18n import current_language
from allies.organizations.notes import NoteForm, add_note, notes_of
from allies.staff.access import staff_required
from allies.staff.audit import history_of
from allies.timeutil import alliance_today

bp = Blueprint("applications", __name__)


def _apply_limit() -> str:
    return current_app.config["APPLY_RATE_LIMIT"]


@bp.route("/apply", methods=["GET", "POST"])
@limiter.limit(_apply_limit, methods=["POST"])
def apply():
    """The application form; on success a confirmation page and an emailed status link."""
    form = ApplicationForm()
    language = current_language()
    texts = current_statements(language)
    form.show_versions(texts)
    if form.validate_on_submit():
        try:
            application = submit_application(
                form.profile_data(),
                {**form.contact_data(), "language": language},
                form.support_statement.data,
                form.endorsement_input(form.contact_email.data, request.remote_addr),
            )
        except OperationError as exc:
            flash(str(exc), "error")
            for kind in texts:  # show the current versions for a fresh endorsement
                getattr(form, f"{kind}_version_id").data = str(texts[kind].id)
                endorse = getattr(form, f"endorse_{kind}")
                endorse.data = False
                endorse.errors = [
                    *endorse.errors,
                    _("Please read the current text and tick again."),
                ]
        else:
            session["applied_email"] = application.contact.email
            session["applied_name"] = application.organization.name
            return redirect(url_for(".thanks"))
    elif request.method == "POST":
        form.keep_logo()
        flash(_("Please correct the fields marked below; everything you typed is kept."), "error")
    return render_template("applications/apply.html", form=form, texts=texts)


@bp.get("/apply/thanks")
def thanks():
    """Confirmation after applying."""
    if "applied_email" not in session:
        return redirect(url_for(".apply"))
    return render_template(
        "applications/thanks.html",
        email=session["applied_email"],
        name=session.get("applied_name", ""),
    )


def _application_or_404(application_id: int) -> Application:
    application = db.session.get(Application, application_id)
    if application is None:
        abort(404)
    return application


@bp.get("/staff/applications")
@staff_required
def queue():
    """Applications and renewals by state; waiting ones oldest first."""
    state = request.args.get("state", "open")
    return render_template(
        "applications/queue.html",
        applications=queries.applications_in(state),
        state=state,
        today=alliance_today(),
    )


@bp.get("/staff/applications/<int:application_id>")
@staff_required
def review(application_id: int):
    """Everything submitted, the endorsement record, duplicates, history, and the actions."""
    return _render_review(_application_or_404(application_id))


def _decided(application: Application, action, form, message: str):
    application_id = application.id  # read before the commit expires it
    if form.validate_on_submit():
        try:
            action()
        except OperationError as exc:
            flash(str(exc), "error")
        else:
            flash(message, "success")
            return redirect(url_for(".review", application_id=application_id))
    return None


@bp.post("/staff/applications/<int:application_id>/approve")
@staff_required
def approve(application_id: int):
    """Approve: the organization becomes an Ally with a two-year agreement."""
    application = _application_or_404(application_id)
    name = application.organization.name
    form = ApproveForm()
    if form.validate_on_submit():
        try:
            approval = approve_application(
                application, staff=current_user, start=form.start_date.data, today=alliance_today()
            )
        except OperationError as exc:
            flash(str(exc), "error")
        else:
            if approval.renewed:
                flash(
                    f"Approved: {name} is renewed until {long_date(approval.end_date)}.", "success"
                )
            else:
                flash(f"Approved: {name} is an Ally.", "success")
            return redirect(url_for(".review", application_id=application_id))
    return _review_with_errors(application, approve_form=form)


@bp.post("/staff/applications/<int:application_id>/decline")
@staff_required
def decline(application_id: int):
    """Decline with a reason, emailed to the applicant."""
    application = _application_or_404(application_id)
    form = DeclineForm()
    done = _decided(
        application,
        lambda: decline_application(application, form.reason.data, staff=current_user),
        form,
        "Declined; the applicant has been emailed the reason.",
    )
    return done or _review_with_errors(application, decline_form=form)


@bp.post("/staff/applications/<int:application_id>/question")
@staff_required
def question(application_id: int):
    """Ask the applicant a question; the application waits for the answer."""
    application = _application_or_404(application_id)
    form = QuestionForm()
    done = _decided(
        application,
        lambda: ask_question(application, form.body.data, staff=current_user),
        form,
        "Question sent; the application waits for the answer.",
    )
    return done or _review_with_errors(application, question_form=form)


@bp.post("/staff/applications/<int:application_id>/notes")
@staff_required
def note_add(application_id: int):
    """Add a staff note to the applicant organization, from its application."""
    application = _application_or_404(application_id)
    form = NoteForm(prefix="note")
    if form.validate_on_submit():
        try:
            add_note(application.organization, form.body.data, staff=current_user)
        except OperationError as exc:
            form.body.errors.append(str(exc))
        else:
            flash("Note added.", "success")
            return redirect(url_for(".review", application_id=application_id, _anchor="notes"))
    return _review_with_errors(application, note_form=form)


def _review_with_errors(application: Application, **forms):
    """Re-render the review page keeping what staff typed in the failed form."""
    return _render_review(application, status=400, **forms)


def _render_review(application: Application, status: int = 200, **forms):
    today = alliance_today()
    context = {
        "approve_form": ApproveForm(formdata=None, start_date=today),
        "decline_form": DeclineForm(formdata=None),
        "question_form": QuestionForm(formdata=None),
        "note_form": NoteForm(formdata=None, prefix="note"),
        **forms,
    }
    return (
        render_template(
            "applications/review.html",
            application=application,
            history=history_of(application),
            notes=notes_of(application.organization_id),
            changes=changes_since(application.endorsement) if application.is_open else {},
            terms=verdicts(agreements_of(application.organization_id), today),
            proposed=queries.proposed_changes(application),
            today=today,
            **context,
        ),
        status,
    )
