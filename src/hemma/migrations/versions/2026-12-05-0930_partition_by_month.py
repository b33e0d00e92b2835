"""Observations and the access log partitioned by month on PostgreSQL; no foreign keys into
them

Revision ID: d8f2b6a0c5e1
Revises: c4a1e7d2b9f3
Create Date: 2026-12-05 09:30:00

On PostgreSQL both tables become partitioned by range of their time (`measured_at`, `at`),
one partition per UTC month from the oldest row's month to three months ahead, and a default
partition; the rows are copied over, and every constraint and index the table had is made
again under its own name (a primary key or unique constraint with the time added: a
partitioned table's must include it). Foreign keys into them (alerts' and visit reports'
observation, reviews' log entry) go, on both databases: a key into a partitioned table must
carry the month, and old months are detached for archive. SQLite keeps plain tables.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import sqlalchemy as sa
from alembic import op

revision = 'd8f2b6a0c5e1'
down_revision = 'c4a1e7d2b9f3'
branch_labels = None
depends_on = None

PARTITIONED = {"observations": "measured_at", "audit_entries": "at"}
FOREIGN_KEYS = [("alerts", "fk_alerts_observation_id_observations", "observation_id",
                 "observations"),
                ("visit_reports", "fk_visit_reports_observation_id_observations",
                 "observation_id", "observations"),
                ("audit_reviews", "fk_audit_reviews_entry_id_audit_entries", "entry_id",
                 "audit_entries")]


def _next(first: date) -> date:
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)


def _bound(first: date) -> str:
    return datetime(first.year, first.month, 1, tzinfo=UTC).isoformat()


def _partition(bind, table: str, column: str) -> None:
    """Make `table` partitioned by month of `column`, with everything it had."""
    oid = bind.execute(sa.text("SELECT CAST(CAST(:t AS regclass) AS oid)"), {"t": table}).scalar()
    constraints = bind.execute(sa.text(
        "SELECT conname, contype, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = :oid AND contype IN ('p', 'u', 'f') ORDER BY contype"),
        {"oid": oid}).all()
    indexes = bind.execute(sa.text(
        "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x "
        "JOIN pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = :oid AND NOT EXISTS "
        "(SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)"), {"oid": oid}).all()
    sequence = bind.execute(sa.text("SELECT pg_get_serial_sequence(:t, 'id')"),
                            {"t": table}).scalar()
    oldest = bind.execute(sa.text(f"SELECT min({column}) FROM {table}")).scalar()

    bind.execute(sa.text(f"ALTER TABLE {table} RENAME TO {table}_unpartitioned"))
    bind.execute(sa.text(f"CREATE TABLE {table} (LIKE {table}_unpartitioned INCLUDING DEFAULTS "
                         f"INCLUDING CONSTRAINTS) PARTITION BY RANGE ({column})"))
    today = datetime.now(UTC).date()
    month = date((oldest or datetime.now(UTC)).year, (oldest or datetime.now(UTC)).month, 1)
    last = date(today.year, today.month, 1)
    for _ in range(3):
        last = _next(last)
    while month <= last:
        bind.execute(sa.text(f"CREATE TABLE {table}_{month:%Y_%m} PARTITION OF {table} "
                             f"FOR VALUES FROM ('{_bound(month)}') TO ('{_bound(_next(month))}')"))
        month = _next(month)
    bind.execute(sa.text(f"CREATE TABLE {table}_default PARTITION OF {table} DEFAULT"))
    bind.execute(sa.text(f"INSERT INTO {table} SELECT * FROM {table}_unpartitioned"))
    if sequence:
        # The id's sequence belongs to the old table's column: keep it for the new one.
        bind.execute(sa.text(f"ALTER SEQUENCE {sequence} OWNED BY NONE"))
    bind.execute(sa.text(f"DROP TABLE {table}_unpartitioned"))
    if sequence:
        bind.execute(sa.text(f"ALTER SEQUENCE {sequence} OWNED BY {table}.id"))
    for name, kind, definition in constraints:
        if kind in ("p", "u") and column not in definition:
            definition = definition.replace(")", f", {column})", 1)
        bind.execute(sa.text(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}'))
    for _name, definition in indexes:
        bind.execute(sa.text(definition))
    bind.execute(sa.text(f"ANALYZE {table}"))


def _append_only(bind, create: bool) -> None:
    if create:
        op.execute("CREATE TRIGGER audit_entries_append_only BEFORE UPDATE OR DELETE ON "
                   "audit_entries FOR EACH ROW EXECUTE FUNCTION hemma_append_only()")
        op.execute("CREATE TRIGGER audit_entries_no_truncate BEFORE TRUNCATE ON audit_entries "
                   "FOR EACH STATEMENT EXECUTE FUNCTION hemma_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_entries_append_only ON audit_entries")
        op.execute("DROP TRIGGER IF EXISTS audit_entries_no_truncate ON audit_entries")


def _sqlite_reviews_triggers(create: bool) -> None:
    """SQLite's ALTER of audit_reviews copies the table, and its append-only triggers with it
    would be lost: off before, on again after."""
    for verb in ("UPDATE", "DELETE"):
        if create:
            op.execute(f"CREATE TRIGGER audit_reviews_no_{verb.lower()} BEFORE {verb} ON "
                       "audit_reviews BEGIN SELECT RAISE(ABORT, 'audit_reviews is append-only'); "
                       "END")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS audit_reviews_no_{verb.lower()}")


def upgrade() -> None:
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    if sqlite:
        _sqlite_reviews_triggers(create=False)
    for table, name, _column, _target in FOREIGN_KEYS:
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(name, type_='foreignkey')
    if sqlite:
        _sqlite_reviews_triggers(create=True)
    with op.batch_alter_table('observations') as batch:
        batch.drop_constraint('uq_observations_client_id', type_='unique')
        batch.create_unique_constraint(
            'uq_observations_client_id',
            ['patient_id', 'documented_by_unit_id', 'client_id', 'measured_at'])
    if bind.dialect.name != "postgresql":
        return
    _append_only(bind, create=False)
    for table, column in PARTITIONED.items():
        _partition(bind, table, column)
    _append_only(bind, create=True)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        raise RuntimeError("partitioned tables are not turned back into plain ones: restore "
                           "the backup taken before the upgrade")
    with op.batch_alter_table('observations') as batch:
        batch.drop_constraint('uq_observations_client_id', type_='unique')
        batch.create_unique_constraint(
            'uq_observations_client_id', ['patient_id', 'documented_by_unit_id', 'client_id'])
    _sqlite_reviews_triggers(create=False)
    for table, name, column, target in FOREIGN_KEYS:
        with op.batch_alter_table(table) as batch:
            batch.create_foreign_key(name, target, [column], ['id'])
    _sqlite_reviews_triggers(create=True)
