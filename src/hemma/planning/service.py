"""Named actions of visit planning: care requests between units and the visits they become.

A care request (vårdbegäran) goes from the unit responsible for the patient to the unit that
is to make the visits, often across organisations (the region's clinic asks the municipality's
home nursing for IV antibiotics three times a day). Sending it makes the receiving unit part of
the care team until the last day, so its staff can read what they are asked to do; declining
ends that again. Accepting turns the request into one visit per time and day, each a window
in absolute time computed in Swedish time (08:00 stays 08:00 across daylight-saving days)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from hemma.access import audit
from hemma.access.policy import Action, Subject
from hemma.access.service import relation_active, require
from hemma.db import insert_ignoring_conflict
from hemma.kit.errors import Conflict, Forbidden, Invalid, NotFound
from hemma.kit.time import at_local, end_of_local_day, local_today, utcnow
from hemma.models import (
    ACTIVE_STATES,
    CareRelation,
    CareRequest,
    Episode,
    RequestStatus,
    Unit,
    Visit,
)
from hemma.planning.schemas import CareRequestCreate, CareRequestDecision

MAX_DAYS = 90  # a request longer than a quarter is a new request, looked at again
REQUEST_ROLE = "Vårdbegäran"


@dataclass(frozen=True)
class Slot:
    """One visit's window: the earliest and the latest start, in UTC."""

    day: date
    earliest: datetime
    latest: datetime


def slots(request: CareRequest | CareRequestCreate) -> list[Slot]:
    """Every visit a request asks for, day by day (pure)."""
    out = []
    day = request.first_date
    tolerance = timedelta(minutes=request.tolerance_minutes)
    while day <= request.last_date:
        if request.times:
            for clock in sorted(request.times):
                due = at_local(day, clock)
                out.append(Slot(day, due - tolerance, due + tolerance))
        else:
            out.append(Slot(day, at_local(day, request.window_start),
                            at_local(day, request.window_end)
                            - timedelta(minutes=request.duration_minutes)))
        day += timedelta(days=1)
    return out


def _check(db: Session, subject: Subject, data: CareRequestCreate) -> None:
    unit = db.get(Unit, data.to_unit_id)
    if unit is None or not unit.active:
        raise Invalid("Unknown unit", field="to_unit_id")
    if unit.id == subject.unit_id:
        raise Invalid("Choose another unit than your own", field="to_unit_id")
    if bool(data.times) == bool(data.window_start or data.window_end):
        raise Invalid("Give either times of day or a window", field="times")
    if data.times and len(set(data.times)) != len(data.times):
        raise Invalid("The same time twice", field="times")
    if not data.times:
        if not (data.window_start and data.window_end):
            raise Invalid("Give the window's start and end", field="window_end")
        start, end = (datetime.strptime(x, "%H:%M") for x in (data.window_start, data.window_end))
        if (end - start).total_seconds() / 60 < data.duration_minutes:
            raise Invalid("The window is shorter than the visit", field="window_end")
    if data.first_date < local_today():
        raise Invalid("The date has passed", field="first_date")
    if data.last_date < data.first_date:
        raise Invalid("The last day is before the first", field="last_date")
    if (data.last_date - data.first_date).days >= MAX_DAYS:
        raise Invalid("At most %(days)s days; send a new request after that",
                      field="last_date", days=MAX_DAYS)
    if data.staff_count == 2 and data.sync is None:
        raise Invalid("Say whether the two come together or one after the other", field="sync")
    if data.staff_count == 1 and data.sync is not None:
        raise Invalid("Only for visits by two staff", field="sync")
    if data.sync == "sequential" and data.gap_max < data.gap_min:
        raise Invalid("The longest gap is shorter than the shortest", field="gap_max")


def request_care(db: Session, subject: Subject, patient_id: uuid.UUID,
                 data: CareRequestCreate) -> CareRequest:
    """Send a care request from the user's unit to another."""
    require(db, subject, Action.CARE_REQUEST, patient_id)
    _check(db, subject, data)
    now = utcnow()
    episode_id = db.scalar(select(Episode.id).where(Episode.patient_id == patient_id,
                                                    Episode.state.in_(ACTIVE_STATES)))
    request = CareRequest(
        patient_id=patient_id, episode_id=episode_id, from_unit_id=subject.unit_id,
        to_unit_id=data.to_unit_id, kind=data.kind, times=sorted(data.times or []) or None,
        tolerance_minutes=data.tolerance_minutes, window_start=data.window_start,
        window_end=data.window_end, first_date=data.first_date, last_date=data.last_date,
        duration_minutes=data.duration_minutes, skills=sorted(set(data.skills)),
        staff_count=data.staff_count, sync=data.sync, gap_min=data.gap_min,
        gap_max=data.gap_max if data.sync == "sequential" else 0, hard=data.hard,
        priority=data.priority, notes=data.notes, status=RequestStatus.REQUESTED,
        created_by_id=subject.staff_id, created_at=now)
    db.add(request)
    # The receiving unit must be able to read the patient to answer and to visit.
    until = end_of_local_day(data.last_date)
    relation = db.scalar(select(CareRelation).where(
        CareRelation.patient_id == patient_id, CareRelation.unit_id == data.to_unit_id,
        relation_active(now)))
    if relation is None:
        db.add(CareRelation(patient_id=patient_id, episode_id=episode_id,
                            unit_id=data.to_unit_id, role=REQUEST_ROLE, starts_at=now,
                            ends_at=until, created_by_id=subject.staff_id,
                            documented_by_unit_id=subject.unit_id))
    elif relation.ends_at is not None and relation.ends_at < until:
        relation.ends_at = until
    db.flush()
    audit.record(db, patient_id, "carerequest.create")
    return request


def get_request(db: Session, patient_id: uuid.UUID, request_id: uuid.UUID,
                *, lock: bool = False) -> CareRequest:
    request = db.get(CareRequest, request_id, with_for_update=lock)
    if request is None or request.patient_id != patient_id:
        raise NotFound()
    return request


def decide(db: Session, subject: Subject, patient_id: uuid.UUID, request_id: uuid.UUID,
           data: CareRequestDecision) -> CareRequest:
    """The receiving unit accepts (the visits are created) or declines (with a reason)."""
    require(db, subject, Action.CARE_REQUEST, patient_id)
    request = get_request(db, patient_id, request_id, lock=True)
    if request.to_unit_id != subject.unit_id:
        raise Forbidden("Only the unit asked answers a care request")
    if request.status != RequestStatus.REQUESTED:
        raise Conflict("The request has already been answered", field="accept")
    now = utcnow()
    request.decided_by_id, request.decided_at = subject.staff_id, now
    if not data.accept:
        if not data.reason:
            raise Invalid("Say why, so the sender can find another way", field="reason")
        request.status, request.decline_reason = RequestStatus.DECLINED, data.reason
        db.execute(update(CareRelation).where(
            CareRelation.patient_id == patient_id, CareRelation.unit_id == request.to_unit_id,
            CareRelation.role == REQUEST_ROLE, relation_active(now)).values(ends_at=now))
        audit.record(db, patient_id, "carerequest.decline")
        return request
    request.status = RequestStatus.ACCEPTED
    create_visits(db, request, now)
    audit.record(db, patient_id, "carerequest.accept")
    return request


def create_visits(db: Session, request: CareRequest, now: datetime) -> int:
    """The request's visits from now on (a slot already past is not planned); creating them
    twice changes nothing."""
    rows = [dict(id=uuid.uuid4(), care_request_id=request.id, patient_id=request.patient_id,
                 unit_id=request.to_unit_id, day=slot.day, kind=request.kind,
                 earliest=slot.earliest, latest=slot.latest,
                 duration_minutes=request.duration_minutes, skills=list(request.skills),
                 staff_count=request.staff_count, sync=request.sync, gap_min=request.gap_min,
                 gap_max=request.gap_max, hard=request.hard, priority=request.priority,
                 urgent=False, notes=request.notes, status="planned", created_at=now)
            for slot in slots(request) if slot.latest > now]
    insert_ignoring_conflict(db, Visit, rows, ["care_request_id", "earliest"], report=False)
    return len(rows)


def requests_for(db: Session, patient_id: uuid.UUID) -> list[tuple[CareRequest, int]]:
    """The patient's care requests, newest first, with how many visits each has."""
    counts = dict(db.execute(select(Visit.care_request_id, func.count())
                             .where(Visit.patient_id == patient_id)
                             .group_by(Visit.care_request_id)).all())
    return [(r, counts.get(r.id, 0)) for r in db.scalars(
        select(CareRequest).where(CareRequest.patient_id == patient_id)
        .order_by(CareRequest.created_at.desc()))]
