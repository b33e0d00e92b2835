"""Alembic environment: one metadata, batch mode so that migrations also run on SQLite."""

from __future__ import annotations

from alembic import context

from hemma.config import get_settings
from hemma.db import make_engine
from hemma.models import Base
from hemma.models.partitions import include_name

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    return config.attributes.get("url") or get_settings().resolved_database_url()


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, render_as_batch=True,
                      literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(_url())
    try:
        with engine.connect() as conn:
            _run(conn)
    finally:
        engine.dispose()


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=True, compare_type=True, include_name=include_name)
    sqlite = connection.dialect.name == "sqlite" and not connection.in_transaction()
    if sqlite:
        # A batch migration copies a table and drops the old one; with foreign keys on, SQLite
        # refuses to drop a table other rows refer to. The pragma only takes effect outside a
        # transaction, so it is set on the driver's connection before the migration's BEGIN,
        # and every reference is checked before the keys are switched back on.
        connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
    try:
        with context.begin_transaction():
            context.run_migrations()
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"the migration broke foreign keys: {broken[:5]}")
    finally:
        if sqlite:
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
