"""Forms: a conference (admins), inviting and reminding (staff), an Ally's answer."""

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    DateField,
    IntegerField,
    RadioField,
    StringField,
    TextAreaField,
    ValidationError,
)
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from allies.conferences.models import MAX_PEOPLE, NAMES_MAX
from allies.forms import BaseForm
from allies.organizations.profile import clean_website

FIRST_YEAR, LAST_YEAR = 1900, 2200


def _plausible_date(form, field):
    if field.data is not None and not FIRST_YEAR <= field.data.year <= LAST_YEAR:
        raise ValidationError(f"Give a date between {FIRST_YEAR} and {LAST_YEAR}.")


def _web_address(form, field):
    if not (field.data or "").strip():
        field.data = ""
        return
    try:
        field.data = clean_website(field.data)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


class ConferenceForm(BaseForm):
    """A conference's public details."""

    title = StringField("Title (the theme)", validators=[InputRequired(), Length(max=300)])
    place = StringField(
        "Place",
        validators=[InputRequired(), Length(max=200)],
        description='City and country, for example "Lima, Peru"; or "Virtual".',
    )
    start_date = DateField("First day", validators=[InputRequired(), _plausible_date])
    end_date = DateField("Last day", validators=[InputRequired(), _plausible_date])
    dates_year_only = BooleanField(
        "Only the year is known (an old record): show just the year",
    )
    description = TextAreaField("Description (optional)", validators=[Optional(), Length(max=2000)])
    link = StringField(
        "Link for registration or details (optional)",
        validators=[Optional(), Length(max=500), _web_address],
        description="Starting with https://",
    )
    attendance = StringField(
        "Attendance (optional)",
        validators=[Optional(), Length(max=60)],
        description="Once held. For example: 500+",
    )

    def validate_end_date(self, field):
        start = self.start_date.data
        if field.data is not None and start is not None and field.data < start:
            raise ValidationError("The last day cannot be before the first day.")


class ConfirmForm(BaseForm):
    """A button that only carries the CSRF token (invite, remind)."""


class AnswerForm(BaseForm):
    """An Ally's answer to an invitation."""

    attending = RadioField(
        _l("Will your organization attend?"),
        choices=[("yes", _l("Yes, we will attend")), ("no", _l("No, we cannot attend"))],
        validators=[InputRequired(message=_l("Say whether you will attend."))],
    )
    people = IntegerField(
        _l("How many people will come?"),
        validators=[Optional(), NumberRange(1, MAX_PEOPLE)],
        description=_l("From 1 to %(most)s.", most=MAX_PEOPLE),
    )
    names = TextAreaField(
        _l("Their names (optional)"),
        validators=[Optional(), Length(max=NAMES_MAX)],
        description=_l("So we can prepare name badges. One per line."),
    )

    def validate(self, extra_validators=None) -> bool:
        """Attending needs a number of people (checked here: ``Optional`` ends the field's own
        validation when it is empty)."""
        valid = super().validate(extra_validators)
        if self.attending.data == "yes" and self.people.data is None and not self.people.errors:
            self.people.errors = [
                _("Say how many people will come, from 1 to %(most)s.", most=MAX_PEOPLE)
            ]
            return False
        return valid
