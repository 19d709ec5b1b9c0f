"""The full-text documents staff search matches on PostgreSQL, and their GIN indexes.

Kept apart from allies/staff/search.py so the models can declare the indexes without importing
the search (which imports the models). Each document is written the way PostgreSQL prints the
indexed expression back (``pg_get_indexdef``), so Alembic's autogenerate finds model and database
identical, and the queries use the very expression the index holds, which PostgreSQL requires to
use an expression index. Migration c4d8e2f6a913 created the indexes; a8bc26dae457 rebuilt them
with the accent folding below.

Case and accents are folded the same way on both databases by ``fold``: Latin letters with
diacritics become their plain lower-case letter ("Ética" and "etica" are one word), so a name is
found however staff type its accents. On PostgreSQL the documents ``translate`` those letters
(no ``unaccent`` extension needed); on SQLite, whose ``lower()`` folds ASCII only, the search
calls ``fold`` itself as the SQL function FOLD_FUNCTION (registered on every SQLite connection in
allies/extensions.py).
"""

import unicodedata

from sqlalchemy import Index, text

FOLD_FUNCTION = "allies_fold"

# Letters that need the same folding on every database and no PostgreSQL extension: the
# Latin-1 Supplement and Latin Extended-A letters (French, Spanish, Portuguese, German, Nordic,
# Polish, Czech, Turkish, ...), each mapped to one plain letter so a text keeps its length and a
# match found in the folded text marks the same characters in the original.
_NO_DECOMPOSITION = {"Ø": "o", "ø": "o", "Đ": "d", "đ": "d", "Ħ": "h", "ħ": "h", "ı": "i"}
_NO_DECOMPOSITION |= {"Ł": "l", "ł": "l", "Ŧ": "t", "ŧ": "t"}


def _fold_letters() -> tuple[str, str]:
    source, target = [], []
    for code in range(0xC0, 0x180):
        letter = chr(code)
        decomposed = unicodedata.normalize("NFKD", letter)
        plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()
        plain = _NO_DECOMPOSITION.get(letter, plain)
        if len(plain) == 1 and plain.isascii() and plain.isalpha():
            source.append(letter)
            target.append(plain)
    return "".join(source), "".join(target)


FOLD_FROM, FOLD_TO = _fold_letters()
_FOLD_TABLE = str.maketrans(FOLD_FROM, FOLD_TO)


def fold(value: str | None) -> str | None:
    """``value`` lower-cased with accents dropped from Latin letters, keeping its length.

    A character whose lower case is longer (Turkish "İ") keeps its case, so positions found in
    the folded text are positions in ``value``. None stays None (SQL NULL).
    """
    if value is None:
        return None
    lowered = "".join(ch if len(low := ch.lower()) != 1 else low for ch in value)
    return lowered.translate(_FOLD_TABLE)


# Address punctuation splits words, so "equity" finds equity.example.org and "example.org" finds
# ana@example.org; the query's words are split the same way (search.py).
_SPLIT_FROM, _SPLIT_TO = "@.+-_/" + FOLD_FROM, "      " + FOLD_TO


def _document(fields: list[tuple[str, bool, str]]) -> str:
    """The weighted tsvector of ``fields`` ((column, is varchar, weight A–D)), as SQL text."""
    parts = [
        f"setweight(to_tsvector('simple'::regconfig, translate({column}{'::text' if varchar else ''}, "
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
