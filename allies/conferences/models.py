"""Conferences, and the invitations (with the Allies' answers) sent for them."""

from datetime import date, datetime

from sqlalchemy import String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from allies.extensions import db
from allies.i18n import date_range
from allies.timeutil import utcnow

# Bounds on what an Ally may answer: people coming, and the length of their names.
MAX_PEOPLE = 50
NAMES_MAX = 1000


class Conference(db.Model):
    """A conference: its theme (title), place, dates, description, link and attendance.

    Old records know only the year: their dates are 1 January to 31 December of it, flagged
    ``dates_year_only`` so pages show just the year. Past or upcoming is decided by the end date
    (``has_ended``), in the alliance's calendar.
    """

    __tablename__ = "conference"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    # "City, country", or "Virtual": free text, kept as the records have it.
    place: Mapped[str] = mapped_column(String(200))
    start_date: Mapped[date] = mapped_column(index=True)
    end_date: Mapped[date] = mapped_column(index=True)
    dates_year_only: Mapped[bool] = mapped_column(default=False)
    description: Mapped[str] = mapped_column(Text, default="")
    link: Mapped[str] = mapped_column(String(500), default="")
    attendance: Mapped[str] = mapped_column(String(60), default="")
    # Set once, by the one reminder to Allies who have not answered (see remind_unanswered).
    answers_reminded_at: Mapped[datetime | None] = mapped_column(default=None)

    @property
    def year(self) -> int:
        """The year the conference starts in."""
        return self.start_date.year

    @property
    def is_virtual(self) -> bool:
        """Held online rather than in a place."""
        return self.place.strip().lower() == "virtual"

    def has_started(self, today: date) -> bool:
        """Whether the conference's first day is ``today`` or behind it."""
        return self.start_date <= today

    def has_ended(self, today: date) -> bool:
        """Whether the conference's last day is behind ``today``: it is in the archive."""
        return self.end_date < today

    @property
    def dates_text(self) -> str:
        """The dates as pages and emails show them: "2016", "14 March 2027",
        "14–16 March 2027", "30 March – 1 April 2027"."""
        if self.dates_year_only:
            return str(self.start_date.year)
        return date_range(self.start_date, self.end_date)  # in the reader's language


class Invitation(db.Model):
    """One Ally invited to one conference, and its answer.

    Unique on (conference, organization): two staff pressing "Invite" at once, or a second
    send after more Allies joined, can never invite an organization twice.
    """

    __tablename__ = "conference_invitation"
    __table_args__ = (UniqueConstraint("conference_id", "organization_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    conference_id: Mapped[int] = mapped_column(db.ForeignKey("conference.id"), index=True)
    organization_id: Mapped[int] = mapped_column(db.ForeignKey("organization.id"), index=True)
    invited_at: Mapped[datetime] = mapped_column(default=utcnow)
    invited_by_id: Mapped[int | None] = mapped_column(db.ForeignKey("staff_user.id"))
    outbox_message_id: Mapped[int | None] = mapped_column(db.ForeignKey("outbox_message.id"))
    reminded_at: Mapped[datetime | None] = mapped_column(default=None)
    reminder_message_id: Mapped[int | None] = mapped_column(db.ForeignKey("outbox_message.id"))
    # The answer: None until the Ally answers.
    attending: Mapped[bool | None] = mapped_column(default=None)
    people: Mapped[int] = mapped_column(default=0)
    names: Mapped[str] = mapped_column(Text, default="")
    answered_at: Mapped[datetime | None] = mapped_column(default=None)
    # How many times an answer was changed after the first.
    answer_changes: Mapped[int] = mapped_column(default=0)

    conference = relationship("Conference")
    organization = relationship("Organization")
    outbox_message = relationship("OutboxMessage", foreign_keys=[outbox_message_id])

    @property
    def answer_text(self) -> str:
        """The answer in words, for pages, CSV and the audit log."""
        if self.answered_at is None:
            return "not answered"
        if not self.attending:
            return "not attending"
        return f"attending, {self.people} {'person' if self.people == 1 else 'people'}"
