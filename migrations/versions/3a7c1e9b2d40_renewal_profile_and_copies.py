"""Renewals hold their profile changes until approval; outbox messages carry copies

Revision ID: 3a7c1e9b2d40
Revises: f6dcbac44305
Create Date: 2026-11-23 17:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '3a7c1e9b2d40'
down_revision = 'f6dcbac44305'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('application', schema=None) as batch_op:
        batch_op.add_column(sa.Column('proposed_profile', sa.JSON(), nullable=True))
    # Existing messages had no copies: the server default fills them with "".
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('cc_addrs', sa.String(length=1000), server_default='', nullable=False)
        )


def downgrade():
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.drop_column('cc_addrs')
    with op.batch_alter_table('application', schema=None) as batch_op:
        batch_op.drop_column('proposed_profile')
