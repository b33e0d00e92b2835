"""FHIR subscriptions (rest-hook) and their notifications, each event told once

Revision ID: 5e1f0c2d9a71
Revises: 2ec5784b8243
Create Date: 2026-12-04 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hemma.models.base

revision = '5e1f0c2d9a71'
down_revision = '2ec5784b8243'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'fhir_subscriptions',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('owner_id', sa.Integer(), nullable=False),
        sa.Column('criteria', sa.String(length=100), nullable=False),
        sa.Column('endpoint', sa.String(length=500), nullable=False),
        sa.Column('headers', sa.JSON(), nullable=False),
        sa.Column('reason', sa.String(length=500), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('since', hemma.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('created_at', hemma.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['owner_id'], ['staff.id'],
                                name=op.f('fk_fhir_subscriptions_owner_id_staff')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_fhir_subscriptions')),
    )
    with op.batch_alter_table('fhir_subscriptions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fhir_subscriptions_owner_id'), ['owner_id'],
                              unique=False)
    op.create_table(
        'fhir_notifications',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('subscription_id', sa.Uuid(), nullable=False),
        sa.Column('resource', sa.String(length=120), nullable=False),
        sa.Column('patient_id', sa.Uuid(), nullable=False),
        sa.Column('event_at', hemma.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('created_at', hemma.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('sent_at', hemma.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column('status_code', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['patient_id'], ['patients.id'],
                                name=op.f('fk_fhir_notifications_patient_id_patients')),
        sa.ForeignKeyConstraint(['subscription_id'], ['fhir_subscriptions.id'],
                                name=op.f('fk_fhir_notifications_subscription_id_fhir_subscriptions')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_fhir_notifications')),
        sa.UniqueConstraint('subscription_id', 'resource', name='uq_fhir_notified'),
    )


def downgrade() -> None:
    op.drop_table('fhir_notifications')
    with op.batch_alter_table('fhir_subscriptions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fhir_subscriptions_owner_id'))
    op.drop_table('fhir_subscriptions')
