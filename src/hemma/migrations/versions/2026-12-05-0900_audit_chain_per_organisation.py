"""The access log and the log reviews get one hash chain per organisation (vårdgivare)

Revision ID: c4a1e7d2b9f3
Revises: 9b4e2a7c1d35
Create Date: 2026-12-05 09:00:00

Each organisation is responsible for its own log (Patientdatalagen 4 kap.), and one head for
everyone made every organisation's commits wait for each other's. The rows already written
stay exactly as they are, in the chains they were written in (heads 1 and 2, now "shared",
closed and verified with the digest of their time, so every checkpoint written before keeps
holding); new rows go to the chain of the acting organisation, made on its first entry. An
empty shared chain (a new installation) is simply dropped.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = 'c4a1e7d2b9f3'
down_revision = '9b4e2a7c1d35'
branch_labels = None
depends_on = None

GENESIS = "0" * 64
SHARED = {1: ("entries:shared", "entries"), 2: ("reviews:shared", "reviews")}


def _triggers(create: bool) -> None:
    """The append-only triggers (as the initial schema made them): off while the rows get
    their chain's id, on again after."""
    bind = op.get_bind()
    for table in ("audit_entries", "audit_reviews"):
        if bind.dialect.name == "postgresql":
            if create:
                op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON "
                           f"{table} FOR EACH ROW EXECUTE FUNCTION hemma_append_only()")
                op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                           "FOR EACH STATEMENT EXECUTE FUNCTION hemma_append_only()")
            else:
                op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
            continue
        for verb in ("UPDATE", "DELETE"):
            if create:
                op.execute(f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                           f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END")
            else:
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{verb.lower()}")


def upgrade() -> None:
    bind = op.get_bind()
    _triggers(create=False)
    with op.batch_alter_table('audit_head') as batch:
        batch.add_column(sa.Column('chain_key', sa.String(length=40), nullable=True))
        batch.add_column(sa.Column('kind', sa.String(length=10), nullable=True))
        batch.add_column(sa.Column('organisation_id', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('digest_version', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('closed', sa.Boolean(), nullable=True))
        batch.add_column(sa.Column('first_seq', sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column('first_prev_hash', sa.String(length=64), nullable=True))
    for head_id, (key, kind) in SHARED.items():
        bind.execute(sa.text(
            "UPDATE audit_head SET chain_key = :key, kind = :kind, digest_version = 1, "
            "closed = :closed, first_seq = 1, first_prev_hash = :genesis WHERE id = :id"),
            {"key": key, "kind": kind, "closed": True, "genesis": GENESIS, "id": head_id})
    bind.execute(sa.text("DELETE FROM audit_head WHERE last_seq = 0"))
    if bind.dialect.name == "postgresql":
        # Heads 1 and 2 were inserted with their ids: the serial's next value must pass them.
        bind.execute(sa.text("SELECT setval(pg_get_serial_sequence('audit_head', 'id'), "
                             "(SELECT coalesce(max(id), 0) + 1 FROM audit_head), false)"))
    with op.batch_alter_table('audit_head') as batch:
        for name, type_ in (('chain_key', sa.String(length=40)), ('kind', sa.String(length=10)),
                            ('digest_version', sa.Integer()), ('closed', sa.Boolean()),
                            ('first_seq', sa.BigInteger()),
                            ('first_prev_hash', sa.String(length=64))):
            batch.alter_column(name, existing_type=type_, nullable=False)
        batch.create_unique_constraint(batch.f('uq_audit_head_chain_key'), ['chain_key'])

    for table, head_id in (("audit_entries", 1), ("audit_reviews", 2)):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column('chain_id', sa.Integer(), nullable=True))
        bind.execute(sa.text(f"UPDATE {table} SET chain_id = {head_id}"))
        with op.batch_alter_table(table) as batch:
            batch.alter_column('chain_id', existing_type=sa.Integer(), nullable=False)
            batch.drop_constraint(f'uq_{table}_seq', type_='unique')
            if table == "audit_reviews":
                batch.create_unique_constraint(batch.f(f'uq_{table}_chain_id'),
                                               ['chain_id', 'seq'])
            else:
                # Not unique: on PostgreSQL the log is partitioned by month, and a unique
                # constraint there must include the partition key. The head's lock keeps
                # each chain one line; `verify` finds any row that is not.
                batch.create_index('ix_audit_chain_seq', ['chain_id', 'seq'])
    _triggers(create=True)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.execute(sa.text("SELECT count(*) FROM audit_head WHERE id NOT IN (1, 2)")).scalar():
        raise RuntimeError("the log has per-organisation chains: it cannot go back to one "
                           "shared chain without rewriting it")
    _triggers(create=False)
    for table in ("audit_entries", "audit_reviews"):
        with op.batch_alter_table(table) as batch:
            if table == "audit_reviews":
                batch.drop_constraint(f'uq_{table}_chain_id', type_='unique')
            else:
                batch.drop_index('ix_audit_chain_seq')
            batch.create_unique_constraint(f'uq_{table}_seq', ['seq'])
            batch.drop_column('chain_id')
    for head_id in SHARED:
        bind.execute(sa.text("INSERT INTO audit_head (id, last_seq, last_hash, chain_key, kind, "
                             "digest_version, closed, first_seq, first_prev_hash) SELECT :id, 0, "
                             ":genesis, :key, :kind, 1, :closed, 1, :genesis WHERE NOT EXISTS "
                             "(SELECT 1 FROM audit_head WHERE id = :id)"),
                     {"id": head_id, "genesis": GENESIS, "key": SHARED[head_id][0],
                      "kind": SHARED[head_id][1], "closed": True})
    with op.batch_alter_table('audit_head') as batch:
        batch.drop_constraint('uq_audit_head_chain_key', type_='unique')
        for name in ('first_prev_hash', 'first_seq', 'closed', 'digest_version',
                     'organisation_id', 'kind', 'chain_key'):
            batch.drop_column(name)
    _triggers(create=True)
