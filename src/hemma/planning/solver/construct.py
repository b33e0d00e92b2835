"""A first plan, built visit by visit in the order their windows open: each goes to the end of
the route of the staff member (or the two) who can start it earliest, ties broken by the
shorter drive. Quick and always complete; the search improves it."""

from __future__ import annotations

from hemma.planning.solver.model import Problem
from hemma.planning.solver.schedule import BREAK, Task, evaluate


def construct(problem: Problem) -> list[list[Task]]:
    shifts = problem.shifts
    routes: list[list[Task]] = [[] for _ in shifts]
    free = [float(s.start) for s in shifts]
    here = [s.start_location for s in shifts]

    def arrival(k: int, location: int) -> float:
        return free[k] + problem.travel[shifts[k].profile][here[k]][location]

    order = sorted(range(len(problem.visits)),
                   key=lambda v: (problem.visits[v].earliest, problem.visits[v].latest))
    for v in order:
        visit = problem.visits[v]
        able = [[k for k, shift in enumerate(shifts) if problem.can_do(shift, visit, p)]
                for p in range(len(visit.parts))]
        if not all(able):
            continue  # nobody has the skills: left unplanned, with the reason, by the caller
        if len(visit.parts) == 1:
            k = min(able[0], key=lambda k: (max(arrival(k, visit.location), visit.earliest),
                                            problem.travel[shifts[k].profile][here[k]][
                                                visit.location]))
            start = max(arrival(k, visit.location), visit.earliest)
            routes[k].append((v, 0))
            free[k], here[k] = start + visit.parts[0].duration, visit.location
            continue
        best = None
        for a in able[0]:
            for b in able[1]:
                if a == b:
                    continue
                sa = max(arrival(a, visit.location), visit.earliest)
                sb = max(arrival(b, visit.location), visit.earliest)
                if visit.sync == "simultaneous":
                    sa = sb = max(sa, sb)
                else:
                    sb = max(sb, sa + visit.gap[0])
                    sa = max(sa, sb - visit.gap[1])
                key = (max(sa, sb), free[a] + free[b])
                if best is None or key < best[0]:
                    best = (key, a, b, sa, sb)
        if best is None:
            continue
        _key, a, b, sa, sb = best
        routes[a].append((v, 0))
        routes[b].append((v, 1))
        free[a], here[a] = sa + visit.parts[0].duration, visit.location
        free[b], here[b] = sb + visit.parts[1].duration, visit.location
    return place_breaks(problem, routes)


def place_breaks(problem: Problem, routes: list[list[Task]]) -> list[list[Task]]:
    """Each break before the first visit that would start after the break may begin (a nurse
    eats between visits, where she is)."""
    starts = evaluate(problem, routes).starts
    out = []
    for shift, route in zip(problem.shifts, routes, strict=True):
        route = [t for t in route if t[0] != BREAK]
        for b, brk in sorted(enumerate(shift.breaks), key=lambda x: x[1].earliest,
                             reverse=True):
            at = next((i for i, t in enumerate(route) if starts.get(t, 0.0) >= brk.earliest),
                      len(route))
            route.insert(at, (BREAK, b))
        out.append(route)
    return out
