"""The applicant's and Ally contact's own pages, reached by emailed single-use links."""

from functools import wraps
from types import SimpleNamespace

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from allies.agreements.models import Agreement
from allies.agreements.queries import agreements_of
from allies.agreements.standing import verdict, verdicts
from allies.applications.forms import (
    AnswerForm,
    RenewalForm,
    RequestLinkForm,
    UpdateApplicationForm,
    WithdrawForm,
)
from allies.applications.models import Application
from allies.applications.operations import (
    answer_question,
    submit_renewal,
    update_application,
    withdraw_application,
)
from allies.applications.queries import (
    applications_of,
    last_endorsement,
    open_renewal,
    profile_as_proposed,
)
from allies.applications.statements import changes_since, current_statements
from allies.errors import OperationError
from allies.extensions import db, limiter
from allies.i18n import current_language
from allies.organizations.access import InvalidLink, consume_link_token
from allies.organizations.contact_sessions import end_contact_sessions
from allies.organizations.forms import ContactForm
from allies.organizations.models import Contact
from allies.organizations.operations import add_contact, remove_contact, send_sign_in_link
from allies.sessions import start_contact_session
from allies.timeutil import alliance_today
from allies.web import current_contact, safe_next

bp = Blueprint("portal", __name__)


def contact_required(view):
    """A contact signed in with a sign-in link (a renewal link only opens its renewal page)."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        if current_contact() is None or session.get("contact_scope") != "full":
            flash(_("Please sign in with the link we email you."), "info")
            return redirect(url_for("portal.request_link", next=request.full_path))
        return view(*args, **kwargs)

    return wrapped


def _own_application(application_id: int) -> Application:
    application = db.session.get(Application, application_id)
    if application is None or application.organization_id != current_contact().organization_id:
        abort(404)
    return application


@bp.route("/sign-in", methods=["GET", "POST"])
@limiter.limit("5 per minute", methods=["POST"])
def request_link():
    """Ask for a sign-in link by email; the answer is the same whether the address is known."""
    form = RequestLinkForm()
    if form.validate_on_submit():
        send_sign_in_link(
            form.email.data, next_path=safe_next(request.args.get("next"), None) or None
        )
        return render_template("portal/link_sent.html", email=form.email.data)
    return render_template("portal/request_link.html", form=form)


@bp.get("/my/link/<token>")
def follow_link(token: str):
    """Show a button that uses the link (mail scanners prefetch GETs; only a POST signs in)."""
    return render_template(
        "portal/follow_link.html", token=token, next=request.args.get("next", "")
    )


@bp.post("/my/link/<token>")
def use_link(token: str):
    """Use up an emailed link and sign its contact in."""
    next_path = request.form.get("next") or request.args.get("next")
    for purpose in ("sign-in", "renewal"):
        try:
            link = consume_link_token(token, purpose)
        except InvalidLink:
            continue
        start_contact_session(
            link.contact,
            scope="full" if purpose == "sign-in" else "renewal",
            renewal_agreement_id=link.agreement_id,
        )
        if purpose == "renewal":
            return redirect(url_for(".renew", agreement_id=link.agreement_id))
        return redirect(safe_next(next_path, url_for(".home")))
    return render_template("portal/link_invalid.html"), 400


@bp.post("/my/sign-out")
def sign_out():
    """Sign the contact out everywhere: every session of theirs ends, this one is emptied."""
    contact = current_contact()
    if contact is not None:
        end_contact_sessions(contact)
    session.clear()  # its CSRF token goes with it
    flash(_("You are signed out."), "success")
    return redirect(url_for("organizations.home"))


@bp.get("/my")
@contact_required
def home():
    """The contact's organization: applications, agreements, renewal if open, contacts."""
    return _render_home(ContactForm(formdata=None))


def _render_home(contact_form, status: int = 200):
    organization = current_contact().organization
    applications = applications_of(organization.id)
    return (
        render_template(
            "portal/home.html",
            organization=organization,
            applications=applications,
            terms=verdicts(agreements_of(organization.id), alliance_today()),
            contact_form=contact_form,
        ),
        status,
    )


@bp.route("/my/applications/<int:application_id>", methods=["GET", "POST"])
@contact_required
def application(application_id: int):
    """Where the application stands; answer a question, update details, or withdraw."""
    application = _own_application(application_id)
    contact = current_contact()
    answer_form = AnswerForm(prefix="answer")
    withdraw_form = WithdrawForm(prefix="withdraw")
    update_form = UpdateApplicationForm(
        prefix="update",
        obj=SimpleNamespace(**profile_as_proposed(application)),
        support_statement=application.support_statement,
    )
    status = 200
    action = request.form.get("action")
    if request.method == "POST":
        form = {"answer": answer_form, "withdraw": withdraw_form, "update": update_form}.get(action)
        if form is None:
            abort(400)
        if form.validate_on_submit():
            try:
                if action == "answer":
                    answer_question(
                        application,
                        answer_form.body.data,
                        contact=contact,
                        language=current_language(),
                    )
                    message = _("Thank you: your answer is with the staff.")
                elif action == "withdraw":
                    withdraw_application(
                        application, contact=contact, reason=withdraw_form.reason.data
                    )
                    message = _("Your application is withdrawn.")
                else:
                    update_application(
                        application,
                        update_form.profile_data(),
                        update_form.support_statement.data,
                        contact=contact,
                    )
                    message = _("Your changes are saved.")
            except OperationError as exc:
                flash(str(exc), "error")
            else:
                flash(message, "success")
                return redirect(url_for(".application", application_id=application.id))
        status = 400
        if form is update_form:
            update_form.keep_logo()
        flash(_("Please correct the fields marked below; everything you typed is kept."), "error")
    return (
        render_template(
            "portal/application.html",
            application=application,
            answer_form=answer_form,
            withdraw_form=withdraw_form,
            update_form=update_form,
            open_panel=action,
        ),
        status,
    )


def _renewal_agreement(agreement_id: int) -> Agreement:
    """The agreement this session may renew: its own contact's, or the one the link was for."""
    contact = current_contact()
    agreement = db.session.get(Agreement, agreement_id)
    if contact is None:
        abort(404)
    scope = session.get("contact_scope")
    allowed = (
        agreement is not None
        and agreement.organization_id == contact.organization_id
        and (
            scope == "full"
            or (scope == "renewal" and session.get("renewal_agreement_id") == agreement_id)
        )
    )
    if not allowed:
        abort(404)
    return agreement


@bp.route("/my/renew/<int:agreement_id>", methods=["GET", "POST"])
def renew(agreement_id: int):
    """Check the public profile, re-endorse the current texts (changes shown), and submit."""
    if current_contact() is None:
        return redirect(url_for(".request_link", next=request.full_path))
    agreement = _renewal_agreement(agreement_id)
    contact = current_contact()
    organization = agreement.organization
    today = alliance_today()
    language = current_language()
    texts = current_statements(language)
    last = last_endorsement(organization.id)
    form = RenewalForm(obj=organization if request.method == "GET" else None)
    form.show_versions(texts)
    if form.validate_on_submit():
        try:
            application = submit_renewal(
                agreement,
                form.profile_data(),
                form.support_statement.data,
                form.endorsement_input(contact.email, request.remote_addr),
                contact=contact,
                today=today,
                language=language,
            )
        except OperationError as exc:
            flash(str(exc), "error")
        else:
            flash(_("Thank you: your renewal is with the staff for review."), "success")
            if session.get("contact_scope") == "full":
                return redirect(url_for(".application", application_id=application.id))
            return render_template("portal/renewal_sent.html", organization=organization)
    elif request.method == "POST":
        form.keep_logo()
        flash(_("Please correct the fields marked below; everything you typed is kept."), "error")
    return render_template(
        "portal/renew.html",
        form=form,
        agreement=agreement,
        organization=organization,
        texts=texts,
        changes=changes_since(last, language),
        term=verdict(agreement, today),
        open_renewal=open_renewal(agreement.id),
    ), (400 if request.method == "POST" else 200)


@bp.post("/my/contacts")
@contact_required
def contacts_add():
    """Add a contact to the organization."""
    contact = current_contact()
    form = ContactForm()
    if form.validate_on_submit():
        add_contact(contact.organization, form.data, actor=f"ally contact {contact.email}")
        flash(_("Contact added."), "success")
        return redirect(url_for(".home"))
    flash(_("The contact was not added: please correct the fields marked below."), "error")
    return _render_home(form, 400)


@bp.post("/my/contacts/<int:contact_id>/remove")
@contact_required
def contacts_remove(contact_id: int):
    """Remove a contact from the organization."""
    contact = current_contact()
    target = db.session.get(Contact, contact_id)
    if target is None or target.organization_id != contact.organization_id:
        abort(404)
    try:
        remove_contact(target, actor=f"ally contact {contact.email}")
    except OperationError as exc:
        flash(str(exc), "error")
    else:
        flash(_("Contact removed."), "success")
    return redirect(url_for(".home"))
