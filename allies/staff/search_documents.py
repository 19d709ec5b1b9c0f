"""The full-text documents staff search matches on PostgreSQL, and their GIN indexes.

Kept apart from allies/staff/search.py so the models can declare the indexes without importing
the search (which imports the models). Each document is written the way PostgreSQL prints the
indexed expression back (``pg_get_indexdef``), so Alembic's autogenerate finds model and database
identical, and the queries use the very expression the index holds, which PostgreSQL requires to
use an expression index. Migration c4d8e2f6a913 created the indexes; a8bc26dae457 rebuilt them
with the accent folding below.

Case and accents are folded the same way on both databases by ``fold``: Unicode's canonical
decomposition (NFD) splits each letter from its accents, which are dropped (the combining
diacritical marks, U+0300–U+036F), and the few letters that carry a stroke in one character
(ø, ł, đ, ...) are mapped to their plain letter, so "Ética", "ética" and "etica" are one word.
On PostgreSQL the documents do this with ``normalize`` and ``regexp_replace`` (no ``unaccent``
extension needed); on SQLite, whose ``lower()`` folds ASCII only, the search calls ``fold`` itself
as the SQL function FOLD_FUNCTION (registered on every SQLite connection in allies/extensions.py).
"""

import re
import unicodedata

from sqlalchemy import Index, func, literal_column, text

FOLD_FUNCTION = "allies_fold"
_MARKS = "[\\u0300-\\u036f]"  # the combining diacritical marks, in both regex dialects
_MARKS_RE = re.compile(_MARKS)
_STROKED_FROM, _STROKED_TO = "ØøĐđĦħıŁłŦŧ", "ooddhhilltt"
_STROKED = str.maketrans(_STROKED_FROM, _STROKED_TO)


def fold(value: str | None) -> str | None:
    """``value`` lower-cased, accents dropped: as PostgreSQL's documents and SQLite's searches
    see it. None stays None (SQL NULL)."""
    if value is None or value.isascii():  # SQLite calls this on every row searched: be quick
        return value if value is None else value.lower()
    plain = _MARKS_RE.sub("", unicodedata.normalize("NFD", value))
    return plain.translate(_STROKED).lower()


def folded_sql(column):
    """``column`` folded in PostgreSQL as ``fold`` folds in Python."""
    decomposed = func.normalize(column, literal_column("NFD"))
    plain = func.regexp_replace(decomposed, _MARKS, "", "g")
    return func.lower(func.translate(plain, _STROKED_FROM, _STROKED_TO))


# Address punctuation splits words, so "equity" finds equity.example.org and "example.org" finds
# ana@example.org; the query's words are split the same way (search.py).
_SPLIT_FROM, _SPLIT_TO = "@.+-_/" + _STROKED_FROM, "      " + _STROKED_TO


def _document(fields: list[tuple[str, bool, str]]) -> str:
    """The weighted tsvector of ``fields`` ((column, is varchar, weight A–D)), as SQL text."""
    parts = [
        f"setweight(to_tsvector('simple'::regconfig, translate(regexp_replace(normalize("
        f"{column}{'::text' if varchar else ''}, NFD), '{_MARKS}'::text, ''::text, 'g'::text), "
        f"'{_SPLIT_FROM}'::text, '{_SPLIT_TO}'::text)), '{weight}'::\"char\")"
        for column, varchar, weight in fields
    ]
    document = parts[0]
    for part in parts[1:]:
        document = f"({document} || {part})"
    return document


# Column names are unqualified: the queries using a document select from its one table.
ORGANIZATION_DOCUMENT = _document(
    [
        ("name", True, "A"),
        ("website_domain", True, "B"),
        ("city", True, "C"),
        ("description", False, "D"),
    ]
)
CONTACT_DOCUMENT = _document([("name", True, "A"), ("email", True, "B")])


def search_index(name: str, document: str) -> Index:
    """A GIN index on ``document``, created on PostgreSQL only (SQLite searches with LIKE)."""
    return Index(name, text(document), postgresql_using="gin").ddl_if(dialect="postgresql")
