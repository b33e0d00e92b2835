"""where a patient's map position came from, and how near the house it is

Revision ID: 3b8f0c6d2e71
Revises: b52d1f6e8c32
Create Date: 2026-12-03 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hemma.models.base

revision = '3b8f0c6d2e71'
down_revision = 'b52d1f6e8c32'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('patients') as batch:
        batch.add_column(sa.Column('position_source', sa.String(length=20), nullable=True))
        batch.add_column(sa.Column('position_precision', sa.String(length=20), nullable=True))
        batch.add_column(sa.Column('position_place', sa.String(length=200), nullable=True))
        batch.add_column(sa.Column('position_accuracy_m', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('position_at', hemma.models.base.UTCDateTime(timezone=True),
                                   nullable=True))
    # Positions recorded so far were typed or sent as coordinates: how near the house they
    # are is not known.
    op.execute("UPDATE patients SET position_source = 'system' WHERE latitude IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table('patients') as batch:
        batch.drop_column('position_at')
        batch.drop_column('position_accuracy_m')
        batch.drop_column('position_place')
        batch.drop_column('position_precision')
        batch.drop_column('position_source')
