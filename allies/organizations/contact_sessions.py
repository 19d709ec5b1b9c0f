"""Ending an Ally contact's sessions (the cookie side of a session is in allies/sessions.py)."""

from allies.extensions import db
from allies.organizations.models import Contact


def end_contact_sessions(contact: Contact) -> None:
    """Sign ``contact`` out everywhere: every session cookie issued before stops working. Commits."""
    contact.end_sessions()
    db.session.commit()
