"""The public content version records when it last changed (the pages' Last-Modified)

Revision ID: e6fa04b8c235
Revises: d5e9f3a7b124
Create Date: 2026-11-26 09:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e6fa04b8c235'
down_revision = 'd5e9f3a7b124'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('content_version', schema=None) as batch_op:
        batch_op.add_column(sa.Column('changed_at', sa.DateTime(), nullable=True))
    # The existing version's content is taken as changed at the upgrade: a later Last-Modified
    # than the truth only costs a client one full response.
    op.execute(sa.text("UPDATE content_version SET changed_at = CURRENT_TIMESTAMP"))


def downgrade():
    with op.batch_alter_table('content_version', schema=None) as batch_op:
        batch_op.drop_column('changed_at')
