"""Reading the public benchmark instances the planner is measured on (`hemma bench`):
VRPLIB VRPTW files (Solomon) and the JSON home-health-care instances of Mankowska et al."""

from __future__ import annotations

from pathlib import Path

from hemma.planning.solver.vrptw import Instance


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
