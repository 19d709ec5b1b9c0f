"""Staff pages for Allies: every organization with its standing, and the actions on a term."""

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy.orm import joinedload, selectinload
from wtforms import DateField, TextAreaField
from wtforms.validators import InputRequired, Length

from allies.agreements.models import Agreement
from allies.agreements.operations import terminate_agreement
from allies.agreements.standing import (
    Status,
    ending_within_clause,
    grace_days_setting,
    listing,
    term_in_force,
)
from allies.applications.forms import StaffRenewalForm
from allies.applications.operations import submit_renewal
from allies.applications.statements import current_statements
from allies.csv_export import csv_response
from allies.errors import OperationError
from allies.extensions import db
from allies.forms import BaseForm
from allies.organizations.models import Organization
from allies.organizations.staff_views import render_ally_page
from allies.staff.access import staff_required
from allies.staff.exports import allies_csv, export_filename, record_download
from allies.timeutil import alliance_today, local_date_to_utc

bp = Blueprint("agreements", __name__, url_prefix="/staff/allies")

# The "ending within" filters the list offers (the dashboard links to the first).
ENDING_FILTERS = (30, 90)


class TerminateForm(BaseForm):
    terminated_on = DateField("Ends on", validators=[InputRequired()])
    reason = TextAreaField(
        "Reason", validators=[InputRequired("A reason is required."), Length(max=2000)]
    )


def _rows(today, *, ending_within: int | None = None):
    """(organization, listing) for every organization that has held an agreement, A–Z."""
    grace = grace_days_setting()
    query = (
        db.select(Agreement)
        .options(
            joinedload(Agreement.organization).joinedload(Organization.type),
            joinedload(Agreement.organization).selectinload(Organization.contacts),
            selectinload(Agreement.successor),
        )
        .order_by(Agreement.organization_id, Agreement.start_date.desc(), Agreement.id.desc())
    )
    if ending_within is not None:
        query = query.where(
            Agreement.organization_id.in_(
                db.select(Agreement.organization_id).where(
                    ending_within_clause(today, ending_within)
                )
            )
        )
    by_organization: dict[int, list[Agreement]] = {}
    for agreement in db.session.scalars(query).unique():
        by_organization.setdefault(agreement.organization_id, []).append(agreement)
    rows = []
    for terms in by_organization.values():
        term = term_in_force(terms, today)
        rows.append((term.organization, listing(term, today, grace)))
    return sorted(rows, key=lambda row: row[0].normalized_name)


def _filters():
    """The status and "ending within" filters from the query string (unknown values ignored)."""
    wanted = request.args.get("status", "")
    if wanted not in set(Status):
        wanted = ""
    ending = request.args.get("ending", type=int)
    if ending not in ENDING_FILTERS:
        ending = None
    return wanted, ending


@bp.get("")
@staff_required
def index():
    """All Allies, past and present, with status; filter by status or by how soon they end."""
    today = alliance_today()
    wanted, ending = _filters()
    rows = [
        row for row in _rows(today, ending_within=ending) if not wanted or row[1].status == wanted
    ]
    return render_template(
        "agreements/index.html",
        rows=rows,
        wanted=wanted,
        ending=ending,
        ending_filters=ENDING_FILTERS,
        today=today,
        statuses=list(Status),
    )


@bp.get("/export.csv")
@staff_required
def export_csv():
    """All Allies as CSV (see allies/csv_export.py), with the same filters as the list; audited."""
    today = alliance_today()
    wanted, ending = _filters()
    filename = export_filename("allies", today)
    # Audited (and committed) first: a commit after the query would expire the rows it loaded.
    record_download("allies", filename, staff=current_user, ip=request.remote_addr)
    rows = [
        row for row in _rows(today, ending_within=ending) if not wanted or row[1].status == wanted
    ]
    return csv_response(*allies_csv(rows, staff=current_user), filename)


def _agreement_or_404(organization_id: int, agreement_id: int) -> Agreement:
    agreement = db.session.get(Agreement, agreement_id)
    if agreement is None or agreement.organization_id != organization_id:
        abort(404)
    return agreement


@bp.post("/<int:organization_id>/agreements/<int:agreement_id>/terminate")
@staff_required
def terminate(organization_id: int, agreement_id: int):
    """End an agreement early, with a reason (refused for a lapsed, terminated or renewed one)."""
    agreement = _agreement_or_404(organization_id, agreement_id)
    organization = agreement.organization
    form = TerminateForm()
    if form.validate_on_submit():
        try:
            terminate_agreement(
                agreement,
                staff=current_user,
                reason=form.reason.data,
                on=form.terminated_on.data,
                today=alliance_today(),
            )
        except OperationError as exc:
            flash(str(exc), "error")
        else:
            flash("Agreement terminated.", "success")
            return redirect(url_for("ally_admin.detail", organization_id=organization_id))
    return render_ally_page(organization, 400, terminate_form=form)


@bp.post("/<int:organization_id>/agreements/<int:agreement_id>/renew")
@staff_required
def renew_on_behalf(organization_id: int, agreement_id: int):
    """Record a renewal signed on paper; it then waits in the queue like any renewal."""
    agreement = _agreement_or_404(organization_id, agreement_id)
    organization = agreement.organization
    form = StaffRenewalForm()
    form.show_versions(current_statements())
    if form.validate_on_submit():
        endorsement = form.endorsement_input(form.signer_email.data, request.remote_addr)
        endorsement.signed_at = local_date_to_utc(form.signed_on.data)
        try:
            application = submit_renewal(
                agreement,
                {},
                "Renewal recorded by staff from a signed agreement.",
                endorsement,
                contact=organization.contact_for("signatory"),
                today=alliance_today(),
                staff=current_user,
            )
        except OperationError as exc:
            flash(str(exc), "error")
        else:
            flash("Renewal recorded; approve it to start the new term.", "success")
            return redirect(url_for("applications.review", application_id=application.id))
    return render_ally_page(organization, 400, renew_form=form)
