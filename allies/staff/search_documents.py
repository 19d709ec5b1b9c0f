"""The full-text documents staff search matches on PostgreSQL, and their GIN indexes.

Kept apart from allies/staff/search.py so the models can declare the indexes without importing
the search (which imports the models). Each document is written the way PostgreSQL prints the
indexed expression back (``pg_get_indexdef``), so Alembic's autogenerate finds model and database
identical, and the queries use the very expression the index holds, which PostgreSQL requires to
use an expression index. Migration c4d8e2f6a913 creates the indexes with this text.
"""

from sqlalchemy import Index, text

# Address punctuation splits words, so "equity" finds equity.example.org and "example.org" finds
# ana@example.org; the query's words are split the same way (search.py).
_SPLIT_FROM, _SPLIT_TO = "@.+-_/", "      "


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
