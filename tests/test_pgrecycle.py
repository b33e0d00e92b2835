"""The PostgreSQL leg hands a finished test's database to the next one only when it is as
good as a fresh copy of the template (tests/pgrecycle.py)."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from hemma.db import Database
from tests.factories import build_world
from tests.pgrecycle import FINGERPRINT, SEQUENCES, TABLES


def _state(conninfo: str) -> tuple:
    with psycopg.connect(conninfo) as conn:
        counts = {t: conn.execute(f'SELECT count(*) FROM "{s}"."{t}"').fetchone()[0]
                  for s, t in conn.execute(TABLES).fetchall()}
        return (conn.execute(FINGERPRINT).fetchone()[0], counts,
                conn.execute(SEQUENCES).fetchall())


def _conninfo(templates, url: str) -> str:
    return templates.recycler.conninfo_for(make_url(url).database)


@pytest.fixture
def pg_templates(templates):
    if not hasattr(templates, "recycler"):
        pytest.skip("recycling is the PostgreSQL leg's")
    return templates


def test_a_database_that_only_got_rows_comes_back_as_the_template(pg_templates):
    templates = pg_templates
    template = _state(templates.recycler.conninfo_for(templates.template))
    # A test's database, filled the way tests fill theirs.
    url = templates.new()
    database = Database(url)
    build_world(database)
    database.dispose()
    filled = _state(_conninfo(templates, url))
    assert filled[1] != template[1] and filled[2] != template[2]
    templates.drop(url)
    again = templates.new()
    try:
        assert again != url  # a new name: a late reconnect by the old one finds nothing
        assert _state(_conninfo(templates, again)) == template
    finally:
        templates.drop(again)


def _changed_then_finished(templates, sql: str) -> str:
    """A test's database in which `sql` ran, finished: its name."""
    url = templates.new()
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(sql))
    engine.dispose()
    before = list(templates.recycled)
    templates.drop(url)
    assert templates.recycled == before  # not handed out again
    return make_url(url).database


@pytest.mark.parametrize("sql", ["CREATE TABLE left_behind (id int)",
                                 "ALTER TABLE audit_reviews DISABLE TRIGGER USER"],
                         ids=["a table made", "a trigger disabled"])
def test_a_database_whose_objects_changed_is_dropped(pg_templates, sql):
    name = _changed_then_finished(pg_templates, sql)
    with pg_templates.admin.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM pg_database WHERE datname = :n"),
                            {"n": name}).scalar() == 0
