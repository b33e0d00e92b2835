"""what a round decision "book a visit" booked: a care request or a visit

Revision ID: 9b2e4c6d8f10
Revises: 3b8f0c6d2e71
Create Date: 2026-12-03 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '9b2e4c6d8f10'
down_revision = '3b8f0c6d2e71'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('round_notes') as batch:
        batch.add_column(sa.Column('care_request_id', sa.Uuid(), nullable=True))
        batch.add_column(sa.Column('visit_id', sa.Uuid(), nullable=True))
        batch.create_foreign_key(op.f('fk_round_notes_care_request_id_care_requests'),
                                 'care_requests', ['care_request_id'], ['id'])
        batch.create_foreign_key(op.f('fk_round_notes_visit_id_visits'), 'visits',
                                 ['visit_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('round_notes') as batch:
        batch.drop_constraint(op.f('fk_round_notes_visit_id_visits'), type_='foreignkey')
        batch.drop_constraint(op.f('fk_round_notes_care_request_id_care_requests'),
                              type_='foreignkey')
        batch.drop_column('visit_id')
        batch.drop_column('care_request_id')
