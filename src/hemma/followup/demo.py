"""The demo's year: the history of the two home wards (Medicinkliniken's, and the mobile
team's palliative one) from `hemma.followup.history`, written straight into the demo's
database with Core inserts in portions, so that the follow-up page has a year to show the
moment the demo opens and `hemma demo` stays fast.

The history runs from the first day of this month a year ago up to yesterday (Swedish time),
around the demo's own patients: their stays hold beds, and their stays get values from the
same model from the day they came home until the days the demo gives them values of its own.
Its patients are fictional: names from the lists below (never a name the demo's own patients
have: the demo finds those by name), valid personnummer with birth numbers 900–979 (the
demo's own use 980–999), homes in the demo's villages. Their care relations ended seven days
after their discharge, as everyone's do: staff see the figures they are counted in, and
tracing a figure says "counted, not shown". No audit entry per row: `load_demo` writes one
for the whole demo, naming the history's size.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from itertools import count

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from hemma.config import get_settings
from hemma.followup import history as h
from hemma.kit.time import local_date, parse_clock
from hemma.models import (
    Alert,
    CareRelation,
    Episode,
    Handover,
    Message,
    MessageThread,
    Observation,
    Pathway,
    Patient,
    PremResponse,
    StaffShift,
    Unit,
    Visit,
    VisitAssignment,
    VisitPlan,
)
from hemma.patients.personnummer import make

SEED = 20261204
CHUNK = 2000
# The demo's own patients have values from this long before the demo's now (hemma.demo).
OWN_VALUES = timedelta(days=4, hours=2)

# Per unit key of hemma.demo.UNITS: what it admits, how many assessments a day (12 beds at
# about three-quarters full with stays of a week; 6 palliative beds with stays of three weeks
# or more), who visits (in turn, two a day), the physicians and nurses who sign the episodes,
# and how far the patients live (Medicinkliniken's team covers Lycksele's villages, the mobile
# team the whole of Södra Lappland).
UNITS = {
    "med": {"mix": (("opat", 0.35), ("heart_failure", 0.25), ("copd", 0.2), ("general", 0.2)),
            "arrivals": 1.5, "visitors": ("sara.nilsson", "johan.berglund", "lena.forsberg",
                                          "petra.strom"),
            "nurses": ("sara.nilsson", "johan.berglund", "lena.forsberg"),
            "physicians": ("karin.lundgren", "erik.sundqvist", "maria.holm"),
            "coordinator": "anders.wikstrom", "km": 22.0},
    "mobile": {"mix": (("palliative", 0.85), ("general", 0.15)), "arrivals": 0.3,
               "visitors": ("eva.marklund", "jonas.lind", "frida.sjolund"),
               "nurses": ("eva.marklund", "jonas.lind"), "physicians": ("nils.eriksson",),
               "coordinator": "eva.marklund", "km": 28.0},
}

WOMEN = ["Margareta", "Birgit", "Elisabeth", "Ingegerd", "Gunilla", "Karin", "Kristina",
         "Barbro", "Ulla", "Marianne", "Gun", "Siv", "Inger", "Britt-Marie", "Anita", "Gunvor",
         "Elsy", "Majken", "Sonja", "Rut", "Alice", "Berit", "Irma", "Laila", "Hjördis", "Vivi",
         "Eivor", "Asta", "Lilian", "Yvonne", "Maud", "Ann-Christin", "Monica", "Lena-Maria"]
MEN = ["Lars", "Jan", "Bengt", "Sven", "Karl", "Gunnar", "Rolf", "Åke", "Bertil", "Lennart",
       "Göran", "Hans", "Nils", "Erik", "Per-Olof", "Bo", "Kjell", "Roland", "Tage", "Ivar",
       "Evert", "Helge", "Ragnar", "Sture", "Arvid", "Einar", "Yngve", "Torbjörn", "Leif",
       "Ulf", "Kent", "Sune", "Hilding", "Verner"]
FAMILIES = ["Andersson", "Johansson", "Karlsson", "Persson", "Olsson", "Larsson", "Gustafsson",
            "Pettersson", "Jansson", "Bergström", "Boström", "Nordström", "Häggström",
            "Sundström", "Lindström", "Strömberg", "Norberg", "Holmström", "Bäckström",
            "Engström", "Söderberg", "Sandberg", "Hägglund", "Lindkvist", "Sjödin", "Nordqvist",
            "Backlund", "Viklund", "Fahlgren", "Brändström", "Lundin", "Åberg", "Ekman",
            "Dahlgren", "Eklund", "Hedström", "Grönlund", "Wikberg", "Berggren", "Falk",
            "Nygren", "Lundholm", "Mattsson", "Isaksson", "Abramsson", "Åman", "Rehn",
            "Jakobsson", "Söderlund", "Öström", "Lindmark", "Bylund", "Fjällström", "Lidén",
            "Nordenmark", "Stenberg", "Vesterlund", "Ågren", "Lundkvist", "Sehlstedt"]

# What the episode's end says, in the words the physician writes.
END_NOTES = {
    "completed": "Utskriven efter avslutad behandling. Epikris till hälsocentralen.",
    "other": "Utskriven till fortsatt vård i annan form.",
    "death_expected": "Avled lugnt i hemmet med närstående närvarande.",
    "death_unexpected": "Avled oväntat i hemmet. Anhöriga underrättade.",
    "deterioration": "Försämrad, åter till sjukhuset.",
    "new_problem": "Nytt medicinskt problem, åter till sjukhuset för utredning.",
    "fall_injury": "Föll i hemmet, åter till sjukhuset.",
    "treatment_not_possible": "Behandlingen gick inte att ge i hemmet, åter till sjukhuset.",
    "patient_wish": "Patienten ville åter till sjukhuset.",
}
NOT_ADMITTED_NOTE = "Ej inskriven: hemmet eller patienten inte redo, kvar på avdelningen."
# A visit not done for "another reason" says which, in the staff's words.
OTHER_REASONS = ["Hemtjänsten hade redan gett läkemedlen.",
                 "Anhörig ringde återbud; besöket flyttas till i morgon.",
                 "Patienten var hos tandläkaren."]
PATIENT_WRITES = ["Hej! Jag har sovit dåligt i natt. Är det vanligt med medicinen?",
                  "Kan ni komma lite senare i morgon? Vi ska till affären.",
                  "Febern har gått ner nu, 37,4 i morse.",
                  "Det gör lite ont där slangen sitter. Ska jag göra något?",
                  "Hej, hur länge till ska jag ta tabletterna?",
                  "Jag har ont i magen sedan i går kväll."]
RELATIVE_WRITES = ["Hej, pappa har varit orolig i natt. Kan någon ringa mig?",
                   "Mamma äter nästan ingenting längre. Vad kan vi göra?",
                   "Hej, kan ni ta med mer av morfinet vid nästa besök?"]
ANSWERS = ["Tack för att du hör av dig. Vi ringer dig strax.",
           "Det är vanligt de första dagarna. Vi tittar på det vid besöket i morgon.",
           "Bra att höra! Fortsätt som vanligt.", "Vi kommer förbi i eftermiddag och tittar."]
SBAR = ("Hemma, stabil under passet.", "Inskriven i hemsjukhuset.",
        "NEWS2 oförändrad, inga nya larm.", "Fortsätt enligt planen.")
PREM_COMMENTS = ["Kände mig trygg hela tiden.", "Skönt att få vara hemma med katten.",
                 "Svårt att nå er en kväll, annars bra.", "Personalen var fantastisk."]


def _unit_specs(session: Session, units: dict, staff: dict, busy: dict) -> list[h.UnitSpec]:
    return [h.UnitSpec(
        units[key].id, beds=units[key].virtual_beds, mix=spec["mix"],
        arrivals_per_day=spec["arrivals"], staff=tuple(staff[u].id for u in spec["visitors"]),
        on_duty=2, km_per_visit=spec["km"], busy=tuple(busy.get(units[key].id, ())))
        for key, spec in UNITS.items()]


def _pathways(session: Session) -> tuple[dict[str, Pathway], list[h.PathwaySpec]]:
    current = {p.code: p for p in session.scalars(select(Pathway).where(
        Pathway.active.is_(True)))}
    return current, [h.PathwaySpec(code, tuple(p.schedule or ()), p.tolerance_minutes)
                     for code, p in current.items()]


def history_for(session: Session, now: datetime, units: dict, staff: dict) -> h.History:
    """The demo's history as of `now`: around the episodes the database has (they hold
    beds)."""
    today = local_date(now)
    start = date(today.year - 1, today.month, 1)
    busy: dict[int, list] = {}
    for unit_id, admitted, ended in session.execute(select(
            Episode.responsible_unit_id, Episode.admitted_at, Episode.ended_at).where(
            Episode.admitted_at.is_not(None))):
        busy.setdefault(unit_id, []).append((admitted, ended))
    _current, specs = _pathways(session)
    settings = get_settings()
    goal = h.AnswerGoal(settings.message_answer_minutes,
                        parse_clock(settings.message_day_start),
                        parse_clock(settings.message_day_end), settings.message_weekends)
    return h.History(SEED, _unit_specs(session, units, staff, busy), specs, start, today,
                     scale=h.Scale(unconfirmed_handovers=0.0),
                     escalation=settings.escalation, answer_goal=goal)


def load_history(session: Session, now: datetime, units: dict, staff: dict,
                 places: Sequence[tuple], streets: Sequence[str], taken_names: Iterable[str],
                 own_values_skip: Iterable = ()) -> str:
    """Write the history, and the values of the demo's own patients before their last days
    (but for the episodes in `own_values_skip`, which the demo gives a stay of values of its
    own); returns what the audit entry says of it."""
    history = history_for(session, now, units, staff)
    pathways, _specs = _pathways(session)
    ids = _Ids()
    own = _own_values(session, history, now, units, staff, pathways, set(own_values_skip), ids)
    writer = _Writer(session, history, units, staff, pathways, ids)
    writer.patients(places, streets, set(taken_names))
    writer.episodes()
    writer.monitoring()
    writer.visits()
    writer.messages()
    writer.handovers()
    writer.prem()
    return (f"history {history.start.isoformat()}–{history.end.isoformat()}: "
            f"{len(history.episodes)} episodes of {len(history.patients)} patients; "
            f"{own} earlier values of the demo's patients")


class _Ids:
    """Row ids in the order rows are made: the same demo, the same ids (and made much faster
    than random or hashed ones, which matters at tens of thousands of rows)."""

    HIGH = 0x48454D4D41484953  # "HEMMAHIS"

    def __init__(self):
        self.n = count(1)

    def __call__(self) -> uuid.UUID:
        return uuid.UUID(int=(self.HIGH << 64) | next(self.n), version=4)


class _Writer:
    def __init__(self, session: Session, history: h.History, units: dict, staff: dict,
                 pathways: dict[str, Pathway], ids: _Ids):
        self.s, self.h, self.pathways, self.new_id = session, history, pathways, ids
        self.patient_id: dict[int, uuid.UUID] = {}
        self.episode_id: dict[int, uuid.UUID] = {}
        self.by_unit_id = {units[k].id: k for k in UNITS}
        self.staff = staff
        self.roles = {units[k].id: {role: [staff[u].id for u in spec[role]]
                                    for role in ("nurses", "physicians")}
                      | {"coordinator": staff[spec["coordinator"]].id}
                      for k, spec in UNITS.items()}
        self.questions = {(code, q["key"]): q["text"] for code, p in pathways.items()
                          for q in p.symptom_questions or []}

    def _insert(self, table, rows: Iterable[dict]) -> int:
        n = 0
        for chunk in h.chunked(rows, CHUNK):
            self.s.execute(insert(table.__table__), chunk)
            n += len(chunk)
        return n

    # --- Patients and episodes ---------------------------------------------------------------

    def patients(self, places: Sequence[tuple], streets: Sequence[str], taken: set[str]) -> None:
        families = [f for f in FAMILIES if f not in taken]
        used: set[tuple[date, int]] = set()
        rows = []
        for p in self.h.patients:
            rng = random.Random(f"{SEED}:patient:{p.key}")
            town, postal, lat, lon = places[p.key % len(places)]
            serial = 900 + (p.key * 2) % 80 + (p.sex == "M")  # odd for men, even for women
            while (p.birth_date, serial) in used:
                serial = 900 + (serial - 900 + 2) % 80
            used.add((p.birth_date, serial))
            given = rng.choice(WOMEN if p.sex == "F" else MEN)
            self.patient_id[p.key] = self.new_id()
            rows.append(dict(
                id=self.patient_id[p.key], personnummer=make(p.birth_date, serial),
                is_coordination_number=False, birth_date=p.birth_date, given_name=given,
                family_name=families[(p.key * 7 + rng.randrange(len(families)))
                                     % len(families)],
                street=f"{rng.choice(streets)} {rng.randint(1, 60)}", postal_code=postal,
                city=town, latitude=round(lat + rng.uniform(-0.03, 0.03), 5),
                longitude=round(lon + rng.uniform(-0.05, 0.05), 5), position_source="system",
                position_precision="address", position_at=p.created_at, phone=None,
                language="sv", interpreter_needed=False, digital_ability=p.digital_ability,
                registered_by_unit_id=p.unit_id, created_at=p.created_at,
                updated_at=p.created_at))
        self._insert(Patient, rows)

    def episodes(self) -> None:
        episodes, relations = [], []
        for e in self.h.episodes:
            roles = self.roles[e.unit_id]
            rng = random.Random(f"{SEED}:staff:{e.key}")
            nurse = e.nurse if e.nurse in roles["nurses"] else rng.choice(roles["nurses"])
            physician = rng.choice(roles["physicians"])
            admitted = e.admitted_at is not None
            note = END_NOTES.get(e.end_reason or "", NOT_ADMITTED_NOTE)
            self.episode_id[e.key] = episode_id = self.new_id()
            patient_id = self.patient_id[e.patient]
            episodes.append(dict(
                id=episode_id, patient_id=patient_id, state=e.state,
                pathway_id=self.pathways[e.pathway].id, responsible_unit_id=e.unit_id,
                responsible_physician_id=physician if admitted else None,
                coordinator_id=roles["coordinator"] if admitted else None, bed_number=None,
                held_bed=False, held_bed_location=None,
                assessment_note="NEWS2 under 4 utan syrgas. Patienten och närstående vill "
                                "vårdas hemma.",
                assessed_at=e.assessed_at, assessed_by_id=nurse, admitted_at=e.admitted_at,
                admitted_by_id=nurse if admitted else None, ended_at=e.ended_at,
                ended_by_id=physician, end_note=note,
                ambulance_informed=e.ambulance_informed, end_reason=e.end_reason,
                criteria_override=e.criteria_override))
            # The care relationship ends seven days after the end, as the demo's own do.
            relations.append(dict(
                id=self.new_id(), patient_id=patient_id, episode_id=episode_id,
                unit_id=e.unit_id, staff_id=None,
                role="Ansvarig enhet", sharing_note=None, starts_at=e.assessed_at,
                ends_at=e.ended_at + timedelta(days=7), created_by_id=nurse,
                documented_by_unit_id=e.unit_id, ended_by_id=None))
        self._insert(Episode, episodes)
        self._insert(CareRelation, relations)

    # --- Values and alerts -------------------------------------------------------------------

    def monitoring(self) -> None:
        alerts: list[dict] = []

        def observations():
            for e in self.h.episodes:
                readings, raised = self.h.monitoring(e)
                episode_id, patient_id = self.episode_id[e.key], self.patient_id[e.patient]
                made = {}
                for o in readings:
                    made[o.key] = (self.new_id(), o.measured_at)
                    yield _observation(o, e.unit_id, made[o.key][0], episode_id, patient_id,
                                       staff_id=e.nurse if o.performer == "staff" else None)
                alerts.extend(self._alert(a, e, *made.get(a.observation, (None, None)))
                              for a in raised)
                if e.device:
                    yield from (_observation(o, e.unit_id, self.new_id(), episode_id,
                                             patient_id) for o in self.h.device(e))

        self._insert(Observation, observations())
        self._insert(Alert, alerts)

    def _alert(self, a: h.Alert, e: h.Episode, observation_id, measured_at) -> dict:
        """The alert as `monitoring.alerts.raise_alert` stores one: its reason quotes the
        values (and when, and which unit documented them) or the window that was missed."""
        reason = {"message": REASONS[a.cause.split(":", 1)[0]], "params": dict(a.params),
                  "severity": a.severity, "topic": a.cause,
                  "at": measured_at.isoformat() if measured_at else None, "unit_id": e.unit_id}
        if a.cause.startswith("symptom:"):
            reason["params"]["question"] = self.questions.get(
                (e.pathway, a.params["question"]), a.params["question"])
        return dict(
            id=self.new_id(), patient_id=self.patient_id[a.patient],
            episode_id=self.episode_id[a.episode], unit_id=a.unit_id, kind=a.kind,
            severity=a.severity, status="resolved", dedupe_key=f"history:{a.key}",
            reasons=[reason], observation_id=observation_id,
            created_at=a.created_at,
            latest_value_at=measured_at,
            acknowledged_at=a.acknowledged_at, acknowledged_by_id=a.acknowledged_by,
            resolved_at=a.resolved_at,
            resolved_by_id=a.acknowledged_by if a.resolved_reason is None else None,
            resolution_note="Ringt patienten, åtgärdat enligt planen."
            if a.resolved_reason is None else None,
            resolved_reason=a.resolved_reason, snoozed_until=None, snooze_reason=None,
            escalation_level=a.escalation_level, next_escalation_at=None)

    # --- Visits and plans --------------------------------------------------------------------

    def visits(self) -> None:
        days = list(self.h.visit_days())
        shifts = []
        for vd in days:
            unit = vd.plan.unit_id
            office = self.s.get(Unit, unit)
            for staff_id, starts, ends in vd.plan.shifts:
                shifts.append(dict(
                    staff_id=staff_id, unit_id=unit, day=vd.plan.day, starts_at=starts,
                    ends_at=ends, start_place="office", start_latitude=office.latitude,
                    start_longitude=office.longitude, end_latitude=office.latitude,
                    end_longitude=office.longitude, breaks=[], profile="car"))
        self._insert(StaffShift, shifts)
        units = list({vd.plan.unit_id for vd in days})
        shift_id = {(staff, starts): sid for sid, staff, starts in self.s.execute(
                        select(StaffShift.id, StaffShift.staff_id, StaffShift.starts_at)
                        .where(StaffShift.unit_id.in_(units),
                               StaffShift.day >= self.h.start, StaffShift.day < self.h.end))}
        plans, visits, assignments = [], [], []
        for vd in days:
            p = vd.plan
            plan_id = self.new_id()
            plans.append(dict(
                id=plan_id, unit_id=p.unit_id, day=p.day, version=1, created_at=p.created_at,
                created_by_id=p.shifts[0][0] if p.shifts else None, reason="planned",
                figures=_figures(p, vd.visits), unplanned=[], breaks=[]))
            shift_of = {staff: shift_id[(staff, starts)] for staff, starts, _ends in p.shifts}
            position: dict[int, int] = {}
            for v in vd.visits:
                visit_id = self.new_id()
                visits.append(dict(
                    id=visit_id, care_request_id=None, patient_id=self.patient_id[v.patient],
                    unit_id=v.unit_id, day=v.day, kind=v.kind, earliest=v.earliest,
                    latest=v.latest, duration_minutes=v.minutes, skills=[],
                    staff_count=max(1, len(v.staff)), sync="simultaneous"
                    if len(v.staff) > 1 else None, gap_min=0, gap_max=0, hard=False,
                    priority=1 if v.urgent else 2, urgent=v.urgent, notes=None,
                    status=v.status, not_done_code=v.not_done_code,
                    not_done_reason=OTHER_REASONS[len(visits) % len(OTHER_REASONS)]
                    if v.not_done_code == "other" else None,
                    started_at=v.started_at, done_at=v.done_at,
                    updated_by_id=v.staff[0] if v.staff else None, created_at=v.created_at))
                for part, staff_id in enumerate(v.staff):
                    position[staff_id] = position.get(staff_id, -1) + 1
                    start = v.started_at or v.earliest
                    assignments.append(dict(
                        plan_id=plan_id, visit_id=visit_id, part=part,
                        shift_id=shift_of[staff_id], position=position[staff_id],
                        planned_start=start, planned_end=start + timedelta(minutes=v.minutes),
                        locked=False))
        self._insert(VisitPlan, plans)
        self._insert(Visit, visits)
        self._insert(VisitAssignment, assignments)

    # --- Messages, hand-overs, PREM ----------------------------------------------------------

    def messages(self) -> None:
        threads: dict[tuple[int, int], dict] = {}
        rows = []
        for n, msg in enumerate(self.h.messages()):
            key = (msg.patient, msg.unit_id)
            thread = threads.get(key)
            if thread is None:
                thread = threads[key] = dict(
                    id=self.new_id(), patient_id=self.patient_id[msg.patient], kind="patient",
                    unit_id=msg.unit_id, key=f"patient:{msg.unit_id}",
                    created_at=msg.created_at, last_message_at=msg.answered_at)
            thread["last_message_at"] = max(thread["last_message_at"], msg.answered_at)
            texts = RELATIVE_WRITES if msg.relative else PATIENT_WRITES
            common = dict(thread_id=thread["id"], patient_id=self.patient_id[msg.patient],
                          relative_id=None, documented_by_unit_id=msg.unit_id, photo_key=None,
                          photo_type=None, photo_bytes=None, escalated_at=None)
            rows.append(dict(
                common, id=self.new_id(), author_kind="patient",
                author_staff_id=None, body=texts[n % len(texts)], created_at=msg.created_at,
                due_at=msg.due_at, read_at=msg.read_at, read_by_staff_id=msg.answered_by,
                read_by_unit_id=msg.unit_id, answered_at=msg.answered_at,
                answered_by_id=msg.answered_by, seen_at=None))
            rows.append(dict(
                common, id=self.new_id(), author_kind="staff",
                author_staff_id=msg.answered_by, body=ANSWERS[n % len(ANSWERS)],
                created_at=msg.answered_at, due_at=None, read_at=None, read_by_staff_id=None,
                read_by_unit_id=None, answered_at=None, answered_by_id=None,
                seen_at=msg.answered_at + timedelta(minutes=30 + n % 90)))
        self._insert(MessageThread, threads.values())
        self._insert(Message, rows)

    def handovers(self) -> None:
        situation, background, assessment, recommendation = SBAR
        self._insert(Handover, (dict(
            id=self.new_id(), patient_id=self.patient_id[x.patient],
            episode_id=self.episode_id[x.episode], from_unit_id=x.from_unit,
            to_unit_id=x.to_unit, situation=situation, background=background,
            assessment=assessment, recommendation=recommendation, created_at=x.created_at,
            created_by_id=x.created_by, received_at=x.received_at,
            received_by_id=x.received_by) for x in self.h.handovers()))

    def prem(self) -> None:
        self._insert(PremResponse, (dict(
            id=self.new_id(), episode_id=self.episode_id[r.episode],
            patient_id=self.patient_id[r.patient], unit_id=r.unit_id, questionnaire="prem-1",
            answers=r.answers, comment=PREM_COMMENTS[r.episode % len(PREM_COMMENTS)]
            if r.episode % 5 == 0 else None, channel=r.channel, answered_at=r.answered_at,
            entered_by_id=None if r.channel == "phone"
            else self.roles[r.unit_id]["nurses"][0]) for r in self.h.prem()))


def _figures(p: h.Plan, visits: list[h.Visit]) -> dict:
    """The plan's figures, as the planner writes them (the day page shows them)."""
    late = sum(max(0.0, (v.started_at - v.latest).total_seconds() / 60)
               for v in visits if v.started_at is not None)
    met: dict[int, set[int]] = {}
    for v in visits:
        met.setdefault(v.patient, set()).update(v.staff)
    counts = [len(s) for s in met.values() if s]
    return {"visits": p.visits, "planned": p.planned, "unplanned": 0, "km": p.km,
            "drive_minutes": p.drive_minutes, "late_minutes": round(late), "new_faces": 0,
            "max_staff_per_patient": max(counts, default=0),
            "mean_staff_per_patient": round(sum(counts) / max(1, len(counts)), 2),
            "travel": "history", "violations": 0, "solve_seconds": 0, "iterations": 0}


# The reasons' msgids, as monitoring.rules and monitoring.alerts word them.
REASONS = {
    "news2": "NEWS2 %(total)s (%(band)s)",
    "fever": "%(parameter)s %(value)s (limit %(op)s %(limit)s)",
    "low_bp": "%(parameter)s %(value)s (limit %(op)s %(limit)s)",
    "pain": "%(parameter)s %(value)s (limit %(op)s %(limit)s)",
    "threshold": "%(parameter)s %(value)s (limit %(op)s %(limit)s)",
    "weight_gain": "%(parameter)s changed by %(change)s in %(hours)s hours",
    "symptom": "The patient answers yes: %(question)s",
    "worse": "The patient reports feeling worse",
    "missed": "No values in the %(time)s window on %(date)s",
}


def _observation(o: h.Observation, unit_id: int, row_id, episode_id, patient_id, *,
                 staff_id: int | None = None, client_id: str | None = None) -> dict:
    v = o.values
    return dict(
        id=row_id, patient_id=patient_id, episode_id=episode_id,
        client_id=client_id or f"history-{o.key}",
        measured_at=o.measured_at, received_at=o.received_at,
        performer=o.performer, staff_id=staff_id,
        device_id=f"demo-device-{o.episode}" if o.performer == "device" else None,
        source={"patient": "patient_page", "staff": "staff_form"}.get(o.performer, "api"),
        documented_by_unit_id=unit_id, respiration_rate=v.get("respiration_rate"),
        spo2=v.get("spo2"), on_oxygen=v.get("on_oxygen"), temperature=v.get("temperature"),
        systolic_bp=v.get("systolic_bp"), diastolic_bp=v.get("diastolic_bp"),
        pulse=v.get("pulse"), consciousness=v.get("consciousness"), weight=v.get("weight"),
        pain=v.get("pain"), symptoms=o.symptoms, feeling_worse=o.feeling_worse,
        news2_total=o.news2_total,
        news2_band=o.news2_band, news2_partial=o.news2_partial)


def _own_values(session: Session, history: h.History, now: datetime, units: dict,
                staff: dict, pathways: dict[str, Pathway], skip: set, ids: _Ids) -> int:
    """The demo's own patients' values from the day they came home until the demo's own
    values begin (`OWN_VALUES` before now), from the same model, raising nothing: their
    windows are not missed in the follow-up either."""
    codes = {p.id: code for code, p in pathways.items()}
    codes.update({p.id: p.code for p in session.scalars(select(Pathway))})
    key_of = {units[k].id: k for k in UNITS}
    until = now - OWN_VALUES
    rows = []
    for n, (episode, ability) in enumerate(session.execute(
            select(Episode, Patient.digital_ability)
            .join(Patient, Patient.id == Episode.patient_id)
            .where(Episode.admitted_at.is_not(None)).order_by(Episode.admitted_at))):
        if episode.id in skip or episode.responsible_unit_id not in key_of:
            continue
        end = min(until, episode.ended_at or until)
        if end <= episode.admitted_at:
            continue
        stay = h.Episode(-1 - n, -1, episode.responsible_unit_id,
                         codes.get(episode.pathway_id, h.DEFAULT_PATHWAY), "discharged",
                         episode.assessed_at, episode.admitted_at, end, "completed", False,
                         None, False, False, None)
        performer = "staff" if ability == "none" else "patient"
        nurse = staff[UNITS[key_of[episode.responsible_unit_id]]["nurses"][0]].id
        for o in history.stable_observations(stay, performer):
            rows.append(_observation(
                o, episode.responsible_unit_id, ids(), episode.id, episode.patient_id,
                staff_id=nurse if performer == "staff" else None,
                client_id=f"history-{episode.id.hex[:12]}-{o.key}"))
    for chunk in h.chunked(rows, CHUNK):
        session.execute(insert(Observation.__table__), chunk)
    return len(rows)
