"""The remote round: every admitted patient of the unit with the latest NEWS2, open alerts,
missed measurements and the last round note, ranked so the sickest come first; and the
physician's decision, which can end the episode (Step 1's actions) in the same transaction."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from pydantic import Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hemma.access import audit
from hemma.access.policy import Action, Subject
from hemma.access.service import accessible_patients, decisions_for, log_listed, origin, require
from hemma.episodes import service as episodes
from hemma.episodes.schemas import EpisodeEnd, ReturnToHospital
from hemma.kit.errors import Conflict, NotFound
from hemma.kit.time import utcnow
from hemma.kit.validation import Schema, Text
from hemma.models import (
    Alert,
    Episode,
    EpisodeState,
    Observation,
    Pathway,
    Patient,
    RoundNote,
    Staff,
)
from hemma.monitoring import visible
from hemma.monitoring.news2 import BANDS
from hemma.monitoring.rules import SEVERITIES

# The worklist shows the latest value of the last month (older is no longer "latest").
LOOK_BACK = timedelta(days=30)


class RoundDecision(Schema):
    decision: Literal["continue", "adjust", "visit", "return", "discharge"]
    note: Text = Field(min_length=1, max_length=4000)
    ambulance_informed: bool = False


@dataclass
class WorklistRow:
    patient: Patient
    episode: Episode
    pathway: str
    latest: Observation | None
    open_alerts: int = 0
    top_severity: str | None = None
    missed: int = 0
    last_note: RoundNote | None = None
    last_note_by: str | None = None
    risk: tuple = field(default_factory=tuple)


def _risk(row: WorklistRow, now: datetime) -> tuple:
    """Higher sorts first: the worst open alert, the NEWS2 band and total, missed values,
    then whoever has waited longest since the last round."""
    band = row.latest.news2_band if row.latest else None
    since_round = (now - row.last_note.at).total_seconds() if row.last_note else float("inf")
    return (
        SEVERITIES.index(row.top_severity) + 1 if row.top_severity else 0,
        BANDS.index(band) + 1 if band else 0,
        row.latest.news2_total or 0 if row.latest else 0,
        row.missed,
        since_round,
    )


def worklist(db: Session, subject: Subject) -> list[WorklistRow]:
    require(db, subject, Action.READ)  # role
    now = utcnow()
    rows = db.execute(
        select(Episode, Patient, Pathway.name)
        .join(Patient, Patient.id == Episode.patient_id)
        .join(Pathway, Pathway.id == Episode.pathway_id)
        .where(Episode.state == EpisodeState.ADMITTED,
               Episode.responsible_unit_id == subject.unit_id,
               Episode.patient_id.in_(accessible_patients(subject, now)))
    ).all()
    decisions = decisions_for(db, subject, [p.id for _, p, _ in rows])
    rows = [(e, p, name) for e, p, name in rows
            if decisions[p.id] and decisions[p.id].sees(origin(db, e.responsible_unit_id))]
    ids = [p.id for _, p, _ in rows]
    if not ids:
        return []
    # The latest value per patient the physician may see, with the NEWS2 they may be shown:
    # one index probe per patient whose information is all open to them.
    latest = visible.latest(db, {pid: decisions[pid] for pid in ids}, now - LOOK_BACK)
    alerts: dict[uuid.UUID, list[tuple[str, str]]] = {}
    for pid, kind, severity in db.execute(
            select(Alert.patient_id, Alert.kind, Alert.severity)
            .where(Alert.patient_id.in_(ids), Alert.status.in_(("open", "acknowledged")))):
        alerts.setdefault(pid, []).append((kind, severity))
    last_at = (select(RoundNote.patient_id, func.max(RoundNote.at).label("at"))
               .where(RoundNote.patient_id.in_(ids)).group_by(RoundNote.patient_id).subquery())
    notes = {n.patient_id: (n, f"{g} {f}") for n, g, f in db.execute(
        select(RoundNote, Staff.given_name, Staff.family_name)
        .join(last_at, (last_at.c.patient_id == RoundNote.patient_id)
              & (last_at.c.at == RoundNote.at))
        .join(Staff, Staff.id == RoundNote.staff_id))}
    out = []
    for episode, patient, pathway in rows:
        mine = alerts.get(patient.id, [])
        note = notes.get(patient.id)
        row = WorklistRow(
            patient=patient, episode=episode, pathway=pathway, latest=latest.get(patient.id),
            open_alerts=len(mine),
            top_severity=max((s for _, s in mine), key=SEVERITIES.index, default=None),
            missed=sum(1 for k, _ in mine if k == "missed"),
            last_note=note[0] if note else None, last_note_by=note[1] if note else None)
        row.risk = _risk(row, now)
        out.append(row)
    out.sort(key=lambda r: r.risk, reverse=True)
    log_listed(db, {r.patient.id: decisions[r.patient.id] for r in out}, "round.worklist")
    return out


def round_notes(db: Session, decision, patient_id: uuid.UUID, limit: int = 20):
    rows = db.execute(
        select(RoundNote, Staff.given_name, Staff.family_name)
        .join(Staff, Staff.id == RoundNote.staff_id)
        .where(RoundNote.patient_id == patient_id).order_by(RoundNote.at.desc()).limit(limit))
    return [(n, f"{g} {f}") for n, g, f in rows
            if decision.sees(origin(db, n.documented_by_unit_id))]


def decide(db: Session, subject: Subject, patient_id: uuid.UUID,
           data: RoundDecision) -> RoundNote:
    """The physician's decision at the round. Return to hospital and discharge end the
    episode here, with the note, in the same transaction."""
    episode = db.scalar(select(Episode).where(Episode.patient_id == patient_id,
                                              Episode.state == EpisodeState.ADMITTED))
    if episode is None:
        raise NotFound()
    require(db, subject, Action.ROUND, patient_id, on=origin(db, episode.responsible_unit_id))
    if data.decision in ("return", "discharge") and not subject.role_allows(Action.EPISODE):
        raise Conflict("You may not end the episode", field="decision")
    note = RoundNote(patient_id=patient_id, episode_id=episode.id, staff_id=subject.staff_id,
                     documented_by_unit_id=subject.unit_id, at=utcnow(),
                     decision=data.decision, note=data.note)
    db.add(note)
    db.flush()
    if data.decision == "discharge":
        episodes.discharge(db, subject, patient_id, episode.id, EpisodeEnd(note=data.note))
    elif data.decision == "return":
        episodes.return_to_hospital(db, subject, patient_id, episode.id, ReturnToHospital(
            note=data.note, ambulance_informed=data.ambulance_informed))
    audit.record(db, patient_id, "round.decide", detail=data.decision)
    return note
