"""The migrations build exactly the schema the models describe (on both databases)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import JSON, bindparam, column, insert, select, table, text

from hemma.access import audit
from hemma.db import Database
from hemma.migrations.runner import upgrade
from hemma.models import AuditHead, AuditReview, Base
from hemma.models.base import UTCDateTime
from hemma.models.partitions import include_name
from tests.conftest import BACKEND


def test_the_migrated_schema_is_the_models_schema(database):
    with database.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(
            conn, opts={"include_name": include_name}), Base.metadata)
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
        with database.engine.begin() as conn:
            _write_shared_entries(conn, 3)
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
            assert {r.chain_id for r in s.scalars(select(AuditReview))} == {audit.SHARED_REVIEWS}
        # They are protected like new ones: a changed review breaks the chain.
        with database.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("ALTER TABLE audit_reviews DISABLE TRIGGER USER"))
            else:
                conn.execute(text("DROP TRIGGER audit_reviews_no_update"))
            conn.execute(text("UPDATE audit_reviews SET outcome = 'incident' WHERE seq = 2"))
        with database.session() as s:
            assert audit.verify(s, path).problems == [
                "the shared log reviews (before Step 9, chain 2): seq 2's contents do not "
                "match its hash"]
    finally:
        database.dispose()


AT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _write_shared_entries(conn, n: int, start: int = 0) -> None:
    """Access-log entries as the code before Step 9 wrote them: one shared chain (head 1),
    the digest without a chain id."""
    head = conn.execute(text("SELECT last_seq, last_hash FROM audit_head WHERE id = 1")).one()
    seq, prev = head
    key = audit._chain_key()
    for k in range(start, start + n):
        seq += 1
        row = {"chain_id": None, "seq": seq, "at": AT, "user_id": 1, "username": "rita",
               "unit_id": 1, "organisation_id": 1, "patient_id": None, "action": "auth.login",
               "basis": "role", "emergency": False, "outcome": "allowed",
               "client_addr": "127.0.0.1", "detail": str(k), "prev_hash": prev}
        prev = audit._digest(key, row, 1)
        del row["chain_id"]
        conn.execute(text(
            "INSERT INTO audit_entries (seq, at, user_id, username, unit_id, organisation_id, "
            "patient_id, action, basis, emergency, outcome, client_addr, detail, prev_hash, "
            "hash) VALUES (:seq, :at, :user_id, :username, :unit_id, :organisation_id, "
            ":patient_id, :action, :basis, :emergency, :outcome, :client_addr, :detail, "
            ":prev_hash, :hash)").bindparams(bindparam("at", type_=UTCDateTime())),
            {**row, "hash": prev})
    conn.execute(text("UPDATE audit_head SET last_seq = :seq, last_hash = :hash WHERE id = 1"),
                 {"seq": seq, "hash": prev})


def test_the_shared_log_is_kept_as_it_was_and_new_entries_go_to_each_organisations_chain(
        blank_url, tmp_path):
    upgrade(blank_url, "9b4e2a7c1d35")
    database = Database(blank_url)
    path = tmp_path / "checkpoints.jsonl"
    try:
        with database.engine.begin() as conn:
            _write_shared_entries(conn, 4)
            seq, digest = conn.execute(
                text("SELECT last_seq, last_hash FROM audit_head WHERE id = 1")).one()
        # A checkpoint line as the worker wrote it before Step 9.
        body = {"at": AT.isoformat(), "entries": [seq, digest], "reviews": [0, audit.GENESIS]}
        path.write_text(json.dumps({**body, "sig": audit._sign(body)}) + "\n")
        upgrade(blank_url)
        with database.session() as s:
            report = audit.verify(s, path)
            assert report.ok, report.problems
            assert (report.checked, report.chains, report.checkpoints_checked) == (4, 1, 1)
            heads = s.execute(select(AuditHead.id, AuditHead.chain_key, AuditHead.closed,
                                     AuditHead.digest_version)).all()
            assert [tuple(h) for h in heads] == [(1, "entries:shared", True, 1)]
        # New entries: each organisation's its own chain; nothing more in the shared one.
        for org, n in ((1, 2), (7, 3), (None, 1)):
            with database.session() as s:
                audit.trail(s).actor = audit.Actor(user_id=1, username="rita",
                                                   organisation_id=org)
                for k in range(n):
                    audit.record(s, None, "auth.login", basis="role", detail=str(k))
        with database.session() as s:
            chains = {h.chain_key: (h.id, h.last_seq) for h in s.scalars(select(AuditHead))}
            assert chains["entries:shared"] == (1, 4)
            assert chains["entries:org:1"][1] == 2
            assert chains["entries:org:7"][1] == 3
            assert chains["entries:installation"][1] == 1
            audit.write_checkpoint(s, path)
            report = audit.verify(s, path)
            assert report.ok, report.problems
            assert (report.checked, report.chains, report.checkpoints_checked) == (10, 4, 2)
        # The old rows are still protected: one changed breaks the shared chain.
        with database.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("ALTER TABLE audit_entries DISABLE TRIGGER USER"))
            else:
                conn.execute(text("DROP TRIGGER audit_entries_no_update"))
            conn.execute(text("UPDATE audit_entries SET detail = 'x' WHERE chain_id = 1 "
                              "AND seq = 3"))
        with database.session() as s:
            assert audit.verify(s, path).problems == [
                "the shared access log (before Step 9, chain 1): seq 3's contents do not "
                "match its hash"]
    finally:
        database.dispose()
