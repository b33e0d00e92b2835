"""notices of new messages to patients and relatives (e-mail, SMS), and the patient's
e-mail address

Revision ID: 25c7b439fbec
Revises: c6a1f0e2d3b4
Create Date: 2026-12-03 21:03:31.606348
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hemma.models.base

revision = '25c7b439fbec'
down_revision = 'c6a1f0e2d3b4'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('notices',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('outbox_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('patient_id', sa.Uuid(), nullable=False),
    sa.Column('recipient_kind', sa.String(length=10), nullable=False),
    sa.Column('recipient_id', sa.Uuid(), nullable=False),
    sa.Column('channel', sa.String(length=10), nullable=False),
    sa.Column('address', sa.String(length=60), nullable=True),
    sa.Column('sent_at', hemma.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['outbox_id'], ['outbox.id'], name=op.f('fk_notices_outbox_id_outbox')),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_notices_patient_id_patients')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notices')),
    sa.UniqueConstraint('outbox_id', 'recipient_kind', 'recipient_id', name='uq_notices_outbox_recipient')
    )
    with op.batch_alter_table('notices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notices_patient_id'), ['patient_id'], unique=False)

    with op.batch_alter_table('patients', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email', sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('patients', schema=None) as batch_op:
        batch_op.drop_column('email')

    with op.batch_alter_table('notices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notices_patient_id'))

    op.drop_table('notices')
