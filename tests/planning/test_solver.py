"""The home-care solver: its compiled schedule agrees with `schedule.evaluate`, every plan it
returns keeps every hard rule (checked by tests/planning/checker.py from the plan's stated
times), it finds the optimum of days small enough to enumerate, says why a visit is left
out, keeps fixed visits where they are, and reaches the best known result of literature
instances it can solve quickly."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest

from hemma.planning.literature import hhcrsp_solution, read_hhcrsp
from hemma.planning.solver import engine
from hemma.planning.solver.model import Break, Part, Problem, Shift, Visit, Weights
from hemma.planning.solver.plan import _Packed, solve
from hemma.planning.solver.schedule import BREAK, evaluate
from tests.planning.benchmarks import MANKOWSKA
from tests.planning.checker import check_hhcrsp, check_plan

SKILLS = ("nurse", "iv", "physio")


def random_day(seed: int, n_visits: int = 12, n_shifts: int = 3) -> Problem:
    """A small random day: places on a 40×40 km square (a minute a km), shifts of 8 hours
    from the office with a lunch break, visits of one or two staff with skills, some with
    hard windows, one pinned."""
    rng = random.Random(seed)
    points = [(20.0, 20.0)] + [(rng.uniform(0, 40), rng.uniform(0, 40))
                               for _ in range(n_visits)]
    matrix = tuple(tuple(round(((ax - bx) ** 2 + (ay - by) ** 2) ** 0.5, 1)
                         for bx, by in points) for ax, ay in points)
    shifts = []
    for k in range(n_shifts):
        skills = {"nurse"} | ({"iv"} if k % 2 == 0 else {"physio"})
        shifts.append(Shift(f"s{k}", f"staff{k}", 0, 480, 0, 0, frozenset(skills),
                            breaks=(Break(180, 270, 30),) if rng.random() < 0.7 else ()))
    visits = []
    for v in range(n_visits):
        early = rng.choice((0, 60, 120, 240, 300))
        width = rng.choice((30, 60, 120, 240))
        two = rng.random() < 0.2
        parts = tuple(Part(rng.choice((10, 20, 30)),
                           frozenset({rng.choice(SKILLS) if rng.random() < 0.5 else "nurse"}))
                      for _ in range(2 if two else 1))
        visits.append(Visit(
            f"v{v}", f"p{v % 8}", v + 1, early, early + width, parts,
            sync=rng.choice(("simultaneous", "sequential")) if two else "none",
            gap=(10, 40), hard=rng.random() < 0.5, lateness_cost=1.0,
            priority=rng.choice((1, 2, 3)),
            pinned=("s0",) if v == 0 and not two and "physio" not in parts[0].skills else ()))
    met = {f"p{i}": frozenset({f"staff{i % n_shifts}"}) for i in range(8)}
    # Every other day is a re-plan: some parts were on some shift in the plan before.
    before = {(visit.id, p): f"s{rng.randrange(n_shifts)}" for visit in visits
              for p in range(len(visit.parts)) if rng.random() < 0.5} if seed % 2 else {}
    return Problem(tuple(visits), tuple(shifts), (matrix,), matrix, met,
                   Weights(distance=1, lateness=2, new_staff=5, moved=7 if before else 0),
                   before)


def random_routes(problem: Problem, rng: random.Random) -> list[list]:
    routes = [[(BREAK, b) for b in range(len(s.breaks))] for s in problem.shifts]
    for v, visit in enumerate(problem.visits):
        used = set()
        for p in range(len(visit.parts)):
            able = [k for k, s in enumerate(problem.shifts)
                    if problem.can_do(s, visit, p) and k not in used]
            if not able:
                break
            k = rng.choice(able)
            used.add(k)
            routes[k].insert(rng.randint(0, len(routes[k])), (v, p))
        else:
            continue
        for route in routes:  # a visit nobody can do fully stays out
            route[:] = [t for t in route if t[0] != v]
    return routes


@pytest.mark.parametrize("seed", range(12))
def test_the_compiled_schedule_is_the_reference_schedule(seed):
    problem = random_day(seed)
    rng = random.Random(seed)
    packed = _Packed(problem)
    for _ in range(10):
        routes = random_routes(problem, rng)
        reference = evaluate(problem, routes)
        r, length, _route_of = packed.arrays(routes)
        starts = np.empty(len(packed.tasks))
        ends = np.empty(len(problem.shifts))
        lower = np.empty(len(packed.tasks))
        out = np.array([v for v in reference.unplanned] + [0], dtype=np.int64)
        cost = engine.cost_of(
            r, length, out, len(reference.unplanned), packed.t_visit, packed.t_loc,
            packed.t_dur, packed.t_early, packed.t_late, packed.t_hard, packed.t_lcost,
            packed.t_sync, packed.t_partner, packed.t_gmin, packed.t_gmax, packed.v_priority,
            packed.newface, packed.s_start, packed.s_end, packed.s_sloc, packed.s_eloc,
            packed.s_prof, packed.travel, packed.dist, packed.w, starts, ends, lower,
            packed.n_pairs)
        if any("circle" in x for x in reference.violations):
            assert cost == engine.INF
            continue
        for (v, p), start in reference.starts.items():
            assert starts[packed.v_tasks[v, p]] == pytest.approx(start)
        expected = reference.cost - problem.weights.unplanned * sum(
            problem.visits[v].priority for v in reference.unplanned) + engine.UNPLANNED * sum(
            problem.visits[v].priority for v in reference.unplanned)
        if reference.feasible:
            assert cost == pytest.approx(expected)
        else:
            assert cost > expected + engine.VIOLATION * 1e-6


@pytest.mark.parametrize("seed", range(20))
def test_every_plan_keeps_every_hard_rule(seed):
    problem = random_day(seed, n_visits=14)
    plan = solve(problem, iterations=30_000, seed=seed)
    assert check_plan(problem, plan) == []
    assert plan.schedule.feasible
    # Nothing silently dropped: planned or unplanned with a reason, never both.
    planned = {problem.visits[v].id for route in plan.routes for v, _p in route if v != BREAK}
    assert planned | {u.visit for u in plan.unplanned} == {v.id for v in problem.visits}


def _brute_force(problem: Problem) -> float:
    """Every assignment of the (one-staff, soft-window) visits to the shifts, in every order."""
    n, m = len(problem.visits), len(problem.shifts)
    best = float("inf")
    for assignment in itertools.product(range(m), repeat=n):
        groups = [[v for v in range(n) if assignment[v] == k] for k in range(m)]
        for orders in itertools.product(*(itertools.permutations(g) for g in groups)):
            s = evaluate(problem, [[(v, 0) for v in order] for order in orders])
            if s.feasible:
                best = min(best, s.cost)
    return best


@pytest.mark.parametrize("seed", range(4))
def test_finds_the_optimum_of_a_day_small_enough_to_enumerate(seed):
    rng = random.Random(seed)
    points = [(0.0, 0.0)] + [(rng.uniform(-20, 20), rng.uniform(-20, 20)) for _ in range(6)]
    matrix = tuple(tuple(round(((a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2) ** 0.5, 1)
                         for b in points) for a in points)
    visits = tuple(Visit(f"v{v}", f"p{v}", v + 1, rng.choice((0, 30, 90)), 120,
                         (Part(15),), hard=False) for v in range(6))
    shifts = tuple(Shift(f"s{k}", f"n{k}", 0, 600, 0, 0) for k in range(2))
    problem = Problem(visits, shifts, (matrix,), matrix, weights=Weights(lateness=3))
    plan = solve(problem, iterations=200_000, seed=seed)
    assert plan.schedule.cost == pytest.approx(_brute_force(problem))


def test_says_why_a_visit_is_left_out():
    matrix = ((0.0, 5.0, 5.0, 5.0), (5.0, 0.0, 1.0, 1.0), (5.0, 1.0, 0.0, 1.0),
              (5.0, 1.0, 1.0, 0.0))
    iv = frozenset({"iv"})
    visits = (
        Visit("wound", "p1", 1, 0, 60, (Part(30, frozenset({"wound"})),)),  # nobody can
        Visit("iv-a", "p2", 2, 60, 70, (Part(40, iv),), priority=3),
        Visit("iv-b", "p3", 3, 60, 70, (Part(40, iv),), priority=1),  # same time, one nurse
    )
    shifts = (Shift("s0", "anna", 0, 480, 0, 0, iv),)
    plan = solve(Problem(visits, shifts, (matrix,), matrix), iterations=20_000)
    reasons = {u.visit: u.reason for u in plan.unplanned}
    assert reasons == {"wound": "skills", "iv-b": "capacity"}  # the higher priority stays
    assert check_plan(Problem(visits, shifts, (matrix,), matrix), plan) == []


def test_fixed_visits_stay_where_they_are():
    problem = random_day(3, n_visits=14)
    first = solve(problem, iterations=20_000)
    fixed = {t for route in first.routes[:2] for t in route[:2] if t[0] != BREAK}
    again = solve(problem, initial=first.routes, fixed=fixed, iterations=20_000, seed=9)
    for k in range(2):
        before = [t for t in first.routes[k] if t in fixed]
        assert [t for t in again.routes[k] if t in fixed] == before
    assert check_plan(problem, again) == []


@pytest.mark.benchmarks("hhcrsp-mankowska")
@pytest.mark.parametrize("name,best", [("InstanzCPLEX_HCSRP_10_1", 218.199),
                                       ("InstanzCPLEX_HCSRP_10_5", 189.543)])
def test_reaches_the_best_known_result_of_small_literature_instances(name, best):
    problem, raw = read_hhcrsp(MANKOWSKA / f"{name}.json")
    plan = solve(problem, iterations=400_000)
    problems, costs = check_hhcrsp(raw, hhcrsp_solution(problem, plan.routes, plan.schedule))
    assert problems == []
    assert costs["cost"] <= best * 1.001


def test_the_checker_catches_broken_plans():
    problem = random_day(5, n_visits=10)
    plan = solve(problem, iterations=20_000)
    assert check_plan(problem, plan) == []
    k = next(k for k, r in enumerate(plan.routes) if any(v != BREAK for v, _p in r))
    task = next(t for t in plan.routes[k] if t[0] != BREAK)
    plan.schedule.starts[task] -= 500  # before anyone could be there
    assert check_plan(problem, plan)
    plan.schedule.starts[task] += 500
    dropped = [[t for t in r if t != task] for r in plan.routes]
    assert any("silently dropped" in p or "only one" in p
               for p in check_plan(problem, type(plan)(dropped, plan.schedule, plan.unplanned)))


@pytest.mark.parametrize("seed", range(6))
def test_a_replan_with_nothing_new_keeps_everyone_on_their_route(seed):
    """Re-planning from a plan, with a cost for giving a part to someone else: a new visit
    goes in, the others stay with their staff member."""
    import dataclasses

    problem = random_day(seed, n_visits=10)
    first = solve(problem, iterations=30_000, seed=seed)
    before = {(problem.visits[v].id, p): problem.shifts[k].id
              for k, route in enumerate(first.routes) for v, p in route if v != BREAK}
    extra = Visit("urgent", "p9", 1, 0, 480, (Part(15),), hard=True, priority=3)
    again = dataclasses.replace(
        problem, visits=problem.visits + (extra,), before=before,
        weights=dataclasses.replace(problem.weights, moved=1_000))
    second = solve(again, iterations=30_000, seed=seed, initial=first.routes)
    assert check_plan(again, second) == []
    after = {(again.visits[v].id, p): again.shifts[k].id
             for k, route in enumerate(second.routes) for v, p in route if v != BREAK}
    assert all(after.get(key, shift) == shift for key, shift in before.items())
    assert ("urgent", 0) in after or any(u.visit == "urgent" for u in second.unplanned)
    assert second.schedule.moved == 0


def test_a_started_visit_overrunning_its_shift_takes_no_one_else_s_visits_out():
    """The case seen: a started visit (fixed) on Per's route runs past the end of his shift.
    The clean-up must take out from the route in trouble, and never the started visit: the
    three visits on Hanna's route, which keep every rule, stay planned."""
    line = tuple(tuple(float(abs(i - j)) for j in range(5)) for i in range(5))
    hanna = Shift("hanna", "staff-hanna", 0, 480, 0, 0, frozenset({"iv"}))
    per = Shift("per", "staff-per", 0, 480, 0, 0)
    # IV doses: only Hanna may give them, so they stay on her route.
    feasible = [Visit(f"v{i}", f"p{i}", i + 1, 60 * i, 60 * i + 120,
                      (Part(30, frozenset({"iv"})),)) for i in range(3)]
    # Started at 470 (ten minutes before the shift ends), 30 minutes long: it stays where it
    # is, at its time (a soft window at its start, late at a great cost).
    started = Visit("started", "p9", 4, 470, 470, (Part(30),), hard=False,
                    lateness_cost=100.0, pinned=("per",))
    problem = Problem(tuple(feasible) + (started,), (hanna, per), (line,), line)
    routes = [[(0, 0), (1, 0), (2, 0)], [(3, 0)]]
    plan = solve(problem, initial=routes, fixed={(3, 0)}, iterations=5_000)
    assert sorted(t for route in plan.routes for t in route) == [(0, 0), (1, 0), (2, 0), (3, 0)]
    assert plan.unplanned == []
    assert plan.routes[1] == [(3, 0)]  # the started visit where it is
    # The overrun is not hidden: the plan says it breaks a rule.
    assert any("per ends" in v for v in plan.schedule.violations)


def test_the_clean_up_takes_out_from_the_route_that_breaks_the_rule():
    """Two routes; only Per's runs past his shift's end (too much to do, nothing started):
    what is taken out comes from Per's route, and only as much as needed."""
    line = tuple(tuple(float(abs(i - j)) for j in range(8)) for i in range(8))
    hanna = Shift("hanna", "staff-hanna", 0, 480, 0, 0)
    per = Shift("per", "staff-per", 0, 100, 0, 0)
    visits = tuple(Visit(f"v{i}", f"p{i}", i + 1, 0, 400, (Part(40),)) for i in range(6))
    problem = Problem(visits, (hanna, per), (line,), line)
    from hemma.planning.solver.plan import _repair

    routes, dropped = _repair(problem, [[(0, 0), (1, 0), (2, 0)], [(3, 0), (4, 0), (5, 0)]],
                              frozenset())
    assert routes[0] == [(0, 0), (1, 0), (2, 0)]
    assert [d.visit for d in dropped] == ["v5"]  # two 40-minute visits fit in Per's 100
    assert evaluate(problem, routes).feasible
