"""A unit's day of home visits: from the database to the solver and back.

`plan_day` reads the unit's visits and staff shifts of one day, turns them into the solver's
plain `Problem` (minutes from local midnight, places as indices into travel matrices), solves,
and saves the result as a new `VisitPlan` (the newest plan of a unit's day is the plan; the
older ones are its history). Every change to the day goes through it:

- re-planning starts from the current plan, so a small change moves little;
- a visit that is started, done or not done, or whose planned start has passed, stays where
  it is (`fixed`): the nurse is there or has been there;
- a visit a planner locked stays with its staff member (`pinned`), wherever in the route;
- nothing is planned to start before `now`, and a hard window that has passed is reported,
  not squeezed in late;
- a visit that does not fit comes back unplanned with its reason.

`changes` compares a plan with the one before it: what the last re-plan moved."""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

from sqlalchemy import select
from sqlalchemy.orm import Session

from hemma.access.policy import Action, Subject
from hemma.access.service import decisions_for, log_listed, require
from hemma.kit.errors import Conflict, Invalid, NotFound
from hemma.kit.time import at_local, utcnow
from hemma.models import (
    REPORTED_STATES,
    Patient,
    Staff,
    StaffShift,
    Unit,
    Visit,
    VisitAssignment,
    VisitPlan,
    VisitStatus,
)
from hemma.planning import travel
from hemma.planning.solver import model as m
from hemma.planning.solver.plan import solve
from hemma.planning.solver.schedule import BREAK

log = logging.getLogger("hemma.planning")
MINUTE = timedelta(minutes=1)
# What a plan costs, in "km": a minute late on a soft window costs like 2 km of driving, a
# patient meeting someone they have not met in two weeks like 10 km.
WEIGHTS = m.Weights(distance=1.0, lateness=2.0, new_staff=10.0)
CONTINUITY_DAYS = 14
# Re-planning: giving a visit to another staff member than in the current plan costs like
# 20 km of driving (they have read their routes; an urgent visit should not reshuffle the
# day), so visits move only where that buys a real gain.
MOVED = 20.0
# A visit that is happening or has happened stays at its place in the route and its time.
# Its window is soft, so that a travel estimate saying it could not have started then breaks
# nothing; being late on it costs much, so that nothing is put in front of it.
FIXED_LATENESS = 100.0
MOVED_MINUTES = 10  # a start moved by less than this is not reported as moved


@dataclass(frozen=True)
class Budget:
    """How long the planner searches: seconds, or a number of moves (the same anywhere)."""

    seconds: float | None = None
    iterations: int | None = None

    @classmethod
    def of(cls, settings, *, replan: bool) -> Budget:
        if settings.planning_iterations:
            return cls(iterations=settings.planning_iterations)
        return cls(seconds=settings.replan_seconds if replan else settings.planning_seconds)


@lru_cache
def travel_source(osrm_url: str | None) -> travel.Cached:
    """One cached travel source per process (a day's matrices are asked for again and again)."""
    return travel.source_for(osrm_url)


def _minutes(at: datetime, base: datetime) -> float:
    return (at - base) / MINUTE


def is_fixed(visit: Visit, planned_start: datetime | None, now: datetime) -> bool:
    """A visit stays where it is in a re-plan, and cannot be moved by hand, once it is
    reported, or once its planned start has passed: the nurse is there or on her way."""
    return visit.status in REPORTED_STATES or (planned_start is not None
                                              and planned_start <= now)


@dataclass
class _Day:
    """One unit's day as the solver sees it, and the way back to rows."""

    problem: m.Problem
    visits: list[Visit]  # aligned with problem.visits
    shifts: list[StaffShift]  # aligned with problem.shifts
    base: datetime  # local midnight, in UTC
    fixed: set[tuple[int, int]]
    locked: set[tuple[int, int]]
    initial: list[list[tuple[int, int]]] | None
    unplanned: list[dict]  # known before solving: no address, the time has passed
    source: str
    break_index: list[list[int]]  # per shift: the solver's break b is the shift's break [b]


def _load(db: Session, unit_id: int, day: date, now: datetime, previous: VisitPlan | None,
          move: tuple[uuid.UUID, int, int] | None, osrm_url: str | None) -> _Day:
    base = at_local(day, "00:00")
    now_min = _minutes(now, base)
    shifts = list(db.scalars(select(StaffShift).where(
        StaffShift.unit_id == unit_id, StaffShift.day == day)
        .order_by(StaffShift.starts_at, StaffShift.staff_id)))
    staff = {s.id: s for s in db.scalars(select(Staff).where(
        Staff.id.in_([sh.staff_id for sh in shifts])))}
    rows = db.execute(select(Visit, Patient).join(Patient, Patient.id == Visit.patient_id)
                      .where(Visit.unit_id == unit_id, Visit.day == day,
                             Visit.status != VisitStatus.CANCELLED)
                      # The same day gives the same plan: no random ids in the order.
                      .order_by(Visit.earliest, Visit.latest, Patient.personnummer,
                                Visit.kind, Visit.id)).all()
    before: dict[tuple[uuid.UUID, int], VisitAssignment] = {}
    if previous is not None:
        for a in db.scalars(select(VisitAssignment).where(VisitAssignment.plan_id == previous.id)):
            before[(a.visit_id, a.part)] = a
    shift_index = {sh.id: k for k, sh in enumerate(shifts)}

    points: list[travel.Point] = []
    place: dict[tuple[float, float], int] = {}

    def loc(lat: float, lon: float) -> int:
        key = (round(lat, 6), round(lon, 6))
        if key not in place:
            place[key] = len(points)
            points.append(key)
        return place[key]

    unplanned: list[dict] = []
    visits: list[Visit] = []
    solver_visits: list[m.Visit] = []
    fixed: set[tuple[int, int]] = set()
    locked: set[tuple[int, int]] = set()
    busy_shifts: set[int] = set()
    keep: set[int] = set()  # visits that start where the current plan has them
    for visit, patient in rows:
        parts = visit.staff_count
        prior = [before.get((visit.id, p)) for p in range(parts)]
        placed = all(a is not None and a.shift_id in shift_index for a in prior)
        if visit.status in REPORTED_STATES and not placed:
            continue  # done outside the plan: nothing left to plan
        if patient.latitude is None or patient.longitude is None:
            unplanned.append({"visit_id": str(visit.id), "reason": "address",
                              "detail": "the address has no coordinates"})
            continue
        earliest, latest = _minutes(visit.earliest, base), _minutes(visit.latest, base)
        hard, lateness_cost = visit.hard, 1.0
        pinned: list[str | None] = [None] * parts
        v = len(visits)
        fixed_here = placed and is_fixed(visit, min(a.planned_start for a in prior), now)
        if fixed_here:
            at = visit.started_at if visit.started_at else min(a.planned_start for a in prior)
            earliest = latest = _minutes(at, base)
            hard, lateness_cost = False, FIXED_LATENESS
            for p, a in enumerate(prior):
                pinned[p] = str(a.shift_id)
                fixed.add((v, p))
                busy_shifts.add(a.shift_id)
        else:
            if earliest < now_min:
                earliest = now_min
                if hard and latest < earliest:
                    unplanned.append({"visit_id": str(visit.id), "reason": "window",
                                      "detail": "the time has passed"})
                    continue
            for p, a in enumerate(prior):
                if a is not None and a.locked and a.shift_id in shift_index:
                    pinned[p] = str(a.shift_id)
                    locked.add((v, p))
            if move is not None and move[0] == visit.id:
                pinned[move[1]] = str(move[2])
                locked.add((v, move[1]))
        skills = frozenset(visit.skills or ())
        # The skills asked for are the first staff member's; the second assists.
        solver_parts = tuple(m.Part(visit.duration_minutes, skills if p == 0 else frozenset())
                             for p in range(parts))
        if placed and not (move is not None and move[0] == visit.id):
            keep.add(v)
        visits.append(visit)
        solver_visits.append(m.Visit(
            id=str(visit.id), patient=str(visit.patient_id),
            location=loc(patient.latitude, patient.longitude), earliest=math.ceil(earliest),
            latest=max(math.floor(latest), math.ceil(earliest)) if fixed_here
            else math.floor(latest), parts=solver_parts,
            sync=visit.sync or "none", gap=(visit.gap_min, visit.gap_max), hard=hard,
            lateness_cost=lateness_cost, priority=3 if visit.urgent else visit.priority,
            pinned=tuple(pinned)))

    # Breaks the current plan put before now: over (taken), or under way (kept where it is).
    began = {(e["shift_id"], e.get("index", 0)): datetime.fromisoformat(e["start"])
             for e in (previous.breaks if previous is not None else ())}
    profiles = ["car"] + sorted({sh.profile for sh in shifts} - {"car"})
    solver_shifts = []
    break_index: list[list[int]] = []
    for sh in shifts:
        breaks = []
        break_index.append([])
        for index, b in enumerate(sh.breaks or ()):
            b_early = _minutes(at_local(day, b["earliest"]), base)
            b_late = _minutes(at_local(day, b["latest"]), base)
            began_at = began.get((sh.id, index))
            if began_at is not None and began_at <= now:
                if began_at + int(b["minutes"]) * MINUTE <= now:
                    continue  # taken
                b_early = b_late = _minutes(began_at, base)  # under way: it stays
                breaks.append(m.Break(math.floor(b_early), math.floor(b_late), int(b["minutes"])))
                break_index[-1].append(index)
                busy_shifts.add(sh.id)
                continue
            if b_late < now_min:
                continue  # its time has passed: taken, or not to be planned any more
            breaks.append(m.Break(math.ceil(max(b_early, now_min)), math.floor(b_late),
                                  int(b["minutes"])))
            break_index[-1].append(index)
        start, end = _minutes(sh.starts_at, base), _minutes(sh.ends_at, base)
        if sh.id not in busy_shifts:
            # Not before now, from where the day starts (a shift that is over stays empty).
            start = min(max(start, now_min), end)
        solver_shifts.append(m.Shift(
            id=str(sh.id), staff=str(sh.staff_id), start=math.ceil(start), end=math.floor(end),
            start_location=loc(sh.start_latitude, sh.start_longitude),
            end_location=loc(sh.end_latitude, sh.end_longitude),
            skills=frozenset(staff[sh.staff_id].skills or ()), breaks=tuple(breaks),
            profile=profiles.index(sh.profile)))

    source = travel_source(osrm_url)
    matrices = [source.matrices(points, p) for p in profiles] if points else [([], [])]
    problem = m.Problem(
        visits=tuple(solver_visits), shifts=tuple(solver_shifts),
        travel=tuple(tuple(tuple(row) for row in minutes) for minutes, _km in matrices),
        distance=tuple(tuple(row) for row in matrices[0][1]),
        met=_met(db, unit_id, day, [v.patient_id for v in visits]),
        before={(str(visit_id), part): str(a.shift_id) for (visit_id, part), a in before.items()
                if a.shift_id in shift_index},
        weights=replace(WEIGHTS, moved=MOVED if previous is not None else 0.0))

    initial = None
    if previous is not None:
        initial = _initial(visits, shifts, break_index, before, previous, keep)
    return _Day(problem, visits, shifts, base, fixed, locked, initial, unplanned,
                "osrm" if osrm_url else "crow-flies", break_index)


def _initial(visits, shifts, break_index, before, previous, keep: set[int]):
    """The previous plan's routes, as the starting point: the visits in `keep` (every part
    placed on a shift still there; a visit moved by hand is not kept, to be put where it fits
    best on its new shift), and each shift's breaks where they were."""
    index = {v.id: i for i, v in enumerate(visits)}
    shift_index = {sh.id: k for k, sh in enumerate(shifts)}
    slots: list[list[tuple[int, tuple[int, int]]]] = [[] for _ in shifts]
    for (visit_id, part), a in before.items():
        v = index.get(visit_id)
        if v in keep:
            slots[shift_index[a.shift_id]].append((a.position, (v, part)))
    for entry in previous.breaks or ():
        k = shift_index.get(entry["shift_id"])
        if k is not None and entry.get("index", 0) in break_index[k]:
            slots[k].append((entry["position"], (BREAK, break_index[k].index(entry["index"]))))
    return [[task for _pos, task in sorted(route, key=lambda x: x[0])] for route in slots]


def _met(db: Session, unit_id: int, day: date, patients: list[uuid.UUID]) -> dict:
    """Patient → the staff who made a visit to them in the last two weeks (by the plan of
    the day the visit was done)."""
    if not patients:
        return {}
    since = day - timedelta(days=CONTINUITY_DAYS)
    newest = (select(VisitPlan.id).where(VisitPlan.unit_id == Visit.unit_id,
                                         VisitPlan.day == Visit.day)
              .order_by(VisitPlan.version.desc()).limit(1).correlate(Visit)
              .scalar_subquery())
    rows = db.execute(
        select(Visit.patient_id, StaffShift.staff_id).select_from(Visit)
        .join(VisitAssignment, (VisitAssignment.visit_id == Visit.id)
              & (VisitAssignment.plan_id == newest))
        .join(StaffShift, StaffShift.id == VisitAssignment.shift_id)
        .where(Visit.patient_id.in_(set(patients)), Visit.status == VisitStatus.DONE,
               Visit.day >= since, Visit.day < day)).all()
    met: dict[str, set[str]] = defaultdict(set)
    for patient_id, staff_id in rows:
        met[str(patient_id)].add(str(staff_id))
    return {p: frozenset(s) for p, s in met.items()}


def current_plan(db: Session, unit_id: int, day: date) -> VisitPlan | None:
    q = (select(VisitPlan).where(VisitPlan.unit_id == unit_id, VisitPlan.day == day)
         .order_by(VisitPlan.version.desc()).limit(1))
    return db.scalar(q)


def plan_day(db: Session, staff_id: int | None, unit_id: int, day: date, *, budget: Budget,
             reason: str = "planned", now: datetime | None = None, osrm_url: str | None = None,
             move: tuple[uuid.UUID, int, int] | None = None, seed: int = 1) -> VisitPlan:
    """Plan (or re-plan) the unit's day and save it as the new current plan."""
    now = now or utcnow()
    # One planner at a time per unit: the second waits and starts from the first's plan.
    db.get(Unit, unit_id, with_for_update=True)
    previous = current_plan(db, unit_id, day)
    started = time.perf_counter()
    d = _load(db, unit_id, day, now, previous, move, osrm_url)
    loaded = time.perf_counter()
    result = solve(d.problem, seconds=budget.seconds, iterations=budget.iterations, seed=seed,
                   initial=d.initial, fixed=d.fixed)
    solved = time.perf_counter()
    version = previous.version + 1 if previous else 1
    plan = _save(db, d, result, staff_id, unit_id, day, reason, version)
    # A new dict: the JSON column notices assignment, not changes inside it.
    plan.figures = {**plan.figures, "load_seconds": round(loaded - started, 3),
                    "solve_seconds": round(solved - loaded, 3), "iterations": result.iterations}
    return plan


def _save(db: Session, d: _Day, result, staff_id, unit_id, day, reason, version) -> VisitPlan:
    problem, schedule = d.problem, result.schedule
    plan = VisitPlan(id=uuid.uuid4(), unit_id=unit_id, day=day, version=version,
                     created_at=utcnow(),
                     created_by_id=staff_id, reason=reason, figures={}, unplanned=[], breaks=[])
    rows = []
    drive = 0.0
    for k, route in enumerate(result.routes):
        sh = problem.shifts[k]
        prev = sh.start_location
        for position, (v, p) in enumerate(route):
            if v == BREAK:
                start = round(schedule.break_starts[k][p])
                plan.breaks.append({"shift_id": d.shifts[k].id, "index": d.break_index[k][p],
                                    "position": position,
                                    "start": (d.base + start * MINUTE).isoformat(),
                                    "minutes": sh.breaks[p].duration})
                continue
            visit = problem.visits[v]
            drive += problem.travel[sh.profile][prev][visit.location]
            prev = visit.location
            start = round(schedule.starts[(v, p)])  # whole minutes, as staff read them
            rows.append(dict(plan_id=plan.id, visit_id=d.visits[v].id, part=p,
                             shift_id=d.shifts[k].id, position=position,
                             planned_start=d.base + start * MINUTE,
                             planned_end=d.base + (start + visit.parts[p].duration) * MINUTE,
                             locked=(v, p) in d.locked))
        if route:
            drive += problem.travel[sh.profile][prev][sh.end_location]
    by_id = {str(v.id): v for v in d.visits}
    plan.unplanned = d.unplanned + [
        {"visit_id": u.visit, "reason": u.reason, "detail": u.detail}
        for u in result.unplanned if u.visit in by_id]
    late = sum(minutes for (v, _p), minutes in schedule.lateness.items()
               if (v, _p) not in d.fixed)
    staff_per_patient = result.staff_per_patient(problem)
    plan.figures = {
        "visits": len(d.visits) + len(d.unplanned),
        "planned": len({r["visit_id"] for r in rows}),
        "unplanned": len(plan.unplanned),
        "km": round(schedule.distance, 1),
        "drive_minutes": round(drive),
        "late_minutes": round(late),
        "new_faces": schedule.new_staff,
        "max_staff_per_patient": max(staff_per_patient.values(), default=0),
        "mean_staff_per_patient": round(sum(staff_per_patient.values())
                                        / max(1, len(staff_per_patient)), 2),
        "travel": d.source,
        # The solver keeps every hard rule it can; a rule it could not keep (a break whose
        # window passed in a day that did not go as planned) is said, not hidden.
        "violations": len(schedule.violations),
    }
    if schedule.violations:
        log.warning("plan of unit %s on %s breaks %s", unit_id, day, schedule.violations[:5])
    db.add(plan)
    db.flush()
    if rows:
        db.execute(VisitAssignment.__table__.insert(), rows)
    return plan


# --- Reading a plan ---------------------------------------------------------------------------


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


@dataclass
class DayPlan:
    unit_id: int
    day: date
    plan: VisitPlan | None
    routes: list[Route]
    unplanned: list[tuple[Visit, Patient, str, str]]
    waiting: list[tuple[Visit, Patient]]  # visits not in any plan yet
    changes: list[Change]


def _assignments(db: Session, plan: VisitPlan | None,
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
    visit is shown as a visit, not as a person or a place."""

    id: uuid.UUID
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
        decisions = decisions_for(db, subject, {p.id for _v, p in rows})
        log_listed(db, decisions, "visitplan.read")
        rows = [(v, p if decisions[p.id] else Hidden(p.id)) for v, p in rows]
    visits = {v.id: (v, p) for v, p in rows}
    assignments = _assignments(db, plan)
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
        if key in visits:
            unplanned.append((*visits[key], u["reason"], u.get("detail", "")))
    known = set(on_visit) | {u[0].id for u in unplanned}
    waiting = [(v, p) for v, p in visits.values()
               if v.id not in known and v.status != VisitStatus.CANCELLED]
    return DayPlan(unit_id, day, plan, list(routes.values()), unplanned, waiting,
                   changes(db, previous, assignments, visits, shift_staff) if previous else [])


def changes(db: Session, before: VisitPlan, after: list[VisitAssignment], visits: dict,
            shift_staff: dict) -> list[Change]:
    """What the plan with the assignments `after` did differently from `before`, visit by
    visit (the first part of each)."""
    old = {a.visit_id: a for a in _assignments(db, before) if a.part == 0}
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


# --- Changing the day ----------------------------------------------------------------------


def visit_of_unit(db: Session, unit_id: int, visit_id: uuid.UUID) -> Visit:
    visit = db.get(Visit, visit_id)
    if visit is None or visit.unit_id != unit_id:
        raise NotFound()
    return visit


def _planned_visit(db: Session, subject: Subject, visit_id: uuid.UUID) -> Visit:
    """A visit of the planner's unit, to change by hand: planning it is an action on the
    patient (checked and logged like any other)."""
    visit = visit_of_unit(db, subject.unit_id, visit_id)
    require(db, subject, Action.VISIT_PLAN, visit.patient_id)
    return visit


def move_visit(db: Session, subject: Subject, visit_id: uuid.UUID, part: int, shift_id: int,
               *, budget: Budget, now: datetime | None = None,
               osrm_url: str | None = None) -> VisitPlan:
    """A planner gives a visit to another staff member by hand: it is locked to them, and the
    rest of the day is re-planned around it."""
    now = now or utcnow()
    unit_id = subject.unit_id
    visit = _planned_visit(db, subject, visit_id)
    if not 0 <= part < visit.staff_count:
        raise Invalid("Unknown part of the visit", field="part")
    shift = db.get(StaffShift, shift_id)
    if shift is None or shift.unit_id != unit_id or shift.day != visit.day:
        raise Invalid("Choose a staff member working that day", field="shift_id")
    planned = _assignments(db, current_plan(db, unit_id, visit.day), visit.id)
    if is_fixed(visit, min((a.planned_start for a in planned), default=None), now):
        raise Conflict("The visit has already started", field="shift_id")
    staff = db.get(Staff, shift.staff_id)
    if part == 0 and not set(visit.skills or ()) <= set(staff.skills or ()):
        raise Invalid("%(name)s does not have the skills the visit needs", field="shift_id",
                      name=staff.full_name)
    return plan_day(db, subject.staff_id, unit_id, visit.day, budget=budget, reason="moved",
                    now=now, osrm_url=osrm_url, move=(visit.id, part, shift.id))


def set_locked(db: Session, subject: Subject, visit_id: uuid.UUID, locked: bool) -> VisitPlan:
    """Lock a visit to the staff member it is planned with (or unlock it), in the current
    plan: re-planning keeps it with them."""
    visit = _planned_visit(db, subject, visit_id)
    plan = current_plan(db, subject.unit_id, visit.day)
    found = _assignments(db, plan, visit.id)
    if not found:
        raise Conflict("The visit is not in the plan", field="visit_id")
    for a in found:
        a.locked = locked
    return plan
