"""Observations and the access log partitioned by month on PostgreSQL (SQLite keeps plain
tables): rows land in their month, the coming months are made ahead, rows that waited in the
default partition move into their month when it is made, and old months of the log are
detached for the archive with every chain still verifying."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select, text

from hemma.access import audit
from hemma.jobs.worker import Worker
from hemma.kit.time import utcnow
from hemma.models import AuditEntry, AuditHead, partitions
from tests.conftest import BACKEND

pytestmark = pytest.mark.skipif(BACKEND != "postgres",
                                reason="partitions are PostgreSQL's; SQLite keeps plain tables")


def _observe(world, as_user, pid, measured_at: datetime) -> None:
    r = as_user("sara").post(f"/api/v1/patients/{pid}/observations", json={
        "client_id": str(uuid.uuid4()), "measured_at": measured_at.isoformat(), "pulse": 72})
    assert r.status_code == 201, r.text


def _where(database, table: str, column: str, key, value) -> str:
    with database.engine.connect() as conn:
        return conn.execute(text(f"SELECT tableoid::regclass::text FROM {table} "
                                 f"WHERE {column} = :v"), {"v": value}).scalar()


def test_both_tables_are_partitioned_by_month_with_the_coming_months_made(database):
    today = utcnow().date()
    with database.session() as s:
        for table in partitions.PARTITIONED:
            assert partitions.is_partitioned(s, table)
            names = [p.name for p in partitions.partitions(s, table)]
            month = partitions.month_start(today)
            for _ in range(partitions.MONTHS_AHEAD + 1):
                assert partitions.partition_name(table, month) in names
                month = partitions.next_month(month)
            assert names[-1] == f"{table}_default"


def test_a_value_lands_in_its_month_and_an_old_one_moves_there_when_the_month_is_made(
        world, database, as_user):
    pid = world.patient(unit="med")
    world.episode(pid, state="admitted")
    now = utcnow()
    _observe(world, as_user, pid, now - timedelta(minutes=5))
    with database.engine.connect() as conn:
        homes = conn.execute(text("SELECT tableoid::regclass::text FROM observations "
                                  "WHERE patient_id = :p"), {"p": pid}).scalars().all()
    assert homes == [partitions.partition_name("observations", partitions.month_start(now.date()))]
    # A value measured long before any month was made waits in the default partition...
    old = datetime(2019, 3, 14, 8, 0, tzinfo=UTC)
    with database.engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO observations (id, patient_id, client_id, measured_at, received_at, "
            "performer, source, documented_by_unit_id, symptoms, feeling_worse, "
            "news2_partial) VALUES (:id, :p, 'old-1', :at, :at, 'staff', 'api', :u, '{}', "
            "false, true)"), {"id": uuid.uuid4(), "p": pid, "at": old,
                                "u": world.units["med"]})
    assert _where(database, "observations", "client_id", None, "old-1") == "observations_default"
    # ... and moves into its month when the month is made.
    with database.session() as s:
        made = partitions.ensure(s, "observations", date(2019, 2, 1), date(2019, 3, 1))
    assert made == ["observations_2019_02", "observations_2019_03"]
    assert _where(database, "observations", "client_id", None, "old-1") == "observations_2019_03"
    with database.session() as s:  # made once: a second call makes nothing
        assert partitions.ensure(s, "observations", date(2019, 3, 1), date(2019, 3, 1)) == []


def test_the_worker_makes_the_coming_months_once_a_day(database):
    far = utcnow() + timedelta(days=200)
    worker = Worker(database)
    report = worker.tick(far)
    month = partitions.month_start(far.date())
    for _ in range(partitions.MONTHS_AHEAD):
        month = partitions.next_month(month)
    assert partitions.partition_name("observations", month) in report.partitions
    assert partitions.partition_name("audit_entries", month) in report.partitions
    assert worker.tick(far + timedelta(minutes=1)).partitions is None  # not again today


def test_old_months_of_the_log_are_detached_and_every_chain_still_verifies(
        settings, world, database, as_user, tmp_path):
    pid = world.patient(unit="med")
    as_user("sara").get(f"/patients/{pid}")
    with database.session() as s:
        chain = s.scalar(select(AuditEntry.chain_id).where(AuditEntry.username == "sara"))
    # A chain whose first entries are years old (written with their old time, as the log
    # was then), and one entry written now.
    with database.session() as s:
        audit.trail(s).actor = audit.Actor(user_id=1, username="arkiv", organisation_id=999)
        for n in range(3):
            audit.record(s, None, "auth.login", basis="role", detail=str(n))
        audit.flush(s, at=datetime(2019, 5, 2, 10, 0, tzinfo=UTC))
    with database.session() as s:
        audit.trail(s).actor = audit.Actor(user_id=1, username="arkiv", organisation_id=999)
        audit.record(s, None, "auth.login", basis="role", detail="new")
    with database.session() as s:
        partitions.ensure(s, "audit_entries", date(2019, 5, 1), date(2019, 5, 1))
    checkpoints = tmp_path / "checkpoints.jsonl"
    with database.session() as s:
        audit.write_checkpoint(s, checkpoints)  # names seq 4 of the old chain: kept
        assert audit.verify(s, checkpoints).ok
    with database.session() as s:
        archived = audit.archive_before(s, date(2019, 6, 1))
    assert archived.partitions == ["audit_entries_2019_05"]
    with database.session() as s:
        old = s.scalar(select(AuditHead).where(AuditHead.chain_key == "entries:org:999"))
        assert archived.chains == {old.id: 4}
        assert (old.first_seq, old.last_seq) == (4, 4)
        assert s.scalar(select(AuditEntry.seq).where(AuditEntry.chain_id == old.id)) == 4
        report = audit.verify(s, checkpoints)
        assert report.ok, report.problems
        # The archive is recorded, and the detached month is a table of its own.
        entry = s.scalar(select(AuditEntry).where(AuditEntry.action == "audit.archive"))
        assert "audit_entries_2019_05" in entry.detail
        assert s.execute(text("SELECT count(*) FROM audit_entries_2019_05")).scalar() == 3
    # Other chains were not touched.
    with database.session() as s:
        head = s.get(AuditHead, chain)
        assert head.first_seq == 1


def test_the_daily_retention_detaches_the_logs_months_past_its_time(settings, database):
    from hemma.config import configure
    from hemma.jobs import retention

    with database.session() as s:
        partitions.ensure(s, "audit_entries", date(2019, 5, 1), date(2019, 5, 1))
        audit.trail(s).actor = audit.Actor(user_id=1, username="arkiv", organisation_id=999)
        audit.record(s, None, "auth.login", basis="role")
        audit.flush(s, at=datetime(2019, 5, 2, 10, 0, tzinfo=UTC))
    configure(settings.model_copy(update={"retention_audit_days": 1827}))
    try:
        now = datetime(2024, 7, 15, 12, 0, tzinfo=UTC)  # 2019-05 ended over five years ago
        dry = {o.data_class: o for o in retention.run(database, now, dry_run=True)}
        assert dry["audit"].rows == 1
        with database.session() as s:
            assert "audit_entries_2019_05" in {
                p.name for p in partitions.partitions(s, "audit_entries")}
        done = {o.data_class: o for o in retention.run(database, now)}
        assert done["audit"].rows == 1 and done["audit"].error is None
    finally:
        configure(settings)
    with database.session() as s:
        assert "audit_entries_2019_05" not in {
            p.name for p in partitions.partitions(s, "audit_entries")}
        assert s.scalar(select(AuditEntry.detail).where(
            AuditEntry.action == "retention.purge", AuditEntry.detail.like("audit:%")))
        assert audit.verify(s).ok
