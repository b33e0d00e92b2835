"""Demo data: a fictional but realistic home ward around Lycksele in Västerbotten.

Region Västerbotten's medicine clinic at Lycksele hospital runs the home ward with the
hälsocentral and the mobile team; Lycksele kommun's home-health nursing and rehab visit the
patients. All people are fictional. Personnummer are valid (date and check digit) but use
birth numbers 980–999; phone numbers are from the ranges Swedish regulators keep free for
fiction (070-174 06 05–99, 0980-319 200–299)."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta

from sqlalchemy import select

from hemma.access import audit
from hemma.access.auth import hash_password
from hemma.db import Database
from hemma.kit.time import STOCKHOLM, local_date, utcnow
from hemma.models import (
    Block,
    CareRelation,
    Consent,
    Episode,
    Organisation,
    Pathway,
    Patient,
    Relative,
    Staff,
    Unit,
)
from hemma.pathways.service import install_builtin
from hemma.patients.personnummer import format_number, make
from hemma.planning.demo_day import load_visit_day, plan_visit_day

DEMO_PASSWORD = "hemma-demo"
REGION = "Region Västerbotten"
KOMMUN = "Lycksele kommun"

# (key, organisation, name, kind, virtual beds, phone)
UNITS = [
    ("med", REGION, "Medicinkliniken, Lycksele lasarett", "hospital_clinic", 12, "0980-319 200"),
    ("hc", REGION, "Lycksele hälsocentral", "primary_care", 0, "0980-319 210"),
    # The mobile team runs a palliative home ward of its own, beside its visits.
    ("mobile", REGION, "Mobila teamet Södra Lappland", "mobile_team", 6, "0980-319 220"),
    ("hsv", KOMMUN, "Hemsjukvården Lycksele kommun", "home_health", 0, "0980-319 230"),
    ("rehab", KOMMUN, "Rehab Lycksele kommun", "rehab", 0, "0980-319 240"),
]

# Maria Holm has the medical lead's responsibility for the home ward: she edits pathways.
MEDICAL_LEADS = {"maria.holm"}
# Verksamhetsuppföljning: the region's follow-up reads every unit's figures; Johan Wallin
# also takes the pseudonymised research extract.
FOLLOW_UP = {"birgitta.ohman", "johan.wallin"}
RESEARCH_EXPORTERS = {"johan.wallin"}
# (username, given, family, profession, unit key, skills, admin, log reviewer). Skills are
# what a visit may ask for: "ssk" a registered nurse's tasks (assessments, catheters,
# subcutaneous pumps), "iv" intravenous treatment, "sår" wound care, "bil" has a car.
STAFF = [
    ("karin.lundgren", "Karin", "Lundgren", "physician", "med", [], False, False),
    ("erik.sundqvist", "Erik", "Sundqvist", "physician", "med", [], False, False),
    ("maria.holm", "Maria", "Holm", "physician", "med", [], False, False),
    ("sara.nilsson", "Sara", "Nilsson", "nurse", "med", ["ssk", "iv", "picc"], False, False),
    ("johan.berglund", "Johan", "Berglund", "nurse", "med", ["ssk", "iv"], False, False),
    ("lena.forsberg", "Lena", "Forsberg", "nurse", "med", ["ssk", "iv", "palliativ"],
     False, False),
    ("petra.strom", "Petra", "Ström", "assistant_nurse", "med", ["provtagning"], False, False),
    ("anders.wikstrom", "Anders", "Wikström", "coordinator", "med", [], False, False),
    ("ola.hedman", "Ola", "Hedman", "physician", "hc", [], False, False),
    ("ulla.backman", "Ulla", "Backman", "nurse", "hc", ["ssk", "provtagning"], False, False),
    ("nils.eriksson", "Nils", "Eriksson", "physician", "mobile", [], False, False),
    ("eva.marklund", "Eva", "Marklund", "nurse", "mobile", ["ssk", "iv", "picc", "bil"],
     False, False),
    ("jonas.lind", "Jonas", "Lind", "nurse", "mobile", ["ssk", "iv", "bil"], False, False),
    ("frida.sjolund", "Frida", "Sjölund", "assistant_nurse", "mobile", ["bil"], False, False),
    ("hanna.lundstrom", "Hanna", "Lundström", "nurse", "hsv", ["ssk", "iv", "sår", "bil"],
     False, False),
    ("per.ostlund", "Per", "Östlund", "nurse", "hsv", ["ssk", "iv", "bil"], False, False),
    ("agneta.karlsson", "Agneta", "Karlsson", "nurse", "hsv", ["ssk", "iv", "sår", "bil"],
     False, True),
    ("linnea.bjork", "Linnéa", "Björk", "assistant_nurse", "hsv", ["sår", "bil"], False, False),
    ("mikael.nyberg", "Mikael", "Nyberg", "assistant_nurse", "hsv", ["bil"], False, False),
    ("maja.lindqvist", "Maja", "Lindqvist", "nurse", "hsv", ["ssk", "iv", "sår", "bil"],
     False, False),
    ("oskar.holmberg", "Oskar", "Holmberg", "assistant_nurse", "hsv", ["sår", "bil"], False,
     False),
    ("sofia.ahman", "Sofia", "Åhman", "physiotherapist", "rehab", ["bil"], False, False),
    ("david.persson", "David", "Persson", "occupational_therapist", "rehab", ["bil"],
     False, False),
    ("ingela.granlund", "Ingela", "Granlund", "administrative", "med", [], True, False),
    ("tomas.vikner", "Tomas", "Vikner", "administrative", "med", [], False, True),
    ("birgitta.nord", "Birgitta", "Nord", "administrative", "hsv", [], True, False),
    ("birgitta.ohman", "Birgitta", "Öhman", "administrative", "med", [], False, False),
    ("johan.wallin", "Johan", "Wallin", "administrative", "med", [], False, False),
]

# The logins printed at start: one of each kind of user a newcomer wants to try.
FEATURED = [
    ("sara.nilsson", "Sjuksköterska, Medicinkliniken (hemvårdslistan)"),
    ("karin.lundgren", "Läkare, Medicinkliniken"),
    ("anders.wikstrom", "Samordnare, Medicinkliniken"),
    ("hanna.lundstrom", "Kommunal sjuksköterska, Hemsjukvården (besöksplanering)"),
    ("linnea.bjork", "Undersköterska, Hemsjukvården (min rutt, i telefonen)"),
    ("eva.marklund", "Sjuksköterska, Mobila teamet"),
    ("tomas.vikner", "Loggranskare, Region Västerbotten"),
    ("agneta.karlsson", "MAS och loggranskare, Lycksele kommun"),
    ("ingela.granlund", "Administratör, Region Västerbotten"),
    ("birgitta.ohman", "Verksamhetsuppföljning, Region Västerbotten (uppföljning)"),
]

VILLAGES = [
    ("Lycksele", "921 31", 64.5954, 18.6733),
    ("Lycksele", "921 34", 64.6045, 18.6512),
    ("Hedlunda", "921 93", 64.5561, 18.7648),
    ("Rusksele", "921 94", 64.8190, 18.9220),
    ("Kristineberg", "920 40", 65.0667, 18.5750),
    ("Björksele", "920 41", 64.9806, 18.5203),
    ("Örträsk", "916 95", 64.1333, 19.0167),
    ("Kattisavan", "921 92", 64.5590, 17.8710),
    ("Knaften", "921 99", 64.6420, 19.1080),
    ("Umgransele", "921 91", 64.7660, 17.9690),
    ("Ekorrsele", "921 99", 64.4310, 18.3920),
]
STREETS = ["Storgatan", "Skolgatan", "Byvägen", "Älvvägen", "Skogsvägen", "Norrvägen",
           "Kyrkvägen", "Sjövägen", "Myrvägen", "Backvägen"]

# (given, family, born, episode plan, pathway) — plans below.
PATIENTS = [
    ("Gunnel", "Lindgren", date(1941, 3, 14), "admitted", "opat"),
    ("Rune", "Öberg", date(1938, 11, 2), "admitted", "heart_failure"),
    ("Ingrid", "Nyström", date(1944, 6, 21), "admitted", "copd"),
    ("Sven-Erik", "Lundmark", date(1936, 1, 9), "admitted", "palliative"),
    ("Margit", "Holmgren", date(1942, 9, 30), "admitted", "opat"),
    ("Bertil", "Sandström", date(1947, 4, 17), "admitted", "heart_failure"),
    ("Elsa", "Marklund", date(1933, 12, 5), "admitted", "general"),
    ("Karl-Gustav", "Burman", date(1945, 8, 11), "admitted", "copd"),
    ("Britt", "Åström", date(1950, 2, 26), "admitted", "opat"),
    ("Henning", "Westerlund", date(1939, 7, 3), "admitted", "heart_failure"),
    ("Anna-Lisa", "Nordlund", date(1948, 10, 19), "assessing", "opat"),
    ("Olle", "Granström", date(1943, 5, 28), "assessing", "copd"),
    ("Maj-Britt", "Eriksson", date(1937, 3, 8), "assessing", "palliative"),
    ("Torsten", "Lindberg", date(1946, 12, 24), "discharged", "opat"),
    ("Astrid", "Hällström", date(1940, 1, 31), "discharged", "heart_failure"),
    ("Gösta", "Nordin", date(1935, 6, 12), "discharged", "general"),
    ("Inga", "Vikström", date(1949, 11, 15), "discharged", "copd"),
    ("Lennart", "Sjöberg", date(1944, 2, 7), "discharged", "opat"),
    ("Kerstin", "Olofsson", date(1951, 8, 22), "discharged", "heart_failure"),
    ("Arne", "Hedlund", date(1938, 4, 4), "returned", "copd"),
    ("Solveig", "Lidström", date(1942, 10, 10), "returned", "heart_failure"),
    ("Harald", "Jonsson", date(1934, 9, 18), "not_admitted", "general"),
    ("Vera", "Stenlund", date(1946, 7, 27), "none_kommun", None),
    ("Erling", "Degerman", date(1939, 5, 2), "none_kommun", None),
    ("Dagny", "Wiklund", date(1941, 12, 13), "none_kommun", None),
    ("Folke", "Åkerlund", date(1937, 8, 29), "none_hc", None),
    ("Ruth", "Lindahl", date(1945, 3, 3), "none_hc", None),
    ("Stig", "Brännström", date(1940, 10, 6), "discharged", "palliative"),
    ("Aina", "Forsgren", date(1943, 1, 20), "admitted", "general"),
    ("Birger", "Hammarström", date(1936, 11, 11), "assessing", "heart_failure"),
    # The home nursing's own patients, most of them in Lycksele (the postal code places them;
    # rural postal codes are shared by several villages, so those are named).
    ("Elvy", "Lundqvist", date(1932, 4, 9), "none_kommun", None, "921 31"),
    ("Sigvard", "Renström", date(1936, 2, 18), "none_kommun", None, "921 34"),
    ("Greta", "Edlund", date(1940, 8, 3), "none_kommun", None, "921 31"),
    ("Valter", "Sundberg", date(1934, 12, 1), "none_kommun", None, "921 34"),
    ("Signe", "Abrahamsson", date(1929, 6, 15), "none_kommun", None, "921 31"),
    ("Alvar", "Grahn", date(1944, 9, 9), "none_kommun", None, "921 93"),
    ("Inez", "Lundberg", date(1938, 3, 27), "none_kommun", None, "921 34"),
    ("Helmer", "Dahlberg", date(1941, 5, 19), "none_kommun", None, "921 94"),
    ("Ester", "Rönnqvist", date(1935, 10, 30), "none_kommun", None, "921 31"),
    ("Algot", "Wallin", date(1939, 1, 14), "none_kommun", None, "Ekorrsele"),
]

# The mobile team's palliative home ward: who is at home now (family name: nights at home).
# Their names sort after every other admitted patient's, and they draw from randoms of their
# own, so that the values and times the demo gives the others stay as they were.
MOBILE_PATIENTS = [
    ("Agda", "Ödlund", date(1934, 5, 16), "admitted", "palliative"),
    ("Tore", "Öhman", date(1941, 9, 4), "admitted", "palliative"),
    ("Edit", "Örnberg", date(1938, 2, 11), "admitted", "palliative"),
    ("Holger", "Östman", date(1946, 10, 23), "admitted", "general"),
]
MOBILE_NIGHTS = {"Ödlund": 24, "Öhman": 15, "Örnberg": 8, "Östman": 3}

RELATIVES = [("dotter", "Lena"), ("son", "Mats"), ("make", "Gunnar"), ("maka", "Berit"),
             ("son", "Peter"), ("dotter", "Anna"), ("granne", "Kjell")]


@dataclass
class _Ctx:
    session: object
    now: datetime
    units: dict
    staff: dict
    orgs: dict
    pathways: dict
    rng: random.Random
    pathways_by_id: dict


def _phone(i: int) -> str:
    return f"070-174 06 {5 + i:02d}"


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=STOCKHOLM)


def load_demo(database: Database) -> bool:
    with database.session() as session:
        if session.scalar(select(Organisation.id).where(Organisation.name == REGION)):
            return False
        now = utcnow()
        rng = random.Random(20261130)
        orgs = {
            REGION: Organisation(name=REGION, kind="region", org_number="232100-0222"),
            KOMMUN: Organisation(name=KOMMUN, kind="kommun", org_number="212000-2551"),
        }
        session.add_all(orgs.values())
        install_builtin(session)
        units = {}
        for key, org, name, kind, beds, phone in UNITS:
            units[key] = Unit(organisation_id=orgs[org].id, name=name, kind=kind,
                              virtual_beds=beds, phone=phone)
        session.add_all(units.values())
        session.flush()
        password_hash = hash_password(DEMO_PASSWORD)
        staff = {}
        for i, (user, given, family, prof, unit, skills, admin, reviewer) in enumerate(STAFF):
            staff[user] = Staff(username=user, given_name=given, family_name=family,
                                profession=prof, unit_id=units[unit].id, skills=skills,
                                is_admin=admin, is_log_reviewer=reviewer,
                                is_medical_lead=user in MEDICAL_LEADS,
                                is_follow_up=user in FOLLOW_UP,
                                is_research_exporter=user in RESEARCH_EXPORTERS,
                                phone=f"0980-319 {250 + i}", password_hash=password_hash,
                                created_at=now)
        session.add_all(staff.values())
        pathways = {p.code: p for p in session.scalars(select(Pathway))}
        session.flush()
        ctx = _Ctx(session, now, units, staff, orgs, pathways, rng,
                   {p.id: p for p in pathways.values()})
        for i, spec in enumerate(PATIENTS):
            _patient(ctx, i, *spec)
        for j, spec in enumerate(MOBILE_PATIENTS):
            _patient(replace(ctx, rng=random.Random(spec[1])), len(PATIENTS) + j, *spec)
        _duty_roster(session, now, units, staff)
        plan_unit, plan_day = load_visit_day(session, now, units, staff)
        _care_plans(session, now, units, staff)
        plan_visit_day(session, plan_unit, plan_day, now)
        # A year of the two home wards before today (hemma.followup.demo), for follow-up.
        from hemma.followup.demo import load_history

        history = load_history(
            session, now, units, staff, VILLAGES, STREETS,
            {spec[1] for spec in PATIENTS} | {spec[2] for spec in STAFF},
            own_values_skip=[e for e, in session.execute(
                select(Episode.id).join(Patient, Patient.id == Episode.patient_id)
                .where(Patient.family_name == RECENTLY_DISCHARGED))])
        audit.trail(session).actor = audit.Actor(username="hemma-demo")
        audit.record(session, None, "demo.load", basis="role",
                     detail=f"{len(PATIENTS)} patients, {len(STAFF)} staff; {history}")
    _monitoring_history(database, now, rng)
    _road_home(database, now)
    _coordination(database, now)
    # Messages: a patient waiting for the home ward's answer, a thread answered yesterday,
    # and the care team writing across region and kommun (hemma.messaging.demo).
    from hemma.messaging.demo import demo_messages

    demo_messages(database, now)
    # The patients' answers about their stay (PREM), paper and phone (hemma.prem.demo).
    from hemma.prem.demo import demo_prem

    demo_prem(database, RECENTLY_DISCHARGED)
    return True


def _coordination(database: Database, now: datetime) -> None:
    """The board's day, through the named actions: tasks across the organisations (one
    overdue, which the worker reports to Hemsjukvården once), and hand-overs — the mobile
    team's evening report waiting for Hemsjukvården, one the home ward's nurse confirmed."""
    from hemma.access.service import subject_for
    from hemma.handovers import service as handovers
    from hemma.handovers.schemas import HandoverCreate
    from hemma.models import CareRelation, TaskEvent
    from hemma.tasks import service as tasks
    from hemma.tasks.schemas import TaskCreate

    with database.session() as s:
        people = {u: s.scalar(select(Staff).where(Staff.username == u))
                  for u in ("sara.nilsson", "eva.marklund", "hanna.lundstrom")}
        sara, eva, hanna = (subject_for(s, people[u]) for u in people)
        shared = [p for p in s.scalars(
            select(Patient).join(Episode, Episode.patient_id == Patient.id)
            .join(CareRelation, CareRelation.patient_id == Patient.id)
            .where(Episode.state == "admitted", CareRelation.unit_id == hanna.unit_id,
                   CareRelation.ends_at.is_(None))
            .order_by(Patient.family_name).distinct())]
        if len(shared) < 2:
            return
        first, second = shared[0], shared[1]
        tasks.add_task(s, sara, first.id, TaskCreate(
            title="Ta blodprover: CRP och Hb", unit_id=hanna.unit_id,
            description="Svaret behövs till morgondagens rond.",
            due_at=now + timedelta(hours=3), priority="high"))
        late = tasks.add_task(s, sara, second.id, TaskCreate(
            title="Byt förband på PICC-line", unit_id=hanna.unit_id,
            due_at=now + timedelta(hours=1)))
        # Given yesterday, due this morning, not done yet.
        late.created_at, late.due_at = now - timedelta(hours=20), now - timedelta(hours=2)
        for event in s.scalars(select(TaskEvent).where(TaskEvent.task_id == late.id)):
            event.at = late.created_at
        tasks.add_task(s, sara, first.id, TaskCreate(
            title="Ring patienten och fråga hur natten varit", unit_id=sara.unit_id,
            staff_id=sara.staff_id, due_at=now + timedelta(hours=1)))
        mobile_patients = [p for p in shared if s.scalar(select(CareRelation.id).where(
            CareRelation.patient_id == p.id, CareRelation.unit_id == eva.unit_id).limit(1))]
        about = mobile_patients[0] if mobile_patients else first
        if mobile_patients:
            handovers.write(s, eva, about.id, HandoverCreate(
                to_unit_id=hanna.unit_id,
                situation="Andfådd vid ansträngning i kväll, NEWS2 3 (andningsfrekvens 22).",
                background="Hjärtsvikt, inskriven i hemsjukhuset sedan i förrgår. "
                           "Furosemid ökad vid ronden i morse.",
                assessment="Stabil i vila, ingen bröstsmärta. Vikten oförändrad sedan i går.",
                recommendation="Kontrollera andning och vikt vid morgonbesöket. Ring "
                               "jourhavande läkare vid NEWS2 5 eller mer."))
        done = handovers.write(s, sara, first.id, HandoverCreate(
            to_unit_id=hanna.unit_id, situation="Hemkommen i går, mår bra.",
            background="Behandlas med antibiotika i hemmet.",
            assessment="Stabil, feberfri.", recommendation="Fortsätt enligt planen."))
        handovers.receive(s, hanna, first.id, done.id)
        done.created_at = now - timedelta(hours=14)
        done.received_at = now - timedelta(hours=13)
        s.flush()


# The assessing patients' assessments: one the physician decided to admit (the home ward
# can admit her), one waits for the physician with every part met, one has a criterion not
# met (the home is not ready), the last is not assessed yet.
ASSESSING = {"Nordlund": "decided", "Eriksson": "awaiting_decision",
             "Granström": "home_not_met"}


def _assessment(ctx: _Ctx, episode: Episode, patient: Patient, plan: str, nurse: Staff,
                physician: Staff) -> None:
    """The snabbspår assessment the episode rests on: every part met and the physician's
    decision for those who came home; for those under assessment, as ASSESSING says."""
    from hemma.models import ASSESSMENT_PARTS, Assessment

    kind = ASSESSING.get(patient.family_name) if plan == "assessing" else "decided"
    if kind is None:
        return
    pathway = ctx.pathways_by_id[episode.pathway_id]
    at = episode.assessed_at + timedelta(minutes=40)
    values = {"respiration_rate": 16, "spo2": 96, "on_oxygen": False, "systolic_bp": 132,
              "pulse": 76, "consciousness": "A", "temperature": 37.2}
    parts = {p: {"status": "met", "note": None} for p in ASSESSMENT_PARTS}
    # A random of its own: the demo's shared sequence (places, times, the visit day) stays
    # what it was before assessments were added.
    rng = random.Random(patient.family_name)
    alone = rng.random() < 0.4
    parts["home"] = {"status": "met", "note": None, "lives_alone": alone,
                     "relatives_help": not alone, "stairs": rng.random() < 0.3,
                     "access": "Nyckelgömma vid ytterdörren", "heating_ok": True, "pets": None}
    if kind == "home_not_met":
        parts["home"] = {"status": "not_met", "lives_alone": True, "relatives_help": False,
                         "stairs": True, "access": None, "heating_ok": True, "pets": "Katt",
                         "note": "Trappa utan räcke till övervåningen, ingen nyckelgömma ännu. "
                                 "Arbetsterapeut kontaktad."}
    row = Assessment(
        episode_id=episode.id, patient_id=patient.id, version=1, parts=parts,
        stability={"status": "met", "missing": [], "news2_total": 0, "news2_band": "low",
                   "on_oxygen": False, "reasons": [],
                   "values": {k: {"value": v, "at": (at - timedelta(minutes=30)).isoformat()}
                              for k, v in values.items()}},
        criteria={"inclusion": {c["key"]: True for c in pathway.inclusion_criteria},
                  "exclusion": {c["key"]: False for c in pathway.exclusion_criteria}},
        information={"given": ["home_care", "measuring", "whom_to_call", "written_material"],
                     "how": "both", "consent_home": True, "relatives_informed": not alone,
                     "note": None},
        documented_by_unit_id=episode.responsible_unit_id, created_at=at,
        created_by_id=nurse.id)
    # The values the stability was judged on, as the nurse entered them at the assessment.
    import uuid as uuid_

    from hemma.models import Observation

    ctx.session.add(Observation(
        patient_id=patient.id, episode_id=episode.id, client_id=f"demo-{uuid_.uuid4()}",
        measured_at=at - timedelta(minutes=30), received_at=at - timedelta(minutes=29),
        performer="staff", staff_id=nurse.id, source="staff_form",
        documented_by_unit_id=episode.responsible_unit_id, news2_total=0, news2_band="low",
        news2_partial=False, **values))
    if kind == "decided":
        row.decision = "not_admit" if plan == "not_admitted" else "admit"
        row.decision_reason = episode.end_note if plan == "not_admitted" else None
        row.decided_at = at + timedelta(minutes=30)
        row.decided_by_id = physician.id
    ctx.session.add(row)


# Discharged yesterday with a signed summary to the hälsocentral and the municipality.
RECENTLY_DISCHARGED = "Lindberg"
# How the ended episodes ended (the codes follow-up counts by) and the note written then:
# by patient, else by plan.
ENDINGS = {
    "discharged": ("completed", "Utskriven efter avslutad behandling. Epikris till "
                                "hälsocentralen."),
    "returned": ("deterioration", "Försämrad andning, NEWS2 7. Ambulans till akuten, "
                                  "trygghetsplats användes."),
    # Palliative care at home to the end, as he and his family wished.
    "Brännström": ("death_expected", "Somnade in lugnt i hemmet med familjen hos sig, som han "
                                     "önskat. Brytpunktssamtal fördes tidigare; närstående "
                                     "erbjuds efterlevandesamtal."),
    "Nordin": ("death_unexpected", "Avled oväntat i hemmet natten före planerad utskrivning. "
                                   "Läkare konstaterade dödsfallet, närstående underrättade. "
                                   "Händelsen utreds som avvikelse."),
    "Sjöberg": ("other", "Flyttar till dottern i Umeå; behandlingen avslutas där via "
                         "infektionsmottagningen."),
    "Lidström": ("fall_injury", "Föll i badrummet, smärta i höger höft. Ambulans till akuten, "
                                "trygghetsplats användes."),
}
# The admitted patient whose walker has not come (an overdue item of the checklist; KOL's
# template has the municipality's rehab bring one).
WALKER_MISSING = "Burman"


def _road_home(database: Database, now: datetime) -> None:
    """Through the named actions, as the staff would: every admitted patient's agreement
    (confirmed on their own page) and checklist (done before they came home, the homecoming
    call made); the patient about to be admitted has a checklist under way; the patient
    discharged yesterday has a signed summary, acknowledged by the municipality."""
    from hemma.access.service import subject_for
    from hemma.agreements import service as agreements
    from hemma.logistics import service as logistics
    from hemma.models import ChecklistItem, SummaryReceipt, Task
    from hemma.summaries import service as summaries
    from hemma.summaries.schemas import SummarySign, SummaryUpdate

    with database.session() as s:
        people = {u: s.scalar(select(Staff).where(Staff.username == u))
                  for u in ("sara.nilsson", "karin.lundgren", "hanna.lundstrom",
                            "eva.marklund")}
        sara, karin, hanna = (subject_for(s, people[u]) for u in people if u != "eva.marklund")
        # The responsible unit's nurse writes the agreement and the checklist.
        writer = {sara.unit_id: sara, people["eva.marklund"].unit_id: subject_for(
            s, people["eva.marklund"])}
        rows = s.execute(select(Episode, Patient).join(Patient, Patient.id == Episode.patient_id)
                         .where(Episode.state.in_(("admitted", "assessing")))
                         .order_by(Patient.family_name)).all()
        for episode, patient in rows:
            nurse = writer[episode.responsible_unit_id]
            if episode.state == "assessing":
                if patient.family_name == "Nordlund":  # decided: the home is made ready
                    logistics.create_checklist(s, sara, patient.id, episode.id,
                                               now + timedelta(hours=20))
                continue
            home = episode.admitted_at
            row = agreements.draft_from_template(s, nurse, patient.id, episode.id)
            row.created_at = home - timedelta(hours=2)
            row.confirmed_at, row.confirmed_how = home + timedelta(hours=3), "patient_page"
            logistics.create_checklist(s, nurse, patient.id, episode.id, home)
            for item in s.scalars(select(ChecklistItem).where(
                    ChecklistItem.episode_id == episode.id)):
                if patient.family_name == WALKER_MISSING and item.category == "aids":
                    continue
                item.done_at = item.due_at - timedelta(hours=2)
                item.done_by_id = people["hanna.lundstrom"].id if item.provider_unit_id == \
                    hanna.unit_id else nurse.staff_id
            for task in s.scalars(select(Task).where(Task.episode_id == episode.id,
                                                     Task.kind == "homecoming_call")):
                task.answers = {q["key"]: {"answer": "yes"} for q in task.questions}
                task.done_at, task.done_by_id = task.due_at, nurse.staff_id
        episode = s.scalar(select(Episode).join(Patient, Patient.id == Episode.patient_id)
                           .where(Patient.family_name == RECENTLY_DISCHARGED))
        _recent_stay(s, episode, people, hanna.unit_id)
        summary = summaries.draft(s, karin, episode.patient_id, episode.id)
        summaries.update(s, karin, episode.patient_id, episode.id, SummaryUpdate(
            text="Behandlad i hemmet med intravenös antibiotika i sju dagar. Feberfri sedan "
                 "dag tre, CRP sjunkande. Inga komplikationer vid PICC-line, som är borttagen.",
            next_steps="Hälsocentralen ringer dig inom en vecka. Hemsjukvården kommer en gång "
                       "till och ser till att allt är bra."))
        units = {u.name: u.id for u in s.scalars(select(Unit))}
        summaries.sign(s, karin, episode.patient_id, episode.id, SummarySign(receivers=[
            units["Lycksele hälsocentral"], units["Hemsjukvården Lycksele kommun"]]))
        summaries.acknowledge(s, hanna, episode.patient_id, episode.id)
        summary.signed_at = episode.ended_at + timedelta(hours=3)
        for receipt in s.scalars(select(SummaryReceipt).where(
                SummaryReceipt.summary_id == summary.id)):
            receipt.sent_at = summary.signed_at
            if receipt.acknowledged_at is not None:
                receipt.acknowledged_at = summary.signed_at + timedelta(hours=16)


def _recent_stay(s, episode: Episode, people: dict, hsv_unit: int) -> None:
    """What the recently discharged patient's week at home left behind: values twice a day
    (a fever that went), the round's decisions, IV antibiotics three times a day by the
    municipality, and a plan whose follow-up continues."""
    import uuid as uuid_

    from hemma.models import (
        CarePlan,
        Observation,
        PlanActivity,
        RoundNote,
        TreatmentDose,
        TreatmentOrder,
    )

    start, end = episode.admitted_at, episode.ended_at
    day, n = 0, 0
    while start + timedelta(days=day) < end:
        for hour, fever in ((8, 1.0), (20, 0.6)):
            at = _at(local_date(start) + timedelta(days=day), hour)
            if not start < at < end:
                continue
            temp = round(max(36.8, 38.8 - 0.45 * day * fever), 1)
            s.add(Observation(patient_id=episode.patient_id, episode_id=episode.id,
                              client_id=f"demo-{uuid_.uuid4()}", measured_at=at,
                              received_at=at + timedelta(minutes=2), performer="patient",
                              source="patient_page",
                              documented_by_unit_id=episode.responsible_unit_id,
                              temperature=temp, pulse=max(68, 96 - 4 * day),
                              respiration_rate=16, spo2=96, systolic_bp=128 + n % 7,
                              news2_partial=True))
            n += 1
        day += 1
    for offset, note in ((1, "Feber 38,6, CRP 142. Fortsätt cefotaxim."),
                         (3, "Feberfri sedan i går, CRP 61. Fortsätt."),
                         (6, "CRP 18. Avsluta antibiotika i morgon, skriv ut.")):
        s.add(RoundNote(patient_id=episode.patient_id, episode_id=episode.id,
                        staff_id=people["karin.lundgren"].id,
                        documented_by_unit_id=episode.responsible_unit_id,
                        at=_at(local_date(start) + timedelta(days=offset), 10), decision="continue",
                        note=note))
    order = TreatmentOrder(episode_id=episode.id, patient_id=episode.patient_id,
                           drug="Cefotaxim", atc_code="J01DD01", dose="1 g", route="iv",
                           times=["08:00", "14:00", "20:00"], starts_on=local_date(start),
                           stops_on=local_date(end), prescriber_id=people["karin.lundgren"].id,
                           giving_unit_id=hsv_unit,
                           documented_by_unit_id=episode.responsible_unit_id, created_at=start,
                           created_by_id=people["karin.lundgren"].id)
    s.add(order)
    s.flush()
    day = 0
    while start + timedelta(days=day) < end:
        for clock in order.times:
            at = _at(local_date(start) + timedelta(days=day), int(clock[:2]))
            if start < at < end:
                missed = day == 2 and clock == "14:00"
                s.add(TreatmentDose(order_id=order.id, patient_id=episode.patient_id,
                                    planned_at=at, given=not missed,
                                    reason="Patienten var på röntgen" if missed else None,
                                    recorded_at=at + timedelta(minutes=25),
                                    recorded_by_id=people["hanna.lundstrom"].id,
                                    documented_by_unit_id=hsv_unit))
        day += 1
    plan = CarePlan(episode_id=episode.id, patient_id=episode.patient_id, version=1,
                    goals="Bli av med infektionen och slippa ligga på sjukhus.",
                    follow_ups=[{"on": (local_date(end) + timedelta(days=7)).isoformat(),
                                 "what": "Återbesök på Lycksele hälsocentral, CRP"}],
                    documented_by_unit_id=episode.responsible_unit_id, updated_at=start,
                    updated_by_id=people["sara.nilsson"].id)
    s.add(plan)
    s.flush()
    s.add(PlanActivity(plan_id=plan.id, episode_id=episode.id, patient_id=episode.patient_id,
                       unit_id=hsv_unit, what="Ett uppföljande hembesök efter utskrivningen",
                       kind="ongoing", starts_on=local_date(end), continues_after=True,
                       status="planned", documented_by_unit_id=hsv_unit, created_at=start,
                       created_by_id=people["hanna.lundstrom"].id, updated_at=start,
                       updated_by_id=people["hanna.lundstrom"].id))


GOALS = [
    "Jag vill bli frisk hemma och kunna gå ut med hunden igen.",
    "Jag vill sova i min egen säng och ha min fru nära.",
    "Klara mig själv med maten och kunna gå till brevlådan.",
    "Orka vara med barnbarnen när de kommer på helgen.",
]
# (family name, hours since the need of the municipality was recorded, notice sent after)
SIP = {"Lundmark": (20, None), "Nyström": (50, 6)}


def _care_plans(session, now: datetime, units: dict, staff: dict) -> None:
    """Every admitted patient's shared plan: the region's remote round, the municipality's
    visits (the care requests of the visit day, whose status the plan follows) or its
    support, the patient's goals; and the SIP timers for two patients who will need the
    municipality after discharge."""
    from hemma.careplans.service import snapshot
    from hemma.models import CarePlan, CarePlanVersion, CareRequest, PlanActivity, SipMeeting

    rows = session.execute(select(Episode, Patient).join(Patient, Patient.id == Episode.patient_id)
                           .where(Episode.state == "admitted").order_by(Patient.family_name)).all()
    for i, (episode, patient) in enumerate(rows):
        mobile = episode.responsible_unit_id == units["mobile"].id
        coordinator = staff["eva.marklund" if mobile else "anders.wikstrom"]
        at = episode.admitted_at + timedelta(hours=1)
        plan = CarePlan(episode_id=episode.id, patient_id=patient.id, version=1,
                        goals=GOALS[i % len(GOALS)],
                        needs="Behöver hjälp att komma ur sängen på morgonen." if i % 3 == 0
                        else None,
                        follow_ups=[{"on": (local_date(now) + timedelta(days=10 + i % 5))
                                     .isoformat(), "what": "Återbesök på Lycksele hälsocentral"}],
                        documented_by_unit_id=episode.responsible_unit_id, updated_at=at,
                        updated_by_id=coordinator.id)
        session.add(plan)
        session.flush()

        def add(unit, what, kind, status, request=None, times=(), minutes=None, after=False,
                plan=plan, episode=episode, patient=patient, at=at, coordinator=coordinator):
            session.add(PlanActivity(
                plan_id=plan.id, episode_id=episode.id, patient_id=patient.id, unit_id=unit.id,
                what=what, kind=kind, times=list(times), duration_minutes=minutes,
                care_kind=request.kind if request else None, status=status,
                starts_on=local_date(episode.admitted_at),
                ends_on=request.last_date if request else None, continues_after=after,
                care_request_id=request.id if request else None,
                documented_by_unit_id=unit.id, created_at=at, created_by_id=coordinator.id,
                updated_at=at, updated_by_id=coordinator.id))

        add(units["mobile" if mobile else "med"],
            "Fjärrond: läkaren går igenom värdena varje vardag", "ongoing", "ongoing")
        requests = session.scalars(select(CareRequest).where(
            CareRequest.episode_id == episode.id)).all()
        for request in requests:
            add(session.get(Unit, request.to_unit_id), request.notes or "Hembesök", "visit",
                "requested", request, request.times or (), request.duration_minutes)
        if not any(r.to_unit_id == units["hsv"].id for r in requests):
            add(units["hsv"], "Tillsyn och stöd av hemsjukvården vid behov", "ongoing",
                "ongoing", after=True)
        session.flush()
        session.add(CarePlanVersion(plan_id=plan.id, version=1, snapshot=snapshot(session, plan),
                                    change="goals", documented_by_unit_id=coordinator.unit_id,
                                    changed_at=at, changed_by_id=coordinator.id))
        if patient.family_name in SIP:
            hours, notice_after = SIP[patient.family_name]
            needed = now - timedelta(hours=hours)
            session.add(SipMeeting(
                episode_id=episode.id, patient_id=patient.id, needed_from=needed,
                notice_sent_at=needed + timedelta(hours=notice_after) if notice_after else None,
                participants=[], documented_by_unit_id=episode.responsible_unit_id,
                updated_at=needed, updated_by_id=coordinator.id))


def _duty_roster(session, now: datetime, units: dict, staff: dict) -> None:
    """Two weeks of shifts from yesterday: who gets the alerts, and the physician on call."""
    from hemma.models import DutyShift

    first = now.astimezone(STOCKHOLM).date() - timedelta(days=1)
    plan = [  # (unit, username, role, start hour, hours)
        ("med", "sara.nilsson", "nurse", 7, 9), ("med", "johan.berglund", "nurse", 15, 7),
        ("med", "lena.forsberg", "nurse", 21, 10), ("med", "karin.lundgren", "physician_on_call", 8, 9),
        ("med", "erik.sundqvist", "physician_on_call", 17, 15),
        ("mobile", "eva.marklund", "nurse", 7, 10), ("mobile", "nils.eriksson",
                                                      "physician_on_call", 8, 9),
        ("hsv", "hanna.lundstrom", "nurse", 7, 9), ("hsv", "per.ostlund", "nurse", 15, 7),
        ("hsv", "agneta.karlsson", "nurse", 21, 10),
    ]
    for day in range(15):
        date_ = first + timedelta(days=day)
        for unit, user, role, hour, hours in plan:
            start = _at(date_, hour)
            session.add(DutyShift(unit_id=units[unit].id, staff_id=staff[user].id, role=role,
                                  starts_at=start, ends_at=start + timedelta(hours=hours)))


# How the demo's admitted patients are doing: most stable, one getting worse over the last
# day, one who stopped reporting yesterday, one with a fever that was handled.
PROFILES = {"Sandström": "deteriorating", "Westerlund": "silent", "Lindgren": "fever",
            "Öberg": "weight"}


def _monitoring_history(database: Database, now: datetime, rng: random.Random) -> None:
    from hemma.access.service import subject_for
    from hemma.kit.time import frozen_clock
    from hemma.monitoring import alerts, service
    from hemma.monitoring.schemas import ObservationCreate
    from hemma.rounds.service import RoundDecision, decide

    with database.session() as s:
        rows = s.execute(
            select(Episode, Patient, Pathway).join(Patient, Patient.id == Episode.patient_id)
            .join(Pathway, Pathway.id == Episode.pathway_id)
            .where(Episode.state == "admitted").order_by(Patient.family_name)).all()
        nurse_hsv = s.scalar(select(Staff).where(Staff.username == "hanna.lundstrom"))
        physicians = {u.unit_id: u.id for u in s.scalars(select(Staff).where(
            Staff.username.in_(("karin.lundgren", "nils.eriksson"))))}
        episodes = [(e.id, p.id, p.family_name, p.digital_ability, pw.schedule, e.admitted_at,
                     physicians[e.responsible_unit_id]) for e, p, pw in rows]
        hsv_unit = nurse_hsv.unit_id
    shared = rng
    for episode_id, pid, family, ability, schedule, admitted_at, physician_id in episodes:
        # The mobile team's patients draw from randoms of their own (MOBILE_PATIENTS).
        rng = random.Random(f"values-{family}") if family in MOBILE_NIGHTS else shared
        profile = PROFILES.get(family, "stable")
        start = max(admitted_at, now - timedelta(days=4))
        times = []
        day = start.astimezone(STOCKHOLM).date()
        while day <= now.astimezone(STOCKHOLM).date():
            for hhmm in schedule:
                hh, mm = map(int, hhmm.split(":"))
                t = _at(day, hh, mm) + timedelta(minutes=rng.randint(-25, 35))
                if start < t < now - timedelta(minutes=20):
                    times.append(t)
            day += timedelta(days=1)
        if profile == "silent":
            times = [t for t in times if t < now - timedelta(hours=30)]
        for n, t in enumerate(times):
            left = len(times) - n  # readings before now
            values = {"respiration_rate": rng.randint(14, 18), "spo2": rng.randint(95, 98),
                      "on_oxygen": False, "temperature": round(rng.uniform(36.5, 37.4), 1),
                      "systolic_bp": rng.randint(118, 145), "diastolic_bp": rng.randint(70, 88),
                      "pulse": rng.randint(62, 84), "consciousness": "A"}
            if profile == "deteriorating" and left <= 4:
                worse = 5 - left  # 1..4, the last reading the worst
                # Creeping up to NEWS2 5 (an urgent response), not yet an emergency.
                values.update(respiration_rate=18 + round(1.5 * worse), spo2=96 - worse // 2,
                              pulse=84 + 5 * worse, temperature=round(37.5 + 0.25 * worse, 1))
            if profile == "fever" and n == max(0, len(times) - 5):
                values.update(temperature=38.9, pulse=96)
            if profile == "weight":
                values["weight"] = round(81.0 + 0.4 * n, 1)
            performer = "patient" if ability != "none" else "staff"
            with frozen_clock(t + timedelta(minutes=2)), database.session() as s:
                recorded = service.record_observation(
                    s, pid, ObservationCreate(client_id=f"demo-{pid}-{n}", measured_at=t,
                                              **values),
                    performer=performer, source="patient_page" if performer == "patient"
                    else "staff_form", documented_by_unit_id=None if performer == "patient"
                    else hsv_unit, staff_id=None if performer == "patient" else nurse_hsv.id)
                alert = recorded.alert
                # Alerts older than the last few hours were handled by the team.
                if alert is not None and alert.status == "open" and left > 2 and \
                        profile != "deteriorating":
                    alerts.resolve(s, nurse_hsv.id, alert,
                                   "Ringt patienten, ny kontroll planerad. Ordination enligt "
                                   "läkare.")
        # Yesterday's round.
        with frozen_clock(_at(now.astimezone(STOCKHOLM).date() - timedelta(days=1), 10,
                              rng.randint(0, 50))), database.session() as s:
            if s.get(Episode, episode_id).admitted_at < utcnow():
                subject = subject_for(s, s.get(Staff, physician_id))
                decide(s, subject, pid, RoundDecision(
                    decision="continue",
                    note={"deteriorating": "Stabil igår. Följ andning och temp noga.",
                          "silent": "Har svårt med mätningen; hemsjukvården hjälper till.",
                          }.get(profile, "Stabil, fortsätt enligt plan.")))
    # What the worker would have found: the silent patient's missed measurements.
    with database.session() as s:
        alerts.check_missed(s, now)


def _relation(ctx: _Ctx, patient: Patient, episode: Episode | None, *, unit=None, person=None,
              role: str, starts: datetime, ends: datetime | None, by: Staff) -> None:
    ctx.session.add(CareRelation(
        patient_id=patient.id, episode_id=episode.id if episode else None,
        unit_id=unit.id if unit else None, staff_id=person.id if person else None, role=role,
        starts_at=starts, ends_at=ends, created_by_id=by.id, documented_by_unit_id=by.unit_id))


def _patient(ctx: _Ctx, i: int, given: str, family: str, born: date, plan: str,
             pathway: str | None, place: str | None = None) -> None:
    rng, session, units, staff = ctx.rng, ctx.session, ctx.units, ctx.staff
    town, postal, lat, lon = next(v for v in VILLAGES if place in (v[0], v[1])) if place \
        else VILLAGES[i % len(VILLAGES)]
    mobile = family in MOBILE_NIGHTS
    home_ward = units["mobile"] if mobile else units["med"]
    registering = units["hsv"] if plan == "none_kommun" else (
        units["hc"] if plan == "none_hc" else home_ward)
    created = ctx.now - timedelta(days=60 + rng.randint(0, 300))
    patient = Patient(
        personnummer=make(born, 980 + i % 20), birth_date=born, given_name=given,
        family_name=family, street=f"{rng.choice(STREETS)} {rng.randint(1, 40)}",
        postal_code=postal, city=town,
        latitude=round(lat + rng.uniform(-0.02, 0.02), 5),
        longitude=round(lon + rng.uniform(-0.04, 0.04), 5), position_source="system",
        position_precision="address", position_at=created,
        phone=_phone(i), language="fi" if i == 7 else "sv", interpreter_needed=(i == 7),
        digital_ability=["independent", "with_support", "none"][i % 3],
        registered_by_unit_id=registering.id, created_at=created, updated_at=created,
    )
    session.add(patient)
    session.flush()
    relation, first_name = RELATIVES[i % len(RELATIVES)]
    session.add(Relative(
        patient_id=patient.id, name=f"{first_name} {family}", relation=relation,
        phone=_phone(40 + i), is_primary_contact=True, may_receive_information=i % 4 != 0,
        documented_by_unit_id=registering.id, created_at=created))

    nurse, physician, coordinator = (staff["eva.marklund"], staff["nils.eriksson"],
                                     staff["eva.marklund"]) if mobile else (
        staff["sara.nilsson"], staff["karin.lundgren"], staff["anders.wikstrom"])
    if plan.startswith("none"):
        # An ongoing relationship without a home-ward episode: the kommun's or the
        # hälsocentral's own patient.
        who = staff["hanna.lundstrom"] if plan == "none_kommun" else staff["ulla.backman"]
        _relation(ctx, patient, None, unit=registering, role="Pågående insatser",
                  starts=created, ends=None, by=who)
        return

    today = ctx.now.astimezone(STOCKHOLM).date()
    admitted_days_ago = {"admitted": rng.randint(1, 12), "assessing": 0}.get(plan,
                                                                            rng.randint(20, 90))
    if family == RECENTLY_DISCHARGED:
        admitted_days_ago = 8
    if mobile:
        admitted_days_ago = MOBILE_NIGHTS[family]
    assessed_day = today - timedelta(days=admitted_days_ago + 1)
    assessed = _at(assessed_day, 9, rng.randint(0, 50))
    if plan == "assessing":
        assessed = min(ctx.now - timedelta(hours=rng.randint(1, 5)), assessed + timedelta(days=1))
    episode = Episode(
        patient_id=patient.id, state=plan, pathway_id=ctx.pathways[pathway].id,
        responsible_unit_id=home_ward.id, assessed_at=assessed, assessed_by_id=nurse.id,
        assessment_note="NEWS2 under 4 utan syrgas. Patienten och närstående vill vårdas hemma.",
    )
    ended = None
    if plan != "assessing" and plan != "not_admitted":
        admitted = _at(assessed_day + timedelta(days=1), 14, rng.randint(0, 50))
        episode.admitted_at = admitted
        episode.admitted_by_id = nurse.id
        episode.responsible_physician_id = physician.id if mobile else rng.choice(
            [physician, staff["erik.sundqvist"], staff["maria.holm"]]).id
        episode.coordinator_id = coordinator.id if mobile else rng.choice(
            [coordinator, staff["lena.forsberg"], staff["hanna.lundstrom"]]).id
        if plan == "admitted":
            episode.bed_number = None  # numbered below, in admission order
            episode.held_bed = i % 4 == 0
            episode.held_bed_location = "Avdelning 5, Lycksele lasarett" if i % 4 == 0 else None
        else:
            ended = admitted + timedelta(days=rng.randint(3, 12), hours=rng.randint(0, 5))
            if family == RECENTLY_DISCHARGED:  # discharged yesterday: the team follows up
                ended = admitted + timedelta(days=7, hours=2)
            episode.ended_at = ended
            episode.ended_by_id = physician.id
            episode.end_reason, episode.end_note = ENDINGS.get(family, ENDINGS[plan])
            episode.ambulance_informed = plan == "returned"
    elif plan == "not_admitted":
        ended = assessed + timedelta(hours=3)
        episode.ended_at = ended
        episode.ended_by_id = physician.id
        episode.end_note = "Patienten vill inte vårdas hemma just nu; kvar på avdelningen."
    session.add(episode)
    session.flush()
    _assessment(ctx, episode, patient, plan, nurse, physician)
    grace = ended + timedelta(days=7) if ended else None
    _relation(ctx, patient, episode, unit=home_ward, role="Ansvarig enhet",
              starts=assessed, ends=grace, by=nurse)
    if plan in ("admitted", "discharged", "returned"):
        start = episode.admitted_at
        _relation(ctx, patient, episode, unit=units["hsv"], role="Kommunal hemsjukvård",
                  starts=start, ends=grace, by=coordinator)
        if i % 3 == 0 and not mobile:
            _relation(ctx, patient, episode, unit=units["mobile"], role="Hembesök",
                      starts=start, ends=grace, by=coordinator)
        if i % 5 == 1:
            _relation(ctx, patient, episode, unit=units["rehab"], role="Rehabilitering",
                      starts=start, ends=grace, by=staff["hanna.lundstrom"])
        # Most patients consent to sharing between the region and the kommun; some have
        # not (yet), and the kommun then sees only the contact details.
        if i % 5 != 2:
            for org in (KOMMUN, REGION):
                session.add(Consent(
                    patient_id=patient.id, organisation_id=ctx.orgs[org].id, method="oral",
                    given_by="patient", given_at=start - timedelta(hours=2),
                    recorded_by_id=nurse.id, documented_by_unit_id=nurse.unit_id))
    if i == 4:
        # The one block: this patient asked that the hälsocentral's notes stay there.
        _relation(ctx, patient, None, unit=units["hc"], role="Fast läkarkontakt",
                  starts=created, ends=None, by=staff["ulla.backman"])
        session.add(Block(patient_id=patient.id, unit_id=units["hc"].id,
                          note="Patientens begäran.", created_at=created + timedelta(days=1),
                          created_by_id=staff["ulla.backman"].id))
    if plan == "admitted":
        used = {b for b in session.scalars(select(Episode.bed_number).where(
            Episode.responsible_unit_id == home_ward.id, Episode.state == "admitted"))
            if b}
        episode.bed_number = min(set(range(1, home_ward.virtual_beds + 1)) - used)


def print_logins(url: str) -> None:
    width = max(len(u) for u, _ in FEATURED)
    lines = [
        "",
        "  Hemma demo — open " + url,
        "",
        f"  Password for every demo user: {DEMO_PASSWORD}",
        "",
    ]
    lines += [f"    {user.ljust(width)}  {role}" for user, role in FEATURED]
    lines += ["", f"  Demo patients have fictional personnummer, e.g. "
                  f"{format_number(make(PATIENTS[0][2], 980))}.", ""]
    print("\n".join(lines), flush=True)
