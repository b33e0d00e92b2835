"""Named actions of the hand-over (rapport) in SBAR form: written about one patient by one
unit to another of the care team — between shifts of the same unit, or between
organisations, like the mobile team's evening report to hemsjukvården — and confirmed as
received ("mottagen") by someone of the receiving unit, with name and time.

A hand-over is the writing unit's record (its origin for the access rules: others of the
care team read it with consent), and it is addressed to the receiving unit, which sees it
because it was sent to it (the writer chose to tell them), as a care request's receiver
sees the request."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from hemma.access import audit
from hemma.access.policy import Action, Decision, Subject
from hemma.access.service import accessible_patients, decisions_for, log_listed, origin, require
from hemma.coordination import live
from hemma.handovers.schemas import HandoverCreate
from hemma.kit.errors import Conflict, Forbidden, Invalid, NotFound
from hemma.kit.time import utcnow
from hemma.models import ACTIVE_STATES, Episode, Handover, Staff, Unit
from hemma.tasks.service import team_units


def write(db: Session, subject: Subject, patient_id: uuid.UUID,
          data: HandoverCreate) -> Handover:
    """Hand the patient over to a unit of the care team (the writer's own unit too: the
    next shift)."""
    require(db, subject, Action.COORDINATE, patient_id)
    now = utcnow()
    if data.to_unit_id not in {u.id for u in team_units(db, patient_id, now)}:
        raise Invalid("Choose a unit of the patient's care team", field="to_unit_id")
    episode = db.scalar(select(Episode).where(Episode.patient_id == patient_id,
                                              Episode.state.in_(ACTIVE_STATES))
                        .order_by(Episode.assessed_at.desc()).limit(1))
    handover = Handover(
        patient_id=patient_id, episode_id=episode.id if episode else None,
        from_unit_id=subject.unit_id, to_unit_id=data.to_unit_id, situation=data.situation,
        background=data.background, assessment=data.assessment,
        recommendation=data.recommendation, created_at=now, created_by_id=subject.staff_id)
    db.add(handover)
    db.flush()
    audit.record(db, patient_id, "handover.write")
    live.announce(db)
    return handover


def sees(db: Session, decision: Decision, handover: Handover) -> bool:
    if not decision:
        return False
    return decision.sees(origin(db, handover.from_unit_id)) \
        or handover.to_unit_id == decision.subject.unit_id


def receive(db: Session, subject: Subject, patient_id: uuid.UUID,
            handover_id: uuid.UUID) -> Handover:
    """Confirm as received: someone of the receiving unit has read it and takes it on."""
    handover = db.get(Handover, handover_id, with_for_update=True)
    if handover is None or handover.patient_id != patient_id:
        raise NotFound()
    decision = require(db, subject, Action.COORDINATE, patient_id)
    if not sees(db, decision, handover):
        audit.record(db, patient_id, "handover.receive", outcome="denied")
        raise NotFound()
    if handover.to_unit_id != subject.unit_id or decision.basis == "emergency":
        audit.record(db, patient_id, "handover.receive", outcome="denied")
        raise Forbidden("Only the receiving unit confirms a hand-over")
    if handover.received_at is not None:
        raise Conflict("The hand-over has already been received", field="received")
    handover.received_at, handover.received_by_id = utcnow(), subject.staff_id
    audit.record(db, patient_id, "handover.receive")
    live.announce(db)
    return handover


@dataclass
class HandoverView:
    handover: Handover
    from_unit: str
    to_unit: str
    created_by: str
    received_by: str | None
    may_receive: bool


def _views(db: Session, decisions: dict[uuid.UUID, Decision],
           rows: list[Handover]) -> list[HandoverView]:
    if not rows:
        return []
    units = {u.id: u.name for u in db.scalars(select(Unit).where(
        Unit.id.in_({h.from_unit_id for h in rows} | {h.to_unit_id for h in rows})))}
    ids = {h.created_by_id for h in rows} | {h.received_by_id for h in rows if h.received_by_id}
    names = {s.id: s.full_name for s in db.scalars(select(Staff).where(Staff.id.in_(ids)))}
    out = []
    for h in rows:
        d = decisions[h.patient_id]
        out.append(HandoverView(
            h, units[h.from_unit_id], units[h.to_unit_id], names[h.created_by_id],
            names.get(h.received_by_id),
            h.received_at is None and h.to_unit_id == d.subject.unit_id
            and d.basis != "emergency" and d.subject.role_allows(Action.COORDINATE)))
    return out


def patient_handovers(db: Session, decision: Decision, patient_id: uuid.UUID,
                      limit: int = 50) -> tuple[list[HandoverView], int]:
    """The patient's hand-overs the reader may see, newest first; and how many are hidden."""
    rows = list(db.scalars(select(Handover).where(Handover.patient_id == patient_id)
                           .order_by(Handover.created_at.desc()).limit(limit)))
    shown = [h for h in rows if sees(db, decision, h)]
    return _views(db, {patient_id: decision}, shown), len(rows) - len(shown)


def get(db: Session, decision: Decision, patient_id: uuid.UUID,
        handover_id: uuid.UUID) -> HandoverView:
    h = db.get(Handover, handover_id)
    if h is None or h.patient_id != patient_id or not sees(db, decision, h):
        raise NotFound()
    return _views(db, {patient_id: decision}, [h])[0]


def unread(db: Session, subject: Subject, unit_ids: list[int], *, now: datetime | None = None,
           log: str | None = "handover.list") -> list[HandoverView]:
    """Hand-overs to these units that nobody has confirmed yet, oldest first."""
    rows = list(db.scalars(
        select(Handover).where(Handover.received_at.is_(None), Handover.to_unit_id.in_(unit_ids),
                               Handover.patient_id.in_(accessible_patients(subject, now)))
        .order_by(Handover.created_at).limit(200)))
    decisions = decisions_for(db, subject, {h.patient_id for h in rows})
    shown = [h for h in rows if sees(db, decisions[h.patient_id], h)]
    if log:
        log_listed(db, {h.patient_id: decisions[h.patient_id] for h in shown}, log)
    return _views(db, decisions, shown)
