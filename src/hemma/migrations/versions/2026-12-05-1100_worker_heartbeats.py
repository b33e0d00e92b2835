"""Operations: a heartbeat row per running worker, for /ready and /metrics

Revision ID: ops_worker_heartbeats
Revises: oidc
Create Date: 2026-12-05 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hemma.models.base

revision = 'ops_worker_heartbeats'
down_revision = 'oidc'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'worker_heartbeats',
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('host', sa.String(length=255), nullable=False),
        sa.Column('pid', sa.Integer(), nullable=False),
        sa.Column('started_at', hemma.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('beat_at', hemma.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_worker_heartbeats')),
    )


def downgrade() -> None:
    op.drop_table('worker_heartbeats')
