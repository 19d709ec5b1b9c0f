"""Staff forms: sign-in, accounts, texts, settings, organization types."""

from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    EmailField,
    IntegerField,
    PasswordField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import (
    Email,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    Regexp,
    ValidationError,
)

from allies.forms import BaseForm
from allies.organizations.profile import LogoError, prepare_logo
from allies.staff.models import ROLES
from allies.staff.operations import MIN_PASSWORD_LENGTH

ROLE_CHOICES = [(role, role.title()) for role in ROLES]
PASSWORD_MESSAGE = f"Use at least {MIN_PASSWORD_LENGTH} characters."
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


class SignInForm(BaseForm):
    email = EmailField("Email", validators=[InputRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[InputRequired(), Length(max=200)])


class StaffUserForm(BaseForm):
    email = EmailField(
        "Email",
        validators=[
            InputRequired(),
            Email("Enter a valid email address, like name@example.org."),
            Length(max=254),
        ],
    )
    name = StringField("Name", validators=[Optional(), Length(max=200)])
    role = SelectField("Role", choices=ROLE_CHOICES)
    password = PasswordField(
        "Password",
        validators=[
            InputRequired(),
            Length(min=MIN_PASSWORD_LENGTH, max=200, message=PASSWORD_MESSAGE),
        ],
        description=f"At least {MIN_PASSWORD_LENGTH} characters. Share it with them privately.",
    )


class EditStaffUserForm(BaseForm):
    name = StringField("Name", validators=[Optional(), Length(max=200)])
    role = SelectField("Role", choices=ROLE_CHOICES)
    enabled = BooleanField("Account enabled (unticking signs them out everywhere)")
    new_password = PasswordField(
        "New password (leave empty to keep)",
        validators=[Optional(), Length(min=MIN_PASSWORD_LENGTH, max=200, message=PASSWORD_MESSAGE)],
    )


class StatementForm(BaseForm):
    text = TextAreaField("Text", validators=[InputRequired(), Length(max=10000)])


def _offsets(form, field):
    try:
        values = sorted(
            {int(part) for part in field.data.replace(" ", "").split(",") if part}, reverse=True
        )
    except ValueError:
        raise ValidationError(
            "Enter whole numbers of days separated by commas, e.g. 90, 30, 7."
        ) from None
    if not values or any(v < 1 or v > 365 for v in values):
        raise ValidationError("Each offset must be between 1 and 365 days.")
    field.parsed = values


class SettingsForm(BaseForm):
    alliance_name = StringField("Alliance name", validators=[InputRequired(), Length(max=200)])
    alliance_short_name = StringField("Short name", validators=[InputRequired(), Length(max=40)])
    alliance_tagline = StringField("Tagline", validators=[Optional(), Length(max=300)])
    contact_email = EmailField(
        "Public contact email",
        validators=[InputRequired(), Email("Enter a valid email address, like name@example.org.")],
    )
    brand_color = StringField(
        "Brand colour",
        validators=[
            InputRequired(),
            Regexp(r"^#[0-9a-fA-F]{6}$", message="Use a colour like #0b5563."),
        ],
    )
    accent_color = StringField(
        "Accent colour",
        validators=[
            InputRequired(),
            Regexp(r"^#[0-9a-fA-F]{6}$", message="Use a colour like #c2410c."),
        ],
    )
    reminder_hour = IntegerField(
        "Daily reminder run at (hour, 0–23, alliance time zone)",
        validators=[InputRequired(), NumberRange(0, 23)],
    )
    reminder_offsets = StringField(
        "Reminders before the end (days, comma-separated)", validators=[InputRequired(), _offsets]
    )
    grace_days = IntegerField(
        "Grace period after the end (days)", validators=[InputRequired(), NumberRange(0, 365)]
    )
    digest_weekday = SelectField(
        "Weekly staff digest on", coerce=int, choices=list(enumerate(WEEKDAYS))
    )
    staff_digest_email = EmailField(
        "Staff notifications to (empty: every staff member)",
        validators=[Optional(), Email("Enter a valid email address, like name@example.org.")],
    )


class OrganizationTypeForm(BaseForm):
    name = StringField("New type", validators=[InputRequired(), Length(max=120)])


class AllianceLogoForm(BaseForm):
    """The alliance's own logo: checked like an Ally's (``prepare_logo``), in memory."""

    logo = FileField(
        "Alliance logo",
        description="PNG, JPEG or WebP, up to 2 MB. Shown in the header, on emails and as the "
        "browser icon.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.prepared_logo = None

    def validate_logo(self, field):
        upload = field.data
        if upload is None or not getattr(upload, "filename", ""):
            raise ValidationError("Choose an image file to upload.")
        try:
            self.prepared_logo = prepare_logo(upload.stream)
        except LogoError as exc:
            raise ValidationError(str(exc)) from None
