"""where a saved plan puts each shift's breaks, and plan versions

Revision ID: 7c1d2e3f4a5b
Revises: 55de3bbc62ba
Create Date: 2026-11-30 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '7c1d2e3f4a5b'
down_revision = '55de3bbc62ba'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('visit_plans') as batch:
        batch.add_column(sa.Column('breaks', sa.JSON(), nullable=False, server_default='[]'))
        batch.add_column(sa.Column('version', sa.Integer(), nullable=False, server_default='1'))
        batch.create_unique_constraint('uq_visit_plan_version', ['unit_id', 'day', 'version'])


def downgrade() -> None:
    with op.batch_alter_table('visit_plans') as batch:
        batch.drop_constraint('uq_visit_plan_version', type_='unique')
        batch.drop_column('version')
        batch.drop_column('breaks')
