"""Staff login: pending OpenID Connect logins, the second step of a password login, TOTP
credentials, and installation settings (password login on or off)

Revision ID: oidc
Revises: d8f2b6a0c5e1
Create Date: 2026-12-04 21:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hemma.models.base

revision = 'oidc'
down_revision = 'd8f2b6a0c5e1'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('installation_settings',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('value', sa.JSON(), nullable=False),
    sa.Column('changed_at', hemma.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('changed_by', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_installation_settings'))
    )
    op.create_table('oidc_logins',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('state_hash', sa.String(length=64), nullable=False),
    sa.Column('browser_hash', sa.String(length=64), nullable=False),
    sa.Column('nonce', sa.String(length=100), nullable=False),
    sa.Column('code_verifier', sa.String(length=128), nullable=False),
    sa.Column('next_path', sa.String(length=500), nullable=False),
    sa.Column('created_at', hemma.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', hemma.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', hemma.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_oidc_logins')),
    sa.UniqueConstraint('state_hash', name=op.f('uq_oidc_logins_state_hash'))
    )
    with op.batch_alter_table('oidc_logins', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_oidc_logins_expires_at'), ['expires_at'], unique=False)

    op.create_table('login_steps',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('csrf_token', sa.String(length=64), nullable=False),
    sa.Column('next_path', sa.String(length=500), nullable=False),
    sa.Column('created_at', hemma.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', hemma.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ended_at', hemma.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('fk_login_steps_staff_id_staff')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_login_steps'))
    )
    with op.batch_alter_table('login_steps', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_login_steps_staff_id'), ['staff_id'], unique=False)

    op.create_table('totp_credentials',
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('secret_encrypted', sa.Text(), nullable=False),
    sa.Column('created_at', hemma.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('confirmed_at', hemma.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_step', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('fk_totp_credentials_staff_id_staff')),
    sa.PrimaryKeyConstraint('staff_id', name=op.f('pk_totp_credentials'))
    )


def downgrade() -> None:
    op.drop_table('totp_credentials')
    with op.batch_alter_table('login_steps', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_login_steps_staff_id'))

    op.drop_table('login_steps')
    with op.batch_alter_table('oidc_logins', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_oidc_logins_expires_at'))

    op.drop_table('oidc_logins')
    op.drop_table('installation_settings')
