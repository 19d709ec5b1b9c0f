"""Staff sign-in, the dashboard, and the admin pages (accounts, texts, settings, types)."""

from flask import (
    Blueprint,
    abort,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_user, logout_user

from allies.applications import queries as application_queries
from allies.applications.models import STATEMENT_KINDS
from allies.applications.statements import (
    BASE_LANGUAGE,
    STATEMENT_LANGUAGES,
    latest_in,
    save_statement,
    statement_history,
)
from allies.errors import OperationError
from allies.extensions import db
from allies.i18n import LANGUAGES
from allies.organizations.models import OrganizationType
from allies.organizations.queries import count_current_allies
from allies.sessions import start_staff_session
from allies.staff import operations, sign_in_limits
from allies.staff.access import admin_required, staff_required
from allies.staff.charts import dashboard_charts
from allies.staff.forms import (
    AllianceLogoForm,
    EditStaffUserForm,
    OrganizationTypeForm,
    SettingsForm,
    SignInForm,
    StaffUserForm,
    StatementForm,
)
from allies.staff.models import StaffUser
from allies.staff.settings import all_settings
from allies.timeutil import alliance_today, utcnow
from allies.web import safe_next

bp = Blueprint("staff", __name__, url_prefix="/staff")
bp.after_request(sign_in_limits.settle)


@bp.route("/sign-in", methods=["GET", "POST"])
@sign_in_limits.limited
def sign_in():
    """Email and password; one message for any failure; ``next`` only to local paths."""
    if current_user.is_authenticated:
        return redirect(url_for(".dashboard"))
    form = SignInForm()
    if form.validate_on_submit():
        user = operations.authenticate(form.email.data, form.password.data)
        if user is not None:
            next_path = safe_next(request.args.get("next"), url_for(".dashboard"))
            session.clear()  # a fresh session at sign-in
            login_user(user)  # no remember cookie: a session ends idle or after its lifetime
            start_staff_session()
            return redirect(next_path)
        form.password.errors.append("The email or password is not right.")
        return render_template("staff/sign_in.html", form=form), 401
    return render_template("staff/sign_in.html", form=form)


@bp.post("/sign-out")
@staff_required
def sign_out():
    """Sign out everywhere: every session and remember cookie of this account ends."""
    operations.end_sessions(current_user)
    logout_user()
    session.clear()
    flash("You are signed out.", "success")
    return redirect(url_for(".sign_in"))


@bp.get("")
@staff_required
def dashboard():
    """Waiting applications (oldest first, with age), recent decisions, counts, sweep health."""
    from allies.reminders.operations import (
        DIGEST_ENDING_DAYS,
        staff_digest_contents,
        sweep_health,
    )

    today = alliance_today()
    settings = all_settings()
    return render_template(
        "staff/dashboard.html",
        waiting=application_queries.applications_in("open"),
        counts=application_queries.waiting_counts(),
        decisions=application_queries.recent_decisions(),
        ally_count=count_current_allies(today, settings["grace_days"]),
        health=sweep_health(utcnow(), today),
        ending_days=DIGEST_ENDING_DAYS,
        digest=staff_digest_contents(today),
        charts=dashboard_charts(today, settings["grace_days"]),
        today=today,
    )


@bp.route("/texts", methods=["GET", "POST"])
@admin_required
def texts():
    """Edit the mission, vision and values in each language; each save is a new version."""
    current = {language: latest_in(language) for language in STATEMENT_LANGUAGES}
    forms = {
        (kind, language): StatementForm(
            # English keeps the field names it always had ("mission-text")
            prefix=kind if language == BASE_LANGUAGE else f"{kind}-{language}",
            text=current[language][kind].text if kind in current[language] else "",
        )
        for kind in STATEMENT_KINDS
        for language in STATEMENT_LANGUAGES
    }
    status = 200
    if request.method == "POST":
        key = (request.form.get("kind"), request.form.get("language", BASE_LANGUAGE))
        if key not in forms:
            abort(400)
        kind, language = key
        if forms[key].validate_on_submit():
            version = save_statement(
                kind, forms[key].text.data, staff=current_user, language=language
            )
            name = LANGUAGES[language]
            flash(
                f"Saved the {kind} ({name}) as version {version.version}."
                if version
                else "No change to save.",
                "success",
            )
            return redirect(url_for(".texts"))
        status = 400
    return (
        render_template(
            "staff/texts.html",
            forms=forms,
            current=current,
            statement_languages=STATEMENT_LANGUAGES,
            kinds=STATEMENT_KINDS,
            history={
                (kind, language): statement_history(kind, language)
                for kind in STATEMENT_KINDS
                for language in STATEMENT_LANGUAGES
            },
        ),
        status,
    )


@bp.route("/users", methods=["GET", "POST"])
@admin_required
def users():
    """Staff accounts: list and create."""
    form = StaffUserForm()
    status = 200
    if form.validate_on_submit():
        try:
            user = operations.create_staff_user(
                email=form.email.data,
                name=form.name.data or "",
                role=form.role.data,
                password=form.password.data,
                staff=current_user,
            )
        except OperationError as exc:
            form.email.errors.append(str(exc))
            status = 400
        else:
            flash(f"Created {user.role} account for {user.email}.", "success")
            return redirect(url_for(".users"))
    elif request.method == "POST":
        status = 400
    accounts = db.session.scalars(db.select(StaffUser).order_by(StaffUser.email))
    return render_template("staff/users.html", form=form, accounts=list(accounts)), status


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@admin_required
def user_edit(user_id: int):
    """Change a staff account's name, role, access or password."""
    user = db.session.get(StaffUser, user_id) or abort(404)
    form = EditStaffUserForm(obj=user, enabled=user.is_enabled)
    if form.validate_on_submit():
        try:
            operations.update_staff_user(
                user,
                name=form.name.data or "",
                role=form.role.data,
                enabled=form.enabled.data,
                staff=current_user,
            )
            if form.new_password.data:
                operations.set_staff_password(user, form.new_password.data, staff=current_user)
        except OperationError as exc:
            flash(str(exc), "error")
        else:
            flash("Saved.", "success")
            return redirect(url_for(".users"))
    status = 400 if request.method == "POST" else 200
    return render_template("staff/user_edit.html", form=form, user=user), status


@bp.route("/settings", methods=["GET", "POST"])
@admin_required
def settings():
    """The alliance's name, colours and reminder schedule."""
    values = all_settings()
    form = SettingsForm(
        data={**values, "reminder_offsets": ", ".join(str(v) for v in values["reminder_offsets"])}
        if request.method == "GET"
        else None
    )
    if form.validate_on_submit():
        data = {name: field.data for name, field in form._fields.items() if name in values}
        data["reminder_offsets"] = form.reminder_offsets.parsed
        data["staff_digest_email"] = data["staff_digest_email"] or ""
        operations.save_settings(data, staff=current_user)
        flash("Settings saved.", "success")
        return redirect(url_for(".settings"))
    status = 400 if request.method == "POST" else 200
    return _settings_page(form, AllianceLogoForm(formdata=None), values, status)


def _settings_page(form, logo_form, values: dict, status: int):
    """The settings page: the settings form, the alliance's logo, the snippet partners embed."""
    return (
        render_template(
            "staff/settings.html",
            form=form,
            logo_form=logo_form,
            alliance_logo=values["alliance_logo"],
        ),
        status,
    )


@bp.post("/settings/logo")
@admin_required
def alliance_logo():
    """Upload the alliance's own logo (checked like an Ally's); the message next to the field."""
    logo_form = AllianceLogoForm()
    if logo_form.validate_on_submit():
        operations.set_alliance_logo(logo_form.prepared_logo, staff=current_user)
        flash("The alliance's logo is saved.", "success")
        return redirect(url_for(".settings"))
    values = all_settings()
    form = SettingsForm(
        formdata=None,
        data={**values, "reminder_offsets": ", ".join(str(v) for v in values["reminder_offsets"])},
    )
    return _settings_page(form, logo_form, values, 400)


@bp.post("/settings/logo/remove")
@admin_required
def remove_alliance_logo():
    """Take the alliance's logo down: the initials and the default icon return."""
    if operations.remove_alliance_logo(staff=current_user):
        flash("The alliance's logo is removed.", "success")
    else:
        flash("There is no logo to remove.", "info")
    return redirect(url_for(".settings"))


@bp.route("/types", methods=["GET", "POST"])
@admin_required
def types():
    """The organization types offered on the application form."""
    form = OrganizationTypeForm()
    status = 200
    if form.validate_on_submit():
        try:
            operations.add_organization_type(form.name.data, staff=current_user)
        except OperationError as exc:
            form.name.errors.append(str(exc))
            status = 400
        else:
            flash("Type added.", "success")
            return redirect(url_for(".types"))
    elif request.method == "POST":
        status = 400
    rows = db.session.scalars(db.select(OrganizationType).order_by(OrganizationType.position))
    return render_template("staff/types.html", form=form, types=list(rows)), status


@bp.post("/types/<int:type_id>/toggle")
@admin_required
def type_toggle(type_id: int):
    """Hide or show a type on the application form."""
    org_type = db.session.get(OrganizationType, type_id) or abort(404)
    operations.set_organization_type_enabled(org_type, not org_type.is_enabled, staff=current_user)
    flash(
        f"{org_type.name}: {'shown' if org_type.is_enabled else 'hidden'} on the form.", "success"
    )
    return redirect(url_for(".types"))
