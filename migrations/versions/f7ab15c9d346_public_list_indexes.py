"""An index that answers "is this organization listed today?" on its own (the public lists)

The public lists ask, for each organization in name order, whether one of its agreements is
listed today (standing.listed_clause): with the dates and the termination in the index, that
probe reads no table row. At 10,000 Allies it took a quarter off the count and a deep page on
SQLite.

Revision ID: f7ab15c9d346
Revises: a8bc26dae457
Create Date: 2026-11-27 09:00:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'f7ab15c9d346'
down_revision = 'a8bc26dae457'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(
        'ix_agreement_listing',
        'agreement',
        ['organization_id', 'end_date', 'start_date', 'terminated_on'],
    )


def downgrade():
    op.drop_index('ix_agreement_listing', table_name='agreement')
