"""The staff page of one Ally: its profile, contacts, terms, applications, reminders and history.

The organization is what this page serves, so it lives here; the agreement actions on it
(terminate, renew on paper) are routes of the agreements domain that re-render it on an error.
"""

import json

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from wtforms import BooleanField, TextAreaField
from wtforms.validators import InputRequired, Length

from allies.agreements.queries import agreements_of
from allies.agreements.standing import term_in_force, verdicts
from allies.applications.queries import applications_of
from allies.applications.statements import current_statements
from allies.errors import OperationError
from allies.extensions import db
from allies.forms import BaseForm
from allies.organizations.forms import ContactForm, ProfileForm
from allies.organizations.models import Contact, Organization
from allies.organizations.notes import NoteForm, add_note, notes_of
from allies.organizations.operations import add_contact, remove_contact, remove_logo, update_profile
from allies.organizations.personal_data import (
    erase_contact,
    erasure_warnings,
    personal_data,
    pseudonym_email,
    pseudonym_name,
    record_personal_data_download,
)
from allies.staff.access import admin_required, staff_required
from allies.staff.audit import history_of_all
from allies.timeutil import alliance_today

bp = Blueprint("ally_admin", __name__, url_prefix="/staff/allies")


def organization_or_404(organization_id: int) -> Organization:
    """The organization, or a 404."""
    return db.session.get(Organization, organization_id) or abort(404)


def render_ally_page(organization: Organization, status: int = 200, **forms):
    """The staff page of ``organization``; ``forms`` replace the blank forms (kept input)."""
    from allies.agreements.views import TerminateForm
    from allies.applications.forms import StaffRenewalForm
    from allies.reminders.operations import reminders_for_organization

    today = alliance_today()
    agreements = agreements_of(organization.id)
    applications = applications_of(organization.id)
    context = {
        "profile_form": ProfileForm(formdata=None, obj=organization),
        "contact_form": ContactForm(formdata=None),
        "terminate_form": TerminateForm(formdata=None, terminated_on=today),
        "renew_form": StaffRenewalForm(formdata=None, signed_on=today),
        "note_form": NoteForm(formdata=None, prefix="note"),
    }
    context.update(forms)
    context["renew_form"].show_versions(current_statements())
    reminders: dict[int, list] = {}
    for reminder in reminders_for_organization(organization.id):
        reminders.setdefault(reminder.agreement_id, []).append(reminder)
    return (
        render_template(
            "organizations/staff_ally.html",
            org=organization,
            terms=verdicts(agreements, today),
            in_force=term_in_force(agreements, today),
            applications=applications,
            reminders=reminders,
            history=history_of_all([organization, *agreements, *applications]),
            notes=notes_of(organization.id),
            texts=current_statements(),
            today=today,
            **context,
        ),
        status,
    )


@bp.get("/<int:organization_id>")
@staff_required
def detail(organization_id: int):
    """One Ally for staff: profile, contacts, every term, endorsement and reminder."""
    return render_ally_page(organization_or_404(organization_id))


@bp.post("/<int:organization_id>/profile")
@staff_required
def profile(organization_id: int):
    """Staff edit the public profile."""
    organization = organization_or_404(organization_id)
    form = ProfileForm()
    if form.validate_on_submit():
        update_profile(
            organization, form.profile_data(), actor=current_user.label, staff=current_user
        )
        flash("Profile saved.", "success")
        return redirect(url_for(".detail", organization_id=organization.id))
    form.keep_logo()
    return render_ally_page(organization, 400, profile_form=form)


@bp.post("/<int:organization_id>/notes")
@staff_required
def note_add(organization_id: int):
    """Add a staff note to the organization."""
    organization = organization_or_404(organization_id)
    form = NoteForm(prefix="note")
    if form.validate_on_submit():
        try:
            add_note(organization, form.body.data, staff=current_user)
        except OperationError as exc:
            form.body.errors.append(str(exc))
        else:
            flash("Note added.", "success")
            return redirect(url_for(".detail", organization_id=organization_id, _anchor="notes"))
    return render_ally_page(organization, 400, note_form=form)


@bp.post("/<int:organization_id>/logo/remove")
@staff_required
def logo_remove(organization_id: int):
    """Take the logo down."""
    remove_logo(organization_or_404(organization_id), staff=current_user)
    flash("Logo removed.", "success")
    return redirect(url_for(".detail", organization_id=organization_id))


@bp.post("/<int:organization_id>/contacts")
@staff_required
def contact_add(organization_id: int):
    """Add a contact."""
    organization = organization_or_404(organization_id)
    form = ContactForm()
    if form.validate_on_submit():
        add_contact(organization, form.data, actor=current_user.label, staff=current_user)
        flash("Contact added.", "success")
        return redirect(url_for(".detail", organization_id=organization.id))
    return render_ally_page(organization, 400, contact_form=form)


@bp.post("/<int:organization_id>/contacts/<int:contact_id>/remove")
@staff_required
def contact_remove(organization_id: int, contact_id: int):
    """Remove a contact."""
    contact = db.session.get(Contact, contact_id)
    if contact is None or contact.organization_id != organization_id:
        abort(404)
    try:
        remove_contact(contact, actor=current_user.label, staff=current_user)
    except OperationError as exc:
        flash(str(exc), "error")
    else:
        flash("Contact removed.", "success")
    return redirect(url_for(".detail", organization_id=organization_id))


# --- a contact's personal data (admins) -------------------------------------------------------


class EraseContactForm(BaseForm):
    reason = TextAreaField(
        "Reason",
        description="Why, for the audit log (their name and email are replaced in it too).",
        validators=[InputRequired("Give a reason for the audit log."), Length(max=2000)],
    )
    confirm = BooleanField(
        "I understand that this cannot be undone",
        validators=[InputRequired("Tick the box to confirm.")],
    )


def contact_or_404(organization_id: int, contact_id: int) -> Contact:
    """The organization's contact, or a 404."""
    contact = db.session.get(Contact, contact_id)
    if contact is None or contact.organization_id != organization_id:
        abort(404)
    return contact


@bp.get("/<int:organization_id>/contacts/<int:contact_id>/data.json")
@admin_required
def contact_data(organization_id: int, contact_id: int):
    """Everything Allies holds about one contact, as a JSON download (audited)."""
    contact = contact_or_404(organization_id, contact_id)
    data = personal_data(contact)
    record_personal_data_download(contact, staff=current_user, ip=request.remote_addr)
    filename = f"contact-{contact_id}-personal-data-{alliance_today().isoformat()}.json"
    return Response(
        json.dumps(data, ensure_ascii=False, indent=2, default=str),
        mimetype="application/json",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _render_erase(contact: Contact, form: EraseContactForm, status: int = 200):
    return (
        render_template(
            "organizations/erase_contact.html",
            org=contact.organization,
            contact=contact,
            form=form,
            warnings=erasure_warnings(contact, alliance_today()),
            new_name=pseudonym_name(contact),
            new_email=pseudonym_email(contact),
        ),
        status,
    )


@bp.route("/<int:organization_id>/contacts/<int:contact_id>/erase", methods=["GET", "POST"])
@admin_required
def contact_erase(organization_id: int, contact_id: int):
    """Erase a contact who asked: the consequences first, then (POST) the erasure."""
    contact = contact_or_404(organization_id, contact_id)
    if contact.erased_at is not None:
        flash("This contact was erased already.", "error")
        return redirect(url_for(".detail", organization_id=organization_id))
    form = EraseContactForm()
    if not form.validate_on_submit():
        return _render_erase(contact, form, 400 if form.is_submitted() else 200)
    try:
        erasure = erase_contact(
            contact, staff=current_user, reason=form.reason.data, ip=request.remote_addr
        )
    except OperationError as exc:
        flash(str(exc), "error")
        return _render_erase(contact, form, 409)
    flash(f"Contact erased: now \u201c{erasure.pseudonym}\u201d everywhere.", "success")
    if erasure.file_errors:
        flash(
            "Some delivered email files could not be rewritten: " + "; ".join(erasure.file_errors),
            "error",
        )
    return redirect(url_for(".detail", organization_id=organization_id))
