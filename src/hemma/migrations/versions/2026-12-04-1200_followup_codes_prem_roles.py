"""Follow-up: why episodes ended and visits were not done, as codes; the patient's
experience (PREM); the follow-up and research-export roles

Revision ID: 7c3d9e1f4a20
Revises: 5e1f0c2d9a71
Create Date: 2026-12-04 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hemma.models.base

revision = '7c3d9e1f4a20'
down_revision = '5e1f0c2d9a71'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('episodes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('end_reason', sa.String(length=30), nullable=True))
    with op.batch_alter_table('visits', schema=None) as batch_op:
        batch_op.add_column(sa.Column('not_done_code', sa.String(length=30), nullable=True))
    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.add_column(sa.Column('is_follow_up', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.add_column(sa.Column('is_research_exporter', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    op.create_table(
        'prem_responses',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('episode_id', sa.Uuid(), nullable=False),
        sa.Column('patient_id', sa.Uuid(), nullable=False),
        sa.Column('unit_id', sa.Integer(), nullable=False),
        sa.Column('questionnaire', sa.String(length=20), nullable=False),
        sa.Column('answers', sa.JSON(), nullable=False),
        sa.Column('comment', sa.Text(), nullable=True),
        sa.Column('channel', sa.String(length=10), nullable=False),
        sa.Column('answered_at', hemma.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('entered_by_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['entered_by_id'], ['staff.id'],
                                name=op.f('fk_prem_responses_entered_by_id_staff')),
        sa.ForeignKeyConstraint(['episode_id'], ['episodes.id'],
                                name=op.f('fk_prem_responses_episode_id_episodes')),
        sa.ForeignKeyConstraint(['patient_id'], ['patients.id'],
                                name=op.f('fk_prem_responses_patient_id_patients')),
        sa.ForeignKeyConstraint(['unit_id'], ['units.id'],
                                name=op.f('fk_prem_responses_unit_id_units')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_prem_responses')),
        sa.UniqueConstraint('episode_id', name=op.f('uq_prem_responses_episode_id')),
    )
    with op.batch_alter_table('prem_responses', schema=None) as batch_op:
        batch_op.create_index('ix_prem_responses_unit_answered', ['unit_id', 'answered_at'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_prem_responses_patient_id'), ['patient_id'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('prem_responses', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_prem_responses_patient_id'))
        batch_op.drop_index('ix_prem_responses_unit_answered')
    op.drop_table('prem_responses')
    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.drop_column('is_research_exporter')
        batch_op.drop_column('is_follow_up')
    with op.batch_alter_table('visits', schema=None) as batch_op:
        batch_op.drop_column('not_done_code')
    with op.batch_alter_table('episodes', schema=None) as batch_op:
        batch_op.drop_column('end_reason')
