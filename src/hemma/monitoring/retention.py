"""Retention of values (hemma.jobs.retention decides whose record may go; this, which of its
values). A value stays, whatever its age, while
- an alert or a visit report refers to it (they quote it and are kept), or a NEWS2 such a
  value carries was combined from it (the NEWS2 window before the value: the score must
  stay explainable from what is kept);
- its episode's discharge summary is not signed yet (the draft is gathered from the values).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, exists, func, or_, select
from sqlalchemy.orm import Session

from hemma.config import get_settings
from hemma.db import any_of
from hemma.models import Alert, DischargeSummary, Observation, VisitReportRecord


@dataclass
class Purged:
    """What one batch of a data class deleted (or a dry run found)."""

    rows: int = 0
    patients: set[uuid.UUID] = field(default_factory=set)
    photos: int = 0
    files: list[str] = field(default_factory=list)  # photo keys to remove once committed


def _referenced(row=Observation):
    return or_(exists().where(Alert.observation_id == row.id),
               exists().where(VisitReportRecord.observation_id == row.id))


def _kept_windows(db: Session, patient_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """The values within the NEWS2 window before each value that is referred to."""
    window = timedelta(minutes=get_settings().news2_window_minutes)
    anchors = db.execute(select(Observation.patient_id, Observation.measured_at).where(
        any_of(db, Observation.patient_id, patient_ids), _referenced())).all()
    kept: set[uuid.UUID] = set()
    for start in range(0, len(anchors), 100):
        kept.update(db.scalars(select(Observation.id).where(or_(*(
            and_(Observation.patient_id == pid, Observation.measured_at >= at - window,
                 Observation.measured_at <= at) for pid, at in anchors[start:start + 100])))))
    return kept


def _expired(db: Session, patient_ids: list[uuid.UUID], cutoff: datetime):
    kept = _kept_windows(db, patient_ids)
    conditions = [
        any_of(db, Observation.patient_id, patient_ids),
        Observation.received_at < cutoff, Observation.measured_at < cutoff,
        ~_referenced(),
        ~exists().where(DischargeSummary.episode_id == Observation.episode_id,
                        DischargeSummary.signed_at.is_(None)),
    ]
    if kept:
        conditions.append(~any_of(db, Observation.id, kept))
    return conditions


def count(db: Session, patient_ids: list[uuid.UUID], cutoff: datetime) -> Purged:
    rows = db.execute(select(Observation.patient_id, func.count()).where(
        *_expired(db, patient_ids, cutoff)).group_by(Observation.patient_id)).all()
    return Purged(rows=sum(n for _p, n in rows), patients={p for p, _n in rows})


def purge(db: Session, patient_ids: list[uuid.UUID], cutoff: datetime, limit: int) -> Purged:
    """Delete at most `limit` expired values of these patients, in the caller's transaction."""
    chosen = db.execute(select(Observation.id, Observation.patient_id).where(
        *_expired(db, patient_ids, cutoff)).limit(limit)).all()
    if not chosen:
        return Purged()
    ids = [i for i, _p in chosen]
    # Asked again in the statement itself: nothing came to refer to them meanwhile.
    deleted = db.execute(delete(Observation).where(any_of(db, Observation.id, ids),
                                                   ~_referenced())
                         .execution_options(synchronize_session=False)).rowcount
    return Purged(rows=deleted, patients={p for _i, p in chosen})
