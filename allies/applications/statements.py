"""The mission, vision and values texts: current versions, new versions, and what changed.

Each text is versioned in each language: a Spanish version is a ``StatementVersion`` row of its
own (``language`` "es"), numbered in the one sequence of its kind (English v1, Spanish v2, ...). A page shows the latest version in its
language, or the English one while no version exists in that language; an endorsement records
the ids of the versions shown, so it records their language too.
"""

from flask_babel import lazy_gettext as _l

from allies.applications.models import STATEMENT_KINDS, StatementVersion
from allies.extensions import db
from allies.staff.audit import record_event

# The language every text exists in, and the one shown when a page's language has none.
BASE_LANGUAGE = "en"
STATEMENT_LANGUAGES = ("en", "es")

# How pages title each text.
STATEMENT_TITLES = {
    "mission": _l("Our mission"),
    "vision": _l("Our vision"),
    "values": _l("Our values"),
}


def _latest(languages) -> list[StatementVersion]:
    """The latest version of each text in each of ``languages``."""
    latest = (
        db.select(
            StatementVersion.kind,
            StatementVersion.language,
            db.func.max(StatementVersion.version).label("v"),
        )
        .where(StatementVersion.language.in_(tuple(languages)))
        .group_by(StatementVersion.kind, StatementVersion.language)
        .subquery()
    )
    return list(
        db.session.scalars(
            db.select(StatementVersion).join(
                latest,
                (StatementVersion.kind == latest.c.kind)
                & (StatementVersion.language == latest.c.language)
                & (StatementVersion.version == latest.c.v),
            )
        )
    )


def current_statements(language: str = BASE_LANGUAGE) -> dict[str, StatementVersion]:
    """The latest version of each text in ``language``, keyed by kind; a text with no version
    in that language is its English one (missing kinds are absent)."""
    found: dict[str, StatementVersion] = {}
    for row in _latest({language, BASE_LANGUAGE}):
        if row.kind not in found or row.language == language:
            found[row.kind] = row
    return found


def latest_in(language: str) -> dict[str, StatementVersion]:
    """The latest version of each text written in ``language`` (no English fallback)."""
    return {row.kind: row for row in _latest({language})}


def current_version_ids() -> dict[str, set[int]]:
    """For each kind, the ids of its current version in every language: what may be endorsed."""
    ids: dict[str, set[int]] = {kind: set() for kind in STATEMENT_KINDS}
    for row in _latest(STATEMENT_LANGUAGES):
        ids.setdefault(row.kind, set()).add(row.id)
    return ids


def save_statement(
    kind: str, text: str, staff, language: str = BASE_LANGUAGE
) -> StatementVersion | None:
    """Make ``text`` the new version of ``kind`` in ``language``; nothing happens if the text
    is unchanged.

    Old versions stay, so every endorsement keeps the exact words it endorsed. Commits.
    """
    if kind not in STATEMENT_KINDS:
        raise ValueError(kind)
    if language not in STATEMENT_LANGUAGES:
        raise ValueError(language)
    text = text.strip()
    current = next((row for row in _latest({language}) if row.kind == kind), None)
    if current is not None and current.text == text:
        return None
    last = db.session.scalar(
        db.select(db.func.max(StatementVersion.version)).where(StatementVersion.kind == kind)
    )
    version = StatementVersion(
        kind=kind,
        language=language,
        version=(last or 0) + 1,
        text=text,
        created_by_id=staff.id if staff is not None else None,
    )
    db.session.add(version)
    label = f"{kind} v{version.version}" + ("" if language == BASE_LANGUAGE else f" ({language})")
    record_event(version, "statement_saved", staff=staff, to_state=label)
    db.session.commit()
    return version


def changes_since(
    endorsement, language: str = BASE_LANGUAGE
) -> dict[str, tuple[StatementVersion | None, StatementVersion]]:
    """For each text changed since ``endorsement``: (version endorsed, version shown now).

    Like is compared with like: a version endorsed in one language counts as changed when a
    newer version exists in that same language, so reading the Spanish text of an unchanged
    English one (or the other way round) is no change.
    """
    shown = current_statements(language)
    latest = {(row.kind, row.language): row for row in _latest(STATEMENT_LANGUAGES)}
    changed = {}
    for kind in STATEMENT_KINDS:
        endorsed = endorsement.version_of(kind) if endorsement is not None else None
        now = shown.get(kind)
        if now is None:
            continue
        if endorsed is None:
            changed[kind] = (None, now)
            continue
        same_language = latest.get((kind, endorsed.language))
        if same_language is not None and same_language.id != endorsed.id:
            changed[kind] = (endorsed, now)
    return changed


def statement_history(kind: str, language: str = BASE_LANGUAGE) -> list[StatementVersion]:
    """Every version of ``kind`` in ``language``, newest first."""
    return list(
        db.session.scalars(
            db.select(StatementVersion)
            .where(StatementVersion.kind == kind, StatementVersion.language == language)
            .order_by(StatementVersion.version.desc())
        )
    )
