"""Planner benchmark: Hemma's solver against the literature's best-known results, beside
plain OR-Tools and VROOM given the same time, each on one core.

    .venv/bin/python bench/planning.py                       # every instance, 3 s each
    .venv/bin/python bench/planning.py --seconds 1 --only C1  # a quick look

Solomon (the 56 VRPTW instances in ../shared/benchmarks/solomon): each instance is solved by
`hemma bench vrptw FILE --seconds S` (a subprocess, as a user runs it; it pins itself to one
core), by OR-Tools' routing library (guided local search, the same S seconds) and by VROOM
(exploration level 5, one thread, a timeout of S). Every solution is checked by
tests/planning/checker.py (written from the problem statement, not from the solver); the cost
is recomputed there, and the gap is to the `Cost` line of the instance's `.sol` file.
Distances are Euclidean truncated to one decimal, the convention of the best-known results.
This prints figures; it is not a test. Exit status 1 if a Hemma solution was infeasible.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

from tests.planning.checker import check_vrptw  # noqa: E402

from hemma.planning.literature import read_vrptw  # noqa: E402
from hemma.planning.solver.vrptw import SCALE, Instance, route_cost  # noqa: E402

BENCHMARKS = ROOT.parent / "shared" / "benchmarks"
HEMMA = [sys.executable, "-m", "hemma.cli"]


def one_core() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def _matrix(instance: Instance) -> list[list[int]]:
    n = len(instance.coords)
    return [[math.floor(math.hypot(instance.coords[i][0] - instance.coords[j][0],
                                   instance.coords[i][1] - instance.coords[j][1]) * SCALE)
             for j in range(n)] for i in range(n)]


def solve_hemma(path: Path, seconds: float) -> tuple[list[list[int]], float, float]:
    t0 = time.perf_counter()
    out = subprocess.run([*HEMMA, "bench", "vrptw", str(path), "--seconds", f"{seconds:g}"],
                         capture_output=True, text=True, check=True, cwd=ROOT)
    data = json.loads(out.stdout)
    return data["routes"], data["cost"], time.perf_counter() - t0


def solve_ortools(instance: Instance, seconds: float) -> tuple[list[list[int]], float]:
    """OR-Tools routing as its documentation sets up a VRPTW: a time dimension with waiting
    allowed, capacity, path-cheapest-arc start, guided local search for the time given."""
    from ortools.constraint_solver import pywrapcp, routing_enums_pb2

    t0 = time.perf_counter()
    matrix = _matrix(instance)
    n = len(matrix)
    manager = pywrapcp.RoutingIndexManager(n, instance.vehicles, 0)
    routing = pywrapcp.RoutingModel(manager)

    def dist(i, j):
        return matrix[manager.IndexToNode(i)][manager.IndexToNode(j)]

    def travel(i, j):
        a = manager.IndexToNode(i)
        return matrix[a][manager.IndexToNode(j)] + round(instance.service[a] * SCALE)

    routing.SetArcCostEvaluatorOfAllVehicles(routing.RegisterTransitCallback(dist))
    horizon = round(instance.windows[0][1] * SCALE)
    routing.AddDimension(routing.RegisterTransitCallback(travel), horizon, horizon, False, "time")
    time_dim = routing.GetDimensionOrDie("time")
    for node in range(1, n):
        a, b = instance.windows[node]
        time_dim.CumulVar(manager.NodeToIndex(node)).SetRange(round(a * SCALE), round(b * SCALE))
    for v in range(instance.vehicles):
        time_dim.CumulVar(routing.Start(v)).SetRange(0, horizon)
        time_dim.CumulVar(routing.End(v)).SetRange(0, horizon)
    demand = routing.RegisterUnaryTransitCallback(
        lambda i: instance.demand[manager.IndexToNode(i)])
    routing.AddDimensionWithVehicleCapacity(demand, 0, [instance.capacity] * instance.vehicles,
                                            True, "load")
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PATH_CHEAPEST_ARC
    params.local_search_metaheuristic = \
        routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    params.time_limit.FromMilliseconds(max(1, int((seconds - (time.perf_counter() - t0)) * 1000)))
    solution = routing.SolveWithParameters(params)
    if solution is None:
        return [], math.inf
    routes = []
    for v in range(instance.vehicles):
        index, route = routing.Start(v), []
        while not routing.IsEnd(index):
            node = manager.IndexToNode(index)
            if node:
                route.append(node)
            index = solution.Value(routing.NextVar(index))
        if route:
            routes.append(route)
    return routes, route_cost(instance, routes)


def solve_vroom(instance: Instance, seconds: float) -> tuple[list[list[int]], float]:
    from datetime import timedelta

    import vroom

    problem = vroom.Input()
    problem.set_durations_matrix("car", _matrix(instance))
    early, late = (round(x * SCALE) for x in instance.windows[0])
    for v in range(instance.vehicles):
        problem.add_vehicle(vroom.Vehicle(v, start=0, end=0, capacity=[instance.capacity],
                                          time_window=vroom.TimeWindow(early, late)))
    for c in instance.clients:
        a, b = instance.windows[c]
        problem.add_job(vroom.Job(c, location=c, default_service=round(instance.service[c] * SCALE),
                                  delivery=[instance.demand[c]],
                                  time_windows=[vroom.TimeWindow(round(a * SCALE),
                                                                 round(b * SCALE))]))
    solution = problem.solve(exploration_level=5, nb_threads=1,
                             timeout=timedelta(seconds=seconds))
    routes: dict[int, list[int]] = {}
    for row in solution.routes.itertuples():
        if row.type == "job":
            routes.setdefault(row.vehicle_id, []).append(int(row.id))
    out = [routes[v] for v in sorted(routes)]
    served = sum(len(r) for r in out)
    return out, route_cost(instance, out) if served == len(instance.clients) else math.inf


def gap(cost: float, best: float) -> float:
    return (cost - best) / best * 100


def run_solomon(seconds: float, only: str | None) -> int:
    folder = BENCHMARKS / "solomon"
    paths = sorted(p for p in folder.glob("*.vrp") if not only or p.stem.startswith(only))
    if not paths:
        print(f"no instances in {folder}")
        return 1
    print(f"Solomon VRPTW: {len(paths)} instances, {seconds:g} s each, one core per solver")
    print(f"{'instance':9} {'best':>8} {'hemma':>8} {'gap%':>6} {'ok':>3} {'ortools':>8} "
          f"{'gap%':>6} {'ok':>3} {'vroom':>8} {'gap%':>6} {'ok':>3}")
    gaps: dict[str, list[float]] = {"hemma": [], "ortools": [], "vroom": []}
    infeasible: dict[str, int] = dict.fromkeys(gaps, 0)
    wall = []
    for path in paths:
        instance = read_vrptw(path)
        best = float(path.with_suffix(".sol").read_text().split("Cost")[-1])
        routes, cost, took = solve_hemma(path, seconds)
        wall.append(took)
        results = {"hemma": (routes, cost)}
        results["ortools"] = solve_ortools(instance, seconds)
        results["vroom"] = solve_vroom(instance, seconds)
        cells = []
        for name, (routes, cost) in results.items():
            problems = check_vrptw(instance, routes, cost) if math.isfinite(cost) else ["none"]
            if problems:
                infeasible[name] += 1
                if name == "hemma":
                    print(f"  {path.stem}: {problems[:3]}", file=sys.stderr)
            else:
                gaps[name].append(gap(cost, best))
            cells.append(f"{cost:8.1f} {gap(cost, best):6.2f} {'no' if problems else 'yes':>3}")
        print(f"{path.stem:9} {best:8.1f} " + " ".join(cells), flush=True)
    print()
    for name, values in gaps.items():
        mean = statistics.fmean(values) if values else math.nan
        print(f"  {name:8} mean gap {mean:6.3f}%  feasible {len(values)}/{len(paths)}"
              f"  (infeasible or none: {infeasible[name]})")
    print(f"  hemma wall time per instance: mean {statistics.fmean(wall):.2f} s "
          f"(solve {seconds:g} s + start-up and reading)")
    ok = infeasible["hemma"] == 0 and statistics.fmean(gaps["hemma"]) <= 0.5
    print(f"RESULT solomon: mean gap {statistics.fmean(gaps['hemma']):.3f}% at {seconds:g} s, "
          f"{len(gaps['hemma'])}/{len(paths)} feasible; target <= 0.5% and all feasible "
          f"{'PASS' if ok else 'FAIL'}")
    return 0 if infeasible["hemma"] == 0 else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="per instance and solver")
    parser.add_argument("--only", help="instances whose name starts with this (e.g. R2)")
    args = parser.parse_args(argv)
    one_core()  # the baselines run in this process
    return run_solomon(args.seconds, args.only)


if __name__ == "__main__":
    sys.exit(main())
