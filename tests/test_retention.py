"""Retention (gallring) with a controlled clock: ten years and a month from now, a patient
whose record has been quiet since today loses their values and messages (with the photos on
disk), except the values an alert quotes and those its NEWS2 was combined from, and the
values of an episode whose discharge summary is not signed; a patient in care, or with a
newer entry anywhere in the record, keeps everything. Each class's run writes one audit
entry; a dry run changes nothing; a setting below the legal minimum stops Hemma."""

from __future__ import annotations

import io
import os
import uuid
from datetime import timedelta

import pytest
from click.testing import CliRunner
from PIL import Image
from pydantic import ValidationError
from sqlalchemy import func, select, update

from hemma.access.service import subject_for
from hemma.cli import main as cli
from hemma.config import Settings, configure
from hemma.jobs import retention
from hemma.jobs.worker import Worker
from hemma.kit.time import utcnow
from hemma.messaging import photos
from hemma.messaging import service as messaging
from hemma.messaging.schemas import MessageCreate
from hemma.models import (
    Alert,
    AuditEntry,
    CareRelation,
    DischargeSummary,
    Message,
    MessageThread,
    Observation,
    Staff,
)
from tests.conftest import BACKEND, TEST_SECRET

TEN_YEARS = 3653
NOW = utcnow()
LATER = NOW + timedelta(days=TEN_YEARS + 30)  # the purge's clock


def _value(s, world, pid, episode_id, minutes_ago: float, *, at=None, pulse: int = 80):
    at = at or NOW - timedelta(minutes=minutes_ago)
    row = Observation(patient_id=pid, episode_id=episode_id, client_id=f"r-{uuid.uuid4()}",
                      measured_at=at, received_at=at, performer="staff", source="api",
                      documented_by_unit_id=world.units["med"], pulse=pulse, symptoms={})
    s.add(row)
    s.flush()
    return row.id


def _photo() -> io.BytesIO:
    out = io.BytesIO()
    Image.new("RGB", (20, 20), (10, 120, 40)).save(out, "JPEG")
    out.seek(0)
    return out


def _end_care(database, *patients) -> None:
    """The care relationships end today (after the discharge's grace)."""
    with database.session() as s:
        s.execute(update(CareRelation).where(CareRelation.patient_id.in_(patients))
                  .values(ends_at=NOW))


def _discharged(world, database, *, summary: bool = False):
    """A patient discharged today: once `_end_care`, a record that becomes purgeable ten
    years on."""
    pid = world.patient(unit="med")
    episode = world.episode(pid, state="discharged")
    with database.session() as s:
        if summary:
            s.add(DischargeSummary(episode_id=episode, patient_id=pid, facts={},
                                   documented_by_unit_id=world.units["med"], created_at=NOW,
                                   created_by_id=world.staff["lisa"], updated_at=NOW))
    return pid, episode


def _count(database, model, **where) -> int:
    with database.session() as s:
        stmt = select(func.count()).select_from(model)
        for key, value in where.items():
            stmt = stmt.where(getattr(model, key) == value)
        return s.scalar(stmt)


@pytest.fixture
def kept_ten_years(settings):
    settings.retention_observations_days = TEN_YEARS
    settings.retention_messages_days = TEN_YEARS
    return settings


def test_a_quiet_record_loses_what_nothing_refers_to_and_keeps_what_does(
        kept_ten_years, settings, world, database):
    # Gone, ten years on: values and messages with their photos.
    gone, episode = _discharged(world, database)
    alert = world.alert(gone)
    with database.session() as s:
        lone = _value(s, world, gone, episode, minutes_ago=300)  # no one quotes it
        quoted = _value(s, world, gone, episode, minutes_ago=120, pulse=135)
        combined = _value(s, world, gone, episode, minutes_ago=150)  # in quoted's window
        before_window = _value(s, world, gone, episode, minutes_ago=200)
        s.execute(update(Alert).where(Alert.id == alert).values(observation_id=quoted))
        me = subject_for(s, s.get(Staff, world.staff["sara"]))
        messaging.send(s, me, gone, MessageCreate(body="Hur mår du?"), photo=_photo())
        messaging.send(s, me, gone, MessageCreate(body="Till teamet", to="staff"))
    (photo_key,) = [m.photo_key for m in _messages(database, gone) if m.photo_key]
    assert photos.path_of(photo_key).exists()

    # Kept whole: a patient still in care, and one whose record has a newer entry.
    in_care = world.patient(unit="med")
    in_care_episode = world.episode(in_care, state="admitted")
    back, back_episode = _discharged(world, database)
    with database.session() as s:
        _value(s, world, in_care, in_care_episode, minutes_ago=300)
        _value(s, world, back, back_episode, minutes_ago=300)
        # Nine years later the patient sent a value again: ten years run from there.
        _value(s, world, back, None, 0, at=NOW + timedelta(days=9 * 365))
        messaging.send(s, me, back, MessageCreate(body="Välkommen tillbaka"))
    # Kept: the values of an episode whose summary is still a draft.
    drafting, drafting_episode = _discharged(world, database, summary=True)
    with database.session() as s:
        _value(s, world, drafting, drafting_episode, minutes_ago=300)

    _end_care(database, gone, back, drafting)

    # An old photo file no message refers to (a process died before its message committed).
    stray = photos.uploads_dir() / ("ab" * 16)
    stray.write_bytes(b"not referred to")
    os.utime(stray, (NOW.timestamp() - 3 * 86400,) * 2)

    values_before = _count(database, Observation)
    entries_before = _count(database, AuditEntry, action=retention.ACTION)

    # A dry run counts and changes nothing.
    dry = {o.data_class: o for o in retention.run(database, LATER, dry_run=True)}
    assert (dry["observations"].rows, dry["observations"].patients) == (2, 1)
    assert (dry["messages"].rows, dry["messages"].photos) == (2, 1)
    assert dry["audit"].skipped == "kept for ever (0 days)"
    assert _count(database, Observation) == values_before
    assert _count(database, AuditEntry, action=retention.ACTION) == entries_before
    assert photos.path_of(photo_key).exists() and stray.exists()

    done = {o.data_class: o for o in retention.run(database, LATER, batch=1)}
    assert (done["observations"].rows, done["observations"].patients) == (2, 1)
    assert (done["messages"].rows, done["messages"].photos, done["messages"].orphans) == (2, 1, 1)
    with database.session() as s:
        left = set(s.scalars(select(Observation.id).where(Observation.patient_id == gone)))
    assert left == {quoted, combined}  # lone and before_window went
    assert lone not in left and before_window not in left
    assert _count(database, Alert, id=alert) == 1
    assert _count(database, Message, patient_id=gone) == 0
    assert _count(database, MessageThread, patient_id=gone) == 0
    assert not photos.path_of(photo_key).exists() and not stray.exists()
    for pid, n in ((in_care, 1), (back, 2), (drafting, 1)):
        assert _count(database, Observation, patient_id=pid) == n
    assert _count(database, Message, patient_id=back) == 1

    # One entry per class and run, saying what, how many and the cutoff.
    with database.session() as s:
        entries = s.scalars(select(AuditEntry).where(AuditEntry.action == retention.ACTION)
                            .order_by(AuditEntry.seq)).all()
    assert len(entries) == entries_before + 2
    details = [e.detail for e in entries[-2:]]
    cutoff = (LATER - timedelta(days=TEN_YEARS)).isoformat(timespec="seconds")
    assert details[0].startswith("observations: 2 rows of 1 patients") and cutoff in details[0]
    assert details[1].startswith("messages: 2 rows of 1 patients") and "1 photos" in details[1]
    assert all(e.patient_id is None and e.username == "(hemma retention)" for e in entries)

    # Run again: nothing more is due, and the run is still logged.
    again = {o.data_class: o for o in retention.run(database, LATER)}
    assert again["observations"].rows == 0 and again["messages"].rows == 0
    assert _count(database, AuditEntry, action=retention.ACTION) == entries_before + 4


def _messages(database, pid):
    with database.session() as s:
        rows = list(s.scalars(select(Message).where(Message.patient_id == pid)))
        s.expunge_all()
        return rows


def test_nothing_is_purged_while_a_class_is_kept_for_ever(settings, world, database):
    gone, episode = _discharged(world, database)
    _end_care(database, gone)
    with database.session() as s:
        _value(s, world, gone, episode, minutes_ago=300)
    outcomes = retention.run(database, LATER)
    assert all(o.skipped for o in outcomes)
    assert _count(database, Observation) == 1
    assert _count(database, AuditEntry, action=retention.ACTION) == 0


def test_the_worker_purges_once_a_day(kept_ten_years, world, database):
    gone, episode = _discharged(world, database)
    _end_care(database, gone)
    with database.session() as s:
        _value(s, world, gone, episode, minutes_ago=300)
    worker = Worker(database)
    first = worker.tick(LATER)
    assert {o.data_class: o.rows for o in first.retention}["observations"] == 1
    assert worker.tick(LATER + timedelta(hours=23)).retention is None
    assert worker.tick(LATER + timedelta(days=1)).retention is not None


def test_a_retention_below_the_legal_minimum_is_refused_at_start(settings):
    with pytest.raises(ValidationError) as refused:
        Settings(retention_audit_days=365)
    assert "HEMMA_RETENTION_AUDIT_DAYS=365 is below the legal minimum of 1827 days" in \
        str(refused.value) and "HSLF-FS 2016:40" in str(refused.value)
    with pytest.raises(ValidationError) as refused:
        Settings(retention_observations_days=3000)
    assert "Patientdatalagen (2008:355) 3 kap. 17 §" in str(refused.value)
    assert Settings(retention_messages_days=0).retention_messages_days == 0
    assert Settings(retention_audit_days=1827).retention_audit_days == 1827

    configure(None)
    try:
        result = CliRunner().invoke(cli, ["retention", "purge", "--dry-run"], env={
            "HEMMA_DATABASE_URL": settings.database_url, "HEMMA_SECRET_KEY": TEST_SECRET,
            "HEMMA_RETENTION_MESSAGES_DAYS": "30"})
    finally:
        configure(None)
    assert result.exit_code != 0
    assert "HEMMA_RETENTION_MESSAGES_DAYS=30 is below the legal minimum" in str(
        result.exception) + result.output


def test_the_command_says_what_it_would_purge(kept_ten_years, settings, world, database):
    configure(None)
    try:
        result = CliRunner().invoke(cli, ["retention", "purge", "--dry-run"], env={
            "HEMMA_DATABASE_URL": settings.database_url, "HEMMA_SECRET_KEY": TEST_SECRET,
            "HEMMA_DATA_DIR": str(settings.data_dir),
            "HEMMA_RETENTION_OBSERVATIONS_DAYS": "3653", "HEMMA_RETENTION_AUDIT_DAYS": "1827"})
    finally:
        configure(settings)
    assert result.exit_code == 0, result.output
    assert "observations: would purge 0 rows of 0 patients" in result.output
    assert "messages: kept for ever (0 days)" in result.output
    if BACKEND == "postgres":  # the log's months that ended before the cutoff: none yet
        assert "audit: would purge 0 rows" in result.output
    else:
        assert "audit: kept in one table on SQLite: archived by month only on PostgreSQL " \
            "(at least 1827 days: HSLF-FS 2016:40" in result.output
