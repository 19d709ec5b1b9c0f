"""Staff search: GIN indexes on the full-text documents the search queries (PostgreSQL only)

The expressions are exactly those of allies/staff/search_documents.py (ORGANIZATION_DOCUMENT
and CONTACT_DOCUMENT), written as PostgreSQL prints them back: PostgreSQL uses an expression
index only for the same expression, and autogenerate compares them with the models' declaration
(ddl_if PostgreSQL). SQLite searches with LIKE and gets no index.

Revision ID: c4d8e2f6a913
Revises: b71e0c5d9a23
Create Date: 2026-11-26 09:00:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'c4d8e2f6a913'
down_revision = 'b71e0c5d9a23'
branch_labels = None
depends_on = None

# (index name, table, indexed expression)
INDEXES = (
    (
        'ix_organization_search',
        'organization',
        "(((setweight(to_tsvector('simple'::regconfig, translate(name::text, '@.+-_/'::text, "
        "'      '::text)), 'A'::\"char\") || setweight(to_tsvector('simple'::regconfig, "
        "translate(website_domain::text, '@.+-_/'::text, '      '::text)), 'B'::\"char\")) || "
        "setweight(to_tsvector('simple'::regconfig, translate(city::text, '@.+-_/'::text, "
        "'      '::text)), 'C'::\"char\")) || setweight(to_tsvector('simple'::regconfig, "
        "translate(description, '@.+-_/'::text, '      '::text)), 'D'::\"char\"))",
    ),
    (
        'ix_contact_search',
        'contact',
        "(setweight(to_tsvector('simple'::regconfig, translate(name::text, '@.+-_/'::text, "
        "'      '::text)), 'A'::\"char\") || setweight(to_tsvector('simple'::regconfig, "
        "translate(email::text, '@.+-_/'::text, '      '::text)), 'B'::\"char\"))",
    ),
)


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, table, expression in INDEXES:
        op.execute(f"CREATE INDEX {name} ON {table} USING gin (({expression}))")


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, _table, _expression in INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
