"""Going live: imported Allies keep their own "Ally since", endorsements made before Allies,
staff notes on organizations, field-by-field changes in the audit log, erased contacts

Revision ID: b71e0c5d9a23
Revises: 8d2f4b6a1c57
Create Date: 2026-11-25 09:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b71e0c5d9a23'
down_revision = '8d2f4b6a1c57'
branch_labels = None
depends_on = None


def upgrade():
    # Existing organizations keep "Ally since" = the year of their first term (NULL here).
    with op.batch_alter_table('organization', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ally_since', sa.Date(), nullable=True))
    # Existing endorsements were all made in Allies.
    with op.batch_alter_table('endorsement', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('before_allies', sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('changes', sa.JSON(), nullable=True))
        batch_op.create_index('ix_audit_event_at', ['at'], unique=False)
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.add_column(sa.Column('erased_at', sa.DateTime(), nullable=True))
    op.create_table(
        'organization_note',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('organization_id', sa.Integer(), nullable=False),
        sa.Column('staff_id', sa.Integer(), nullable=True),
        sa.Column('author', sa.String(length=300), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['organization_id'], ['organization.id']),
        sa.ForeignKeyConstraint(['staff_id'], ['staff_user.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('organization_note', schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f('ix_organization_note_organization_id'), ['organization_id'], unique=False
        )


def downgrade():
    with op.batch_alter_table('organization_note', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_organization_note_organization_id'))
    op.drop_table('organization_note')
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.drop_column('erased_at')
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_event_at')
        batch_op.drop_column('changes')
    with op.batch_alter_table('endorsement', schema=None) as batch_op:
        batch_op.drop_column('before_allies')
    with op.batch_alter_table('organization', schema=None) as batch_op:
        batch_op.drop_column('ally_since')
