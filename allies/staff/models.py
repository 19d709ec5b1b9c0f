"""Staff accounts, the audit trail and alliance-wide settings."""

import json
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.security import check_password_hash, generate_password_hash

from allies.extensions import db
from allies.timeutil import utcnow

ROLES = ("reviewer", "admin")


class StaffUser(UserMixin, db.Model):
    """A member of staff who signs in with email and password."""

    __tablename__ = "staff_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20), default="reviewer")
    is_enabled: Mapped[bool] = mapped_column(default=True)
    # Bumped on sign-out and disabling so every cookie issued before stops working.
    session_version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(default=None)

    def set_password(self, password: str) -> None:
        """Store a Werkzeug hash of ``password``."""
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        """Whether ``password`` matches the stored hash."""
        return check_password_hash(self.password_hash, password)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def is_active(self) -> bool:  # Flask-Login refuses disabled accounts through this.
        return self.is_enabled

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"

    @property
    def label(self) -> str:
        return self.name or self.email


class AuditEvent(db.Model):
    """One change of state: who, when, from what, to what, why."""

    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_event_subject", "subject_type", "subject_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    staff_id: Mapped[int | None] = mapped_column(db.ForeignKey("staff_user.id"))
    actor: Mapped[str] = mapped_column(String(300))
    subject_type: Mapped[str] = mapped_column(String(40))
    subject_id: Mapped[int]
    action: Mapped[str] = mapped_column(String(60))
    from_state: Mapped[str | None] = mapped_column(String(40))
    to_state: Mapped[str | None] = mapped_column(String(40))
    reason: Mapped[str] = mapped_column(Text, default="")
    ip: Mapped[str | None] = mapped_column(String(64))
    # An edit's changed fields: {field: [before, after]}.
    changes: Mapped[dict | None] = mapped_column(db.JSON(none_as_null=True), default=None)

    staff = db.relationship("StaffUser")


class Setting(db.Model):
    """An alliance-wide setting editable by admins, stored as JSON."""

    __tablename__ = "setting"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    value_json: Mapped[str] = mapped_column(Text)

    @property
    def value(self):
        return json.loads(self.value_json)
