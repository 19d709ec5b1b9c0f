"""Applications and renewals, the versioned mission/vision/values texts, and endorsements."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from allies.extensions import db
from allies.timeutil import utcnow

STATEMENT_KINDS = ("mission", "vision", "values")


class ApplicationState(StrEnum):
    """Where an application or renewal stands (see DESIGN.md, Lifecycle)."""

    SUBMITTED = "submitted"
    INFO_REQUESTED = "info_requested"
    APPROVED = "approved"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"


class ApplicationKind(StrEnum):
    """A request to become an Ally, or to renew an agreement."""

    NEW = "new"
    RENEWAL = "renewal"


# Waiting for a decision.
OPEN_STATES = (ApplicationState.SUBMITTED, ApplicationState.INFO_REQUESTED)
# Decided by staff or withdrawn by the applicant.
CLOSED_STATES = (ApplicationState.APPROVED, ApplicationState.DECLINED, ApplicationState.WITHDRAWN)


class StatementVersion(db.Model):
    """One version of the mission, vision or values text in one language; an edit adds a
    version. A kind's versions are numbered in one sequence whatever their language, so a number
    names one text in one language."""

    __tablename__ = "statement_version"
    __table_args__ = (UniqueConstraint("kind", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    # "en", or "es" for the Spanish text (allies/applications/statements.py).
    language: Mapped[str] = mapped_column(String(8), default="en", server_default="en")
    version: Mapped[int]
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(db.ForeignKey("staff_user.id"))

    created_by = relationship("StaffUser")


class Application(db.Model):
    """A request to become an Ally (kind ``new``) or to renew an agreement (kind ``renewal``)."""

    __tablename__ = "application"
    __table_args__ = (
        Index("ix_application_state_submitted", "state", "submitted_at"),
        # At most one renewal waiting per agreement, even when two are sent at once.
        Index(
            "uq_application_open_renewal",
            "renews_agreement_id",
            unique=True,
            sqlite_where=text("state IN ('submitted', 'info_requested')"),
            postgresql_where=text("state IN ('submitted', 'info_requested')"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), default=ApplicationKind.NEW)
    organization_id: Mapped[int] = mapped_column(db.ForeignKey("organization.id"), index=True)
    contact_id: Mapped[int | None] = mapped_column(db.ForeignKey("contact.id"))
    renews_agreement_id: Mapped[int | None] = mapped_column(db.ForeignKey("agreement.id"))
    state: Mapped[str] = mapped_column(String(20), default=ApplicationState.SUBMITTED)
    support_statement: Mapped[str] = mapped_column(Text, default="")
    submitted_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(default=None)
    decided_by_id: Mapped[int | None] = mapped_column(db.ForeignKey("staff_user.id"))
    decision_reason: Mapped[str] = mapped_column(Text, default="")
    duplicate_of_id: Mapped[int | None] = mapped_column(db.ForeignKey("organization.id"))
    duplicate_reason: Mapped[str] = mapped_column(String(200), default="")
    # A renewal's profile changes, published only when staff approve it: {field: new value}.
    proposed_profile: Mapped[dict | None] = mapped_column(db.JSON(none_as_null=True), default=None)

    organization = relationship("Organization", foreign_keys=[organization_id])
    contact = relationship("Contact")
    duplicate_of = relationship("Organization", foreign_keys=[duplicate_of_id])
    decided_by = relationship("StaffUser")
    renews_agreement = relationship("Agreement", foreign_keys=[renews_agreement_id])
    endorsement = relationship("Endorsement", uselist=False, back_populates="application")
    messages = relationship(
        "ApplicationMessage", order_by="ApplicationMessage.id", back_populates="application"
    )

    @property
    def is_open(self) -> bool:
        """Not yet decided or withdrawn."""
        return self.state in OPEN_STATES


class Endorsement(db.Model):
    """Who endorsed which versions of the mission, vision and values, when and from where."""

    __tablename__ = "endorsement"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(db.ForeignKey("application.id"), unique=True)
    mission_version_id: Mapped[int] = mapped_column(db.ForeignKey("statement_version.id"))
    vision_version_id: Mapped[int] = mapped_column(db.ForeignKey("statement_version.id"))
    values_version_id: Mapped[int] = mapped_column(db.ForeignKey("statement_version.id"))
    signer_name: Mapped[str] = mapped_column(String(200))
    signer_title: Mapped[str] = mapped_column(String(200))
    signer_email: Mapped[str] = mapped_column(String(254))
    signed_at: Mapped[datetime] = mapped_column(default=utcnow)
    ip: Mapped[str | None] = mapped_column(String(64))
    # Set when staff record a signed paper agreement on the Ally's behalf.
    recorded_by_id: Mapped[int | None] = mapped_column(db.ForeignKey("staff_user.id"))
    # Made before the alliance used Allies (a roster import): signed_at is the import time.
    before_allies: Mapped[bool] = mapped_column(default=False)

    application = relationship("Application", back_populates="endorsement")
    mission_version = relationship("StatementVersion", foreign_keys=[mission_version_id])
    vision_version = relationship("StatementVersion", foreign_keys=[vision_version_id])
    values_version = relationship("StatementVersion", foreign_keys=[values_version_id])
    recorded_by = relationship("StaffUser")

    def version_of(self, kind: str) -> "StatementVersion":
        """The endorsed version of ``kind`` (mission, vision or values)."""
        return getattr(self, f"{kind}_version")


class ApplicationMessage(db.Model):
    """A staff question or an applicant's answer on an application."""

    __tablename__ = "application_message"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(db.ForeignKey("application.id"), index=True)
    author: Mapped[str] = mapped_column(String(20))  # "staff" or "applicant"
    staff_id: Mapped[int | None] = mapped_column(db.ForeignKey("staff_user.id"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    application = relationship("Application", back_populates="messages")
    staff = relationship("StaffUser")
