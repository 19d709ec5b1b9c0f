"""Agreements: the two-year terms an Ally holds."""

from datetime import date, datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from allies.extensions import db
from allies.timeutil import utcnow


class Agreement(db.Model):
    """One two-year term; its status is derived from its dates and decisions (see terms.py)."""

    __tablename__ = "agreement"
    # "Is this organization listed today?" (standing.listed_clause, per organization on the
    # public lists) answered from the index alone, without reading the agreement's row.
    __table_args__ = (
        db.Index(
            "ix_agreement_listing", "organization_id", "end_date", "start_date", "terminated_on"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(db.ForeignKey("organization.id"), index=True)
    # One agreement per approval: a second approval of the same application cannot insert.
    application_id: Mapped[int | None] = mapped_column(
        db.ForeignKey("application.id", use_alter=True), unique=True
    )
    previous_id: Mapped[int | None] = mapped_column(db.ForeignKey("agreement.id"), unique=True)
    start_date: Mapped[date]
    end_date: Mapped[date] = mapped_column(index=True)
    terminated_on: Mapped[date | None] = mapped_column(default=None)
    termination_reason: Mapped[str] = mapped_column(Text, default="")
    terminated_by_id: Mapped[int | None] = mapped_column(db.ForeignKey("staff_user.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(db.ForeignKey("staff_user.id"))
    note: Mapped[str] = mapped_column(String(300), default="")

    organization = relationship("Organization", backref="agreements")
    application = relationship("Application", foreign_keys=[application_id])
    previous = relationship(
        "Agreement", remote_side=[id], backref=db.backref("successor", uselist=False)
    )
    terminated_by = relationship("StaffUser", foreign_keys=[terminated_by_id])
    created_by = relationship("StaffUser", foreign_keys=[created_by_id])
