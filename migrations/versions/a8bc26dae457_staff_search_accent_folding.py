"""Staff search: fold accents in the full-text documents (PostgreSQL only)

Rebuilds the two GIN indexes of c4d8e2f6a913 on the documents of
allies/staff/search_documents.py as they now are: ``translate`` maps the Latin letters with
diacritics (Latin-1 Supplement and Latin Extended-A) to their plain lower-case letter beside
the address punctuation it already replaced by spaces, so "etica" finds "Ética" without the
``unaccent`` extension. The expressions are written as PostgreSQL prints them back, and the
letters are a frozen copy of search_documents.FOLD_FROM and FOLD_TO
(tests/staff/test_search.py checks that they agree). SQLite has no such index: the search folds
there with a function registered on each connection.

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

FOLD_FROM = (
    'ÀÁÂÃÄÅÇÈÉÊËÌÍÎÏÑÒÓÔÕÖØÙÚÛÜÝàáâãäåçèéêëìíîïñòóôõöøùúûüýÿĀāĂăĄ'
    'ąĆćĈĉĊċČčĎďĐđĒēĔĕĖėĘęĚěĜĝĞğĠġĢģĤĥĦħĨĩĪīĬĭĮįİıĴĵĶķĹĺĻļĽľŁłŃńŅ'
    'ņŇňŌōŎŏŐőŔŕŖŗŘřŚśŜŝŞşŠšŢţŤťŦŧŨũŪūŬŭŮůŰűŲųŴŵŶŷŸŹźŻżŽžſ'
)
FOLD_TO = (
    'aaaaaaceeeeiiiinoooooouuuuyaaaaaaceeeeiiiinoooooouuuuyyaaaaa'
    'accccccccddddeeeeeeeeeegggggggghhhhiiiiiiiiiijjkkllllllllnnn'
    'nnnoooooorrrrrrssssssssttttttuuuuuuuuuuuuwwyyyzzzzzzs'
)
PUNCTUATION_FROM, PUNCTUATION_TO = '@.+-_/', '      '


def _document(fields, split_from, split_to):
    """The weighted tsvector of fields ((column, is varchar, weight)), as PostgreSQL prints it."""
    parts = [
        f"setweight(to_tsvector('simple'::regconfig, translate({column}{'::text' if varchar else ''}, "
        f"'{split_from}'::text, '{split_to}'::text)), '{weight}'::\"char\")"
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


def _indexes(split_from, split_to):
    return (
        ('ix_organization_search', 'organization', _document(ORGANIZATION_FIELDS, split_from, split_to)),
        ('ix_contact_search', 'contact', _document(CONTACT_FIELDS, split_from, split_to)),
    )


# (index name, table, indexed expression) after this revision, and before it
INDEXES = _indexes(PUNCTUATION_FROM + FOLD_FROM, PUNCTUATION_TO + FOLD_TO)
PREVIOUS_INDEXES = _indexes(PUNCTUATION_FROM, PUNCTUATION_TO)


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
