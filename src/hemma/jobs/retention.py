"""Retention (gallring) per data class: the worker's daily purge and `hemma retention purge`.

Each data class is kept `HEMMA_RETENTION_<CLASS>_DAYS` days (0, the default: for ever), never
less than the law's minimum (`config.RETENTION_MINIMUM_DAYS`; a lower setting stops Hemma at
start). The days are counted the way Patientdatalagen (2008:355) 3 kap. 17 § counts: from the
last entry into the patient's record. So a class's rows of a patient go only when the whole
record has been quiet for that long — no episode under way, no care relationship that has not
ended, and nothing written about the patient since the cutoff in any part of the record
(`RECORD_ENTRIES`) — and then only the rows the class's own rules let go (values an alert
quotes stay; see the feature's retention module). A patient who comes back keeps everything.

The purge walks the patients in batches and deletes each class's rows in batches of
`batch` rows, each batch one transaction that checks the record again: an interrupted purge
leaves whole rows deleted or kept, never half of one. Photos are removed from the disk after
their rows' transaction commits. Each run of each class writes one audit entry
(`retention.purge`: the class, the rows, the patients, the cutoff), also when nothing was due;
a dry run changes and writes nothing.

Audit entries are a data class too, with the law's minimum (HSLF-FS 2016:40 4 kap. 9 §: five
years), but not per patient: the access log is partitioned by month on PostgreSQL, and the
months that ended before the cutoff are detached whole for the archive
(`audit.archive_before`: each organisation's chain is then verified from its first row still
in the database). SQLite keeps the log in one table and never purges it."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, text
from sqlalchemy.orm import Session

from hemma.access import audit
from hemma.config import RETENTION_MINIMUM_DAYS, get_settings
from hemma.db import Database, any_of
from hemma.messaging import retention as messages
from hemma.models import (
    Agreement,
    Assessment,
    CarePlan,
    CareRelation,
    CareRequest,
    DischargeSummary,
    Episode,
    Handover,
    Message,
    Observation,
    Patient,
    PremResponse,
    RoundNote,
    Task,
    TreatmentDose,
    Visit,
    partitions,
)
from hemma.models.episodes import ACTIVE_STATES
from hemma.monitoring import retention as observations
from hemma.monitoring.retention import Purged

log = logging.getLogger("hemma.retention")
ACTION = "retention.purge"

# Every part of the record and the times at which something was entered into it: a patient
# with any of them at or after the cutoff has a record that must be kept whole.
RECORD_ENTRIES = (
    (Patient, Patient.id, (Patient.created_at, Patient.updated_at)),
    (Episode, Episode.patient_id, (Episode.assessed_at, Episode.admitted_at,
                                   Episode.ended_at)),
    (CareRelation, CareRelation.patient_id, (CareRelation.starts_at,)),
    (Observation, Observation.patient_id, (Observation.received_at, Observation.measured_at)),
    (Message, Message.patient_id, (Message.created_at,)),
    (Visit, Visit.patient_id, (Visit.created_at, Visit.latest, Visit.done_at)),
    (CareRequest, CareRequest.patient_id, (CareRequest.created_at, CareRequest.decided_at)),
    (Task, Task.patient_id, (Task.created_at, Task.due_at, Task.done_at)),
    (Handover, Handover.patient_id, (Handover.created_at,)),
    (TreatmentDose, TreatmentDose.patient_id, (TreatmentDose.recorded_at,)),
    (Assessment, Assessment.patient_id, (Assessment.created_at, Assessment.decided_at)),
    (Agreement, Agreement.patient_id, (Agreement.created_at, Agreement.confirmed_at)),
    (CarePlan, CarePlan.patient_id, (CarePlan.updated_at,)),
    (RoundNote, RoundNote.patient_id, (RoundNote.at,)),
    (DischargeSummary, DischargeSummary.patient_id, (DischargeSummary.updated_at,
                                                     DischargeSummary.signed_at)),
    (PremResponse, PremResponse.patient_id, (PremResponse.answered_at,)),
)


@dataclass(frozen=True)
class DataClass:
    code: str  # also the setting's name: HEMMA_RETENTION_<CODE>_DAYS
    # (session, patients whose record may go, cutoff, at most rows) -> what was deleted, in
    # the session's transaction; None: not purged by Hemma yet.
    purge: Callable[[Session, list[uuid.UUID], datetime, int], Purged] | None
    count: Callable[[Session, list[uuid.UUID], datetime], Purged] | None  # a dry run's
    after_commit: Callable[[list[str]], int] | None = None  # e.g. remove the photo files
    # Instead of per patient: (session, cutoff, dry run) -> rows, in one transaction (the
    # access log, by whole months).
    by_month: Callable[[Session, datetime, bool], int] | None = None

    @property
    def minimum_days(self) -> int:
        return RETENTION_MINIMUM_DAYS[self.code][0]

    @property
    def law(self) -> str:
        return RETENTION_MINIMUM_DAYS[self.code][1]

    def days(self) -> int:
        return getattr(get_settings(), f"retention_{self.code}_days")


DATA_CLASSES: dict[str, DataClass] = {
    "observations": DataClass("observations", observations.purge, observations.count),
    "messages": DataClass("messages", messages.purge, messages.count,
                          after_commit=messages.remove_files),
    "audit": DataClass("audit", None, None,
                       by_month=lambda s, cutoff, dry: _audit(s, cutoff, dry)),
}


def _audit(db: Session, cutoff: datetime, dry_run: bool) -> int:
    """The access log's months that ended before the cutoff, detached for the archive."""
    from hemma.models import partitions

    before = partitions.month_start(cutoff.date())
    due = [p for p in partitions.partitions(db, "audit_entries")
           if p.first is not None and partitions.next_month(p.first) <= before]
    rows = sum(db.execute(text(f'SELECT count(*) FROM "{p.name}"')).scalar() for p in due)
    if due and not dry_run:
        audit.archive_before(db, before)
    return rows


@dataclass
class Outcome:
    data_class: str
    days: int
    cutoff: datetime | None = None
    rows: int = 0
    patients: int = 0
    photos: int = 0
    orphans: int = 0  # photo files no message referred to, swept with the messages
    dry_run: bool = False
    skipped: str | None = None  # why nothing was looked at
    error: str | None = None

    def detail(self) -> str:
        said = (f"{self.data_class}: {self.rows} rows of {self.patients} patients whose record "
                f"had no entry since {self.cutoff.isoformat(timespec='seconds')} "
                f"({self.days} days)")
        if self.photos:
            said += f", {self.photos} photos"
        if self.orphans:
            said += f"; {self.orphans} photo files no message referred to"
        if self.error:
            said += f"; stopped by an error: {self.error[:200]}"
        return said


def closed_records(db: Session, patient_ids: list[uuid.UUID], cutoff: datetime
                   ) -> list[uuid.UUID]:
    """Those of the patients whose record has had no entry since `cutoff`, with no episode
    under way and no care relationship still running."""
    if not patient_ids:
        return []
    recent: set[uuid.UUID] = set()
    for _model, patient, times in RECORD_ENTRIES:
        recent.update(db.scalars(select(patient).where(
            any_of(db, patient, patient_ids), or_(*(t >= cutoff for t in times)))))
    recent.update(db.scalars(select(Episode.patient_id).where(
        any_of(db, Episode.patient_id, patient_ids), Episode.state.in_(ACTIVE_STATES))))
    recent.update(db.scalars(select(CareRelation.patient_id).where(
        any_of(db, CareRelation.patient_id, patient_ids),
        or_(CareRelation.ends_at.is_(None), CareRelation.ends_at >= cutoff))))
    return [p for p in patient_ids if p not in recent]


def run(database: Database, now: datetime, *, dry_run: bool = False,
        classes: list[str] | None = None, batch: int = 1000,
        patients_per_batch: int = 200) -> list[Outcome]:
    """Purge (or, dry, count) every configured data class as of `now`."""
    outcomes = []
    for code, data_class in DATA_CLASSES.items():
        if classes is not None and code not in classes:
            continue
        days = data_class.days()
        outcome = Outcome(code, days, dry_run=dry_run)
        outcomes.append(outcome)
        if days == 0:
            outcome.skipped = "kept for ever (0 days)"
            continue
        outcome.cutoff = now - timedelta(days=days)
        if data_class.by_month is not None:
            with database.session() as s:
                if not partitions.is_partitioned(s, "audit_entries"):
                    outcome.skipped = "kept in one table on SQLite: archived by month only " \
                                      "on PostgreSQL"
                    continue
                try:
                    outcome.rows = data_class.by_month(s, outcome.cutoff, dry_run)
                except Exception as exc:
                    log.exception("retention of %s failed", code)
                    outcome.error = f"{type(exc).__name__}: {exc}"
            if not dry_run:
                _log(database, outcome)
            continue
        try:
            _run_class(database, data_class, outcome, batch, patients_per_batch)
        except Exception as exc:
            log.exception("retention of %s failed", code)
            outcome.error = f"{type(exc).__name__}: {exc}"
        if not dry_run:
            _log(database, outcome)
    return outcomes


def _run_class(database: Database, data_class: DataClass, outcome: Outcome, batch: int,
               patients_per_batch: int) -> None:
    cutoff = outcome.cutoff
    patients: set[uuid.UUID] = set()
    after = None
    while True:
        with database.session() as s:
            stmt = select(Patient.id).order_by(Patient.id).limit(patients_per_batch)
            if after is not None:
                stmt = stmt.where(Patient.id > after)
            page = list(s.scalars(stmt))
        if not page:
            break
        after = page[-1]
        while True:
            # One transaction per batch, the record checked again in it: a patient who came
            # back meanwhile keeps everything.
            with database.session() as s:
                closed = closed_records(s, page, cutoff)
                if not closed:
                    break
                if outcome.dry_run:
                    found = data_class.count(s, closed, cutoff)
                else:
                    found = data_class.purge(s, closed, cutoff, batch)
            outcome.rows += found.rows
            outcome.photos += found.photos
            patients |= found.patients
            if found.files and data_class.after_commit is not None:
                data_class.after_commit(found.files)
            if outcome.dry_run or found.rows < batch:
                break
    if data_class.code == "messages" and not outcome.dry_run:
        with database.session() as s:
            outcome.orphans = messages.sweep_orphans(s)
    outcome.patients = len(patients)


def _log(database: Database, outcome: Outcome) -> None:
    """One entry for the run of one class, in a transaction of its own (after the batches:
    it says what was done, also when an error stopped it halfway)."""
    with database.session() as s:
        audit.trail(s).actor = audit.Actor(username="(hemma retention)")
        audit.record(s, None, ACTION, detail=outcome.detail())
