"""client ids of observations are unique per patient and documenting unit

Revision ID: a41c0e5d7b21
Revises: 7c1d2e3f4a5b
Create Date: 2026-12-03 10:00:00
"""

from __future__ import annotations

from alembic import op

revision = 'a41c0e5d7b21'
down_revision = '7c1d2e3f4a5b'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('observations') as batch:
        batch.drop_constraint('uq_observations_client_id', type_='unique')
        batch.create_unique_constraint('uq_observations_client_id',
                                       ['patient_id', 'documented_by_unit_id', 'client_id'])


def downgrade() -> None:
    with op.batch_alter_table('observations') as batch:
        batch.drop_constraint('uq_observations_client_id', type_='unique')
        batch.create_unique_constraint('uq_observations_client_id', ['patient_id', 'client_id'])
