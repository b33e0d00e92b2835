"""Follow-up: the measures materialised per Swedish day, unit and pathway

Revision ID: 9b4e2a7c1d35
Revises: 7c3d9e1f4a20
Create Date: 2026-12-04 13:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hemma.models.base

revision = '9b4e2a7c1d35'
down_revision = '7c3d9e1f4a20'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'followup_days',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True,
                  nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('unit_id', sa.Integer(), nullable=False),
        sa.Column('pathway', sa.String(length=40), nullable=False),
        sa.Column('data', sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(['unit_id'], ['units.id'],
                                name=op.f('fk_followup_days_unit_id_units')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_followup_days')),
        sa.UniqueConstraint('day', 'unit_id', 'pathway', name='uq_followup_days_day_unit_pathway'),
    )
    with op.batch_alter_table('followup_days', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_followup_days_day'), ['day'], unique=False)
    op.create_table(
        'followup_computed',
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('computed_at', hemma.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('batch', sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint('day', name=op.f('pk_followup_computed')),
    )


def downgrade() -> None:
    op.drop_table('followup_computed')
    with op.batch_alter_table('followup_days', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_followup_days_day'))
    op.drop_table('followup_days')
