"""A unit's day of home visits, from the database to the solver and back: no access checks,
no audit, no decisions of its own — the named actions in `planning.service` do those.

`read` turns the unit's visits and staff shifts of one day into the solver's plain `Problem`
(minutes from Swedish midnight, places as indices into travel matrices), with a `stamp` of
everything it read. `solve` asks the travel source and searches, with no database at all, so
it runs outside any transaction. `claim` locks the unit's day and checks the stamp: if the
day changed while the solver thought (another plan saved, a visit reported or cancelled, a
lock set, a shift added), it raises `DayChanged` and the caller reads again. `write` saves the
result as a new `VisitPlan` (the newest plan of a unit's day is the plan; the older ones are
its history). `plan_in` does all four in one transaction, for the demo and the CLI.

The rules every plan keeps:
- re-planning starts from the current plan, so a small change moves little;
- a visit that is started, done or not done, or whose planned start has passed, stays where
  it is (`fixed`): the nurse is there or has been there;
- a visit a planner locked or moved by hand stays with its staff member (`pinned`), wherever
  in the route; its lock holds even through a plan that could not fit it;
- nothing is planned to start before `now`, and a hard window that has passed is reported,
  not squeezed in late;
- a visit that does not fit comes back unplanned with its reason."""

from __future__ import annotations

import hashlib
import logging
import math
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from functools import lru_cache

from sqlalchemy import select
from sqlalchemy.orm import Session

from hemma.coordination import live
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
from hemma.planning.solver import plan as solver
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


class DayChanged(Exception):
    """The day changed between reading it and saving its plan: read it again."""


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


def is_fixed(visit, planned_start: datetime | None, now: datetime) -> bool:
    """A visit stays where it is in a re-plan, and cannot be moved by hand, once it is
    reported, or once its planned start has passed: the nurse is there or on her way."""
    return visit.status in REPORTED_STATES or (planned_start is not None
                                              and planned_start <= now)


def has_position(place) -> bool:
    """Both coordinates, or none: a latitude without its longitude is no place on the map."""
    return place.latitude is not None and place.longitude is not None


@dataclass
class DayInput:
    """One unit's day as the solver sees it, the way back to rows, and what it was read from."""

    unit_id: int
    day: date
    now: datetime
    problem: m.Problem  # without travel times until `solve` asks for them
    visits: list[Visit]  # aligned with problem.visits
    shifts: list[StaffShift]  # aligned with problem.shifts
    base: datetime  # local midnight, in UTC
    fixed: set[tuple[int, int]]
    locked: set[tuple[int, int]]
    initial: list[list[tuple[int, int]]] | None
    unplanned: list[dict]  # known before solving: no address, the time has passed
    break_index: list[list[int]]  # per shift: the solver's break b is the shift's break [b]
    points: list[travel.Point]
    profiles: list[str]
    previous: VisitPlan | None
    stamp: str  # what the day was when read (`claim` compares)


@dataclass
class Solved:
    """The solver's plan for a `DayInput`, and the problem with its travel times."""

    problem: m.Problem
    result: solver.Plan
    source: str  # "osrm" or "crow-flies"
    seconds: float

    def placed(self, d: DayInput, visit_id: uuid.UUID) -> dict[int, int]:
        """Part → the shift id it is planned on, for one visit."""
        out = {}
        for k, route in enumerate(self.result.routes):
            for v, p in route:
                if v != BREAK and d.visits[v].id == visit_id:
                    out[p] = d.shifts[k].id
        return out

    def unplanned_ids(self) -> set[str]:
        return {u.visit for u in self.result.unplanned}


def current_plan(db: Session, unit_id: int, day: date) -> VisitPlan | None:
    q = (select(VisitPlan).where(VisitPlan.unit_id == unit_id, VisitPlan.day == day)
         .order_by(VisitPlan.version.desc()).limit(1))
    return db.scalar(q)


def stamp(db: Session, unit_id: int, day: date) -> str:
    """A digest of everything a plan of the day is made from: the current plan and its locks,
    the day's visits as they stand, their patients' places, the shifts and their staff's
    skills. Two reads give the same stamp exactly when nothing a plan depends on changed."""
    plan = current_plan(db, unit_id, day)
    parts: list = [str(plan.id) if plan else None]
    if plan is not None:
        parts.append(sorted((str(v), p, s) for v, p, s in db.execute(
            select(VisitAssignment.visit_id, VisitAssignment.part, VisitAssignment.shift_id)
            .where(VisitAssignment.plan_id == plan.id, VisitAssignment.locked))))
    parts.append([tuple(str(x) for x in row) for row in db.execute(
        select(Visit.id, Visit.status, Visit.earliest, Visit.latest, Visit.started_at,
               Visit.duration_minutes, Visit.skills, Visit.staff_count, Visit.sync,
               Visit.gap_min, Visit.gap_max, Visit.hard, Visit.priority, Visit.urgent,
               Patient.latitude, Patient.longitude)
        .join(Patient, Patient.id == Visit.patient_id)
        .where(Visit.unit_id == unit_id, Visit.day == day).order_by(Visit.id))])
    parts.append([tuple(str(x) for x in row) for row in db.execute(
        select(StaffShift.id, StaffShift.staff_id, StaffShift.starts_at, StaffShift.ends_at,
               StaffShift.breaks, StaffShift.start_latitude, StaffShift.start_longitude,
               StaffShift.end_latitude, StaffShift.end_longitude, StaffShift.profile,
               Staff.skills)
        .join(Staff, Staff.id == StaffShift.staff_id)
        .where(StaffShift.unit_id == unit_id, StaffShift.day == day).order_by(StaffShift.id))])
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def _locks(previous: VisitPlan | None, before: dict) -> dict[tuple[uuid.UUID, int], int]:
    """(visit, part) → the shift a planner locked it to: in the current plan's rows, or, for a
    locked visit that plan could not fit, in its list of visits left out (so that a lock
    holds until a planner lifts it, even through a day that did not go as planned)."""
    locks = {key: a.shift_id for key, a in before.items() if a.locked}
    for entry in (previous.unplanned if previous is not None else ()) or ():
        for part, shift_id in (entry.get("locked") or {}).items():
            locks.setdefault((uuid.UUID(entry["visit_id"]), int(part)), int(shift_id))
    return locks


def read(db: Session, unit_id: int, day: date, now: datetime, *,
         move: tuple[uuid.UUID, int, int] | None = None,
         new: Sequence[tuple[Visit, Patient]] = ()) -> DayInput:
    """The unit's day as the solver's problem. `move` = (visit, part, shift): a planner gives
    that part to that shift by hand. `new`: visits (with their patients) not in the database
    yet, planned as if they were (an urgent visit being added)."""
    base = at_local(day, "00:00")
    now_min = _minutes(now, base)
    day_stamp = stamp(db, unit_id, day)
    previous = current_plan(db, unit_id, day)
    shifts = list(db.scalars(select(StaffShift).where(
        StaffShift.unit_id == unit_id, StaffShift.day == day)
        .order_by(StaffShift.starts_at, StaffShift.staff_id)))
    staff = {s.id: s for s in db.scalars(select(Staff).where(
        Staff.id.in_([sh.staff_id for sh in shifts])))}
    rows = db.execute(select(Visit, Patient).join(Patient, Patient.id == Visit.patient_id)
                      .where(Visit.unit_id == unit_id, Visit.day == day,
                             Visit.status != VisitStatus.CANCELLED)).all()
    rows = list(rows) + list(new)
    # The same day gives the same plan: no random ids in the order.
    rows.sort(key=lambda r: (r[0].earliest, r[0].latest, r[1].personnummer, r[0].kind,
                             str(r[0].id)))
    before: dict[tuple[uuid.UUID, int], VisitAssignment] = {}
    if previous is not None:
        for a in db.scalars(select(VisitAssignment).where(VisitAssignment.plan_id == previous.id)):
            before[(a.visit_id, a.part)] = a
    locks = _locks(previous, before)
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
        held = {p: locks[(visit.id, p)] for p in range(parts)
                if (visit.id, p) in locks and locks[(visit.id, p)] in shift_index}
        if not has_position(patient):
            unplanned.append({"visit_id": str(visit.id), "reason": "address",
                              "detail": "the address has no coordinates",
                              **({"locked": {str(p): s for p, s in held.items()}}
                                 if held else {})})
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
            for p, shift_id in held.items():
                pinned[p] = str(shift_id)
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

    problem = m.Problem(
        visits=tuple(solver_visits), shifts=tuple(solver_shifts), travel=(), distance=(),
        met=_met(db, unit_id, day, [v.patient_id for v in visits]),
        before={(str(visit_id), part): str(a.shift_id) for (visit_id, part), a in before.items()
                if a.shift_id in shift_index},
        weights=replace(WEIGHTS, moved=MOVED if previous is not None else 0.0))
    initial = None
    if previous is not None:
        initial = _initial(visits, shifts, break_index, before, previous, keep)
    return DayInput(unit_id, day, now, problem, visits, shifts, base, fixed, locked, initial,
                    unplanned, break_index, points, profiles, previous, day_stamp)


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


def solve(d: DayInput, budget: Budget, osrm_url: str | None = None, *, seed: int = 1) -> Solved:
    """The day's plan. Touches no database: run it with no transaction open (the search takes
    seconds, the routing service up to its timeout)."""
    started = time.perf_counter()
    source = travel_source(osrm_url)
    matrices = ([source.matrices(d.points, p) for p in d.profiles] if d.points
                else [([], [])])
    problem = replace(
        d.problem, travel=tuple(tuple(tuple(row) for row in minutes) for minutes, _km in matrices),
        distance=tuple(tuple(row) for row in matrices[0][1]))
    result = solver.solve(problem, seconds=budget.seconds, iterations=budget.iterations,
                          seed=seed, initial=d.initial, fixed=d.fixed)
    return Solved(problem, result, "osrm" if osrm_url else "crow-flies",
                  time.perf_counter() - started)


def claim(db: Session, d: DayInput) -> None:
    """Take the unit's day for writing (one planner at a time: the second waits here), and
    check that it is still the day that was read."""
    db.get(Unit, d.unit_id, with_for_update=True)
    if stamp(db, d.unit_id, d.day) != d.stamp:
        raise DayChanged()


def write(db: Session, d: DayInput, solved: Solved, staff_id: int | None,
          reason: str) -> VisitPlan:
    """Save the solved day as the unit's new current plan (after `claim`)."""
    problem, result = solved.problem, solved.result
    schedule = result.schedule
    version = d.previous.version + 1 if d.previous is not None else 1
    plan = VisitPlan(id=uuid.uuid4(), unit_id=d.unit_id, day=d.day, version=version,
                     created_at=utcnow(), created_by_id=staff_id, reason=reason, figures={},
                     unplanned=[], breaks=[])
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
    index = {str(v.id): i for i, v in enumerate(d.visits)}
    left_out = []
    for u in result.unplanned:
        if u.visit not in index:
            continue
        entry = {"visit_id": u.visit, "reason": u.reason, "detail": u.detail}
        # A locked visit that could not be fitted keeps its lock for the next plan.
        v = index[u.visit]
        held = {str(p): int(problem.visits[v].pinned[p])
                for p in range(len(problem.visits[v].parts)) if (v, p) in d.locked}
        if held:
            entry["locked"] = held
        left_out.append(entry)
    plan.unplanned = d.unplanned + left_out
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
        "travel": solved.source,
        # The solver keeps every hard rule it can; a rule it could not keep (a break whose
        # window passed in a day that did not go as planned) is said, not hidden.
        "violations": len(schedule.violations),
        "solve_seconds": round(solved.seconds, 3),
        "iterations": result.iterations,
    }
    if schedule.violations:
        log.warning("plan of unit %s on %s breaks %s", d.unit_id, d.day, schedule.violations[:5])
    db.add(plan)
    db.flush()
    if rows:
        db.execute(VisitAssignment.__table__.insert(), rows)
    live.announce(db, visits=True)  # new times: the patients' days, the boards
    return plan


def plan_in(db: Session, staff_id: int | None, unit_id: int, day: date, *, budget: Budget,
            reason: str = "planned", now: datetime | None = None, osrm_url: str | None = None,
            move: tuple[uuid.UUID, int, int] | None = None, seed: int = 1) -> VisitPlan:
    """Read, solve and save the day in the caller's one transaction: for the demo and the
    command line, where nobody else waits. Requests plan through `planning.service`, which
    solves with no transaction open."""
    now = now or utcnow()
    db.get(Unit, unit_id, with_for_update=True)
    d = read(db, unit_id, day, now, move=move)
    return write(db, d, solve(d, budget, osrm_url, seed=seed), staff_id, reason)
