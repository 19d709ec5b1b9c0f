"""Forms to apply, renew, answer, withdraw, and for staff to decide."""

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, DateField, EmailField, HiddenField, StringField, TextAreaField
from wtforms.validators import Email, InputRequired, Length, Optional

from allies.applications.models import STATEMENT_KINDS
from allies.applications.operations import EndorsementInput
from allies.forms import BaseForm
from allies.organizations.forms import ProfileForm

SUPPORT_MAX = 3000


class EndorsementFields:
    """The endorsement: a box for each text, the versions shown, and the signer."""

    endorse_mission = BooleanField(
        _l("We endorse the mission"), validators=[InputRequired(_l("Please endorse the mission."))]
    )
    endorse_vision = BooleanField(
        _l("We endorse the vision"), validators=[InputRequired(_l("Please endorse the vision."))]
    )
    endorse_values = BooleanField(
        _l("We endorse the values"), validators=[InputRequired(_l("Please endorse the values."))]
    )
    mission_version_id = HiddenField()
    vision_version_id = HiddenField()
    values_version_id = HiddenField()
    signer_name = StringField(
        _l("Signer's full name"), validators=[InputRequired(), Length(max=200)]
    )
    signer_title = StringField(_l("Signer's title"), validators=[InputRequired(), Length(max=200)])

    def show_versions(self, texts) -> None:
        """Record on the form which versions the signer is shown."""
        for kind in STATEMENT_KINDS:
            field = getattr(self, f"{kind}_version_id")
            if not field.data and kind in texts:
                field.data = str(texts[kind].id)

    def endorsement_input(self, signer_email: str, ip: str | None) -> EndorsementInput:
        """What was endorsed, in the shape operations take."""
        version_ids = {}
        for kind in STATEMENT_KINDS:
            raw = getattr(self, f"{kind}_version_id").data
            version_ids[kind] = int(raw) if str(raw or "").isdigit() else None
        return EndorsementInput(
            version_ids=version_ids,
            endorsed={
                kind: bool(getattr(self, f"endorse_{kind}").data) for kind in STATEMENT_KINDS
            },
            signer_name=self.signer_name.data or "",
            signer_title=self.signer_title.data or "",
            signer_email=signer_email,
            ip=ip,
        )


class ApplicationForm(ProfileForm, EndorsementFields):
    """Everything an organization sends to become an Ally."""

    contact_name = StringField(_l("Your full name"), validators=[InputRequired(), Length(max=200)])
    contact_title = StringField(_l("Your job title"), validators=[InputRequired(), Length(max=200)])
    contact_email = EmailField(
        _l("Your email"),
        validators=[
            InputRequired(),
            Email(_l("Enter a valid email address, like name@example.org.")),
            Length(max=254),
        ],
        description=_l("We send a private link to follow the application to this address."),
    )
    contact_phone = StringField(_l("Phone (optional)"), validators=[Optional(), Length(max=60)])
    support_statement = TextAreaField(
        _l("How does your organization support the alliance's mission?"),
        validators=[InputRequired(), Length(max=SUPPORT_MAX)],
        description=_l(
            "Up to %(limit)s characters. Staff read this; it is not published.", limit=SUPPORT_MAX
        ),
    )

    def contact_data(self) -> dict:
        return {
            "name": self.contact_name.data.strip(),
            "title": self.contact_title.data.strip(),
            "email": self.contact_email.data.strip(),
            "phone": (self.contact_phone.data or "").strip(),
        }


class UpdateApplicationForm(ProfileForm):
    """The applicant's corrections while the application is undecided."""

    support_statement = TextAreaField(
        _l("How does your organization support the alliance's mission?"),
        validators=[InputRequired(), Length(max=SUPPORT_MAX)],
    )


class RenewalForm(ProfileForm, EndorsementFields):
    """The Ally checks its profile and endorses the current texts again."""

    support_statement = TextAreaField(
        _l("Anything you would like staff to know (optional)"),
        validators=[Optional(), Length(max=SUPPORT_MAX)],
    )


class StaffRenewalForm(EndorsementFields, BaseForm):
    """Staff record a renewal signed on paper, on the Ally's behalf."""

    signer_email = EmailField(
        "Signer's email",
        validators=[InputRequired(), Email("Enter a valid email address, like name@example.org.")],
    )
    signed_on = DateField("Date signed", validators=[InputRequired()])


class AnswerForm(BaseForm):
    body = TextAreaField(_l("Your answer"), validators=[InputRequired(), Length(max=5000)])


class WithdrawForm(BaseForm):
    reason = TextAreaField(
        _l("Why are you withdrawing? (optional)"), validators=[Optional(), Length(max=2000)]
    )
    confirm = BooleanField(
        _l("Yes, withdraw this application"),
        validators=[InputRequired(_l("Tick the box to confirm."))],
    )


class RequestLinkForm(BaseForm):
    email = EmailField(
        _l("Email address"),
        validators=[
            InputRequired(),
            Email(_l("Enter a valid email address, like name@example.org.")),
            Length(max=254),
        ],
    )


class ApproveForm(BaseForm):
    start_date = DateField("Agreement starts on", validators=[InputRequired()])


class DeclineForm(BaseForm):
    reason = TextAreaField(
        "Reason (sent to the applicant)",
        validators=[InputRequired("A reason is required to decline."), Length(max=5000)],
    )


class QuestionForm(BaseForm):
    body = TextAreaField(
        "Question (emailed to the applicant)",
        validators=[InputRequired("Write the question."), Length(max=5000)],
    )
