"""Staff search: organizations, applications and contacts by name, email, website domain or city.

One function, ``search(text)``, used by the search page; it reads only. Organizations match on
their name, website domain, city and description; contacts on their name and email (an erased
contact holds pseudonyms and is never found). An organization that holds or held an agreement is
shown as an organization (its staff page), one that only applied as an application (its newest
application's review page).

On PostgreSQL the words are matched by full-text search: each word a prefix (``'word':*``) of a
word of the fields, all words required, ranked by ``ts_rank`` with the name weighted highest.
The documents searched are the SQL expressions of allies/staff/search_documents.py, and
migration a8bc26dae457 builds a GIN index on exactly these expressions (tests/staff/test_search.py
checks that the two agree and that PostgreSQL uses the index). On SQLite each word must occur in
some field (``LIKE`` with ``%`` and ``_`` escaped), ranked by the field it occurs in and whether
the field starts with it.

On both databases case and accents do not matter ("etica" finds "Ética Médica"; see ``fold`` in
search_documents.py), and a web address typed or pasted ("https://www.example.org/about") is
searched as the domain organizations are matched on ("example.org").
"""

import re
import unicodedata
from dataclasses import dataclass

from sqlalchemy import and_, case, func, literal, literal_column, or_
from sqlalchemy.orm import selectinload

from allies.agreements.models import Agreement
from allies.applications.models import Application
from allies.extensions import db
from allies.organizations.models import Contact, Organization
from allies.organizations.profile import website_domain
from allies.staff.search_documents import (
    CONTACT_DOCUMENT,
    FOLD_FUNCTION,
    ORGANIZATION_DOCUMENT,
    fold,
    folded_sql,
)

MIN_LENGTH = 2  # shorter queries are answered with a message, not searched
MAX_LENGTH = 200  # longer input is cut here
MAX_WORDS = 8
MAX_WORD_LENGTH = 60  # PostgreSQL refuses words of 2 KB and more; no real word is this long
LIMIT = 50
SNIPPET_BEFORE, SNIPPET_AFTER = 40, 100  # characters of a long field kept around its match

# What each kind shows as its matching field, in order of preference, and the SQLite score of a
# word at the start of the field (the next lower score: anywhere in it).
ORGANIZATION_FIELDS = (
    ("name", "name", 9),
    ("website", "website_domain", 7),
    ("city", "city", 5),
    ("description", "description", 3),
)
CONTACT_FIELDS = (("name", "name", 9), ("email", "email", 7))


@dataclass(frozen=True)
class Segment:
    """A piece of a shown field; ``match`` pieces are what the query matched (shown marked)."""

    text: str
    match: bool


@dataclass(frozen=True)
class Hit:
    """One result: what it is, where it leads, and the field that matched."""

    kind: str  # "organization", "application" or "contact"
    title: str
    context: str  # the organization (for a contact) or its place
    field: str  # "name", "email", "website", "city" or "description"
    segments: tuple[Segment, ...]
    organization_id: int
    application_id: int | None  # set when the hit leads to an application's review page
    state: str | None  # that application's state
    score: float


@dataclass(frozen=True)
class Results:
    """The answer to one query: hits best first, whether more matched, or why none was sought."""

    query: str
    hits: list[Hit]
    more: bool = False
    message: str | None = None  # set when no search was made


def clean_query(text: str) -> str:
    """The query as searched: control characters dropped, spaces collapsed, at most MAX_LENGTH."""
    text = "".join(" " if unicodedata.category(ch).startswith("C") else ch for ch in text or "")
    return " ".join(text.split())[:MAX_LENGTH].strip()


# A word staff typed or pasted as a web address: a scheme, a leading "www." or a host with a path.
_WEB_ADDRESS = re.compile(r"(?i)(?:https?:/*|www\.|[^\s/@:]+\.[^\s/@:]+(?::\d*)?/)")


def _as_domain(word: str) -> str:
    """``word``, or the website domain it names when it looks like a web address.

    Organizations are matched on their website's domain (no scheme, no ``www.``, no path; see
    website_domain), so "https://www.example.org/about" must be searched as "example.org". An
    email address is left whole: its user part is not a host. A scheme with no host is nothing.
    """
    if "@" in word or not _WEB_ADDRESS.match(word):
        return word
    address = word if "://" in word else "https://" + word.split(":/", 1)[-1].lstrip("/")
    try:
        return website_domain(address)
    except ValueError:  # e.g. an unclosed "[" of an IPv6 address: not a domain to look for
        return ""


def _query_words(query: str) -> list[str]:
    """The query's space-separated words, web addresses reduced to their domains."""
    return [word for word in (_as_domain(word) for word in query.split()) if word]


def _postgres_words(query: str) -> list[str]:
    """The query's words as full-text search sees them: letters and digits, folded."""
    text = fold(" ".join(_query_words(query)))
    return [word[:MAX_WORD_LENGTH] for word in re.findall(r"[^\W_]+", text)][:MAX_WORDS]


def _sqlite_words(query: str) -> list[str]:
    """The query's words for LIKE: split on spaces only, so "first_last" or "50%" stay whole."""
    return [fold(word)[:MAX_WORD_LENGTH] for word in _query_words(query)][:MAX_WORDS]


def tsquery_text(words: list[str]) -> str:
    """``'w1':* & 'w2':*``: every word required, each as a prefix.

    The words hold letters and digits only (see _postgres_words), so no quote or operator of
    the tsquery syntax can come from the user; the text is still sent as a bound parameter.
    """
    return " & ".join(f"'{word}':*" for word in words)


def _escape_like(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _folded(column, postgres: bool):
    """``column`` folded in SQL as ``fold`` folds the query (SQLite's lower() is ASCII only)."""
    if postgres:
        return folded_sql(column)
    return getattr(func, FOLD_FUNCTION)(column)


def _contains(column, word: str):
    return _folded(column, False).like(f"%{_escape_like(word)}%", escape="\\")


def _starts(column, word: str):
    return _folded(column, False).like(f"{_escape_like(word)}%", escape="\\")


def _sqlite_match(model, fields, words: list[str]):
    """(where, score) for LIKE: every word in some field; a word scores by its best field."""
    columns = [getattr(model, column) for _label, column, _score in fields]
    where = and_(*[or_(*[_contains(column, word) for column in columns]) for word in words])
    score = literal(0)
    for word in words:
        whens = []
        for (_label, _column, top), attribute in zip(fields, columns, strict=True):
            whens += [(_starts(attribute, word), top), (_contains(attribute, word), top - 1)]
        score = score + case(*whens, else_=0)
    return where, score


def _postgres_match(document: str, words: list[str]):
    """(where, score) for full-text search on the indexed ``document``."""
    vector = literal_column(document)
    query = func.to_tsquery(literal_column("'simple'"), tsquery_text(words))
    return vector.op("@@")(query), func.ts_rank(vector, query)


def _matcher(words: list[str], postgres: bool):
    """A regular expression finding the words in a folded field as the database matched them."""
    alternatives = "|".join(re.escape(word) for word in sorted(words, key=len, reverse=True))
    # Full-text search matches the start of a word; LIKE matches anywhere.
    prefix = r"(?<![^\W_])" if postgres else ""
    return re.compile(f"{prefix}(?:{alternatives})")


def _folded_spans(value: str, matcher) -> list[tuple[int, int]]:
    """Where ``matcher`` finds the words in ``value`` folded, as spans of ``value`` itself.

    Folding drops accents (one character of ``value`` may fold to none or several), so each
    character is folded alone and every folded position remembers the character it came from.
    """
    if value.isascii():  # the usual case: one folded character for each
        return [m.span() for m in matcher.finditer(value.lower()) if m.end() > m.start()]
    pieces, origin = [], []
    for index, character in enumerate(value):
        piece = fold(character)
        pieces.append(piece)
        origin += [index] * len(piece)
    folded = "".join(pieces)
    return [
        (origin[m.start()], origin[m.end() - 1] + 1)
        for m in matcher.finditer(folded)
        if m.end() > m.start()
    ]


def _segments(value: str, matcher) -> tuple[int, tuple[Segment, ...]]:
    """How many matches ``value`` holds, and its text cut into marked and unmarked pieces
    (a long text is cut to a window around its first match). The words are found in the folded
    text and marked in ``value`` as it was written."""
    spans = _folded_spans(value, matcher)
    if not spans:
        return 0, ()
    start, end = 0, len(value)
    if len(value) > SNIPPET_BEFORE + SNIPPET_AFTER:
        start = max(0, spans[0][0] - SNIPPET_BEFORE)
        end = min(len(value), spans[0][0] + SNIPPET_AFTER)
    pieces, cursor = [], start
    if start > 0:
        pieces.append(Segment("…", False))
    for span_start, span_end in spans:
        if span_start < cursor or span_end > end:
            continue
        if span_start > cursor:
            pieces.append(Segment(value[cursor:span_start], False))
        pieces.append(Segment(value[span_start:span_end], True))
        cursor = span_end
    if cursor < end:
        pieces.append(Segment(value[cursor:end], False))
    if end < len(value):
        pieces.append(Segment("…", False))
    return len(spans), tuple(pieces)


def _matching_field(row, fields, matcher) -> tuple[str, tuple[Segment, ...]]:
    """The field that shows why ``row`` was found: the one with most matches, earliest first."""
    best = (0, fields[0][0], (Segment(getattr(row, fields[0][1]) or "", False),))
    for label, column, _score in fields:
        count, pieces = _segments(getattr(row, column) or "", matcher)
        if count > best[0]:
            best = (count, label, pieces)
    return best[1], best[2]


def _destinations(organization_ids: set[int]) -> dict[int, Application | None]:
    """For each organization: None when it holds or held an agreement (its staff page), else
    its newest application (its review page)."""
    if not organization_ids:
        return {}
    with_terms = set(
        db.session.scalars(
            db.select(Agreement.organization_id)
            .where(Agreement.organization_id.in_(organization_ids))
            .distinct()
        )
    )
    newest = (
        db.select(func.max(Application.id))
        .where(Application.organization_id.in_(organization_ids - with_terms))
        .group_by(Application.organization_id)
    )
    applications = {
        application.organization_id: application
        for application in db.session.scalars(
            db.select(Application).where(Application.id.in_(newest))
        )
    }
    return {org_id: applications.get(org_id) for org_id in organization_ids}


def search(text: str, *, limit: int | None = None) -> Results:
    """Organizations, applications and contacts matching ``text``, best first, at most ``limit``.

    A query shorter than MIN_LENGTH characters, or with nothing searchable in it, is not run:
    the result carries a message instead.
    """
    limit = LIMIT if limit is None else limit
    query = clean_query(text)
    if len(query) < MIN_LENGTH:
        return Results(query, [], message=f"Type at least {MIN_LENGTH} characters to search.")
    postgres = db.session.get_bind().dialect.name == "postgresql"
    words = _postgres_words(query) if postgres else _sqlite_words(query)
    if not words:
        return Results(
            query, [], message="Type part of a name, an email, a website or a city to search."
        )

    if postgres:
        org_where, org_score = _postgres_match(ORGANIZATION_DOCUMENT, words)
        contact_where, contact_score = _postgres_match(CONTACT_DOCUMENT, words)
        exact_bonus = 1.0
    else:
        org_where, org_score = _sqlite_match(Organization, ORGANIZATION_FIELDS, words)
        contact_where, contact_score = _sqlite_match(Contact, CONTACT_FIELDS, words)
        exact_bonus = 100
    # The exact name typed comes first, whatever else matched (accents and case aside).
    org_score = org_score + case(
        (_folded(Organization.name, postgres) == fold(query), exact_bonus), else_=0
    )
    contact_score = contact_score + case(
        (_folded(Contact.name, postgres) == fold(query), exact_bonus), else_=0
    )

    organizations = db.session.execute(
        db.select(Organization, org_score.label("score"))
        .where(org_where)
        .order_by(org_score.desc(), Organization.name, Organization.id)
        .limit(limit + 1)
    ).all()
    contacts = db.session.execute(
        db.select(Contact, contact_score.label("score"))
        .options(selectinload(Contact.organization))
        .where(contact_where, Contact.erased_at.is_(None))
        .order_by(contact_score.desc(), Contact.name, Contact.id)
        .limit(limit + 1)
    ).all()

    destinations = _destinations(
        {org.id for org, _score in organizations} | {c.organization_id for c, _score in contacts}
    )
    matcher = _matcher(words, postgres)
    hits = []
    for org, score in organizations:
        field, segments = _matching_field(org, ORGANIZATION_FIELDS, matcher)
        hits.append(_hit(org, org.name, org.place, field, segments, destinations, score, 0))
    for contact, score in contacts:
        field, segments = _matching_field(contact, CONTACT_FIELDS, matcher)
        org = contact.organization
        context = org.name + ("" if contact.is_enabled else " (a former contact)")
        hits.append(_hit(org, contact.name, context, field, segments, destinations, score, 1))
    hits.sort(key=lambda hit: (-hit.score, hit.kind == "contact", hit.title.lower()))
    return Results(query, hits[:limit], more=len(hits) > limit)


def _hit(org, title, context, field, segments, destinations, score, is_contact) -> Hit:
    application = destinations.get(org.id)
    kind = "contact" if is_contact else ("application" if application else "organization")
    return Hit(
        kind=kind,
        title=title,
        context=context,
        field=field,
        segments=segments,
        organization_id=org.id,
        application_id=application.id if application else None,
        state=application.state if application else None,
        score=float(score or 0),
    )
