"""Real databases for every test: a fresh copy of a migrated template per test, on SQLite
(always) or PostgreSQL (HEMMA_TEST_BACKEND=postgres with HEMMA_TEST_DATABASE_URL; `make test`
runs the suite once per backend). Named people, built once per test by `world`."""

from __future__ import annotations

import itertools
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from hemma.app import create_app
from hemma.config import Settings, configure
from hemma.db import Database
from hemma.migrations.runner import upgrade
from tests.factories import World, build_world
from tests.pgrecycle import Recycler

# The whole run's log is scanned for patients' personnummer and names (tests/logscan.py);
# pytester runs a planted leak in a run of its own (tests/test_logscan.py).
pytest_plugins = ["pytester", "tests.logscan"]

BACKEND = os.environ.get("HEMMA_TEST_BACKEND", "sqlite")
PG_URL = os.environ.get("HEMMA_TEST_DATABASE_URL", "")
TEST_SECRET = "test-secret-key-not-for-production"


def pytest_report_header(config):
    return f"hemma database backend: {BACKEND}" + (f" ({make_url(PG_URL).render_as_string()})"
                                                   if BACKEND == "postgres" else "")


def pytest_collection_modifyitems(config, items):
    """The PostgreSQL leg runs the tests that use a database; the rest (the solver, NEWS2,
    charts, parsing) do the same on either leg and run once, on SQLite."""
    if BACKEND != "postgres":
        return
    keep = [item for item in items
            if {"db_url", "templates"} & set(getattr(item, "fixturenames", ()))]
    dropped = [item for item in items if item not in keep]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


@pytest.fixture(scope="session", autouse=True)
def _settings_env(tmp_path_factory):
    """Code that reads the global settings (the audit chain key) sees the test's secret."""
    os.environ["HEMMA_SECRET_KEY"] = TEST_SECRET
    os.environ["HEMMA_DATA_DIR"] = str(tmp_path_factory.mktemp("data"))
    # The visit planner searches a fixed number of moves: the same plans on any machine.
    os.environ["HEMMA_PLANNING_ITERATIONS"] = "300000"
    configure(None)
    yield
    configure(None)


class _Templates:
    """Migrate once per session, hand each test a fresh copy."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.counter = itertools.count()
        self.prefix = f"hemma_t{os.getpid()}"
        if BACKEND == "postgres":
            if not PG_URL:
                raise RuntimeError("HEMMA_TEST_BACKEND=postgres needs HEMMA_TEST_DATABASE_URL")
            self.admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
            self.template = f"{self.prefix}_template"
            with self.admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{self.template}"'))
                conn.execute(text(f'CREATE DATABASE "{self.template}"'))
                # PostgreSQL 15 copies a template through the WAL by default: for a small
                # database copied hundreds of times, copying its files is five times faster.
                version = conn.execute(text("SHOW server_version_num")).scalar()
            self.strategy = " STRATEGY FILE_COPY" if int(version) >= 150000 else ""
            upgrade(self._pg_url(self.template))
            # Emptied databases of finished tests, to be handed out again (tests/pgrecycle.py).
            self.recycler = Recycler(lambda name: make_url(self._pg_url(name)).set(
                drivername="postgresql").render_as_string(hide_password=False))
            self.recycler.learn(self.template)
            self.recycled: list[str] = []
        else:
            self.template_file = workdir / "template.sqlite3"
            upgrade(f"sqlite:///{self.template_file}")

    def _pg_url(self, name: str) -> str:
        return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)

    def new(self) -> str:
        n = next(self.counter)
        if BACKEND == "postgres":
            if self.recycled:
                return self._pg_url(self.recycled.pop())
            name = f"{self.prefix}_{n}"
            with self.admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
                conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"'
                                  f'{self.strategy}'))
            return self._pg_url(name)
        path = self.workdir / f"db{n}.sqlite3"
        shutil.copy(self.template_file, path)
        return f"sqlite:///{path}"

    def drop(self, url: str) -> None:
        if BACKEND == "postgres":
            name = make_url(url).database
            with self.admin.connect() as conn:
                conn.execute(text("SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
                                  "WHERE datname = :name"), {"name": name})
            try:
                if self.recycler.reset(name):
                    fresh = f"{self.prefix}_{next(self.counter)}"
                    with self.admin.connect() as conn:
                        conn.execute(text(f'ALTER DATABASE "{name}" RENAME TO "{fresh}"'))
                    self.recycled.append(fresh)
                    return
            except (DBAPIError, psycopg.Error):
                pass  # someone connected meanwhile: dropped below, as any changed database
            with self.admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        else:
            Path(make_url(url).database).unlink(missing_ok=True)

    def close(self) -> None:
        if BACKEND == "postgres":
            with self.admin.connect() as conn:
                for name in self.recycled:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                conn.execute(text(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)'))
            self.admin.dispose()


@pytest.fixture(scope="session")
def templates(tmp_path_factory) -> Iterator[_Templates]:
    t = _Templates(tmp_path_factory.mktemp("db"))
    yield t
    t.close()


@pytest.fixture
def db_url(templates) -> Iterator[str]:
    url = templates.new()
    yield url
    templates.drop(url)


@pytest.fixture
def settings(db_url, tmp_path) -> Iterator[Settings]:
    """The test's settings, as the process's (what create_app makes them): one way to them."""
    settings = Settings(database_url=db_url, secret_key=TEST_SECRET, data_dir=tmp_path)
    configure(settings)
    yield settings
    configure(None)


@pytest.fixture
def database(settings) -> Iterator[Database]:
    database = Database(settings.database_url)
    yield database
    database.dispose()


@pytest.fixture
def app(settings, database):
    return create_app(settings, database)


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    # https so that the Secure session cookie is sent back, as a browser would.
    with TestClient(app, base_url="https://testserver") as c:
        yield c


@pytest.fixture
def world(database) -> World:
    return build_world(database)


@pytest.fixture
def as_user(app, world, database):
    """as_user("sara") -> a logged-in TestClient for that person (plus its CSRF token)."""
    clients = []

    def make(username: str) -> TestClient:
        c = TestClient(app, base_url="https://testserver")
        c.__enter__()
        clients.append(c)
        world.login(c, database, username)
        return c

    yield make
    for c in clients:
        c.__exit__(None, None, None)


@pytest.fixture
def new_id():
    return lambda: uuid.uuid4()
