"""Monthly partitions of the two tables that grow without end: observations (by when they
were measured) and the access log (by when it was written), on PostgreSQL's native
partitioning. SQLite keeps plain tables, and every function here does nothing there.

A month is a UTC calendar month, `<table>_YYYY_MM`; `<table>_default` takes what no month
has yet (a value measured long ago). The worker keeps the next months made (`ensure`), and
`ensure` for a month whose rows already wait in the default partition moves them into it.
An old month is detached, not deleted (`detach`): it stays in the database as a table of
its own for the administrator to dump to the archive and drop."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

PARTITIONED = {"observations": "measured_at", "audit_entries": "at"}
MONTHS_AHEAD = 3
_NAME = re.compile(r"^(?P<table>[a-z_]+)_(?P<year>\d{4})_(?P<month>\d{2})$")


def is_partition(name: str) -> bool:
    """Is this table one of a partitioned table's months, or its default?"""
    m = _NAME.match(name)
    return (m is not None and m["table"] in PARTITIONED) or \
        any(name == f"{table}_default" for table in PARTITIONED)


def include_name(name, type_, _parent) -> bool:
    """What Alembic compares with the models: not the monthly partitions (PostgreSQL), which
    are the partitioned tables' own and no model's."""
    return not (type_ == "table" and is_partition(name or ""))


def month_start(day: date) -> date:
    return date(day.year, day.month, 1)


def next_month(first: date) -> date:
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)


def partition_name(table: str, first: date) -> str:
    return f"{table}_{first:%Y_%m}"


def _bound(first: date) -> str:
    return datetime(first.year, first.month, 1, tzinfo=UTC).isoformat()


def is_partitioned(bind: Connection | Session, table: str) -> bool:
    if bind.get_bind().dialect.name != "postgresql" if isinstance(bind, Session) \
            else bind.dialect.name != "postgresql":
        return False
    return bool(bind.execute(text(
        "SELECT 1 FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid "
        "WHERE c.relname = :t AND c.relnamespace = current_schema()::regnamespace"),
        {"t": table}).scalar())


@dataclass(frozen=True)
class Partition:
    table: str
    name: str
    first: date | None  # None: the default partition
    rows: int  # the planner's estimate (reltuples), -1 before the first ANALYZE


def partitions(bind: Connection | Session, table: str) -> list[Partition]:
    """The table's partitions, oldest first, the default last."""
    if not is_partitioned(bind, table):
        return []
    found = []
    for name, rows in bind.execute(text(
            "SELECT c.relname, c.reltuples::bigint FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent "
            "WHERE p.relname = :t AND p.relnamespace = current_schema()::regnamespace"),
            {"t": table}):
        m = _NAME.match(name)
        first = date(int(m["year"]), int(m["month"]), 1) if m and m["table"] == table else None
        found.append(Partition(table, name, first, int(rows)))
    return sorted(found, key=lambda p: (p.first is None, p.first or date.min))


def ensure(bind: Connection | Session, table: str, first: date, last: date) -> list[str]:
    """Make the table's monthly partitions from the month of `first` to that of `last`,
    those missing; rows of such a month already in the default partition move into it.
    Returns the partitions made."""
    if not is_partitioned(bind, table):
        return []
    column = PARTITIONED[table]
    # Two workers making the same month at once: one waits for the other, then sees it.
    bind.execute(text("SELECT pg_advisory_xact_lock(hashtext('hemma.partitions'))"))
    existing = {p.name for p in partitions(bind, table)}
    made = []
    month = month_start(first)
    while month <= month_start(last):
        name = partition_name(table, month)
        if name not in existing:
            lo, hi = _bound(month), _bound(next_month(month))
            waiting = bind.execute(text(
                f'SELECT 1 FROM "{table}_default" WHERE {column} >= :lo AND {column} < :hi '
                "LIMIT 1"), {"lo": lo, "hi": hi}).scalar()
            if waiting:
                # A month with rows in the default partition cannot be made in place: make it
                # beside, move the rows, attach it (all in the caller's transaction).
                bind.execute(text(f'CREATE TABLE "{name}" (LIKE "{table}" INCLUDING DEFAULTS '
                                  "INCLUDING CONSTRAINTS)"))
                # The access log is append-only by trigger: a row moving to its month is
                # the same row (its hash proves it), so the trigger rests for the move.
                bind.execute(text(f'ALTER TABLE "{table}_default" DISABLE TRIGGER USER'))
                bind.execute(text(
                    f'WITH moved AS (DELETE FROM "{table}_default" WHERE {column} >= :lo AND '
                    f'{column} < :hi RETURNING *) INSERT INTO "{name}" SELECT * FROM moved'),
                    {"lo": lo, "hi": hi})
                bind.execute(text(f'ALTER TABLE "{table}_default" ENABLE TRIGGER USER'))
                bind.execute(text(f'ALTER TABLE "{table}" ATTACH PARTITION "{name}" '
                                  f"FOR VALUES FROM ('{lo}') TO ('{hi}')"))
            else:
                bind.execute(text(f'CREATE TABLE "{name}" PARTITION OF "{table}" '
                                  f"FOR VALUES FROM ('{lo}') TO ('{hi}')"))
            made.append(name)
        month = next_month(month)
    return made


def ensure_ahead(bind: Connection | Session, today: date) -> list[str]:
    """This month's and the next MONTHS_AHEAD months' partitions of every partitioned table
    (the worker's daily round)."""
    last = month_start(today)
    for _ in range(MONTHS_AHEAD):
        last = next_month(last)
    return [name for table in PARTITIONED for name in ensure(bind, table, today, last)]


def detach(bind: Connection | Session, table: str, before: date) -> list[Partition]:
    """Detach the table's months that end on or before `before` (the first of a month): each
    stays as a table of its own, outside the partitioned one, for the archive. The caller
    decides what may go (retention) and records it."""
    gone = []
    for p in partitions(bind, table):
        if p.first is not None and next_month(p.first) <= before:
            bind.execute(text(f'ALTER TABLE "{table}" DETACH PARTITION "{p.name}"'))
            gone.append(p)
    return gone
