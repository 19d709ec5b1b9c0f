"""Changes to the conference archive (admins)."""

from allies.conferences.models import Conference
from allies.extensions import db
from allies.staff.audit import record_event


def save_conference(conference: Conference | None, fields: dict, *, staff) -> Conference:
    """Add a conference (``conference`` None) or change one. Commits."""
    action = "conference_changed"
    if conference is None:
        conference = Conference()
        db.session.add(conference)
        action = "conference_added"
    conference.year = fields["year"]
    conference.theme = fields["theme"].strip()
    conference.place = fields["place"].strip()
    conference.attendance = (fields.get("attendance") or "").strip()
    record_event(conference, action, staff=staff, to_state=str(conference.year))
    db.session.commit()
    return conference


def delete_conference(conference: Conference, *, staff) -> None:
    """Remove a conference from the archive. Commits."""
    record_event(
        conference,
        "conference_deleted",
        staff=staff,
        from_state=str(conference.year),
        reason=conference.theme,
    )
    db.session.delete(conference)
    db.session.commit()
