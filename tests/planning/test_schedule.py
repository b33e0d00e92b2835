"""Start times and costs of routes with double-staffed visits, held to the independent checker
on the literature's instances, and the synchronisation rules on small hand-made days."""

from __future__ import annotations

import json
import random

import pytest
from click.testing import CliRunner

from hemma.cli import main
from hemma.planning.literature import hhcrsp_solution, read_hhcrsp
from hemma.planning.solver.construct import construct
from hemma.planning.solver.model import Break, Part, Problem, Shift, Visit, Weights
from hemma.planning.solver.plan import solve
from hemma.planning.solver.schedule import BREAK, evaluate
from tests.planning.benchmarks import MANKOWSKA
from tests.planning.checker import check_hhcrsp

needs_data = pytest.mark.benchmarks("hhcrsp-mankowska")


def _line(n: int) -> tuple:
    """Locations on a line, one minute apart."""
    return tuple(tuple(float(abs(i - j)) for j in range(n)) for i in range(n))


def _day(visits, shifts=None, **kw) -> Problem:
    shifts = shifts or (Shift("anna", "anna", 0, 600, 0, 0, frozenset({"nurse"})),
                        Shift("bo", "bo", 0, 600, 0, 0, frozenset({"nurse", "physio"})))
    m = _line(6)
    return Problem(tuple(visits), tuple(shifts), (m,), m, **kw)


NURSE, PHYSIO = frozenset({"nurse"}), frozenset({"physio"})


def test_a_simultaneous_pair_starts_together_and_the_earlier_one_waits():
    lift = Visit("lift", "p1", 5, 0, 100, (Part(20, NURSE), Part(20, NURSE)),
                 sync="simultaneous")
    early = Visit("early", "p2", 1, 0, 100, (Part(30, NURSE),))
    s = evaluate(_day([lift, early]), [[(1, 0), (0, 0)], [(0, 1)]])
    # Anna: office → 1 (1 min), 30 min there, → 5 (4 min): at 35. Bo is there at 5, waits.
    assert s.starts[(0, 0)] == s.starts[(0, 1)] == 35
    assert s.feasible and s.distance == 1 + 4 + 5 + 5 + 5


def test_a_sequential_pair_keeps_its_gap_both_ways():
    dressing = Visit("dress", "p1", 2, 0, 500, (Part(10, NURSE), Part(10, PHYSIO)),
                     sync="sequential", gap=(15, 20))
    late = Visit("late", "p2", 3, 100, 500, (Part(10, NURSE),))
    # Bo does the second part only after a visit that ends at 110: the first part (Anna)
    # waits so that the second can start within 20 minutes of it.
    s = evaluate(_day([dressing, late]), [[(0, 0)], [(1, 0), (0, 1)]])
    assert s.starts[(0, 1)] == 111 and s.starts[(0, 0)] == 91
    assert s.feasible


def test_pairs_that_wait_on_each_other_in_a_circle_are_a_deadlock():
    a = Visit("a", "p1", 1, 0, 500, (Part(10, NURSE), Part(10, NURSE)), sync="simultaneous")
    b = Visit("b", "p2", 2, 0, 500, (Part(10, NURSE), Part(10, NURSE)), sync="simultaneous")
    s = evaluate(_day([a, b]), [[(0, 0), (1, 0)], [(1, 1), (0, 1)]])
    assert not s.feasible and "circle" in " ".join(s.violations)


def test_hard_rules_are_reported():
    iv = Visit("iv", "p1", 4, 0, 10, (Part(30, PHYSIO),))  # anna is no physio, and late
    both = Visit("pair", "p2", 2, 0, 500, (Part(10, NURSE), Part(10, NURSE)),
                 sync="simultaneous")
    s = evaluate(_day([iv, both]), [[(0, 0), (1, 0), (1, 1)], []])
    text = " ".join(s.violations)
    assert "may not do iv" in text and "both parts" in text
    lunch = Shift("anna", "anna", 0, 600, 0, 0, NURSE, breaks=(Break(60, 90, 30),))
    v = Visit("v", "p1", 1, 0, 500, (Part(100, NURSE),))
    s = evaluate(_day([v], shifts=[lunch]), [[(0, 0), (BREAK, 0)]])
    assert "break 0 starts too late" in " ".join(s.violations)
    s = evaluate(_day([v], shifts=[lunch]), [[(BREAK, 0), (0, 0)]])
    assert s.feasible and s.starts[(0, 0)] == 91  # the break from 60, then drive 1 minute


def test_continuity_counts_new_faces():
    v = Visit("v", "p1", 1, 0, 500, (Part(10, NURSE),))
    known = _day([v], met={"p1": frozenset({"bo"})}, weights=Weights(new_staff=50))
    assert evaluate(known, [[(0, 0)], []]).new_staff == 1
    assert evaluate(known, [[], [(0, 0)]]).new_staff == 0
    assert evaluate(known, [[(0, 0)], []]).cost - evaluate(known, [[], [(0, 0)]]).cost == 50


@needs_data
@pytest.mark.parametrize("name", ["InstanzCPLEX_HCSRP_10_1", "InstanzCPLEX_HCSRP_25_3",
                                  "InstanzCPLEX_HCSRP_50_6"])
def test_random_routes_cost_what_the_checker_says(name):
    """Any assignment of parts to able caregivers, in any order: the schedule's feasibility
    and costs equal the independent checker's on the written-out solution."""
    problem, raw = read_hhcrsp(MANKOWSKA / f"{name}.json")
    rng = random.Random(name)
    for _ in range(5):
        routes = [[] for _ in problem.shifts]
        for v, visit in enumerate(problem.visits):
            used = set()
            for p in range(len(visit.parts)):
                able = [k for k, s in enumerate(problem.shifts)
                        if problem.can_do(s, visit, p) and k not in used]
                k = rng.choice(able)
                used.add(k)
                routes[k].insert(rng.randint(0, len(routes[k])), (v, p))
        s = evaluate(problem, routes)
        if not s.feasible:
            assert any("circle" in x for x in s.violations)
            continue
        problems, costs = check_hhcrsp(raw, hhcrsp_solution(problem, routes, s))
        assert problems == []
        assert s.cost / 3 == pytest.approx(costs["cost"])


@needs_data
def test_the_search_improves_and_the_cli_prints_a_checked_solution():
    path = MANKOWSKA / "InstanzCPLEX_HCSRP_10_1.json"
    problem, raw = read_hhcrsp(path)
    first = evaluate(problem, construct(problem))
    better = solve(problem, iterations=20_000).schedule
    assert better.feasible and better.cost <= first.cost
    result = CliRunner().invoke(main, ["bench", "hhcrsp", str(path), "--iterations", "20000"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    problems, costs = check_hhcrsp(raw, out)
    assert problems == [] and costs["cost"] == pytest.approx(out["costs"]["cost"])
