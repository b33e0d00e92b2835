"""Reading the public benchmark instances the planner is measured on (`hemma bench`):
VRPLIB VRPTW files (Solomon) and the JSON home-health-care instances of Mankowska et al."""

from __future__ import annotations

import json
from pathlib import Path

from hemma.planning.solver.model import Part, Problem, Shift, Visit, Weights
from hemma.planning.solver.schedule import BREAK, Schedule, Task
from hemma.planning.solver.vrptw import Instance

OPEN_END = 10**7  # the instances give caregivers no end of day


def read_vrptw(path: str | Path) -> Instance:
    """A VRPLIB CVRPTW instance (`.vrp`), depot first."""
    import vrplib

    data = vrplib.read_instance(str(path))
    n = int(data["dimension"])
    service = data.get("service_time", 0)
    if isinstance(service, int | float):
        # One service time for every customer; the depot takes none.
        service = [0.0] + [float(service)] * (n - 1)
    return Instance(
        name=str(data.get("name", Path(path).stem)),
        vehicles=int(data.get("vehicles", n - 1)),
        capacity=int(data["capacity"]),
        coords=tuple((float(x), float(y)) for x, y in data["node_coord"]),
        demand=tuple(int(d) for d in data["demand"]),
        windows=tuple((float(a), float(b)) for a, b in data["time_window"]),
        service=tuple(float(s) for s in service),
    )


def read_hhcrsp(path: str | Path) -> tuple[Problem, dict]:
    """A Mankowska et al. home-health-care instance (JSON) as a planning problem, and the raw
    JSON. Every caregiver starts and ends at the office (location 0), patient i is location
    i; each required caregiver is a part whose skill is its service; windows are soft, with
    the literature's objective: distance + total tardiness + max tardiness (reported / 3)."""
    raw = json.loads(Path(path).read_text())
    defaults = {s["id"]: s.get("default_duration") for s in raw["services"]}
    visits = []
    for k, p in enumerate(raw["patients"]):
        sync = p.get("synchronization") or {}
        visits.append(Visit(
            id=p["id"], patient=p["id"], location=k + 1,
            earliest=p["time_window"][0], latest=p["time_window"][1],
            parts=tuple(Part(r.get("duration") or defaults[r["service"]],
                             frozenset({r["service"]})) for r in p["required_caregivers"]),
            sync=sync.get("type", "none"), gap=tuple(sync.get("distance", (0, 0))),
            hard=False, lateness_cost=1.0))
    shifts = tuple(Shift(id=c["id"], staff=c["id"], start=0, end=OPEN_END, start_location=0,
                         end_location=0, skills=frozenset(c["abilities"]))
                   for c in raw["caregivers"])
    matrix = tuple(tuple(float(x) for x in row) for row in raw["distances"])
    problem = Problem(visits=tuple(visits), shifts=shifts, travel=(matrix,), distance=matrix,
                      weights=Weights(distance=1, lateness=1, max_lateness=1))
    return problem, raw


def hhcrsp_solution(problem: Problem, routes: list[list[Task]], schedule: Schedule) -> dict:
    """Routes in the instances' solution format (arrival_time is the start of service)."""
    out = []
    for shift, route in zip(problem.shifts, routes, strict=True):
        locations = []
        for task in route:
            if task[0] == BREAK:
                continue
            visit = problem.visits[task[0]]
            part = visit.parts[task[1]]
            start = schedule.starts[task]
            locations.append({"patient_id": visit.id, "service_id": next(iter(part.skills)),
                              "arrival_time": start, "departure_time": start + part.duration})
        out.append({"caregiver_id": shift.id, "locations": locations})
    return {"routes": out}
