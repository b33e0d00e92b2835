"""Visit-day benchmark: how long does a planner wait for the demo's day around Lycksele to be
planned, and for an urgent visit to be inserted into it, through real HTTP against the real
app on a real database?

    .venv/bin/python bench/visitday.py                       # PostgreSQL (the default URL)
    .venv/bin/python bench/visitday.py --database-url sqlite:////tmp/visitday.sqlite3

It (1) drops, recreates and migrates a benchmark database, (2) loads the demo (7 staff of
Hemsjukvården Lycksele kommun, 50 visits today, planned as the demo does), with the clock set
to 10:00 in Lycksele today so that the figures do not depend on when it runs (half the day
done, half to come), (3) serves the app with uvicorn on a free loopback port, in this process
(the clock is the process's), (4) signs a planner in, and times:

- `POST /api/v1/planning/{day}/solve`: re-plan the whole day (the settings' planning time,
  2.5 s by default; target under 5 s end to end);
- `POST /api/v1/planning/today/urgent-visits`: an urgent visit for one of the unit's patients,
  inserted into today's plan (the re-plan time, 0.4 s by default; target under 1 s);

and prints count, p50, max per request, the plan's figures (planned, km, minutes late) and
how much each urgent visit disturbed the others (visits given to another staff member, visits
whose time moved 10 minutes or more). It also prints the first plan in a fresh process (the
compiled search is loaded from its cache then). This prints figures; it is not a test.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # homeward.py, beside this file

import httpx  # noqa: E402
from homeward import (  # noqa: E402  (also puts src/ on sys.path)
    DEFAULT_URL,
    SECRET_KEY,
    backend_description,
    create_database,
    drop_database,
    free_port,
    safe_url,
)
from sqlalchemy import select  # noqa: E402

SOLVE_TARGET = 5.0
URGENT_TARGET = 1.0


def _serve(app, port: int):
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the server did not start")
        time.sleep(0.05)
    return server, thread


def _summary(name: str, seconds: list[float], target: float) -> str:
    p50, top = statistics.median(seconds), max(seconds)
    verdict = "PASS" if top < target else "FAIL"
    return (f"{name:<34} n={len(seconds):<3} p50 {p50 * 1000:7.0f} ms   max {top * 1000:7.0f} ms"
            f"   target < {target * 1000:.0f} ms: {verdict}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url",
                        default=os.environ.get("HEMMA_BENCH_DATABASE_URL", DEFAULT_URL),
                        help="PostgreSQL or SQLite URL; dropped and recreated on every run")
    parser.add_argument("--solves", type=int, default=3, help="whole-day re-plans to time")
    parser.add_argument("--urgent", type=int, default=10, help="urgent visits to insert")
    parser.add_argument("--seed", type=int, default=20261130)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args(argv)
    url = args.database_url
    workdir = Path(tempfile.mkdtemp(prefix="hemma-bench-"))
    os.environ["HEMMA_SECRET_KEY"] = SECRET_KEY
    os.environ["HEMMA_DATA_DIR"] = str(workdir)
    os.environ["HEMMA_DATABASE_URL"] = url
    os.environ["HEMMA_COOKIE_SECURE"] = "false"
    os.environ.pop("HEMMA_PLANNING_ITERATIONS", None)  # the time budgets, as in production

    from hemma.access.auth import start_session
    from hemma.app import create_app
    from hemma.config import configure, get_settings
    from hemma.db import Database
    from hemma.demo import load_demo
    from hemma.kit.time import at_local, frozen_clock, local_today
    from hemma.migrations.runner import upgrade
    from hemma.models import Patient, Staff, Visit, VisitPlan
    from hemma.web.deps import SESSION_COOKIE

    configure(None)
    settings = get_settings()
    rng = random.Random(args.seed)
    print(f"preparing {safe_url(url)} …", flush=True)
    create_database(url)
    try:
        upgrade(url)
        database = Database(url)
        day = local_today()
        with frozen_clock(at_local(day, "10:00")):
            t0 = time.perf_counter()
            load_demo(database)
            loaded = time.perf_counter() - t0
            with database.session() as s:
                first = s.scalar(select(VisitPlan).where(VisitPlan.day == day))
                first_figures = dict(first.figures)
                unit_id = first.unit_id
                planner = s.scalar(select(Staff).where(Staff.username == "agneta.karlsson"))
                token = start_session(s, planner, "password", client_addr="127.0.0.1",
                                      user_agent="bench")
                patients = [p for p in s.scalars(
                    select(Patient).join(Visit, Visit.patient_id == Patient.id)
                    .where(Visit.unit_id == unit_id, Visit.day == day).distinct())]
            app = create_app(settings, database)
            port = free_port()
            server, thread = _serve(app, port)
            cookies = {SESSION_COOKIE: token}
            solve_times, urgent_times, disturbed, urgent_planned = [], [], [], 0
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", cookies=cookies,
                              timeout=60) as client:
                csrf = _csrf(client)
                headers = {"x-csrf-token": csrf}
                for _ in range(args.solves):
                    t = time.perf_counter()
                    r = client.post(f"/api/v1/planning/{day.isoformat()}/solve", headers=headers)
                    solve_times.append(time.perf_counter() - t)
                    r.raise_for_status()
                    figures = r.json()["figures"]
                for i in range(args.urgent):
                    patient = rng.choice(patients)
                    start = 10 * 60 + 15 + 20 * i  # each a little later, as a morning goes
                    body = {"patient_id": str(patient.id), "kind": "assessment",
                            "earliest": f"{start // 60:02d}:{start % 60:02d}",
                            "latest": f"{(start + 180) // 60:02d}:{(start + 180) % 60:02d}",
                            "duration_minutes": 30, "notes": "bench"}
                    t = time.perf_counter()
                    r = client.post("/api/v1/planning/today/urgent-visits", json=body,
                                    headers=headers)
                    urgent_times.append(time.perf_counter() - t)
                    r.raise_for_status()
                    data = r.json()
                    plan = data["plan"]
                    urgent_planned += any(s["visit_id"] == data["visit_id"]
                                          for route in plan["routes"] for s in route["stops"])
                    kinds = [c["kind"] for c in plan["changes"] if c["visit_id"] != data["visit_id"]]
                    disturbed.append((kinds.count("moved"), kinds.count("retimed")))
                final = plan["figures"]
            server.should_exit = True
            thread.join(timeout=10)
        backend = backend_description(url)
    finally:
        if args.keep:
            print(f"kept the database: {safe_url(url)}")
        else:
            drop_database(url)
            shutil.rmtree(workdir, ignore_errors=True)

    print()
    print(f"database: {backend}")
    print(f"demo day: Hemsjukvården Lycksele kommun, {first_figures['visits']} visits, 7 staff; "
          f"clock 10:00 local")
    print(f"demo load incl. its plans           {loaded:6.2f} s (three days before today, then "
          f"today: read {first_figures.get('load_seconds', 0):.2f} s, search "
          f"{first_figures.get('solve_seconds', 0):.2f} s, in a fresh process)")
    print(f"today's first plan: planned {first_figures['planned']}/{first_figures['visits']}, "
          f"{first_figures['km']} km, {first_figures['late_minutes']} min late, "
          f"{first_figures['new_faces']} new faces")
    print(_summary("re-plan the whole day (HTTP)", solve_times, SOLVE_TARGET))
    print(f"  last re-plan: planned {figures['planned']}/{figures['visits']}, {figures['km']} km, "
          f"{figures['late_minutes']} min late, search {figures.get('solve_seconds')} s, "
          f"{figures.get('iterations')} moves")
    print(_summary("insert an urgent visit (HTTP)", urgent_times, URGENT_TARGET))
    moved = [m for m, _ in disturbed]
    retimed = [r for _, r in disturbed]
    print(f"  urgent visits planned: {urgent_planned}/{args.urgent}; per insertion, other visits "
          f"given to another staff member: mean {statistics.mean(moved):.1f}, max {max(moved)}; "
          f"retimed by 10+ min: mean {statistics.mean(retimed):.1f}, max {max(retimed)}")
    print(f"  after {args.urgent} urgent visits: planned {final['planned']}/{final['visits']}, "
          f"{final['km']} km, {final['late_minutes']} min late")
    ok = max(solve_times) < SOLVE_TARGET and max(urgent_times) < URGENT_TARGET
    print(f"RESULT: {'PASS' if ok else 'FAIL'} (day < {SOLVE_TARGET:.0f} s, urgent < "
          f"{URGENT_TARGET:.0f} s)")
    return 0


def _csrf(client: httpx.Client) -> str:
    """The session's CSRF token, as a page carries it."""
    import re

    page = client.get("/planning")
    page.raise_for_status()
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


if __name__ == "__main__":
    sys.exit(main())
