"""Staff search: fold accents in the full-text documents (PostgreSQL only)

Rebuilds the two GIN indexes of c4d8e2f6a913 on the documents of
allies/staff/search_documents.py as they now are: each field is decomposed (``normalize`` to
NFD), its combining accents (U+0300-U+036F) dropped and its few stroked letters (ø, ł, đ, ...)
translated beside the address punctuation, so "etica" finds "Ética" without the ``unaccent``
extension. The expressions are a frozen copy of the documents' (tests/staff/test_search.py
checks that they agree). SQLite has no such index: the search folds there with a function
registered on each connection.

Revision ID: a8bc26dae457
Revises: e6fa04b8c235
Create Date: 2026-11-27 09:00:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'a8bc26dae457'
down_revision = 'e6fa04b8c235'
branch_labels = None
depends_on = None

MARKS = '[\\u0300-\\u036f]'
PUNCTUATION_FROM, PUNCTUATION_TO = '@.+-_/', '      '
STROKED_FROM, STROKED_TO = 'ØøĐđĦħıŁłŦŧ', 'ooddhhilltt'


def _plain(column, split_from, split_to):
    return f"translate({column}, '{split_from}'::text, '{split_to}'::text)"


def _folded(column, split_from, split_to):
    return (
        f"translate(regexp_replace(normalize({column}, NFD), '{MARKS}'::text, ''::text, "
        f"'g'::text), '{split_from}'::text, '{split_to}'::text)"
    )


def _document(fields, field_text, split_from, split_to):
    """The weighted tsvector of fields ((column, is varchar, weight)), as PostgreSQL prints it."""
    parts = [
        f"setweight(to_tsvector('simple'::regconfig, "
        f"{field_text(column + ('::text' if varchar else ''), split_from, split_to)}), "
        f"'{weight}'::\"char\")"
        for column, varchar, weight in fields
    ]
    document = parts[0]
    for part in parts[1:]:
        document = f"({document} || {part})"
    return document


ORGANIZATION_FIELDS = (
    ('name', True, 'A'),
    ('website_domain', True, 'B'),
    ('city', True, 'C'),
    ('description', False, 'D'),
)
CONTACT_FIELDS = (('name', True, 'A'), ('email', True, 'B'))


def _indexes(*document_args):
    return (
        ('ix_organization_search', 'organization', _document(ORGANIZATION_FIELDS, *document_args)),
        ('ix_contact_search', 'contact', _document(CONTACT_FIELDS, *document_args)),
    )


# (index name, table, indexed expression) after this revision, and before it
INDEXES = _indexes(_folded, PUNCTUATION_FROM + STROKED_FROM, PUNCTUATION_TO + STROKED_TO)
PREVIOUS_INDEXES = _indexes(_plain, PUNCTUATION_FROM, PUNCTUATION_TO)


def _rebuild(indexes):
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, table, expression in indexes:
        op.execute(f"DROP INDEX IF EXISTS {name}")
        op.execute(f"CREATE INDEX {name} ON {table} USING gin (({expression}))")


def upgrade():
    _rebuild(INDEXES)


def downgrade():
    _rebuild(PREVIOUS_INDEXES)
