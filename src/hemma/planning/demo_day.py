"""Demo data for the visit planner: one realistic day of home visits around Lycksele.

Hemsjukvården Lycksele kommun plans today's visits for seven staff: IV antibiotics three
times a day for the region's home-ward (OPAT) patients, wound care, blood samples, insulin
and medication, checks, assessments, and two visits that need two staff. Most patients are
the municipality's own and live in Lycksele; some live 30-60 km up the valleys, as inland
Västerbotten does. Every visit comes from an accepted care request, created as accepting one
does (`create_visits`), from the start of today so that the whole day is there whenever the
demo is loaded. Fixed data, no randomness: the same day every time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import select

from hemma.config import get_settings
from hemma.kit.time import STOCKHOLM, at_local, local_date
from hemma.models import (
    ACTIVE_STATES,
    CareKind,
    CareRequest,
    Episode,
    Patient,
    RequestStatus,
    StaffShift,
    Unit,
    Visit,
    VisitAssignment,
)
from hemma.planning import day as planner
from hemma.planning.service import create_visits, join_care_team

PLANNING_UNIT = "hsv"
# Days already worked before today, planned and done: who has met whom (continuity).
HISTORY_DAYS = 3
HISTORY_MOVES = 300_000  # the search for a past day: a fraction of a second

# Where each unit's staff start and end their day (latitude, longitude).
OFFICES = {
    "med": (64.5948, 18.6611),  # Lycksele lasarett
    "hc": (64.5967, 18.6700),  # Lycksele hälsocentral
    "mobile": (64.5948, 18.6611),  # the mobile team works from the hospital
    "hsv": (64.5990, 18.6780),  # Hemsjukvården's office
    "rehab": (64.5985, 18.6760),
}

BREAK_DAY = [{"earliest": "11:00", "latest": "13:00", "minutes": 30}]
BREAK_SHORT = [{"earliest": "11:00", "latest": "12:30", "minutes": 30}]
BREAK_EVENING = [{"earliest": "16:30", "latest": "18:30", "minutes": 30}]
BJORKSELE_HOME = (64.9821, 18.5262)

# (username, start, end, breaks, home): who works today, from the office unless a home is
# given (then the working day starts and ends there, with the car). Two work the evening: the
# 20:00 doses in Lycksele, Knaften (25 min away) and Kristineberg (an hour away) cannot be
# given by one nurse within their ± 30 minutes.
SHIFTS = [
    ("hanna.lundstrom", "07:00", "16:00", BREAK_DAY, None),
    ("maja.lindqvist", "07:00", "16:00", BREAK_DAY, BJORKSELE_HOME),
    ("linnea.bjork", "07:00", "16:00", BREAK_DAY, None),
    ("oskar.holmberg", "07:00", "16:00", BREAK_DAY, None),
    ("mikael.nyberg", "07:00", "13:00", BREAK_SHORT, None),
    ("agneta.karlsson", "12:00", "21:00", BREAK_EVENING, None),
    ("per.ostlund", "13:00", "22:00", BREAK_EVENING, None),
]


@dataclass(frozen=True)
class _Request:
    family: str  # the patient (family names are unique in the demo)
    sender: str  # the unit responsible for the patient
    kind: CareKind
    notes: str
    times: tuple[str, ...] = ()  # fixed times ± tolerance, or else the window
    window: tuple[str, str] | None = None
    tolerance: int = 30
    minutes: int = 20
    skills: tuple[str, ...] = ()
    staff_count: int = 1
    sync: str | None = None
    gap: tuple[int, int] = (0, 0)
    hard: bool = True
    priority: int = 2
    since: int = 0  # the first day, days before today
    until: int = 0  # the last day, days after today


IV, BLOOD, WOUND = CareKind.IV_ANTIBIOTIC, CareKind.BLOOD_SAMPLE, CareKind.WOUND_CARE
CHECKS, ASSESS, OTHER = CareKind.VITAL_SIGNS, CareKind.ASSESSMENT, CareKind.OTHER
IV_TIMES = ("08:00", "14:00", "20:00")
MORNING, AFTERNOON = ("09:00", "12:00"), ("13:00", "16:00")
SAMPLES = ("07:30", "10:00")

REQUESTS = [
    # The region's home-ward patients on IV antibiotics (OPAT): on time, by a nurse.
    _Request("Lindgren", "med", IV, "PICC-line höger arm, spola med NaCl 10 ml före och efter. "
             "Piperacillin/Tazobactam 4 g under 30 min, läkemedlet i kylskåpet. Rodnad eller "
             "svullnad vid infarten: ring Medicinkliniken.", times=IV_TIMES, minutes=30,
             skills=("iv",), priority=3, since=3, until=6),
    _Request("Holmgren", "med", IV, "Kloxacillin 2 g x 3. PICC-line, spola med NaCl 10 ml. "
             "Grusväg sista kilometern, ring om den inte är plogad.", times=IV_TIMES,
             minutes=30, skills=("iv",), priority=3, since=2, until=9),
    _Request("Åström", "med", IV, "Cefotaxim 1 g x 3 i perifer venkateter, byts var tredje "
             "dag. Hund i huset, knacka och vänta.", times=IV_TIMES, minutes=30,
             skills=("iv",), priority=3, since=1, until=4),
    # The region's other home-ward patients.
    _Request("Lundmark", "med", OTHER, "Palliativ vård. Kontrollera smärtpumpen och den "
             "subkutana nålen, vid behov-läkemedel i kylskåpet. Maka Berit finns hemma.",
             times=("09:00", "19:00"), tolerance=45, minutes=30, skills=("ssk",), priority=3,
             since=5, until=10),
    _Request("Nyström", "med", BLOOD, "CRP och blodstatus. Proverna till lab på Lycksele "
             "lasarett före kl 11.", window=SAMPLES, minutes=15, until=2),
    _Request("Öberg", "med", BLOOD, "Natrium, kalium och kreatinin (höjd dos furosemid). "
             "Väg patienten samtidigt.", window=SAMPLES, minutes=15, since=1, until=3),
    _Request("Sandström", "med", ASSESS, "Stigande andningsfrekvens och puls senaste dygnet. "
             "Bedöm allmäntillståndet, ta NEWS2 och ring ansvarig läkare på Medicinkliniken "
             "efter besöket.", window=("10:00", "15:00"), minutes=45, skills=("ssk",),
             priority=3),
    _Request("Westerlund", "med", CHECKS, "Har inte skickat mätvärden sedan igår. Hjälp med "
             "mätningen och se att surfplattan är laddad och ansluten.",
             window=("10:00", "15:00"), hard=False, until=2),
    _Request("Burman", "med", CHECKS, "Andningsfrekvens, saturation och temperatur. "
             "Patienten talar finska, tolk via telefon vid behov.", window=AFTERNOON,
             hard=False, since=2, until=5),
    # The hälsocentral's patients.
    _Request("Åkerlund", "hc", BLOOD, "Hb och järnstatus. Svårstucken, använd fjärilsnål.",
             window=SAMPLES, minutes=15),
    _Request("Lindahl", "hc", OTHER, "Injektion B12 (cyanokobalamin 1 mg i.m.).",
             window=("12:00", "16:00"), minutes=15, hard=False, priority=1),
    # The municipality's own patients.
    _Request("Stenlund", "hsv", BLOOD, "PK (INR), behandlas med Waran. Svaret till "
             "hälsocentralen.", window=SAMPLES, minutes=15),
    _Request("Stenlund", "hsv", OTHER, "Läkemedelsgivning, patienten har demens. Dosetten i "
             "det låsta skåpet i köket.", times=("08:00", "12:00", "17:00"), tolerance=45,
             since=20, until=30),
    _Request("Renström", "hsv", BLOOD, "Fasteprov: B-glukos och HbA1c. Patienten äter inte "
             "frukost före provet.", window=SAMPLES, minutes=15),
    _Request("Renström", "hsv", OTHER, "Insulin enligt läkemedelslistan, mät blodsockret "
             "först.", times=("08:00", "12:00", "17:00"), minutes=15, priority=3, since=30,
             until=30),
    _Request("Sundberg", "hsv", OTHER, "Insulin (Insulatard) morgon och kväll, mät "
             "blodsockret först.", times=("08:00", "17:00"), minutes=15, priority=3,
             since=30, until=30),
    _Request("Sundberg", "hsv", OTHER, "Byte av KAD (sjuksköterska), därefter dusch och "
             "hudvård (undersköterska).", window=AFTERNOON, minutes=30, skills=("ssk",),
             staff_count=2, sync="sequential", gap=(0, 30), hard=False),
    _Request("Degerman", "hsv", WOUND, "Venöst bensår vänster underben: Aquacel Ag och "
             "kompressionslindning. Nyckel i nyckelgömma vid dörren.", window=MORNING,
             minutes=45, skills=("sår",), hard=False, since=3, until=10),
    _Request("Degerman", "hsv", OTHER, "Levodopa på utsatta tider: en sen dos ger stelhet "
             "och fallrisk. Nyckel i nyckelgömma vid dörren.",
             times=("07:30", "11:30", "15:30"), minutes=15, priority=3, since=30, until=30),
    _Request("Lundqvist", "hsv", WOUND, "Trycksår sakrum, kategori 2: Mepilex Border "
             "Sacrum. Kontrollera hälarna.", window=MORNING, minutes=30, skills=("sår",),
             hard=False, since=4, until=10),
    _Request("Lundqvist", "hsv", OTHER, "Läkemedelsgivning morgon och kväll.",
             times=("08:00", "18:00"), tolerance=45, since=30, until=30),
    _Request("Edlund", "hsv", WOUND, "Operationssår höger höft efter protes, byte av "
             "förband. Agrafferna tas dag 14.", window=AFTERNOON, minutes=30,
             skills=("sår",), hard=False, since=2, until=5),
    _Request("Edlund", "hsv", OTHER, "Fragmin 5000 E subkutant.", times=("09:00",),
             tolerance=60, minutes=15, since=2, until=12),
    _Request("Abrahamsson", "hsv", OTHER, "Ögondroppar och läkemedelsgivning. Nyckel i "
             "nyckelgömma vid dörren.", times=("09:00", "15:00"), tolerance=45, since=30,
             until=30),
    _Request("Lundberg", "hsv", OTHER, "Förflyttning med taklift till duschbåren och "
             "hudinspektion, två personal. Lyftselen hänger i badrummet.",
             window=("08:30", "10:30"), minutes=30, staff_count=2, sync="simultaneous",
             since=7, until=7),
    _Request("Lundberg", "hsv", CHECKS, "Blodtryck och puls på kvällen.", times=("20:00",),
             tolerance=45, hard=False, priority=1, since=1, until=6),
    _Request("Rönnqvist", "hsv", CHECKS, "Blodtryck morgon och eftermiddag efter ändrad dos.",
             times=("08:00", "15:00"), tolerance=45, hard=False, since=1, until=6),
    _Request("Grahn", "hsv", WOUND, "Diabetesfotsår höger stortå. Mät och fotografera såret "
             "på måndagar.", window=AFTERNOON, minutes=45, skills=("sår",), hard=False,
             since=6, until=14),
    _Request("Grahn", "hsv", OTHER, "Insulin morgon och kväll, mät blodsockret först. Hund i "
             "huset.", times=("08:00", "17:00"), minutes=15, priority=3, since=30, until=30),
    _Request("Wiklund", "hsv", WOUND, "Bensår höger underben, byte av förband. Åker till "
             "dagverksamheten kl 12.", window=MORNING, minutes=30, skills=("sår",),
             since=3, until=8),
    _Request("Dahlberg", "hsv", WOUND, "Bensår båda benen, kompressionslindning. Hund i "
             "huset.", window=("10:00", "14:00"), minutes=45, skills=("sår",), hard=False,
             since=2, until=12),
    _Request("Wallin", "hsv", ASSESS, "Inskrivning i hemsjukvården: läkemedelslista, "
             "fallrisk, nutrition och trycksårsrisk. Dottern är med.",
             window=("10:00", "15:00"), minutes=45, skills=("ssk",), hard=False),
]

SENDERS = {"med": "sara.nilsson", "hc": "ulla.backman", "hsv": "hanna.lundstrom"}
DECIDER = "agneta.karlsson"


def load_visit_day(session, now: datetime, units: dict, staff: dict) -> tuple[int, date]:
    """Office places, today's shifts and the care requests with their visits; returns the
    planning unit's id and the day."""
    for key, (lat, lon) in OFFICES.items():
        units[key].latitude, units[key].longitude = lat, lon
    unit = units[PLANNING_UNIT]
    today = local_date(now)
    for back in range(HISTORY_DAYS, -1, -1):
        _shifts(session, unit, today - timedelta(days=back), staff)
    patients = {p.family_name: p for p in session.scalars(select(Patient))}
    first_day = at_local(today - timedelta(days=HISTORY_DAYS), "00:00")
    for spec in REQUESTS:
        request = _send(session, spec, patients[spec.family], units, staff, unit, today,
                        now)
        create_visits(session, request, first_day)
    session.flush()
    return unit.id, today


def _shifts(session, unit: Unit, day: date, staff: dict) -> None:
    office = (unit.latitude, unit.longitude)
    for username, start, end, breaks, home in SHIFTS:
        place = home or office
        session.add(StaffShift(
            staff_id=staff[username].id, unit_id=unit.id, day=day,
            starts_at=at_local(day, start), ends_at=at_local(day, end),
            start_place="home" if home else "office", start_latitude=place[0],
            start_longitude=place[1], end_latitude=place[0], end_longitude=place[1],
            breaks=breaks, profile="car"))


def _send(session, spec: _Request, patient: Patient, units: dict, staff: dict,
          to_unit: Unit, today: date, now: datetime) -> CareRequest:
    """The request as `request_care` and `decide` would have made it, days ago."""
    episode = session.scalar(select(Episode).where(Episode.patient_id == patient.id,
                                                   Episode.state.in_(ACTIVE_STATES)))
    first = today - timedelta(days=spec.since)
    sent = datetime.combine(first - timedelta(days=1), time(15),
                            tzinfo=STOCKHOLM)
    if episode is not None and episode.admitted_at is not None:
        # Not before the patient came home.
        first = max(first, local_date(episode.admitted_at))
        sent = max(sent, episode.admitted_at + timedelta(minutes=30))
    sent = min(sent, now - timedelta(hours=2))
    sender = staff[SENDERS[spec.sender]]
    request = CareRequest(
        patient_id=patient.id, episode_id=episode.id if episode else None,
        from_unit_id=units[spec.sender].id, to_unit_id=to_unit.id, kind=spec.kind,
        times=sorted(spec.times) or None, tolerance_minutes=spec.tolerance,
        window_start=spec.window[0] if spec.window else None,
        window_end=spec.window[1] if spec.window else None, first_date=first,
        last_date=today + timedelta(days=spec.until), duration_minutes=spec.minutes,
        skills=sorted(spec.skills), staff_count=spec.staff_count, sync=spec.sync,
        gap_min=spec.gap[0], gap_max=spec.gap[1] if spec.sync == "sequential" else 0,
        hard=spec.hard, priority=spec.priority, notes=spec.notes,
        status=RequestStatus.ACCEPTED, created_by_id=sender.id, created_at=sent,
        decided_by_id=staff[DECIDER].id, decided_at=sent + timedelta(hours=1))
    session.add(request)
    join_care_team(session, request, sent)
    session.flush()
    return request



def plan_visit_day(session, unit_id: int, day: date, now: datetime) -> None:
    """The days before today as they went (planned, the visits done), then today planned as
    the planner would have early this morning, with the visits whose planned time is over
    reported done, as the staff would have on their phones: the demo opens on a day under
    way, and the planner knows whom each patient has met."""
    settings = get_settings()
    for back in range(HISTORY_DAYS, 0, -1):
        past = day - timedelta(days=back)
        plan = planner.plan_in(session, None, unit_id, past,
                                budget=planner.Budget(iterations=HISTORY_MOVES),
                                now=at_local(past, "06:30"), osrm_url=settings.osrm_url)
        _report(session, plan, at_local(past + timedelta(days=1), "00:00"))
        _not_done(session, unit_id, past, back)
        # What a past day's plan could not fit, the evening's on-call nurse took.
        for visit in session.scalars(select(Visit).where(
                Visit.unit_id == unit_id, Visit.day == past, Visit.status == "planned")):
            visit.status, visit.not_done_reason = "cancelled", "Gjordes av jourpatrullen"
    plan = planner.plan_in(session, None, unit_id, day,
                            budget=planner.Budget.of(settings, replan=False),
                            now=min(now, at_local(day, "06:30")), osrm_url=settings.osrm_url)
    _report(session, plan, now)


# Now and then a visit of the days already worked was not made, as the staff reported it on
# their phones: (patient, days back, kind, the reason chosen, their own words).
NOT_DONE = [
    ("Wiklund", 3, "wound_care", "patient_not_home", "Ingen öppnade. Lämnade lapp och ringde "
     "dottern."),
    ("Lundberg", 3, "other", "other", "Hemtjänsten hade redan gett kvällens läkemedel."),
    ("Dahlberg", 2, "wound_care", "travel", "Vägen avstängd efter en trafikolycka; "
     "omläggningen görs i morgon."),
    ("Abrahamsson", 2, "other", "patient_in_hospital", "Inlagd på lasarettet över natten "
     "efter ett fall."),
    ("Sundberg", 1, "other", "patient_declined", "Ville vila efter en dålig natt."),
    ("Rönnqvist", 1, "vital_signs", "no_staff", "Två sjuka på eftermiddagen; kontrollerna "
     "tas vid nästa besök."),
]


def _not_done(session, unit_id: int, day: date, back: int) -> None:
    """The day's visits that were not made, reported so (the first of their kind that day)."""
    for family, days_back, kind, code, words in NOT_DONE:
        if days_back != back:
            continue
        visit = session.scalar(
            select(Visit).join(Patient, Patient.id == Visit.patient_id)
            .where(Visit.unit_id == unit_id, Visit.day == day, Visit.kind == kind,
                   Patient.family_name == family, Visit.status == "done")
            .order_by(Visit.earliest).limit(1))
        if visit is not None:
            visit.status, visit.started_at = "not_done", None
            visit.not_done_code, visit.not_done_reason = code, words
    session.flush()


def _report(session, plan, until: datetime) -> None:
    """The visits of a plan that end by `until` reported done, at their planned times."""
    for assignment, visit in session.execute(
            select(VisitAssignment, Visit).join(Visit, Visit.id == VisitAssignment.visit_id)
            .where(VisitAssignment.plan_id == plan.id, VisitAssignment.part == 0,
                   VisitAssignment.planned_end <= until)):
        visit.status = "done"
        visit.started_at = assignment.planned_start
        visit.done_at = assignment.planned_end
    session.flush()
