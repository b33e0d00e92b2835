"""why a care request or care-team member from another organisation needs no consent

Revision ID: b52d1f6e8c32
Revises: a41c0e5d7b21
Create Date: 2026-12-03 11:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = 'b52d1f6e8c32'
down_revision = 'a41c0e5d7b21'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('care_relations') as batch:
        batch.add_column(sa.Column('sharing_note', sa.Text(), nullable=True))
    with op.batch_alter_table('care_requests') as batch:
        batch.add_column(sa.Column('sharing_note', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('care_requests') as batch:
        batch.drop_column('sharing_note')
    with op.batch_alter_table('care_relations') as batch:
        batch.drop_column('sharing_note')
