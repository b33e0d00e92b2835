"""The migrations build exactly the schema the models describe (on both databases)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import JSON, column, insert, select, table, text

from hemma.access import audit
from hemma.db import Database
from hemma.migrations.runner import upgrade
from hemma.models import AuditReview, Base
from hemma.models.base import UTCDateTime
from tests.conftest import BACKEND


def test_the_migrated_schema_is_the_models_schema(database):
    with database.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


@pytest.fixture
def blank_url(templates, tmp_path) -> Iterator[str]:
    """An empty database, for migrating step by step."""
    if BACKEND != "postgres":
        yield f"sqlite:///{tmp_path / 'blank.sqlite3'}"
        return
    name = f"{templates.prefix}_blank"
    with templates.admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = templates._pg_url(name)
    yield url
    templates.drop(url)


def test_log_reviews_made_before_they_were_chained_are_chained_by_the_migration(
        blank_url, tmp_path):
    upgrade(blank_url, "7c1d2e3f4a5b")
    # Rows as that revision's schema holds them (written without today's models).
    organisations = table("organisations", column("id"), column("name"), column("kind"))
    units = table("units", column("id"), column("organisation_id"), column("name"),
                  column("kind"), column("virtual_beds"), column("active"))
    staff = table("staff", column("id"), column("username"), column("given_name"),
                  column("family_name"), column("profession"), column("unit_id"),
                  column("skills", JSON), column("is_admin"), column("is_log_reviewer"),
                  column("active"), column("created_at", UTCDateTime()))
    reviews = table("audit_reviews", column("entry_id"), column("reviewer_id"),
                    column("reviewed_at", UTCDateTime()), column("outcome"), column("note"))
    database = Database(blank_url)
    try:
        with database.engine.begin() as conn:
            conn.execute(insert(organisations).values(id=1, name="Region", kind="region"))
            conn.execute(insert(units).values(id=1, organisation_id=1, name="Medicin",
                                              kind="hospital_clinic", virtual_beds=0,
                                              active=True))
            conn.execute(insert(staff).values(
                id=1, username="rita", given_name="Rita", family_name="Granskare",
                profession="administrative", unit_id=1, skills=[], is_admin=False,
                is_log_reviewer=True, active=True, created_at=datetime.now(UTC)))
        with database.session() as s:
            for n in range(3):
                audit.record(s, None, "auth.login", basis="role", detail=str(n))
                audit.flush(s)
        with database.engine.begin() as conn:
            ids = conn.execute(text("SELECT id FROM audit_entries ORDER BY seq")).scalars().all()
            conn.execute(insert(reviews), [
                {"entry_id": entry_id, "reviewer_id": 1, "outcome": "justified",
                 "note": f"Granskad {n}", "reviewed_at": datetime(2026, 11, 30, 12, n, tzinfo=UTC)}
                for n, entry_id in enumerate(ids)])
        upgrade(blank_url)
        path = tmp_path / "checkpoints.jsonl"
        with database.session() as s:
            audit.write_checkpoint(s, path)
            report = audit.verify(s, path)
            assert report.ok, report.problems
            assert report.reviews_checked == 3
            assert [r.note for r in s.scalars(select(AuditReview).order_by(AuditReview.seq))] \
                == ["Granskad 0", "Granskad 1", "Granskad 2"]
        # They are protected like new ones: a changed review breaks the chain.
        with database.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("ALTER TABLE audit_reviews DISABLE TRIGGER USER"))
            else:
                conn.execute(text("DROP TRIGGER audit_reviews_no_update"))
            conn.execute(text("UPDATE audit_reviews SET outcome = 'incident' WHERE seq = 2"))
        with database.session() as s:
            assert audit.verify(s, path).problems == [
                "review seq 2: contents do not match its hash"]
    finally:
        database.dispose()
