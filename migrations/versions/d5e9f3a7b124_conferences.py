"""Conferences: dates (year-only for old records), title, description, link; invitations and
answers

Existing conferences keep their data: the year becomes 1 January to 31 December of that year,
flagged ``dates_year_only`` (pages show just the year); the theme becomes the title; place and
attendance stay as they were.

Revision ID: d5e9f3a7b124
Revises: c4d8e2f6a913
Create Date: 2026-11-23 18:45:00

"""
from datetime import date

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd5e9f3a7b124'
down_revision = 'c4d8e2f6a913'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('conference', schema=None) as batch_op:
        batch_op.alter_column(
            'theme', new_column_name='title', existing_type=sa.String(length=300),
            existing_nullable=False,
        )
        batch_op.add_column(sa.Column('start_date', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('end_date', sa.Date(), nullable=True))
        batch_op.add_column(
            sa.Column('dates_year_only', sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(
            sa.Column('description', sa.Text(), server_default='', nullable=False)
        )
        batch_op.add_column(
            sa.Column('link', sa.String(length=500), server_default='', nullable=False)
        )
        batch_op.add_column(sa.Column('answers_reminded_at', sa.DateTime(), nullable=True))

    # Every existing row knows only its year: it spans that year, marked "year only".
    conn = op.get_bind()
    conference = sa.table(
        'conference',
        sa.column('id', sa.Integer()),
        sa.column('year', sa.Integer()),
        sa.column('start_date', sa.Date()),
        sa.column('end_date', sa.Date()),
        sa.column('dates_year_only', sa.Boolean()),
    )
    for row_id, year in conn.execute(sa.select(conference.c.id, conference.c.year)).all():
        conn.execute(
            conference.update()
            .where(conference.c.id == row_id)
            .values(
                start_date=date(year, 1, 1), end_date=date(year, 12, 31), dates_year_only=True
            )
        )

    with op.batch_alter_table('conference', schema=None) as batch_op:
        batch_op.alter_column('start_date', existing_type=sa.Date(), nullable=False)
        batch_op.alter_column('end_date', existing_type=sa.Date(), nullable=False)
        batch_op.drop_index('ix_conference_year')
        batch_op.drop_column('year')
        batch_op.create_index(batch_op.f('ix_conference_start_date'), ['start_date'], unique=False)
        batch_op.create_index(batch_op.f('ix_conference_end_date'), ['end_date'], unique=False)

    op.create_table(
        'conference_invitation',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('conference_id', sa.Integer(), nullable=False),
        sa.Column('organization_id', sa.Integer(), nullable=False),
        sa.Column('invited_at', sa.DateTime(), nullable=False),
        sa.Column('invited_by_id', sa.Integer(), nullable=True),
        sa.Column('outbox_message_id', sa.Integer(), nullable=True),
        sa.Column('reminded_at', sa.DateTime(), nullable=True),
        sa.Column('reminder_message_id', sa.Integer(), nullable=True),
        sa.Column('attending', sa.Boolean(), nullable=True),
        sa.Column('people', sa.Integer(), nullable=False),
        sa.Column('names', sa.Text(), nullable=False),
        sa.Column('answered_at', sa.DateTime(), nullable=True),
        sa.Column('answer_changes', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ['conference_id'], ['conference.id'],
            name=op.f('fk_conference_invitation_conference_id_conference'),
        ),
        sa.ForeignKeyConstraint(
            ['invited_by_id'], ['staff_user.id'],
            name=op.f('fk_conference_invitation_invited_by_id_staff_user'),
        ),
        sa.ForeignKeyConstraint(
            ['organization_id'], ['organization.id'],
            name=op.f('fk_conference_invitation_organization_id_organization'),
        ),
        sa.ForeignKeyConstraint(
            ['outbox_message_id'], ['outbox_message.id'],
            name=op.f('fk_conference_invitation_outbox_message_id_outbox_message'),
        ),
        sa.ForeignKeyConstraint(
            ['reminder_message_id'], ['outbox_message.id'],
            name=op.f('fk_conference_invitation_reminder_message_id_outbox_message'),
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_conference_invitation')),
        sa.UniqueConstraint(
            'conference_id', 'organization_id',
            name=op.f('uq_conference_invitation_conference_id'),
        ),
    )
    with op.batch_alter_table('conference_invitation', schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f('ix_conference_invitation_conference_id'), ['conference_id'], unique=False
        )
        batch_op.create_index(
            batch_op.f('ix_conference_invitation_organization_id'), ['organization_id'],
            unique=False,
        )


def downgrade():
    with op.batch_alter_table('conference_invitation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_conference_invitation_organization_id'))
        batch_op.drop_index(batch_op.f('ix_conference_invitation_conference_id'))
    op.drop_table('conference_invitation')

    with op.batch_alter_table('conference', schema=None) as batch_op:
        batch_op.add_column(sa.Column('year', sa.Integer(), nullable=True))
    conn = op.get_bind()
    conference = sa.table(
        'conference',
        sa.column('id', sa.Integer()),
        sa.column('year', sa.Integer()),
        sa.column('start_date', sa.Date()),
    )
    for row_id, start in conn.execute(sa.select(conference.c.id, conference.c.start_date)).all():
        conn.execute(conference.update().where(conference.c.id == row_id).values(year=start.year))
    with op.batch_alter_table('conference', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_conference_end_date'))
        batch_op.drop_index(batch_op.f('ix_conference_start_date'))
        batch_op.alter_column('year', existing_type=sa.Integer(), nullable=False)
        batch_op.create_index(batch_op.f('ix_conference_year'), ['year'], unique=False)
        batch_op.drop_column('answers_reminded_at')
        batch_op.drop_column('link')
        batch_op.drop_column('description')
        batch_op.drop_column('dates_year_only')
        batch_op.drop_column('end_date')
        batch_op.drop_column('start_date')
        batch_op.alter_column(
            'title', new_column_name='theme', existing_type=sa.String(length=300),
            existing_nullable=False,
        )
