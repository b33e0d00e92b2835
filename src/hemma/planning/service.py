"""Named actions of visit planning: care requests between units and the visits they become.

A care request (vårdbegäran) goes from the unit responsible for the patient to the unit that
is to make the visits, often across organisations (the region's clinic asks the municipality's
home nursing for IV antibiotics three times a day). Sending it makes the receiving unit part of
the care team until the last day, so its staff can read what they are asked to do; declining
ends that again. Accepting turns the request into one visit per time and day, each a window
in absolute time computed in Swedish time (08:00 stays 08:00 across daylight-saving days)."""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TypeVar

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from hemma.access import audit
from hemma.access.policy import Action, Subject
from hemma.access.service import (
    accessible_patients,
    can,
    decisions_for,
    log_listed,
    origin,
    relation_active,
    require,
)
from hemma.access.sharing import settle_sharing
from hemma.access.work import Work
from hemma.coordination import live
from hemma.db import insert_ignoring_conflict
from hemma.geo import geocoding
from hemma.geo.geocoding import Geocoder
from hemma.kit.errors import Conflict, Forbidden, Invalid, NotFound
from hemma.kit.time import (
    at_local,
    end_of_local_day,
    ensure_utc,
    local,
    local_date,
    local_today,
    utcnow,
)
from hemma.models import (
    ACTIVE_STATES,
    REPORTED_STATES,
    CareRelation,
    CareRequest,
    Episode,
    Observation,
    Patient,
    RequestStatus,
    Staff,
    StaffShift,
    Unit,
    Visit,
    VisitAssignment,
    VisitPlan,
    VisitReportRecord,
    VisitStatus,
)
from hemma.monitoring import service as monitoring
from hemma.monitoring import visible
from hemma.monitoring.schemas import ObservationCreate
from hemma.planning import day, views
from hemma.planning.schemas import (
    CareRequestCreate,
    CareRequestDecision,
    ShiftCreate,
    Staffing,
    UrgentVisitCreate,
    VisitReport,
)

log = logging.getLogger("hemma.planning")
T = TypeVar("T")
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
    if rows:
        live.announce(db, visits=True)
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
    if result.rowcount:
        live.announce(db, visits=True)
    return result.rowcount


def requests_for(db: Session, patient_id: uuid.UUID) -> list[tuple[CareRequest, int]]:
    """The patient's care requests, newest first, with how many visits each has."""
    counts = dict(db.execute(select(Visit.care_request_id, func.count())
                             .where(Visit.patient_id == patient_id)
                             .group_by(Visit.care_request_id)).all())
    return [(r, counts.get(r.id, 0)) for r in db.scalars(
        select(CareRequest).where(CareRequest.patient_id == patient_id)
        .order_by(CareRequest.created_at.desc()))]


# --- Whether the receiving unit can do what it accepted -------------------------------------


@dataclass(frozen=True)
class Shortfall:
    """Days on which the unit that accepted a request cannot do its visits as things stand:
    nobody works ("no_shift"), nobody working has the skills ("skills"), the day's plan has no
    room for them ("capacity", "window"), or the patient has no place on the map ("address")."""

    reason: str
    days: tuple[date, ...]
    skills: tuple[str, ...] = ()


def capacity(work: Work, subject: Subject, request_id: uuid.UUID, *, budget: day.Budget,
             osrm_url: str | None = None, now: datetime | None = None,
             solver: Solver | None = None) -> list[Shortfall]:
    """What stands in the way of an accepted request's visits, day by day: shifts and skills
    on every day; on a day that already has a plan, a trial plan (solved with no transaction
    open, not saved) says whether the day can fit them."""
    now = now or utcnow()
    solver = solver or day.solve
    with work() as s:
        request = s.get(CareRequest, request_id)
        if request is None:
            raise NotFound()
        if not can(s, subject, Action.CARE_REQUEST, request.patient_id):
            require(s, subject, Action.CARE_REQUEST, request.patient_id)
        unit = request.to_unit_id
        visits = list(s.scalars(select(Visit).where(
            Visit.care_request_id == request.id, Visit.status == VisitStatus.PLANNED)
            .order_by(Visit.earliest)))
        days = sorted({v.day for v in visits})
        patient = s.get(Patient, request.patient_id)
        staffed: dict[date, list[set[str]]] = defaultdict(list)
        for shift_day, skills in s.execute(
                select(StaffShift.day, Staff.skills).join(Staff, Staff.id == StaffShift.staff_id)
                .where(StaffShift.unit_id == unit, StaffShift.day.in_(days))):
            staffed[shift_day].append(set(skills or ()))
        planned_days = set(s.scalars(select(VisitPlan.day).where(
            VisitPlan.unit_id == unit, VisitPlan.day.in_(days))))
        needs = set(request.skills or ())
        out: dict[str, list[date]] = defaultdict(list)
        trials = []
        for d in days:
            if not staffed[d]:
                out["no_shift"].append(d)
            elif not any(needs <= have for have in staffed[d]):
                out["skills"].append(d)
            elif d in planned_days and day.has_position(patient):
                trials.append(day.read(s, unit, d, now))
        if not day.has_position(patient):
            out["address"] = days
    ours = {str(v.id) for v in visits}
    for d_input in trials:
        solved = solver(d_input, budget, osrm_url)
        left = [u for u in solved.result.unplanned if u.visit in ours]
        if left:
            out["window" if all(u.reason == "window" for u in left) else "capacity"].append(
                d_input.day)
    return [Shortfall(reason, tuple(sorted(found)), tuple(sorted(needs)) if reason == "skills"
                      else ()) for reason, found in out.items() if found]


def pending_care_requests(db: Session, subject: Subject) -> int:
    """How many care requests to the user's unit await an answer (the menu's badge): only
    those about patients the user may read, and none for a role that does not answer them."""
    if not subject.role_allows(Action.CARE_REQUEST):
        return 0
    return db.scalar(select(func.count()).select_from(CareRequest).where(
        CareRequest.to_unit_id == subject.unit_id,
        CareRequest.status == RequestStatus.REQUESTED,
        CareRequest.patient_id.in_(accessible_patients(subject)))) or 0


# --- Planning the day ---------------------------------------------------------------------
#
# Planning a day thinks for seconds. These actions never think inside a transaction: each reads
# the day in a short unit of work (`Work`), solves with none open, and writes the plan in a
# second one that first checks the day is still the day it read (`day.claim`). If it changed
# meanwhile (another plan saved, a visit reported, a lock set), the action reads and solves
# again; after ATTEMPTS changes in a row it says so instead.

ATTEMPTS = 3
Solver = Callable[[day.DayInput, day.Budget, str | None], day.Solved]


def _replan(work: Work, read: Callable[[Session], day.DayInput],
            save: Callable[[Session, day.DayInput, day.Solved], T], *, budget: day.Budget,
            osrm_url: str | None, solver: Solver | None) -> T:
    solver = solver or day.solve
    for _attempt in range(ATTEMPTS):
        with work() as s:
            d = read(s)
        solved = solver(d, budget, osrm_url)
        try:
            with work() as s:
                day.claim(s, d)
                return save(s, d, solved)
        except day.DayChanged:
            log.info("the day of unit %s on %s changed while it was planned; again",
                     d.unit_id, d.day)
    raise Conflict("The day changed while it was being planned; try again", field="day")


def _check_patient(db: Session, subject: Subject, patient_id: uuid.UUID) -> None:
    """May the planner plan this patient's visits? Checked when the day is read; logged when
    the plan is written, with the action (a refusal is logged at once)."""
    if not can(db, subject, Action.VISIT_PLAN, patient_id):
        require(db, subject, Action.VISIT_PLAN, patient_id)  # logs the refusal, raises


def plan_day(work: Work, subject: Subject, on: date, *, budget: day.Budget,
             osrm_url: str | None = None, now: datetime | None = None,
             reason: str = "planned", solver: Solver | None = None) -> VisitPlan:
    """Plan (or re-plan) the user's unit's day; started, done and passed visits stay as they
    are, locked ones with their staff member."""
    now = now or utcnow()

    def read(s: Session) -> day.DayInput:
        require(s, subject, Action.VISIT_PLAN)
        return day.read(s, subject.unit_id, on, now)

    def save(s: Session, d: day.DayInput, solved: day.Solved) -> VisitPlan:
        require(s, subject, Action.VISIT_PLAN)
        plan = day.write(s, d, solved, subject.staff_id, reason)
        audit.record(s, None, "visitplan.plan", basis="role",
                     detail=f"{on.isoformat()} v{plan.version}")
        return plan

    return _replan(work, read, save, budget=budget, osrm_url=osrm_url, solver=solver)


# NEWS2 7 or more is a high clinical risk (RCP): an urgent visit for such a patient is asked
# for now, within the hour, unless the planner says otherwise.
NEWS2_HIGH = 7
NEWS2_RECENT = timedelta(hours=24)  # an older score says little about today


def latest_news2(db: Session, subject: Subject, patient_ids: list[uuid.UUID],
                 now: datetime) -> dict[uuid.UUID, Observation]:
    """Each patient's latest NEWS2 of the last day as the user may see it: of their visible
    values, and scored only from those (monitoring.visible), as on every page."""
    if not patient_ids:
        return {}
    decisions = decisions_for(db, subject, patient_ids)
    latest = visible.latest(db, decisions, now - NEWS2_RECENT)
    return {pid: o for pid, o in latest.items()
            if o.news2_total is not None and o.measured_at <= now}


@dataclass(frozen=True)
class Window:
    earliest: datetime
    latest: datetime
    news2: Observation | None  # the score that made it urgent now


def default_window(db: Session, subject: Subject, patient_id: uuid.UUID | None,
                   now: datetime) -> Window:
    """An urgent visit's window when the planner gives none: from now, within the hour, for a
    patient whose latest NEWS2 is 7 or more; otherwise from a quarter of an hour on, within
    two hours."""
    news2 = latest_news2(db, subject, [patient_id], now).get(patient_id) if patient_id else None
    if news2 is not None and news2.news2_total >= NEWS2_HIGH:
        return Window(now, now + timedelta(hours=1), news2)
    return Window(now + timedelta(minutes=15), now + timedelta(hours=2), news2)


def _urgent(db: Session, subject: Subject, data: UrgentVisitCreate, on: date,
            now: datetime) -> tuple[Visit, Patient]:
    """The urgent visit as asked for (not saved yet), with its patient."""
    _check_staffing(data)
    window = default_window(db, subject, data.patient_id, now)
    earliest = at_local(on, data.earliest) if data.earliest else window.earliest
    if data.latest:
        latest = at_local(on, data.latest)
    else:
        latest = max(window.latest, earliest + (window.latest - window.earliest))
        latest = min(latest, at_local(on, "23:59"))  # the day planned, not the next
    if latest < earliest:
        raise Invalid("The latest start is before the earliest", field="latest")
    if latest < now:
        raise Invalid("The time has passed", field="latest")
    patient = db.get(Patient, data.patient_id)
    visit = Visit(id=uuid.uuid4(), patient_id=data.patient_id, unit_id=subject.unit_id, day=on,
                  kind=data.kind, earliest=max(earliest, now), latest=latest,
                  duration_minutes=data.duration_minutes, skills=sorted(set(data.skills)),
                  staff_count=data.staff_count, sync=data.sync, gap_min=data.gap_min,
                  gap_max=data.gap_max if data.sync == "sequential" else 0, hard=True,
                  priority=3, urgent=True, notes=data.notes, status=VisitStatus.PLANNED,
                  updated_by_id=subject.staff_id, created_at=now)
    return visit, patient


def add_urgent_visit(work: Work, subject: Subject, data: UrgentVisitCreate, on: date,
                     now: datetime, *, budget: day.Budget, osrm_url: str | None = None,
                     solver: Solver | None = None) -> tuple[Visit, VisitPlan]:
    """A visit today that no care request foresaw (the patient called, a value alerted), for
    the user's unit, planned at once into the day: it goes first when not everything fits
    (priority 3). The visit and the plan that has it are saved together."""
    made: list[Visit] = []

    def read(s: Session) -> day.DayInput:
        _check_patient(s, subject, data.patient_id)
        visit, patient = _urgent(s, subject, data, on, now)
        made[:] = [visit]
        return day.read(s, subject.unit_id, on, now, new=[(visit, patient)])

    def save(s: Session, d: day.DayInput, solved: day.Solved) -> VisitPlan:
        require(s, subject, Action.VISIT_PLAN, data.patient_id)
        s.add(made[0])
        s.flush()
        plan = day.write(s, d, solved, subject.staff_id, "urgent visit")
        audit.record(s, data.patient_id, "visit.add_urgent")
        return plan

    plan = _replan(work, read, save, budget=budget, osrm_url=osrm_url, solver=solver)
    return made[0], plan


def urgent_patients(db: Session, subject: Subject) -> list[Patient]:
    """The patients a planner may choose for an urgent visit: every patient they may read,
    by name. A list of patients: each one shown is logged, as the home-ward list is."""
    patients = list(db.scalars(select(Patient).where(
        Patient.id.in_(accessible_patients(subject)))
        .order_by(Patient.family_name, Patient.given_name)))
    decisions = decisions_for(db, subject, [p.id for p in patients])
    shown = [p for p in patients if decisions[p.id]]
    log_listed(db, {p.id: decisions[p.id] for p in shown}, "visitplan.list")
    return shown


def visit_of_unit(db: Session, unit_id: int, visit_id: uuid.UUID) -> Visit:
    visit = db.get(Visit, visit_id)
    if visit is None or visit.unit_id != unit_id:
        raise NotFound()
    return visit


def _clock(at: datetime) -> str:
    return local(at).strftime("%H:%M")


def move_visit(work: Work, subject: Subject, visit_id: uuid.UUID, part: int, shift_id: int,
               *, budget: day.Budget, osrm_url: str | None = None,
               now: datetime | None = None, solver: Solver | None = None) -> VisitPlan:
    """A planner gives a visit to another staff member by hand: it is locked to them, and the
    rest of the day is re-planned around it. If it cannot stay there (the staff member does
    not work then, lacks the skills, cannot reach it in its window), or moving it would leave
    out another visit, nothing is saved and the planner is told why."""
    now = now or utcnow()
    unit_id = subject.unit_id
    facts: dict = {}

    def read(s: Session) -> day.DayInput:
        visit = visit_of_unit(s, unit_id, visit_id)
        _check_patient(s, subject, visit.patient_id)
        if not 0 <= part < visit.staff_count:
            raise Invalid("Unknown part of the visit", field="part")
        shift = s.get(StaffShift, shift_id)
        if shift is None or shift.unit_id != unit_id or shift.day != visit.day:
            raise Invalid("Choose a staff member working that day", field="shift_id")
        staff = s.get(Staff, shift.staff_id)
        plan = day.current_plan(s, unit_id, visit.day)
        planned = views.plan_rows(s, plan, visit.id)
        if day.is_fixed(visit, min((a.planned_start for a in planned), default=None), now):
            raise Conflict("The visit has already started", field="shift_id")
        if part == 0 and not set(visit.skills or ()) <= set(staff.skills or ()):
            raise Invalid("%(name)s does not have the skills the visit needs", field="shift_id",
                          name=staff.full_name)
        if any(a.shift_id == shift.id and a.part != part for a in planned):
            raise Invalid("%(name)s already comes to this visit; it needs two staff",
                          field="shift_id", name=staff.full_name)
        first = max(visit.earliest, shift.starts_at, now)
        last = min(visit.latest, shift.ends_at - timedelta(minutes=visit.duration_minutes))
        if first > last:
            raise Invalid("%(name)s works %(start)s–%(end)s, and the visit must start between "
                          "%(earliest)s and %(latest)s", field="shift_id", name=staff.full_name,
                          start=_clock(shift.starts_at), end=_clock(shift.ends_at),
                          earliest=_clock(visit.earliest), latest=_clock(visit.latest))
        facts.update(patient_id=visit.patient_id, name=staff.full_name,
                     window=(_clock(visit.earliest), _clock(visit.latest)),
                     before={a.visit_id for a in views.plan_rows(s, plan)})
        return day.read(s, unit_id, visit.day, now, move=(visit.id, part, shift.id))

    def save(s: Session, d: day.DayInput, solved: day.Solved) -> VisitPlan:
        require(s, subject, Action.VISIT_PLAN, facts["patient_id"])
        if solved.placed(d, visit_id).get(part) != shift_id:
            why = next((u for u in solved.result.unplanned if u.visit == str(visit_id)), None)
            if why is not None and why.reason == "window":
                raise Conflict("%(name)s cannot reach the visit within its window "
                               "(%(earliest)s–%(latest)s) around the visits that stay on the "
                               "route", field="shift_id", name=facts["name"],
                               earliest=facts["window"][0], latest=facts["window"][1])
            raise Conflict("The visit does not fit in the day of %(name)s with the visits and "
                           "breaks that stay there", field="shift_id", name=facts["name"])
        dropped = sorted(v.earliest for v in d.visits
                         if v.id in facts["before"] and str(v.id) in solved.unplanned_ids())
        if dropped:
            raise Conflict("Moving it would leave out other visits (at %(times)s); choose "
                           "someone else", field="shift_id",
                           times=", ".join(_clock(t) for t in dropped))
        plan = day.write(s, d, solved, subject.staff_id, "moved")
        audit.record(s, facts["patient_id"], "visitplan.move", detail=facts["name"])
        return plan

    return _replan(work, read, save, budget=budget, osrm_url=osrm_url, solver=solver)


def set_locked(db: Session, subject: Subject, visit_id: uuid.UUID, locked: bool) -> VisitPlan:
    """Lock a visit to the staff member it is planned with (or unlock it), in the current
    plan: re-planning keeps it with them. (No solving: it runs in the caller's transaction.)"""
    visit = visit_of_unit(db, subject.unit_id, visit_id)
    require(db, subject, Action.VISIT_PLAN, visit.patient_id)
    db.get(Unit, subject.unit_id, with_for_update=True)  # not while a plan is being written
    plan = day.current_plan(db, subject.unit_id, visit.day)
    found = views.plan_rows(db, plan, visit.id)
    if not found:
        if not locked and plan is not None and any(
                u["visit_id"] == str(visit.id) and u.get("locked") for u in plan.unplanned):
            # A lock the last plan could not keep: lifted, the next plan may put it anywhere.
            plan.unplanned = [{k: v for k, v in u.items() if k != "locked"}
                              if u["visit_id"] == str(visit.id) else u for u in plan.unplanned]
            audit.record(db, visit.patient_id, "visitplan.unlock")
            return plan
        raise Conflict("The visit is not in the plan", field="visit_id")
    for a in found:
        a.locked = locked
    audit.record(db, visit.patient_id, "visitplan.lock" if locked else "visitplan.unlock")
    return plan


def book_visit(db: Session, subject: Subject, patient_id: uuid.UUID, *, on: date, kind: str,
               duration_minutes: int, earliest: datetime, latest: datetime, urgent: bool,
               notes: str | None, now: datetime) -> Visit:
    """A visit of the user's own unit on `on`, booked outside any care request (a round's
    decision to visit): it waits in that day's plan for the next planning. Urgent visits go
    first when not everything fits."""
    require(db, subject, Action.VISIT_PLAN, patient_id)
    if latest < now:
        raise Invalid("The time has passed", field="visit.when")
    visit = Visit(id=uuid.uuid4(), patient_id=patient_id, unit_id=subject.unit_id, day=on,
                  kind=kind, earliest=max(earliest, now), latest=latest,
                  duration_minutes=duration_minutes, skills=[], staff_count=1, sync=None,
                  gap_min=0, gap_max=0, hard=urgent, priority=3, urgent=urgent, notes=notes,
                  status=VisitStatus.PLANNED, updated_by_id=subject.staff_id, created_at=now)
    db.add(visit)
    db.flush()
    audit.record(db, patient_id, "visit.add_urgent" if urgent else "visit.book")
    live.announce(db, visits=True)
    return visit


# Which report may follow which: a visit is started, then done or not; a visit not started
# can be reported not done (nobody home, refused) or done at once (entered afterwards).
_REPORTS = {VisitStatus.PLANNED: {"started", "done", "not_done"},
            VisitStatus.STARTED: {"done", "not_done"}}


def report_visit(db: Session, subject: Subject, patient_id: uuid.UUID, visit_id: uuid.UUID,
                 data: VisitReport, now: datetime) -> Visit:
    """The visiting staff member reports the visit: started, done (with the values measured
    at the visit, recorded in the patient's monitoring), or not done with a reason (a code of
    labels.NOT_DONE_CODES, and the staff's words: needed when the code is "other"). A report
    with a client id its sender already used for this visit is a resend: the visit is
    answered as it is and nothing is recorded again. A report made without coverage and
    sent later keeps its time (`at`, the phone's clock)."""
    require(db, subject, Action.VISIT, patient_id)
    visit = db.get(Visit, visit_id, with_for_update=True)
    if visit is None or visit.patient_id != patient_id:
        raise NotFound()
    if data.client_id is not None:
        # The visit's row lock makes a concurrent resend wait here and find the first one.
        sent = db.scalar(select(VisitReportRecord).where(
            VisitReportRecord.visit_id == visit.id, VisitReportRecord.client_id == data.client_id))
        if sent is not None:
            if sent.staff_id != subject.staff_id:
                raise Conflict("This client id belongs to another report", field="client_id")
            audit.record(db, patient_id, "visit.resend")
            return visit
    # Not after it reached us (a phone's clock may run ahead), nor before the visit's day.
    at = min(ensure_utc(data.at), now) if data.at is not None else now
    if local_date(at) < visit.day:
        raise Invalid("The time is before the day of the visit", field="at")
    if data.status not in _REPORTS.get(visit.status, ()):
        raise Conflict("The visit has already been reported", field="status")
    if data.status == "not_done" and data.reason_code is None:
        raise Invalid("Choose why the visit was not done", field="reason_code")
    if data.status != "not_done" and data.reason_code is not None:
        raise Invalid("Only with a visit not done", field="reason_code")
    if data.reason_code == "other" and not data.reason:
        raise Invalid("Say why the visit was not done", field="reason")
    if data.values is not None and data.status != "done":
        raise Invalid("Values are reported with the visit done", field="values")
    if visit.day > local_date(now):
        raise Invalid("The visit is on a later day", field="status")
    visit.status = data.status
    visit.updated_by_id = subject.staff_id
    if data.status == "started":
        visit.started_at = at
    elif data.status == "done":
        visit.started_at = visit.started_at or at - timedelta(minutes=visit.duration_minutes)
        visit.done_at = at
    else:
        visit.not_done_code = data.reason_code
        visit.not_done_reason = data.reason
        visit.done_at = at
    if data.note:
        visit.notes = (visit.notes + "\n" if visit.notes else "") + data.note
    observation_id = None
    if data.values is not None:
        # Measured at the visit: the staff member's unit documents them, like any staff entry.
        # A visit is done once, so its id keys them.
        recorded = monitoring.record_observation(
            db, patient_id, ObservationCreate.model_validate({
                **data.values.model_dump(exclude_none=True), "client_id": f"visit-{visit.id}",
                "measured_at": at}),
            performer="staff", source="visit", documented_by_unit_id=subject.unit_id,
            staff_id=subject.staff_id)
        observation_id = recorded.observation.id
    db.add(VisitReportRecord(visit_id=visit.id, patient_id=patient_id, status=data.status,
                             client_id=data.client_id, staff_id=subject.staff_id,
                             reported_at=at, received_at=now, observation_id=observation_id))
    audit.record(db, patient_id, f"visit.{data.status}")
    live.announce(db, visits=True)  # the patient's day, the board: "here now", "done"
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
