"""The mission, vision and values texts: current versions, new versions, and what changed."""

from allies.applications.models import STATEMENT_KINDS, StatementVersion
from allies.extensions import db
from allies.staff.audit import record_event


def current_statements() -> dict[str, StatementVersion]:
    """The latest version of each text, keyed by kind (missing kinds are absent)."""
    latest = (
        db.select(StatementVersion.kind, db.func.max(StatementVersion.version).label("v"))
        .group_by(StatementVersion.kind)
        .subquery()
    )
    rows = db.session.scalars(
        db.select(StatementVersion).join(
            latest,
            (StatementVersion.kind == latest.c.kind) & (StatementVersion.version == latest.c.v),
        )
    )
    return {row.kind: row for row in rows}


def save_statement(kind: str, text: str, staff) -> StatementVersion | None:
    """Make ``text`` the new version of ``kind``; nothing happens if the text is unchanged.

    Old versions stay, so every endorsement keeps the exact words it endorsed. Commits.
    """
    if kind not in STATEMENT_KINDS:
        raise ValueError(kind)
    text = text.strip()
    current = current_statements().get(kind)
    if current is not None and current.text == text:
        return None
    version = StatementVersion(
        kind=kind,
        version=(current.version + 1) if current else 1,
        text=text,
        created_by_id=staff.id if staff is not None else None,
    )
    db.session.add(version)
    record_event(version, "statement_saved", staff=staff, to_state=f"{kind} v{version.version}")
    db.session.commit()
    return version


def changes_since(endorsement) -> dict[str, tuple[StatementVersion, StatementVersion]]:
    """For each text changed since ``endorsement``: (version endorsed, current version)."""
    current = current_statements()
    changed = {}
    for kind in STATEMENT_KINDS:
        endorsed = endorsement.version_of(kind) if endorsement is not None else None
        now = current.get(kind)
        if now is not None and (endorsed is None or endorsed.id != now.id):
            changed[kind] = (endorsed, now)
    return changed


def statement_history(kind: str) -> list[StatementVersion]:
    """Every version of ``kind``, newest first."""
    return list(
        db.session.scalars(
            db.select(StatementVersion)
            .where(StatementVersion.kind == kind)
            .order_by(StatementVersion.version.desc())
        )
    )
