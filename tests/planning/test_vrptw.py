"""The VRPTW core against known optima and the independent checker."""

from __future__ import annotations

import itertools
import json

import pytest
from click.testing import CliRunner

from hemma.cli import main
from hemma.planning.literature import read_vrptw
from hemma.planning.solver import vrptw
from tests.planning.benchmarks import SOLOMON
from tests.planning.checker import check_vrptw


def _tiny(windows=None) -> vrptw.Instance:
    coords = ((50, 50), (60, 50), (70, 55), (50, 65), (40, 40), (30, 50), (55, 30))
    return vrptw.Instance(
        name="tiny", vehicles=3, capacity=10, coords=coords,
        demand=(0, 4, 3, 5, 2, 4, 3),
        windows=windows or ((0, 1000),) * len(coords), service=(0,) + (5,) * 6)


def _brute_force(instance: vrptw.Instance) -> float:
    """The optimum by enumeration: every order of the customers, cut into at most
    VEHICLES routes in every way, kept if the checker accepts it."""
    best = float("inf")
    clients = list(instance.clients)
    splits = [cuts for k in range(instance.vehicles)
              for cuts in itertools.combinations(range(1, len(clients)), k)]
    for order in itertools.permutations(clients):
        for cuts in splits:
            bounds = [0, *cuts, len(order)]
            routes = [list(order[a:b]) for a, b in itertools.pairwise(bounds) if b > a]
            cost = vrptw.route_cost(instance, routes)
            if cost < best and not check_vrptw(instance, routes, cost):
                best = cost
    return best


@pytest.mark.parametrize("windows", [
    None,
    ((0, 300), (0, 40), (100, 140), (0, 30), (60, 80), (0, 300), (20, 50)),
])
def test_finds_the_optimum_of_small_instances(windows):
    instance = _tiny(windows)
    solution = vrptw.solve(instance, iterations=300)
    assert check_vrptw(instance, solution.routes, solution.cost) == []
    assert solution.cost == pytest.approx(_brute_force(instance))


@pytest.mark.benchmarks("solomon")
def test_cli_prints_a_checked_solomon_solution():
    path = SOLOMON / "C101.vrp"
    result = CliRunner().invoke(main, ["bench", "vrptw", str(path), "--iterations", "200"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    instance = read_vrptw(path)
    assert check_vrptw(instance, out["routes"], out["cost"]) == []
    best = float((SOLOMON / "C101.sol").read_text().split("Cost")[-1])
    assert out["cost"] <= best * 1.01


def test_the_checker_catches_broken_plans():
    instance = _tiny()
    good = vrptw.solve(instance, iterations=100)
    assert check_vrptw(instance, good.routes, good.cost) == []
    routes = [list(r) for r in good.routes]
    assert check_vrptw(instance, routes, good.cost + 1)  # wrong cost
    dropped = [r[1:] if i == 0 else r for i, r in enumerate(routes)]
    assert check_vrptw(instance, dropped, vrptw.route_cost(instance, dropped))
    one = [[c for r in routes for c in r]]  # one vehicle cannot carry it all
    assert check_vrptw(instance, one, vrptw.route_cost(instance, one))
    late = _tiny(((0, 1000), (0, 1), (0, 1000), (0, 1000), (0, 1000), (0, 1000), (0, 1000)))
    assert check_vrptw(late, [[2, 1], [3, 4], [5, 6]],
                       vrptw.route_cost(late, [[2, 1], [3, 4], [5, 6]]))
