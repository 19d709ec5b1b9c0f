"""Changes to conferences: the programme (admins), invitations and their one reminder (staff),
and the Allies' answers (through the invitation link).

Who is invited is decided by the standing module: the Allies listed on the day of sending
(``listed_clause``). Each invitation is an ``conference_invitation`` row, unique on
(conference, organization), written in one transaction with its outbox message; a send racing
another one, or repeated later, adds only the organizations not invited yet.
"""

from collections import Counter
from dataclasses import dataclass, field
from datetime import date

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import update
from sqlalchemy.orm import selectinload

from allies.agreements.models import Agreement
from allies.agreements.standing import grace_days_setting, listed_clause, long_date
from allies.conferences.links import answer_token
from allies.conferences.models import MAX_PEOPLE, NAMES_MAX, Conference, Invitation
from allies.errors import OperationError, operation
from allies.extensions import db
from allies.i18n import Later
from allies.mail.outbox import public_url, queue_email
from allies.organizations.models import Organization
from allies.reminders.lock import insert_ignoring_conflict
from allies.staff.audit import CONTACT_PREFIX, record_event
from allies.timeutil import utcnow

# --- the programme -----------------------------------------------------------------------------


def save_conference(conference: Conference | None, fields: dict, *, staff) -> Conference:
    """Add a conference (``conference`` None) or change one. Commits.

    ``fields``: title, place, start_date, end_date, dates_year_only, description, link,
    attendance. With ``dates_year_only`` the dates become 1 January to 31 December of the start
    date's year.
    """
    action = "conference_changed"
    if conference is None:
        conference = Conference()
        db.session.add(conference)
        action = "conference_added"
    before = {name: _shown(getattr(conference, name, None)) for name in _FIELDS}
    conference.title = fields["title"].strip()
    conference.place = fields["place"].strip()
    start, end = fields["start_date"], fields["end_date"]
    conference.dates_year_only = bool(fields.get("dates_year_only"))
    if conference.dates_year_only:
        start, end = date(start.year, 1, 1), date(start.year, 12, 31)
    conference.start_date, conference.end_date = start, end
    conference.description = (fields.get("description") or "").strip()
    conference.link = (fields.get("link") or "").strip()
    conference.attendance = (fields.get("attendance") or "").strip()
    event = record_event(conference, action, staff=staff, to_state=conference.dates_text[:40])
    event.changes = {
        name: [before[name], _shown(getattr(conference, name))]
        for name in _FIELDS
        if before[name] != _shown(getattr(conference, name))
    }
    db.session.commit()
    return conference


_FIELDS = (
    "title",
    "place",
    "start_date",
    "end_date",
    "dates_year_only",
    "description",
    "link",
    "attendance",
)


def _shown(value):
    """A field's value as the audit log's JSON keeps it."""
    return value.isoformat() if isinstance(value, date) else value


@operation
def delete_conference(conference: Conference, *, staff) -> None:
    """Remove a conference that has no invitations. Commits."""
    invited = db.session.scalar(
        db.select(Invitation.id).where(Invitation.conference_id == conference.id).limit(1)
    )
    if invited is not None:
        raise OperationError(
            "Allies have been invited to this conference, so it cannot be removed. "
            "Change its details instead."
        )
    record_event(
        conference,
        "conference_deleted",
        staff=staff,
        from_state=str(conference.year),
        reason=conference.title,
    )
    db.session.delete(conference)
    db.session.commit()


# --- invitations -------------------------------------------------------------------------------


@dataclass(frozen=True)
class InviteLine:
    """One invitation queued (or, in a dry run, that would be)."""

    organization_name: str
    to_addr: str
    cc: tuple[str, ...] = ()

    def __str__(self) -> str:
        copy = f" (cc {', '.join(self.cc)})" if self.cc else ""
        return f"invitation {self.organization_name} to {self.to_addr}{copy}"


@dataclass
class InviteResult:
    """What one send did: the messages, and what it skipped and why."""

    conference_id: int
    dry_run: bool
    lines: list[InviteLine] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)

    @property
    def count(self) -> int:
        """How many invitations were queued (or would be)."""
        return len(self.lines)


@dataclass(frozen=True)
class _Invitee:
    organization_id: int
    organization_name: str
    contact_name: str
    to_addr: str
    cc: tuple[str, ...]
    language: str = "en"  # the contact's: the invitation is written in it


def invitation_refusal(conference: Conference, today: date) -> str | None:
    """Why Allies cannot be invited to ``conference`` today, or None when they can."""
    if conference.dates_year_only:
        return "Give the conference its dates before inviting Allies."
    if conference.has_started(today):
        return "This conference has started: invitations are closed."
    return None


def _uninvited_allies(conference: Conference, today: date, grace_days: int):
    invited = db.select(Invitation.organization_id).where(Invitation.conference_id == conference.id)
    listed = db.select(Agreement.organization_id).where(listed_clause(today, grace_days))
    return (
        db.select(Organization)
        .where(Organization.id.in_(listed), Organization.id.not_in(invited))
        .options(selectinload(Organization.contacts))
        .order_by(Organization.normalized_name, Organization.name, Organization.id)
    )


def _invitees(conference: Conference, today: date, result: InviteResult) -> list[_Invitee]:
    """The Allies current on ``today`` not yet invited, with their primary contact (to) and
    signatory (in copy); those without a contact are counted as skipped."""
    invitees = []
    query = _uninvited_allies(conference, today, grace_days_setting())
    for organization in db.session.scalars(query):
        contact = organization.contact_for("primary")
        if contact is None or not contact.email:
            result.skipped["no primary contact"] += 1
            continue
        signatory = organization.contact_for("signatory")
        copy = (signatory.email,) if signatory is not None and signatory is not contact else ()
        invitees.append(
            _Invitee(
                organization.id,
                organization.name,
                contact.name,
                contact.email,
                copy,
                contact.language,
            )
        )
    return invitees


def invite_count(conference: Conference, today: date) -> int:
    """How many Allies a send today would invite (the confirm step shows it)."""
    return invite_current_allies(conference, staff=None, today=today, dry_run=True).count


def invite_current_allies(
    conference: Conference,
    *,
    staff,
    today: date,
    dry_run: bool = False,
    actor: str | None = None,
) -> InviteResult:
    """Invite every Ally current on ``today`` that this conference has not invited yet.

    Each invitation is committed with its message, one at a time, so a send stopped midway
    keeps what it queued and the next send completes the rest; one that another send has just
    made is skipped. With ``dry_run`` nothing is written. Raises OperationError when the
    conference takes no invitations (year-only dates, or already started).
    """
    refusal = invitation_refusal(conference, today)
    if refusal is not None:
        raise OperationError(refusal)
    result = InviteResult(conference_id=conference.id, dry_run=dry_run)
    invitees = _invitees(conference, today, result)
    context = _message_context(conference)
    subject = _l(
        "Invitation: %(title)s, %(dates)s",
        title=conference.title,
        dates=Later(lambda: conference.dates_text),
    )
    staff_id = staff.id if staff is not None else None
    for invitee in invitees:
        line = InviteLine(invitee.organization_name, invitee.to_addr, invitee.cc)
        if dry_run:
            result.lines.append(line)
        elif _queue_invitation(context, subject, invitee, staff, staff_id, actor):
            result.lines.append(line)
        else:
            result.skipped["invited meanwhile by another send"] += 1
    return result


def _message_context(conference: Conference) -> dict:
    """What the invitation and reminder emails say about the conference."""
    return {
        "conference_id": conference.id,
        "title": conference.title,
        # Written when each message is rendered, in its recipient's language.
        "dates": Later(lambda: conference.dates_text),
        "place": conference.place,
        "is_virtual": conference.is_virtual,
        "description": conference.description,
        "link": conference.link,
        "answer_until": Later(lambda: long_date(conference.start_date)),
        "conference_url": public_url("conferences.show", conference_id=conference.id),
    }


def answer_url(conference_id: int, organization_id: int) -> str:
    """The absolute URL of an organization's answer link (emails are built without a request)."""
    return public_url(
        "conferences.answer",
        conference_id=conference_id,
        token=answer_token(conference_id, organization_id),
    )


def _queue_invitation(context, subject, invitee: _Invitee, staff, staff_id, actor) -> bool:
    """Write the invitation and its message in one transaction; False if it exists already."""
    conference_id = context["conference_id"]
    invitation_id = db.session.execute(
        insert_ignoring_conflict(
            Invitation.__table__,
            {
                "conference_id": conference_id,
                "organization_id": invitee.organization_id,
                "invited_at": utcnow(),
                "invited_by_id": staff_id,
                "people": 0,
                "names": "",
                "answer_changes": 0,
            },
            ["conference_id", "organization_id"],
            db.session.get_bind().dialect.name,
        ).returning(Invitation.id)
    ).scalar()
    if invitation_id is None:  # another send got there first
        db.session.rollback()
        return False
    message = queue_email(
        invitee.to_addr,
        "conference_invitation",
        subject,
        cc=invitee.cc,
        language=invitee.language,
        organization_name=invitee.organization_name,
        contact_name=invitee.contact_name,
        answer_url=answer_url(conference_id, invitee.organization_id),
        **context,
    )
    db.session.flush()
    db.session.execute(
        update(Invitation)
        .where(Invitation.id == invitation_id)
        .values(outbox_message_id=message.id)
    )
    invitation = db.session.get(Invitation, invitation_id)
    record_event(
        invitation,
        "conference_invited",
        staff=staff,
        actor=actor,
        to_state="invited",
        reason=invitee.to_addr,
    )
    db.session.commit()
    return True


# --- the one reminder --------------------------------------------------------------------------


def reminder_refusal(conference: Conference, today: date) -> str | None:
    """Why the reminder to Allies who have not answered cannot be sent now, or None."""
    if conference.answers_reminded_at is not None:
        return "The reminder has already been sent; it goes out once per conference."
    if conference.has_started(today):
        return "This conference has started: answers are closed."
    return None


@operation
def remind_unanswered(conference: Conference, *, staff, today: date, actor=None) -> int:
    """Email every invited Ally that has not answered, once per conference. Commits.

    The conference is marked reminded by a conditional update, so of two simultaneous
    reminders one goes out and the other is refused. Returns how many were queued.
    """
    refusal = reminder_refusal(conference, today)
    if refusal is not None:
        raise OperationError(refusal)
    unanswered = list(
        db.session.scalars(
            db.select(Invitation)
            .where(Invitation.conference_id == conference.id, Invitation.answered_at.is_(None))
            .options(selectinload(Invitation.organization).selectinload(Organization.contacts))
            .order_by(Invitation.id)
        )
    )
    if not unanswered:
        raise OperationError("Every invited Ally has answered: there is nobody to remind.")
    now = utcnow()
    claimed = db.session.execute(
        update(Conference)
        .where(Conference.id == conference.id, Conference.answers_reminded_at.is_(None))
        .values(answers_reminded_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed != 1:
        raise OperationError("The reminder has already been sent; it goes out once per conference.")
    context = _message_context(conference)
    subject = _l("Reminder: will you join us at %(title)s?", title=conference.title)
    sent = 0
    for invitation in unanswered:
        organization = invitation.organization
        contact = organization.contact_for("primary")
        if contact is None or not contact.email:
            continue
        signatory = organization.contact_for("signatory")
        message = queue_email(
            contact.email,
            "conference_reminder",
            subject,
            language=contact.language,
            cc=[signatory.email] if signatory is not None and signatory is not contact else [],
            organization_name=organization.name,
            contact_name=contact.name,
            answer_url=answer_url(conference.id, organization.id),
            **context,
        )
        db.session.flush()
        invitation.reminded_at = now
        invitation.reminder_message_id = message.id
        sent += 1
    record_event(
        conference,
        "conference_reminder_sent",
        staff=staff,
        actor=actor,
        to_state=f"reminded {sent}",
    )
    db.session.commit()
    db.session.refresh(conference)
    return sent


# --- answers -----------------------------------------------------------------------------------


def answer_refusal(invitation: Invitation, today: date) -> str | None:
    """Why the Ally cannot (change its) answer today, or None when it can."""
    if invitation.conference.has_started(today):
        return _("The conference has started, so answers can no longer be changed.")
    return None


@operation
def save_answer(
    invitation: Invitation,
    *,
    attending: bool,
    people: int | None,
    names: str,
    today: date,
    ip: str | None = None,
) -> Invitation:
    """Record (or change) an Ally's answer to its invitation, until the conference starts.

    Commits. Not attending clears the people and names; attending needs 1..MAX_PEOPLE people.
    """
    refusal = answer_refusal(invitation, today)
    if refusal is not None:
        raise OperationError(refusal)
    names = (names or "").strip()
    if attending:
        if people is None or not 1 <= people <= MAX_PEOPLE:
            raise OperationError(
                _("Say how many people will come, from 1 to %(most)s.", most=MAX_PEOPLE)
            )
        if len(names) > NAMES_MAX:
            raise OperationError(_("Names may be at most %(most)s characters.", most=NAMES_MAX))
    else:
        people, names = 0, ""
    before = invitation.answer_text if invitation.answered_at is not None else None
    if invitation.answered_at is not None:
        invitation.answer_changes += 1
    invitation.attending = attending
    invitation.people = people
    invitation.names = names
    invitation.answered_at = utcnow()
    record_event(
        invitation,
        "conference_answered",
        # Whoever holds the invitation's link answers for the Ally: filed with Ally contacts.
        actor=f"{CONTACT_PREFIX}{invitation.organization.name} (invitation link)"[:200],
        from_state=before,
        to_state=invitation.answer_text,
        ip=ip,
    )
    db.session.commit()
    return invitation
