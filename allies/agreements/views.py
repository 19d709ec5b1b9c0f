"""Staff pages for Allies: every organization with its terms, endorsements, reminders and actions."""

import csv
import io

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy.orm import joinedload, selectinload
from wtforms import DateField, TextAreaField
from wtforms.validators import InputRequired, Length

from allies.agreements.models import Agreement
from allies.agreements.operations import terminate_agreement
from allies.agreements.queries import agreements_of, may_renew, status_of, term_in_force
from allies.agreements.terms import STATUSES
from allies.applications.forms import StaffRenewalForm
from allies.applications.operations import submit_renewal
from allies.applications.queries import applications_of
from allies.applications.statements import current_statements
from allies.errors import OperationError
from allies.extensions import db
from allies.forms import BaseForm
from allies.organizations.forms import ContactForm, ProfileForm
from allies.organizations.models import Contact, Organization
from allies.organizations.operations import add_contact, remove_contact, remove_logo, update_profile
from allies.staff.access import staff_required
from allies.staff.audit import history_of_all
from allies.staff.settings import get_setting
from allies.timeutil import alliance_today, local_date_to_utc

bp = Blueprint("agreements", __name__, url_prefix="/staff/allies")


class TerminateForm(BaseForm):
    terminated_on = DateField("Ends on", validators=[InputRequired()])
    reason = TextAreaField(
        "Reason", validators=[InputRequired("A reason is required."), Length(max=2000)]
    )


def _organization_or_404(organization_id: int) -> Organization:
    return db.session.get(Organization, organization_id) or abort(404)


def _rows(today):
    """Every organization that has held an agreement, with its term in force and status."""
    grace = get_setting("grace_days")
    agreements = db.session.scalars(
        db.select(Agreement)
        .options(
            joinedload(Agreement.organization).joinedload(Organization.type),
            joinedload(Agreement.organization).selectinload(Organization.contacts),
            selectinload(Agreement.successor),
        )
        .order_by(Agreement.organization_id, Agreement.start_date.desc(), Agreement.id.desc())
    ).unique()
    by_organization: dict[int, list[Agreement]] = {}
    for agreement in agreements:
        by_organization.setdefault(agreement.organization_id, []).append(agreement)
    rows = []
    for terms in by_organization.values():
        term = term_in_force(terms, today)
        rows.append((term.organization, term, status_of(term, today, grace)))
    return sorted(rows, key=lambda row: row[0].normalized_name)


@bp.get("")
@staff_required
def index():
    """All Allies, past and present, with status; filter by status."""
    today = alliance_today()
    wanted = request.args.get("status", "")
    rows = [row for row in _rows(today) if not wanted or row[2] == wanted]
    return render_template(
        "agreements/index.html", rows=rows, wanted=wanted, today=today, statuses=STATUSES
    )


def _csv_cell(value) -> str:
    """Neutralise spreadsheet formulas: a cell starting with = + - @ (or tab/CR) gets a quote."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@bp.get("/export.csv")
@staff_required
def export_csv():
    """All Allies as CSV, formula-safe."""
    today = alliance_today()
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "name",
            "website",
            "type",
            "city",
            "region",
            "country",
            "status",
            "term_start",
            "term_end",
            "primary_contact",
            "primary_email",
        ]
    )
    for org, agreement, status in _rows(today):
        contact = org.contact_for("primary")
        writer.writerow(
            [
                _csv_cell(v)
                for v in (
                    org.name,
                    org.website,
                    org.type.name if org.type else "",
                    org.city,
                    org.region,
                    org.country,
                    status,
                    agreement.start_date,
                    agreement.end_date,
                    contact.name if contact else "",
                    contact.email if contact else "",
                )
            ]
        )
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f"attachment; filename=allies-{today}.csv"},
    )


def _detail(organization: Organization, status: int = 200, **forms):
    from allies.reminders.operations import reminders_for_organization

    today = alliance_today()
    agreements = agreements_of(organization.id)
    applications = applications_of(organization.id)
    context = {
        "profile_form": ProfileForm(formdata=None, obj=organization),
        "contact_form": ContactForm(formdata=None),
        "terminate_form": TerminateForm(formdata=None, terminated_on=today),
        "renew_form": StaffRenewalForm(formdata=None, signed_on=today),
    }
    context.update(forms)
    context["renew_form"].show_versions(current_statements())
    return (
        render_template(
            "agreements/detail.html",
            org=organization,
            agreements=agreements,
            in_force=term_in_force(agreements, today),
            may_renew=may_renew,
            applications=applications,
            status_of=status_of,
            reminders=_by_agreement(reminders_for_organization(organization.id)),
            history=history_of_all([organization, *agreements, *applications]),
            texts=current_statements(),
            today=today,
            **context,
        ),
        status,
    )


def _by_agreement(reminders) -> dict:
    grouped: dict[int, list] = {}
    for reminder in reminders:
        grouped.setdefault(reminder.agreement_id, []).append(reminder)
    return grouped


@bp.get("/<int:organization_id>")
@staff_required
def detail(organization_id: int):
    """One Ally for staff: profile, contacts, every term, endorsement and reminder."""
    return _detail(_organization_or_404(organization_id))


@bp.post("/<int:organization_id>/profile")
@staff_required
def profile(organization_id: int):
    """Staff edit the public profile."""
    organization = _organization_or_404(organization_id)
    form = ProfileForm()
    if form.validate_on_submit():
        update_profile(
            organization, form.profile_data(), actor=current_user.label, staff=current_user
        )
        flash("Profile saved.", "success")
        return redirect(url_for(".detail", organization_id=organization.id))
    return _detail(organization, 400, profile_form=form)


@bp.post("/<int:organization_id>/logo/remove")
@staff_required
def logo_remove(organization_id: int):
    """Take the logo down."""
    remove_logo(_organization_or_404(organization_id), staff=current_user)
    flash("Logo removed.", "success")
    return redirect(url_for(".detail", organization_id=organization_id))


@bp.post("/<int:organization_id>/contacts")
@staff_required
def contact_add(organization_id: int):
    """Add a contact."""
    organization = _organization_or_404(organization_id)
    form = ContactForm()
    if form.validate_on_submit():
        add_contact(organization, form.data, actor=current_user.label, staff=current_user)
        flash("Contact added.", "success")
        return redirect(url_for(".detail", organization_id=organization.id))
    return _detail(organization, 400, contact_form=form)


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


def _agreement_or_404(organization_id: int, agreement_id: int) -> Agreement:
    agreement = db.session.get(Agreement, agreement_id)
    if agreement is None or agreement.organization_id != organization_id:
        abort(404)
    return agreement


@bp.post("/<int:organization_id>/agreements/<int:agreement_id>/terminate")
@staff_required
def terminate(organization_id: int, agreement_id: int):
    """End an agreement early, with a reason."""
    agreement = _agreement_or_404(organization_id, agreement_id)
    form = TerminateForm()
    if form.validate_on_submit():
        try:
            terminate_agreement(
                agreement, staff=current_user, reason=form.reason.data, on=form.terminated_on.data
            )
        except OperationError as exc:
            db.session.rollback()
            flash(str(exc), "error")
        else:
            flash("Agreement terminated.", "success")
            return redirect(url_for(".detail", organization_id=organization_id))
    return _detail(agreement.organization, 400, terminate_form=form)


@bp.post("/<int:organization_id>/agreements/<int:agreement_id>/renew")
@staff_required
def renew_on_behalf(organization_id: int, agreement_id: int):
    """Record a renewal signed on paper; it then waits in the queue like any renewal."""
    agreement = _agreement_or_404(organization_id, agreement_id)
    form = StaffRenewalForm()
    form.show_versions(current_statements())
    if form.validate_on_submit():
        contact = agreement.organization.contact_for("signatory")
        endorsement = form.endorsement_input(form.signer_email.data, request.remote_addr)
        endorsement.signed_at = local_date_to_utc(form.signed_on.data)
        try:
            application = submit_renewal(
                agreement,
                {},
                "Renewal recorded by staff from a signed agreement.",
                endorsement,
                contact=contact,
                today=alliance_today(),
                staff=current_user,
            )
        except OperationError as exc:
            db.session.rollback()
            flash(str(exc), "error")
        else:
            flash("Renewal recorded; approve it to start the new term.", "success")
            return redirect(url_for("applications.review", application_id=application.id))
    return _detail(agreement.organization, 400, renew_form=form)
