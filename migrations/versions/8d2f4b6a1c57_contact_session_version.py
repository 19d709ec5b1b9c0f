"""Contacts carry a session version: moving it signs every session of the contact out

Revision ID: 8d2f4b6a1c57
Revises: 3a7c1e9b2d40
Create Date: 2026-11-24 09:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '8d2f4b6a1c57'
down_revision = '3a7c1e9b2d40'
branch_labels = None
depends_on = None


def upgrade():
    # Existing contacts start at version 1. Sessions begun before this release carry no version
    # and no sign-in time, so they end: contacts sign in again with a new link.
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('session_version', sa.Integer(), server_default='1', nullable=False)
        )


def downgrade():
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.drop_column('session_version')
