"""FHIR: a subscription's version and when it last changed (meta.versionId, If-Match)

Revision ID: fhir_subscription_versions
Revises: ops_worker_heartbeats
Create Date: 2026-12-05 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hemma.models.base

revision = 'fhir_subscription_versions'
down_revision = 'ops_worker_heartbeats'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('fhir_subscriptions') as batch:
        batch.add_column(sa.Column('version', sa.Integer(), nullable=False,
                                   server_default='1'))
        batch.add_column(sa.Column('updated_at',
                                   hemma.models.base.UTCDateTime(timezone=True), nullable=True))
    # What the resource showed before: version 1 while active, 2 once it had changed.
    op.execute("UPDATE fhir_subscriptions SET version = 2, updated_at = created_at "
               "WHERE status <> 'active'")


def downgrade() -> None:
    with op.batch_alter_table('fhir_subscriptions') as batch:
        batch.drop_column('updated_at')
        batch.drop_column('version')
