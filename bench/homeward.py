"""Home-ward benchmark: how fast are the home-ward list and the patient overview on a
realistically sized installation, measured through real HTTP against the real app?

    .venv/bin/python bench/homeward.py                       # PostgreSQL (the default URL)
    .venv/bin/python bench/homeward.py --database-url sqlite:////tmp/bench.sqlite3

It (1) drops, recreates and migrates a benchmark database, (2) bulk-loads a region and a
kommun with 40 units, 1,000 staff and 10,000 patients with episodes, care relations, consents,
blocks and relatives, (3) starts uvicorn on a free port, (4) signs a nurse of the measured
home ward in with a server-side session, (5) times GET /home-ward, GET /api/v1/home-ward and
GET /patients/{id} sequentially from one client and prints count, mean, p50, p95, p99, max.

This prints figures; it is not a test. It exits 0 whatever the figures are (1 if it crashed).
The database it creates is dropped at the end unless --keep is given.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Run from a checkout even when the package is not installed into the interpreter.
sys.path.insert(0, str(ROOT / "src"))

import httpx  # noqa: E402
from sqlalchemy import create_engine, func, insert, select, text  # noqa: E402
from sqlalchemy.engine import Engine, make_url  # noqa: E402

from hemma.access.auth import hash_password, start_session  # noqa: E402
from hemma.db import Database  # noqa: E402
from hemma.migrations.runner import upgrade  # noqa: E402
from hemma.models import (  # noqa: E402
    ASSESSMENT_PARTS,
    Agreement,
    Assessment,
    AuditEntry,
    Block,
    CarePlan,
    CarePlanVersion,
    CareRelation,
    ChecklistItem,
    Consent,
    Episode,
    Observation,
    Organisation,
    Pathway,
    Patient,
    PlanActivity,
    Relative,
    Staff,
    Task,
    Unit,
)
from hemma.patients.personnummer import make  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://hemma:hemma@127.0.0.1:5432/hemma_bench"
TARGET_MS = 100.0
# Fixed, so that the audit chain written during a run could be verified afterwards with
# `HEMMA_SECRET_KEY=... hemma audit verify` on a --keep database.
SECRET_KEY = "hemma-bench-secret-key-not-for-production-0123456789"
BENCH_USER = "bench.nurse"
WARMUP = 20


# --- The database --------------------------------------------------------------------------


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def safe_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _admin_engine(url: str) -> Engine:
    """An AUTOCOMMIT engine on a database that always exists (CREATE/DROP DATABASE cannot run
    inside a transaction, nor while connected to the database itself)."""
    u = make_url(url)
    last_error = None
    for maintenance in ("postgres", "template1", "hemma_test"):
        engine = create_engine(u.set(database=maintenance), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect():
                return engine
        except Exception as exc:  # try the next one
            last_error = exc
            engine.dispose()
    raise RuntimeError(f"cannot reach a maintenance database on {safe_url(url)}: {last_error}")


def _sqlite_files(url: str) -> list[Path]:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise SystemExit("SQLite needs a file database: the app runs in another process")
    path = Path(database)
    return [path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")]


def drop_database(url: str) -> None:
    if is_sqlite(url):
        for f in _sqlite_files(url):
            f.unlink(missing_ok=True)
        return
    name = make_url(url).database
    admin = _admin_engine(url)
    try:
        with admin.connect() as conn:
            # FORCE ends the connections a crashed earlier run may have left behind.
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def create_database(url: str) -> None:
    """Drop and recreate, so that every run starts from the same empty, migrated database."""
    drop_database(url)
    if is_sqlite(url):
        _sqlite_files(url)[0].parent.mkdir(parents=True, exist_ok=True)
        return
    name = make_url(url).database
    admin = _admin_engine(url)
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()


def backend_description(url: str) -> str:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            if is_sqlite(url):
                version = conn.execute(text("select sqlite_version()")).scalar()
                return f"SQLite {version} ({safe_url(url)})"
            version = conn.execute(text("show server_version")).scalar()
            return f"PostgreSQL {version} ({safe_url(url)})"
    finally:
        engine.dispose()


# --- The data ------------------------------------------------------------------------------

# Towns in Västerbotten and Norrbotten: (name, postal code, latitude, longitude).
TOWNS = [
    ("Lycksele", "921 31", 64.5954, 18.6733),
    ("Umeå", "903 25", 63.8258, 20.2630),
    ("Skellefteå", "931 30", 64.7507, 20.9528),
    ("Luleå", "972 31", 65.5848, 22.1547),
    ("Piteå", "941 31", 65.3172, 21.4794),
    ("Kiruna", "981 31", 67.8558, 20.2253),
    ("Gällivare", "982 31", 67.1339, 20.6528),
    ("Storuman", "923 31", 65.0964, 17.1100),
    ("Vilhelmina", "912 31", 64.6242, 16.6556),
    ("Sorsele", "924 31", 65.5342, 17.5344),
    ("Arvidsjaur", "933 31", 65.5925, 19.1800),
    ("Boden", "961 31", 65.8252, 21.6886),
]
STREETS = ["Storgatan", "Skolgatan", "Byvägen", "Älvvägen", "Skogsvägen", "Norrvägen",
           "Kyrkvägen", "Sjövägen", "Myrvägen", "Backvägen", "Tallstigen", "Forsvägen"]
GIVEN = ["Gunnel", "Rune", "Ingrid", "Sven-Erik", "Margit", "Bertil", "Elsa", "Karl-Gustav",
         "Britt", "Henning", "Anna-Lisa", "Olle", "Maj-Britt", "Torsten", "Astrid", "Gösta",
         "Inga", "Lennart", "Kerstin", "Arne", "Solveig", "Harald", "Vera", "Erling", "Dagny",
         "Folke", "Ruth", "Stig", "Aina", "Birger", "Signe", "Nils", "Elvy", "Hilding"]
FAMILY = ["Lindgren", "Öberg", "Nyström", "Lundmark", "Holmgren", "Sandström", "Marklund",
          "Burman", "Åström", "Westerlund", "Nordlund", "Granström", "Eriksson", "Lindberg",
          "Hällström", "Nordin", "Vikström", "Sjöberg", "Olofsson", "Hedlund", "Lidström",
          "Jonsson", "Stenlund", "Degerman", "Wiklund", "Åkerlund", "Lindahl", "Brännström",
          "Forsgren", "Hammarström", "Lundström", "Nilsson", "Berglund", "Sundqvist"]
STAFF_GIVEN = ["Karin", "Erik", "Maria", "Sara", "Johan", "Lena", "Petra", "Anders", "Ola",
               "Ulla", "Nils", "Eva", "Jonas", "Frida", "Hanna", "Per", "Agneta", "Linnéa",
               "Mikael", "Sofia", "David", "Ingela", "Tomas", "Birgitta", "Emma", "Oskar"]
RELATIONS = ["dotter", "son", "make", "maka", "sambo", "syster", "bror", "granne"]
PATHWAYS = [
    ("opat", "Intravenös antibiotika i hemmet (OPAT)"),
    ("heart_failure", "Hjärtsvikt"),
    ("copd", "KOL med exacerbation"),
    ("palliative", "Palliativ vård i livets slutskede"),
    ("general", "Allmän sjukhusvård i hemmet"),
]
CLINICS = ["Medicinkliniken", "Geriatriska kliniken", "Infektionskliniken", "Hjärtkliniken",
           "Lungkliniken"]
REGION_ID, KOMMUN_ID = 1, 2

# Profession patterns per unit kind, cycled over the unit's staff: the mix, not the count.
PROFESSION_MIX = {
    "hospital_clinic": ["nurse", "physician", "nurse", "assistant_nurse", "coordinator", "nurse",
                        "physician", "assistant_nurse", "nurse", "physiotherapist"],
    "primary_care": ["physician", "nurse", "nurse", "assistant_nurse", "physician",
                     "physiotherapist", "nurse", "occupational_therapist", "coordinator"],
    "mobile_team": ["nurse", "physician", "nurse", "assistant_nurse", "nurse", "coordinator"],
    "home_health": ["nurse", "assistant_nurse", "nurse", "assistant_nurse", "physiotherapist",
                    "nurse", "occupational_therapist", "assistant_nurse"],
    "rehab": ["physiotherapist", "occupational_therapist", "physiotherapist", "nurse"],
}


def fictional_phone(i: int) -> str:
    # The range Swedish regulators keep free for fiction (070-174 06 05–99).
    return f"070-174 06 {5 + i % 95:02d}"


@dataclass
class UnitSpec:
    id: int
    organisation_id: int
    name: str
    kind: str
    town: int  # index into TOWNS
    virtual_beds: int = 0
    staff: dict[str, list[int]] = field(default_factory=dict)  # profession -> staff ids


@dataclass
class Dataset:
    """What was generated, and the handles the measurement needs."""

    counts: dict[str, int]
    measured_unit: UnitSpec
    nurse_id: int
    seconds: float


def _pick(rng: random.Random, unit: UnitSpec, *professions: str) -> int:
    for profession in professions:
        if unit.staff.get(profession):
            return rng.choice(unit.staff[profession])
    return rng.choice([i for ids in unit.staff.values() for i in ids])


def _units(n_patients: int, active_share: float, measured_list: int
           ) -> tuple[list[UnitSpec], dict[int, int]]:
    """40 units, and how many active episodes each home-ward clinic carries.

    The measured home ward has 60 virtual beds and about `measured_list` patients on its list
    (5/6 admitted, 1/6 assessing). The other 19 clinics share the rest of the active episodes
    (~30% of all patients): with 60 beds each they could not hold them, so their bed count is
    sized to ~85% occupancy. Their size does not enter the measured list; it only makes the
    tables (and so the index scans) realistically large."""
    units: list[UnitSpec] = []

    def add(org: int, name: str, kind: str, town: int) -> UnitSpec:
        u = UnitSpec(len(units) + 1, org, name, kind, town)
        units.append(u)
        return u

    clinics = [add(REGION_ID, f"{CLINICS[i % len(CLINICS)]}, {TOWNS[i % len(TOWNS)][0]} "
                              f"{'lasarett' if i < len(TOWNS) else 'sjukhus'}",
                   "hospital_clinic", i % len(TOWNS)) for i in range(20)]
    for i in range(8):
        add(REGION_ID, f"{TOWNS[i][0]} hälsocentral", "primary_care", i)
    for i, area in enumerate(("Södra Lappland", "Norrbottens inland")):
        add(REGION_ID, f"Mobila teamet {area}", "mobile_team", 0 if i == 0 else 10)
    for i in range(8):
        add(KOMMUN_ID, f"Hemsjukvården {TOWNS[i][0]}", "home_health", i)
    for i in range(2):
        add(KOMMUN_ID, f"Rehab {TOWNS[i][0]}", "rehab", i)

    n_active = round(active_share * n_patients)
    measured = min(measured_list, n_active)
    rest = n_active - measured
    active: dict[int, int] = {clinics[0].id: measured}
    for i, clinic in enumerate(clinics[1:]):
        active[clinic.id] = rest // 19 + (1 if i < rest % 19 else 0)
    clinics[0].virtual_beds = 60
    for clinic in clinics[1:]:
        admitted = round(active[clinic.id] * 5 / 6)
        clinic.virtual_beds = max(60, math.ceil(admitted / 0.85 / 10) * 10)
    return units, active


def _staff_rows(units: list[UnitSpec], n_staff: int, measured: UnitSpec,
                now: datetime) -> list[dict]:
    """~60% of the staff in the clinics (they run the wards round the clock), the rest spread
    over the other units; the measured home ward's first nurse is the benchmark's user."""
    weights = [1.5 if u.kind == "hospital_clinic" else 1.0 for u in units]
    per_unit = [int(n_staff * w / sum(weights)) for w in weights]
    for i in range(n_staff - sum(per_unit)):
        per_unit[i % len(units)] += 1
    password_hash = hash_password("hemma-bench")  # argon2 once: it costs ~50 ms per call
    rows, sid = [], 0
    for unit, count in zip(units, per_unit, strict=True):
        mix = PROFESSION_MIX[unit.kind]
        for k in range(count):
            sid += 1
            profession = mix[k % len(mix)]
            unit.staff.setdefault(profession, []).append(sid)
            rows.append({
                "id": sid,
                "username": BENCH_USER if unit is measured and k == 0 else f"staff{sid:05d}",
                "given_name": STAFF_GIVEN[sid % len(STAFF_GIVEN)],
                "family_name": FAMILY[(sid * 7) % len(FAMILY)],
                "profession": profession, "unit_id": unit.id, "skills": [],
                "hsa_id": f"SE2321000222-B{sid:06d}", "phone": fictional_phone(sid),
                "is_admin": False, "is_log_reviewer": False, "active": True,
                "password_hash": password_hash, "created_at": now - timedelta(days=400),
            })
    assert rows[measured.staff["nurse"][0] - 1]["username"] == BENCH_USER
    return rows


def _episode_plans(clinics: list[UnitSpec], active_per_clinic: dict[int, int],
                   n_patients: int, rng: random.Random) -> list[tuple[UnitSpec, str]]:
    """(responsible clinic, episode state) per patient: each clinic's active episodes, 5/6 of
    them admitted, then ended episodes (discharged, returned, not admitted) for the rest."""
    plans: list[tuple[UnitSpec, str]] = []
    for clinic in clinics:
        n = active_per_clinic[clinic.id]
        admitted = min(round(n * 5 / 6), clinic.virtual_beds)
        plans += [(clinic, "admitted")] * admitted + [(clinic, "assessing")] * (n - admitted)
    ended_states = ["discharged"] * 72 + ["returned"] * 13 + ["not_admitted"] * 15
    while len(plans) < n_patients:
        plans.append((rng.choice(clinics), rng.choice(ended_states)))
    plans = plans[:n_patients]
    rng.shuffle(plans)
    return plans


def _episode_times(state: str, now: datetime, rng: random.Random
                   ) -> tuple[datetime, datetime | None, datetime | None]:
    """(assessed, admitted, ended) for an episode in `state`: UTC-aware, in the past, in
    order."""
    if state == "assessing":
        return now - timedelta(hours=rng.uniform(1, 48)), None, None
    if state == "admitted":
        admitted = now - timedelta(days=rng.uniform(0.2, 20))
        return admitted - timedelta(hours=rng.uniform(2, 30)), admitted, None
    # Most episodes ended long ago; ~3% within the 7-day grace period, so their care
    # relationship is still active (as after a real discharge).
    back = rng.uniform(0.1, 7) if rng.random() < 0.03 else rng.uniform(7, 730)
    ended = now - timedelta(days=back)
    if state == "not_admitted":
        return ended - timedelta(hours=rng.uniform(2, 48)), None, ended
    admitted = ended - timedelta(days=rng.uniform(2, 20))
    return admitted - timedelta(hours=rng.uniform(2, 30)), admitted, ended


class _Rows:
    """The rows of every patient table, appended patient by patient."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.tables: dict[type, list[dict]] = {
            Patient: [], Relative: [], Episode: [], CareRelation: [], Consent: [], Block: [],
            Observation: [], Assessment: [], Agreement: [], CarePlan: [], PlanActivity: [],
            CarePlanVersion: [], ChecklistItem: [], Task: []}

    def uuid(self) -> uuid.UUID:
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)  # seeded: repeatable

    def add(self, model: type, **row) -> None:
        self.tables[model].append(row)

    def relation(self, patient_id: uuid.UUID, *, unit: int | None = None,
                 staff: int | None = None, role: str, starts: datetime,
                 ends: datetime | None, by: int, documented_by: int,
                 episode: uuid.UUID | None = None) -> None:
        self.add(CareRelation, id=self.uuid(), patient_id=patient_id, episode_id=episode,
                 unit_id=unit, staff_id=staff, role=role, starts_at=starts, ends_at=ends,
                 created_by_id=by, documented_by_unit_id=documented_by, ended_by_id=None)


def _road_home(out: _Rows, pid, eid, clinic: UnitSpec, hsv: UnitSpec, nurse: int,
               admitted: datetime, now: datetime, rng: random.Random) -> None:
    """What an admitted patient's overview shows beyond the episode: values twice a day
    since admission, the assessment, a confirmed agreement, the shared plan with an activity
    of each organisation, the checklist and the homecoming call."""
    t = admitted
    while t < now:
        out.add(Observation, id=out.uuid(), patient_id=pid, episode_id=eid,
                client_id=f"b-{out.uuid()}", measured_at=t, measured_offset_minutes=60,
                received_at=t, performer="patient", source="patient_page",
                documented_by_unit_id=clinic.id, respiration_rate=rng.randint(13, 19),
                spo2=rng.randint(94, 99), on_oxygen=False,
                temperature=round(rng.uniform(36.4, 37.8), 1),
                systolic_bp=rng.randint(110, 150), pulse=rng.randint(60, 95),
                consciousness="A", news2_total=rng.randint(0, 3), news2_band="low",
                news2_partial=False, feeling_worse=False, symptoms={})
        t += timedelta(hours=12)
    met = {"status": "met", "note": None}
    out.add(Assessment, id=out.uuid(), episode_id=eid, patient_id=pid, version=1,
            parts={p: met for p in ASSESSMENT_PARTS}, stability={"status": "met"},
            criteria={}, information={"consent_home": True},
            documented_by_unit_id=clinic.id, created_at=admitted - timedelta(hours=3),
            created_by_id=nurse, decision="admit", decision_reason=None, override=False,
            decided_at=admitted - timedelta(hours=2), decided_by_id=nurse)
    out.add(Agreement, id=out.uuid(), episode_id=eid, patient_id=pid, version=1,
            content={"patient_tasks": ["Mät morgon och kväll"], "team_tasks": ["Fjärrond"],
                     "if_worse": [{"symptom": "Feber", "action": "call_team"}],
                     "planned_days": 10, "end_criteria": "Klar",
                     "phones": {"day": "070-111 11 11", "night": "070-222 22 22"}},
            change_note=None, documented_by_unit_id=clinic.id, created_at=admitted,
            created_by_id=nurse, confirmed_at=admitted + timedelta(hours=2),
            confirmed_how="patient_page", confirmed_by_id=None)
    plan = out.uuid()
    out.add(CarePlan, id=plan, episode_id=eid, patient_id=pid, version=1,
            goals="Klara mig själv hemma", needs=None, follow_ups=[],
            documented_by_unit_id=clinic.id, updated_at=admitted, updated_by_id=nurse)
    out.add(CarePlanVersion, plan_id=plan, version=1, snapshot={}, change="goals",
            documented_by_unit_id=clinic.id, changed_at=admitted, changed_by_id=nurse)
    for unit, what in ((clinic.id, "Fjärrond varje vardag"), (hsv.id, "Tillsyn vid behov")):
        out.add(PlanActivity, id=out.uuid(), plan_id=plan, episode_id=eid, patient_id=pid,
                unit_id=unit, staff_id=None, what=what, kind="ongoing", times=[],
                duration_minutes=None, skills=[], care_kind=None, due_at=None,
                starts_on=admitted.date(), ends_on=None, continues_after=False,
                status="ongoing", care_request_id=None, task_id=None,
                documented_by_unit_id=unit, created_at=admitted, created_by_id=nurse,
                updated_at=admitted, updated_by_id=nurse)
    for i, category in enumerate(("supplies", "medicines", "devices", "devices", "key")):
        out.add(ChecklistItem, id=out.uuid(), episode_id=eid, patient_id=pid, position=i,
                category=category, what=f"Sak {i + 1}",
                provider_unit_id=hsv.id if category == "key" else clinic.id, deliverer=None,
                due_at=admitted, done_at=admitted - timedelta(hours=1), done_by_id=nurse,
                documented_by_unit_id=clinic.id, created_at=admitted - timedelta(days=1),
                created_by_id=nurse)
    out.add(Task, id=out.uuid(), patient_id=pid, episode_id=eid, kind="homecoming_call",
            title="Hemkomstsamtal", unit_id=clinic.id, staff_id=None,
            due_at=admitted + timedelta(hours=5), questions=[], answers={},
            done_at=admitted + timedelta(hours=5), done_by_id=nurse,
            documented_by_unit_id=clinic.id, created_at=admitted, created_by_id=nurse)


def _patient_rows(plans: list[tuple[UnitSpec, str]], units: list[UnitSpec],
                  staff_rows: list[dict], now: datetime, rng: random.Random) -> _Rows:
    out = _Rows(rng)
    by_id = {u.id: u for u in units}
    primary_care = [u for u in units if u.kind == "primary_care"]
    home_health = [u for u in units if u.kind == "home_health"]
    mobile = [u for u in units if u.kind == "mobile_team"]
    used_numbers: set[str] = set()
    next_bed: dict[int, int] = {}
    for i, (clinic, state) in enumerate(plans):
        town_name, postal, lat, lon = TOWNS[clinic.town]
        hc = primary_care[clinic.town % len(primary_care)]
        hsv = home_health[clinic.town % len(home_health)]
        while True:  # valid, unique personnummer; birth numbers 980-999 as in the demo
            born = date(1925, 1, 1) + timedelta(days=rng.randrange(365 * 45))
            coordination = rng.random() < 0.01
            number = make(born, rng.randrange(980, 1000), coordination=coordination)
            if number not in used_numbers:
                used_numbers.add(number)
                break
        assessed, admitted, ended = _episode_times(state, now, rng)
        # Registered before the episode began (by the clinic, at an earlier contact).
        created = assessed - timedelta(days=rng.uniform(1, 700))
        language = rng.choices(["sv", "fi", "se", "ar", "so", "pl"], [90, 4, 2, 2, 1, 1])[0]
        family = rng.choice(FAMILY)
        pid = out.uuid()
        out.add(Patient,
                id=pid, personnummer=number, is_coordination_number=coordination,
                birth_date=born, given_name=rng.choice(GIVEN), family_name=family,
                street=f"{rng.choice(STREETS)} {rng.randint(1, 60)}", postal_code=postal,
                city=town_name, latitude=round(lat + rng.uniform(-0.4, 0.4), 5),
                longitude=round(lon + rng.uniform(-0.8, 0.8), 5), phone=fictional_phone(i),
                language=language, interpreter_needed=language not in ("sv", "se"),
                digital_ability=rng.choice(["independent", "with_support", "none"]),
                registered_by_unit_id=clinic.id, created_at=created, updated_at=created)
        out.add(Relative,
                id=out.uuid(), patient_id=pid, name=f"{rng.choice(STAFF_GIVEN)} {family}",
                relation=rng.choice(RELATIONS), phone=fictional_phone(i + 50), email=None,
                is_primary_contact=True, may_receive_information=rng.random() < 0.8,
                note=None, documented_by_unit_id=clinic.id, created_at=created)

        nurse = _pick(rng, clinic, "nurse")
        physician = _pick(rng, clinic, "physician")
        coordinator = None
        if admitted is not None:
            # Mostly the clinic's coordinator; sometimes a mobile-team nurse, who then joins
            # the care team by name (a personal care relation).
            coordinator = (_pick(rng, mobile[clinic.town % len(mobile)], "nurse")
                           if rng.random() < 0.2 else _pick(rng, clinic, "coordinator", "nurse"))
        bed = None
        if state == "admitted":
            # Numbered 1, 2, … per unit: unique among admitted (uq_episodes_bed_per_unit).
            bed = next_bed[clinic.id] = next_bed.get(clinic.id, 0) + 1
        elif admitted is not None:
            bed = rng.randint(1, clinic.virtual_beds)  # a past bed: no uniqueness
        held = state == "admitted" and rng.random() < 0.1
        eid = out.uuid()
        out.add(Episode,
                id=eid, patient_id=pid, state=state,
                pathway_id=rng.randint(1, len(PATHWAYS)), responsible_unit_id=clinic.id,
                responsible_physician_id=physician if admitted else None,
                coordinator_id=coordinator, bed_number=bed, held_bed=held,
                held_bed_location=f"Avdelning 5, {town_name}" if held else None,
                assessment_note="NEWS2 under 4 utan syrgas. Vill vårdas hemma.",
                assessed_at=assessed, assessed_by_id=nurse,
                admitted_at=admitted, admitted_by_id=nurse if admitted else None,
                ended_at=ended, ended_by_id=physician if ended else None,
                end_note={"discharged": "Utskriven efter avslutad behandling.",
                          "returned": "Försämrad, åter till sjukhus.",
                          "not_admitted": "Ej lämplig för vård i hemmet."}.get(state),
                ambulance_informed=state == "returned" and rng.random() < 0.7)

        if state == "admitted":
            _road_home(out, pid, eid, clinic, hsv, nurse, admitted, now, rng)

        # The care team. The responsible unit is bound to the episode and, as after a real
        # discharge, keeps access for the 7-day grace period.
        grace = ended + timedelta(days=7) if ended else None
        out.relation(pid, unit=clinic.id, role="Ansvarig enhet", starts=assessed, ends=grace,
                     by=nurse, documented_by=clinic.id, episode=eid)
        if coordinator is not None and by_id[staff_rows[coordinator - 1]["unit_id"]] is not clinic:
            out.relation(pid, staff=coordinator, role="Fast vårdkontakt", starts=admitted,
                         ends=grace, by=nurse, documented_by=clinic.id, episode=eid)
        if rng.random() < 0.65:
            # The kommun's home health care: an ongoing relation of its own, documented by
            # the kommun (so the region sees it only with the patient's consent).
            out.relation(pid, unit=hsv.id, role="Kommunal hemsjukvård", starts=created,
                         ends=None, by=_pick(rng, hsv, "nurse"), documented_by=hsv.id)
        if rng.random() < 0.5:
            out.relation(pid, unit=hc.id, role="Fast läkarkontakt", starts=created, ends=None,
                         by=_pick(rng, hc, "nurse"), documented_by=hc.id)

        if rng.random() < 0.7:
            # Consent to sharing between the region and the kommun, both ways; a few withdrawn.
            given = min(assessed, created + timedelta(days=1))
            withdrawn = (given + (now - given) * rng.uniform(0.5, 0.99)
                         if rng.random() < 0.02 else None)
            for org in (REGION_ID, KOMMUN_ID):
                out.add(Consent,
                        id=out.uuid(), patient_id=pid, organisation_id=org,
                        method=rng.choice(["oral", "written"]),
                        given_by="patient" if rng.random() < 0.9 else "representative",
                        note=None, given_at=given, recorded_by_id=nurse,
                        documented_by_unit_id=clinic.id, withdrawn_at=withdrawn,
                        withdrawn_by_id=nurse if withdrawn else None)
        if rng.random() < 0.01:
            # A few blocks (spärr) on the hälsocentral's information, some since lifted.
            lifted = now - timedelta(days=rng.uniform(0, 10)) if rng.random() < 0.1 else None
            out.add(Block,
                    id=out.uuid(), patient_id=pid, unit_id=hc.id, note="Patientens begäran.",
                    created_at=created + timedelta(days=1),
                    created_by_id=_pick(rng, hc, "nurse"), lifted_at=lifted,
                    lifted_by_id=_pick(rng, hc, "nurse") if lifted else None)
    return out


def _load(url: str, tables: list[tuple[type, list[dict]]]) -> None:
    """Parents before children, in one transaction; Core executemany (batched multi-row
    INSERTs on PostgreSQL), never ORM one-by-one."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            for model, rows in tables:
                for start in range(0, len(rows), 5000):
                    conn.execute(insert(model), rows[start:start + 5000])
            if not is_sqlite(url):
                # Explicit ids were given: move the serial sequences past them, so that the
                # app (or a --keep session) can still create organisations, units and staff.
                for table in ("organisations", "pathways", "units", "staff"):
                    conn.execute(text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"))
        if not is_sqlite(url):
            # What autovacuum would do a minute after a bulk load; done now, so the planner
            # has statistics from the first measured request and runs are comparable.
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("ANALYZE"))
    finally:
        engine.dispose()


def generate(url: str, *, n_patients: int, n_staff: int, seed: int,
             active_share: float, measured_list: int) -> Dataset:
    """Build every row in memory (seeded, so runs are repeatable), then bulk-load them."""
    started = time.perf_counter()
    rng = random.Random(seed)
    now = datetime.now(UTC)
    units, active_per_clinic = _units(n_patients, active_share, measured_list)
    clinics = [u for u in units if u.kind == "hospital_clinic"]
    measured = clinics[0]
    staff_rows = _staff_rows(units, n_staff, measured, now)
    plans = _episode_plans(clinics, active_per_clinic, n_patients, rng)
    rows = _patient_rows(plans, units, staff_rows, now, rng)
    orgs = [
        {"id": REGION_ID, "name": "Region Norr (bench)", "kind": "region",
         "org_number": "232100-0000", "hsa_id": "SE2321000000-bench-region"},
        {"id": KOMMUN_ID, "name": "Norrbygdens kommun (bench)", "kind": "kommun",
         "org_number": "212000-0000", "hsa_id": "SE2120000000-bench-kommun"},
    ]
    unit_rows = [
        {"id": u.id, "organisation_id": u.organisation_id, "name": u.name, "kind": u.kind,
         "hsa_id": f"SE2321000222-U{u.id:04d}", "phone": fictional_phone(u.id),
         "virtual_beds": u.virtual_beds, "active": True}
        for u in units
    ]
    pathways = [{"id": i, "code": code, "name": name, "description": None, "active": True}
                for i, (code, name) in enumerate(PATHWAYS, start=1)]
    t = rows.tables
    _load(url, [(Organisation, orgs), (Pathway, pathways), (Unit, unit_rows),
                (Staff, staff_rows), (Patient, t[Patient]), (Relative, t[Relative]),
                (Episode, t[Episode]), (CareRelation, t[CareRelation]),
                (Consent, t[Consent]), (Block, t[Block]), (Observation, t[Observation]),
                (Assessment, t[Assessment]), (Agreement, t[Agreement]),
                (CarePlan, t[CarePlan]), (CarePlanVersion, t[CarePlanVersion]),
                (PlanActivity, t[PlanActivity]), (ChecklistItem, t[ChecklistItem]),
                (Task, t[Task])])

    counts = {
        "organisations": len(orgs), "units": len(units),
        "home_ward_units": sum(1 for u in units if u.virtual_beds > 0),
        "staff": len(staff_rows), "patients": len(t[Patient]), "episodes": len(t[Episode]),
        "active_episodes": sum(1 for e in t[Episode] if e["state"] in ("assessing", "admitted")),
        "care_relations": len(t[CareRelation]), "consents": len(t[Consent]),
        "blocks": len(t[Block]), "relatives": len(t[Relative]), "pathways": len(pathways),
        "observations": len(t[Observation]), "agreements": len(t[Agreement]),
        "plan_activities": len(t[PlanActivity]), "checklist_items": len(t[ChecklistItem]),
    }
    return Dataset(counts, measured, measured.staff["nurse"][0], time.perf_counter() - started)


def audit_count(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.scalar(select(func.count()).select_from(AuditEntry)) or 0
    finally:
        engine.dispose()


def login_token(url: str, staff_id: int) -> str:
    """A real server-side session, as the login form creates it (without argon2 and CSRF
    round trips, the way tests/factories.py World.login does)."""
    database = Database(url)
    try:
        with database.session() as s:
            staff = s.get(Staff, staff_id)
            return start_session(s, staff, "password", client_addr="127.0.0.1",
                                 user_agent="hemma-bench")
    finally:
        database.dispose()


# --- The server ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_server(url: str, workdir: Path) -> Iterator[str]:
    """uvicorn in a subprocess, one worker, no access log (writing one line per request to
    a pipe would be measured too). Always stopped on the way out, also after an error."""
    port = free_port()
    env = dict(os.environ, HEMMA_DATABASE_URL=url, HEMMA_SECRET_KEY=SECRET_KEY,
               HEMMA_DATA_DIR=str(workdir), PYTHONUNBUFFERED="1")
    log_path = workdir / "uvicorn.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "hemma.app:serve_app", "--factory",
             "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
             "--log-level", "warning"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"uvicorn exited with {proc.returncode}:\n"
                                   + log_path.read_text(errors="replace")[-3000:])
            try:
                if httpx.get(f"{base}/api/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not answer /api/v1/health within 60 s:\n"
                                   + log_path.read_text(errors="replace")[-3000:])
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        errors = log_path.read_text(errors="replace") if log_path.exists() else ""
        if "Traceback" in errors:
            print("--- the server logged errors ---\n" + errors[-3000:], file=sys.stderr)


# --- Measuring -----------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    times_ms: list[float]
    rows: str

    def percentile(self, p: float) -> float:
        """Linear interpolation between closest ranks (numpy's default)."""
        xs = sorted(self.times_ms)
        k = (len(xs) - 1) * p / 100
        lo, hi = math.floor(k), math.ceil(k)
        return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)

    @property
    def mean(self) -> float:
        return sum(self.times_ms) / len(self.times_ms)


def _get(client: httpx.Client, path: str) -> httpx.Response:
    response = client.get(path)
    if response.status_code != 200:
        raise RuntimeError(f"GET {path} answered {response.status_code}: {response.text[:500]}")
    return response


def measure(client: httpx.Client, name: str, paths: Callable[[int], str], n: int,
            rows: Callable[[httpx.Response], int] | None) -> Result:
    for i in range(WARMUP):  # imports, template compilation, connection pool, plan caches
        _get(client, paths(i))
    times, seen = [], set()
    for i in range(n):
        path = paths(i)
        t0 = time.perf_counter()
        response = _get(client, path)
        times.append((time.perf_counter() - t0) * 1000)
        if rows is not None:
            seen.add(rows(response))
    shown = "/".join(str(r) for r in sorted(seen)) if seen else "-"
    return Result(name, times, shown)


_HTML_ROW = re.compile(r'<tr data-patient="')


def run_benchmark(base: str, token: str, n: int) -> tuple[list[Result], int]:
    # The session cookie is Secure: a cookie jar would not send it over plain http, so it
    # goes in a raw Cookie header (the app reads it from the header either way).
    headers = {"Cookie": f"hemma_session={token}", "Accept-Language": "sv",
               "User-Agent": "hemma-bench"}
    with httpx.Client(base_url=base, headers=headers, timeout=60,
                      follow_redirects=False) as client:
        listing = _get(client, "/api/v1/home-ward").json()
        patient_ids = [row["patient_id"] for row in listing]
        if not patient_ids:
            raise RuntimeError("the measured home-ward list is empty")
        results = [
            measure(client, "GET /home-ward (HTML list)", lambda i: "/home-ward", n,
                    lambda r: len(_HTML_ROW.findall(r.text))),
            measure(client, "GET /api/v1/home-ward (JSON list)", lambda i: "/api/v1/home-ward", n,
                    lambda r: len(r.json())),
            measure(client, "GET /patients/{id} (overview HTML)",
                    lambda i: f"/patients/{patient_ids[i % len(patient_ids)]}", n, None),
        ]
    return results, len(patient_ids)


def report(data: Dataset, results: list[Result], listed: int, audit_written: int,
           backend: str, n: int) -> None:
    c = data.counts
    print()
    print("Hemma home-ward benchmark")
    print(f"  backend        {backend}")
    print(f"  dataset        {c['patients']:,} patients · {c['staff']:,} staff · "
          f"{c['units']} units ({c['home_ward_units']} home wards) · "
          f"{c['organisations']} organisations")
    print(f"                 {c['episodes']:,} episodes ({c['active_episodes']:,} active) · "
          f"{c['care_relations']:,} care relations · {c['consents']:,} consents · "
          f"{c['blocks']} blocks · {c['relatives']:,} relatives · {c['pathways']} pathways")
    print(f"  generated in   {data.seconds:.1f} s (Core executemany inserts"
          f"{' + ANALYZE' if backend.startswith('PostgreSQL') else ''})")
    print(f"  measured unit  {data.measured_unit.name} ({data.measured_unit.virtual_beds} virtual "
          f"beds), signed in as {BENCH_USER}; {listed} patients on its list")
    print(f"  requests       {WARMUP} warm-up + {n} measured per endpoint, sequential, "
          f"one keep-alive connection, one uvicorn worker")
    print()
    print(f"  {'endpoint':<38}{'count':>6}{'mean':>8}{'p50':>8}{'p95':>8}{'p99':>8}{'max':>8}"
          f"  rows")
    for r in results:
        print(f"  {r.name:<38}{len(r.times_ms):>6}{r.mean:>8.1f}{r.percentile(50):>8.1f}"
              f"{r.percentile(95):>8.1f}{r.percentile(99):>8.1f}{max(r.times_ms):>8.1f}  {r.rows}")
    print("  (milliseconds, measured at the client)")
    print()
    print(f"  audit entries written during the run: {audit_written:,}")
    verdicts = []
    for r, label in zip(results, ("list HTML", "list JSON", "overview"), strict=True):
        p95 = r.percentile(95)
        verdicts.append(f"{label} p95 {p95:.1f} ms {'PASS' if p95 <= TARGET_MS else 'FAIL'}")
    print(f"RESULT ({' '.join(backend.split()[:2])}, target p95 <= {TARGET_MS:.0f} ms): "
          + "; ".join(verdicts))


# --- Main ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url",
                        default=os.environ.get("HEMMA_BENCH_DATABASE_URL", DEFAULT_URL),
                        help="PostgreSQL or SQLite URL; dropped and recreated on every run "
                             f"(default: $HEMMA_BENCH_DATABASE_URL, else {DEFAULT_URL})")
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--staff", type=int, default=1_000)
    parser.add_argument("--requests", type=int, default=200, help="measured requests per endpoint")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--seed", type=int, default=20261130, help="random seed of the data")
    args = parser.parse_args(argv)
    if args.staff < 200 or args.patients < 100 or args.requests < 1:
        parser.error("need at least 200 staff, 100 patients and 1 request")
    url = args.database_url

    # The server's data dir and log. Set for this process too, before anything reads hemma's
    # settings (start_session() does), so that nothing writes a secret key under ./data.
    workdir = Path(tempfile.mkdtemp(prefix="hemma-bench-"))
    os.environ["HEMMA_SECRET_KEY"] = SECRET_KEY
    os.environ["HEMMA_DATA_DIR"] = str(workdir)
    print(f"preparing {safe_url(url)} …", flush=True)
    try:
        create_database(url)
        try:
            t0 = time.perf_counter()
            upgrade(url)
            migrated = time.perf_counter() - t0
            data = generate(url, n_patients=args.patients, n_staff=args.staff, seed=args.seed,
                            active_share=0.30, measured_list=60)
            print(f"migrated in {migrated:.1f} s, generated in {data.seconds:.1f} s", flush=True)
            backend = backend_description(url)
            token = login_token(url, data.nurse_id)
            audit_before = audit_count(url)
            with running_server(url, workdir) as base:
                results, listed = run_benchmark(base, token, args.requests)
            audit_written = audit_count(url) - audit_before
            report(data, results, listed, audit_written, backend, args.requests)
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
