"""The remote round: every admitted patient of the unit with the latest NEWS2, open alerts,
missed measurements and the last round note, ranked so the sickest come first; and the
physician's decision, which can end the episode (Step 1's actions) in the same transaction."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Literal

from pydantic import Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hemma.access import audit
from hemma.access.policy import Action, Subject
from hemma.access.service import accessible_patients, decisions_for, log_listed, origin, require
from hemma.access.sharing import SharingAnswer
from hemma.episodes import service as episodes
from hemma.episodes.schemas import Discharge, DischargeOutcome, ReturnReason, ReturnToHospital
from hemma.kit.errors import Conflict, Invalid, NotFound
from hemma.kit.time import at_local, local, local_today, utcnow
from hemma.kit.validation import Day, DbId, Schema, Text
from hemma.models import (
    Alert,
    CareKind,
    CareRequest,
    Episode,
    EpisodeState,
    Observation,
    Pathway,
    Patient,
    RoundNote,
    Staff,
    Unit,
    Visit,
)
from hemma.monitoring import visible
from hemma.monitoring.news2 import BANDS
from hemma.monitoring.rules import SEVERITIES
from hemma.planning import service as planning
from hemma.planning.schemas import CareRequestCreate
from hemma.tasks import service as tasks
from hemma.tasks.schemas import TaskCreate


class VisitBooking(SharingAnswer):
    """What "book a visit" books: which unit makes the visit, today (urgent) or on a date,
    what kind, how long. Another unit gets a care request (it answers it); the physician's
    own unit gets the visit in its day plan."""

    unit_id: DbId
    when: Literal["today", "date"] = "today"
    date: Day | None = None
    kind: CareKind = CareKind.ASSESSMENT
    duration_minutes: int = Field(default=30, ge=5, le=240)


# The worklist shows the latest value of the last month (older is no longer "latest").
LOOK_BACK = timedelta(days=30)


class RoundDecision(Schema):
    decision: Literal["continue", "adjust", "visit", "return", "discharge"]
    note: Text = Field(min_length=1, max_length=4000)
    ambulance_informed: bool = False
    # Why the patient returns to hospital (with "return"), how the episode ended (with
    # "discharge"): the codes follow-up counts by, as on the episode's own forms.
    return_reason: ReturnReason | None = None
    discharge_outcome: DischargeOutcome | None = None
    visit: VisitBooking | None = None  # with the decision "visit" (and only then)
    # What the decision asks of someone: take samples, book a visit, call the patient.
    tasks: list[TaskCreate] = Field(default_factory=list, max_length=5)


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
    if data.decision == "visit" and data.visit is None:
        raise Invalid("Say which unit makes the visit, and when", field="visit.unit_id")
    if data.decision != "visit" and data.visit is not None:
        raise Invalid("Only with the decision to book a visit", field="visit.unit_id")
    if data.decision == "return" and data.return_reason is None:
        raise Invalid("Choose why the patient returns to hospital", field="return_reason")
    if data.decision != "return" and data.return_reason is not None:
        raise Invalid("Only with the decision to return to hospital", field="return_reason")
    if data.decision == "discharge" and data.discharge_outcome is None:
        raise Invalid("Choose how the episode ended", field="discharge_outcome")
    if data.decision != "discharge" and data.discharge_outcome is not None:
        raise Invalid("Only with the decision to discharge", field="discharge_outcome")
    now = utcnow()
    note = RoundNote(patient_id=patient_id, episode_id=episode.id, staff_id=subject.staff_id,
                     documented_by_unit_id=subject.unit_id, at=now,
                     decision=data.decision, note=data.note)
    if data.visit is not None:
        _book(db, subject, patient_id, data, note, now)
    db.add(note)
    db.flush()
    for i, task in enumerate(data.tasks):
        try:
            tasks.add_task(db, subject, patient_id, task, kind="round", round_note_id=note.id,
                           episode_id=episode.id)
        except Invalid as err:
            raise Invalid(err.message, field=f"tasks.{i}.{err.field}", **err.params) from err
    if data.decision == "discharge":
        episodes.discharge(db, subject, patient_id, episode.id, Discharge(
            note=data.note, outcome=data.discharge_outcome))
    elif data.decision == "return":
        episodes.return_to_hospital(db, subject, patient_id, episode.id, ReturnToHospital(
            note=data.note, reason=data.return_reason,
            ambulance_informed=data.ambulance_informed))
    audit.record(db, patient_id, "round.decide", detail=data.decision)
    return note


# A visit on a later date is asked for in the daytime; a soft window (it may be late).
DAYTIME = ("08:00", "16:00")


def _book(db: Session, subject: Subject, patient_id: uuid.UUID, data: RoundDecision,
          note: RoundNote, now: datetime) -> None:
    """What the decision "book a visit" promises, booked in the decision's transaction:
    a care request to the unit that makes the visit, or a visit of the physician's own unit.
    Today it is urgent, in the window the patient's NEWS2 calls for."""
    booking = data.visit
    unit = db.get(Unit, booking.unit_id)
    if unit is None or not unit.active:
        raise Invalid("Unknown unit", field="visit.unit_id")
    today = local_today()
    if booking.when == "date":
        if booking.date is None:
            raise Invalid("Choose the day of the visit", field="visit.date")
        if booking.date < today:
            raise Invalid("The date has passed", field="visit.date")
        on = booking.date
        earliest, latest = at_local(on, DAYTIME[0]), at_local(on, DAYTIME[1])
        urgent = False
    else:
        on, urgent = today, True
        window = planning.default_window(db, subject, patient_id, now)
        earliest, latest = window.earliest, min(window.latest, at_local(today, "23:59"))
    if unit.id == subject.unit_id:
        visit = planning.book_visit(
            db, subject, patient_id, on=on, kind=booking.kind,
            duration_minutes=booking.duration_minutes, earliest=earliest,
            latest=latest - timedelta(minutes=0 if urgent else booking.duration_minutes),
            urgent=urgent, notes=data.note, now=now)
        note.visit_id = visit.id
        return
    start = local(max(earliest, now))
    end = min(local(latest) + timedelta(minutes=booking.duration_minutes)
              if urgent else local(latest), local(at_local(on, "23:59")))
    request = planning.request_care(db, subject, patient_id, CareRequestCreate(
        to_unit_id=unit.id, kind=booking.kind, window_start=start.strftime("%H:%M"),
        window_end=end.strftime("%H:%M"), first_date=on, last_date=on,
        duration_minutes=booking.duration_minutes, hard=urgent, priority=3 if urgent else 2,
        notes=data.note, sharing=booking.sharing, sharing_method=booking.sharing_method,
        sharing_reason=booking.sharing_reason))
    note.care_request_id = request.id


@dataclass(frozen=True)
class Booking:
    """What a round note's decision booked, as the note shows it."""

    what: str  # "care_request" or "visit"
    unit_name: str
    kind: str
    day: date
    urgent: bool
    status: str


def bookings(db: Session, notes: list[RoundNote]) -> dict[uuid.UUID, Booking]:
    """Round note id → what its decision booked."""
    out = {}
    for n in notes:
        if n.care_request_id is not None:
            r = db.get(CareRequest, n.care_request_id)
            out[n.id] = Booking("care_request", db.get(Unit, r.to_unit_id).name, r.kind,
                                r.first_date, r.priority == 3, r.status)
        elif n.visit_id is not None:
            v = db.get(Visit, n.visit_id)
            out[n.id] = Booking("visit", db.get(Unit, v.unit_id).name, v.kind, v.day,
                                v.urgent, v.status)
    return out
