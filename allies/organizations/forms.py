"""Forms for the public profile and contacts, shared by applying, renewing and staff editing."""

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField
from itsdangerous import BadSignature, URLSafeSerializer
from wtforms import EmailField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import Email, InputRequired, Length, Optional, ValidationError

from allies.extensions import db
from allies.forms import BaseForm
from allies.organizations.models import CONTACT_ROLES, DESCRIPTION_MAX, OrganizationType
from allies.organizations.profile import LogoError, clean_website, prepare_logo, save_logo


def _logo_signer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="allies-accepted-logo")


def type_choices() -> list[tuple[int, str]]:
    """The enabled organization types for a select, in admin order."""
    rows = db.session.scalars(
        db.select(OrganizationType)
        .where(OrganizationType.is_enabled)
        .order_by(OrganizationType.position, OrganizationType.name)
    )
    return [(0, _("Choose a type…"))] + [(row.id, row.name) for row in rows]


class _RequiredType:
    """A type must be chosen (the first option is only a prompt)."""

    field_flags = {"required": True}

    def __call__(self, form, field):
        if not field.data:
            raise ValidationError(_("Choose the type of organization."))


def _website(form, field):
    try:
        field.data = clean_website(field.data or "")
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


class ProfileForm(BaseForm):
    """The public profile: what the recognition page shows."""

    name = StringField(_l("Organization name"), validators=[InputRequired(), Length(max=200)])
    website = StringField(
        _l("Website"),
        validators=[InputRequired(), Length(max=500), _website],
        description=_l("The address of your organization's site, starting with https://"),
    )
    type_id = SelectField(_l("Type of organization"), coerce=int, validators=[_RequiredType()])
    city = StringField(_l("City"), validators=[InputRequired(), Length(max=120)])
    region = StringField(_l("State, province or region"), validators=[Optional(), Length(max=120)])
    country = StringField(_l("Country"), validators=[InputRequired(), Length(max=120)])
    description = TextAreaField(
        _l("Short public description"),
        validators=[InputRequired(), Length(max=DESCRIPTION_MAX)],
        description=_l(
            "Shown on the public Allies page. Up to %(limit)s characters.", limit=DESCRIPTION_MAX
        ),
    )
    logo = FileField(
        _l("Logo (optional)"),
        description=_l("PNG, JPEG or WebP, up to 2 MB. We resize it to 800 pixels."),
    )
    accepted_logo = HiddenField()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.type_id.choices = type_choices()
        self.logo_filename = None
        self.prepared_logo = None

    def validate_logo(self, field):
        """Check a new upload (in memory: validation writes no file), or take the one kept
        from an earlier attempt."""
        upload = field.data
        if upload is not None and getattr(upload, "filename", ""):
            try:
                self.prepared_logo = prepare_logo(upload.stream)
            except LogoError as exc:
                raise ValidationError(str(exc)) from None
        elif self.accepted_logo.data:
            try:
                self.logo_filename = _logo_signer().loads(self.accepted_logo.data)
            except BadSignature:
                self.accepted_logo.data = ""

    def keep_logo(self) -> None:
        """Store a checked upload, so neither this submission nor a corrected one (after an
        error elsewhere on the form) asks for it again. Views call it after validating."""
        if self.prepared_logo is not None:
            self.logo_filename = save_logo(self.prepared_logo)
            self.accepted_logo.data = _logo_signer().dumps(self.logo_filename)
            self.prepared_logo = None

    def profile_data(self) -> dict:
        """The cleaned profile fields, as operations take them (a checked upload is stored)."""
        self.keep_logo()
        return {
            "name": self.name.data.strip(),
            "website": self.website.data,
            "type_id": self.type_id.data or None,
            "city": self.city.data.strip(),
            "region": (self.region.data or "").strip(),
            "country": self.country.data.strip(),
            "description": self.description.data.strip(),
            "logo_filename": self.logo_filename,
        }


# A contact's role as forms show it.
ROLE_LABELS = {
    "primary": _l("Primary"),
    "signatory": _l("Signatory"),
    "communications": _l("Communications"),
}


class ContactForm(BaseForm):
    """A person at the organization (never public)."""

    role = SelectField(
        _l("Role"), choices=[(r, ROLE_LABELS.get(r, r.title())) for r in CONTACT_ROLES]
    )
    name = StringField(_l("Full name"), validators=[InputRequired(), Length(max=200)])
    title = StringField(_l("Job title"), validators=[Optional(), Length(max=200)])
    email = EmailField(
        _l("Email"),
        validators=[
            InputRequired(),
            Email(_l("Enter a valid email address, like name@example.org.")),
            Length(max=254),
        ],
    )
    phone = StringField(_l("Phone (optional)"), validators=[Optional(), Length(max=60)])
