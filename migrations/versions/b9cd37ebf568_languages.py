"""Spanish beside English: a contact's language, and the language of each statement version

Every existing contact and text is English (the server default carries them forward); a
Spanish mission, vision or values is a version of its own, numbered in its kind's sequence.

Revision ID: b9cd37ebf568
Revises: f7ab15c9d346
Create Date: 2026-11-28 09:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b9cd37ebf568'
down_revision = 'f7ab15c9d346'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('language', sa.String(length=8), server_default='en', nullable=False)
        )
    with op.batch_alter_table('statement_version', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('language', sa.String(length=8), server_default='en', nullable=False)
        )


def downgrade():
    with op.batch_alter_table('statement_version', schema=None) as batch_op:
        batch_op.drop_column('language')
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.drop_column('language')
