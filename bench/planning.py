"""Planner benchmark: Hemma's solver against the literature's best-known results, beside
plain OR-Tools and VROOM given the same time, each on one core.

    .venv/bin/python bench/planning.py                        # both sets, every instance
    .venv/bin/python bench/planning.py --set solomon --seconds 1 --only C1   # a quick look
    .venv/bin/python bench/planning.py --set hhcrsp --solvers hemma          # Hemma alone

Solomon (the 56 VRPTW instances in ../shared/benchmarks/solomon): each instance is solved by
`hemma bench vrptw FILE --seconds S` (a subprocess, as a user runs it; it pins itself to one
core), by OR-Tools' routing library (guided local search, the same S seconds) and by VROOM
(exploration level 5, one thread, a timeout of S). Every solution is checked by
tests/planning/checker.py (written from the problem statement, not from the solver); the cost
is recomputed there, and the gap is to the `Cost` line of the instance's `.sol` file.
Distances are Euclidean truncated to one decimal, the convention of the best-known results.
Home health care (the 70 instances of Mankowska et al. in ../shared/benchmarks/hhcrsp-mankowska):
`hemma bench hhcrsp FILE --seconds S` (30 s, 60 s for 200 and 300 patients), checked by
`check_hhcrsp` (every service once by an able caregiver, travel and durations between visits,
windows opened, simultaneous and sequential pairs kept), the objective (distance + total
tardiness + max tardiness) / 3 against the `total_cost` column of BEST.md. Beside it, the same
time for plain OR-Tools (each caregiver's part a node, skills as allowed vehicles, the pairs as
constraints on the time dimension and on the vehicles, tardiness as a soft upper bound; it has
no term for the maximum tardiness) and plain VROOM (skills native; it has no soft windows and
no synchronisation, so it gets windows open until the end of the day and the two parts of a
pair as independent jobs: its plans usually break a pair, and are reported as infeasible).

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

from tests.planning.checker import check_hhcrsp, check_vrptw  # noqa: E402

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


def _ortools_search(routing, seconds: float):
    """Plain OR-Tools, as its guides set it up: path-cheapest-arc, then guided local search
    for the time left."""
    from ortools.constraint_solver import pywrapcp, routing_enums_pb2

    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PATH_CHEAPEST_ARC
    params.local_search_metaheuristic = \
        routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    params.time_limit.FromMilliseconds(max(1, int(seconds * 1000)))
    return routing.SolveWithParameters(params)


def solve_ortools(instance: Instance, seconds: float) -> tuple[list[list[int]], float]:
    """OR-Tools routing as its documentation sets up a VRPTW: a time dimension with waiting
    allowed, capacity, path-cheapest-arc start, guided local search for the time given."""
    from ortools.constraint_solver import pywrapcp

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
    solution = _ortools_search(routing, seconds - (time.perf_counter() - t0))
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


def run_solomon(seconds: float, only: str | None, solvers: list[str]) -> int:
    folder = BENCHMARKS / "solomon"
    paths = sorted(p for p in folder.glob("*.vrp") if not only or p.stem.startswith(only))
    if not paths:
        print(f"no instances in {folder}" + (f" starting with {only}" if only else ""))
        return 0 if only else 1
    print(f"Solomon VRPTW: {len(paths)} instances, {seconds:g} s each, one core per solver")
    print(f"{'instance':9} {'best':>8} " + " ".join(f"{s:>8} {'gap%':>6} {'ok':>3}"
                                                    for s in solvers))
    gaps: dict[str, list[float]] = {s: [] for s in solvers}
    infeasible: dict[str, int] = dict.fromkeys(gaps, 0)
    wall = []
    for path in paths:
        instance = read_vrptw(path)
        best = float(path.with_suffix(".sol").read_text().split("Cost")[-1])
        results = {}
        for name in solvers:
            if name == "hemma":
                routes, cost, took = solve_hemma(path, seconds)
                wall.append(took)
                results[name] = (routes, cost)
            elif name == "ortools":
                results[name] = solve_ortools(instance, seconds)
            else:
                results[name] = solve_vroom(instance, seconds)
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
    if "hemma" not in solvers:
        return 0
    print(f"  hemma wall time per instance: mean {statistics.fmean(wall):.2f} s "
          f"(solve {seconds:g} s + start-up and reading)")
    ok = infeasible["hemma"] == 0 and statistics.fmean(gaps["hemma"]) <= 0.5
    print(f"RESULT solomon: mean gap {statistics.fmean(gaps['hemma']):.3f}% at {seconds:g} s, "
          f"{len(gaps['hemma'])}/{len(paths)} feasible; target <= 0.5% and all feasible "
          f"{'PASS' if ok else 'FAIL'}")
    return 0 if infeasible["hemma"] == 0 else 1


# --- Home health care (Mankowska et al.) ----------------------------------------------------

HHC_SCALE = 100  # OR-Tools and VROOM work in integers: hundredths of a minute


def hhc_seconds(path: Path, seconds: float) -> float:
    """The issue's budget: 30 s an instance, 60 s for 200 and 300 patients."""
    patients = int(path.stem.rsplit("_", 2)[-2])
    return seconds * 2 if patients >= 200 else seconds


def _parts(raw: dict) -> list[tuple[int, dict, dict, float]]:
    """Every caregiver part: (patient index, patient, required entry, duration)."""
    defaults = {s["id"]: s.get("default_duration") for s in raw["services"]}
    return [(i, p, r, r.get("duration") or defaults[r["service"]])
            for i, p in enumerate(raw["patients"]) for r in p["required_caregivers"]]


def _routes_out(raw, parts, per_vehicle: list[list[int]], starts: dict[int, float]) -> dict:
    return {"routes": [
        {"caregiver_id": c["id"], "locations": [
            {"patient_id": parts[n][1]["id"], "service_id": parts[n][2]["service"],
             "arrival_time": starts[n], "departure_time": starts[n] + parts[n][3]}
            for n in per_vehicle[k]]}
        for k, c in enumerate(raw["caregivers"])]}


def _earliest_starts(raw, parts, per_vehicle) -> dict[int, float]:
    """Each route's parts as early as travel and windows allow (no synchronisation)."""
    dist = raw["distances"]
    starts = {}
    for route in per_vehicle:
        here, free = 0, 0.0
        for n in route:
            i, patient, _r, duration = parts[n]
            starts[n] = max(free + dist[here][i + 1], patient["time_window"][0])
            free, here = starts[n] + duration, i + 1
    return starts


def solve_hemma_hhc(path: Path, seconds: float) -> tuple[dict, float]:
    t0 = time.perf_counter()
    out = subprocess.run([*HEMMA, "bench", "hhcrsp", str(path), "--seconds", f"{seconds:g}"],
                         capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(out.stdout), time.perf_counter() - t0


def solve_ortools_hhc(raw: dict, seconds: float) -> dict | None:
    from ortools.constraint_solver import pywrapcp

    t0 = time.perf_counter()
    parts = _parts(raw)
    caregivers = raw["caregivers"]
    dist = raw["distances"]
    n = len(parts) + 1  # node 0 the office, node j the part j - 1

    def loc(node: int) -> int:
        return 0 if node == 0 else parts[node - 1][0] + 1

    manager = pywrapcp.RoutingIndexManager(n, len(caregivers), 0)
    routing = pywrapcp.RoutingModel(manager)

    def arc(i, j):
        # Rounded up: a plan in hundredths of a minute must still be drivable in real time.
        return math.ceil(
            dist[loc(manager.IndexToNode(i))][loc(manager.IndexToNode(j))] * HHC_SCALE)

    def busy(i, j):
        a = manager.IndexToNode(i)
        service = parts[a - 1][3] if a else 0
        return arc(i, j) + round(service * HHC_SCALE)

    routing.SetArcCostEvaluatorOfAllVehicles(routing.RegisterTransitCallback(arc))
    horizon = round((max(p["time_window"][1] for p in raw["patients"]) + 2000) * HHC_SCALE)
    routing.AddDimension(routing.RegisterTransitCallback(busy), horizon, horizon, False, "time")
    clock = routing.GetDimensionOrDie("time")
    solver = routing.solver()
    index_of = {}
    for j, (_i, patient, required, _d) in enumerate(parts):
        index = manager.NodeToIndex(j + 1)
        index_of[j] = index
        early, late = patient["time_window"]
        clock.CumulVar(index).SetMin(round(early * HHC_SCALE))
        clock.SetCumulVarSoftUpperBound(index, round(late * HHC_SCALE), 1)
        routing.VehicleVar(index).SetValues(
            [-1] + [k for k, c in enumerate(caregivers) if required["service"] in c["abilities"]])
    by_patient: dict[int, list[int]] = {}
    for j, (i, *_rest) in enumerate(parts):
        by_patient.setdefault(i, []).append(j)
    for i, js in by_patient.items():
        if len(js) != 2:
            continue
        a, b = index_of[js[0]], index_of[js[1]]
        solver.Add(routing.VehicleVar(a) != routing.VehicleVar(b))
        sync = raw["patients"][i].get("synchronization") or {}
        if sync.get("type") == "simultaneous":
            solver.Add(clock.CumulVar(a) == clock.CumulVar(b))
        else:
            low, high = sync["distance"]
            solver.Add(clock.CumulVar(b) >= clock.CumulVar(a) + round(low * HHC_SCALE))
            solver.Add(clock.CumulVar(b) <= clock.CumulVar(a) + round(high * HHC_SCALE))
    solution = _ortools_search(routing, seconds - (time.perf_counter() - t0))
    if solution is None:
        return None
    per_vehicle, starts = [], {}
    for k in range(len(caregivers)):
        index, route = routing.Start(k), []
        while not routing.IsEnd(index):
            node = manager.IndexToNode(index)
            if node:
                route.append(node - 1)
                starts[node - 1] = solution.Min(clock.CumulVar(index)) / HHC_SCALE
            index = solution.Value(routing.NextVar(index))
        per_vehicle.append(route)
    return _routes_out(raw, parts, per_vehicle, starts)


def solve_vroom_hhc(raw: dict, seconds: float) -> dict:
    from datetime import timedelta

    import vroom

    parts = _parts(raw)
    services = {s["id"]: k for k, s in enumerate(raw["services"])}
    problem = vroom.Input()
    problem.set_durations_matrix("car", [[round(x * HHC_SCALE) for x in row]
                                         for row in raw["distances"]])
    for k, c in enumerate(raw["caregivers"]):
        problem.add_vehicle(vroom.Vehicle(k, start=0, end=0,
                                          skills={services[s] for s in c["abilities"]}))
    end = round((max(p["time_window"][1] for p in raw["patients"]) + 5000) * HHC_SCALE)
    for j, (i, patient, required, duration) in enumerate(parts):
        problem.add_job(vroom.Job(j + 1, location=i + 1,
                                  default_service=round(duration * HHC_SCALE),
                                  skills={services[required["service"]]},
                                  time_windows=[vroom.TimeWindow(
                                      round(patient["time_window"][0] * HHC_SCALE), end)]))
    solution = problem.solve(exploration_level=5, nb_threads=1,
                             timeout=timedelta(seconds=seconds))
    per_vehicle: list[list[int]] = [[] for _ in raw["caregivers"]]
    for row in solution.routes.itertuples():
        if row.type == "job":
            per_vehicle[int(row.vehicle_id)].append(int(row.id) - 1)
    return _routes_out(raw, parts, per_vehicle, _earliest_starts(raw, parts, per_vehicle))


def run_hhcrsp(seconds: float, only: str | None, solvers: list[str]) -> int:
    folder = BENCHMARKS / "hhcrsp-mankowska"
    best = {}
    for line in (folder / "BEST.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells and cells[0].endswith(".json"):
            best[cells[0]] = float(cells[4])
    paths = sorted((p for p in folder.glob("Instanz*.json")
                    if not only or p.stem.startswith(only)),
                   key=lambda p: (int(p.stem.rsplit("_", 2)[-2]), int(p.stem.rsplit("_", 1)[-1])))
    if not paths:
        print(f"no instances in {folder}" + (f" starting with {only}" if only else ""))
        return 0 if only else 1
    print(f"Home health care (Mankowska): {len(paths)} instances, {seconds:g} s each "
          f"({hhc_seconds(Path('x_200_1'), seconds):g} s for 200 and 300 patients), one core "
          "per solver; cost = (distance + total tardiness + max tardiness) / 3")
    print(f"{'instance':30} {'best':>8} " + " ".join(f"{s:>8} {'gap%':>6} {'ok':>3}"
                                                     for s in solvers))
    gaps: dict[str, list[float]] = {s: [] for s in solvers}
    infeasible = dict.fromkeys(solvers, 0)
    for path in paths:
        raw = json.loads(path.read_text())
        budget = hhc_seconds(path, seconds)
        reference = best[path.name]
        cells = []
        for name in solvers:
            if name == "hemma":
                out, _took = solve_hemma_hhc(path, budget)
            elif name == "ortools":
                out = solve_ortools_hhc(raw, budget)
            else:
                out = solve_vroom_hhc(raw, budget)
            if out is None:
                infeasible[name] += 1
                cells.append(f"{'none':>8} {'':>6} {'no':>3}")
                continue
            problems, costs = check_hhcrsp(raw, out)
            g = gap(costs["cost"], reference)
            if problems:
                infeasible[name] += 1
                if name == "hemma":
                    print(f"  {path.stem}: {problems[:3]}", file=sys.stderr)
            else:
                gaps[name].append(g)
            cells.append(f"{costs['cost']:8.1f} {g:6.2f} {'no' if problems else 'yes':>3}")
        print(f"{path.stem:30} {reference:8.1f} " + " ".join(cells), flush=True)
    print()
    for name, values in gaps.items():
        mean = statistics.fmean(values) if values else math.nan
        print(f"  {name:8} mean gap {mean:6.3f}%  feasible {len(values)}/{len(paths)}")
    if "hemma" not in solvers:
        return 0
    mean = statistics.fmean(gaps["hemma"]) if gaps["hemma"] else math.nan
    ok = infeasible["hemma"] == 0 and mean <= 1.0
    print(f"RESULT hhcrsp: mean gap {mean:.3f}% ({seconds:g} s, "
          f"{hhc_seconds(Path('x_200_1'), seconds):g} s for 200/300), "
          f"{len(gaps['hemma'])}/{len(paths)} feasible with every patient served and every "
          f"synchronisation kept; target <= 1% {'PASS' if ok else 'FAIL'}")
    return 0 if infeasible["hemma"] == 0 else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", choices=["solomon", "hhcrsp", "all"], default="all")
    parser.add_argument("--seconds", type=float, default=None,
                        help="per instance and solver (default 3 for Solomon, 30 for hhcrsp)")
    parser.add_argument("--only", help="instances whose name starts with this (e.g. R2)")
    parser.add_argument("--solvers", default="hemma,ortools,vroom",
                        help="comma-separated, of hemma, ortools, vroom")
    args = parser.parse_args(argv)
    solvers = [s for s in args.solvers.split(",") if s]
    one_core()  # the baselines run in this process
    status = 0
    if args.set in ("solomon", "all"):
        status |= run_solomon(args.seconds or 3.0, args.only, solvers)
    if args.set in ("hhcrsp", "all"):
        status |= run_hhcrsp(args.seconds or 30.0, args.only, solvers)
    return status


if __name__ == "__main__":
    sys.exit(main())
