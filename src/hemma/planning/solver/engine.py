"""The search kernels, compiled with Numba: the schedule of a whole plan in a few microseconds,
and simulated annealing over moves of single staff parts. Plain arrays in, plain arrays out;
`hemma.planning.solver.plan` packs a `Problem` into them and unpacks the result.

A plan is `routes[k, :length[k]]`, the task indices of shift k in order. A task is one staff
member's part of a visit, or one of a shift's breaks (it stays on its shift, taken where the
staff member is). Visits left out are listed in `out[:n_out]`.

The schedule is the one `schedule.evaluate` computes (and the tests hold the two together):
each task as early as its route, its window and its synchronised partner allow, as the least
fixed point of repeated passes; partners waiting on each other in a circle never settle and
make the plan infinitely expensive. Hard rules broken cost `VIOLATION` per minute, a visit left
out costs `UNPLANNED` per priority level: the search is free to pass through bad plans, and
`plan.solve` removes what still breaks a hard rule at the end, with the reason."""

from __future__ import annotations

import numpy as np
from numba import njit

VIOLATION = 1e6  # per minute of a hard window or a shift's end overrun
UNPLANNED = 1e5  # per priority level of a visit left out
INF = 1e18

# Task kinds (sync)
NONE, SIMULTANEOUS, FIRST, SECOND, BREAK_TASK = 0, 1, 2, 3, 4


@njit(cache=True)
def _forward(k, p, routes, length, t_loc, t_dur, t_sync, s_start, s_sloc, s_eloc, s_prof,
             travel, starts, ends, lower):
    """Route k from position p on, each task as early as allowed (the tasks before p are
    as they were)."""
    now = s_start[k]
    here = s_sloc[k]
    if p > 0:
        prev = routes[k, p - 1]
        now = starts[prev] + t_dur[prev]
        for q in range(p - 1, -1, -1):  # where the staff member is: the last visit's place
            if t_sync[routes[k, q]] != BREAK_TASK:
                here = t_loc[routes[k, q]]
                break
    prof = s_prof[k]
    for q in range(p, length[k]):
        t = routes[k, q]
        if t_sync[t] == BREAK_TASK:
            start = max(now, lower[t])
        else:
            loc = t_loc[t]
            start = max(now + travel[prof, here, loc], lower[t])
            here = loc
        starts[t] = start
        now = start + t_dur[t]
    if length[k] > 0:
        ends[k] = now + travel[prof, here, s_eloc[k]]
    else:
        ends[k] = s_start[k]


@njit(cache=True)
def schedule(routes, length, t_loc, t_dur, t_early, t_sync, t_partner, t_gmin, t_gmax,
             s_start, s_sloc, s_eloc, s_prof, travel, dist, starts, ends, lower, n_pairs):
    """Start times into `starts`, route ends into `ends`; returns (distance, settled).
    Every route once from its start; then, while a pair's rule is broken, the later task
    waits (its lower bound rises) and only its route from that task on is worked out again."""
    n_tasks = t_loc.shape[0]
    n_shifts = routes.shape[0]
    pos_of = np.empty(n_tasks, dtype=np.int64)
    route_of = np.full(n_tasks, -1, dtype=np.int64)
    dirty = np.empty(n_shifts, dtype=np.int64)
    for t in range(n_tasks):
        lower[t] = t_early[t]
        starts[t] = -1.0
    distance = 0.0
    for k in range(n_shifts):
        here = s_sloc[k]
        for p in range(length[k]):
            t = routes[k, p]
            pos_of[t] = p
            route_of[t] = k
            if t_sync[t] != BREAK_TASK:
                distance += dist[here, t_loc[t]]
                here = t_loc[t]
        if length[k] > 0:
            distance += dist[here, s_eloc[k]]
        _forward(k, 0, routes, length, t_loc, t_dur, t_sync, s_start, s_sloc, s_eloc, s_prof,
                 travel, starts, ends, lower)
    for _ in range(n_pairs + 2):
        for k in range(n_shifts):
            dirty[k] = -1
        changed = False
        for t in range(n_tasks):
            kind = t_sync[t]
            if (kind == SIMULTANEOUS and t < t_partner[t]) or kind == FIRST:
                u = t_partner[t]
                if route_of[t] < 0 or route_of[u] < 0:
                    continue
                a = starts[t]
                b = starts[u]
                if kind == SIMULTANEOUS:
                    need_a = max(a, b)
                    need_b = need_a
                else:
                    need_b = a + t_gmin[t]
                    need_a = b - t_gmax[t]
                if need_a > a + 1e-9:
                    lower[t] = need_a
                    k = route_of[t]
                    if dirty[k] < 0 or pos_of[t] < dirty[k]:
                        dirty[k] = pos_of[t]
                    changed = True
                if need_b > b + 1e-9:
                    lower[u] = need_b
                    k = route_of[u]
                    if dirty[k] < 0 or pos_of[u] < dirty[k]:
                        dirty[k] = pos_of[u]
                    changed = True
        if not changed:
            return distance, True
        for k in range(n_shifts):
            if dirty[k] >= 0:
                _forward(k, dirty[k], routes, length, t_loc, t_dur, t_sync, s_start, s_sloc,
                         s_eloc, s_prof, travel, starts, ends, lower)
    return distance, False


@njit(cache=True)
def cost_of(routes, length, out, n_out, t_visit, t_loc, t_dur, t_early, t_late, t_hard,
            t_lcost, t_sync, t_partner, t_gmin, t_gmax, v_priority, newface, s_start, s_end,
            s_sloc, s_eloc, s_prof, travel, dist, w, starts, ends, lower, n_pairs):
    """The plan's cost: w = (distance, lateness, max lateness, unused) weights."""
    distance, settled = schedule(routes, length, t_loc, t_dur, t_early, t_sync, t_partner,
                                 t_gmin, t_gmax, s_start, s_sloc, s_eloc, s_prof, travel, dist,
                                 starts, ends, lower, n_pairs)
    if not settled:
        return INF
    late_sum = 0.0
    late_max = 0.0
    broken = 0.0
    faces = 0.0
    for k in range(routes.shape[0]):
        for p in range(length[k]):
            t = routes[k, p]
            late = starts[t] - t_late[t]
            if late > 1e-9:
                if t_hard[t]:
                    broken += late
                else:
                    late_sum += late * t_lcost[t]
                    if late > late_max:
                        late_max = late
            faces += newface[k, t]
        if ends[k] > s_end[k] + 1e-9:
            broken += ends[k] - s_end[k]
    left_out = 0.0
    for i in range(n_out):
        left_out += v_priority[out[i]]
    return (w[0] * distance + w[1] * late_sum + w[2] * late_max + faces
            + VIOLATION * broken + UNPLANNED * left_out)


@njit(cache=True)
def _route_distance(routes, length, k, t_loc, t_sync, s_sloc, s_eloc, dist):
    here = s_sloc[k]
    km = 0.0
    for p in range(length[k]):
        t = routes[k, p]
        if t_sync[t] != BREAK_TASK:
            km += dist[here, t_loc[t]]
            here = t_loc[t]
    if length[k] > 0:
        km += dist[here, s_eloc[k]]
    return km


@njit(cache=True)
def _tail_may_go(routes, length, route_of, k, i, j, i_j, fixed, able, t_sync, t_partner):
    """May the tasks of route k after position i move to route j, which keeps its tasks up
    to position i_j? Each must be able there, movable, and never end up on its partner's
    route."""
    for q in range(i + 1, length[k]):
        x = routes[k, q]
        if fixed[x] or t_sync[x] == BREAK_TASK or not able[j, x]:
            return False
        y = t_partner[x]
        if y >= 0:
            if route_of[y] == j and _find(routes, length, j, y) <= i_j:
                return False
            if route_of[y] == k and _find(routes, length, k, y) > i:
                return False
    return True


@njit(cache=True)
def _find(routes, length, k, t):
    for p in range(length[k]):
        if routes[k, p] == t:
            return p
    return -1


@njit(cache=True)
def _remove_at(routes, length, k, p):
    for q in range(p, length[k] - 1):
        routes[k, q] = routes[k, q + 1]
    length[k] -= 1


@njit(cache=True)
def _insert_at(routes, length, k, p, t):
    for q in range(length[k], p, -1):
        routes[k, q] = routes[k, q - 1]
    routes[k, p] = t
    length[k] += 1


@njit(cache=True)
def anneal(routes, length, route_of, out, n_out_arr, v_tasks, v_nparts, able, fixed,
           t_visit, t_loc, t_dur, t_early, t_late, t_hard, t_lcost, t_sync, t_partner,
           t_gmin, t_gmax, v_priority, newface, s_start, s_end, s_sloc, s_eloc, s_prof,
           travel, dist, w, n_pairs, near, iterations, temperature, cooling, seed,
           best_routes, best_length, best_out, best_n_out, best_cost_arr):
    """`iterations` moves of simulated annealing from the plan given (changed in place);
    the best plan seen goes to best_*. Returns the current cost. Moves: a part to another
    place (its route or another able one), two parts of different routes swapped, the ends
    of two routes exchanged, a stretch of 2-3 moved to another route, a stretch of a route
    reversed, a left-out visit put in, a visit taken out. Most relocations and
    swaps pair a task with one of its `near` tasks (the closest by distance that are not its
    partner): where good plans differ from the current one."""
    np.random.seed(seed)
    n_tasks = t_loc.shape[0]
    n_shifts = routes.shape[0]
    starts = np.empty(n_tasks)
    ends = np.empty(n_shifts)
    lower = np.empty(n_tasks)
    n_out = n_out_arr[0]
    current = cost_of(routes, length, out, n_out, t_visit, t_loc, t_dur, t_early, t_late,
                      t_hard, t_lcost, t_sync, t_partner, t_gmin, t_gmax, v_priority, newface,
                      s_start, s_end, s_sloc, s_eloc, s_prof, travel, dist, w, starts, ends,
                      lower, n_pairs)
    saved_routes = routes.copy()
    saved_length = length.copy()
    saved_out = out.copy()
    best = best_cost_arr[0]
    route_km = np.empty(n_shifts)
    for k in range(n_shifts):
        route_km[k] = _route_distance(routes, length, k, t_loc, t_sync, s_sloc, s_eloc, dist)
    for _ in range(iterations):
        move = np.random.randint(0, 100)
        saved_n_out = n_out
        touched_a = -1
        touched_b = -1
        ok = False
        if move < 45:  # relocate one task: next to a task nearby, or anywhere
            t = np.random.randint(0, n_tasks)
            k = route_of[t]
            if k >= 0 and not fixed[t]:
                near_task = -1
                if t_sync[t] == BREAK_TASK or np.random.randint(0, 5) == 0:
                    target = k if t_sync[t] == BREAK_TASK else np.random.randint(0, n_shifts)
                else:
                    near_task = near[t, np.random.randint(0, near.shape[1])]
                    target = route_of[near_task] if near_task >= 0 else -1
                partner = t_partner[t]
                if target >= 0 and able[target, t] and (partner < 0 or route_of[partner] != target):
                    touched_a, touched_b = k, target
                    saved_routes[k, :length[k]] = routes[k, :length[k]]
                    saved_length[k] = length[k]
                    saved_routes[target, :length[target]] = routes[target, :length[target]]
                    saved_length[target] = length[target]
                    _remove_at(routes, length, k, _find(routes, length, k, t))
                    if near_task >= 0:
                        at = _find(routes, length, target, near_task) + np.random.randint(0, 2)
                    else:
                        at = np.random.randint(0, length[target] + 1)
                    _insert_at(routes, length, target, at, t)
                    route_of[t] = target
                    ok = True
        elif move < 60:  # swap two tasks of different routes, mostly near each other
            t = np.random.randint(0, n_tasks)
            if np.random.randint(0, 5) == 0:
                u = np.random.randint(0, n_tasks)
            else:
                u = near[t, np.random.randint(0, near.shape[1])]
                if u < 0:
                    u = t
            k = route_of[t]
            j = route_of[u]
            if (k >= 0 and j >= 0 and k != j and not fixed[t] and not fixed[u]
                    and t_sync[t] != BREAK_TASK and t_sync[u] != BREAK_TASK
                    and able[j, t] and able[k, u]
                    and (t_partner[t] < 0 or route_of[t_partner[t]] != j)
                    and (t_partner[u] < 0 or route_of[t_partner[u]] != k)):
                touched_a, touched_b = k, j
                saved_routes[k, :length[k]] = routes[k, :length[k]]
                saved_length[k] = length[k]
                saved_routes[j, :length[j]] = routes[j, :length[j]]
                saved_length[j] = length[j]
                routes[k, _find(routes, length, k, t)] = u
                routes[j, _find(routes, length, j, u)] = t
                route_of[t] = j
                route_of[u] = k
                ok = True
        elif move < 70:  # exchange the ends of two routes after two tasks near each other
            t = np.random.randint(0, n_tasks)
            k = route_of[t]
            u = near[t, np.random.randint(0, near.shape[1])]
            j = route_of[u] if u >= 0 else -1
            if k >= 0 and j >= 0 and k != j and t_sync[t] != BREAK_TASK:
                i_t = _find(routes, length, k, t)
                i_u = _find(routes, length, j, u)
                movable = (_tail_may_go(routes, length, route_of, k, i_t, j, i_u, fixed,
                                        able, t_sync, t_partner)
                           and _tail_may_go(routes, length, route_of, j, i_u, k, i_t, fixed,
                                            able, t_sync, t_partner))
                if movable and (i_t + 1 < length[k] or i_u + 1 < length[j]):
                    touched_a, touched_b = k, j
                    saved_routes[k, :length[k]] = routes[k, :length[k]]
                    saved_length[k] = length[k]
                    saved_routes[j, :length[j]] = routes[j, :length[j]]
                    saved_length[j] = length[j]
                    n_k = i_t + 1 + (saved_length[j] - i_u - 1)
                    n_j = i_u + 1 + (saved_length[k] - i_t - 1)
                    for q in range(i_u + 1, saved_length[j]):
                        x = saved_routes[j, q]
                        routes[k, i_t + 1 + q - (i_u + 1)] = x
                        route_of[x] = k
                    for q in range(i_t + 1, saved_length[k]):
                        x = saved_routes[k, q]
                        routes[j, i_u + 1 + q - (i_t + 1)] = x
                        route_of[x] = j
                    length[k] = n_k
                    length[j] = n_j
                    ok = True
        elif move < 78:  # move a stretch of 2-3 tasks next to a task near its first
            t = np.random.randint(0, n_tasks)
            k = route_of[t]
            size = np.random.randint(2, 4)
            if k >= 0 and t_sync[t] != BREAK_TASK:
                p0 = _find(routes, length, k, t)
                u = near[t, np.random.randint(0, near.shape[1])]
                target = route_of[u] if u >= 0 else -1
                if p0 + size <= length[k] and target >= 0 and target != k:
                    movable = True
                    for q in range(p0, p0 + size):
                        x = routes[k, q]
                        if (fixed[x] or not able[target, x] or t_sync[x] == BREAK_TASK
                                or (t_partner[x] >= 0 and route_of[t_partner[x]] == target)):
                            movable = False
                    if movable:
                        touched_a, touched_b = k, target
                        saved_routes[k, :length[k]] = routes[k, :length[k]]
                        saved_length[k] = length[k]
                        saved_routes[target, :length[target]] = routes[target, :length[target]]
                        saved_length[target] = length[target]
                        at = _find(routes, length, target, u) + np.random.randint(0, 2)
                        for q in range(size):
                            x = routes[k, p0]
                            _remove_at(routes, length, k, p0)
                            _insert_at(routes, length, target, at + q, x)
                            route_of[x] = target
                        ok = True
        elif move < 90:  # reverse a stretch of one route
            k = np.random.randint(0, n_shifts)
            if length[k] >= 3:
                a = np.random.randint(0, length[k] - 1)
                b = np.random.randint(a + 1, min(length[k], a + 8))
                movable = True
                for p in range(a, b + 1):
                    if fixed[routes[k, p]]:
                        movable = False
                if movable:
                    touched_a = k
                    saved_routes[k, :length[k]] = routes[k, :length[k]]
                    saved_length[k] = length[k]
                    while a < b:
                        x = routes[k, a]
                        routes[k, a] = routes[k, b]
                        routes[k, b] = x
                        a += 1
                        b -= 1
                    ok = True
        elif move < 97:  # put a left-out visit in
            if n_out > 0:
                i = np.random.randint(0, n_out)
                v = out[i]
                first = -1
                placed = True
                for part in range(v_nparts[v]):
                    t = v_tasks[v, part]
                    target = -1
                    for _try in range(8):
                        c = np.random.randint(0, n_shifts)
                        if able[c, t] and c != first:
                            target = c
                            break
                    if target < 0:
                        placed = False
                        break
                    if part == 0:
                        first = target
                        touched_a = target
                    else:
                        touched_b = target
                    saved_routes[target, :length[target]] = routes[target, :length[target]]
                    saved_length[target] = length[target]
                if placed:
                    for part in range(v_nparts[v]):
                        t = v_tasks[v, part]
                        target = touched_a if part == 0 else touched_b
                        _insert_at(routes, length, target,
                                   np.random.randint(0, length[target] + 1), t)
                        route_of[t] = target
                    saved_out[:n_out] = out[:n_out]
                    out[i] = out[n_out - 1]
                    n_out -= 1
                    ok = True
                else:
                    touched_a = -1
                    touched_b = -1
        else:  # take a visit out
            t = np.random.randint(0, n_tasks)
            if route_of[t] >= 0 and t_sync[t] != BREAK_TASK and not fixed[t]:
                v = t_visit[t]
                movable = True
                for part in range(v_nparts[v]):
                    if fixed[v_tasks[v, part]]:
                        movable = False
                if movable:
                    saved_out[:n_out] = out[:n_out]
                    for part in range(v_nparts[v]):
                        u = v_tasks[v, part]
                        k = route_of[u]
                        if part == 0:
                            touched_a = k
                        else:
                            touched_b = k
                        saved_routes[k, :length[k]] = routes[k, :length[k]]
                        saved_length[k] = length[k]
                    for part in range(v_nparts[v]):
                        u = v_tasks[v, part]
                        k = route_of[u]
                        _remove_at(routes, length, k, _find(routes, length, k, u))
                        route_of[u] = -1
                    out[n_out] = v
                    n_out += 1
                    ok = True
        if not ok:
            continue
        # Accepted if cheaper than `bar` (a worse plan now and then, by the temperature).
        # Distance and left-out visits alone bound the new cost from below, in time linear
        # in the two routes touched: most moves fail that bound, and need no schedule.
        bar = current
        if temperature > 0.0:
            bar = current - temperature * np.log(1.0 - np.random.random())
        km_a = _route_distance(routes, length, touched_a, t_loc, t_sync, s_sloc, s_eloc, dist) \
            if touched_a >= 0 else 0.0
        km_b = _route_distance(routes, length, touched_b, t_loc, t_sync, s_sloc, s_eloc, dist) \
            if touched_b >= 0 and touched_b != touched_a else 0.0
        km = 0.0
        for k in range(n_shifts):
            if k != touched_a and k != touched_b:
                km += route_km[k]
        bound = w[0] * (km + km_a + km_b)
        for i in range(n_out):
            bound += UNPLANNED * v_priority[out[i]]
        if bound < bar:
            cost = cost_of(routes, length, out, n_out, t_visit, t_loc, t_dur, t_early, t_late,
                           t_hard, t_lcost, t_sync, t_partner, t_gmin, t_gmax, v_priority,
                           newface, s_start, s_end, s_sloc, s_eloc, s_prof, travel, dist, w,
                           starts, ends, lower, n_pairs)
        else:
            cost = INF
        if cost <= current or cost < bar:
            current = cost
            if touched_a >= 0:
                route_km[touched_a] = km_a
            if touched_b >= 0 and touched_b != touched_a:
                route_km[touched_b] = km_b
            if cost < best - 1e-9:
                best = cost
                best_routes[:, :] = routes
                best_length[:] = length
                best_out[:n_out] = out[:n_out]
                best_n_out[0] = n_out
        else:  # undo: the touched routes and the left-out list as they were
            for k in (touched_a, touched_b):
                if k >= 0:
                    for p in range(length[k]):
                        route_of[routes[k, p]] = -1
            for k in (touched_a, touched_b):
                if k >= 0:
                    length[k] = saved_length[k]
                    routes[k, :length[k]] = saved_routes[k, :length[k]]
            for k in (touched_a, touched_b):
                if k >= 0:
                    for p in range(length[k]):
                        route_of[routes[k, p]] = k
            if n_out != saved_n_out:
                n_out = saved_n_out
                out[:n_out] = saved_out[:n_out]
        temperature *= cooling
    n_out_arr[0] = n_out
    best_cost_arr[0] = best
    return current
