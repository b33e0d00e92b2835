"""Engine and sessions. A session is opened per request or job and committed or rolled back
there, and only there: services never commit (so that an action, its audit entry and its
queued events share one transaction)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, Select, and_, any_, bindparam, create_engine, event, func, select, text, tuple_
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.elements import ColumnElement


def make_engine(url: str, **kw) -> Engine:
    # An error's text names the statement, never the values bound to it (names, personnummer,
    # health data): errors end up in logs and in the outbox's last_error.
    kw.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            **kw,
        )
        _configure_sqlite(engine)
        return engine
    # Every worker thread of the server (AnyIO's 40 by default) may hold a request's
    # transaction at once, and the request's end needs a thread of the same pool: with fewer
    # connections than threads, a burst of requests (hundreds of boards opening together)
    # could leave every thread waiting for a connection that only a thread can give back.
    # The worker, the board's looks and the ingest thread come on top.
    kw.setdefault("pool_size", 10)
    kw.setdefault("max_overflow", 32)
    kw.setdefault("pool_pre_ping", True)
    return create_engine(url, **kw)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin
        # (the documented recipe), so SAVEPOINTs and BEGIN IMMEDIATE work.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        # Nearly every request writes (at least its audit entries). IMMEDIATE takes the write
        # lock up front, so two writers queue on busy_timeout instead of one failing later
        # when it upgrades a stale read snapshot.
        conn.exec_driver_sql("BEGIN IMMEDIATE")


class Database:
    def __init__(self, url: str, **engine_kw):
        self.url = url
        self.engine = make_engine(url, **engine_kw)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False, autoflush=True)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work for CLI commands and jobs: commit on success, roll back on error.
        (Its audit entries are written right before the commit: hemma.access.audit.)"""
        session = self.sessionmaker()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()


_CHANNELS = "hemma.db.notify_channels"
_ON_COMMIT = "hemma.db.on_commit"


def on_commit(session: Session, fn: Callable[[], None]) -> None:
    """Call `fn` after this transaction commits (never if it rolls back): for what must only
    be said of work that was done, such as a metric of a delivery."""
    session.info.setdefault(_ON_COMMIT, []).append(fn)


@event.listens_for(Session, "after_commit")
def _run_on_commit(session: Session) -> None:
    for fn in session.info.pop(_ON_COMMIT, ()):
        fn()


def notify_on_commit(session: Session, channel: str) -> None:
    """Wake other processes LISTENing on `channel` (PostgreSQL) when, and only if, this
    transaction commits. However many events a transaction queues, each channel is
    notified once, right before the commit: one round trip, not one per event."""
    if session.get_bind().dialect.name == "postgresql":
        session.info.setdefault(_CHANNELS, set()).add(channel)


@event.listens_for(Session, "before_commit")
def _send_notifications(session: Session) -> None:
    for channel in sorted(session.info.pop(_CHANNELS, ())):
        session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": channel})


@event.listens_for(Session, "after_rollback")
def _drop_notifications(session: Session) -> None:
    session.info.pop(_CHANNELS, None)
    session.info.pop(_ON_COMMIT, None)


def advisory_lock(session: Session, name: str, *, wait: bool = True) -> bool:
    """One at a time across every process, until this transaction ends: PostgreSQL's
    transaction-level advisory lock on `name`. With `wait` False it is taken only if free,
    and False says another transaction holds it. On SQLite always True: its writers queue
    on the database's own lock (BEGIN IMMEDIATE)."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    key = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big",
                         signed=True)
    if wait:
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
        return True
    return bool(session.execute(text("SELECT pg_try_advisory_xact_lock(:key)"),
                                {"key": key}).scalar())


def any_of(session: Session, column, values) -> ColumnElement[bool]:
    """`column IN (values)` for a list of any length. On PostgreSQL it is `column = ANY(:array)`:
    one bound array, so the statement text (and SQLAlchemy's compiled form, and the server's
    plan) is the same for 1 value or 2,000. An expanding IN renders and parses one
    placeholder per value, which dominated a device batch."""
    values = list(values)
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, values, type_=ARRAY(column.type)))
    return column.in_(values)


def matching_rows(session: Session, model, columns, keys) -> Select:
    """Rows of `model` whose `columns` (a tuple) equal one of `keys` (tuples), found by exact
    index probes: on PostgreSQL the keys are bound arrays, one per column, unnested into a
    table and joined; elsewhere a row-value IN. (`a = ANY(..) AND b = ANY(..)` would read
    every row of every `a` given.)"""
    keys = list(keys)
    if session.get_bind().dialect.name == "postgresql":
        names = [f"k{i}" for i in range(len(columns))]
        wanted = func.unnest(*(
            bindparam(None, [key[i] for key in keys], type_=ARRAY(column.type))
            for i, column in enumerate(columns))).table_valued(*names).render_derived()
        return select(model).join(wanted, and_(*(
            column == wanted.c[name] for column, name in zip(columns, names, strict=True))))
    return select(model).where(tuple_(*columns).in_(keys))


def insert_ignoring_conflict(session: Session, model, rows: list[dict], conflict: list[str],
                             *, report: bool = True) -> list:
    """INSERT … ON CONFLICT DO NOTHING on either database, for one row or many. A row that
    conflicts (already there, or inserted by a concurrent transaction that committed first)
    is skipped. With `report`, returns the primary keys of the rows actually inserted (rows
    of a multi-row insert must then carry their own keys)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    table = model.__table__
    if not rows:
        return []
    (pk,) = table.primary_key.columns
    if not report:
        session.execute(insert(table).on_conflict_do_nothing(index_elements=conflict), rows)
        return []
    if len(rows) == 1:
        # The common case (one submission): RETURNING answers in the same round trip.
        stmt = (insert(table).values(**rows[0]).on_conflict_do_nothing(index_elements=conflict)
                .returning(pk))
        return list(session.execute(stmt).scalars())
    # A plain executemany (one prepared statement, pipelined by the driver), then ask which
    # of the ids we chose made it in: far cheaper than one huge INSERT … RETURNING.
    session.execute(insert(table).on_conflict_do_nothing(index_elements=conflict), rows)
    ids = [row[pk.key] for row in rows]
    found = []
    for start in range(0, len(ids), 500):
        found.extend(session.scalars(select(pk).where(any_of(session, pk, ids[start:start + 500]))))
    return found
