"""Small factories and the named people the tests tell their stories with.

Region Norr runs the home ward at Medicinkliniken (physician Lisa, nurse Sara, assistant
nurse Olle, coordinator Carl) and has a hälsocentral (nurse Hugo); Kommunen's home health
care has nurse Kim and physiotherapist Pia. Rita and Mona review logs; Adam and Kurt
administer their organisations."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from hemma.access.auth import hash_password, start_session
from hemma.db import Database
from hemma.kit.time import utcnow
from hemma.models import (
    Block,
    CareRelation,
    Consent,
    EmergencyAccess,
    Episode,
    Organisation,
    Pathway,
    Patient,
    Staff,
    Unit,
    WebSession,
)
from hemma.patients.personnummer import make
from hemma.web.deps import SESSION_COOKIE

PASSWORD = "correct horse battery"

PEOPLE = {
    # username: (given, family, profession, unit key, admin, log reviewer)
    "lisa": ("Lisa", "Läkare", "physician", "med", False, False),
    "sara": ("Sara", "Sköterska", "nurse", "med", False, False),
    "olle": ("Olle", "Undersköterska", "assistant_nurse", "med", False, False),
    "carl": ("Carl", "Samordnare", "coordinator", "med", False, False),
    "hugo": ("Hugo", "Hälsocentral", "nurse", "hc", False, False),
    "kim": ("Kim", "Kommunsköterska", "nurse", "hsv", False, False),
    "pia": ("Pia", "Fysioterapeut", "physiotherapist", "hsv", False, False),
    "rita": ("Rita", "Granskare", "administrative", "med", False, True),
    "mona": ("Mona", "Granskare", "nurse", "hsv", False, True),
    "adam": ("Adam", "Admin", "administrative", "med", True, False),
    "kurt": ("Kurt", "Admin", "administrative", "hsv", True, False),
}

# Who holds the medical lead's responsibility (edits pathways): a role, no patient data.
MEDICAL_LEADS = frozenset({"lisa"})

_serials = itertools.count(1)


@lru_cache
def _password_hash() -> str:
    return hash_password(PASSWORD)


@dataclass
class World:
    database: Database
    orgs: dict[str, int] = field(default_factory=dict)
    units: dict[str, int] = field(default_factory=dict)
    staff: dict[str, int] = field(default_factory=dict)
    pathways: dict[str, int] = field(default_factory=dict)
    csrf: dict[int, str] = field(default_factory=dict)  # id(client) -> token

    def login(self, client: TestClient, database: Database, username: str) -> str:
        """A real server-side session, as the login form would create (without paying for
        argon2 in every test)."""
        with database.session() as s:
            staff = s.get(Staff, self.staff[username])
            token = start_session(s, staff, "password", client_addr="testclient", user_agent="t")
        with database.session() as s:
            web = s.scalars(select(WebSession).where(WebSession.staff_id == staff.id)
                            .order_by(WebSession.created_at.desc())).first()
            csrf = web.csrf_token
        client.cookies.set(SESSION_COOKIE, token)
        client.headers["X-CSRF-Token"] = csrf
        self.csrf[id(client)] = csrf
        return csrf

    def patient(self, *, name: str = "Test", family: str = "Patientsson",
                unit: str | None = "med", born: date = date(1940, 5, 17),
                registered_by: str = "med") -> uuid.UUID:
        """A patient, with an active care relationship for `unit` (None: no relationship)."""
        with self.database.session() as s:
            now = utcnow()
            patient = Patient(
                personnummer=self._unique_number(s, born),
                birth_date=born, given_name=name, family_name=family,
                street="Storgatan 1", postal_code="921 31", city="Lycksele",
                latitude=64.59, longitude=18.67, phone="070-174 06 05",
                registered_by_unit_id=self.units[registered_by], created_at=now, updated_at=now)
            s.add(patient)
            s.flush()
            if unit is not None:
                s.add(CareRelation(patient_id=patient.id, unit_id=self.units[unit],
                                   starts_at=now - timedelta(days=1), created_by_id=self.staff["sara"],
                                   documented_by_unit_id=self.units[unit]))
            return patient.id

    @staticmethod
    def _unique_number(s, born: date) -> str:
        while True:
            number = make(born, next(_serials) % 1000)
            if not s.scalar(select(Patient.id).where(Patient.personnummer == number)):
                return number

    def relation(self, patient_id: uuid.UUID, *, unit: str | None = None,
                 person: str | None = None, ends_in: timedelta | None = None,
                 documented_by: str | None = None) -> uuid.UUID:
        with self.database.session() as s:
            now = utcnow()
            rel = CareRelation(
                patient_id=patient_id, unit_id=self.units[unit] if unit else None,
                staff_id=self.staff[person] if person else None,
                starts_at=now - timedelta(days=1),
                ends_at=now + ends_in if ends_in is not None else None,
                created_by_id=self.staff["sara"],
                documented_by_unit_id=self.units[documented_by or unit or "med"])
            s.add(rel)
            s.flush()
            return rel.id

    def consent(self, patient_id: uuid.UUID, org: str, *, withdrawn: bool = False) -> uuid.UUID:
        with self.database.session() as s:
            now = utcnow()
            c = Consent(patient_id=patient_id, organisation_id=self.orgs[org], method="oral",
                        given_by="patient", given_at=now - timedelta(hours=1),
                        recorded_by_id=self.staff["sara"], documented_by_unit_id=self.units["med"],
                        withdrawn_at=now - timedelta(minutes=1) if withdrawn else None)
            s.add(c)
            s.flush()
            return c.id

    def block(self, patient_id: uuid.UUID, unit: str) -> uuid.UUID:
        with self.database.session() as s:
            b = Block(patient_id=patient_id, unit_id=self.units[unit],
                      created_at=utcnow() - timedelta(minutes=5), created_by_id=self.staff["sara"])
            s.add(b)
            s.flush()
            return b.id

    def emergency(self, patient_id: uuid.UUID, person: str, *, expired: bool = False) -> None:
        with self.database.session() as s:
            now = utcnow()
            start = now - timedelta(hours=3 if expired else 0, minutes=1)
            s.add(EmergencyAccess(patient_id=patient_id, staff_id=self.staff[person],
                                  reason="Medvetslös patient på akuten", started_at=start,
                                  expires_at=start + timedelta(hours=2)))

    def episode(self, patient_id: uuid.UUID, *, state: str = "admitted", unit: str = "med",
                pathway: str = "opat", bed: int | None = None,
                assessed: bool = True) -> uuid.UUID:
        """An episode in `state`. One under assessment has (unless `assessed` is False) an
        assessment the physician decided to admit on, so that it can be admitted."""
        with self.database.session() as s:
            now = utcnow()
            e = Episode(patient_id=patient_id, state=state, pathway_id=self.pathways[pathway],
                        responsible_unit_id=self.units[unit],
                        assessed_at=now - timedelta(days=3), assessed_by_id=self.staff["sara"],
                        assessment_note="Bedömd lämplig.")
            if state in ("admitted", "discharged", "returned"):
                e.admitted_at = now - timedelta(days=2)
                e.admitted_by_id = self.staff["sara"]
                e.responsible_physician_id = self.staff["lisa"]
                e.coordinator_id = self.staff["carl"]
                e.bed_number = bed if bed is not None else (
                    1 + (s.scalar(select(Episode.bed_number).where(
                        Episode.responsible_unit_id == self.units[unit],
                        Episode.state == "admitted").order_by(Episode.bed_number.desc())
                        .limit(1)) or 0) if state == "admitted" else None)
            if state in ("discharged", "returned", "not_admitted"):
                e.ended_at = now - timedelta(hours=1)
                e.end_note = "Avslutat."
                e.end_reason = {"discharged": "completed",
                                "returned": "deterioration"}.get(state)
            s.add(e)
            s.flush()
            episode_id = e.id
        if state == "assessing" and assessed:
            self.assessed(patient_id, episode_id)
        return episode_id


def _alert(world: World, patient_id: uuid.UUID, *, unit: str = "med", severity: str = "high",
           kind: str = "vitals", status: str = "open") -> uuid.UUID:
    from hemma.models import Alert

    with world.database.session() as s:
        episode_id = s.scalar(select(Episode.id).where(Episode.patient_id == patient_id)
                              .order_by(Episode.assessed_at.desc()).limit(1))
        alert = Alert(patient_id=patient_id, episode_id=episode_id, unit_id=world.units[unit],
                      kind=kind, severity=severity, status=status,
                      dedupe_key=f"test:{uuid.uuid4()}",
                      reasons=[{"message": "NEWS2 %(total)s (%(band)s)",
                                "params": {"total": 7, "band": "high"}, "severity": severity}],
                      created_at=utcnow(), escalation_level=0)
        s.add(alert)
        s.flush()
        return alert.id


def _code(world: World, patient_id: uuid.UUID) -> int:
    from hemma.access.auth import create_patient_code

    with world.database.session() as s:
        _code_text, row = create_patient_code(s, patient_id, world.staff["sara"])
        return row.id


def _assessed(world: World, patient_id: uuid.UUID, episode_id: uuid.UUID, *,
              decision: str | None = "admit", override: bool = False) -> uuid.UUID:
    """A saved assessment of the episode, every part met, decided by lisa (unless
    `decision` is None): what an admission rests on."""
    from hemma.models import ASSESSMENT_PARTS, Assessment

    with world.database.session() as s:
        now = utcnow()
        version = 1 + (s.scalar(select(func.max(Assessment.version)).where(
            Assessment.episode_id == episode_id)) or 0)
        row = Assessment(
            episode_id=episode_id, patient_id=patient_id, version=version,
            parts={p: {"status": "met", "note": None} for p in ASSESSMENT_PARTS},
            stability={"status": "met", "values": {}, "missing": []}, criteria={},
            information={"consent_home": True}, documented_by_unit_id=world.units["med"],
            created_at=now, created_by_id=world.staff["sara"])
        if decision:
            row.decision, row.decided_at, row.decided_by_id = decision, now, world.staff["lisa"]
            row.override = override
        s.add(row)
        s.flush()
        return row.id


World.assessed = _assessed
World.alert = _alert
World.code = _code


@lru_cache
def _builtin_documents() -> dict:
    from hemma.pathways.service import builtin_documents

    return {d.code: d for d in builtin_documents()}


def _builtin(code: str) -> dict:
    return _builtin_documents()[code].columns()


def build_world(database: Database) -> World:
    world = World(database)
    with database.session() as s:
        region = Organisation(name="Region Norr", kind="region")
        kommun = Organisation(name="Kommunen", kind="kommun")
        s.add_all([region, kommun])
        s.flush()
        world.orgs = {"region": region.id, "kommun": kommun.id}
        units = {
            "med": Unit(organisation_id=region.id, name="Medicinkliniken", kind="hospital_clinic",
                        virtual_beds=5),
            "hc": Unit(organisation_id=region.id, name="Hälsocentralen", kind="primary_care"),
            "hsv": Unit(organisation_id=kommun.id, name="Hemsjukvården", kind="home_health"),
        }
        s.add_all(units.values())
        for code, name in (("opat", "Antibiotika i hemmet"), ("hf", "Hjärtsvikt")):
            s.add(Pathway(code=code, name=name))
        # A pathway with everything the road home reads: criteria, visits, the agreement's
        # template, the checklist and the homecoming call (Hemma's own OPAT, by another code).
        s.add(Pathway(**{**_builtin("opat"), "code": "snabbspar"}, version=1, active=True))
        s.flush()
        world.units = {k: u.id for k, u in units.items()}
        world.pathways = {p.code: p.id for p in s.scalars(select(Pathway))}
        for username, (given, family, prof, unit, admin, reviewer) in PEOPLE.items():
            staff = Staff(username=username, given_name=given, family_name=family,
                          profession=prof, unit_id=units[unit].id, skills=[], is_admin=admin,
                          is_log_reviewer=reviewer, is_medical_lead=username in MEDICAL_LEADS,
                          password_hash=_password_hash(),
                          created_at=utcnow())
            s.add(staff)
            s.flush()
            world.staff[username] = staff.id
    return world


def now_plus(**kw) -> datetime:
    return utcnow() + timedelta(**kw)
