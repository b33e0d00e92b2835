"""Improving a plan: large neighbourhood search. Take a few visits out (at random, or those
near a random one), put each back where it costs least, keep the result if the plan got
cheaper, or, now and then, slightly dearer (simulated annealing, so the search can leave a
local optimum). Every candidate is scored by `schedule.evaluate`, the same function that
reports the plan, so the search optimises exactly what the plan says it costs.

This is the plain first version: each candidate is evaluated in full. It is fast enough for a
day of one home-care unit (tens of visits) and slow on the literature's 200-300 patient
instances; an incremental evaluation is the next step."""

from __future__ import annotations

import math
import random
import time

from hemma.planning.solver.construct import place_breaks
from hemma.planning.solver.model import Problem
from hemma.planning.solver.schedule import BREAK, Task, evaluate

INFEASIBLE = 1e7  # per violated hard rule, while searching


def score(problem: Problem, routes: list[list[Task]]) -> float:
    s = evaluate(problem, routes)
    return s.cost + INFEASIBLE * len(s.violations)


def _without(routes, visits: set[int]) -> list[list[Task]]:
    return [[t for t in route if t[0] == BREAK or t[0] not in visits] for route in routes]


def _positions(route: list[Task]) -> range:
    return range(len(route) + 1)


def _insert(problem: Problem, routes: list[list[Task]], v: int) -> list[list[Task]]:
    """`routes` with visit v where it costs least (unchanged if it fits nowhere)."""
    visit = problem.visits[v]
    able = [[k for k, shift in enumerate(problem.shifts) if problem.can_do(shift, visit, p)]
            for p in range(len(visit.parts))]
    best, best_cost = routes, score(problem, routes)
    if len(visit.parts) == 1:
        for k in able[0]:
            for i in _positions(routes[k]):
                trial = [list(r) for r in routes]
                trial[k].insert(i, (v, 0))
                c = score(problem, trial)
                if c < best_cost:
                    best, best_cost = trial, c
        return best
    # Two staff: each part's best place on its own route first (ignoring the other), then
    # every pair of routes with those places, scored together.
    single: list[dict[int, int]] = []
    for p in (0, 1):
        places = {}
        for k in able[p]:
            places[k] = min(_positions(routes[k]), key=lambda i, k=k, p=p: _travel_in(
                problem, routes[k], i, visit.location, k))
        single.append(places)
    for a, i in single[0].items():
        for b, j in single[1].items():
            if a == b:
                continue
            trial = [list(r) for r in routes]
            trial[a].insert(i, (v, 0))
            trial[b].insert(j, (v, 1))
            c = score(problem, trial)
            if c < best_cost:
                best, best_cost = trial, c
    return best


def _travel_in(problem: Problem, route: list[Task], i: int, location: int, k: int) -> float:
    """The extra drive of putting `location` at position i of shift k's route."""
    shift = problem.shifts[k]
    stops = [shift.start_location] + [problem.visits[t[0]].location for t in route
                                      if t[0] != BREAK] + [shift.end_location]
    real = sum(1 for t in route[:i] if t[0] != BREAK)
    before, after = stops[real], stops[real + 1]
    d = problem.distance
    return d[before][location] + d[location][after] - d[before][after]


def improve(problem: Problem, routes: list[list[Task]], *, seconds: float | None = None,
            iterations: int | None = None, seed: int = 1) -> list[list[Task]]:
    rng = random.Random(seed)
    deadline = time.monotonic() + (seconds if seconds is not None else math.inf)
    current = best = routes
    current_cost = best_cost = score(problem, routes)
    temperature = max(1.0, 0.01 * current_cost / max(1, len(problem.visits)))
    n = len(problem.visits)
    it = 0
    while n and time.monotonic() < deadline and (iterations is None or it < iterations):
        it += 1
        size = rng.randint(1, max(1, min(8, n // 4 or 1)))
        seed_visit = rng.randrange(n)
        if rng.random() < 0.5:
            loc = problem.visits[seed_visit].location
            near = sorted(range(n), key=lambda v: problem.distance[loc][problem.visits[v].location])
            removed = near[:size]
        else:
            removed = rng.sample(range(n), size)
        trial = _without(current, set(removed))
        rng.shuffle(removed)
        for v in sorted(removed, key=lambda v: problem.visits[v].latest - problem.visits[v].earliest):
            trial = _insert(problem, trial, v)
        trial = place_breaks(problem, trial)
        cost = score(problem, trial)
        if cost < current_cost or rng.random() < math.exp((current_cost - cost) / temperature):
            current, current_cost = trial, cost
            if cost < best_cost:
                best, best_cost = trial, cost
        temperature *= 0.999
    return best
