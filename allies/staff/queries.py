"""Reads about staff."""

from allies.extensions import db
from allies.staff.models import StaffUser
from allies.staff.settings import get_setting


def staff_recipients() -> list[str]:
    """Who gets staff notifications and the digest: the configured address, else every enabled
    staff member."""
    configured = (get_setting("staff_digest_email") or "").strip()
    if configured:
        return [configured]
    return list(
        db.session.scalars(
            db.select(StaffUser.email).where(StaffUser.is_enabled).order_by(StaffUser.id)
        )
    )
