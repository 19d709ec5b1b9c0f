"""What the daily sweep has queued: one row per (agreement, reminder kind), runs and the lease."""

from datetime import date, datetime

from sqlalchemy import String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from allies.extensions import db
from allies.timeutil import utcnow


class Reminder(db.Model):
    """A reminder queued for an agreement; the unique pair makes each one happen once."""

    __tablename__ = "reminder"
    __table_args__ = (UniqueConstraint("agreement_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(db.ForeignKey("agreement.id"))
    kind: Mapped[str] = mapped_column(String(20))
    due_on: Mapped[date]
    queued_at: Mapped[datetime] = mapped_column(default=utcnow)
    outbox_message_id: Mapped[int | None] = mapped_column(db.ForeignKey("outbox_message.id"))

    agreement = relationship("Agreement", backref=db.backref("reminders", order_by="Reminder.id"))
    outbox_message = relationship("OutboxMessage")


class StaffDigest(db.Model):
    """The weekly staff digest, once per ISO week (keyed by the week's Monday)."""

    __tablename__ = "staff_digest"

    id: Mapped[int] = mapped_column(primary_key=True)
    week_start: Mapped[date] = mapped_column(unique=True)
    queued_at: Mapped[datetime] = mapped_column(default=utcnow)


class SweepRun(db.Model):
    """One run of the daily sweep: when, as of which day, and what it queued."""

    __tablename__ = "sweep_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    as_of: Mapped[date] = mapped_column(index=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(index=True)
    queued: Mapped[int] = mapped_column(default=0)
    summary: Mapped[str] = mapped_column(Text, default="")


class SchedulerLease(db.Model):
    """On SQLite, the row that keeps a single scheduler active (PostgreSQL uses an advisory lock)."""

    __tablename__ = "scheduler_lease"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    holder: Mapped[str] = mapped_column(String(120))
    expires_at: Mapped[datetime]
