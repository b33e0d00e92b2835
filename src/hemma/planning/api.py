"""JSON API of visit planning: care requests, shifts, the unit's day plan, urgent visits,
moving a visit by hand, a staff member's route, and reporting a visit."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from hemma.access.policy import Action
from hemma.config import get_settings
from hemma.i18n import gettext
from hemma.kit.text import N_
from hemma.kit.time import local_today, utcnow
from hemma.kit.validation import Day
from hemma.planning import day as planner
from hemma.planning import service, views
from hemma.planning.schemas import (
    CareRequestCreate,
    CareRequestDecision,
    CareRequestRead,
    ShiftCreate,
    UrgentVisitCreate,
    VisitMove,
    VisitReport,
)
from hemma.web.deps import (
    DbSession,
    OwnWork,
    PatientAccess,
    PatientContext,
    Principal,
    StaffAccess,
)
from hemma.web.routing import JsonRoute

router = APIRouter(prefix="/api/v1", tags=["planning"], route_class=JsonRoute)
Reader = Annotated[Principal, Depends(StaffAccess(Action.READ))]
Planner = Annotated[Principal, Depends(StaffAccess(Action.VISIT_PLAN))]
Visitor = Annotated[Principal, Depends(StaffAccess(Action.VISIT))]


class StopOut(BaseModel):
    visit_id: uuid.UUID
    part: int
    patient_id: uuid.UUID | None  # None: a patient the user may no longer read
    patient_name: str
    address: str
    phone: str | None
    latitude: float | None
    longitude: float | None
    kind: str
    planned_start: datetime
    planned_end: datetime
    earliest: datetime
    latest: datetime
    status: str
    urgent: bool
    locked: bool
    fixed: bool
    notes: str | None
    with_staff: list[str]


class RouteOut(BaseModel):
    shift_id: int
    staff_id: int
    staff_name: str
    starts_at: datetime
    ends_at: datetime
    stops: list[StopOut]
    breaks: list[dict]


class UnplannedOut(BaseModel):
    """A visit the plan leaves out: nobody comes unless a planner acts (moves it by hand,
    adds a shift, fixes the patient's address)."""

    visit_id: uuid.UUID
    patient_id: uuid.UUID | None
    reason: str  # "skills", "window", "capacity", "address"
    detail: str
    urgent: bool
    locked_to_staff: str | None


class BackToBackOut(BaseModel):
    """Two assessments of one patient planned close together: is one enough?"""

    patient_id: uuid.UUID
    visit_ids: list[uuid.UUID]


class ChangeOut(BaseModel):
    visit_id: uuid.UUID
    kind: str
    before_staff: str | None
    before_start: datetime | None
    after_staff: str | None
    after_start: datetime | None


class PlanOut(BaseModel):
    day: date
    plan_id: uuid.UUID | None
    created_at: datetime | None
    reason: str | None
    figures: dict
    routes: list[RouteOut]
    complete: bool  # every visit of the day is in the plan
    unplanned: list[UnplannedOut]
    waiting: list[uuid.UUID]
    changes: list[ChangeOut]
    back_to_back: list[BackToBackOut]


class UrgentOut(BaseModel):
    visit_id: uuid.UUID
    plan: PlanOut


class ShiftOut(BaseModel):
    id: int
    staff_id: int
    day: date
    starts_at: datetime
    ends_at: datetime
    start_place: str
    breaks: list[dict]
    profile: str


def _stop(s: views.Stop) -> StopOut:
    p, v, a = s.patient, s.visit, s.assignment
    return StopOut(
        visit_id=v.id, part=a.part, patient_id=p.id, patient_name=p.full_name,
        address=", ".join(x for x in (p.street, f"{p.postal_code or ''} {p.city or ''}".strip())
                          if x),
        phone=p.phone, latitude=p.latitude, longitude=p.longitude, kind=v.kind,
        planned_start=a.planned_start, planned_end=a.planned_end, earliest=v.earliest,
        latest=v.latest, status=v.status, urgent=v.urgent, locked=a.locked, fixed=s.fixed,
        notes=v.notes, with_staff=[o.full_name for o in s.others])


def _route(r: views.Route) -> RouteOut:
    return RouteOut(shift_id=r.shift.id, staff_id=r.staff.id, staff_name=r.staff.full_name,
                    starts_at=r.shift.starts_at, ends_at=r.shift.ends_at,
                    stops=[_stop(s) for s in r.stops],
                    breaks=[{"start": b["start"], "minutes": b["minutes"]} for b in r.breaks])


def _plan(view: views.DayPlan) -> PlanOut:
    plan = view.plan
    return PlanOut(
        day=view.day, plan_id=plan.id if plan else None,
        created_at=plan.created_at if plan else None, reason=plan.reason if plan else None,
        figures=plan.figures if plan else {}, routes=[_route(r) for r in view.routes],
        complete=plan is not None and not view.unplanned and not view.waiting,
        unplanned=[UnplannedOut(visit_id=u.visit.id, patient_id=u.patient.id, reason=u.reason,
                                detail=u.detail, urgent=u.visit.urgent,
                                locked_to_staff=u.locked_to.full_name if u.locked_to else None)
                   for u in view.unplanned],
        back_to_back=[BackToBackOut(patient_id=b.patient.id,
                                    visit_ids=[b.first.visit.id, b.second.visit.id])
                      for b in view.back_to_back],
        waiting=[v.id for v, _p in view.waiting],
        changes=[ChangeOut(visit_id=c.visit.id, kind=c.kind,
                           before_staff=c.before[0].full_name if c.before[0] else None,
                           before_start=c.before[1],
                           after_staff=c.after[0].full_name if c.after[0] else None,
                           after_start=c.after[1]) for c in view.changes])


def _settings(request: Request):
    return get_settings()


# --- Care requests --------------------------------------------------------------------------


def _read(request, visits: int = 0) -> CareRequestRead:
    return CareRequestRead.model_validate(
        {**{k: getattr(request, k) for k in CareRequestRead.model_fields if k != "visits"},
         "visits": visits})


@router.get("/patients/{patient_id}/care-requests", response_model=list[CareRequestRead])
def list_requests(db: DbSession,
                  ctx: Annotated[PatientContext, Depends(PatientAccess(Action.READ))]):
    """The patient's care requests, newest first, with how many visits each has."""
    return [_read(r, n) for r, n in service.requests_for(db, ctx.patient_id)]


@router.post("/patients/{patient_id}/care-requests", status_code=201,
             response_model=CareRequestRead)
def create_request(body: CareRequestCreate, db: DbSession,
                   ctx: Annotated[PatientContext, Depends(PatientAccess(Action.CARE_REQUEST))]):
    """Send a care request from the user's unit to another."""
    return _read(service.request_care(db, ctx.subject, ctx.patient_id, body))


class ShortfallOut(BaseModel):
    """Why some of an accepted request's visits cannot be planned as things stand."""

    reason: str  # "no_shift", "skills", "capacity", "window", "address"
    days: list[date]
    message: str


class CareRequestDecided(CareRequestRead):
    warnings: list[ShortfallOut] = []


_SHORTFALL_TEXT = {
    "no_shift": N_("Nobody in your unit works on %(days)s: add shifts, or these visits will "
                   "not be made."),
    "skills": N_("Nobody working on %(days)s has the skills the visits need (%(skills)s)."),
    "address": N_("The patient's address has no position on the map, so the visits cannot "
                  "be planned. Fix the address."),
    "capacity": N_("The plan of %(days)s has no room for these visits with the shifts there."),
}


def _shortfall(f: service.Shortfall) -> ShortfallOut:
    text = _SHORTFALL_TEXT.get(f.reason, _SHORTFALL_TEXT["capacity"])
    return ShortfallOut(reason=f.reason, days=list(f.days), message=gettext(
        text, days=", ".join(d.isoformat() for d in f.days), skills=", ".join(f.skills)))


@router.post("/patients/{patient_id}/care-requests/{request_id}/decision",
             response_model=CareRequestDecided)
def decide_request(request_id: uuid.UUID, body: CareRequestDecision, request: Request,
                   ctx: Annotated[PatientContext, Depends(PatientAccess(Action.CARE_REQUEST))],
                   work: OwnWork):
    """Accept (the visits are created) or decline with a reason. An acceptance answers with
    `warnings` when the unit has no capacity for the visits (no shift on those days, nobody
    with the skills, no room in a day already planned, no position for the address)."""
    with work() as s:
        answered = service.decide(s, ctx.subject, ctx.patient_id, request_id, body)
        out = _read(answered)
    warnings = []
    if body.accept:
        settings = _settings(request)
        warnings = [_shortfall(f) for f in service.capacity(
            work, ctx.subject, answered.id, budget=planner.Budget.of(settings, replan=True),
            osrm_url=settings.osrm_url)]
    return CareRequestDecided(**out.model_dump(), warnings=warnings)


# --- Shifts ---------------------------------------------------------------------------------


def _shift(s) -> ShiftOut:
    return ShiftOut(id=s.id, staff_id=s.staff_id, day=s.day, starts_at=s.starts_at,
                    ends_at=s.ends_at, start_place=s.start_place, breaks=s.breaks,
                    profile=s.profile)


@router.get("/shifts", response_model=list[ShiftOut])
def list_shifts(db: DbSession, principal: Reader, day: Day | None = None):
    """Who in the user's unit works the day."""
    return [_shift(s) for s, _staff in service.shifts_of(db, principal.subject.unit_id,
                                                         day or local_today())]


@router.post("/shifts", status_code=201, response_model=ShiftOut)
def create_shift(body: ShiftCreate, request: Request, db: DbSession, principal: Planner):
    """Add a shift for a staff member of the user's unit. A day from home starts at
    `home_address` (looked up), or at `latitude`/`longitude` when a system sends them."""
    return _shift(service.add_shift(db, principal.subject, body,
                                    geocoder=request.app.state.geocoder))


# --- The day plan ---------------------------------------------------------------------------


@router.get("/planning/{day}", response_model=PlanOut)
def get_plan(day: Day, db: DbSession, principal: Reader):
    """The unit's plan of the day, what it left out and why, and what its last re-plan moved."""
    return _plan(views.day_plan(db, principal.subject.unit_id, day, subject=principal.subject))


@router.post("/planning/{day}/solve", response_model=PlanOut)
def solve_day(day: Day, request: Request, db: DbSession, principal: Planner, work: OwnWork):
    """Plan (or re-plan) the day; started, done and passed visits stay as they are."""
    settings = _settings(request)
    service.plan_day(work, principal.subject, day,
                     budget=planner.Budget.of(settings, replan=False), osrm_url=settings.osrm_url)
    return _plan(views.day_plan(db, principal.subject.unit_id, day, subject=principal.subject))


@router.post("/planning/today/urgent-visits", status_code=201, response_model=UrgentOut)
def urgent_visit(body: UrgentVisitCreate, request: Request, db: DbSession, principal: Planner,
                 work: OwnWork):
    """Add an urgent visit today and re-plan around it (answers in well under a second)."""
    settings, now, day = _settings(request), utcnow(), local_today()
    visit, _plan_row = service.add_urgent_visit(
        work, principal.subject, body, day, now, budget=planner.Budget.of(settings, replan=True),
        osrm_url=settings.osrm_url)
    return UrgentOut(visit_id=visit.id,
                     plan=_plan(views.day_plan(db, principal.subject.unit_id, day, now=now,
                                               subject=principal.subject)))


@router.post("/planning/visits/{visit_id}/move", response_model=PlanOut)
def move_visit(visit_id: uuid.UUID, body: VisitMove, request: Request, db: DbSession,
               principal: Planner, work: OwnWork):
    """Give a visit to another staff member by hand (locked to them) and re-plan the rest."""
    settings = _settings(request)
    plan = service.move_visit(work, principal.subject, visit_id, body.part, body.shift_id,
                              budget=planner.Budget.of(settings, replan=True),
                              osrm_url=settings.osrm_url)
    return _plan(views.day_plan(db, principal.subject.unit_id, plan.day,
                                subject=principal.subject))


@router.get("/my-route", response_model=list[RouteOut])
def my_route(db: DbSession, principal: Visitor, day: Day | None = None):
    """The signed-in staff member's route(s) of the day."""
    _view, routes = views.my_route(db, principal.subject, day or local_today())
    return [_route(r) for r in routes]


class VisitOut(BaseModel):
    id: uuid.UUID
    status: str
    started_at: datetime | None
    done_at: datetime | None
    not_done_code: str | None  # why not done (labels.NOT_DONE_CODES)
    not_done_reason: str | None


@router.post("/patients/{patient_id}/visits/{visit_id}/report", response_model=VisitOut)
def report_visit(visit_id: uuid.UUID, body: VisitReport, db: DbSession,
                 ctx: Annotated[PatientContext, Depends(PatientAccess(Action.VISIT))]):
    """Started, done, or not done with why (`reason_code`: `patient_declined`,
    `patient_not_home`, `patient_in_hospital`, `no_staff`, `travel`, `other`; `reason` in
    words, needed with `other`)."""
    v = service.report_visit(db, ctx.subject, ctx.patient_id, visit_id, body, utcnow())
    return VisitOut(id=v.id, status=v.status, started_at=v.started_at, done_at=v.done_at,
                    not_done_code=v.not_done_code, not_done_reason=v.not_done_reason)
