"""Independent checks of solver output, written from the problem statements, not from the
solver: the tests and `bench/planning.py` hold every plan to them."""

from __future__ import annotations

import math


def vrptw_distance(coords, i: int, j: int) -> float:
    (x1, y1), (x2, y2) = coords[i], coords[j]
    return math.floor(math.hypot(x1 - x2, y1 - y2) * 10) / 10


def check_vrptw(instance, routes: list[list[int]], cost: float) -> list[str]:
    """Problems with a VRPTW solution (empty when it is feasible and its cost is right):
    every customer served exactly once, at most VEHICLES routes, load within capacity,
    service starting inside each window (waiting allowed), back at the depot before it
    closes, and the stated cost equal to the truncated distances driven."""
    problems = []
    n = len(instance.coords)
    served = [c for route in routes for c in route]
    if sorted(served) != list(range(1, n)):
        missing = set(range(1, n)) - set(served)
        twice = {c for c in served if served.count(c) > 1}
        problems.append(f"customers missing {sorted(missing)[:10]} or served twice "
                        f"{sorted(twice)[:10]}")
    if len(routes) > instance.vehicles:
        problems.append(f"{len(routes)} routes, only {instance.vehicles} vehicles")
    total = 0.0
    for k, route in enumerate(routes):
        if sum(instance.demand[c] for c in route) > instance.capacity:
            problems.append(f"route {k} over capacity")
        t, here = instance.windows[0][0], 0
        for c in route:
            if not 0 < c < n:
                problems.append(f"route {k}: no customer {c}")
                break
            t = max(t + vrptw_distance(instance.coords, here, c), instance.windows[c][0])
            total += vrptw_distance(instance.coords, here, c)
            if t > instance.windows[c][1] + 1e-6:
                problems.append(f"route {k}: customer {c} starts at {t:.1f}, "
                                f"after {instance.windows[c][1]}")
            t += instance.service[c]
            here = c
        total += vrptw_distance(instance.coords, here, 0)
        t += vrptw_distance(instance.coords, here, 0)
        if t > instance.windows[0][1] + 1e-6:
            problems.append(f"route {k}: back at the depot at {t:.1f}, after it closes")
    if abs(total - cost) > 0.05 + 1e-9 * total:
        problems.append(f"stated cost {cost}, driven {total:.1f}")
    return problems


def check_hhcrsp(instance: dict, solution: dict, eps: float = 1e-6) -> tuple[list[str], dict]:
    """Problems with a home-health-care solution in the format of Mankowska et al.'s instances
    (the raw JSON of both), and its costs. Hard rules: every required service of every
    patient done exactly once, by a caregiver with the ability, two services of one patient
    by two different caregivers; a caregiver's visits follow each other with the travel
    (the distance matrix) and the service duration between them; no service starts before
    its window; simultaneous services start together, sequential ones within [min, max] of
    the first listed. Costs: distance (office → visits → office), tardiness of each service
    (start after the window's latest start) in total and at most, and the objective
    (distance + total tardiness + max tardiness) / 3."""
    problems: list[str] = []
    patients = {p["id"]: (k + 1, p) for k, p in enumerate(instance["patients"])}
    defaults = {s["id"]: s.get("default_duration") for s in instance["services"]}
    abilities = {c["id"]: set(c["abilities"]) for c in instance["caregivers"]}
    dist = instance["distances"]
    done: dict[tuple[str, str], list[tuple[str, float]]] = {}
    distance = 0.0
    tardiness: list[float] = []
    for route in solution["routes"]:
        caregiver = route["caregiver_id"]
        if caregiver not in abilities:
            problems.append(f"no caregiver {caregiver}")
            continue
        here, free = 0, 0.0
        for stop in route["locations"]:
            pid, service = stop["patient_id"], stop["service_id"]
            if pid not in patients:
                problems.append(f"{caregiver}: no patient {pid}")
                continue
            index, patient = patients[pid]
            required = {r["service"]: r for r in patient["required_caregivers"]}
            if service not in required:
                problems.append(f"{caregiver}: {pid} does not need {service}")
                continue
            if service not in abilities[caregiver]:
                problems.append(f"{caregiver} cannot do {service} ({pid})")
            duration = required[service].get("duration") or defaults[service]
            start, end = stop["arrival_time"], stop["departure_time"]
            travel = dist[here][index]
            distance += travel
            if start + eps < free + travel:
                problems.append(f"{caregiver}: starts {pid} at {start}, cannot be there before "
                                f"{free + travel}")
            early, late = patient["time_window"]
            if start + eps < early:
                problems.append(f"{caregiver}: starts {pid} at {start}, before {early}")
            if end + eps < start + duration:
                problems.append(f"{caregiver}: {pid} ends at {end}, {duration} needed")
            tardiness.append(max(0.0, start - late))
            done.setdefault((pid, service), []).append((caregiver, start))
            here, free = index, end
        distance += dist[here][0]
    for pid, (_index, patient) in patients.items():
        starts = []
        for r in patient["required_caregivers"]:
            who = done.get((pid, r["service"]), [])
            if len(who) != 1:
                problems.append(f"{pid} {r['service']} done {len(who)} times")
            else:
                starts.append(who[0])
        if len(starts) == 2:
            (c1, s1), (c2, s2) = starts
            if c1 == c2:
                problems.append(f"{pid}: both services by {c1}")
            sync = patient.get("synchronization") or {}
            if sync.get("type") == "simultaneous" and abs(s1 - s2) > eps:
                problems.append(f"{pid}: simultaneous services start at {s1} and {s2}")
            if sync.get("type") == "sequential":
                low, high = sync["distance"]
                if not (s1 + low - eps <= s2 <= s1 + high + eps):
                    problems.append(f"{pid}: second service at {s2}, must be {low}–{high} "
                                    f"after {s1}")
    total_t, max_t = sum(tardiness), max(tardiness, default=0.0)
    costs = {"distance": distance, "total_tardiness": total_t, "max_tardiness": max_t,
             "cost": (distance + total_t + max_t) / 3}
    return problems, costs


def check_plan(problem, plan) -> list[str]:
    """Problems with a home-care plan, judged from the times it states (not recomputed by the
    solver's schedule): every visit planned once per part or listed as unplanned with a
    reason; each part on a shift with its skills (and on its pinned shift); along each route
    the drive from the previous place fits between the previous end and the next start;
    nothing starts before its window, nor after a hard window; breaks in their windows;
    two-staff visits on two shifts, simultaneous ones together, sequential ones within
    their gap; back at the end place before the shift ends."""
    problems = []
    visits, shifts = problem.visits, problem.shifts
    starts = plan.schedule.starts
    placed: dict[tuple[int, int], int] = {}
    for k, route in enumerate(plan.routes):
        shift = shifts[k]
        travel = problem.travel[shift.profile]
        here, free = shift.start_location, float(shift.start)
        breaks_seen = set()
        for v, p in route:
            if v < 0:  # a break, taken where the staff member is
                brk = shift.breaks[p]
                at = plan.schedule.break_starts[k][p]
                if at + 1e-6 < max(free, brk.earliest) or at > brk.latest + 1e-6:
                    problems.append(f"{shift.id}: break {p} at {at}, after {brk.latest}")
                breaks_seen.add(p)
                free = at + brk.duration
                continue
            visit = visits[v]
            if (v, p) in placed:
                problems.append(f"{visit.id} part {p} twice")
            placed[(v, p)] = k
            if not visit.parts[p].skills <= shift.skills:
                problems.append(f"{shift.id} lacks the skills for {visit.id}")
            if p < len(visit.pinned) and visit.pinned[p] not in (None, shift.id):
                problems.append(f"{visit.id} part {p} is pinned to {visit.pinned[p]}")
            start = starts[(v, p)]
            if start + 1e-6 < free + travel[here][visit.location]:
                problems.append(f"{shift.id}: cannot reach {visit.id} by {start}")
            if start + 1e-6 < visit.earliest:
                problems.append(f"{visit.id} starts {start}, before {visit.earliest}")
            if visit.hard and start > visit.latest + 1e-6:
                problems.append(f"{visit.id} starts {start}, after {visit.latest}")
            free, here = start + visit.parts[p].duration, visit.location
        if any(v >= 0 for v, _p in route):
            if breaks_seen != set(range(len(shift.breaks))):
                problems.append(f"{shift.id}: a break is missing")
            back = free + travel[here][shift.end_location]
            if back > shift.end + 1e-6:
                problems.append(f"{shift.id} back at {back}, after {shift.end}")
    unplanned = {u.visit: u for u in plan.unplanned}
    for v, visit in enumerate(visits):
        parts = [(v, p) in placed for p in range(len(visit.parts))]
        if all(parts):
            if visit.id in unplanned:
                problems.append(f"{visit.id} both planned and unplanned")
            if len(visit.parts) == 2:
                if placed[(v, 0)] == placed[(v, 1)]:
                    problems.append(f"{visit.id}: both parts on one shift")
                a, b = starts[(v, 0)], starts[(v, 1)]
                if visit.sync == "simultaneous" and abs(a - b) > 1e-6:
                    problems.append(f"{visit.id}: starts {a} and {b}, not together")
                if visit.sync == "sequential" and not (
                        a + visit.gap[0] - 1e-6 <= b <= a + visit.gap[1] + 1e-6):
                    problems.append(f"{visit.id}: second part at {b}, gap {visit.gap} from {a}")
        elif any(parts):
            problems.append(f"{visit.id}: only one of its two staff planned")
        elif visit.id not in unplanned or not unplanned[visit.id].reason:
            problems.append(f"{visit.id} silently dropped")
    return problems
