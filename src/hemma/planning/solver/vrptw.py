"""The classic vehicle routing problem with time windows (VRPTW), as the literature states it:
one depot, identical vehicles with a capacity, customers with a demand, a service time and a
window for the start of service; minimise the total distance. It is the problem every routing
solver is measured on (Solomon's 56 instances), and the core our home-care planner extends.

Solved with PyVRP's hybrid genetic search (Vidal's HGS, the strongest published method for
it). Distances are Euclidean truncated to one decimal, as in the DIMACS convention the
best-known results use; PyVRP works in integers, so everything is scaled by ten."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

SCALE = 10  # one decimal


@dataclass(frozen=True)
class Instance:
    name: str
    vehicles: int
    capacity: int
    coords: tuple[tuple[float, float], ...]  # index 0 is the depot
    demand: tuple[int, ...]
    windows: tuple[tuple[float, float], ...]
    service: tuple[float, ...]

    @property
    def clients(self) -> range:
        return range(1, len(self.coords))


@dataclass(frozen=True)
class Solution:
    routes: list[list[int]]  # client numbers, depot 0 left out, as in the .sol files
    cost: float
    feasible: bool


def distance(instance: Instance, i: int, j: int) -> float:
    """Euclidean distance truncated to one decimal (the DIMACS convention)."""
    (x1, y1), (x2, y2) = instance.coords[i], instance.coords[j]
    return math.floor(math.hypot(x1 - x2, y1 - y2) * SCALE) / SCALE


def route_cost(instance: Instance, routes: list[list[int]]) -> float:
    total = 0
    for route in routes:
        path = [0, *route, 0]
        total += sum(round(distance(instance, a, b) * SCALE) for a, b in itertools.pairwise(path))
    return total / SCALE


def solve(instance: Instance, seconds: float | None = None, seed: int = 1, *,
          iterations: int | None = None) -> Solution:
    """Search for `seconds`, or for a number of `iterations` (the same answer on any machine:
    what tests use)."""
    from pyvrp import Model
    from pyvrp.stop import MaxIterations, MaxRuntime

    def scaled(x: float) -> int:
        return round(x * SCALE)

    model = Model()
    locations = [model.add_location(x=float(x), y=float(y)) for x, y in instance.coords]
    early, late = instance.windows[0]
    depot = model.add_depot(locations[0], tw_early=scaled(early), tw_late=scaled(late))
    model.add_vehicle_type(num_available=instance.vehicles, capacity=instance.capacity,
                           start_depot=depot, end_depot=depot,
                           tw_early=scaled(early), tw_late=scaled(late))
    for i in instance.clients:
        model.add_client(locations[i], delivery=instance.demand[i],
                         service_duration=scaled(instance.service[i]),
                         tw_early=scaled(instance.windows[i][0]),
                         tw_late=scaled(instance.windows[i][1]))
    for i, a in enumerate(locations):
        for j, b in enumerate(locations):
            if i != j:
                d = round(distance(instance, i, j) * SCALE)
                model.add_edge(a, b, distance=d, duration=d)
    stop = MaxIterations(iterations) if iterations is not None else MaxRuntime(seconds or 1.0)
    result = model.solve(stop=stop, seed=seed, display=False)
    # PyVRP numbers clients 0.. in the order they were added; the .sol files number them 1..
    routes = [r for r in ([a.idx + 1 for a in route if a.is_client()]
                          for route in result.best.routes()) if r]
    return Solution(routes, route_cost(instance, routes), result.best.is_feasible())
