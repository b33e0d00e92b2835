"""Monitoring benchmark: how many observations per second does Hemma take in (scored, checked
against the alert rules, alerts queued), how fast does an alert reach an open inbox, and how
fast is the round worklist of a unit with a month of 15-minute values — measured through real
HTTP against the app started as production starts it (uvicorn, two worker processes, each
with its outbox worker and, on PostgreSQL, its LISTEN connection).

    .venv/bin/python bench/monitoring.py                     # PostgreSQL (the default URL)
    .venv/bin/python bench/monitoring.py --duration 10 --concurrency 8 --keep

It (1) drops, recreates and migrates the database `hemma_bench_mon`, (2) bulk-loads with Core
inserts a home ward (500 patients for the ingest load, ~380 that each get one alert for the
latency probe, 2,000 a device gateway sends batches for, each with two days of values at the
pathway's times) and a round unit of 200 admitted patients with 30 days of 15-minute values
(~576,000 observation rows), care relations, consents, duty rosters, round notes and a few
acknowledged alerts, then VACUUM ANALYZE (what autovacuum does after a bulk insert),
(3) starts `python -m uvicorn hemma.app:serve_app --factory --workers 2`, and measures:

  rounds   GET /rounds and GET /api/v1/rounds, sequential, as a physician of the round unit
           (and GET /patients/{id}/charts/vitals.svg?compact=true, the worklist's <img>)
  single   POST /api/v1/patients/{id}/observations with a nurse's bearer token, closed loop
           with wrk (Lua: unique client_ids, a random patient of 500, ~5% worrying values) at
           a few concurrency levels, each for a fixed duration; meanwhile an SSE client holds
           GET /alerts/stream as a nurse of the ward, and a probe submits a critical
           observation for a fresh patient 5 times a second, timing submit → `event: alert`
  batch    POST /api/v1/observations/batch, 500 observations a request, 1, 2 and 4 senders (gateways)
  raw      the same rows straight into PostgreSQL with Core executemany (server stopped),
           500 rows a transaction: the limit the HTTP rates are given as a share of

Between levels the ward's open alerts are resolved and the values the level stored moved ten
days back, in SQL: each level starts alike, at the density of values of a real ward.

The load generator is wrk (Debian's `wrk`; `apt-get install -y wrk`): C with a LuaJIT script,
it takes a few percent of one core (printed), where a Python client would take a large share
of the two cores the server and the database need. Without wrk it falls back to an asyncio
httpx client (--client httpx) and says so. This prints figures; it is not a test. It exits 0
whatever the figures are (1 if it crashed). The database is dropped at the end unless --keep.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # homeward.py, beside this file

import homeward  # noqa: E402  (also puts src/ on sys.path)
import httpx  # noqa: E402
from homeward import (  # noqa: E402
    FAMILY,
    GIVEN,
    ROOT,
    SECRET_KEY,
    STAFF_GIVEN,
    STREETS,
    Result,
    backend_description,
    create_database,
    drop_database,
    fictional_phone,
    free_port,
    is_sqlite,
    safe_url,
)
from sqlalchemy import create_engine, func, insert, select, text, update  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from hemma.access.auth import create_api_token, hash_password, start_session  # noqa: E402
from hemma.db import Database  # noqa: E402
from hemma.kit.time import STOCKHOLM  # noqa: E402
from hemma.migrations.runner import upgrade  # noqa: E402
from hemma.models import (  # noqa: E402
    Alert,
    AlertEvent,
    AuditEntry,
    CareRelation,
    Consent,
    DutyShift,
    Episode,
    Observation,
    Organisation,
    OutboxMessage,
    Pathway,
    Patient,
    RoundNote,
    Staff,
    Unit,
)
from hemma.monitoring.news2 import score  # noqa: E402
from hemma.pathways.service import builtin_documents  # noqa: E402
from hemma.patients.personnummer import make  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://hemma:hemma@127.0.0.1:5432/hemma_bench_mon"
DATABASE_NAME = "hemma_bench_mon"
TARGET_SINGLE_RPS = 500.0
TARGET_BATCH_OPS = 5000.0
TARGET_ALERT_P99_MS = 1000.0
TARGET_ROUNDS_P95_MS = 200.0
WORRYING_SHARE = 0.05
REGION_ID, KOMMUN_ID = 1, 2
WARD, ROUND_UNIT, HSV_UMEA, HSV_LYCKSELE = 1, 2, 3, 4

# The demo's pathways: schedule and rules matter (fever and NEWS2 raise alerts, heart
# failure's weight rule reads three days of history whenever a weight arrives).
PATHWAYS = [(d.code, d.name, d.monitoring.schedule, [r.stored() for r in d.monitoring.rules])
            for d in builtin_documents()]
UNITS = [  # (id, organisation, name, kind, virtual beds)
    (WARD, REGION_ID, "Hemsjukhuset, Norrlands universitetssjukhus", "hospital_clinic", 1200),
    (ROUND_UNIT, REGION_ID, "Medicinkliniken, Lycksele lasarett", "hospital_clinic", 200),
    (HSV_UMEA, KOMMUN_ID, "Hemsjukvården Umeå", "home_health", 0),
    (HSV_LYCKSELE, KOMMUN_ID, "Hemsjukvården Lycksele", "home_health", 0),
]
# Staff per unit: (profession, count). The first nurse of the ward sends the API load, the
# second watches the live inbox; the round unit's first physician opens the worklist.
STAFF_MIX = {WARD: [("nurse", 24), ("physician", 6), ("assistant_nurse", 8), ("coordinator", 2)],
             ROUND_UNIT: [("nurse", 14), ("physician", 5), ("assistant_nurse", 4),
                          ("coordinator", 1)],
             HSV_UMEA: [("nurse", 10), ("assistant_nurse", 10)],
             HSV_LYCKSELE: [("nurse", 6), ("assistant_nurse", 6)]}


# --- Values ----------------------------------------------------------------------------------
# The same distributions as the wrk script below: normal values score NEWS2 0; worrying ones
# are a NEWS2 of 7+ (critical), 5-6 (high), a single red parameter (medium) or "I feel worse".


def normal_values(rng: random.Random) -> dict:
    systolic = rng.randint(112, 150)
    return {"respiration_rate": rng.randint(12, 20), "spo2": rng.randint(96, 99),
            "on_oxygen": False, "temperature": round(36.2 + rng.randint(0, 14) / 10, 1),
            "systolic_bp": systolic, "diastolic_bp": systolic - rng.randint(35, 55),
            "pulse": rng.randint(55, 88), "consciousness": "A"}


def critical_values(rng: random.Random) -> dict:
    return {"respiration_rate": rng.randint(25, 28), "spo2": rng.randint(88, 91),
            "on_oxygen": False, "temperature": round(38.6 + rng.randint(0, 6) / 10, 1),
            "systolic_bp": rng.randint(92, 100), "diastolic_bp": 60,
            "pulse": rng.randint(125, 135), "consciousness": "A"}


def worrying_values(rng: random.Random) -> dict:
    kind = rng.randint(1, 4)
    if kind == 1:
        return critical_values(rng)
    values = normal_values(rng)
    if kind == 2:
        values.update(respiration_rate=rng.randint(21, 24), spo2=rng.randint(94, 95),
                      temperature=round(38.1 + rng.randint(0, 3) / 10, 1),
                      pulse=rng.randint(91, 105))
    elif kind == 3:
        values["spo2"] = rng.randint(90, 91)
    else:
        values["feeling_worse"] = True
    return values


def iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


WRK_SCRIPT = r"""-- Written by bench/monitoring.py: one observation per request for a random patient of
-- the list, ~5% worrying, a unique client_id each; counts non-201 answers and alerts raised.
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_usec; } hemma_timeval_t;
int gettimeofday(hemma_timeval_t *tv, void *tz);
]]
local tv = ffi.new("hemma_timeval_t")
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

local ids, share, tag, n = {}, 0.05, "run", 0
local r = math.random
non201, alerts, first_error = 0, 0, nil

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then ids[#ids + 1] = line end
  end
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. args[2]
  tag = args[3]
  share = tonumber(args[4])
  math.randomseed(tid * 7919 + os.time())
end

local function now_iso()
  ffi.C.gettimeofday(tv, nil)
  return os.date("!%Y-%m-%dT%H:%M:%S", tonumber(tv.tv_sec))
    .. string.format(".%03dZ", math.floor(tonumber(tv.tv_usec) / 1000))
end

local FMT = '"respiration_rate":%d,"spo2":%d,"on_oxygen":false,"temperature":%.1f,'
  .. '"systolic_bp":%d,"diastolic_bp":%d,"pulse":%d,"consciousness":"A"'

local function normal()
  local sys = r(112, 150)
  return string.format(FMT, r(12, 20), r(96, 99), 36.2 + r(0, 14) / 10, sys, sys - r(35, 55),
                       r(55, 88))
end

local function worrying()
  local k = r(1, 4)
  local sys = r(112, 150)
  if k == 1 then      -- NEWS2 7+: critical
    return string.format(FMT, r(25, 28), r(88, 91), 38.6 + r(0, 6) / 10, r(92, 100), 60,
                         r(125, 135))
  elseif k == 2 then  -- NEWS2 5-6: high
    return string.format(FMT, r(21, 24), r(94, 95), 38.1 + r(0, 3) / 10, sys, sys - 40,
                         r(91, 105))
  elseif k == 3 then  -- one red parameter (SpO2): medium
    return string.format(FMT, r(12, 20), r(90, 91), 36.2 + r(0, 14) / 10, sys, sys - 40,
                         r(55, 88))
  end
  return normal() .. ',"feeling_worse":true'
end

-- Every 20th request asks the server to close the connection, and wrk opens a new one:
-- clients come and go. (The uvicorn workers share one listening socket; connections opened
-- in one burst would all be accepted by one worker and leave the other idle.)
local closing = nil

function request()
  n = n + 1
  if closing == nil then
    closing = {}
    for k, v in pairs(wrk.headers) do closing[k] = v end
    closing["Connection"] = "close"
  end
  local values = (r() < share) and worrying() or normal()
  local body = string.format('{"client_id":"wrk-%s-%d-%d","measured_at":"%s",%s}',
                             tag, tid, n, now_iso(), values)
  return wrk.format(nil, "/api/v1/patients/" .. ids[r(#ids)] .. "/observations",
                    (n % 20 == 0) and closing or nil, body)
end

function response(status, headers, body)
  if status ~= 201 then
    non201 = non201 + 1
    if first_error == nil then first_error = status .. " " .. string.sub(body or "", 1, 300) end
  elseif string.find(body, '"alert_id":"', 1, true) then
    alerts = alerts + 1
  end
end

function done(summary, latency, requests)
  local non, al = 0, 0
  for _, t in ipairs(threads) do
    non = non + t:get("non201")
    al = al + t:get("alerts")
    local e = t:get("first_error")
    if e then io.write("WRKERR " .. (string.gsub(e, "\n", " ")) .. "\n") end
  end
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,'
    .. '"write":%d,"status":%d,"timeout":%d,"non201":%d,"alerts":%d,"mean_us":%.1f,'
    .. '"max_us":%d,"p50_us":%d,"p95_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    non, al, latency.mean, latency.max, latency:percentile(50), latency:percentile(95),
    latency:percentile(99)))
end
"""


# --- The data ------------------------------------------------------------------------------


@dataclass
class Dataset:
    counts: dict[str, int]
    load_patients: list[uuid.UUID]  # the ward's patients the ingest load is spread over
    probe_patients: list[uuid.UUID]  # the ward's patients that each get one alert
    batch_patients: list[uuid.UUID]  # the ward's patients a device gateway sends batches for
    round_patients: list[uuid.UUID]
    api_nurse: int
    inbox_nurse: int
    round_physician: int
    seconds: float


@lru_cache(maxsize=None)
def _news2(rr, spo2, temp, sbp, pulse, consciousness) -> tuple[int, str | None, bool]:
    n = score(respiration_rate=rr, spo2=spo2, spo2_scale=1, on_oxygen=False, temperature=temp,
              systolic_bp=sbp, pulse=pulse, consciousness=consciousness)
    return n.total, n.band, n.partial


class _Gen:
    def __init__(self, seed: int, now: datetime):
        self.rng = random.Random(seed)
        self.now = now
        self.numbers: set[str] = set()

    def uuid(self) -> uuid.UUID:
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)  # seeded: repeatable

    def personnummer(self) -> tuple[str, date]:
        while True:  # valid, unique; birth numbers 980-999 as in the demo
            born = date(1925, 1, 1) + timedelta(days=self.rng.randrange(365 * 45))
            number = make(born, self.rng.randrange(980, 1000))
            if number not in self.numbers:
                self.numbers.add(number)
                return number, born


def _staff_rows(now: datetime) -> tuple[list[dict], dict[int, dict[str, list[int]]]]:
    password_hash = hash_password("hemma-bench")  # argon2 once: it costs ~50 ms per call
    rows, by_unit, sid = [], {}, 0
    for unit_id, mix in STAFF_MIX.items():
        for profession, count in mix:
            for _ in range(count):
                sid += 1
                by_unit.setdefault(unit_id, {}).setdefault(profession, []).append(sid)
                rows.append({
                    "id": sid, "username": f"mon{sid:04d}",
                    "given_name": STAFF_GIVEN[sid % len(STAFF_GIVEN)],
                    "family_name": FAMILY[(sid * 7) % len(FAMILY)], "profession": profession,
                    "unit_id": unit_id, "skills": [], "hsa_id": f"SE2321000222-M{sid:06d}",
                    "phone": fictional_phone(sid), "is_admin": False,
                    "is_log_reviewer": False, "active": True, "password_hash": password_hash,
                    "created_at": now - timedelta(days=400)})
    return rows, by_unit


def _patient(g: _Gen, t: dict[type, list[dict]], unit: int, hsv: int, pathway: int,
             admitted: datetime, staff: dict[str, list[int]], bed: int) -> tuple[uuid.UUID,
                                                                               uuid.UUID]:
    rng = g.rng
    number, born = g.personnummer()
    created = admitted - timedelta(days=rng.uniform(2, 600))
    pid, eid = g.uuid(), g.uuid()
    nurse, physician = rng.choice(staff["nurse"]), rng.choice(staff["physician"])
    family = rng.choice(FAMILY)
    t[Patient].append({
        "id": pid, "personnummer": number, "is_coordination_number": False, "birth_date": born,
        "given_name": rng.choice(GIVEN), "family_name": family,
        "street": f"{rng.choice(STREETS)} {rng.randint(1, 60)}", "postal_code": "921 31",
        "city": "Lycksele" if unit == ROUND_UNIT else "Umeå", "latitude": 64.6, "longitude": 18.7,
        "phone": fictional_phone(len(t[Patient])), "language": "sv", "interpreter_needed": False,
        "digital_ability": rng.choice(["independent", "with_support", "none"]),
        "registered_by_unit_id": unit, "created_at": created, "updated_at": created})
    t[Episode].append({
        "id": eid, "patient_id": pid, "state": "admitted", "pathway_id": pathway,
        "responsible_unit_id": unit, "responsible_physician_id": physician,
        "coordinator_id": staff["coordinator"][0], "bed_number": bed, "held_bed": False,
        "held_bed_location": None, "assessment_note": "NEWS2 under 4 utan syrgas.",
        "assessed_at": admitted - timedelta(hours=rng.uniform(2, 30)), "assessed_by_id": nurse,
        "admitted_at": admitted, "admitted_by_id": nurse, "ended_at": None, "ended_by_id": None,
        "end_note": None, "ambulance_informed": False})
    relation = {"ends_at": None, "ended_by_id": None, "created_by_id": nurse}
    t[CareRelation].append({
        "id": g.uuid(), "patient_id": pid, "episode_id": eid, "unit_id": unit, "staff_id": None,
        "role": "Ansvarig enhet", "starts_at": admitted - timedelta(hours=30),
        "documented_by_unit_id": unit, **relation})
    if rng.random() < 0.6:  # the kommun's home health care visits most of them
        t[CareRelation].append({
            "id": g.uuid(), "patient_id": pid, "episode_id": None, "unit_id": hsv,
            "staff_id": None, "role": "Kommunal hemsjukvård", "starts_at": created,
            "documented_by_unit_id": hsv, **relation})
    if rng.random() < 0.9:
        for org in (REGION_ID, KOMMUN_ID):
            t[Consent].append({
                "id": g.uuid(), "patient_id": pid, "organisation_id": org, "method": "oral",
                "given_by": "patient", "note": None, "given_at": created + timedelta(hours=1),
                "recorded_by_id": nurse, "documented_by_unit_id": unit, "withdrawn_at": None,
                "withdrawn_by_id": None})
    return pid, eid


def _observation(g: _Gen, pid, eid, unit: int, at: datetime, values: dict, *, source: str,
                 performer: str, client_id: str, staff_id: int | None,
                 device: str | None) -> dict:
    total, band, partial = _news2(values["respiration_rate"], values["spo2"],
                                  values["temperature"], values["systolic_bp"], values["pulse"],
                                  values["consciousness"])
    return {
        "id": g.uuid(), "patient_id": pid, "episode_id": eid, "client_id": client_id,
        "measured_at": at, "measured_offset_minutes": 60,
        "received_at": at + timedelta(seconds=g.rng.randint(2, 90)), "performer": performer,
        "staff_id": staff_id, "device_id": device, "source": source,
        "documented_by_unit_id": unit, **values, "symptoms": {}, "feeling_worse": False,
        "news2_total": total, "news2_band": band, "news2_partial": partial}


def _schedule_history(g: _Gen, pid, eid, unit: int, schedule: list[str],
                      admitted: datetime) -> Iterator[dict]:
    """Values at the pathway's times since admission (at most two days back): the worker
    finds no missed measurements at start."""
    now = g.now
    day = max(admitted, now - timedelta(days=2)).astimezone(STOCKHOLM).date()
    n = 0
    while day <= now.astimezone(STOCKHOLM).date():
        for hhmm in schedule:
            hh, mm = map(int, hhmm.split(":"))
            due = datetime(day.year, day.month, day.day, hh, mm, tzinfo=STOCKHOLM).astimezone(UTC)
            if not admitted < due < now:
                continue
            at = due + timedelta(minutes=g.rng.randint(-20, 20))
            if at >= now - timedelta(minutes=1):
                at = due - timedelta(minutes=1)
            n += 1
            yield _observation(g, pid, eid, unit, at, normal_values(g.rng), source="patient_page",
                               performer="patient", client_id=f"hist-{pid}-{n}", staff_id=None,
                               device=None)
        day += timedelta(days=1)


def _round_history(g: _Gen, pid, eid, unit: int, days: int, deteriorating: bool
                   ) -> Iterator[dict]:
    """A value set every 15 minutes from a device gateway (pulse, SpO2, breathing,
    temperature), with blood pressure and consciousness from the hourly full set carried
    forward; a slow random walk around the patient's own baseline, a few patients worsening
    over the last two days."""
    rng, now = g.rng, g.now
    base = {"respiration_rate": rng.randint(13, 18), "spo2": rng.randint(94, 98),
            "temperature": rng.uniform(36.4, 37.3), "systolic_bp": rng.randint(110, 150),
            "pulse": rng.randint(58, 86)}
    walk = dict.fromkeys(base, 0.0)
    steps = days * 96
    start = now - timedelta(minutes=15 * steps) + timedelta(minutes=rng.randint(0, 14))
    device = f"gw-{str(pid)[:8]}"
    for k in range(steps):
        at = start + timedelta(minutes=15 * k)
        for key in walk:
            walk[key] = max(-3.0, min(3.0, walk[key] * 0.97 + rng.gauss(0, 0.35)))
        worse = max(0.0, (k - (steps - 192)) / 192) if deteriorating else 0.0  # last 48 h
        values = {
            "respiration_rate": round(base["respiration_rate"] + walk["respiration_rate"]
                                      + 6 * worse),
            "spo2": min(100, round(base["spo2"] + walk["spo2"] / 2 - 4 * worse)),
            "on_oxygen": False,
            "temperature": round(base["temperature"] + walk["temperature"] / 6 + 1.2 * worse, 1),
            "systolic_bp": round(base["systolic_bp"] + 3 * walk["systolic_bp"] - 15 * worse),
            "pulse": round(base["pulse"] + 3 * walk["pulse"] + 25 * worse),
            "consciousness": "A",
        }
        values["diastolic_bp"] = values["systolic_bp"] - 45
        yield _observation(g, pid, eid, unit, at, values, source="api", performer="device",
                           client_id=f"gw-{pid}-{k}", staff_id=None, device=device)


def _insert_chunks(conn, model, rows, chunk: int = 10_000) -> int:
    buf, total = [], 0
    for row in rows:
        buf.append(row)
        if len(buf) >= chunk:
            conn.execute(insert(model), buf)
            total += len(buf)
            buf = []
    if buf:
        conn.execute(insert(model), buf)
        total += len(buf)
    return total


def generate(url: str, *, n_load: int, n_probe: int, n_batch: int, n_round: int, days: int,
             seed: int) -> Dataset:
    started = time.perf_counter()
    now = datetime.now(UTC)
    g = _Gen(seed, now)
    rng = g.rng
    staff_rows, staff = _staff_rows(now)
    t: dict[type, list[dict]] = {Patient: [], Episode: [], CareRelation: [], Consent: []}
    ward: list[tuple] = []  # (pid, eid, pathway)
    rounds: list[tuple] = []
    for i in range(n_load + n_probe + n_batch):
        pathway = rng.randint(1, len(PATHWAYS))
        admitted = now - timedelta(days=rng.uniform(0.5, 20))
        pid, eid = _patient(g, t, WARD, HSV_UMEA, pathway, admitted, staff[WARD], i + 1)
        ward.append((pid, eid, pathway, admitted))
    for i in range(n_round):
        pathway = rng.randint(1, len(PATHWAYS))
        admitted = now - timedelta(days=days, hours=rng.uniform(2, 200))
        pid, eid = _patient(g, t, ROUND_UNIT, HSV_LYCKSELE, pathway, admitted, staff[ROUND_UNIT],
                            i + 1)
        rounds.append((pid, eid, pathway, admitted))

    # Who is on duty now (alerts go to them) and the physician on call.
    shifts = []
    for unit in (WARD, ROUND_UNIT):
        for staff_id, role in ((staff[unit]["nurse"][1], "nurse"),
                               (staff[unit]["nurse"][2], "nurse"),
                               (staff[unit]["physician"][0], "physician_on_call")):
            shifts.append({"unit_id": unit, "staff_id": staff_id, "role": role,
                           "starts_at": now - timedelta(hours=4),
                           "ends_at": now + timedelta(hours=8)})
    # The round unit's history: a round note a day, and acknowledged alerts for ~10%.
    notes, alerts, events = [], [], []
    for pid, eid, _, _ in rounds:
        for d in range(days, 0, -1):
            at = now - timedelta(days=d, minutes=rng.randint(-90, 90))
            notes.append({"id": g.uuid(), "patient_id": pid, "episode_id": eid,
                          "staff_id": rng.choice(staff[ROUND_UNIT]["physician"]),
                          "documented_by_unit_id": ROUND_UNIT, "at": at,
                          "decision": rng.choice(["continue"] * 8 + ["adjust", "visit"]),
                          "note": "Stabil, fortsätt enligt plan."})
        if rng.random() < 0.1:
            created = now - timedelta(hours=rng.uniform(1, 20))
            severity = rng.choice(["medium", "high", "critical"])
            aid = g.uuid()
            alerts.append({
                "id": aid, "patient_id": pid, "episode_id": eid, "unit_id": ROUND_UNIT,
                "kind": "vitals", "severity": severity, "status": "acknowledged",
                "dedupe_key": f"bench:{aid}", "observation_id": None, "created_at": created,
                "reasons": [{"message": "NEWS2 %(total)s (%(band)s)",
                             "params": {"total": 6, "band": "medium"}, "severity": severity}],
                "acknowledged_at": created + timedelta(minutes=4),
                "acknowledged_by_id": staff[ROUND_UNIT]["nurse"][1], "escalation_level": 0,
                "next_escalation_at": None})
            events += [{"alert_id": aid, "at": created, "kind": "created", "level": 0},
                       {"alert_id": aid, "at": created + timedelta(minutes=4),
                        "kind": "acknowledged", "level": None}]

    orgs = [{"id": REGION_ID, "name": "Region Norr (bench)", "kind": "region",
             "org_number": "232100-0000", "hsa_id": "SE2321000000-mon-region"},
            {"id": KOMMUN_ID, "name": "Norrbygdens kommun (bench)", "kind": "kommun",
             "org_number": "212000-0000", "hsa_id": "SE2120000000-mon-kommun"}]
    units = [{"id": uid, "organisation_id": org, "name": name, "kind": kind,
              "hsa_id": f"SE2321000222-MU{uid:03d}", "phone": fictional_phone(uid),
              "virtual_beds": beds, "active": True} for uid, org, name, kind, beds in UNITS]
    pathways = [{"id": i, "code": code, "name": name, "description": None, "active": True,
                 "schedule": schedule, "tolerance_minutes": 60, "rules": rules}
                for i, (code, name, schedule, rules) in enumerate(PATHWAYS, start=1)]

    def observations() -> Iterator[dict]:
        for pid, eid, pathway, admitted in ward:
            yield from _schedule_history(g, pid, eid, WARD, PATHWAYS[pathway - 1][2], admitted)
        for i, (pid, eid, _, _) in enumerate(rounds):
            yield from _round_history(g, pid, eid, ROUND_UNIT, days, deteriorating=i % 12 == 0)

    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            for model, rows in [(Organisation, orgs), (Pathway, pathways), (Unit, units),
                                (Staff, staff_rows), (Patient, t[Patient]),
                                (Episode, t[Episode]), (CareRelation, t[CareRelation]),
                                (Consent, t[Consent]), (DutyShift, shifts),
                                (RoundNote, notes), (Alert, alerts), (AlertEvent, events)]:
                _insert_chunks(conn, model, rows)
            n_obs = _insert_chunks(conn, Observation, observations())
            if not is_sqlite(url):
                for table in ("organisations", "pathways", "units", "staff"):
                    conn.execute(text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"))
        # What autovacuum does soon after a bulk insert (PostgreSQL 13+ vacuums insert-only
        # tables too): statistics for the planner, and the visibility map for index-only scans.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE" if is_sqlite(url) else "VACUUM ANALYZE"))
    finally:
        engine.dispose()
    counts = {"patients": len(t[Patient]), "admitted": len(t[Episode]), "staff": len(staff_rows),
              "care_relations": len(t[CareRelation]), "consents": len(t[Consent]),
              "observations": n_obs, "round_notes": len(notes), "alerts": len(alerts),
              "duty_shifts": len(shifts)}
    return Dataset(
        counts, [w[0] for w in ward[:n_load]], [w[0] for w in ward[n_load:n_load + n_probe]],
        [w[0] for w in ward[n_load + n_probe:]], [r[0] for r in rounds],
        staff[WARD]["nurse"][0], staff[WARD]["nurse"][1], staff[ROUND_UNIT]["physician"][0],
        time.perf_counter() - started)


@dataclass
class Credentials:
    api_token: str  # the ward's nurse, for the ingest load and the probes
    inbox_cookie: str  # the ward's nurse on duty, for the live inbox
    round_cookie: str  # the round unit's physician


def credentials(url: str, data: Dataset) -> Credentials:
    database = Database(url)
    try:
        with database.session() as s:
            api = create_api_token(s, s.get(Staff, data.api_nurse), "bench ingest")
            inbox = start_session(s, s.get(Staff, data.inbox_nurse), "password",
                                  client_addr="127.0.0.1", user_agent="hemma-bench")
            rounds = start_session(s, s.get(Staff, data.round_physician), "password",
                                   client_addr="127.0.0.1", user_agent="hemma-bench")
        return Credentials(api, inbox, rounds)
    finally:
        database.dispose()


# --- The server ----------------------------------------------------------------------------


@dataclass
class Server:
    base: str
    pid: int  # the uvicorn supervisor; its children are the workers

    def worker_pids(self) -> list[int]:
        return _children(self.pid)


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out


@contextmanager
def running_server(url: str, workdir: Path, workers: int) -> Iterator[Server]:
    """`uvicorn hemma.app:serve_app --factory --workers N`, as production runs it (no access
    log: a line per request to a pipe would be measured too). Always stopped on the way out."""
    port = free_port()
    env = dict(os.environ, HEMMA_DATABASE_URL=url, HEMMA_SECRET_KEY=SECRET_KEY,
               HEMMA_DATA_DIR=str(workdir), PYTHONUNBUFFERED="1")
    log_path = workdir / "uvicorn.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "hemma.app:serve_app", "--factory",
             "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
             "--no-access-log", "--log-level", "warning"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"uvicorn exited with {proc.returncode}:\n"
                                   + log_path.read_text(errors="replace")[-3000:])
            try:
                if httpx.get(f"{base}/api/v1/health", timeout=2).status_code == 200 and \
                        len(_children(proc.pid)) >= workers:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not answer /api/v1/health within 90 s:\n"
                                   + log_path.read_text(errors="replace")[-3000:])
            time.sleep(0.2)
        yield Server(base, proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        errors = log_path.read_text(errors="replace") if log_path.exists() else ""
        if "Traceback" in errors:
            print("--- the server logged errors (last 3000 characters) ---\n" + errors[-3000:],
                  file=sys.stderr)


class CpuMeter:
    """CPU seconds over a run, from /proc (Linux; silently empty elsewhere): the app's
    processes, PostgreSQL's (our database's backends and the shared background processes),
    the load generator, this script, and everything else on the machine ("other": on a
    shared machine, someone else's tests compete for the same cores)."""

    def __init__(self, server: Server, database: str):
        self.server = server
        self.database = database

    def sample(self) -> dict[int, tuple[str, float]]:
        """{pid: (category, CPU seconds so far)} of every process."""
        return proc_cpu(dict.fromkeys({self.server.pid, *self.server.worker_pids()}, "app"),
                        self.database, by_name={"wrk": "wrk"})


def proc_cpu(known: dict[int, str], database: str,
             by_name: dict[str, str] | None = None) -> dict[int, tuple[str, float]]:
    """{pid: (category, CPU seconds so far)} of every process on the machine, from /proc
    (Linux; empty elsewhere): `known` pids in their own category, processes named in
    `by_name` in theirs, PostgreSQL (`database`'s backends and the shared background
    processes), this script ("bench") and everyone else ("other")."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    out: dict[int, tuple[str, float]] = {}
    try:
        entries = list(Path("/proc").iterdir())
    except OSError:
        return out
    for entry in entries:
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(
                errors="replace")
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat.rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / tick
        pid = int(entry.name)
        if pid in known:
            kind = known[pid]
        elif comm.startswith("postgres"):
            # "postgres: 15/main: user database host(port) state" for a backend.
            backend = title.count(":") >= 2 and "(" in title
            kind = "postgres" if f" {database} " in title or not backend else "other"
        elif by_name and comm in by_name:
            kind = by_name[comm]
        elif pid == os.getpid():
            kind = "bench"
        else:
            kind = "other"
        out[pid] = (kind, cpu)
    return out


def children_cpu() -> float:
    """CPU seconds of this script's finished children (wrk): /proc no longer has them."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cpu_delta(before: dict, after: dict, seconds: float, wrk: float = 0.0) -> str:
    """Per process: CPU used between the samples (processes that ended in between are not
    counted, except wrk's, given), summed per category, as % of one core."""
    used = dict.fromkeys(("app", "postgres", "wrk", "bench", "other"), 0.0)
    used["wrk"] = wrk
    for pid, (kind, cpu) in after.items():
        used[kind] += cpu - before.get(pid, (kind, 0.0))[1]
    return "CPU (100% = one core): " + ", ".join(
        f"{k} {100 * v / seconds:.0f}%" for k, v in used.items() if k != "wrk" or v > 0)


# --- Rounds ---------------------------------------------------------------------------------


def measure_rounds(base: str, cookie: str, n: int, n_charts: int
                   ) -> tuple[list[Result], int]:
    headers = {"Cookie": f"hemma_session={cookie}", "Accept-Language": "sv",
               "User-Agent": "hemma-bench"}
    with httpx.Client(base_url=base, headers=headers, timeout=120) as client:
        listing = homeward._get(client, "/api/v1/rounds").json()
        ids = [row["patient_id"] for row in listing]
        results = [
            homeward.measure(client, "GET /rounds (HTML)", lambda i: "/rounds", n,
                             lambda r: len(homeward._HTML_ROW.findall(r.text))),
            homeward.measure(client, "GET /api/v1/rounds (JSON)", lambda i: "/api/v1/rounds", n,
                             lambda r: len(r.json())),
            homeward.measure(client, "GET …/charts/vitals.svg?compact",
                             lambda i: f"/patients/{ids[(i * 7) % len(ids)]}/charts/vitals.svg"
                                       "?compact=true", n_charts, None),
        ]
    return results, len(ids)


# --- The live inbox and the alert probe ------------------------------------------------------


class InboxWatcher(threading.Thread):
    """Holds GET /alerts/stream open and notes when a frame about each patient first
    arrives."""

    def __init__(self, base: str, cookie: str, after: int):
        super().__init__(name="sse", daemon=True)
        self.base, self.cookie, self.after = base, cookie, after
        self.arrived: dict[str, float] = {}  # patient id -> perf_counter of the first frame
        self.frames = 0
        self.connected = threading.Event()
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        headers = {"Cookie": f"hemma_session={self.cookie}", "Accept": "text/event-stream",
                   "User-Agent": "hemma-bench"}
        try:
            with httpx.Client(base_url=self.base, headers=headers,
                              timeout=httpx.Timeout(10, read=30)) as client, \
                    client.stream("GET", f"/alerts/stream?after={self.after}") as response:
                if response.status_code != 200:
                    raise RuntimeError(f"/alerts/stream answered {response.status_code}")
                event = None
                for line in response.iter_lines():
                    now = time.perf_counter()
                    self.connected.set()
                    if self.stop.is_set():
                        return
                    if line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:") and event == "alert":
                        self.frames += 1
                        pid = json.loads(line[5:])["patient_id"]
                        self.arrived.setdefault(pid, now)
                    elif not line:
                        event = None
        except BaseException as exc:  # reported by the main thread
            if not self.stop.is_set():
                self.error = exc
            self.connected.set()


class AlertProbe(threading.Thread):
    """A critical observation for a fresh patient every 1/rate seconds: each raises a new
    alert, which the inbox must show."""

    def __init__(self, base: str, token: str, patients: list[uuid.UUID], rate: float,
                 seconds: float, tag: str, seed: int):
        super().__init__(name="probe", daemon=True)
        self.base, self.token, self.patients = base, token, patients
        self.rate, self.seconds, self.tag = rate, seconds, tag
        self.rng = random.Random(seed)
        self.submitted: dict[str, float] = {}  # patient id -> perf_counter before sending
        self.answered: dict[str, float] = {}  # patient id -> perf_counter at the 201
        self.failures: list[str] = []
        self.no_alert = 0

    def run(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}", "User-Agent": "hemma-bench-probe"}
        with httpx.Client(base_url=self.base, headers=headers, timeout=30) as client:
            start = time.perf_counter()
            k = 0
            while k < len(self.patients):
                due = start + k / self.rate
                if due - start > self.seconds:
                    break
                time.sleep(max(0.0, due - time.perf_counter()))
                pid = str(self.patients[k])
                body = {"client_id": f"probe-{self.tag}-{k}",
                        "measured_at": iso(datetime.now(UTC)), **critical_values(self.rng)}
                self.submitted[pid] = time.perf_counter()
                try:
                    r = client.post(f"/api/v1/patients/{pid}/observations", json=body)
                    if r.status_code != 201:
                        self.failures.append(f"{r.status_code} {r.text[:200]}")
                    elif not r.json().get("alert_id"):
                        self.no_alert += 1
                    else:
                        self.answered[pid] = time.perf_counter()
                except httpx.HTTPError as exc:
                    self.failures.append(repr(exc))
                k += 1


# --- Single-observation ingest ---------------------------------------------------------------


@dataclass
class LoadRun:
    concurrency: int
    seconds: float
    ok: int
    errors: int
    alerts: int
    p50: float
    p95: float
    p99: float
    max: float
    first_error: str | None = None
    cpu: str = ""
    probe_ms: list[float] = field(default_factory=list)  # submit -> SSE frame
    probe_post_ms: list[float] = field(default_factory=list)  # submit -> 201 (committed)
    probe_lost: int = 0
    probe_failures: int = 0
    outbox_pending: int = 0

    @property
    def rps(self) -> float:
        return self.ok / self.seconds


def run_wrk(base: str, script: Path, ids_file: Path, token: str, tag: str, concurrency: int,
            seconds: float) -> LoadRun:
    threads = max(1, min(2, concurrency))
    cmd = ["wrk", "-t", str(threads), "-c", str(concurrency), "-d", f"{seconds:g}s",
           "--timeout", "30s", "-s", str(script), base, "--", str(ids_file), token, tag,
           str(WORRYING_SHARE)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 120)
    line = next((x for x in out.stdout.splitlines() if x.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    d = json.loads(line[8:])
    first_error = next((x[7:] for x in out.stdout.splitlines() if x.startswith("WRKERR ")), None)
    errors = d["non201"] + d["connect"] + d["read"] + d["write"] + d["timeout"]
    return LoadRun(concurrency, d["duration_us"] / 1e6, d["requests"] - d["non201"], errors,
                   d["alerts"], d["p50_us"] / 1000, d["p95_us"] / 1000, d["p99_us"] / 1000,
                   d["max_us"] / 1000, first_error)


def run_httpx(base: str, ids: list[str], token: str, tag: str, concurrency: int,
              seconds: float) -> LoadRun:
    """The fallback load generator: asyncio, one httpx client, `concurrency` loops."""
    times: list[float] = []
    state = {"errors": 0, "alerts": 0, "first_error": None}

    async def main() -> float:
        limits = httpx.Limits(max_connections=concurrency,
                              max_keepalive_connections=concurrency)
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits,
                                     timeout=30) as client:
            start = time.perf_counter()
            deadline = start + seconds

            async def loop(n: int) -> None:
                rng = random.Random(n)
                k = 0
                while time.perf_counter() < deadline:
                    k += 1
                    values = worrying_values(rng) if rng.random() < WORRYING_SHARE else \
                        normal_values(rng)
                    body = {"client_id": f"htx-{tag}-{n}-{k}",
                            "measured_at": iso(datetime.now(UTC)), **values}
                    t0 = time.perf_counter()
                    try:
                        r = await client.post(
                            f"/api/v1/patients/{rng.choice(ids)}/observations", json=body)
                    except httpx.HTTPError as exc:
                        state["errors"] += 1
                        state["first_error"] = state["first_error"] or repr(exc)
                        continue
                    if r.status_code == 201:
                        times.append((time.perf_counter() - t0) * 1000)
                        state["alerts"] += '"alert_id":"' in r.text
                    else:
                        state["errors"] += 1
                        state["first_error"] = state["first_error"] or \
                            f"{r.status_code} {r.text[:300]}"

            await asyncio.gather(*(loop(n) for n in range(concurrency)))
            return time.perf_counter() - start

    elapsed = asyncio.run(main())
    r = Result("", times or [0.0], "")
    return LoadRun(concurrency, elapsed, len(times), state["errors"], state["alerts"],
                   r.percentile(50), r.percentile(95), r.percentile(99), max(r.times_ms),
                   state["first_error"])


def _resolve_open_alerts(engine, unit_id: int) -> None:
    """Between levels: the ward's open alerts resolved in SQL, so every level starts alike
    (new worrying values then raise new alerts rather than joining open ones)."""
    with engine.begin() as conn:
        conn.execute(update(Alert).where(Alert.unit_id == unit_id, Alert.status != "resolved")
                     .values(status="resolved", resolved_at=datetime.now(UTC),
                             resolution_note="bench reset", next_escalation_at=None,
                             snoozed_until=None))


def _outbox_pending(engine) -> int:
    with engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(OutboxMessage)
                           .where(OutboxMessage.delivered_at.is_(None))) or 0


def _age_values(engine, since: datetime) -> None:
    """Between levels: the values the ward stored since `since` moved ten days back (outside
    the NEWS2 window, the missed-value lookback and the trend charts), so each level meets
    the density of a real ward (a few values a patient an hour) instead of the pile-up of the
    earlier levels (500 patients at 100+/s is a value a patient every few seconds)."""
    if engine.dialect.name != "postgresql":
        return
    with engine.begin() as conn:
        conn.execute(text(
            "UPDATE observations SET measured_at = measured_at - interval '10 days', "
            "received_at = received_at - interval '10 days' "
            "WHERE documented_by_unit_id = :unit AND received_at >= :since"),
            {"unit": WARD, "since": since})


def measure_single(server: Server, url: str, workdir: Path, data: Dataset, creds: Credentials,
                   levels: list[int], seconds: float, probe_rate: float, client: str,
                   seed: int) -> tuple[list[LoadRun], InboxWatcher]:
    ids = [str(p) for p in data.load_patients]
    ids_file = workdir / "patients.txt"
    ids_file.write_text("\n".join(ids) + "\n")
    script = workdir / "observe.lua"
    script.write_text(WRK_SCRIPT)
    engine = create_engine(url)
    meter = CpuMeter(server, make_url(url).database or "")
    try:
        with engine.connect() as conn:
            after = conn.scalar(select(func.max(AlertEvent.id))) or 0
        watcher = InboxWatcher(server.base, creds.inbox_cookie, after)
        watcher.start()
        if not watcher.connected.wait(15) or watcher.error:
            raise RuntimeError(f"the live inbox did not connect: {watcher.error!r}")

        def load(tag: str, concurrency: int, secs: float) -> LoadRun:
            if client == "wrk":
                return run_wrk(server.base, script, ids_file, creds.api_token, tag,
                               concurrency, secs)
            return run_httpx(server.base, ids, creds.api_token, tag, concurrency, secs)

        # Warm-up: both workers' imports, pools, prepared plans; not measured.
        since = datetime.now(UTC)
        load("warm", max(levels), 5)
        probes = list(data.probe_patients)
        runs = []
        for i, concurrency in enumerate(levels):
            _resolve_open_alerts(engine, WARD)
            _age_values(engine, since)
            time.sleep(1)
            since = datetime.now(UTC)
            per_level = int(probe_rate * (seconds - 1.5)) + 1
            mine, probes = probes[:per_level], probes[per_level:]
            probe = AlertProbe(server.base, creds.api_token, mine, probe_rate, seconds - 1.5,
                               f"l{i}", seed + i)
            cpu0, t0, wrk0 = meter.sample(), time.perf_counter(), children_cpu()
            probe_timer = threading.Timer(0.5, probe.start)
            probe_timer.start()
            run = load(f"l{i}c{concurrency}", concurrency, seconds)
            run.cpu = cpu_delta(cpu0, meter.sample(), time.perf_counter() - t0,
                                children_cpu() - wrk0)
            probe_timer.join()
            probe.join(timeout=60)
            deadline = time.perf_counter() + 10  # late frames still count, up to 10 s
            while time.perf_counter() < deadline and \
                    any(p not in watcher.arrived for p in probe.submitted):
                time.sleep(0.1)
            run.outbox_pending = _outbox_pending(engine)
            for pid, t_submit in probe.submitted.items():
                if pid in probe.answered:
                    run.probe_post_ms.append((probe.answered[pid] - t_submit) * 1000)
                if pid in watcher.arrived:
                    run.probe_ms.append((watcher.arrived[pid] - t_submit) * 1000)
                else:
                    run.probe_lost += 1
            run.probe_failures = len(probe.failures) + probe.no_alert
            if probe.failures:
                print(f"  probe failures at c={concurrency}: {probe.failures[:3]}",
                      file=sys.stderr)
            runs.append(run)
            print(f"  single c={concurrency:<3} {run.rps:7.1f} req/s  p50 {run.p50:6.1f}  "
                  f"p99 {run.p99:7.1f} ms  errors {run.errors}  alert p99 "
                  f"{_pct(run.probe_ms, 99):.0f} ms  {run.cpu}", flush=True)
        watcher.stop.set()
        _resolve_open_alerts(engine, WARD)
        return runs, watcher
    finally:
        engine.dispose()


def _pct(xs: list[float], p: float) -> float:
    return Result("", xs, "").percentile(p) if xs else float("nan")


# --- Batch ingest ---------------------------------------------------------------------------


@dataclass
class BatchRun:
    concurrency: int
    size: int
    seconds: float
    requests: int
    observations: int
    errors: int
    times_ms: list[float]
    first_error: str | None = None
    cpu: str = ""

    @property
    def ops(self) -> float:
        return self.observations / self.seconds


def _batch_body(ids: list[str], size: int, rng: random.Random, tag: str) -> bytes:
    """`size` observations for the sender's patients (a device gateway forwarding what its
    devices measured in the last second; more than one value per patient when it serves
    fewer patients than the batch holds), ~5% worrying, oldest first."""
    now = datetime.now(UTC)
    order = rng.sample(ids, len(ids))
    items = []
    for k in range(size):
        values = worrying_values(rng) if rng.random() < WORRYING_SHARE else normal_values(rng)
        items.append({"patient_id": order[k % len(order)], "client_id": f"{tag}-{k}",
                      "measured_at": iso(now - timedelta(milliseconds=size - k)),
                      "device_id": "gateway-bench", **values})
    return json.dumps({"observations": items}).encode()


class _BatchSender(threading.Thread):
    def __init__(self, base: str, token: str, ids: list[str], size: int, deadline: float,
                 seed: int, tag: str, max_requests: int | None = None):
        super().__init__(name=f"batch-{tag}", daemon=True)
        self.max_requests = max_requests
        self.base, self.token, self.ids, self.size = base, token, ids, size
        self.deadline, self.rng, self.tag = deadline, random.Random(seed), tag
        self.times: list[float] = []
        self.requests = self.errors = 0
        self.first_error: str | None = None

    def run(self) -> None:
        # A new connection for each batch (they take seconds, so it costs nothing): the
        # uvicorn workers share one listening socket and only balance at accept.
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json",
                   "Connection": "close"}
        with httpx.Client(base_url=self.base, timeout=300, headers=headers) as client:
            while time.perf_counter() < self.deadline and \
                    self.requests != self.max_requests:
                self.requests += 1
                content = _batch_body(self.ids, self.size, self.rng,
                                      f"{self.tag}-{self.requests}-{uuid.uuid4().hex[:6]}")
                t0 = time.perf_counter()
                try:
                    r = client.post("/api/v1/observations/batch", content=content)
                    error = None if r.status_code == 200 else f"{r.status_code} {r.text[:300]}"
                except httpx.HTTPError as exc:
                    error = repr(exc)
                if error is None:
                    self.times.append((time.perf_counter() - t0) * 1000)
                else:
                    self.errors += 1
                    self.first_error = self.first_error or error


def measure_batch(server: Server, url: str, token: str, patients: list[uuid.UUID], size: int,
                  levels: list[int], seconds: float, seed: int) -> list[BatchRun]:
    """Closed loop: `concurrency` senders (gateways, each with its share of the patients),
    each posting its next batch when the last one answered, for `seconds`; observations/s
    over the whole time including the last answers."""
    ids = [str(p) for p in patients]
    meter = CpuMeter(server, make_url(url).database or "")
    engine = create_engine(url)
    since = datetime.now(UTC)
    warm = _BatchSender(server.base, token, ids, size, math.inf, seed, "bw", max_requests=1)
    warm.run()  # one batch, not measured
    if warm.errors:
        raise RuntimeError(f"batch warm-up failed: {warm.first_error}")
    runs = []
    for concurrency in levels:
        _resolve_open_alerts(engine, WARD)
        _age_values(engine, since)
        since = datetime.now(UTC)
        cpu0, start = meter.sample(), time.perf_counter()
        # Each sender is its own gateway with its own patients: concurrent batches do not
        # wait on each other's row locks (alerts of the same patient) for seconds.
        senders = [_BatchSender(server.base, token, ids[n::concurrency], size, start + seconds,
                                seed * 1000 + concurrency * 10 + n, f"b{concurrency}-{n}")
                   for n in range(concurrency)]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join()
        elapsed = time.perf_counter() - start
        times = [t for sender in senders for t in sender.times]
        run = BatchRun(concurrency, size, elapsed, sum(x.requests for x in senders),
                       len(times) * size, sum(x.errors for x in senders), times,
                       next((x.first_error for x in senders if x.first_error), None),
                       cpu_delta(cpu0, meter.sample(), elapsed))
        runs.append(run)
        print(f"  batch  c={concurrency:<3} {run.ops:7.0f} obs/s  ({run.requests} requests, "
              f"errors {run.errors})  {run.cpu}", flush=True)
    engine.dispose()
    return runs


# --- The raw insert limit -------------------------------------------------------------------


def measure_raw(url: str, data: Dataset, n_rows: int, chunk: int, seed: int
                ) -> tuple[float, float]:
    """The rows the API would store (ids, values, NEWS2 already set), straight into the same
    table with Core executemany, `chunk` rows a transaction: observations/s; and, for scale,
    one row a transaction."""
    rng = random.Random(seed)
    g = _Gen(seed, datetime.now(UTC))
    tag = uuid.uuid4().hex[:8]
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            episodes = dict(conn.execute(select(Episode.patient_id, Episode.id).where(
                Episode.patient_id.in_(data.load_patients))).all())
        rows = []
        now = datetime.now(UTC)
        for k in range(n_rows):
            pid = rng.choice(data.load_patients)
            values = worrying_values(rng) if rng.random() < WORRYING_SHARE else normal_values(rng)
            feeling_worse = values.pop("feeling_worse", False)
            row = _observation(g, pid, episodes[pid], WARD, now - timedelta(milliseconds=k),
                               values, source="api", performer="staff",
                               client_id=f"raw-{tag}-{k:08d}", staff_id=data.api_nurse,
                               device=None)
            row.update(id=uuid.uuid4(), received_at=now, feeling_worse=feeling_worse,
                       measured_offset_minutes=0,
                       weight=None, blood_glucose=None, pain=None, note=None)
            rows.append(row)
        with engine.begin() as conn:  # connect, and warm the statement cache
            conn.execute(insert(Observation), rows[:chunk])
        t0 = time.perf_counter()
        for start in range(chunk, n_rows, chunk):
            with engine.begin() as conn:
                conn.execute(insert(Observation), rows[start:start + chunk])
        batched = (n_rows - chunk) / (time.perf_counter() - t0)
        # For scale: one row a transaction, from one connection (what one request commits).
        singles = [dict(r, id=uuid.uuid4(), client_id=f"{r['client_id']}-1")
                   for r in rows[:min(2000, n_rows)]]
        t0 = time.perf_counter()
        for row in singles:
            with engine.begin() as conn:
                conn.execute(insert(Observation), [row])
        return batched, len(singles) / (time.perf_counter() - t0)
    finally:
        engine.dispose()


# --- Report ---------------------------------------------------------------------------------


def _row(name: str, r: Result, rows: str = "") -> str:
    return (f"  {name:<38}{len(r.times_ms):>6}{r.mean:>8.1f}{r.percentile(50):>8.1f}"
            f"{r.percentile(95):>8.1f}{r.percentile(99):>8.1f}{max(r.times_ms):>8.1f}  {rows}")


def report(backend: str, data: Dataset, client: str, rounds: list[Result], listed: int,
           singles: list[LoadRun], watcher: InboxWatcher, batches: list[BatchRun],
           raw: tuple[float, float], raw_chunk: int, args, audit_written: dict[str, int]
           ) -> None:
    c = data.counts
    print()
    print("Hemma monitoring benchmark")
    print(f"  backend        {backend}")
    print(f"  dataset        {c['patients']:,} admitted patients ({len(data.load_patients)} "
          f"ingest load + {len(data.probe_patients)} alert probes + {len(data.batch_patients)} "
          f"batch on one home ward, "
          f"{len(data.round_patients)} on the round unit) · {c['staff']} staff · "
          f"{c['care_relations']:,} care relations · {c['consents']:,} consents")
    print(f"                 {c['observations']:,} observations ({args.days} days of 15-minute "
          f"values on the round unit) · {c['round_notes']:,} round notes · "
          f"{c['alerts']} alerts · {c['duty_shifts']} duty shifts")
    print(f"  generated in   {data.seconds:.1f} s (Core executemany inserts + "
          f"{'ANALYZE' if backend.startswith('SQLite') else 'VACUUM ANALYZE'})")
    print(f"  server         uvicorn hemma.app:serve_app --factory --workers {args.workers} "
          f"(outbox worker and LISTEN in each process)")
    print(f"  load generator {client}" + (" (C + LuaJIT script; its CPU is printed per level)"
                                          if client == "wrk" else
                                          " (asyncio, fallback: wrk not found; it competes "
                                          "with the server for the CPUs)"))
    print(f"  machine        {os.cpu_count()} CPUs shared by server, database and load "
          f"generator")

    print()
    print(f"5. Round worklist: {listed} admitted patients, signed in as a physician of the unit; "
          f"sequential, one keep-alive connection")
    print(f"  {'endpoint':<38}{'count':>6}{'mean':>8}{'p50':>8}{'p95':>8}{'p99':>8}{'max':>8}"
          f"  rows")
    for r in rounds:
        print(_row(r.name, r, r.rows))
    print("  (milliseconds; 20 warm-up requests each not counted; the chart is one of the "
          f"{listed} <img> the worklist page loads)")

    print()
    print(f"1. Single-observation ingest: POST /api/v1/patients/{{id}}/observations, bearer "
          f"token, {len(data.load_patients)} patients, {WORRYING_SHARE:.0%} worrying, "
          f"closed loop, {args.duration:g} s per level")
    print(f"  {'conns':>5}{'req/s':>9}{'p50':>8}{'p95':>8}{'p99':>8}{'max':>8}{'errors':>8}"
          f"{'alerts':>8}{'outbox left':>12}")
    for r in singles:
        print(f"  {r.concurrency:>5}{r.rps:>9.1f}{r.p50:>8.1f}{r.p95:>8.1f}{r.p99:>8.1f}"
              f"{r.max:>8.1f}{r.errors:>8}{r.alerts:>8}{r.outbox_pending:>12}")
        print(f"  {'':>5}  {r.cpu}")
        if r.first_error:
            print(f"  {'':>5}  first error: {r.first_error[:200]}")
    best = max(singles, key=lambda r: r.rps)
    print(f"  best: {best.rps:.1f} req/s at {best.concurrency} connections (latency in ms, at "
          f"the client)")

    print()
    print(f"2. Batch ingest: POST /api/v1/observations/batch, {args.batch_size} observations a "
          f"request, {args.batch_duration:g} s per level")
    print(f"  {'senders':>7}{'obs/s':>9}{'requests':>10}{'p50 ms':>9}{'p95 ms':>9}{'errors':>8}")
    for b in batches:
        rr = Result("", b.times_ms or [float("nan")], "")
        print(f"  {b.concurrency:>7}{b.ops:>9.0f}{b.requests:>10}{rr.percentile(50):>9.0f}"
              f"{rr.percentile(95):>9.0f}{b.errors:>8}")
        print(f"  {'':>7}  {b.cpu}")
        if b.first_error:
            print(f"  {'':>7}  first error: {b.first_error[:200]}")
    best_batch = max(batches, key=lambda b: b.ops)

    print()
    print(f"3. Raw insert limit: the same observation rows, Core executemany straight into "
          f"the table, {raw_chunk} rows a transaction, server stopped")
    raw, raw_single = raw
    print(f"  {raw:,.0f} observations/s   (for scale: one row a transaction, one connection: "
          f"{raw_single:,.0f}/s)")
    print(f"  single ingest (best) {best.rps:,.0f}/s = {best.rps / raw:.1%} of it; "
          f"batch ingest (best) {best_batch.ops:,.0f}/s = {best_batch.ops / raw:.1%} of it")

    print()
    all_probe = [x for r in singles for x in r.probe_ms]
    lost = sum(r.probe_lost for r in singles)
    print(f"4. Alert latency, submit → `event: alert` frame on GET /alerts/stream (a nurse of the "
          f"ward), a new critical alert ~{args.probe_rate:g}/s during the load of (1)")
    print(f"  {'conns':>5}{'alerts':>8}{'p50':>8}{'p95':>8}{'p99':>8}{'max':>8}{'lost':>6}"
          f"   of which the POST itself (p50/p99)")
    for r in singles:
        if r.probe_ms:
            print(f"  {r.concurrency:>5}{len(r.probe_ms):>8}{_pct(r.probe_ms, 50):>8.0f}"
                  f"{_pct(r.probe_ms, 95):>8.0f}{_pct(r.probe_ms, 99):>8.0f}"
                  f"{max(r.probe_ms):>8.0f}{r.probe_lost:>6}   "
                  f"{_pct(r.probe_post_ms, 50):.0f}/{_pct(r.probe_post_ms, 99):.0f}")
    if all_probe:
        print(f"  {'all':>5}{len(all_probe):>8}{_pct(all_probe, 50):>8.0f}"
              f"{_pct(all_probe, 95):>8.0f}{_pct(all_probe, 99):>8.0f}{max(all_probe):>8.0f}"
              f"{lost:>6}")
    print(f"  (milliseconds; 'lost' = no frame within 10 s after the level ended; the stream "
          f"sent {watcher.frames:,} alert frames in all)")
    print()
    top = sorted(audit_written.items(), key=lambda kv: -kv[1])
    print(f"  audit entries written while the server ran: {sum(audit_written.values()):,} ("
          + ", ".join(f"{k} {v:,}" for k, v in top[:5]) + ")")

    # Verdicts.
    def verdict(ok: bool) -> str:
        return "PASS" if ok else "FAIL"

    single_ok = best.rps >= TARGET_SINGLE_RPS and best.errors == 0
    print(f"RESULT single ingest: {best.rps:.0f} req/s (p99 {best.p99:.0f} ms, {best.errors} "
          f"errors) target >= {TARGET_SINGLE_RPS:.0f}/s {verdict(single_ok)}")
    batch_ok = best_batch.ops >= TARGET_BATCH_OPS and best_batch.errors == 0
    print(f"RESULT batch ingest: {best_batch.ops:.0f} obs/s target >= {TARGET_BATCH_OPS:.0f}/s "
          f"{verdict(batch_ok)}")
    p99 = _pct(all_probe, 99) if all_probe else float("inf")
    alert_ok = len(all_probe) >= 100 and lost == 0 and p99 < TARGET_ALERT_P99_MS
    print(f"RESULT alert latency: p99 {p99:.0f} ms over {len(all_probe)} alerts ({lost} lost) "
          f"target p99 < {TARGET_ALERT_P99_MS:.0f} ms and >= 100 alerts {verdict(alert_ok)}")
    html, api = rounds[0], rounds[1]
    rounds_ok = max(html.percentile(95), api.percentile(95)) < TARGET_ROUNDS_P95_MS
    print(f"RESULT round worklist: HTML p95 {html.percentile(95):.0f} ms, JSON p95 "
          f"{api.percentile(95):.0f} ms target p95 < {TARGET_ROUNDS_P95_MS:.0f} ms "
          f"{verdict(rounds_ok)}")


# --- Main ----------------------------------------------------------------------------------


def _levels(value: str) -> list[int]:
    try:
        levels = [int(x) for x in value.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError("a comma-separated list of integers") from None
    if not levels or min(levels) < 1:
        raise argparse.ArgumentTypeError("at least one level, each >= 1")
    return levels


def _default_url() -> str:
    env = os.environ.get("HEMMA_BENCH_DATABASE_URL")
    if not env:
        return DEFAULT_URL
    # The server homeward.py uses, but a database of our own: the two never clobber each other.
    return env if is_sqlite(env) else make_url(env).set(database=DATABASE_NAME) \
        .render_as_string(hide_password=False)


def audit_counts(url: str) -> dict[str, int]:
    """Audit entries per action: what the requests logged (one entry per patient shown)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return dict(conn.execute(select(AuditEntry.action, func.count())
                                     .group_by(AuditEntry.action)).all())
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=_default_url(),
                        help="PostgreSQL URL (dropped and recreated on every run; default: "
                             f"$HEMMA_BENCH_DATABASE_URL with database {DATABASE_NAME}, "
                             f"else {DEFAULT_URL})")
    parser.add_argument("--load-patients", type=int, default=500)
    parser.add_argument("--round-patients", type=int, default=200)
    parser.add_argument("--days", type=int, default=30, help="days of 15-minute values")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--concurrency", type=_levels, default=[8, 16, 32],
                        help="connections per single-ingest level (default 8,16,32)")
    parser.add_argument("--duration", type=float, default=25.0,
                        help="seconds per single-ingest level")
    parser.add_argument("--probe-rate", type=float, default=5.0,
                        help="new alerts per second for the latency probe")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--batch-patients", type=int, default=2000,
                        help="the gateway's patients (a value each every few seconds at most)")
    parser.add_argument("--batch-concurrency", type=_levels, default=[2, 4, 8])
    parser.add_argument("--batch-duration", type=float, default=20.0)
    parser.add_argument("--raw-rows", type=int, default=50_000)
    parser.add_argument("--requests", type=int, default=200,
                        help="measured requests per worklist endpoint")
    parser.add_argument("--charts", type=int, default=36, help="measured chart requests")
    parser.add_argument("--client", choices=["auto", "wrk", "httpx"], default="auto",
                        help="load generator for single ingest (auto: wrk if installed)")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--seed", type=int, default=20261201)
    args = parser.parse_args(argv)
    if args.duration < 5 or args.load_patients < 10 or args.round_patients < 1 or \
            args.days < 3 or args.batch_patients < 10:
        parser.error("need --duration >= 5, --load-patients >= 10, --batch-patients >= 10, "
                     "--round-patients >= 1, --days >= 3")
    if not 1 <= args.batch_size <= 1000:
        parser.error("--batch-size is 1 to 1000 (the API's limit)")
    client = args.client
    if client == "auto":
        client = "wrk" if shutil.which("wrk") else "httpx"
    elif client == "wrk" and not shutil.which("wrk"):
        parser.error("wrk is not installed (apt-get install -y wrk)")
    url = args.database_url
    probes_needed = sum(int(args.probe_rate * (args.duration - 1.5)) + 1
                        for _ in args.concurrency)

    workdir = Path(tempfile.mkdtemp(prefix="hemma-bench-mon-"))
    os.environ["HEMMA_SECRET_KEY"] = SECRET_KEY
    os.environ["HEMMA_DATA_DIR"] = str(workdir)
    print(f"preparing {safe_url(url)} …", flush=True)
    try:
        create_database(url)
        try:
            t0 = time.perf_counter()
            upgrade(url)
            migrated = time.perf_counter() - t0
            data = generate(url, n_load=args.load_patients, n_probe=probes_needed + 20,
                            n_batch=args.batch_patients,
                            n_round=args.round_patients, days=args.days, seed=args.seed)
            print(f"migrated in {migrated:.1f} s, generated {data.counts['observations']:,} "
                  f"observations and the rest in {data.seconds:.1f} s", flush=True)
            backend = backend_description(url)
            creds = credentials(url, data)
            audit_before = audit_counts(url)
            with running_server(url, workdir, args.workers) as server:
                print("measuring the round worklist …", flush=True)
                rounds, listed = measure_rounds(server.base, creds.round_cookie, args.requests,
                                                args.charts)
                print(f"measuring single-observation ingest with {client} …", flush=True)
                singles, watcher = measure_single(server, url, workdir, data, creds,
                                                  args.concurrency, args.duration,
                                                  args.probe_rate, client, args.seed)
                print("measuring batch ingest …", flush=True)
                batches = measure_batch(server, url, creds.api_token, data.batch_patients,
                                        args.batch_size, args.batch_concurrency,
                                        args.batch_duration, args.seed)
            audit_after = audit_counts(url)
            audit_written = {k: v - audit_before.get(k, 0) for k, v in audit_after.items()
                             if v > audit_before.get(k, 0)}
            print("measuring the raw insert limit …", flush=True)
            raw = measure_raw(url, data, args.raw_rows, args.batch_size, args.seed)
            report(backend, data, client, rounds, listed, singles, watcher, batches, raw,
                   args.batch_size, args, audit_written)
        finally:
            if args.keep:
                print(f"kept the database: {safe_url(url)} (server log in {workdir})")
            else:
                drop_database(url)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
