"""log reviews in a hash chain of their own; alerts keep when their newest values were
measured and why they were closed

Revision ID: 8a664b4b99f9
Revises: 9b2e4c6d8f10
Create Date: 2026-12-03 10:23:00

Existing reviews are chained in the order they were made, so run this with the installation's
secret (HEMMA_SECRET_KEY, or the data dir's secret_key file), as `hemma db upgrade` does.
"""

from __future__ import annotations

import hashlib
import hmac
import json

import sqlalchemy as sa
from alembic import op

import hemma.models.base

revision = '8a664b4b99f9'
down_revision = '9b2e4c6d8f10'
branch_labels = None
depends_on = None

GENESIS = "0" * 64
REVIEWS_HEAD = 2

reviews = sa.table(
    "audit_reviews", sa.column("id", sa.Integer), sa.column("seq", sa.BigInteger),
    sa.column("entry_id", sa.Integer), sa.column("reviewer_id", sa.Integer),
    sa.column("reviewed_at", hemma.models.base.UTCDateTime(timezone=True)),
    sa.column("outcome", sa.String), sa.column("note", sa.Text),
    sa.column("prev_hash", sa.String), sa.column("hash", sa.String))


def _review_digest(key: bytes, row: dict) -> str:
    """As `hemma.access.audit._review_digest` is at this revision (a migration must not
    change when the code does)."""
    fields = [row["seq"], row["entry_id"], row["reviewer_id"], row["reviewed_at"].isoformat(),
              row["outcome"], row["note"], row["prev_hash"]]
    message = json.dumps(fields, separators=(",", ":"), ensure_ascii=False).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def _triggers(create: bool) -> None:
    """audit_reviews' append-only triggers (as the initial schema made them): off while its
    existing rows get their place in the chain, on again after."""
    if op.get_bind().dialect.name == "postgresql":
        if create:
            op.execute("CREATE TRIGGER audit_reviews_append_only BEFORE UPDATE OR DELETE ON "
                       "audit_reviews FOR EACH ROW EXECUTE FUNCTION hemma_append_only()")
            op.execute("CREATE TRIGGER audit_reviews_no_truncate BEFORE TRUNCATE ON "
                       "audit_reviews FOR EACH STATEMENT EXECUTE FUNCTION hemma_append_only()")
        else:
            op.execute("DROP TRIGGER IF EXISTS audit_reviews_append_only ON audit_reviews")
            op.execute("DROP TRIGGER IF EXISTS audit_reviews_no_truncate ON audit_reviews")
        return
    for verb in ("UPDATE", "DELETE"):
        if create:
            op.execute(f"CREATE TRIGGER audit_reviews_no_{verb.lower()} BEFORE {verb} ON "
                       "audit_reviews BEGIN SELECT RAISE(ABORT, 'audit_reviews is append-only'); "
                       "END")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS audit_reviews_no_{verb.lower()}")


def upgrade() -> None:
    bind = op.get_bind()
    _triggers(create=False)
    with op.batch_alter_table('audit_reviews') as batch:
        batch.add_column(sa.Column('seq', sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column('prev_hash', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('hash', sa.String(length=64), nullable=True))
    rows = bind.execute(sa.select(reviews).order_by(reviews.c.reviewed_at, reviews.c.id)).all()
    seq, prev = 0, GENESIS
    if rows:
        from hemma.config import get_settings

        secret = get_settings().resolved_secret_key().encode()
        key = hmac.new(secret, b"hemma audit reviews v1", hashlib.sha256).digest()
        for row in rows:
            seq += 1
            values = {**row._asdict(), "seq": seq, "prev_hash": prev}
            prev = _review_digest(key, values)
            bind.execute(reviews.update().where(reviews.c.id == row.id)
                         .values(seq=seq, prev_hash=values["prev_hash"], hash=prev))
    with op.batch_alter_table('audit_reviews') as batch:
        batch.alter_column('seq', existing_type=sa.BigInteger(), nullable=False)
        batch.alter_column('prev_hash', existing_type=sa.String(length=64), nullable=False)
        batch.alter_column('hash', existing_type=sa.String(length=64), nullable=False)
        batch.create_unique_constraint(batch.f('uq_audit_reviews_seq'), ['seq'])
    bind.execute(sa.text("INSERT INTO audit_head (id, last_seq, last_hash) "
                         "VALUES (:id, :seq, :hash)"),
                 {"id": REVIEWS_HEAD, "seq": seq, "hash": prev})
    _triggers(create=True)

    with op.batch_alter_table('alerts') as batch:
        batch.add_column(sa.Column('latest_value_at',
                                   hemma.models.base.UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('resolved_reason', sa.String(length=30), nullable=True))
    op.execute("UPDATE alerts SET latest_value_at = (SELECT measured_at FROM observations "
               "WHERE observations.id = alerts.observation_id) "
               "WHERE observation_id IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table('alerts') as batch:
        batch.drop_column('resolved_reason')
        batch.drop_column('latest_value_at')
    _triggers(create=False)
    op.execute(f"DELETE FROM audit_head WHERE id = {REVIEWS_HEAD}")
    with op.batch_alter_table('audit_reviews') as batch:
        batch.drop_constraint(batch.f('uq_audit_reviews_seq'), type_='unique')
        batch.drop_column('hash')
        batch.drop_column('prev_hash')
        batch.drop_column('seq')
    _triggers(create=True)
