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

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from hemma.access import audit
from hemma.access.policy import Action, Subject
from hemma.access.service import origin, relation_active, require
from hemma.access.sharing import settle_sharing
from hemma.db import insert_ignoring_conflict
from hemma.geo import geocoding
from hemma.geo.geocoding import Geocoder
from hemma.kit.errors import Conflict, Forbidden, Invalid, NotFound
from hemma.kit.time import at_local, end_of_local_day, local_date, local_today, utcnow
from hemma.models import (
    ACTIVE_STATES,
    REPORTED_STATES,
    CareRelation,
    CareRequest,
    Episode,
    RequestStatus,
    Staff,
    StaffShift,
    Unit,
    Visit,
    VisitAssignment,
    VisitStatus,
)
from hemma.planning.schemas import (
    CareRequestCreate,
    CareRequestDecision,
    ShiftCreate,
    Staffing,
    UrgentVisitCreate,
    VisitReport,
)

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
    _check_staffing(data)


def _check_staffing(data: Staffing) -> None:
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
    # Another organisation is asked to care for the patient: it needs to read the episode
    # (and the sender the values it documents), which takes the patient's consent.
    sharing_note = settle_sharing(db, subject, patient_id, origin(db, data.to_unit_id)
                                  .organisation_id, data, context="care request")
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
        priority=data.priority, notes=data.notes, sharing_note=sharing_note,
        status=RequestStatus.REQUESTED,
        created_by_id=subject.staff_id, created_at=now)
    db.add(request)
    join_care_team(db, request, now)
    db.flush()
    audit.record(db, patient_id, "carerequest.create")
    return request


def join_care_team(db: Session, request: CareRequest, at: datetime) -> None:
    """The receiving unit must be able to read the patient to answer and to visit: it joins
    the care team from `at` until the request's last day (a relationship it already has is
    lengthened if it would end sooner)."""
    until = end_of_local_day(request.last_date)
    relation = db.scalar(select(CareRelation).where(
        CareRelation.patient_id == request.patient_id,
        CareRelation.unit_id == request.to_unit_id, relation_active(at)))
    if relation is None:
        db.add(CareRelation(patient_id=request.patient_id, episode_id=request.episode_id,
                            unit_id=request.to_unit_id, role=REQUEST_ROLE, starts_at=at,
                            ends_at=until, created_by_id=request.created_by_id,
                            documented_by_unit_id=request.from_unit_id))
    elif relation.ends_at is not None and relation.ends_at < until:
        relation.ends_at = until


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


def end_with_episode(db: Session, episode_id: uuid.UUID, at: datetime, reason: str) -> int:
    """The home-ward episode has ended (discharge, return to hospital): the care requests made
    for it end, and their visits not yet started from `at` on are cancelled, so that nobody
    drives to an empty house. Returns how many visits were cancelled."""
    ids = list(db.scalars(select(CareRequest.id).where(
        CareRequest.episode_id == episode_id,
        CareRequest.status.in_([RequestStatus.REQUESTED, RequestStatus.ACCEPTED]))))
    if not ids:
        return 0
    db.execute(update(CareRequest).where(CareRequest.id.in_(ids))
               .values(status=RequestStatus.CANCELLED))
    result = db.execute(update(Visit).where(
        Visit.care_request_id.in_(ids), Visit.status == VisitStatus.PLANNED, Visit.latest > at)
        .values(status=VisitStatus.CANCELLED, not_done_reason=reason))
    return result.rowcount


def pending_care_requests(db: Session, subject: Subject) -> int:
    """How many care requests to the user's unit await an answer (the menu's badge)."""
    return db.scalar(select(func.count()).select_from(CareRequest).where(
        CareRequest.to_unit_id == subject.unit_id,
        CareRequest.status == RequestStatus.REQUESTED)) or 0


def requests_for(db: Session, patient_id: uuid.UUID) -> list[tuple[CareRequest, int]]:
    """The patient's care requests, newest first, with how many visits each has."""
    counts = dict(db.execute(select(Visit.care_request_id, func.count())
                             .where(Visit.patient_id == patient_id)
                             .group_by(Visit.care_request_id)).all())
    return [(r, counts.get(r.id, 0)) for r in db.scalars(
        select(CareRequest).where(CareRequest.patient_id == patient_id)
        .order_by(CareRequest.created_at.desc()))]


# --- Visits of the day --------------------------------------------------------------------


def add_urgent_visit(db: Session, subject: Subject, data: UrgentVisitCreate, day: date,
                     now: datetime) -> Visit:
    """A visit today that no care request foresaw, for the user's unit: it goes first when
    not everything fits (priority 3). The caller re-plans the day around it."""
    require(db, subject, Action.VISIT_PLAN, data.patient_id)
    _check_staffing(data)
    earliest, latest = at_local(day, data.earliest), at_local(day, data.latest)
    if latest < earliest:
        raise Invalid("The latest start is before the earliest", field="latest")
    if latest < now:
        raise Invalid("The time has passed", field="latest")
    visit = Visit(id=uuid.uuid4(), patient_id=data.patient_id, unit_id=subject.unit_id, day=day,
                  kind=data.kind, earliest=max(earliest, now), latest=latest,
                  duration_minutes=data.duration_minutes, skills=sorted(set(data.skills)),
                  staff_count=data.staff_count, sync=data.sync, gap_min=data.gap_min,
                  gap_max=data.gap_max if data.sync == "sequential" else 0, hard=True,
                  priority=3, urgent=True, notes=data.notes, status=VisitStatus.PLANNED,
                  updated_by_id=subject.staff_id, created_at=now)
    db.add(visit)
    db.flush()
    audit.record(db, data.patient_id, "visit.add_urgent")
    return visit


# Which report may follow which: a visit is started, then done or not; a visit not started
# can be reported not done (nobody home, refused) or done at once (entered afterwards).
_REPORTS = {VisitStatus.PLANNED: {"started", "done", "not_done"},
            VisitStatus.STARTED: {"done", "not_done"}}


def report_visit(db: Session, subject: Subject, patient_id: uuid.UUID, visit_id: uuid.UUID,
                 data: VisitReport, now: datetime) -> Visit:
    """The visiting staff member reports the visit: started, done, or not done with a reason."""
    require(db, subject, Action.VISIT, patient_id)
    visit = db.get(Visit, visit_id, with_for_update=True)
    if visit is None or visit.patient_id != patient_id:
        raise NotFound()
    if data.status not in _REPORTS.get(visit.status, ()):
        raise Conflict("The visit has already been reported", field="status")
    if data.status == "not_done" and not data.reason:
        raise Invalid("Say why the visit was not done", field="reason")
    if visit.day > local_date(now):
        raise Invalid("The visit is on a later day", field="status")
    visit.status = data.status
    visit.updated_by_id = subject.staff_id
    if data.status == "started":
        visit.started_at = now
    elif data.status == "done":
        visit.started_at = visit.started_at or now - timedelta(minutes=visit.duration_minutes)
        visit.done_at = now
    else:
        visit.not_done_reason = data.reason
        visit.done_at = now
    if data.note:
        visit.notes = (visit.notes + "\n" if visit.notes else "") + data.note
    audit.record(db, patient_id, f"visit.{data.status}")
    return visit


def visits_for(db: Session, patient_id: uuid.UUID, first: date, last: date) -> list[Visit]:
    return list(db.scalars(select(Visit).where(Visit.patient_id == patient_id,
                                               Visit.day >= first, Visit.day <= last)
                           .order_by(Visit.earliest)))


# --- Staff shifts -----------------------------------------------------------------------------


def add_shift(db: Session, subject: Subject, data: ShiftCreate, *,
              geocoder: Geocoder | None = None) -> StaffShift:
    """A staff member of the user's unit works a day: from where, when, with which break.
    A day from home starts at the home address looked up (`geocoder`; None: the bundled
    postal-code table only)."""
    staff = db.get(Staff, data.staff_id)
    if staff is None or staff.unit_id != subject.unit_id or not staff.active:
        raise Invalid("Choose someone in your unit", field="staff_id")
    unit = db.get(Unit, subject.unit_id)
    starts, ends = at_local(data.day, data.start), at_local(data.day, data.end)
    if ends <= starts:
        raise Invalid("The shift ends before it starts", field="end")
    if data.day < local_today():
        raise Invalid("The date has passed", field="day")
    if data.start_place == "home":
        lat, lon = _home(data, geocoder)
    else:
        if unit.latitude is None or unit.longitude is None:
            raise Invalid("The unit has no address on the map; start from home",
                          field="start_place")
        lat, lon = unit.latitude, unit.longitude
    breaks = []
    if data.break_earliest or data.break_latest:
        if not (data.break_earliest and data.break_latest):
            raise Invalid("Give the break's earliest and latest start", field="break_latest")
        b0, b1 = at_local(data.day, data.break_earliest), at_local(data.day, data.break_latest)
        if not starts <= b0 <= b1 <= ends:
            raise Invalid("The break must fall within the shift", field="break_latest")
        breaks = [{"earliest": data.break_earliest, "latest": data.break_latest,
                   "minutes": data.break_minutes}]
    overlap = db.scalar(select(StaffShift.id).where(
        StaffShift.staff_id == staff.id, StaffShift.starts_at < ends, StaffShift.ends_at > starts))
    if overlap:
        raise Conflict("%(name)s already works then", field="start", name=staff.full_name)
    shift = StaffShift(staff_id=staff.id, unit_id=subject.unit_id, day=data.day, starts_at=starts,
                       ends_at=ends, start_place=data.start_place, start_latitude=lat,
                       start_longitude=lon, end_latitude=lat, end_longitude=lon, breaks=breaks,
                       profile=data.profile)
    db.add(shift)
    db.flush()
    return shift


def _home(data: ShiftCreate, geocoder: Geocoder | None) -> tuple[float, float]:
    """Where a day from home starts and ends: coordinates a system sent (both or neither),
    else the home address looked up as a patient's is."""
    if data.latitude is not None or data.longitude is not None:
        if data.latitude is None or data.longitude is None:
            raise Invalid("Give both latitude and longitude, or neither",
                          field="longitude" if data.longitude is None else "latitude")
        return data.latitude, data.longitude
    if not data.home_address:
        raise Invalid("Give the address of home", field="home_address")
    found = (geocoder or geocoding.offline()).lookup(geocoding.parse_address(data.home_address))
    if found is None:
        raise Invalid("No position was found for this address. Give its postal code and city, "
                      "or start from the office.", field="home_address")
    return found.latitude, found.longitude


def remove_shift(db: Session, subject: Subject, shift_id: int) -> StaffShift:
    """Take a shift away (sick leave): its visits go to others at the next re-plan."""
    shift = db.get(StaffShift, shift_id)
    if shift is None or shift.unit_id != subject.unit_id:
        raise NotFound()
    if db.scalar(select(VisitAssignment.id).join(Visit, Visit.id == VisitAssignment.visit_id)
                 .where(VisitAssignment.shift_id == shift.id,
                        Visit.status.in_(REPORTED_STATES)).limit(1)):
        raise Conflict("Visits of this shift are already reported", field="shift_id")
    # Its rows in saved plans go with it, older versions included (the plans' history loses
    # them; nothing on the shift was reported, so nothing that happened is lost).
    db.execute(delete(VisitAssignment).where(VisitAssignment.shift_id == shift.id))
    db.delete(shift)
    return shift


def shifts_of(db: Session, unit_id: int, day: date) -> list[tuple[StaffShift, Staff]]:
    return list(db.execute(select(StaffShift, Staff).join(Staff, Staff.id == StaffShift.staff_id)
                           .where(StaffShift.unit_id == unit_id, StaffShift.day == day)
                           .order_by(StaffShift.starts_at, Staff.family_name)).all())
