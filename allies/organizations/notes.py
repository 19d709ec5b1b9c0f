"""Staff notes on an organization: dated, signed, audited, never shown outside staff pages.

Notes are append-only: nobody edits or deletes one, an admin included. A note is part of the
organization's record, read later to understand a decision, and the audit log already says who
wrote what when; an edit or a deletion would have to keep the old text there to stay honest, so
it would hide nothing and only make the record harder to trust. A mistake is put right by a new
note. (A contact's erasure, allies/organizations/personal_data.py, still pseudonymises the names
and addresses a note mentions.)
"""

from wtforms import TextAreaField
from wtforms.validators import InputRequired, Length

from allies.errors import OperationError, operation
from allies.extensions import db
from allies.forms import BaseForm
from allies.organizations.models import Organization, OrganizationNote
from allies.staff.audit import record_event

NOTE_MAX = 2000
# How much of a note the audit event repeats, so the log says which note was added.
EXCERPT_LENGTH = 120
EMPTY = "Write the note before adding it."
TOO_LONG = f"A note can be at most {NOTE_MAX} characters; split a longer one in two."


class NoteForm(BaseForm):
    """A new note. Build it with ``prefix="note"``: its field must not clash with a page's others."""

    body = TextAreaField(
        "New note",
        validators=[InputRequired(EMPTY), Length(max=NOTE_MAX, message=TOO_LONG)],
        description="Staff only. Notes are kept as written: add another to correct one.",
    )


def _excerpt(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= EXCERPT_LENGTH else line[: EXCERPT_LENGTH - 1] + "…"


@operation
def add_note(organization: Organization, body: str, *, staff) -> OrganizationNote:
    """Add a note signed by ``staff`` and dated now; audited as "note_added". Commits.

    Refuses an empty note or one longer than NOTE_MAX characters (OperationError).
    """
    text = (body or "").strip()
    if not text:
        raise OperationError(EMPTY)
    if len(text) > NOTE_MAX:
        raise OperationError(TOO_LONG)
    note = OrganizationNote(
        organization=organization, staff_id=staff.id, author=staff.label, body=text
    )
    db.session.add(note)
    record_event(organization, "note_added", staff=staff, reason=_excerpt(text))
    db.session.commit()
    return note


def notes_of(organization_id: int) -> list[OrganizationNote]:
    """The notes on an organization, newest first."""
    return list(
        db.session.scalars(
            db.select(OrganizationNote)
            .where(OrganizationNote.organization_id == organization_id)
            .order_by(OrganizationNote.created_at.desc(), OrganizationNote.id.desc())
        )
    )
