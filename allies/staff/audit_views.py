"""The staff page of the whole audit log: newest first, filtered, a page at a time."""

from flask import Blueprint, render_template, request
from wtforms import DateField, SelectField, StringField
from wtforms.validators import Length, Optional, ValidationError

from allies.extensions import db
from allies.forms import BaseForm
from allies.inputs import int_arg
from allies.paging import Paging
from allies.staff import audit
from allies.staff.access import staff_required
from allies.timeutil import alliance_zone

bp = Blueprint("audit", __name__, url_prefix="/staff/audit")

PER_PAGE = 50
# Timestamps outside these years cannot be converted between zones (and no event is there).
FIRST_YEAR, LAST_YEAR = 1900, 2999

FIELD_LABELS = {
    "name": "Name",
    "website": "Website",
    "type_id": "Type",
    "city": "City",
    "region": "Region",
    "country": "Country",
    "description": "Description",
    "logo_filename": "Logo (file)",
    "is_enabled": "Shown on the form",
}


def _plausible_date(form, field):
    if field.data is not None and not FIRST_YEAR <= field.data.year <= LAST_YEAR:
        raise ValidationError(f"Give a date between {FIRST_YEAR} and {LAST_YEAR}.")


class LogFilterForm(BaseForm):
    """The filters of the log, read from the query string (a GET form: no CSRF token)."""

    class Meta:
        csrf = False

    # Choices are checked by validate_who/validate_action, whose messages say what to do.
    who = SelectField("Who", validators=[Optional()], validate_choice=False)
    org_name = StringField(
        "Organization name contains",
        validators=[Optional(), Length(max=200)],
        description="Also finds its applications, agreements and contacts.",
    )
    action = SelectField("Action", validators=[Optional()], validate_choice=False)
    start = DateField("From", validators=[Optional(), _plausible_date])
    end = DateField("To", validators=[Optional(), _plausible_date])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.who.choices = [("", "Anyone")] + audit.who_choices()
        self.action.choices = [("", "Any action")] + [
            (action, action.replace("_", " ")) for action in audit.actions_present()
        ]

    def validate_who(self, field):
        if field.data and field.data not in dict(field.choices):
            raise ValidationError("No one like that is in the log: choose from the list.")

    def validate_action(self, field):
        if field.data and field.data not in dict(field.choices):
            raise ValidationError("No event of that kind is in the log: choose from the list.")

    def validate_end(self, field):
        if field.data and self.start.data and field.data < self.start.data:
            raise ValidationError("The end comes before the start.")

    def log_filter(self, organization_id: int | None) -> audit.LogFilter:
        """The filters as the log query takes them."""
        return audit.LogFilter(
            who=self.who.data or None,
            organization_id=organization_id,
            organization_name=(self.org_name.data or "").strip() or None,
            action=self.action.data or None,
            start=self.start.data,
            end=self.end.data,
        )


def _show(value, field: str, type_names: dict) -> str:
    """One recorded value as the page shows it: type ids by name, nothing as a dash."""
    if value is None or value == "":
        return "—"
    if field == "type_id":
        return type_names.get(value, f"type {value} (since deleted)")
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return str(value)


def describe_changes(changes: dict | None, type_names: dict) -> list[tuple[str, str, str]]:
    """(label, before, after) for each field an edit recorded."""
    rows = []
    for field, pair in (changes or {}).items():
        before, after = (list(pair) + [None, None])[:2]
        label = FIELD_LABELS.get(field, field.replace("_", " ").capitalize())
        rows.append((label, _show(before, field, type_names), _show(after, field, type_names)))
    return rows


@bp.get("")
@staff_required
def index():
    """The whole audit log, newest first: who, organization, action and dates narrow it."""
    from allies.organizations.models import Organization

    form = LogFilterForm(request.args)
    organization_id = int_arg("organization")
    organization = None
    if organization_id is not None:
        organization = db.session.get(Organization, organization_id)
    page = int_arg("page", 1, minimum=1)
    valid = form.validate()
    events, total, pages = [], 0, 1
    if valid and not (organization_id is not None and organization is None):
        filters = form.log_filter(organization_id)
        zone = alliance_zone()
        total = audit.count_events(filters, zone)
        pages = max((total + PER_PAGE - 1) // PER_PAGE, 1)
        page = min(page, pages)
        events = audit.log_page(filters, zone, limit=PER_PAGE, offset=(page - 1) * PER_PAGE)
    type_names = audit.type_names() if any(e.changes for e in events) else {}
    # What the page links (other pages of the log) carry over; never the page itself.
    query = {
        name: value
        for name, value in request.args.items()
        if value and (name in form._fields or name == "organization")
    }
    query_all_organizations = {k: v for k, v in query.items() if k != "organization"}
    return render_template(
        "staff/audit.html",
        form=form,
        valid=valid,
        organization=organization,
        organization_id=organization_id,
        events=events,
        subjects=audit.subjects_of(events),
        changes={e.id: describe_changes(e.changes, type_names) for e in events},
        total=total,
        page=page,
        pages=pages,
        paging=Paging(total, page, PER_PAGE),
        query=query,
        query_all_organizations=query_all_organizations,
        filtered=bool(query),
    )
