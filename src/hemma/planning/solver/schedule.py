"""When everything in a set of routes happens, and what it costs.

A route is the list of tasks of one shift, in order: `(visit, part)` for a staff member's
part of a visit, `(BREAK, b)` for the shift's b-th break (taken where the staff member is).
Each task starts as early as it can: after the previous one plus the drive, not before its
window opens. Double-staffed visits tie two routes together: a simultaneous pair starts at
the later of the two, a sequential second part waits for the first part plus the minimum
gap, and a first part waits when the second cannot make the maximum gap. Those waits can
ripple through both routes and back, so the start times are the least fixed point, found by
repeated passes (Bellman-Ford on the routes' precedence graph); pairs that wait on each other
in a circle never settle, and are reported as a deadlock."""

from __future__ import annotations

from dataclasses import dataclass, field

from hemma.planning.solver.model import Problem

BREAK = -1
Task = tuple[int, int]


@dataclass
class Schedule:
    starts: dict[Task, float]  # (visit, part) → start; breaks are per route
    shift_of: dict[Task, int]  # (visit, part) → shift index
    route_end: list[float]  # back at the end location
    distance: float
    lateness: dict[Task, float]  # minutes after the latest start, per part
    new_staff: int
    unplanned: list[int]  # visits not (fully) in the routes
    violations: list[str] = field(default_factory=list)
    cost: float = 0.0
    break_starts: list[dict[int, float]] = field(default_factory=list)  # per route
    moved: int = 0  # parts on another shift than in the plan re-planned (Problem.before)

    @property
    def feasible(self) -> bool:
        return not self.violations


def evaluate(problem: Problem, routes: list[list[Task]]) -> Schedule:
    visits, shifts, w = problem.visits, problem.shifts, problem.weights
    violations: list[str] = []
    shift_of: dict[Task, int] = {}
    for k, route in enumerate(routes):
        for task in route:
            if task[0] == BREAK:
                continue
            if task in shift_of:
                violations.append(f"{visits[task[0]].id} part {task[1]} planned twice")
            shift_of[task] = k
            if not problem.can_do(shifts[k], visits[task[0]], task[1]):
                violations.append(f"{shifts[k].id} may not do {visits[task[0]].id}")
    pairs = []
    unplanned = []
    for v, visit in enumerate(visits):
        placed = [(v, p) in shift_of for p in range(len(visit.parts))]
        if not all(placed):
            unplanned.append(v)
            if any(placed):
                violations.append(f"{visit.id}: one of its two staff is missing")
        elif len(visit.parts) == 2:
            if shift_of[(v, 0)] == shift_of[(v, 1)]:
                violations.append(f"{visit.id}: both parts on {shifts[shift_of[(v, 0)]].id}")
            pairs.append(v)

    lower: dict[Task, float] = {}
    starts: dict[Task, float] = {}
    for _ in range(len(pairs) + 2):
        ends, distance, break_starts = _forward(problem, routes, lower, starts)
        changed = False
        for v in pairs:
            visit = visits[v]
            a, b = starts[(v, 0)], starts[(v, 1)]
            if visit.sync == "simultaneous":
                need_a = need_b = max(a, b)
            else:  # sequential, the first listed part first
                need_b, need_a = a + visit.gap[0], b - visit.gap[1]
            for task, need, now in (((v, 0), need_a, a), ((v, 1), need_b, b)):
                if need > now + 1e-9:
                    lower[task] = need
                    changed = True
        if not changed:
            break
    else:
        violations.append("double-staffed visits wait on each other in a circle")

    lateness = {}
    new_staff = moved = 0
    for task, start in starts.items():
        visit = visits[task[0]]
        late = max(0.0, start - visit.latest)
        lateness[task] = late
        if late > 1e-9 and visit.hard:
            violations.append(f"{visit.id} starts {late:g} min after its window")
        if shifts[shift_of[task]].staff not in problem.met.get(visit.patient, ()):
            new_staff += 1
        if problem.before.get((visit.id, task[1]), shifts[shift_of[task]].id) \
                != shifts[shift_of[task]].id:
            moved += 1
    for k, (end, shift) in enumerate(zip(ends, shifts, strict=True)):
        if end > shift.end + 1e-9:
            violations.append(f"{shift.id} ends {end - shift.end:g} min late")
        for b, start in break_starts[k].items():
            if start > shift.breaks[b].latest + 1e-9:
                violations.append(f"{shift.id}: break {b} starts too late")
        working = any(task[0] != BREAK for task in routes[k])
        if working and set(break_starts[k]) != set(range(len(shift.breaks))):
            violations.append(f"{shift.id}: a break is missing")
    soft = sum(late * visits[t[0]].lateness_cost for t, late in lateness.items())
    cost = (w.distance * distance + w.lateness * soft
            + w.max_lateness * max(lateness.values(), default=0.0)
            + w.new_staff * new_staff + w.moved * moved
            + w.unplanned * sum(visits[v].priority for v in unplanned))
    return Schedule(starts, shift_of, ends, distance, lateness, new_staff, unplanned,
                    violations, cost, break_starts, moved)


def _forward(problem: Problem, routes, lower, starts):
    """One pass: every route from its shift's start, each task as early as allowed."""
    ends, distance, break_starts = [], 0.0, []
    for k, route in enumerate(routes):
        shift = problem.shifts[k]
        travel = problem.travel[shift.profile]
        t, here = float(shift.start), shift.start_location
        taken = {}
        for task in route:
            if task[0] == BREAK:
                brk = shift.breaks[task[1]]
                taken[task[1]] = t = max(t, brk.earliest)
                t += brk.duration
                continue
            visit = problem.visits[task[0]]
            arrive = t + travel[here][visit.location]
            distance += problem.distance[here][visit.location]
            start = max(arrive, visit.earliest, lower.get(task, 0.0))
            starts[task] = start
            t = start + visit.parts[task[1]].duration
            here = visit.location
        if route:
            distance += problem.distance[here][shift.end_location]
            t += travel[here][shift.end_location]
        ends.append(t if route else float(shift.start))
        break_starts.append(taken)
    return ends, distance, break_starts
