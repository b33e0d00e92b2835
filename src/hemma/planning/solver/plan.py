"""`solve(problem, seconds=…)`: the day's plan. Packs the problem into arrays, builds a first
plan, improves it by simulated annealing (`engine.anneal`, compiled), and returns a `Plan`
that keeps every hard rule: a visit that cannot be fitted is returned unplanned with the
reason, never dropped silently and never squeezed in late."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from hemma.planning.solver import engine
from hemma.planning.solver.construct import construct
from hemma.planning.solver.model import Problem
from hemma.planning.solver.schedule import BREAK, Schedule, Task, evaluate

NEAR = 12  # nearby parts a move may pair a part with
T0_SHARE = 0.1  # the first temperature, as a share of the plan's cost over sqrt(tasks)
COOLED = 2000  # ... falling to this fraction of it by the end
RESTART = 25  # every this many chunks of moves, go on from the best plan found


@dataclass
class Unplanned:
    visit: str
    reason: str  # "skills", "window", "capacity"
    detail: str = ""


@dataclass
class Plan:
    routes: list[list[Task]]  # per shift, (visit, part) and (BREAK, b) in order
    schedule: Schedule
    unplanned: list[Unplanned] = field(default_factory=list)
    iterations: int = 0

    def staff_per_patient(self, problem: Problem) -> dict[str, int]:
        """How many different staff each patient meets in the plan (continuity)."""
        seen: dict[str, set[str]] = {}
        for k, route in enumerate(self.routes):
            for v, _part in route:
                if v != BREAK:
                    seen.setdefault(problem.visits[v].patient, set()).add(
                        problem.shifts[k].staff)
        return {patient: len(staff) for patient, staff in seen.items()}


class _Packed:
    """The problem as the engine's arrays. Tasks: every visit part, then every break."""

    def __init__(self, problem: Problem):
        visits, shifts = problem.visits, problem.shifts
        tasks: list[tuple[int, int]] = []  # (visit, part) or (BREAK, shift * 1000 + b)
        self.v_tasks = np.full((max(1, len(visits)), 2), -1, dtype=np.int64)
        self.v_nparts = np.zeros(max(1, len(visits)), dtype=np.int64)
        for v, visit in enumerate(visits):
            self.v_nparts[v] = len(visit.parts)
            for p in range(len(visit.parts)):
                self.v_tasks[v, p] = len(tasks)
                tasks.append((v, p))
        self.break_task: dict[tuple[int, int], int] = {}
        for k, shift in enumerate(shifts):
            for b in range(len(shift.breaks)):
                self.break_task[(k, b)] = len(tasks)
                tasks.append((BREAK, k * 1000 + b))
        self.tasks = tasks
        n, m = len(tasks), len(shifts)
        self.t_visit = np.full(n, -1, dtype=np.int64)
        self.t_loc = np.zeros(n, dtype=np.int64)
        self.t_dur = np.zeros(n)
        self.t_early = np.zeros(n)
        self.t_late = np.zeros(n)
        self.t_hard = np.zeros(n, dtype=np.bool_)
        self.t_lcost = np.zeros(n)
        self.t_sync = np.zeros(n, dtype=np.int64)
        self.t_partner = np.full(n, -1, dtype=np.int64)
        self.t_gmin = np.zeros(n)
        self.t_gmax = np.zeros(n)
        self.able = np.zeros((m, n), dtype=np.bool_)
        self.newface = np.zeros((m, n))
        self.fixed = np.zeros(n, dtype=np.bool_)
        w = problem.weights
        for t, (v, p) in enumerate(tasks):
            if v == BREAK:
                k, b = divmod(p, 1000)
                brk = shifts[k].breaks[b]
                self.t_sync[t] = engine.BREAK_TASK
                self.t_dur[t], self.t_early[t], self.t_late[t] = brk.duration, brk.earliest, brk.latest
                self.t_hard[t] = True
                self.able[k, t] = True
                continue
            visit = visits[v]
            self.t_visit[t] = v
            self.t_loc[t] = visit.location
            self.t_dur[t] = visit.parts[p].duration
            self.t_early[t], self.t_late[t] = visit.earliest, visit.latest
            self.t_hard[t] = visit.hard
            self.t_lcost[t] = visit.lateness_cost * w.lateness
            if len(visit.parts) == 2:
                self.t_partner[t] = self.v_tasks[v, 1 - p]
                if visit.sync == "simultaneous":
                    self.t_sync[t] = engine.SIMULTANEOUS
                else:
                    self.t_sync[t] = engine.FIRST if p == 0 else engine.SECOND
                self.t_gmin[t], self.t_gmax[t] = visit.gap
            for k, shift in enumerate(shifts):
                self.able[k, t] = problem.can_do(shift, visit, p)
                if w.new_staff and shift.staff not in problem.met.get(visit.patient, ()):
                    self.newface[k, t] = w.new_staff
                if w.moved and problem.before.get((visit.id, p), shift.id) != shift.id:
                    self.newface[k, t] += w.moved
        self.n_pairs = int(sum(1 for visit in visits if len(visit.parts) == 2))
        self.v_priority = np.array([float(v.priority) for v in visits] or [0.0])
        self.s_start = np.array([float(s.start) for s in shifts])
        self.s_end = np.array([float(s.end) for s in shifts])
        self.s_sloc = np.array([s.start_location for s in shifts], dtype=np.int64)
        self.s_eloc = np.array([s.end_location for s in shifts], dtype=np.int64)
        self.s_prof = np.array([s.profile for s in shifts], dtype=np.int64)
        # Always (profiles, places, places), also for a day with no places at all (no visits,
        # nobody working): an empty day is a normal day.
        n_loc = len(problem.distance)
        self.travel = np.array(problem.travel, dtype=np.float64).reshape(
            max(1, len(problem.travel)), n_loc, n_loc)
        self.dist = np.array(problem.distance, dtype=np.float64).reshape(n_loc, n_loc)
        self.w = np.array([w.distance, 1.0, w.max_lateness, 0.0])
        # Each visit part's nearest other parts (by distance, then by time), for the moves.
        self.near = np.full((max(1, n), NEAR), -1, dtype=np.int64)
        real = [t for t in range(n) if self.t_visit[t] >= 0]
        if len(real) > 1:
            locs = self.t_loc[real]
            for i, t in enumerate(real):
                d = self.dist[self.t_loc[t], locs] + 0.1 * np.abs(self.t_early[real] - self.t_early[t])
                d[i] = np.inf
                partner = self.t_partner[t]
                if partner >= 0:
                    d[real.index(partner)] = np.inf
                order = np.argsort(d, kind="stable")[:NEAR]
                chosen = [real[j] for j in order if np.isfinite(d[j])]
                self.near[t, :len(chosen)] = chosen
                if len(chosen) < NEAR and chosen:
                    self.near[t, len(chosen):] = chosen[0]

    def arrays(self, routes: list[list[Task]]):
        m, n = len(routes), len(self.tasks)
        r = np.full((m, n + 1), -1, dtype=np.int64)
        length = np.zeros(m, dtype=np.int64)
        route_of = np.full(n, -1, dtype=np.int64)
        for k, route in enumerate(routes):
            for i, (v, p) in enumerate(route):
                t = self.break_task[(k, p)] if v == BREAK else int(self.v_tasks[v, p])
                r[k, i] = t
                route_of[t] = k
            length[k] = len(route)
        return r, length, route_of

    def lists(self, r, length) -> list[list[Task]]:
        out = []
        for k in range(len(length)):
            route = []
            for i in range(length[k]):
                v, p = self.tasks[r[k, i]]
                route.append((BREAK, p % 1000) if v == BREAK else (v, p))
            out.append(route)
        return out


def _first(problem: Problem, packed: _Packed, initial: list[list[Task]] | None):
    routes = initial if initial is not None else construct(problem)
    # Breaks the first plan did not place go at the start of their shift's route.
    routes = [list(r) for r in routes]
    for k, shift in enumerate(problem.shifts):
        have = {p for v, p in routes[k] if v == BREAK}
        for b in range(len(shift.breaks)):
            if b not in have:
                routes[k].insert(0, (BREAK, b))
    return routes


def solve(problem: Problem, *, seconds: float | None = None, iterations: int | None = None,
          seed: int = 1, initial: list[list[Task]] | None = None,
          fixed: set[tuple[int, int]] = frozenset()) -> Plan:
    """The best plan found in `seconds` (or after `iterations` moves: the same on any
    machine). `initial` starts from a given plan (re-planning); `fixed` (visit, part) tasks
    stay where they are in it (started or done visits, a planner's lock)."""
    packed = _Packed(problem)
    routes = _first(problem, packed, initial)
    unplanned = _unplannable(problem)
    r, length, route_of = packed.arrays(routes)
    for v, p in fixed:
        packed.fixed[packed.v_tasks[v, p]] = True
    planned = {v for route in routes for v, _p in route if v != BREAK}
    out = np.array([v for v in range(len(problem.visits)) if v not in planned]
                   + [0] * (len(problem.visits) + 1), dtype=np.int64)
    n_out = np.array([len(problem.visits) - len(planned)], dtype=np.int64)
    best_r, best_len, best_out = r.copy(), length.copy(), out.copy()
    best_n_out = n_out.copy()
    args = (packed.v_tasks, packed.v_nparts, packed.able, packed.fixed, packed.t_visit,
            packed.t_loc, packed.t_dur, packed.t_early, packed.t_late, packed.t_hard,
            packed.t_lcost, packed.t_sync, packed.t_partner, packed.t_gmin, packed.t_gmax,
            packed.v_priority, packed.newface, packed.s_start, packed.s_end, packed.s_sloc,
            packed.s_eloc, packed.s_prof, packed.travel, packed.dist, packed.w,
            packed.n_pairs)
    starts = np.empty(len(packed.tasks))
    ends = np.empty(len(problem.shifts))
    lower = np.empty(len(packed.tasks))
    best_cost = np.array([engine.cost_of(
        r, length, out, n_out[0], *args[4:15], packed.v_priority, packed.newface,
        *args[17:25], starts, ends, lower, packed.n_pairs)])
    done = 0
    if len(packed.tasks) and problem.shifts and (seconds or iterations):
        chunk = 20_000
        # Temperature: from a fraction of the plan's cost per task down to almost nothing.
        base = best_cost[0] - engine.UNPLANNED * float(
            sum(packed.v_priority[out[i]] for i in range(n_out[0])))
        t0 = max(0.5, T0_SHARE * abs(base) / max(1, len(packed.tasks)) ** 0.5)
        t_end = t0 / COOLED
        start = time.monotonic()
        total = iterations if iterations is not None else math.inf
        k = 0
        while done < total:
            if iterations is None:
                elapsed = time.monotonic() - start
                if elapsed >= seconds:
                    break
                fraction = elapsed / seconds
            else:
                fraction = done / iterations
            n = int(min(chunk, total - done))
            temperature = t0 * (t_end / t0) ** fraction
            engine.anneal(r, length, route_of, out, n_out, *args[:25], packed.n_pairs,
                          packed.near, n,
                          temperature, 1.0, seed * 7919 + k, best_r, best_len, best_out,
                          best_n_out, best_cost)
            done += n
            k += 1
            # Now and then go on from the best plan found, not from where the walk went.
            if k % RESTART == 0:
                r[:, :], length[:] = best_r, best_len
                out[:], n_out[:] = best_out, best_n_out
                route_of[:] = -1
                for kk in range(len(length)):
                    route_of[r[kk, :length[kk]]] = kk
    routes = packed.lists(best_r, best_len)
    routes, dropped = _repair(problem, routes, fixed)
    unplanned += dropped
    schedule = evaluate(problem, routes)
    planned = {v for route in routes for v, _p in route if v != BREAK}
    known = {u.visit for u in unplanned}
    for v in range(len(problem.visits)):
        if v not in planned and problem.visits[v].id not in known:
            unplanned.append(Unplanned(problem.visits[v].id, "capacity",
                                       "does not fit with the other visits of the day"))
    return Plan(routes, schedule, unplanned, done)


def _unplannable(problem: Problem) -> list[Unplanned]:
    """Visits nobody on duty has the skills for: say so, before searching."""
    if not problem.shifts:
        return [Unplanned(v.id, "capacity", "nobody is on duty") for v in problem.visits]
    out = []
    for visit in problem.visits:
        for p in range(len(visit.parts)):
            if not any(problem.can_do(s, visit, p) for s in problem.shifts):
                out.append(Unplanned(visit.id, "skills",
                                     "nobody on duty has " + ", ".join(sorted(visit.parts[p].skills))))
                break
    return out


def _repair(problem: Problem, routes,
            fixed: set[tuple[int, int]] | frozenset = frozenset()
            ) -> tuple[list[list[Task]], list[Unplanned]]:
    """Take out, one by one, the visits that still break a hard rule, until the plan keeps
    every rule it can. A visit that starts after its hard window goes first (the latest
    first); then, for a shift that runs over its end or misses a break, the visit of that
    shift's own route whose removal helps it most (the latest among equals). A fixed visit
    (started, done, its time passed) is never taken out: the nurse is there. What only
    taking out a fixed visit could mend stays in the plan, counted as a broken rule."""
    dropped = []
    fixed_visits = {v for v, _p in fixed}
    stuck: set[int] = set()  # routes no removal can mend (their trouble is a fixed visit)
    for _ in range(len(problem.visits) + 1):
        s = evaluate(problem, routes)
        if s.feasible:
            break
        late = [(s.starts[t] - problem.visits[t[0]].latest, t[0]) for t in s.starts
                if problem.visits[t[0]].hard and t[0] not in fixed_visits
                and s.starts[t] > problem.visits[t[0]].latest + 1e-9]
        if late:
            minutes, v = max(late)
            reason = ("window", f"would start {minutes:.0f} min after its window")
        else:
            v = _relief(problem, routes, s, fixed_visits, stuck)
            if v is None:
                break
            reason = ("capacity", "does not fit in the shifts")
        routes = [[t for t in route if t[0] != v] for route in routes]
        dropped.append(Unplanned(problem.visits[v].id, *reason))
    return routes, dropped


def _overrun(problem: Problem, routes, s: Schedule, k: int) -> float:
    """How far route k breaks its shift's rules: minutes past the shift's end, breaks
    started after their latest start, and a break missing counts as a whole shift over."""
    shift = problem.shifts[k]
    total = max(0.0, s.route_end[k] - shift.end)
    for b, start in s.break_starts[k].items():
        total += max(0.0, start - shift.breaks[b].latest)
    if any(v != BREAK for v, _p in routes[k]):
        missing = len(set(range(len(shift.breaks))) - set(s.break_starts[k]))
        total += missing * (shift.end - shift.start + 1)
    return total


def _relief(problem: Problem, routes, s: Schedule, fixed_visits: set[int],
            stuck: set[int]) -> int | None:
    """The visit to take out of a route in trouble: of the first route that runs over (or
    misses a break) and that a removal can mend, the visit whose removal mends it most. With
    no route in trouble the trouble is between routes (two-staff visits waiting on each
    other in a circle): the last two-staff visit not fixed."""
    troubled = [k for k in range(len(routes))
                if k not in stuck and _overrun(problem, routes, s, k) > 1e-9]
    for k in troubled:
        now = _overrun(problem, routes, s, k)
        best = None
        for i, (v, _p) in enumerate(routes[k]):
            if v == BREAK or v in fixed_visits:
                continue
            trial = [[t for t in route if t[0] != v] for route in routes]
            after = _overrun(problem, trial, evaluate(problem, trial), k)
            if after < now - 1e-9 and (best is None or (after, -i) <= best[0]):
                best = ((after, -i), v)
        if best is not None:
            return best[1]
        stuck.add(k)  # only a fixed visit is in the way: nothing to take out here
    if any("circle" in v or "two staff is missing" in v or "both parts" in v
           for v in s.violations):
        pairs = [v for route in routes for v, _p in reversed(route)
                 if v != BREAK and v not in fixed_visits and len(problem.visits[v].parts) == 2]
        return pairs[0] if pairs else None
    return None
