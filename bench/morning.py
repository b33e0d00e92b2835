"""The load of a real morning: 08:00 in a region, with locust, on loopback only.

    .venv/bin/python bench/morning.py --patients 500 --speed 10      # a few minutes
    .venv/bin/python bench/morning.py                                # 2,000 patients, 15 min in 3
    .venv/bin/python bench/morning.py --find-max --speed 15 --json max.json

Set-up: drops, recreates and migrates `hemma_bench_morning` and loads with Core inserts
(bench/monitoring.py's generator) the region's --patients monitored patients admitted on
their pathway's schedule (two days of values already in), in units of at most --ward-size
(200; 0: one home ward of all), a round unit, five municipal home health units (the
patients' home health spread over them) with visits and shifts for the planned day, ~100
staff (nurses, physicians, coordinators who plan) spread over the units, care relations and
consents; signs the staff in (sessions, API tokens).
Then it starts the production set-up on this machine, on 127.0.0.1 only: `hemma serve
--no-worker --workers 2` (two app processes) and one `hemma worker`.

The scenario (bench/morning_locust.py, `locust --headless` as two subprocesses: the
patients' senders in one, the staff in the other):
  - every patient sends their morning values once within 15 minutes (compressed by --speed),
    from a phone (one POST /api/v1/patients/{id}/observations) or, --gateway-share of them,
    through a home gateway (POST /api/v1/observations/batch, several patients a request);
    ~5% worrying values, which raise alerts;
  - every staff member has the board (/board + /board/stream) and the inbox (/alerts +
    /alerts/stream) open, reloading now and then;
  - 5 planners re-plan their unit's day (GET and POST /api/v1/planning/{day}/solve);
  - 20 physicians run the round (/rounds, /patients/{id}, a decision now and then).

Report: p50/p95/p99 per request type and every failure (locust's stats), alert delivery
latency (alerts.created_at, committed by the POST, to the first notification the worker
wrote for it; and in the live inbox, POST answered → `event: alert`), CPU per component from
/proc (app processes, worker, PostgreSQL, locust, the rest of the machine) and, with
--find-max, the largest morning that held: phone submissions p99 < 1 s, alert delivery p99
< 2 s, no errors.
This prints figures; it is not a test, and exits 0 whatever they are (1 if it crashed).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # monitoring.py, homeward.py

import httpx  # noqa: E402
from homeward import (  # noqa: E402
    ROOT,
    SECRET_KEY,
    create_database,
    drop_database,
    free_port,
    safe_url,
)
from sqlalchemy import create_engine, insert, select, text  # noqa: E402

import monitoring  # noqa: E402
from hemma.access.auth import create_api_token, start_session  # noqa: E402
from hemma.db import Database  # noqa: E402
from hemma.kit.time import at_local, local_today  # noqa: E402
from hemma.migrations.runner import upgrade  # noqa: E402
from hemma.models import CareRelation, DutyShift, Staff, StaffShift, Visit  # noqa: E402
from hemma.web.deps import SESSION_COOKIE  # noqa: E402
from monitoring import (  # noqa: E402
    HSV_LYCKSELE,
    HSV_UMEA,
    KOMMUN_ID,
    ROUND_UNIT,
    WARD,
    critical_values,
    normal_values,
    worrying_values,
)

DATABASE_NAME = "hemma_bench_morning"
MORNING_SECONDS = 15 * 60
TARGET_SUBMIT_P99_MS = 1000.0
TARGET_ALERT_P99_MS = 2000.0
PHONE = "POST observation (phone)"
EXTRA_HSV = [5, 6, 7]  # three more municipal home health units: one planner each
# ~100 staff: 20 physicians (12 on the home ward, 8 on the round unit), a coordinator who
# plans in each of the five home health units, nurses and assistant nurses.
STAFF_MIX = {WARD: [("nurse", 16), ("physician", 12), ("assistant_nurse", 4), ("coordinator", 2)],
             ROUND_UNIT: [("nurse", 8), ("physician", 8), ("assistant_nurse", 2),
                          ("coordinator", 1)],
             HSV_UMEA: [("nurse", 8), ("assistant_nurse", 4), ("coordinator", 1)],
             HSV_LYCKSELE: [("nurse", 6), ("assistant_nurse", 2), ("coordinator", 1)],
             **{u: [("nurse", 5), ("assistant_nurse", 2), ("coordinator", 1)] for u in EXTRA_HSV}}
VISITS_PER_UNIT = 30
# The region's monitored patients are in units of this many at most (--ward-size): a home
# ward has some 20-60 beds, a primary care unit's remote monitoring a few hundred patients;
# 2,000 patients in one unit (every board and worklist of 2,000) is not a region's morning.
WARD_SIZE = 200
FIRST_EXTRA_WARD = 20  # ids of the region's further units
WARD_STAFF = {"nurse": 16, "physician": 12, "assistant_nurse": 4, "coordinator": 2}


def region_units(patients: int, ward_size: int) -> list[int]:
    """The region's units for the monitored patients: WARD first."""
    n = max(1, -(-patients // ward_size)) if ward_size > 0 else 1
    return [WARD, *range(FIRST_EXTRA_WARD, FIRST_EXTRA_WARD + n - 1)]


def ward_mix(units: list[int]) -> dict[int, list[tuple[str, int]]]:
    """The home ward's ~34 staff spread over the region's units: WARD keeps three nurses
    (the generator's duty shifts), every unit has a nurse and a physician (more staff when
    there are more units than that), the rest round-robin."""
    mix = {u: dict.fromkeys(WARD_STAFF, 0) for u in units}
    # A larger region has more units, each with its nurse and physician at least.
    wanted = {**WARD_STAFF, "nurse": max(WARD_STAFF["nurse"], len(units) + 2),
              "physician": max(WARD_STAFF["physician"], len(units))}
    for profession, count in wanted.items():
        first = min(3, count) if profession == "nurse" else 0
        mix[WARD][profession] += first
        for j in range(count - first):
            mix[units[(j + (1 if profession == "nurse" and len(units) > 1 else 0))
                      % len(units)]][profession] += 1
    return {u: [(p, c) for p, c in m.items() if c] for u, m in mix.items()}


def _default_url() -> str:
    base = os.environ.get("HEMMA_BENCH_DATABASE_URL",
                          "postgresql+psycopg://hemma:hemma@127.0.0.1:5432/hemma_bench")
    return base.rsplit("/", 1)[0] + "/" + DATABASE_NAME


# --- Set-up --------------------------------------------------------------------------------


def load(url: str, patients: int, seed: int, ward_size: int = WARD_SIZE) -> dict:
    """The region, with monitoring.py's generator (its units and staff mix widened here), then
    the monitored patients spread over the region's units of at most `ward_size` each (0:
    all in one), then the home health units' planned day. Returns the ids the scenario
    needs."""
    wards = region_units(patients, ward_size)
    monitoring.STAFF_MIX.clear()
    monitoring.STAFF_MIX.update({**STAFF_MIX, **ward_mix(wards)})
    monitoring.UNITS[:] = [u for u in monitoring.UNITS
                           if u[0] not in EXTRA_HSV and u[0] < FIRST_EXTRA_WARD]
    for uid, name in zip(EXTRA_HSV, ("Vindeln", "Vännäs", "Robertsfors"), strict=True):
        monitoring.UNITS.append((uid, KOMMUN_ID, f"Hemsjukvården {name}", "home_health", 0))
    for k, uid in enumerate(wards[1:], start=2):
        monitoring.UNITS.append((uid, monitoring.REGION_ID, f"Hemsjukvårdsteam {k}",
                                 "hospital_clinic", ward_size))
    data = monitoring.generate(url, n_load=patients, n_probe=0, n_batch=0, n_round=60, days=1,
                               seed=seed)
    unit_of = {str(pid): wards[i % len(wards)] for i, pid in enumerate(data.load_patients)}
    rng = random.Random(seed)
    day = local_today() + timedelta(days=1)  # the planned day: tomorrow (today may be over)
    hsv_units = [HSV_UMEA, HSV_LYCKSELE, *EXTRA_HSV]
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            staff = conn.execute(select(Staff.id, Staff.unit_id, Staff.profession)).all()
            by = {}
            for sid, unit, prof in staff:
                by.setdefault(unit, {}).setdefault(prof, []).append(sid)
            now = datetime.now(UTC)
            # Each monitored patient to their unit (the generator put them all in WARD): the
            # episode's responsible unit and the unit's care relation; who is on duty there.
            moves = [{"pid": uuid.UUID(pid), "unit": unit} for pid, unit in unit_of.items()
                     if unit != WARD]
            if moves:
                conn.execute(text("UPDATE episodes SET responsible_unit_id = :unit "
                                  "WHERE patient_id = :pid"), moves)
                conn.execute(text(f"UPDATE care_relations SET unit_id = :unit, "
                                  f"documented_by_unit_id = :unit "
                                  f"WHERE patient_id = :pid AND unit_id = {WARD}"), moves)
                conn.execute(insert(DutyShift), [
                    {"unit_id": unit, "staff_id": by[unit][prof][0], "role": role,
                     "starts_at": now - timedelta(hours=4), "ends_at": now + timedelta(hours=8)}
                    for unit in wards[1:] for prof, role in (("nurse", "nurse"),
                                                            ("physician", "physician_on_call"))
                    if by[unit].get(prof)])
            # The municipality's home health relations (the generator's, all to HSV_UMEA)
            # spread over its five units the same way.
            if ward_size > 0:
                conn.execute(text(f"UPDATE care_relations SET unit_id = :unit, "
                                  f"documented_by_unit_id = :unit "
                                  f"WHERE patient_id = :pid AND unit_id = {HSV_UMEA}"),
                             [{"pid": pid, "unit": hsv_units[i % len(hsv_units)]}
                              for i, pid in enumerate(data.load_patients)])
            relations, visits, shifts, moved = [], [], [], []
            for k, unit in enumerate(hsv_units):
                planner = by[unit]["coordinator"][0]
                for j, pid in enumerate(data.load_patients[k * VISITS_PER_UNIT:
                                                           (k + 1) * VISITS_PER_UNIT]):
                    relations.append({
                        "id": monitoring._Gen(seed * 100 + k * 1000 + j, now).uuid(),
                        "patient_id": pid, "episode_id": None, "unit_id": unit,
                        "staff_id": None, "role": "Kommunal hemsjukvård",
                        "starts_at": now - timedelta(days=30), "documented_by_unit_id": unit,
                        "ends_at": None, "ended_by_id": None, "created_by_id": planner})
                    moved.append({"pid": pid, "lat": 64.5 + rng.uniform(0, 0.25),
                                  "lon": 18.4 + rng.uniform(0, 0.6)})
                    start = 7 * 60 + 30 + rng.randrange(0, 7 * 60, 15)
                    earliest = at_local(day, f"{start // 60:02d}:{start % 60:02d}")
                    visits.append({
                        "id": monitoring._Gen(seed * 100 + k * 1000 + 500 + j, now).uuid(),
                        "care_request_id": None, "patient_id": pid, "unit_id": unit, "day": day,
                        "kind": rng.choice(["vital_signs", "assessment", "other"]),
                        "earliest": earliest, "latest": earliest + timedelta(hours=2),
                        "duration_minutes": rng.choice([15, 20, 30, 45]), "skills": [],
                        "staff_count": 1, "sync": None, "gap_min": 0, "gap_max": 0,
                        "hard": True, "priority": 2, "urgent": False, "notes": None,
                        "status": "planned", "created_at": now})
                for sid in by[unit]["nurse"] + by[unit]["assistant_nurse"]:
                    shifts.append({
                        "staff_id": sid, "unit_id": unit, "day": day,
                        "starts_at": at_local(day, "07:00"), "ends_at": at_local(day, "16:00"),
                        "start_place": "office", "start_latitude": 64.6,
                        "start_longitude": 18.7, "end_latitude": 64.6, "end_longitude": 18.7,
                        "breaks": [{"earliest": "11:00", "latest": "13:00", "minutes": 30}],
                        "profile": "car"})
            conn.execute(insert(CareRelation), relations)
            conn.execute(insert(Visit), visits)
            conn.execute(insert(StaffShift), shifts)
            conn.execute(text("UPDATE patients SET latitude = :lat, longitude = :lon "
                              "WHERE id = :pid"), moved)
    finally:
        engine.dispose()
    return {"data": data, "day": day, "staff": by, "hsv_units": hsv_units, "wards": wards,
            "unit_of": unit_of}


def sign_in(url: str, region: dict) -> dict:
    """Sessions for every staff member's board and inbox, API tokens for the nurses who send
    values (the phones' stand-in, as in monitoring.py), the gateway, the planners and the
    physicians."""
    by = region["staff"]
    database = Database(url)
    out = {"cookies": [], "nurse_tokens": [], "planners": [], "physicians": []}
    try:
        with database.session() as s:
            everyone = s.scalars(select(Staff).order_by(Staff.id)).all()
            for person in everyone:
                out["cookies"].append(start_session(s, person, "password",
                                                    client_addr="127.0.0.1",
                                                    user_agent="hemma-bench-morning"))
            # A sender's token per unit (its first nurse: the unit's patients are theirs to
            # record for), and a gateway's (its last nurse).
            out["gateway_tokens"] = []
            for unit in region["wards"]:
                nurses = by[unit]["nurse"]
                out["nurse_tokens"].append(create_api_token(s, s.get(Staff, nurses[0]),
                                                            "morning"))
                out["gateway_tokens"].append(create_api_token(s, s.get(Staff, nurses[-1]),
                                                              "morning gateway"))
            for unit in region["hsv_units"]:
                out["planners"].append(create_api_token(
                    s, s.get(Staff, by[unit]["coordinator"][0]), "morning planner"))
            for sid in [p for unit in region["wards"] for p in by[unit].get("physician", [])] \
                    + by[ROUND_UNIT]["physician"]:
                out["physicians"].append({
                    "token": create_api_token(s, s.get(Staff, sid), "morning round"),
                    "cookie": start_session(s, s.get(Staff, sid), "password",
                                            client_addr="127.0.0.1",
                                            user_agent="hemma-bench-morning")})
            out["inbox_after"] = s.scalar(text("SELECT coalesce(max(id), 0) FROM alert_events"))
    finally:
        database.dispose()
    return out


# --- Processes -----------------------------------------------------------------------------


class Proc:
    def __init__(self, name: str, argv: list[str], env: dict, logs: Path):
        self.name, self.log = name, logs / f"{name}.log"
        with open(self.log, "wb") as out:
            self.popen = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT,
                                          cwd=ROOT, start_new_session=True)
        self.pid = self.popen.pid

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.pid, signal.SIGKILL)
                self.popen.wait(10)
        text_ = self.log.read_text(errors="replace")
        if "Traceback" in text_:
            print(f"--- {self.name} logged errors (last 3000 characters) ---\n{text_[-3000:]}",
                  file=sys.stderr)


def hemma_env(url: str, workdir: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEMMA_")}
    env.update(HEMMA_DATABASE_URL=url, HEMMA_SECRET_KEY=SECRET_KEY,
               HEMMA_DATA_DIR=str(workdir / "data"), HEMMA_COOKIE_SECURE="false",
               HEMMA_AUDIT_CHECKPOINT_FILE=str(workdir / "checkpoints.jsonl"),
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT / "src"),
                                                        env.get("PYTHONPATH")])),
               PYTHONUNBUFFERED="1")
    return env


@contextmanager
def production(url: str, workdir: Path, app_processes: int = 2, ingest_processes: int = 0):
    """`hemma serve --no-worker --workers N` (2) and one `hemma worker`, on 127.0.0.1; with
    `ingest_processes`, also a `hemma serve` of that many processes of its own for the
    patients' submissions (what the proxy sends there: deploy/nginx/hemma.conf)."""
    env = hemma_env(url, workdir)
    procs: list[Proc] = []
    groups = [("serve", free_port(), app_processes)] + ([("ingest", free_port(), ingest_processes)]
                                           if ingest_processes else [])
    try:
        for name, port, n in groups:
            procs.append(Proc(name, [sys.executable, "-m", "hemma", "serve", "--no-worker",
                                     "--workers", str(n), "--host", "127.0.0.1", "--port",
                                     str(port)], env, workdir))
        procs.append(Proc("worker", [sys.executable, "-m", "hemma", "worker"], env, workdir))
        bases = [f"http://127.0.0.1:{port}" for _, port, _ in groups]
        deadline = time.monotonic() + 120
        for (_, _, n), base, proc in zip(groups, bases, procs, strict=False):
            while True:
                for p in procs:
                    if p.popen.poll() is not None:
                        raise RuntimeError(f"{p.name} exited:\n"
                                           + p.log.read_text(errors="replace")[-3000:])
                try:
                    if httpx.get(f"{base}/api/v1/health", timeout=2).status_code == 200 and \
                            len(monitoring._children(proc.pid)) >= (n if n > 1 else 0):
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("hemma serve did not answer within 120 s")
                time.sleep(0.3)
        yield bases[0], bases[-1], {p.name: p.pid for p in procs}
    finally:
        for p in procs:
            p.stop()


def _tree(root: int) -> set[int]:
    out, todo = {root}, [root]
    while todo:
        for child in monitoring._children(todo.pop()):
            if child not in out:
                out.add(child)
                todo.append(child)
    return out


def cpu_sample(roots: dict[str, int], database: str) -> dict[int, tuple[str, float]]:
    """{pid: (component, CPU seconds so far)}: each root's process tree, PostgreSQL (our
    database's backends and the shared background processes), the rest ("other")."""
    return monitoring.proc_cpu({pid: name for name, root in roots.items()
                                for pid in _tree(root)}, database)


def cpu_used(before: dict, after: dict, seconds: float) -> dict[str, float]:
    """% of one core per component between two samples."""
    used: dict[str, float] = {}
    for pid, (kind, cpu) in after.items():
        used[kind] = used.get(kind, 0.0) + cpu - before.get(pid, (kind, 0.0))[1]
    return {k: round(100 * v / seconds, 1) for k, v in sorted(used.items())}


# --- The scenario --------------------------------------------------------------------------


def plan_morning(region: dict, creds: dict, *, ingest_base: str, speed: float,
                 gateway_share: float,
                 worrying: float, seed: int, workdir: Path, lead: float, tail: float,
                 staff: bool, planners: int) -> tuple[Path, dict]:
    rng = random.Random(seed)
    window = MORNING_SECONDS / speed
    patients = [str(p) for p in region["data"].load_patients]
    rng.shuffle(patients)
    n_gateway = int(len(patients) * gateway_share)
    phone_items, gateway_patients = [], patients[:n_gateway]
    n_worrying = 0

    def values() -> tuple[bool, dict]:
        nonlocal n_worrying
        if rng.random() < worrying:
            n_worrying += 1
            return True, critical_values(rng) if rng.random() < 0.5 else worrying_values(rng)
        return False, normal_values(rng)

    # Most values come early: a triangular spread over the window, peaking at its start.
    token_of = {unit: k for k, unit in enumerate(region["wards"])}  # a sender of the unit
    for pid in patients[n_gateway:]:
        w, v = values()
        phone_items.append([window * rng.triangular(0, 1, 0), pid, w, v,
                            token_of[region["unit_of"][pid]]])
    phone_items.sort()
    gateway_items = []
    by_unit: dict[int, list[str]] = {}
    for pid in gateway_patients:
        by_unit.setdefault(region["unit_of"][pid], []).append(pid)
    for unit, theirs in sorted(by_unit.items()):
        for i in range(0, len(theirs), 10):  # a gateway forwards 10 patients' values
            gateway_items.append([window * rng.triangular(0, 1, 0),
                                  [[pid, *values()] for pid in theirs[i:i + 10]],
                                  token_of[unit]])
    gateway_items.sort()
    start_at = time.time() + lead
    plan = {
        "seed": seed, "speed": speed, "start_at": start_at, "phone_items": phone_items,
        "gateway_items": gateway_items, "phone_users": max(20, min(400, len(phone_items) // 4)),
        "gateway_users": 4, "nurse_tokens": creds["nurse_tokens"],
        "gateway_tokens": creds["gateway_tokens"], "cookie_name": SESSION_COOKIE,
        "staff_cookies": creds["cookies"], "inbox_after": creds["inbox_after"],
        "planner_tokens": creds["planners"][:planners], "physicians": creds["physicians"],
        "planning_day": region["day"].isoformat(), "tail": tail,
        "posted_file": str(workdir / "posted.txt"), "drained_file": str(workdir / "drained"),
        "staff": staff, "ingest_base": ingest_base}
    path = workdir / "plan.json"
    path.write_text(json.dumps(plan))
    return path, {"window_s": window, "phone": len(phone_items), "gateway": n_gateway,
                  "gateway_batches": len(gateway_items), "worrying": n_worrying,
                  "start_at": start_at}


# The locust users of each load generator process: the patients' senders in one, the staff
# in another (hundreds of streams parsed in Python must not delay the senders' clock).
SUBMISSIONS = ("PhoneUser", "GatewayUser")
STAFF = ("StaffUser", "PlannerUser", "PhysicianUser")


def run_locust(base: str, plan_path: Path, role: str, users: int, spawn_rate: float,
               seconds: float, workdir: Path, env: dict) -> tuple[subprocess.Popen, Path]:
    """One locust process of the morning: `role` "submissions" or "staff" (its user
    classes only), with its own CSV and log."""
    prefix = workdir / f"locust-{role}"
    argv = [sys.executable, "-m", "locust", "-f", str(ROOT / "bench" / "morning_locust.py"),
            "--headless", "-H", base, "-u", str(users), "-r", str(spawn_rate),
            "--run-time", f"{int(seconds)}s", "--stop-timeout", "5", "--csv", str(prefix),
            "--only-summary", "--loglevel", "WARNING", "--exit-code-on-error", "0",
            *(SUBMISSIONS if role == "submissions" else STAFF)]
    log = open(workdir / f"locust-{role}.log", "wb")
    proc = subprocess.Popen(argv, env=dict(env, MORNING_PLAN=str(plan_path), MORNING_ROLE=role),
                            stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    return proc, prefix


def read_stats(prefix: Path) -> tuple[list[dict], list[dict]]:
    rows, failures = [], []
    with open(f"{prefix}_stats.csv", newline="") as f:
        for r in csv.DictReader(f):
            if r["Name"] == "Aggregated":
                continue
            rows.append({"type": r["Type"], "name": r["Name"], "count": int(r["Request Count"]),
                         "failures": int(r["Failure Count"]),
                         "p50_ms": float(r["50%"] or 0), "p95_ms": float(r["95%"] or 0),
                         "p99_ms": float(r["99%"] or 0), "max_ms": float(r["Max Response Time"]
                                                                           or 0)})
    if Path(f"{prefix}_failures.csv").exists():
        with open(f"{prefix}_failures.csv", newline="") as f:
            failures = [{"method": r["Method"], "name": r["Name"], "error": r["Error"],
                         "occurrences": int(r["Occurrences"])} for r in csv.DictReader(f)]
    return rows, failures


def alert_delivery(url: str, since: datetime) -> dict:
    """Alerts raised since `since`: alert created (in the POST's transaction) → its first
    notification (written by the worker when it delivered the alert)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT extract(epoch FROM min(n.created_at) - a.created_at) * 1000 "
                "FROM alerts a LEFT JOIN notifications n ON n.alert_id = a.id "
                "WHERE a.created_at >= :since GROUP BY a.id, a.created_at"),
                {"since": since}).all()
            pending = conn.execute(text(
                "SELECT count(*) FROM outbox WHERE delivered_at IS NULL")).scalar()
    finally:
        engine.dispose()
    ms = sorted(float(r[0]) for r in rows if r[0] is not None)
    return {"alerts": len(rows), "delivered": len(ms), "undelivered": len(rows) - len(ms),
            "outbox_pending": pending, "p50_ms": round(monitoring._pct(ms, 50), 1) if ms else None,
            "p99_ms": round(monitoring._pct(ms, 99), 1) if ms else None,
            "max_ms": round(ms[-1], 1) if ms else None}


class WaitSampler:
    """What this database's sessions are doing, ten times a second over the morning
    (pg_stat_activity): the mean number in a transaction, and what the active ones wait on.
    Many waiting on a lock, with PostgreSQL's CPU low, means requests queue on each other's
    rows (the access log's chain head is one per organisation)."""

    def __init__(self, url: str):
        import threading

        self.engine = create_engine(url, pool_size=1)
        self.samples = 0
        self.counts: dict[str, int] = {}
        self.blocked: dict[tuple[str, str], int] = {}  # (waiting statement, blocker's last)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(5)
        self.engine.dispose()

    def _run(self) -> None:
        query = text("SELECT state, wait_event_type, wait_event FROM pg_stat_activity "
                     "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                     "AND state <> 'idle'")
        with self.engine.connect() as conn:
            while not self._stop.wait(0.1):
                rows = conn.execute(query).all()
                conn.commit()
                self.samples += 1
                for state, kind, event in rows:
                    key = state if state != "active" else (
                        f"active, waiting on {kind}:{event}" if kind else "active, working")
                    if kind == "Client" and state == "active":
                        continue  # a LISTEN connection waiting for the next notification
                    self.counts[key] = self.counts.get(key, 0) + 1
                if any(kind == "Lock" for _, kind, _ in rows):
                    for waiting, blocker in conn.execute(self.BLOCKERS).all():
                        pair = (_statement(waiting), _statement(blocker))
                        self.blocked[pair] = self.blocked.get(pair, 0) + 1
                    conn.commit()

    # Who waits for whom: the waiting statement, and the last statement of the session that
    # holds the lock (an idle-in-transaction blocker's is what it did before it stalled).
    BLOCKERS = text(
        "SELECT a.query, b.query FROM pg_stat_activity a "
        "CROSS JOIN LATERAL unnest(pg_blocking_pids(a.pid)) AS bp(pid) "
        "JOIN pg_stat_activity b ON b.pid = bp.pid "
        "WHERE a.datname = current_database() AND a.wait_event_type = 'Lock'")

    def figures(self) -> dict[str, float]:
        n = max(1, self.samples)
        return {k: round(v / n, 2) for k, v in sorted(self.counts.items(),
                                                        key=lambda kv: -kv[1])}

    def blockers(self, top: int = 5) -> list[dict]:
        """The most frequent (waiting, blocking) statement pairs, as mean sessions."""
        n = max(1, self.samples)
        return [{"waiting": w, "blocker": b, "sessions": round(c / n, 2)}
                for (w, b), c in sorted(self.blocked.items(), key=lambda kv: -kv[1])[:top]]


def _statement(sql: str | None) -> str:
    return " ".join((sql or "").split())[:110]


def app_durations(logs: list[Path], since: datetime) -> list[dict]:
    """p50/p99 per route of the app's own request lines (hemma.http: arrival at the app to
    the end of the answer, the wait for admission included), from `since`: set beside
    locust's figures, what is left is the wait before the app (connect, accept queue)."""
    by_route: dict[str, list[float]] = {}
    start = since.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    lines = [line for log in logs if log.exists()
             for line in log.read_text(errors="replace").splitlines()]
    for line in lines:
        if '"hemma.http"' not in line:
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("time", "") < start or "duration_ms" not in entry:
            continue
        by_route.setdefault(f"{entry.get('method')} {entry.get('route')}", []).append(
            entry["duration_ms"])
    out = []
    for route, ms in sorted(by_route.items()):
        ms.sort()
        out.append({"route": route, "count": len(ms), "p50_ms": ms[len(ms) // 2],
                    "p99_ms": ms[min(len(ms) - 1, int(len(ms) * 0.99))]})
    return out


def app_warnings(logs: dict[str, Path], since: datetime, top: int = 6) -> list[dict]:
    """The app's warnings and errors from `since`, counted by process group and message
    (digits folded, so one kind of warning is one line): what went wrong inside."""
    import re

    start = since.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    counts: dict[tuple[str, str], int] = {}
    for group, log in logs.items():
        if not log.exists():
            continue
        for line in log.read_text(errors="replace").splitlines():
            if '"level": "WARNING"' not in line and '"level": "ERROR"' not in line:
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("time", "") < start:
                continue
            message = re.sub(r"\d+(\.\d+)?", "N", str(entry.get("message", "")))[:120]
            key = (group, f"{entry.get('logger')}: {message}")
            counts[key] = counts.get(key, 0) + 1
    return [{"process": g, "message": m, "count": c}
            for (g, m), c in sorted(counts.items(), key=lambda kv: -kv[1])[:top]]


def one_morning(url: str, patients: int, args) -> dict:
    print(f"\n=== a morning of {patients:,} patients: {safe_url(url)} ===", flush=True)
    drop_database(url)
    create_database(url)
    try:
        t0 = time.perf_counter()
        upgrade(url)
        region = load(url, patients, args.seed, args.ward_size)
        creds = sign_in(url, region)
        print(f"loaded in {time.perf_counter() - t0:.0f} s: {region['data'].counts}; "
              f"{len(creds['cookies'])} staff signed in", flush=True)
        with tempfile.TemporaryDirectory(prefix="hemma-morning-") as tmp, ExitStack() as stack:
            workdir = Path(tmp)
            base, ingest_base, pids = stack.enter_context(
                production(url, workdir, args.app_processes, args.ingest_processes))
            # Before 08:00 locust starts its users a few a second: the staff open their
            # boards and inboxes and the phone pool is ready; the morning starts after.
            spawn_rate = 4.0
            lead = 10.0 + (30 if args.patients_only else len(creds["cookies"]) + 30) / spawn_rate
            plan_path, shape = plan_morning(region, creds, speed=args.speed,
                                            gateway_share=args.gateway_share,
                                            worrying=args.worrying, seed=args.seed,
                                            workdir=workdir, lead=lead, tail=args.tail,
                                            staff=not args.patients_only,
                                            planners=args.planners, ingest_base=ingest_base)
            window = shape["window_s"]
            plan = json.loads(plan_path.read_text())
            users = plan["phone_users"] + plan["gateway_users"] + (
                len(plan["staff_cookies"]) + len(plan["planner_tokens"])
                + len(plan["physicians"]) if plan["staff"] else 0)
            seconds = lead + 3 * window + args.tail + 60  # a limit: it ends when drained
            print(f"08:00: {shape['phone']} phones and {shape['gateway']} patients behind "
                  f"gateways ({shape['gateway_batches']} batches) within 15 min compressed "
                  f"{args.speed:g}× into {window:.0f} s; {shape['worrying']} worrying; "
                  + ("no staff" if args.patients_only else
                     f"{len(plan['staff_cookies'])} staff with board and inbox, "
                     f"{len(plan['planner_tokens'])} planners, {len(plan['physicians'])} "
                     "physicians") + f"; {users} locust users, started over {lead:.0f} s before 08:00",
                  flush=True)
            since = datetime.now(UTC)
            senders = plan["phone_users"] + plan["gateway_users"]
            # The pool of senders is ready before 08:00 (they only wait until then).
            generators = [run_locust(base, plan_path, "submissions", senders,
                                     max(spawn_rate, senders / max(1.0, lead - 10)),
                                     seconds, workdir, hemma_env(url, workdir))]
            if users > senders:
                generators.append(run_locust(base, plan_path, "staff", users - senders,
                                             spawn_rate, seconds, workdir,
                                             hemma_env(url, workdir)))
            roots = {"app": pids["serve"], "worker": pids["worker"],
                     "locust": generators[0][0].pid}
            if len(generators) > 1:
                roots["locust staff"] = generators[1][0].pid
            if "ingest" in pids:
                roots["ingest"] = pids["ingest"]
            time.sleep(lead)  # measure CPU over the morning itself
            waits = stack.enter_context(WaitSampler(url))
            before, t_cpu = cpu_sample(roots, DATABASE_NAME), time.perf_counter()
            # The last sample while locust still runs (a finished process leaves /proc).
            after, t_after = before, t_cpu
            deadline = time.monotonic() + seconds + 120
            while any(g.poll() is None for g, _ in generators) \
                    and time.monotonic() < deadline:
                after, t_after = cpu_sample(roots, DATABASE_NAME), time.perf_counter()
                time.sleep(1)
            for g, _ in generators:
                if g.poll() is None:
                    g.kill()
                    g.wait()
            cpu = cpu_used(before, after, t_after - t_cpu)
            sessions = waits.figures()
            blockers = waits.blockers()
            morning_s = t_after - t_cpu
            time.sleep(3)  # the last alerts' delivery
            delivery = alert_delivery(url, since)
            stats, failures = [], []
            for _, prefix in generators:
                its_stats, its_failures = read_stats(prefix)
                stats += its_stats
                failures += its_failures
            in_app = app_durations([workdir / "serve.log", workdir / "ingest.log"], since)
            warnings = app_warnings({"pages": workdir / "serve.log",
                                     "ingest": workdir / "ingest.log",
                                     "worker": workdir / "worker.log"}, since)
            for role in ("submissions", "staff"):
                log = workdir / f"locust-{role}.log"
                tail = log.read_text(errors="replace") if log.exists() else ""
                if "Traceback" in tail:
                    print(f"--- locust ({role}) logged errors ---\n" + tail[-3000:],
                          file=sys.stderr)
    finally:
        if args.keep:
            print(f"kept the database: {safe_url(url)}")
        else:
            drop_database(url)
    phone = next((r for r in stats if r["name"] == PHONE), None)
    return {"patients": patients, "speed": args.speed, "window_s": round(window, 1),
            "morning_s": round(morning_s, 1),
            "shape": {k: v for k, v in shape.items() if k != "start_at"}, "requests": stats,
            "failures": failures, "alert_delivery": delivery, "cpu_percent_of_one_core": cpu,
            "database_sessions": sessions, "lock_waits": blockers, "in_app": in_app,
            "warnings": warnings,
            "phone_p99_ms": phone["p99_ms"] if phone else None,
            "errors": sum(r["failures"] for r in stats)}


def report(r: dict) -> None:
    print(f"\n--- {r['patients']:,} patients, 15 min compressed {r['speed']:g}× into "
          f"{r['window_s']:.0f} s (so {r['speed']:g}× the real rate of submissions); all "
          f"answered and the staff's tail done after {r['morning_s']:.0f} s ---")
    print(f"{'type':<6} {'request':<44} {'count':>6} {'fail':>5} {'p50':>7} {'p95':>7} "
          f"{'p99':>7} {'max':>7}  (ms)")
    for s in r["requests"]:
        print(f"{s['type']:<6} {s['name'][:44]:<44} {s['count']:>6} {s['failures']:>5} "
              f"{s['p50_ms']:>7.0f} {s['p95_ms']:>7.0f} {s['p99_ms']:>7.0f} {s['max_ms']:>7.0f}")
    print("in the app (hemma.http lines: arrival to answer, admission wait included):")
    for a in r["in_app"]:
        if a["count"] >= 5 and not a["route"].endswith("/stream"):
            print(f"       {a['route'][:44]:<44} {a['count']:>6}       {a['p50_ms']:>7.0f} "
                  f"{'':>7} {a['p99_ms']:>7.0f}")
    print(f"errors: {r['errors']} (bar: 0)")
    for f in r["failures"]:
        print(f"  {f['occurrences']}× {f['method']} {f['name']}: {f['error'][:200]}")
    d = r["alert_delivery"]
    print(f"alert delivery (alert committed → its first notification, from the database): "
          f"{d['alerts']} alerts, {d['delivered']} delivered, p50 {d['p50_ms']} ms, "
          f"p99 {d['p99_ms']} ms, max {d['max_ms']} ms; outbox left {d['outbox_pending']} "
          f"(bar p99 < {TARGET_ALERT_P99_MS:.0f} ms: "
          f"{'met' if d['p99_ms'] is not None and d['p99_ms'] < TARGET_ALERT_P99_MS else 'NOT met'})")
    print("CPU over the morning (100% = one core; 'other' is everyone else on this shared "
          "machine): " + ", ".join(f"{k} {v:.0f}%" for k, v in
                                    r["cpu_percent_of_one_core"].items()))
    print("PostgreSQL sessions of this database, mean at any moment: " + (", ".join(
        f"{v:g} {k}" for k, v in r["database_sessions"].items()) or "none busy"))
    for w in r.get("warnings") or []:
        print(f"  {w['count']}× logged by {w['process']}: {w['message']}")
    for pair in r.get("lock_waits") or []:
        print(f"  {pair['sessions']:g} waiting on a lock: {pair['waiting']!r}\n"
              f"      held by a session whose last statement was {pair['blocker']!r}")
    p99 = r["phone_p99_ms"]
    print(f"RESULT phone submission p99 {p99} ms (bar < {TARGET_SUBMIT_P99_MS:.0f} ms), "
          f"alert delivery p99 {d['p99_ms']} ms (bar < {TARGET_ALERT_P99_MS:.0f} ms), "
          f"errors {r['errors']}: {'held' if held(r) else 'NOT held'}")


def next_size(results: list[dict], args) -> int | None:
    """The next morning to try when looking for the largest that holds: double while every
    one held (--max-patients at most), halve while none did (down to a tenth of the first),
    then halve the gap between the largest held and the smallest not held until it is at
    most --resolution patients. None: done."""
    good = [r["patients"] for r in results if held(r)]
    bad = [r["patients"] for r in results if not held(r)]
    if not bad:
        n = min(max(good) * 2, args.max_patients)
        return n if n > max(good) else None
    if not good:
        n = min(bad) // 2
        return n if n >= max(50, args.patients // 10) else None
    low = max(good)
    above = [x for x in bad if x > low]  # a smaller one failed while a larger held: noise
    if not above or min(above) - low <= args.resolution:
        return None
    return (low + min(above)) // 2


def held(r: dict) -> bool:
    """Every bar of the morning: the patients' submissions p99 < 1 s, alert delivery p99
    < 2 s (when there were alerts), no error at all (staff's requests and streams too)."""
    alert_p99 = r["alert_delivery"]["p99_ms"]
    return (r["phone_p99_ms"] is not None and r["phone_p99_ms"] < TARGET_SUBMIT_P99_MS
            and (alert_p99 is None or alert_p99 < TARGET_ALERT_P99_MS)
            and r["errors"] == 0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=_default_url())
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--ward-size", type=int, default=WARD_SIZE,
                        help="the region's monitored patients in units of at most this many "
                             "(0: all in one home ward)")
    parser.add_argument("--speed", type=float, default=5.0,
                        help="compress the 15-minute morning by this factor (5: into 3 min)")
    parser.add_argument("--gateway-share", type=float, default=0.2)
    parser.add_argument("--worrying", type=float, default=0.05)
    parser.add_argument("--tail", type=float, default=20.0,
                        help="seconds the staff stay on after the last submission is due")
    parser.add_argument("--find-max", action="store_true",
                        help="double --patients while the phone p99 stays under 1 s with no "
                             "errors (halve it while it does not), then halve the gap to "
                             "--resolution, and report the largest morning that held")
    parser.add_argument("--max-patients", type=int, default=64000)
    parser.add_argument("--resolution", type=int, default=1000, metavar="N",
                        help="--find-max: stop when the largest morning held and the "
                             "smallest not held are at most N patients apart")
    parser.add_argument("--planners", type=int, default=5, choices=range(6),
                        help="planners re-planning their unit's day (0-5)")
    parser.add_argument("--app-processes", type=int, default=2, metavar="N",
                        help="app processes for the staff's pages (and, without "
                             "--ingest-processes, the submissions too)")
    parser.add_argument("--ingest-processes", type=int, default=0, metavar="N",
                        help="also run N app processes of their own for the patients' "
                             "submissions (phones and gateways go there), as a proxy would "
                             "route them (deploy/nginx/hemma.conf)")
    parser.add_argument("--patients-only", action="store_true",
                        help="no staff, planners or physicians: the submissions alone")
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    if not args.database_url.startswith("postgresql"):
        print("the morning needs PostgreSQL (several processes, LISTEN/NOTIFY)")
        return 1
    print(f"note: the load generator, {args.app_processes} app process(es)"
          + (f" + {args.ingest_processes} for the submissions" if args.ingest_processes else "")
          + ", the worker and PostgreSQL share this machine's cores (and so does anyone else "
          "working on it): the figures are noisy")
    results = []
    n = args.patients
    while True:
        r = one_morning(args.database_url, n, args)
        report(r)
        results.append(r)
        if not args.find_max:
            break
        n = next_size(results, args)
        if n is None:
            break
    out: dict = {"runs": results}
    if args.find_max:
        good = [r["patients"] for r in results if held(r)]
        out["largest_held"] = max(good) if good else None
        out["limited_by_max_patients"] = all(held(r) for r in results)
        at_least = "at least " if out["limited_by_max_patients"] else ""
        print(f"\nRESULT the largest morning held (phone p99 < 1 s, alert delivery p99 < 2 s, "
              f"no errors) at "
              f"{args.speed:g}× speed: {at_least}{out['largest_held'] or 'none of those tried'}"
              " patients")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
