"""The conference form for admins."""

from wtforms import IntegerField, StringField
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from allies.forms import BaseForm


class ConferenceForm(BaseForm):
    year = IntegerField("Year", validators=[InputRequired(), NumberRange(1900, 2200)])
    theme = StringField("Theme", validators=[InputRequired(), Length(max=300)])
    place = StringField("Place", validators=[InputRequired(), Length(max=200)])
    attendance = StringField(
        "Attendance (optional)",
        validators=[Optional(), Length(max=60)],
        description="For example: 500+",
    )
