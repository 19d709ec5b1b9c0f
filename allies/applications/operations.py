"""Every change to applications and renewals: submit, update, answer, withdraw, and decide.

Each function is one use case. It takes the acting person (a staff user or a contact) and the
time where it matters, commits once, and queues its email in the same transaction.
"""

from dataclasses import dataclass
from datetime import date, datetime

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from allies.agreements.models import Agreement
from allies.agreements.operations import renew_agreement, start_agreement
from allies.agreements.standing import long_date, renewal_refusal
from allies.applications.models import (
    OPEN_STATES,
    STATEMENT_KINDS,
    Application,
    ApplicationKind,
    ApplicationMessage,
    ApplicationState,
    Endorsement,
)
from allies.applications.statements import current_version_ids
from allies.errors import OperationError, operation
from allies.extensions import db
from allies.mail.outbox import public_url, queue_email, queue_personal_email, site_path
from allies.organizations.access import make_link_token
from allies.organizations.models import Contact, Organization
from allies.organizations.operations import PROFILE_FIELDS, apply_profile, profile_changes
from allies.organizations.profile import normalize_name, unique_slug, website_domain
from allies.staff.audit import record_event
from allies.staff.models import StaffUser
from allies.staff.queries import staff_recipients
from allies.staff.settings import get_setting
from allies.timeutil import utcnow


@dataclass
class EndorsementInput:
    """What the signer agreed to: the versions shown to them and who they are."""

    version_ids: dict[str, int]
    endorsed: dict[str, bool]
    signer_name: str
    signer_title: str
    signer_email: str
    ip: str | None
    # Set when staff record a paper agreement signed earlier; otherwise now.
    signed_at: datetime | None = None


# What a signer is told about each text (whole sentences, so each language words them its way).
ENDORSE_MISSING = {
    "mission": _l("Please endorse the mission."),
    "vision": _l("Please endorse the vision."),
    "values": _l("Please endorse the values."),
}
ENDORSE_OUTDATED = {
    "mission": _l(
        "The mission text was updated while you were reading it. "
        "Please read the current text and endorse it again."
    ),
    "vision": _l(
        "The vision text was updated while you were reading it. "
        "Please read the current text and endorse it again."
    ),
    "values": _l(
        "The values text was updated while you were reading it. "
        "Please read the current text and endorse it again."
    ),
}


def _status_link(contact, application) -> str:
    token = make_link_token(contact, "sign-in")
    return public_url(
        "portal.follow_link",
        token=token,
        next=site_path("portal.application", application_id=application.id),
    )


def _make_endorsement(application: Application, endorsement: EndorsementInput) -> Endorsement:
    """Check the endorsement covers the current version of every text, and stage it.

    The version shown may be the current one in any language (the signer read the page in
    theirs); the record keeps its id, and so its language.
    """
    current = current_version_ids()
    for kind in STATEMENT_KINDS:
        if not endorsement.endorsed.get(kind):
            raise OperationError(str(ENDORSE_MISSING[kind]))
    for kind in STATEMENT_KINDS:
        if endorsement.version_ids.get(kind) not in current.get(kind, ()):
            raise OperationError(str(ENDORSE_OUTDATED[kind]))
    if not endorsement.signer_name.strip() or not endorsement.signer_title.strip():
        raise OperationError(_("The signer's name and title are required."))
    record = Endorsement(
        application=application,
        mission_version_id=endorsement.version_ids["mission"],
        vision_version_id=endorsement.version_ids["vision"],
        values_version_id=endorsement.version_ids["values"],
        signer_name=endorsement.signer_name.strip(),
        signer_title=endorsement.signer_title.strip(),
        signer_email=endorsement.signer_email.strip().lower(),
        ip=endorsement.ip,
        signed_at=endorsement.signed_at or utcnow(),
    )
    db.session.add(record)
    return record


def find_possible_duplicate(name: str, website: str, exclude_id: int | None = None):
    """An organization that already applied or is an Ally with the same domain or name."""
    domain = website_domain(website)
    query = db.select(Organization).where(
        (Organization.website_domain == domain)
        | (Organization.normalized_name == normalize_name(name))
    )
    if exclude_id is not None:
        query = query.where(Organization.id != exclude_id)
    match = db.session.scalars(query.order_by(Organization.id).limit(1)).first()
    if match is None:
        return None, ""
    reason = "same website domain" if match.website_domain == domain else "same name"
    return match, reason


@operation
def submit_application(
    profile: dict, contact_fields: dict, support_statement: str, endorsement: EndorsementInput
) -> Application:
    """An organization applies to become an Ally. Commits, and emails the contact a status link.

    Two organizations of one name applying at the same moment may pick the same slug; the
    loser of that race starts again and gets the next free slug.
    """
    for attempt in range(SLUG_ATTEMPTS):
        try:
            return _submit_application_once(
                profile, contact_fields, support_statement, endorsement, retry=attempt > 0
            )
        except IntegrityError as exc:
            db.session.rollback()
            if "slug" not in str(exc.orig) or attempt == SLUG_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


SLUG_ATTEMPTS = 5


def _submit_application_once(
    profile: dict,
    contact_fields: dict,
    support_statement: str,
    endorsement: EndorsementInput,
    *,
    retry: bool,
) -> Application:
    duplicate, duplicate_reason = find_possible_duplicate(profile["name"], profile["website"])
    organization = Organization(
        slug=unique_slug(profile["name"], Organization, random_suffix=retry),
        normalized_name=normalize_name(profile["name"]),
        website_domain=website_domain(profile["website"]),
        **{field: profile.get(field) for field in PROFILE_FIELDS + ("logo_filename",)},
    )
    # contact_fields may carry the page's language ("language"): their emails are written in it.
    contact = Contact(organization=organization, role="primary", **contact_fields)
    contact.email = contact.email.strip().lower()
    application = Application(
        kind=ApplicationKind.NEW,
        organization=organization,
        contact=contact,
        support_statement=support_statement.strip(),
        duplicate_of=duplicate,
        duplicate_reason=duplicate_reason,
    )
    db.session.add_all([organization, contact, application])
    _make_endorsement(application, endorsement)
    record_event(
        application,
        "submitted",
        actor=f"applicant {contact.email}",
        to_state=ApplicationState.SUBMITTED,
        ip=endorsement.ip,
    )
    db.session.flush()
    queue_email(
        contact.email,
        "application_received",
        _l("We received %(name)s's application", name=organization.name),
        language=contact.language,
        application=application,
        organization=organization,
        contact=contact,
        status_link=_status_link(contact, application),
    )
    for address in staff_recipients():
        queue_email(
            address,
            "staff_new_application",
            f"New Ally application: {organization.name}",
            application=application,
            organization=organization,
        )
    db.session.commit()
    return application


def _transition(application: Application, to_state: str) -> str:
    """Move an open application to ``to_state`` atomically; returns the state it left.

    The conditional UPDATE makes two simultaneous decisions (a double click, two reviewers)
    impossible: the second finds the application no longer open and is refused.
    """
    previous = application.state
    moved = db.session.execute(
        db.update(Application)
        .where(Application.id == application.id, Application.state.in_(OPEN_STATES))
        .values(state=to_state)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:
        db.session.rollback()
        raise OperationError(_("Someone else has just changed this application; please reload it."))
    application.state = to_state
    return previous


ALREADY = {
    ApplicationState.APPROVED: _l("This application is already approved."),
    ApplicationState.DECLINED: _l("This application is already declined."),
    ApplicationState.WITHDRAWN: _l("This application is already withdrawn."),
}


def _require_open(application: Application) -> None:
    if not application.is_open:
        raise OperationError(str(ALREADY[application.state]))


@operation
def update_application(
    application: Application, profile: dict, support_statement: str, *, contact
) -> None:
    """The applicant corrects the profile or statement while the application is undecided. Commits."""
    _require_open(application)
    organization = application.organization
    if application.kind == ApplicationKind.RENEWAL:
        # A renewal's profile goes public only when staff approve it.
        _propose_profile(application, profile)
        changes = {}
    else:
        changes = apply_profile(organization, profile)
    application.support_statement = support_statement.strip()
    if application.kind == ApplicationKind.NEW:
        duplicate, reason = find_possible_duplicate(
            organization.name, organization.website, exclude_id=organization.id
        )
        application.duplicate_of, application.duplicate_reason = duplicate, reason
    record_event(application, "updated", actor=f"applicant {contact.email}", changes=changes)
    db.session.commit()


@operation
def withdraw_application(application: Application, *, contact, reason: str = "") -> None:
    """The applicant withdraws before a decision. Commits."""
    _require_open(application)
    previous = _transition(application, ApplicationState.WITHDRAWN)
    application.decided_at = utcnow()
    record_event(
        application,
        "withdrawn",
        actor=f"applicant {contact.email}",
        from_state=previous,
        to_state=ApplicationState.WITHDRAWN,
        reason=reason,
    )
    queue_email(
        application.contact.email,
        "application_withdrawn",
        _l("%(name)s's renewal is withdrawn", name=application.organization.name)
        if application.kind == ApplicationKind.RENEWAL
        else _l("%(name)s's application is withdrawn", name=application.organization.name),
        language=application.contact.language,
        application=application,
        organization=application.organization,
    )
    db.session.commit()


@operation
def answer_question(
    application: Application, body: str, *, contact, language: str | None = None
) -> None:
    """The applicant answers staff's question; the application returns to the queue. Commits.

    ``language``: the page's, recorded on the contact for the emails they receive from now on.
    """
    _require_open(application)
    if language is not None:
        contact.language = language
    body = (body or "").strip()
    if not body:
        raise OperationError(_("Please write your answer."))
    db.session.add(ApplicationMessage(application=application, author="applicant", body=body))
    previous = _transition(application, ApplicationState.SUBMITTED)
    record_event(
        application,
        "answered",
        actor=f"applicant {contact.email}",
        from_state=previous,
        to_state=ApplicationState.SUBMITTED,
    )
    queue_email(
        contact.email,
        "answer_received",
        _l("We received your answer about %(name)s", name=application.organization.name),
        language=contact.language,
        application=application,
        organization=application.organization,
        body=body,
    )
    for address in staff_recipients():
        queue_email(
            address,
            "staff_answer_received",
            f"{application.organization.name} answered your question",
            application=application,
            organization=application.organization,
            body=body,
        )
    db.session.commit()


@operation
def ask_question(application: Application, body: str, *, staff: StaffUser) -> None:
    """Staff ask the applicant a question; the application waits for the answer. Commits."""
    _require_open(application)
    body = (body or "").strip()
    if not body:
        raise OperationError("Please write the question.")
    db.session.add(
        ApplicationMessage(application=application, author="staff", staff_id=staff.id, body=body)
    )
    previous = _transition(application, ApplicationState.INFO_REQUESTED)
    record_event(
        application,
        "question_asked",
        staff=staff,
        from_state=previous,
        to_state=ApplicationState.INFO_REQUESTED,
        reason=body,
    )
    contact = application.contact
    queue_email(
        contact.email,
        "application_question",
        _l("A question about %(name)s's renewal", name=application.organization.name)
        if application.kind == ApplicationKind.RENEWAL
        else _l("A question about %(name)s's application", name=application.organization.name),
        language=contact.language,
        application=application,
        organization=application.organization,
        question=body,
        status_link=_status_link(contact, application),
    )
    db.session.commit()


@operation
def decline_application(application: Application, reason: str, *, staff: StaffUser) -> None:
    """Staff decline with a reason, which is emailed to the applicant. Commits."""
    _require_open(application)
    reason = (reason or "").strip()
    if not reason:
        raise OperationError("A reason is required to decline.")
    _decline(application, reason, staff=staff)
    queue_email(
        application.contact.email,
        "application_declined",
        _l("Your renewal for %(name)s", name=application.organization.name)
        if application.kind == ApplicationKind.RENEWAL
        else _l("Your application for %(name)s", name=application.organization.name),
        language=application.contact.language,
        application=application,
        organization=application.organization,
        reason=reason,
    )
    db.session.commit()


def _decline(application: Application, reason: str, *, staff: StaffUser) -> None:
    """Stage the decline of an open application, with its reason and audit entry."""
    previous = _transition(application, ApplicationState.DECLINED)
    application.decided_by_id = staff.id
    application.decided_at = utcnow()
    application.decision_reason = reason
    record_event(
        application,
        "declined",
        staff=staff,
        from_state=previous,
        to_state=ApplicationState.DECLINED,
        reason=reason,
    )


def decline_waiting_renewals(agreement: Agreement, *, staff: StaffUser, reason: str) -> None:
    """Stage the decline of every renewal waiting for ``agreement``, which is ending early and so
    can never be renewed; the caller commits (its own email tells the contact)."""
    waiting = db.session.scalars(
        db.select(Application).where(
            Application.renews_agreement_id == agreement.id, Application.state.in_(OPEN_STATES)
        )
    ).all()
    for application in waiting:
        _decline(application, reason, staff=staff)


@dataclass(frozen=True)
class Approval:
    """What an approval made: the new term, read before the commit (nothing to load after it)."""

    agreement_id: int
    start_date: date
    end_date: date
    renewed: bool  # the term continues an earlier one


@operation
def approve_application(
    application: Application, *, staff: StaffUser, start: date | None, today: date
) -> Approval:
    """Staff approve: a new application starts a term on ``start``; a renewal continues the old one.

    Refuses an application without a complete endorsement. Commits and emails the contact.
    """
    _require_open(application)
    endorsement = application.endorsement
    if endorsement is None or not all(
        (
            endorsement.mission_version_id,
            endorsement.vision_version_id,
            endorsement.values_version_id,
        )
    ):
        raise OperationError("This application has no complete endorsement and cannot be approved.")
    previous = _transition(application, ApplicationState.APPROVED)
    if application.kind == ApplicationKind.RENEWAL:
        agreement = renew_agreement(
            application.renews_agreement, approved_on=today, staff=staff, application=application
        )
        if application.proposed_profile:
            record_event(
                application.organization,
                "profile_updated",
                staff=staff,
                reason="changes sent with the renewal, published on approval",
                changes=apply_profile(application.organization, application.proposed_profile),
            )
    else:
        agreement = start_agreement(
            application.organization, start or today, staff=staff, application=application
        )
    application.decided_by_id = staff.id
    application.decided_at = utcnow()
    record_event(
        application,
        "approved",
        staff=staff,
        from_state=previous,
        to_state=ApplicationState.APPROVED,
    )
    db.session.flush()
    organization = application.organization
    queue_email(
        application.contact.email,
        "application_approved",
        _l(
            "%(name)s is an Ally of the %(alliance)s",
            name=organization.name,
            alliance=get_setting("alliance_name"),
        )
        if application.kind == ApplicationKind.NEW
        else _l(
            "%(name)s's Ally agreement is renewed until %(day)s",
            name=organization.name,
            day=_LazyDate(agreement.end_date),
        ),
        language=application.contact.language,
        cc=_communications_copy(organization),
        application=application,
        organization=application.organization,
        agreement=agreement,
    )
    approval = Approval(
        agreement.id, agreement.start_date, agreement.end_date, agreement.previous is not None
    )
    db.session.commit()
    return approval


@operation
def submit_renewal(
    agreement: Agreement,
    profile: dict,
    support_statement: str,
    endorsement: EndorsementInput,
    *,
    contact,
    today: date,
    staff: StaffUser | None = None,
    language: str | None = None,
) -> Application:
    """An Ally asks to renew ``agreement`` (or staff record a paper renewal for it). Commits.

    Profile changes sent with it wait with the renewal and are published only when staff
    approve it; the renewal then waits for review like an application. ``language``: the
    page's, recorded on the contact for the emails they receive from now on.
    """
    refusal = renewal_refusal(agreement, today)
    if refusal is not None:
        raise OperationError(refusal)
    organization = agreement.organization
    if language is not None and staff is None:
        contact.language = language
    application = Application(
        kind=ApplicationKind.RENEWAL,
        organization=organization,
        contact=contact,
        renews_agreement_id=agreement.id,
        support_statement=(support_statement or "").strip(),
    )
    _propose_profile(application, profile)
    db.session.add(application)
    record = _make_endorsement(application, endorsement)
    try:
        db.session.flush()
    except IntegrityError:
        # another renewal of this agreement was sent at the same moment
        raise OperationError(
            _("A renewal for this agreement is already waiting for review.")
        ) from None
    if staff is not None:
        record.recorded_by_id = staff.id
    actor = {"staff": staff} if staff is not None else {"actor": f"ally contact {contact.email}"}
    record_event(
        application,
        "renewal_submitted",
        to_state=ApplicationState.SUBMITTED,
        ip=endorsement.ip,
        **actor,
    )
    db.session.flush()
    if staff is None:
        # The status link signs its holder in as the contact it is made for: the
        # communications contact gets a copy of their own, with their own link.
        queue_personal_email(
            contact,
            [organization.contact_for("communications")],
            "renewal_received",
            _l("We received %(name)s's renewal", name=organization.name),
            link=lambda person: {"status_link": _status_link(person, application)},
            application=application,
            organization=organization,
            agreement=agreement,
        )
        for address in staff_recipients():
            queue_email(
                address,
                "staff_new_application",
                f"Renewal to review: {organization.name}",
                application=application,
                organization=organization,
            )
    db.session.commit()
    return application


def _propose_profile(application: Application, profile: dict) -> None:
    """Keep the fields of ``profile`` that differ from the public profile, for approval.

    A logo proposed earlier stays proposed unless a new one is sent.
    """
    earlier_logo = (application.proposed_profile or {}).get("logo_filename")
    changes = profile_changes(application.organization, profile)
    if earlier_logo and "logo_filename" not in changes:
        changes["logo_filename"] = earlier_logo
    application.proposed_profile = changes or None


def _communications_copy(organization: Organization) -> list[str]:
    """The communications contact, in Cc of approvals (which carry no personal link; renewal
    confirmations send them a copy of their own: ``submit_renewal``)."""
    contact = organization.contact_for("communications")
    return [contact.email] if contact is not None else []


class _LazyDate:
    """A date that a lazy subject writes out in the language it is rendered in."""

    def __init__(self, day: date):
        self.day = day

    def __str__(self) -> str:
        return long_date(self.day)


def _label(application: Application) -> str:
    return "renewal" if application.kind == ApplicationKind.RENEWAL else "application"
