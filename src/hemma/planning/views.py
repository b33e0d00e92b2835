"""A unit's day as planned, for reading: a route per staff member, what was left out and why,
what the last re-plan moved; a staff member's own route; who comes to a patient's visits.

Everything here shows patients: a patient the user may not read (their unit's care
relationship has ended, say) is shown as `Hidden` and their visit as `HiddenVisit` — a visit
at a time, nothing that says whose, where, or what the notes say — and every patient shown
is logged (a list that shows N patients logs N patient identities)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from hemma.access.policy import Subject
from hemma.access.service import decisions_for, log_listed
from hemma.kit.time import utcnow
from hemma.models import (
    Patient,
    Staff,
    StaffShift,
    Visit,
    VisitAssignment,
    VisitPlan,
    VisitStatus,
)
from hemma.planning.day import current_plan, is_fixed

MINUTE = timedelta(minutes=1)
MOVED_MINUTES = 10  # a start moved by less than this is not reported as moved


@dataclass
class Stop:
    assignment: VisitAssignment
    visit: Visit
    patient: Patient
    others: list[Staff]  # who else comes to this visit
    fixed: bool


@dataclass
class Route:
    shift: StaffShift
    staff: Staff
    stops: list[Stop] = field(default_factory=list)
    breaks: list[dict] = field(default_factory=list)  # {"start": datetime, "minutes": int}


@dataclass
class Change:
    visit: Visit
    patient: Patient
    kind: str  # "added", "moved", "retimed", "unplanned", "planned"
    before: tuple[Staff | None, datetime | None]
    after: tuple[Staff | None, datetime | None]


class LeftOut(NamedTuple):
    """A visit the plan could not fit: why, and the staff member a planner locked it to."""

    visit: Visit
    patient: Patient
    reason: str  # "skills", "window", "capacity", "address"
    detail: str
    locked_to: Staff | None = None


@dataclass
class BackToBack:
    """Two assessments of one patient planned close together: one may be enough."""

    patient: Patient
    first: Stop
    second: Stop


@dataclass
class DayPlan:
    unit_id: int
    day: date
    plan: VisitPlan | None
    routes: list[Route]
    unplanned: list[LeftOut]
    waiting: list[tuple[Visit, Patient]]  # visits not in any plan yet
    changes: list[Change]
    back_to_back: list[BackToBack] = field(default_factory=list)


def plan_rows(db: Session, plan: VisitPlan | None,
                 visit_id: uuid.UUID | None = None) -> list[VisitAssignment]:
    """A plan's assignments (of one visit, with `visit_id`)."""
    if plan is None:
        return []
    q = select(VisitAssignment).where(VisitAssignment.plan_id == plan.id)
    if visit_id is not None:
        q = q.where(VisitAssignment.visit_id == visit_id)
    return list(db.scalars(q.order_by(VisitAssignment.shift_id, VisitAssignment.position)))


@dataclass(frozen=True)
class Hidden:
    """A patient the user may not read (their unit's care relationship has ended, say): the
    visit is shown as a visit, not as a person or a place. Not even the patient's id."""

    id: None = None
    given_name: str = ""
    family_name: str = "–"
    full_name: str = "–"
    personnummer: str = ""
    street: str | None = None
    postal_code: str | None = None
    city: str | None = None
    phone: str | None = None
    latitude: float | None = None
    longitude: float | None = None


@dataclass(frozen=True)
class HiddenVisit:
    """The visit of a `Hidden` patient: when, how long, what kind, how far along — what a
    planner needs of a slot in someone's day. Not whose (no patient id), and not the notes or
    why it was not done (the code or the typed reason), which are about the patient."""

    id: uuid.UUID
    unit_id: int
    day: date
    kind: str
    earliest: datetime
    latest: datetime
    duration_minutes: int
    skills: list[str]
    staff_count: int
    sync: str | None
    urgent: bool
    status: str
    started_at: datetime | None
    done_at: datetime | None
    patient_id: None = None
    care_request_id: None = None
    notes: None = None
    not_done_code: None = None
    not_done_reason: None = None

    @classmethod
    def of(cls, v: Visit) -> HiddenVisit:
        return cls(v.id, v.unit_id, v.day, v.kind, v.earliest, v.latest, v.duration_minutes,
                   list(v.skills or ()), v.staff_count, v.sync, v.urgent, v.status,
                   v.started_at, v.done_at)


def shown(db: Session, subject: Subject, rows, action: str) -> list[tuple]:
    """(visit, patient) rows as `subject` may see them, the patients shown logged."""
    decisions = decisions_for(db, subject, {p.id for _v, p in rows})
    log_listed(db, decisions, action)
    return [(v, p) if decisions[p.id] else (HiddenVisit.of(v), Hidden()) for v, p in rows]


def day_plan(db: Session, unit_id: int, day: date, *, now: datetime | None = None,
             subject: Subject | None = None) -> DayPlan:
    """The unit's day as planned: a route per staff member, what is left out and why, and what
    the last re-plan moved. With `subject`, patients the user may not read are hidden and those
    shown are logged (a list that shows N patients logs N patient identities)."""
    now = now or utcnow()
    plans = list(db.scalars(select(VisitPlan).where(VisitPlan.unit_id == unit_id,
                                                    VisitPlan.day == day)
                            .order_by(VisitPlan.version.desc()).limit(2)))
    plan = plans[0] if plans else None
    previous = plans[1] if len(plans) > 1 else None
    shifts = list(db.scalars(select(StaffShift).where(StaffShift.unit_id == unit_id,
                                                      StaffShift.day == day)
                             .order_by(StaffShift.starts_at, StaffShift.staff_id)))
    rows = db.execute(select(Visit, Patient).join(Patient, Patient.id == Visit.patient_id)
                      .where(Visit.unit_id == unit_id, Visit.day == day)
                      .order_by(Visit.earliest)).all()
    if subject is not None:
        rows = shown(db, subject, rows, "visitplan.read")
    visits = {v.id: (v, p) for v, p in rows}
    assignments = plan_rows(db, plan)
    staff_ids = {sh.staff_id for sh in shifts}
    staff = {s.id: s for s in db.scalars(select(Staff).where(Staff.id.in_(staff_ids)))}
    shift_staff = {sh.id: staff[sh.staff_id] for sh in shifts}
    on_visit: dict[uuid.UUID, list[int]] = defaultdict(list)
    first_start: dict[uuid.UUID, datetime] = {}
    for a in assignments:
        on_visit[a.visit_id].append(a.shift_id)
        first_start[a.visit_id] = min(a.planned_start, first_start.get(a.visit_id,
                                                                       a.planned_start))
    routes = {sh.id: Route(sh, staff[sh.staff_id]) for sh in shifts}
    for a in assignments:
        if a.shift_id not in routes or a.visit_id not in visits:
            continue
        visit, patient = visits[a.visit_id]
        others = [shift_staff[s] for s in on_visit[a.visit_id] if s != a.shift_id
                  and s in shift_staff]
        routes[a.shift_id].stops.append(Stop(a, visit, patient, others,
                                             is_fixed(visit, first_start[a.visit_id], now)))
    for entry in (plan.breaks if plan else ()):
        if entry["shift_id"] in routes:
            routes[entry["shift_id"]].breaks.append(
                {"start": datetime.fromisoformat(entry["start"]), "minutes": entry["minutes"],
                 "position": entry["position"]})
    unplanned = []
    for u in (plan.unplanned if plan else ()):
        key = uuid.UUID(u["visit_id"])
        if key in visits and visits[key][0].status != VisitStatus.CANCELLED:
            locked = [shift_staff.get(int(s)) for s in (u.get("locked") or {}).values()]
            unplanned.append(LeftOut(*visits[key], u["reason"], u.get("detail", ""),
                                     locked[0] if locked else None))
    known = set(on_visit) | {u.visit.id for u in unplanned}
    known |= {uuid.UUID(u["visit_id"]) for u in (plan.unplanned if plan else ())}
    waiting = [(v, p) for v, p in visits.values()
               if v.id not in known and v.status != VisitStatus.CANCELLED]
    routes_list = list(routes.values())
    return DayPlan(unit_id, day, plan, routes_list, unplanned, waiting,
                   changes(db, previous, assignments, visits, shift_staff) if previous else [],
                   back_to_back(routes_list))


# Two assessments of one patient, the second starting within this long after the first ends,
# are "back to back": one visit may do (or the second should wait until the first's result).
BACK_TO_BACK = timedelta(hours=2)


def back_to_back(routes: list[Route]) -> list[BackToBack]:
    """Pairs of assessments of one patient planned close together (the planner warns: an
    urgent assessment added beside one already planned is often one visit too many)."""
    by_patient: dict[uuid.UUID, list[Stop]] = defaultdict(list)
    for route in routes:
        for stop in route.stops:
            if (stop.visit.kind == "assessment" and stop.assignment.part == 0
                    and stop.patient.id is not None
                    and stop.visit.status not in (VisitStatus.CANCELLED, VisitStatus.NOT_DONE)):
                by_patient[stop.patient.id].append(stop)
    out = []
    for stops in by_patient.values():
        stops.sort(key=lambda s: s.assignment.planned_start)
        for first, second in zip(stops, stops[1:], strict=False):
            if second.assignment.planned_start - first.assignment.planned_end <= BACK_TO_BACK:
                out.append(BackToBack(first.patient, first, second))
    return out


def changes(db: Session, before: VisitPlan, after: list[VisitAssignment], visits: dict,
            shift_staff: dict) -> list[Change]:
    """What the plan with the assignments `after` did differently from `before`, visit by
    visit (the first part of each)."""
    old = {a.visit_id: a for a in plan_rows(db, before) if a.part == 0}
    new = {a.visit_id: a for a in after if a.part == 0}
    old_visits = set(old) | {uuid.UUID(u["visit_id"]) for u in before.unplanned}
    out = []
    for visit_id in sorted(set(old) | set(new), key=lambda i: visits[i][0].earliest
                           if i in visits else datetime.max):
        if visit_id not in visits:
            continue
        visit, patient = visits[visit_id]
        a, b = old.get(visit_id), new.get(visit_id)
        was = (shift_staff.get(a.shift_id), a.planned_start) if a else (None, None)
        now_ = (shift_staff.get(b.shift_id), b.planned_start) if b else (None, None)
        if a is None and b is not None:
            kind = "planned" if visit_id in old_visits else "added"
        elif b is None:
            kind = "unplanned"
        elif a.shift_id != b.shift_id:
            kind = "moved"
        elif abs((a.planned_start - b.planned_start) / MINUTE) >= MOVED_MINUTES:
            kind = "retimed"
        else:
            continue
        out.append(Change(visit, patient, kind, was, now_))
    return out


def my_route(db: Session, subject: Subject, day: date) -> tuple[DayPlan | None, list[Route]]:
    """The staff member's own route(s) of the day, in the newest plan of their unit."""
    units = set(db.scalars(select(StaffShift.unit_id).where(
        StaffShift.staff_id == subject.staff_id, StaffShift.day == day)))
    views = [day_plan(db, unit_id, day, subject=subject) for unit_id in sorted(units)]
    routes = [r for view in views for r in view.routes if r.staff.id == subject.staff_id]
    # The newest plan among them (what `route_version` reports).
    newest = max(views, key=lambda v: v.plan.created_at if v.plan else datetime.min.replace(
        tzinfo=UTC), default=None)
    return newest, routes


def planned_staff(db: Session, visits: list[Visit]) -> dict[uuid.UUID, list[tuple[Staff,
                                                                              datetime]]]:
    """Who comes to each of these visits, and when, by the current plan of its unit's day."""
    out: dict[uuid.UUID, list[tuple[Staff, datetime]]] = defaultdict(list)
    for unit_id, day in {(v.unit_id, v.day) for v in visits}:
        plan = current_plan(db, unit_id, day)
        if plan is None:
            continue
        rows = db.execute(
            select(VisitAssignment, Staff).join(StaffShift,
                                                StaffShift.id == VisitAssignment.shift_id)
            .join(Staff, Staff.id == StaffShift.staff_id)
            .where(VisitAssignment.plan_id == plan.id,
                   VisitAssignment.visit_id.in_([v.id for v in visits]))
            .order_by(VisitAssignment.part))
        for a, staff in rows:
            out[a.visit_id].append((staff, a.planned_start))
    return out


def route_version(db: Session, staff_id: int, day: date) -> str | None:
    """The newest plan of the day of the units the staff member works for (cheap: a route
    page asks every few seconds whether its plan is still the plan)."""
    units = select(StaffShift.unit_id).where(StaffShift.staff_id == staff_id,
                                             StaffShift.day == day).scalar_subquery()
    newest = db.scalar(select(VisitPlan.id).where(VisitPlan.unit_id.in_(units),
                                                  VisitPlan.day == day)
                       .order_by(VisitPlan.created_at.desc(), VisitPlan.version.desc())
                       .limit(1))
    return str(newest) if newest else None
