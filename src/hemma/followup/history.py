"""A home ward's history from a documented model with a fixed seed: the demo's realistic year
and the benchmark's region. Pure: seeds, units and pathways in, plain records out (no
database, no clock); the same seed gives the same history, record for record.

    history = History(seed, units, pathways, start, end)
    history.patients, history.episodes          # lists (thousands at most)
    history.observations(), .alerts(), .visit_days(), .visits(), .plans(), .messages(),
    .handovers(), .prem()                       # iterators, made as they are read
    chunked(history.observations(), 5000)       # lists of 5,000, for executemany

Everything but the episodes is made lazily, one episode (or one unit-day) at a time, from
random streams of its own (`_rng(seed, what, key)`): each kind can be read alone, in any
order, and a region's 20 million observations never need to be in memory. Records refer to
each other by keys (episode, patient, observation, visit), never by database ids: the
writer gives them ids.
`to_facts()` turns a history into `followup.measures.Facts`, as `followup.service` reads
them from the database, so that tests hold the model to its documented ranges with the very
measures the follow-up page shows.

## The model

Where the five reports in `seeds/` give a figure it is used and named; where they are silent
the value is an assumption, kept inside what the literature on hospital at home reports
(returns to hospital 5–15 %, 30-day readmissions 5–20 %) and said to be one.

Arrivals. Each unit gets a Poisson number of assessments a day: its `arrivals_per_day`
(Scale.arrivals times it) × a weekday factor (WEEKDAY: Monday 1.25 … Sunday 0.7, the wards
refer after the weekend; assumption) × a season (SEASON: ±15 %, highest in mid-January with
the winter's infections and COPD, lowest in mid-July; assumption). The pathway is drawn from
the unit's mix. Assessments are made in daytime (weekdays 08–15, most around 10; weekends
09–14). An assessment ends without admission in NOT_ADMITTED = 10 % (the patient or relatives
do not want it, the home is not ready: Region Dalarna's pilot names the changed need of
nursing as the main reason its flow could not be tried; the share is an assumption); it ends
1–5 hours later. Those admitted come home the same day (60 % of the morning's assessments,
2–5 hours later, before 17:30) or the next day 10–16. The criteria are overridden at
CRITERIA_OVERRIDE = 3 % of admissions (assumption).

Beds. An episode is admitted only if one of the unit's virtual beds is free for its whole
stay, counting the beds the unit's other episodes hold (`UnitSpec.busy`: the demo's patients
at home now); otherwise the patient stays on the ward and the home ward never sees them (a
readmission is then assessed, not admitted). The history ends with every episode ended: the
patients at home now are the demo's own. A stay that would run past the end is drawn again
(RETRIES = 10 times) until it ends before; so the last weeks are as full as the others, and
their stays a little shorter (seen in no figure but the length of stay). The simulation
starts WARM_UP = 60 days before the first day, so that the beds are as full on the first day
as on any other; the episodes still at home on the first day are in the history whole.

Length of stay (nights at home) is log-normal per pathway (PATHWAYS, `los_median` and
`los_sigma`):
- opat: median 7, σ 0.45 (mean 7.7, 90 % under 12.4). Region Dalarna (seeds/002): the
  infection clinic's patients on the patient hotel, the OPAT candidates, stayed 441 nights /
  77 patients = 5.7 (2023) and 302 / 50 = 6.0 (2024); the clinic's mean inpatient stay was
  4.19–4.87 days; the mini-pilot's 14-day IV treatment had 12 days at home. The pathway
  expects 10.
- heart_failure: median 8, σ 0.5; copd: median 6, σ 0.45; general: median 5, σ 0.5
  (assumptions, below the pathways' expected 10, 7 and 7 days).
- palliative: median 16, σ 0.85 (mean 23; the pathway expects 30; assumption).
Discharge follows the remote round, 09:30–14:00 (Dalarna: "Utskrivning görs … i samband med
distansrond"); a discharge that would fall on a weekend moves to the Monday in 60 %.

How an episode ends (PATHWAYS): returned to hospital (`returns`: opat 8 %, heart_failure
12 %, copd 11 %, general 9 %, palliative 7 %; assumptions within 5–15 %) at 10–90 % of the
stay, at any hour (30 % in the evening or night), the ambulance informed in 60 %; reasons
RETURN_REASONS (deterioration 55 %, new problem 15 %, treatment not possible 10 %, fall or
injury 8 %, the patient's wish 8 %, other 4 %; assumption). Deaths at home (`death_expected`,
`death_unexpected`): palliative 62 % and 1 %, the others 0–1 % unexpected (assumption), at
any hour. `other` outcomes: palliative 10 % (moved to a nursing home or hospice), others 2 %.
The rest are completed.

Readmissions. After a discharge alive, READMISSION = 8 % of patients are assessed by the
home ward again within 30 days (most within the first two weeks), and LATE_RETURN = 4 % after
31–120 days. Region Östergötland's review (seeds/004) gives 16 % readmissions for the
patient group in Ronneby and 5 % with Trygg Hemgång's support after discharge; what the home
ward sees of them (a new assessment) lies between.

Self-monitoring. The values are due at the pathway's times ± its tolerance (`PathwaySpec`;
the pathways that come with Hemma: 08/14/20 for OPAT and COPD, 08/20 for heart failure and
general, 09/19 ± 2 h for palliative). Each episode has an adherence drawn from a beta
distribution with mean ADHERENCE = 0.88 (sd 0.10; assumption: 80–90 % is what remote
monitoring studies report), 10 % lower in the first 24 hours at home; a reading is measured
around the due time (N(+4, 20) minutes) and LATE = 5 % come 10–150 minutes after the window
has closed (they count as missed). So 80–85 % of windows are met. Patients who do not use
digital tools have their values taken by staff. Values are plausible and stable (NEWS2 0–3)
unless the reading raises an alert; a device (Scale.device_share of admitted episodes) sends
pulse, SpO2 and respiration every Scale.device_minutes (2 % of its sends lost).

Alerts. A measured reading raises an alert with the pathway's rate (`alerts`, per day at
home: opat 0.22, heart_failure 0.28, copd 0.32, general 0.22, palliative 0.30; assumption;
Region Östergötland's KOL project (seeds/004) made 79 preventive actions in 19 patients over
6 weeks, 0.10 a patient-day: the alerts that led to an action) and cause (`causes`: NEWS2
medium/high/critical, fever ≥ 38.5, low blood pressure, weight gain, pain ≥ 7, a symptom
question, a personal threshold, with the severities the pathway's rules give them); values
are made to match (a critical alert's reading has NEWS2 ≥ 7). WORSE = 0.03 a day press "jag
mår sämre" (high). Before a return to hospital the last hours hold a high or critical alert
in 75 %. Every window closed without values gives a missed-measurement alert (medium) 1–10
minutes after it closed, while the patient is at home.

Acknowledgement. Log-normal delays (σ 0.8) with a daytime median per severity (ACK_MINUTES:
critical 4, high 9, medium 18, low 40 minutes; missed measurements 25), × 1.6 in the evening
(17–22) and × 2.4 at night (22–07): Region Uppsala (seeds/001) names reaching a physician
after 17:00 as a gap, Region Dalarna (seeds/002) the home nursing's lower staffing in the
evening. An alert not acknowledged within its severity's escalation steps (the settings'
`escalation`, passed in) has been escalated once or twice. An alert whose episode ended
first was closed with it, unacknowledged. All alerts are resolved 5–60 minutes after.

Visits (per unit and Swedish day; PATHWAYS' `visits`): the home ward's own nurse visits
(a homecoming visit the first day in 70 % — Dalarna: someone should meet the patient at
home —, then opat 0.35 a day for samples and the PICC line, heart_failure 0.6, copd 0.5,
general 0.6, palliative 1.1), and where the unit has a partner (a municipal home nursing
unit) the partner's: IV antibiotics at 08, 14 and 20 ± 30 minutes for OPAT (Dalarna: "cirka 3
ggr per dag för att ge antibiotika intravenöst"), palliative 0.8 a day. Urgent visits:
URGENT per day at home (0.05; palliative 0.15). A unit may also visit its own patients
without an episode (`caseload_visits_per_day`). Of the visits: cancelled 3 %, not done
2.5 % (+1 % December–February, roads) with NOT_DONE_CODES (patient declined 30 %, not at home 20 %,
in hospital 10 %, no staff 15 %, roads or travel 15 %, other 10 %); the rest are done, 87 %
on time, 10 % late (5–45 minutes), 3 % early. Visits after a return or death that day are
cancelled (after a return a quarter are reported not done: in hospital). All assumptions.

Staff and plans. Each unit-day `on_duty` of the unit's staff work (in blocks of three days,
turn by turn; with two or more, the last works the evening, 13–22, the others the day, 07–16,
and visits go to who is there); a patient meets their own nurse when on duty (80 %), else mostly the same
colleague. 5 % of visits need two staff. The day's plan has the visits it holds and the
driving: each patient lives a log-normal distance factor (σ 0.5) × the unit's `km_per_visit`
away (demo: 22 km for the home ward, 28 for the mobile team; Hemsjukvården's planned demo
day drives 14 km a visit within Lycksele), `minutes_per_km` 1.28 (the same planned day: 892
minutes for 699.5 km, parking included).

Messages. Patients (palliative: mostly relatives) write MESSAGES = 0.12 a day at home
(palliative 0.25; assumption), mostly 07–21; the answer is due within the answer goal's
daytime minutes (the settings' 120 minutes of 08–17, passed in; `messaging.deadlines`); the
answer comes after a log-normal number of daytime minutes (median 45, σ 0.9), so about 86 %
within the goal.

Hand-overs. HANDOVERS = 0.25 a day at home, written at the shift changes (14:45–15:15,
20:45–21:15) to the next shift of the unit (or its partner in 30 %), confirmed 5–60 minutes
later (92 %), 1–18 hours later (5 %), never (`Scale.unconfirmed_handovers`, 3 %).

PREM at discharge alive: PREM_RATE = 40 % answer (assumption) — on the phone within two days
(those who use digital tools, 70 %) or on paper entered 2–14 days after; answers skewed
positive (PREM_SCORES: 5 55 %, 4 28 %, 3 10 %, 2 4 %, 1 3 %; a sixth of respondents one step
lower throughout; 4 % of questions left out). The reports describe patients who felt safe
("kände sig trygg", "mycket nöjd": Dalarna; "märkbart förhöjd trygghet": Ronneby, seeds/004).
"""

from __future__ import annotations

import heapq
import math
import random
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from itertools import count, islice

from hemma.followup import measures as m
from hemma.kit.time import at_local, ensure_utc, local, local_date
from hemma.messaging.deadlines import answer_due
from hemma.monitoring import news2
from hemma.monitoring.rules import windows as schedule_windows

# --- The model's parameters (see the module's docstring for where each comes from) ---------

RETRIES = 10  # draws of a stay that would run past the end
WARM_UP = 60  # days simulated before the first, so that the beds are full from it
WEEKDAY = (1.25, 1.15, 1.1, 1.1, 1.0, 0.7, 0.7)  # Monday … Sunday; mean 1
SEASON = 0.15  # ± around the year, highest mid-January
NOT_ADMITTED = 0.10
CRITERIA_OVERRIDE = 0.03
READMISSION = 0.08  # within 30 days of a discharge alive
LATE_RETURN = 0.04  # after 31–120 days
WEEKEND_DISCHARGE_MOVED = 0.6
ADHERENCE = 0.88
ADHERENCE_SD = 0.10
FIRST_DAY = 0.9  # adherence in the first 24 hours, relative
LATE = 0.05  # readings after their window closed
WORSE = 0.03  # "jag mår sämre" a day at home
RETURN_ALERT = 0.75  # a high or critical alert in the hours before a return
ACK_MINUTES = {"critical": 4.0, "high": 9.0, "medium": 18.0, "low": 40.0}
ACK_MISSED_MINUTES = 25.0
ACK_SIGMA = 0.8
ACK_EVENING, ACK_NIGHT = 1.6, 2.4
ESCALATION = {"critical": [5, 10], "high": [15, 15], "medium": [60, 60], "low": []}
URGENT = 0.05
HOMECOMING = 0.7
CANCELLED = 0.03
NOT_DONE = 0.025
NOT_DONE_WINTER = 0.01
NOT_DONE_CODES = (("patient_declined", 0.30), ("patient_not_home", 0.20),
                  ("patient_in_hospital", 0.10), ("no_staff", 0.15), ("travel", 0.15),
                  ("other", 0.10))
ON_TIME, LATE_VISIT = 0.87, 0.10  # the rest early
TWO_STAFF = 0.05
OWN_NURSE = 0.8
MESSAGES = 0.12
ANSWER_MEDIAN, ANSWER_SIGMA = 45.0, 0.9
HANDOVERS = 0.25
HANDOVER_TO_PARTNER = 0.3
HANDOVER_LATE = 0.05
PREM_RATE = 0.40
PREM_PHONE = 0.7
PREM_SCORES = ((5, 0.55), (4, 0.28), (3, 0.10), (2, 0.04), (1, 0.03))
PREM_KEYS = ("safe", "who_to_call", "listened", "informed", "again")
PREM_LOWER = 1 / 6
PREM_LEFT_OUT = 0.04
RETURN_REASONS = (("deterioration", 0.55), ("new_problem", 0.15),
                  ("treatment_not_possible", 0.10), ("fall_injury", 0.08),
                  ("patient_wish", 0.08), ("other", 0.04))
DIGITAL = {  # by age: independent, with support, none
    70: (0.6, 0.3, 0.1), 80: (0.4, 0.4, 0.2), 200: (0.25, 0.45, 0.3)}


@dataclass(frozen=True)
class VisitTemplate:
    """A kind of visit a pathway's patients get: at fixed times each day, or `per_day` on
    average in a daytime window; by the unit's own staff or its partner's."""

    kind: str  # planning.CareKind
    minutes: int
    per_day: float = 1.0
    clocks: tuple[str, ...] = ()  # fixed Swedish times ± 30 minutes, every day
    by: str = "own"  # own / partner


@dataclass(frozen=True)
class PathwayModel:
    los_median: float
    los_sigma: float
    returns: float
    death_expected: float
    death_unexpected: float
    other: float
    alerts: float  # vitals alerts a day at home
    causes: tuple[tuple[str, str, float], ...]  # (cause, severity, weight)
    visits: tuple[VisitTemplate, ...]
    age: tuple[float, float]  # mean, sd
    urgent: float = URGENT
    messages: float = MESSAGES
    parameters: tuple[str, ...] = ("respiration_rate", "spo2", "temperature", "systolic_bp",
                                   "diastolic_bp", "pulse", "consciousness")


_NEWS2 = (("news2", "medium", 0.5), ("news2", "high", 0.35), ("news2", "critical", 0.15))


def _causes(news2_weight: float, *others: tuple[str, str, float]) -> tuple:
    return tuple((c, s, w * news2_weight) for c, s, w in _NEWS2) + others


PATHWAYS: dict[str, PathwayModel] = {
    "opat": PathwayModel(
        7, 0.45, 0.08, 0.0, 0.002, 0.02, 0.22,
        _causes(0.35, ("fever", "high", 0.30), ("symptom:chills", "high", 0.10),
                ("symptom:picc", "medium", 0.15), ("threshold", "low", 0.10)),
        (VisitTemplate("blood_sample", 20, 0.35),
         VisitTemplate("iv_antibiotic", 30, clocks=("08:00", "14:00", "20:00"), by="partner")),
        (68, 13)),
    "heart_failure": PathwayModel(
        8, 0.5, 0.12, 0.005, 0.01, 0.02, 0.28,
        _causes(0.35, ("low_bp", "high", 0.15), ("weight_gain", "medium", 0.25),
                ("symptom:breathless", "medium", 0.20), ("threshold", "low", 0.05)),
        (VisitTemplate("vital_signs", 30, 0.6),), (80, 8),
        parameters=("respiration_rate", "spo2", "temperature", "systolic_bp", "diastolic_bp",
                    "pulse", "consciousness", "weight")),
    "copd": PathwayModel(
        6, 0.45, 0.11, 0.0, 0.005, 0.02, 0.32,
        _causes(0.60, ("fever", "high", 0.15), ("symptom:breathless", "medium", 0.20),
                ("threshold", "low", 0.05)),
        (VisitTemplate("vital_signs", 30, 0.5),), (74, 8)),
    "general": PathwayModel(
        5, 0.5, 0.09, 0.0, 0.005, 0.02, 0.22,
        _causes(0.60, ("fever", "high", 0.30), ("threshold", "low", 0.10)),
        (VisitTemplate("vital_signs", 30, 0.6),), (77, 10)),
    "palliative": PathwayModel(
        16, 0.85, 0.07, 0.62, 0.01, 0.10, 0.30,
        _causes(0.30, ("pain", "medium", 0.55), ("threshold", "low", 0.15)),
        (VisitTemplate("other", 45, 1.1), VisitTemplate("other", 30, 0.8, by="partner")),
        (78, 9), urgent=0.15, messages=0.25,
        parameters=("pulse", "spo2", "temperature", "pain")),
}
# The rules of the pathways that come with Hemma (and a personal threshold): parameter, op,
# limit — what an alert's reason quotes.
RULES = {"fever": ("temperature", ">=", 38.5), "low_bp": ("systolic_bp", "<", 95),
         "pain": ("pain", ">=", 7), "threshold": ("pulse", ">", 100)}
NEWS2_PARAMETERS = ("respiration_rate", "spo2", "temperature", "systolic_bp", "pulse",
                    "consciousness")
# A pathway the model does not know is followed as the general one.
DEFAULT_PATHWAY = "general"
# Daytime windows a visit without fixed times is planned in (start, weight), 90 minutes.
VISIT_WINDOWS = (("08:00", 3), ("09:30", 3), ("11:00", 2), ("13:00", 2), ("14:30", 2))


# --- What goes in ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PathwaySpec:
    """A pathway as the database has it: when values are due (Swedish wall-clock times) and
    the tolerance around them."""

    code: str
    schedule: tuple[str, ...]
    tolerance_minutes: int = 60


@dataclass(frozen=True)
class UnitSpec:
    """One unit of the history. A home ward has beds and a pathway mix; a unit without beds
    only visits (its partners' patients, its own caseload)."""

    id: int
    beds: int = 0
    mix: tuple[tuple[str, float], ...] = ()  # (pathway code, share)
    arrivals_per_day: float = 0.0  # assessments a day, on average
    staff: tuple[int, ...] = ()  # who makes the unit's visits (and answers, acknowledges)
    on_duty: int = 2
    partner: int | None = None  # the unit that makes the pathways' partner visits
    caseload_visits_per_day: float = 0.0
    km_per_visit: float = 22.0
    minutes_per_km: float = 1.28
    # Beds the unit's other episodes hold: (admitted, ended or None: still at home).
    busy: tuple[tuple[datetime, datetime | None], ...] = ()


@dataclass(frozen=True)
class Scale:
    """How much: arrivals × `arrivals`; a share of admitted episodes with a device that sends
    values every `device_minutes`; hand-overs never confirmed (the demo keeps none: they
    would wait in the menu's count for good)."""

    arrivals: float = 1.0
    device_share: float = 0.0
    device_minutes: float = 5.0
    unconfirmed_handovers: float = 0.03


@dataclass(frozen=True)
class AnswerGoal:
    """The settings' answer goal for patients' messages (`HEMMA_MESSAGE_*`)."""

    minutes: int = 120
    start: time = time(8, 0)
    end: time = time(17, 0)
    weekends: bool = True


# --- What comes out --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Patient:
    key: int
    unit_id: int  # the unit that first assessed them (or whose caseload they are)
    birth_date: date
    sex: str  # F / M
    digital_ability: str  # independent / with_support / none
    distance: float  # km from the unit's office, as a factor of its km_per_visit
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Episode:
    key: int
    patient: int
    unit_id: int
    pathway: str
    state: str  # discharged / returned / not_admitted
    assessed_at: datetime
    admitted_at: datetime | None
    ended_at: datetime
    end_reason: str | None
    criteria_override: bool
    nurse: int | None  # the patient's own nurse (fast vårdkontakt) among the unit's staff
    device: bool
    ambulance_informed: bool
    readmission_of: int | None  # the discharge this assessment came back after


@dataclass(frozen=True, slots=True)
class Observation:
    key: str  # "<episode>-<n>", unique in the history
    episode: int
    patient: int
    unit_id: int
    measured_at: datetime
    received_at: datetime
    performer: str  # patient / staff / device
    values: dict
    news2_total: int | None
    news2_band: str | None
    news2_partial: bool
    feeling_worse: bool = False
    symptoms: dict = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Alert:
    key: str
    episode: int
    patient: int
    unit_id: int
    kind: str  # vitals / worse / missed
    severity: str
    cause: str  # news2 / fever / low_bp / weight_gain / pain / symptom:<key> / threshold /
    #             worse / missed
    # What the reason quotes, as `monitoring.rules` words it: {"total", "band"} (NEWS2),
    # {"parameter", "value", "op", "limit"} (a rule), {"parameter", "change", "hours"}, {"question":
    # the symptom question's key}, {"time", "date"} (missed), {} (worse).
    params: dict
    observation: str | None  # the reading that raised it
    created_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: int | None
    escalation_level: int
    resolved_at: datetime
    resolved_reason: str | None  # None: resolved by staff; else closed with the episode


@dataclass(frozen=True, slots=True)
class Visit:
    key: str
    unit_id: int  # who makes it
    patient: int
    episode: int | None
    day: date
    kind: str
    urgent: bool
    earliest: datetime
    latest: datetime  # the latest start
    minutes: int
    status: str  # done / not_done / cancelled
    started_at: datetime | None
    done_at: datetime | None
    not_done_code: str | None
    staff: tuple[int, ...]  # who made it (planned to); empty for cancelled
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Plan:
    """The saved plan of one unit's day: its visits' count, driving, and who worked."""

    unit_id: int
    day: date
    planned: int  # visits in the plan (all but those cancelled beforehand)
    visits: int
    km: float
    drive_minutes: float
    shifts: tuple[tuple[int, datetime, datetime], ...]  # (staff, starts, ends)
    created_at: datetime


@dataclass(frozen=True, slots=True)
class VisitDay:
    plan: Plan
    visits: list[Visit]


@dataclass(frozen=True, slots=True)
class Message:
    key: str
    episode: int
    patient: int
    unit_id: int
    created_at: datetime
    due_at: datetime
    read_at: datetime
    answered_at: datetime
    answered_by: int | None
    relative: bool  # written by a relative (palliative)


@dataclass(frozen=True, slots=True)
class Handover:
    key: str
    episode: int
    patient: int
    from_unit: int
    to_unit: int
    created_at: datetime
    created_by: int | None
    received_at: datetime | None
    received_by: int | None


@dataclass(frozen=True, slots=True)
class Prem:
    episode: int
    patient: int
    unit_id: int
    answered_at: datetime
    answers: dict[str, int]
    channel: str  # phone / paper


# --- Small helpers ---------------------------------------------------------------------------


def _rng(seed: int | str, *parts) -> random.Random:
    """A random stream of its own for one purpose and key: a kind can be made alone, in any
    order, and adding one kind of record changes no other."""
    return random.Random(":".join(str(p) for p in (seed, *parts)))


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 50:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def _count(rng: random.Random, mean: float) -> int:
    """A whole number with the given mean: its floor, plus one with the fraction's chance."""
    whole = int(mean)
    return whole + (rng.random() < mean - whole)


def _choice(rng: random.Random, weighted: Sequence[tuple]):
    """The first item of a (value, …, weight) row, drawn by its last item."""
    total = sum(row[-1] for row in weighted)
    x = rng.random() * total
    for row in weighted:
        x -= row[-1]
        if x < 0:
            return row
    return weighted[-1]


def _clock(day: date, hours: float) -> datetime:
    """`hours` after midnight Swedish time on `day` (a wall-clock time), in UTC."""
    minutes = max(0, min(24 * 60 - 1, round(hours * 60)))
    return at_local(day, time(minutes // 60, minutes % 60))


def _hour(moment: datetime) -> int:
    return local(moment).hour


def _model(code: str) -> PathwayModel:
    return PATHWAYS.get(code) or PATHWAYS[DEFAULT_PATHWAY]


def chunked(records: Iterable, size: int) -> Iterator[list]:
    """Lists of `size` records (the last shorter): executemany's portions."""
    it = iter(records)
    while chunk := list(islice(it, size)):
        yield chunk


class _Beds:
    """A unit's virtual beds over time: an episode takes one that is free for its whole
    stay."""

    def __init__(self, beds: int, busy: Iterable[tuple[datetime, datetime | None]], end):
        self.beds: list[list[tuple[datetime, datetime]]] = [[] for _ in range(max(beds, 0))]
        for start, stop in sorted(busy, key=lambda b: b[0]):
            # The ward's own episodes hold a bed each (beyond the beds, they block nothing).
            self.take(start, stop or end + timedelta(days=365))

    def take(self, start: datetime, stop: datetime) -> bool:
        for taken in self.beds:
            if all(stop <= a or b <= start for a, b in taken):
                taken.append((start, stop))
                return True
        return False


# --- The history -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Reading:
    n: int
    due: datetime | None  # the window it answers (None: a reading of its own)
    at: datetime
    cause: str | None
    severity: str | None


class History:
    """One history: the episodes are made at once (thousands at most), everything else is
    made as it is read. Dates are Swedish calendar days [start, end); nothing happens at or
    after the start of `end`."""

    def __init__(self, seed: int | str, units: Sequence[UnitSpec],
                 pathways: Sequence[PathwaySpec], start: date, end: date, *,
                 scale: Scale = Scale(), escalation: Mapping[str, Sequence[int]] = ESCALATION,
                 answer_goal: AnswerGoal = AnswerGoal()):
        if end <= start:
            raise ValueError("the history must end after it starts")
        self.seed, self.start, self.end = seed, start, end
        self.units = {u.id: u for u in units}
        self.pathways = {p.code: p for p in pathways}
        self.scale, self.escalation, self.answer_goal = scale, escalation, answer_goal
        self.until = _clock(end, 0)  # the first moment after the history
        self.patients: list[Patient] = []
        self.patient: dict[int, Patient] = {}
        self.episodes: list[Episode] = []
        self._make_episodes()
        self.by_key = {e.key: e for e in self.episodes}
        self._caseloads: dict[int, list[int]] = {}
        self._make_caseloads()

    # --- Episodes --------------------------------------------------------------------------

    def _new_patient(self, keys, unit: UnitSpec, code: str, at: datetime,
                     rng: random.Random) -> Patient:
        mean, sd = _model(code).age
        age = min(100.0, max(19.0, rng.gauss(mean, sd)))
        born = local_date(at) - timedelta(days=int(age * 365.25))
        shares = next(s for limit, s in sorted(DIGITAL.items()) if age < limit)
        ability = _choice(rng, list(zip(("independent", "with_support", "none"), shares,
                                        strict=True)))[0]
        patient = Patient(next(keys), unit.id, born, rng.choice("FM"), ability,
                          math.exp(rng.gauss(0, 0.5)),
                          at - timedelta(days=rng.randint(30, 3000)))
        self.patients.append(patient)
        self.patient[patient.key] = patient
        return patient

    def _make_episodes(self) -> None:
        keys, patient_keys = count(), count()
        for unit in sorted(self.units.values(), key=lambda u: u.id):
            if unit.beds <= 0 or unit.arrivals_per_day <= 0 or not unit.mix:
                continue
            beds = _Beds(unit.beds, unit.busy, self.until)
            rng = _rng(self.seed, "arrivals", unit.id)
            pending: list[tuple[datetime, int, int, str, int]] = []  # readmissions
            n = 0
            # Beds are full on the first day as on any other: the ward ran before the history.
            day = self.start - timedelta(days=WARM_UP)
            while day < self.end:
                season = 1 + SEASON * math.cos(2 * math.pi * (day.timetuple().tm_yday - 15)
                                               / 365.25)
                lam = (unit.arrivals_per_day * self.scale.arrivals * WEEKDAY[day.weekday()]
                       * season)
                arrivals = []
                for _ in range(_poisson(rng, lam)):
                    code = _choice(rng, unit.mix)[0]
                    arrivals.append((_assessed(day, rng), None, None, code, None))
                while pending and local_date(pending[0][0]) <= day:
                    at, order, patient, code, previous = heapq.heappop(pending)
                    arrivals.append((at, order, patient, code, previous))
                arrivals.sort(key=lambda a: (a[0], a[1] is not None))
                for at, _order, patient_key, code, previous in arrivals:
                    n += 1
                    erng = _rng(self.seed, "episode", unit.id, n)
                    episode = self._episode(
                        next(keys), unit, patient_key, code, at, previous, erng, beds)
                    if episode is None:
                        continue
                    if patient_key is None:
                        patient = self._new_patient(patient_keys, unit, code, at, erng)
                        episode = replace(episode, patient=patient.key)
                    self.episodes.append(episode)
                    later = self._readmission(episode, unit, erng)
                    if later is not None:
                        heapq.heappush(pending, (later[0], n, episode.patient, later[1],
                                                 episode.key))
                day += timedelta(days=1)
        # The warm-up's episodes that ended before the first day are not part of it.
        first = _clock(self.start, 0)
        self.episodes = [e for e in self.episodes if e.ended_at >= first]
        kept = {e.key for e in self.episodes}
        self.episodes = [e if e.readmission_of in kept or e.readmission_of is None
                         else replace(e, readmission_of=None) for e in self.episodes]
        seen = {e.patient for e in self.episodes}
        self.patients = [p for p in self.patients if p.key in seen]
        self.patient = {p.key: p for p in self.patients}

    def _episode(self, key: int, unit: UnitSpec, patient: int | None, code: str,
                 assessed: datetime, previous: int | None, rng: random.Random,
                 beds: _Beds) -> Episode | None:
        model = _model(code)
        nurse = rng.choice(unit.staff) if unit.staff else None

        def made(**kw) -> Episode:
            base = dict(key=key, patient=-1 if patient is None else patient, unit_id=unit.id, pathway=code,
                        assessed_at=assessed, criteria_override=False, nurse=nurse,
                        device=False, ambulance_informed=False, readmission_of=previous,
                        admitted_at=None, end_reason=None)
            return Episode(**{**base, **kw})

        if rng.random() < NOT_ADMITTED:
            ended = assessed + timedelta(hours=rng.uniform(1, 5))
            return made(state="not_admitted", ended_at=ended) if ended < self.until else None
        day = local_date(assessed)
        if local(assessed).hour < 12 and rng.random() < 0.6:
            admitted = min(assessed + timedelta(hours=rng.uniform(2, 5)), _clock(day, 17.5))
        else:
            admitted = _clock(day + timedelta(days=1), rng.uniform(10, 16))
        # A stay that would run past the end is drawn again (those at home now are the
        # demo's own): the last weeks are as full as the rest, their stays a little shorter.
        for _attempt in range(RETRIES):
            state, reason, ended = self._stay(model, admitted, rng)
            if ended < self.until:
                break
        if ended >= self.until or not beds.take(admitted, ended):
            if previous is None:
                return None  # the patient stayed on the ward: the home ward never saw them
            ended = assessed + timedelta(hours=rng.uniform(1, 3))  # assessed, no bed free
            return made(state="not_admitted", ended_at=ended) if ended < self.until else None
        return made(state=state, admitted_at=admitted, ended_at=ended, end_reason=reason,
                    criteria_override=rng.random() < CRITERIA_OVERRIDE,
                    device=rng.random() < self.scale.device_share,
                    ambulance_informed=state == "returned" and rng.random() < 0.6)

    @staticmethod
    def _stay(model: PathwayModel, admitted: datetime, rng: random.Random
              ) -> tuple[str, str, datetime]:
        """How a stay ends: (state, reason, when)."""
        nights = max(1, round(math.exp(rng.gauss(math.log(model.los_median), model.los_sigma))))
        last = local_date(admitted) + timedelta(days=nights)
        u = rng.random()
        if u < model.returns:
            reason = _choice(rng, RETURN_REASONS)[0]
            stay = timedelta(days=nights) * rng.uniform(0.1, 0.9)
            hour = rng.uniform(8, 20) if rng.random() < 0.7 else (rng.uniform(20, 32) % 24)
            ended = _clock(local_date(admitted + stay), hour)
            if ended <= admitted + timedelta(hours=3):
                ended = admitted + timedelta(hours=rng.uniform(3, 8))
            return "returned", reason, ended
        u -= model.returns
        if u < model.death_expected:
            reason = "death_expected"
        elif u < model.death_expected + model.death_unexpected:
            reason = "death_unexpected"
        elif u < model.death_expected + model.death_unexpected + model.other:
            reason = "other"
        else:
            reason = "completed"
        if reason.startswith("death"):
            ended = _clock(last, rng.uniform(0, 24))
        else:
            if last.weekday() >= 5 and rng.random() < WEEKEND_DISCHARGE_MOVED:
                last += timedelta(days=7 - last.weekday())
            ended = _clock(last, rng.uniform(9.5, 14))
        if ended <= admitted + timedelta(hours=12):
            ended = admitted + timedelta(hours=rng.uniform(12, 20))
        return "discharged", reason, ended

    def _readmission(self, e: Episode, unit: UnitSpec, rng: random.Random
                     ) -> tuple[datetime, str] | None:
        if e.state != "discharged" or e.end_reason in m.DEATHS:
            return None
        u = rng.random()
        if u < READMISSION:
            days = 1 + int(29 * rng.random() ** 1.6)
        elif u < READMISSION + LATE_RETURN:
            days = rng.randint(31, 120)
        else:
            return None
        at = _assessed(local_date(e.ended_at) + timedelta(days=days), rng)
        code = e.pathway if rng.random() < 0.7 else _choice(rng, unit.mix)[0]
        return (at, code) if at < self.until else None

    def _make_caseloads(self) -> None:
        """The patients a visiting unit sees without an episode (1.2 visits a day each)."""
        keys = count(max((p.key for p in self.patients), default=-1) + 1)
        for unit in sorted(self.units.values(), key=lambda u: u.id):
            if unit.caseload_visits_per_day <= 0:
                continue
            rng = _rng(self.seed, "caseload", unit.id)
            size = max(1, round(unit.caseload_visits_per_day / 1.2))
            self._caseloads[unit.id] = [
                self._new_patient(keys, unit, DEFAULT_PATHWAY, _clock(self.start, 9), rng).key
                for _ in range(size)]

    # --- Self-monitoring and alerts ----------------------------------------------------------

    def _spec(self, code: str) -> PathwaySpec:
        return self.pathways.get(code) or PathwaySpec(code, ())

    def _course(self, e: Episode, rng: random.Random, *, events: bool = True
                ) -> tuple[list[_Reading], list[tuple[datetime, datetime]]]:
        """The readings of one episode's stay (when measured, and the alert each raised) and
        the windows that closed without values: (due, when the worker noticed)."""
        spec, model = self._spec(e.pathway), _model(e.pathway)
        tolerance_minutes = spec.tolerance_minutes
        a, b = 8.8, 1.2  # beta: mean 0.88, sd ~0.10
        adherence = min(1.0, rng.betavariate(a, b) * ADHERENCE / (a / (a + b)))
        wins = schedule_windows(list(spec.schedule), tolerance_minutes, e.admitted_at,
                                e.ended_at) if spec.schedule else []
        per_window = model.alerts / max(1, len(spec.schedule))
        first_day = e.admitted_at + timedelta(days=1)
        readings: list[tuple[datetime | None, datetime, str | None, str | None]] = []
        missed = []
        for w in wins:
            noticed = w.end + timedelta(minutes=rng.uniform(1, 10))  # the worker's sweep
            if rng.random() >= adherence * (FIRST_DAY if w.due < first_day else 1):
                missed.append((w.due, noticed))
                continue
            if rng.random() < LATE:
                at = w.end + timedelta(minutes=rng.uniform(10, 150))
            else:
                minutes = max(-1.2, min(1.2, rng.gauss(4, 20) / tolerance_minutes))
                at = w.due + timedelta(minutes=minutes * tolerance_minutes)
            at = max(at, e.admitted_at + timedelta(minutes=rng.uniform(5, 30)))
            if not w.start <= at <= w.end:
                missed.append((w.due, noticed))
            if at >= e.ended_at:
                continue
            cause = severity = None
            if events and rng.random() < per_window:
                cause, severity, _w = _choice(rng, model.causes)
            readings.append((w.due, at, cause, severity))
        if events:
            days = (e.ended_at - e.admitted_at).total_seconds() / 86400
            for _ in range(_poisson(rng, WORSE * days)):
                at = e.admitted_at + (e.ended_at - e.admitted_at) * rng.random()
                readings.append((None, at, "worse", "high"))
            if e.state == "returned" and rng.random() < RETURN_ALERT:
                at = max(e.admitted_at + timedelta(minutes=30),
                         e.ended_at - timedelta(hours=rng.uniform(0.5, 6)))
                readings.append((None, at, "news2", "critical" if rng.random() < 0.4
                                 else "high"))
        readings.sort(key=lambda r: r[1])
        return [_Reading(n, due, at, c, s) for n, (due, at, c, s) in enumerate(readings)], missed

    def _base(self, e: Episode, rng: random.Random) -> dict:
        """The patient's own stable values."""
        copd = e.pathway == "copd"
        return {"respiration_rate": rng.randint(14, 18),
                "spo2": rng.randint(92, 95) if copd else rng.randint(95, 98),
                "temperature": rng.uniform(36.5, 37.2), "systolic_bp": rng.randint(112, 150),
                "diastolic_bp": rng.randint(65, 88), "pulse": rng.randint(60, 86),
                "weight": rng.uniform(60, 105), "pain": rng.randint(1, 4)}

    def _values(self, e: Episode, r: _Reading, base: dict, performer: str,
                rng: random.Random) -> tuple[dict, dict, news2.News2, dict]:
        """The values of one reading: stable around the patient's own (NEWS2 0–3, no rule
        met), or as the alert it raised says (a critical alert's reading has NEWS2 ≥ 7)."""
        model = _model(e.pathway)
        day = (r.at - e.admitted_at).total_seconds() / 86400
        fever = 0.5 * math.exp(-day / 1.5) if e.pathway == "opat" else 0.0
        gauss, randint = rng.gauss, rng.randint
        v = {"respiration_rate": max(12, min(20, base["respiration_rate"] + round(gauss(0, 1)))),
             "spo2": max(92 if e.pathway == "copd" else 95,
                         min(99, base["spo2"] + round(gauss(0, 0.8)))),
             "temperature": round(min(37.9, base["temperature"] + fever + gauss(0, 0.2)), 1),
             "systolic_bp": max(105, min(175, base["systolic_bp"] + round(gauss(0, 7)))),
             "diastolic_bp": base["diastolic_bp"] + round(gauss(0, 5)),
             "pulse": max(55, min(90, base["pulse"] + round(gauss(0, 5)))),
             "consciousness": "A", "on_oxygen": False,
             "weight": round(base["weight"] - 0.15 * day + gauss(0, 0.3), 1),
             "pain": max(0, min(6, base["pain"] + round(gauss(0, 1))))}
        symptoms: dict = {}
        cause, severity = r.cause, r.severity
        if cause == "news2" and severity == "critical":
            v.update(respiration_rate=randint(25, 28), spo2=randint(89, 91),
                     pulse=randint(112, 125), temperature=round(rng.uniform(38.6, 39.4), 1),
                     systolic_bp=randint(96, 108))
        elif cause == "news2" and severity == "high":
            v.update(respiration_rate=randint(21, 23), spo2=randint(92, 93),
                     pulse=randint(95, 105), temperature=round(rng.uniform(38.1, 38.4), 1),
                     systolic_bp=max(112, v["systolic_bp"]))
        elif cause == "news2":
            v.update(spo2=randint(89, 91))
        elif cause == "fever":
            v.update(temperature=round(rng.uniform(38.6, 39.3), 1), pulse=randint(92, 100))
        elif cause == "low_bp":
            v.update(systolic_bp=randint(86, 94))
        elif cause == "weight_gain":
            gain = round(rng.uniform(2.1, 3.0), 1)
            v.update(weight=round(base["weight"] - 0.15 * day + gain, 1))
        elif cause == "pain":
            v.update(pain=randint(7, 9))
        elif cause == "threshold":
            v.update(pulse=randint(101, 108))
        elif cause and cause.startswith("symptom:"):
            symptoms[cause.split(":", 1)[1]] = True
        elif cause == "worse":
            v.update(pulse=v["pulse"] + randint(5, 15),
                     temperature=round(v["temperature"] + rng.uniform(0.2, 0.6), 1))
        # Worried, the patient (or staff) measures everything NEWS2 needs.
        wanted = NEWS2_PARAMETERS if cause == "news2" else model.parameters
        values = {k: v[k] for k in wanted}
        if "consciousness" in values:
            values["on_oxygen"] = False
        if cause is None and "respiration_rate" in values and performer == "patient" \
                and rng.random() < 0.3:
            del values["respiration_rate"]  # counting breaths is hard for some
        score = news2.score(
            respiration_rate=values.get("respiration_rate"), spo2=values.get("spo2"),
            spo2_scale=1, on_oxygen=values.get("on_oxygen"),
            temperature=values.get("temperature"), systolic_bp=values.get("systolic_bp"),
            pulse=values.get("pulse"), consciousness=values.get("consciousness"))
        params: dict = {}
        if cause == "news2":
            params = {"total": score.total, "band": score.band}
        elif cause == "weight_gain":
            params = {"parameter": "weight", "change": f"{gain:+g}", "hours": "72"}
        elif cause in RULES:
            parameter, op, limit = RULES[cause]
            params = {"parameter": parameter, "value": f"{float(values[parameter]):g}",
                      "op": op, "limit": f"{limit:g}"}
        elif cause and cause.startswith("symptom:"):
            params = {"question": cause.split(":", 1)[1]}
        return values, symptoms, score, params

    def _performer(self, e: Episode) -> str:
        """Staff take the values of patients who do not use digital tools."""
        p = self.patient.get(e.patient)
        return "staff" if p is not None and p.digital_ability == "none" else "patient"

    def monitoring(self, e: Episode, *, events: bool = True, performer: str | None = None
                   ) -> tuple[list[Observation], list[Alert]]:
        """One episode's scheduled readings (and the patient's own) and the alerts they and
        the missed windows raised, acknowledged and resolved: made together, so that each
        alert's reading says what the alert says."""
        if e.admitted_at is None:
            return [], []
        rng = _rng(self.seed, "monitoring", e.key)
        readings, missed = self._course(e, rng, events=events)
        base, performer = self._base(e, rng), performer or self._performer(e)
        observations, raised = [], []
        for r in readings:
            values, symptoms, score, params = self._values(e, r, base, performer, rng)
            key = f"{e.key}-{r.n}"
            received = r.at + timedelta(seconds=rng.randint(20, 180))
            observations.append(Observation(
                key, e.key, e.patient, e.unit_id, r.at, received, performer, values,
                score.total, score.band, score.partial, r.cause == "worse", symptoms))
            if r.cause is not None:
                raised.append((received, "worse" if r.cause == "worse" else "vitals",
                               r.severity, r.cause, params, key))
        if not events:
            return observations, []
        for due, noticed in missed:
            if noticed < e.ended_at:
                at = local(due)
                raised.append((noticed, "missed", "medium", "missed",
                               {"time": at.strftime("%H:%M"), "date": at.strftime("%Y-%m-%d")},
                               None))
        raised.sort(key=lambda a: a[0])
        return observations, list(self._handled(e, raised, rng))

    def _handled(self, e: Episode, raised: list[tuple], rng: random.Random) -> Iterator[Alert]:
        """Each alert acknowledged after a delay that grows in the evening and at night (and
        escalated if that was slow), then resolved; or closed with the episode."""
        staff = self.units[e.unit_id].staff
        closed = "episode_returned" if e.state == "returned" else "episode_discharged"
        for n, (created, kind, severity, cause, params, observation) in enumerate(raised):
            median = ACK_MISSED_MINUTES if kind == "missed" else ACK_MINUTES[severity]
            hour = _hour(created)
            factor = ACK_NIGHT if hour >= 22 or hour < 7 else ACK_EVENING if hour >= 17 else 1
            minutes = min(12 * 60, median * factor * math.exp(rng.gauss(0, ACK_SIGMA)))
            acked = created + timedelta(minutes=minutes)
            by = rng.choice(staff) if staff else None
            resolved = acked + timedelta(minutes=rng.uniform(5, 60))
            if acked >= e.ended_at:
                waited = (e.ended_at - created).total_seconds() / 60
                yield Alert(f"{e.key}-a{n}", e.key, e.patient, e.unit_id, kind, severity,
                            cause, params, observation, created, None, None,
                            _level(self.escalation, severity, waited), e.ended_at, closed)
                continue
            yield Alert(f"{e.key}-a{n}", e.key, e.patient, e.unit_id, kind, severity, cause,
                        params, observation, created, acked, by,
                        _level(self.escalation, severity, minutes),
                        min(resolved, self.until - timedelta(seconds=1)), None)

    def device(self, e: Episode) -> Iterator[Observation]:
        """What the episode's device sent (if it had one: `Episode.device`)."""
        rng = _rng(self.seed, "device", e.key)
        base = self._base(e, rng)
        step = timedelta(minutes=self.scale.device_minutes)
        at, n = e.admitted_at + timedelta(minutes=rng.uniform(5, 60)), 0
        pulse, spo2, rr = float(base["pulse"]), float(base["spo2"]), float(base["respiration_rate"])
        ended, gauss, random_ = e.ended_at, rng.gauss, rng.random
        lag = timedelta(seconds=5)
        while at < ended:
            pulse += 0.2 * (base["pulse"] - pulse) + gauss(0, 1.5)
            spo2 += 0.3 * (base["spo2"] - spo2) + gauss(0, 0.4)
            rr += 0.3 * (base["respiration_rate"] - rr) + gauss(0, 0.5)
            if random_() >= 0.02:  # a send lost now and then
                yield Observation(f"{e.key}-d{n}", e.key, e.patient, e.unit_id, at, at + lag,
                                  "device", {"pulse": round(pulse), "spo2": min(100, round(spo2)),
                                             "respiration_rate": round(rr)}, None, None, True)
            n += 1
            at += step

    def observations(self, episodes: Iterable[Episode] | None = None) -> Iterator[Observation]:
        """Every value sent: the scheduled readings (and the patient's own), then the
        device's, episode by episode."""
        for e in self.episodes if episodes is None else episodes:
            if e.admitted_at is None:
                continue
            yield from self.monitoring(e)[0]
            if e.device:
                yield from self.device(e)

    def alerts(self) -> Iterator[Alert]:
        for e in self.episodes:
            yield from self.monitoring(e)[1]

    def stable_observations(self, e: Episode, performer: str = "patient") -> list[Observation]:
        """Readings as the model makes them, raising nothing, for an episode outside the
        history (the demo's patients at home now, between their admission and the days the
        demo gives values of its own): `e.ended_at` is where they stop."""
        return self.monitoring(e, events=False, performer=performer)[0]

    # --- Visits and plans --------------------------------------------------------------------

    def _at_home(self) -> dict[tuple[int, date], list[tuple[Episode, str]]]:
        """Per (visiting unit, day): the episodes at home that day and how the unit visits
        them (own / partner)."""
        out: dict[tuple[int, date], list[tuple[Episode, str]]] = defaultdict(list)
        for e in self.episodes:
            if e.admitted_at is None:
                continue
            unit = self.units[e.unit_id]
            day, last = local_date(e.admitted_at), local_date(e.ended_at)
            while day <= last:
                out[(e.unit_id, day)].append((e, "own"))
                if unit.partner is not None and unit.partner in self.units:
                    out[(unit.partner, day)].append((e, "partner"))
                day += timedelta(days=1)
        return out

    def visit_days(self, start: date | None = None, end: date | None = None
                   ) -> Iterator[VisitDay]:
        """Each unit's days with visits (of [start, end), by default the history's): the plan
        and its visits, unit by unit, day by day."""
        at_home = self._at_home()
        for unit in sorted(self.units.values(), key=lambda u: u.id):
            day = max(start or self.start, self.start)
            while day < min(end or self.end, self.end):
                vd = self._visit_day(unit, day, at_home.get((unit.id, day), ()))
                if vd is not None:
                    yield vd
                day += timedelta(days=1)

    def visits(self) -> Iterator[Visit]:
        for vd in self.visit_days():
            yield from vd.visits

    def plans(self) -> Iterator[Plan]:
        for vd in self.visit_days():
            yield vd.plan

    def _roster(self, unit: UnitSpec, day: date) -> list[int]:
        staff = list(unit.staff)
        if not staff:
            return []
        block = day.toordinal() // 3
        k = min(unit.on_duty, len(staff))
        return [staff[(block + i) % len(staff)] for i in range(k)]

    def _visit_day(self, unit: UnitSpec, day: date, at_home) -> VisitDay | None:
        rng = _rng(self.seed, "visits", unit.id, day.toordinal())
        wanted: list[tuple] = []  # (episode or patient, kind, earliest, latest, minutes, urgent)
        for e, how in sorted(at_home, key=lambda x: x[0].key):
            model = _model(e.pathway)
            templates = [t for t in model.visits if t.by == how]
            first = local_date(e.admitted_at) == day
            if how == "own" and first and rng.random() < HOMECOMING:
                start = e.admitted_at + timedelta(hours=rng.uniform(0.5, 2))
                wanted.append((e, "assessment", start, start + timedelta(minutes=60), 45,
                               False))
            for t in templates:
                if t.clocks:
                    for clock in t.clocks:
                        due = at_local(day, clock)
                        if e.admitted_at <= due:
                            wanted.append((e, t.kind, due - timedelta(minutes=30),
                                           due + timedelta(minutes=30), t.minutes, False))
                    continue
                for _ in range(_count(rng, t.per_day * (0.5 if first else 1))):
                    start = at_local(day, _choice(rng, VISIT_WINDOWS)[0])
                    if first and start < e.admitted_at:
                        continue
                    wanted.append((e, t.kind, start, start + timedelta(minutes=90), t.minutes,
                                   False))
            if how == "own" and rng.random() < model.urgent:
                start = _clock(day, rng.uniform(8, 20))
                if start > e.admitted_at:
                    wanted.append((e, "assessment", start, start + timedelta(minutes=90), 45,
                                   True))
        caseload = self._caseloads.get(unit.id, [])
        for _ in range(_poisson(rng, unit.caseload_visits_per_day) if caseload else 0):
            kind, minutes = _choice(rng, (("wound_care", 30, 3), ("other", 20, 4),
                                          ("blood_sample", 15, 2), ("vital_signs", 20, 1)))[:2]
            start = at_local(day, _choice(rng, VISIT_WINDOWS)[0])
            wanted.append((rng.choice(caseload), kind, start, start + timedelta(minutes=90),
                           minutes, False))
        if not wanted:
            return None
        roster = self._roster(unit, day)
        # With two or more on duty the last works the evening (13–22), the others the day
        # (07–16).
        evening = roster[-1:] if len(roster) > 1 else []
        day_staff = [s for s in roster if s not in evening]
        winter = day.month in (12, 1, 2)
        visits = []
        for n, (who, kind, earliest, latest, minutes, urgent) in enumerate(
                sorted(wanted, key=lambda w: (w[2], _key(w[0])))):
            e = who if isinstance(who, Episode) else None
            patient = e.patient if e else who
            created = earliest - timedelta(minutes=30) if urgent else \
                _clock(day - timedelta(days=1), 14)
            status, code, started = "done", None, None
            if e is not None and earliest >= e.ended_at:
                gone = e.state == "returned" and rng.random() < 0.25
                status, code = ("not_done", "patient_in_hospital") if gone else \
                    ("cancelled", None)
            elif rng.random() < CANCELLED:
                status = "cancelled"
            elif rng.random() < NOT_DONE + (NOT_DONE_WINTER if winter else 0):
                status = "not_done"
                code = _choice(rng, NOT_DONE_CODES)[0]
                if winter and rng.random() < 0.3:
                    code = "travel"
            staff: tuple[int, ...] = ()
            if status != "cancelled" and roster:
                hour = _hour(earliest)
                pool = (evening if hour >= 16 else day_staff if hour < 13 else roster) or roster
                own = e.nurse if e is not None and e.unit_id == unit.id else None
                if own in pool and rng.random() < OWN_NURSE:
                    first_staff = own
                else:
                    first_staff = pool[_key(patient) % len(pool)] if rng.random() < 0.85 \
                        else rng.choice(pool)
                staff = (first_staff,)
                if rng.random() < TWO_STAFF and len(roster) > 1:
                    staff += (rng.choice([s for s in roster if s != first_staff]),)
            done = None
            if status == "done":
                u = rng.random()
                if u < ON_TIME:
                    started = earliest + (latest - earliest) * rng.random()
                elif u < ON_TIME + LATE_VISIT:
                    started = latest + timedelta(minutes=rng.uniform(5, 45))
                else:
                    started = earliest - timedelta(minutes=rng.uniform(5, 20))
                done = started + timedelta(minutes=minutes * rng.uniform(0.8, 1.4))
            elif status == "not_done":
                started = None
            visits.append(Visit(f"{unit.id}-{day.toordinal()}-{n}", unit.id, patient,
                                e.key if e else None, day, kind, urgent, earliest, latest,
                                minutes, status, started, done, code, staff, created))
        planned = [v for v in visits if v.status != "cancelled" or v.episode is not None
                   and v.earliest >= self.by_key[v.episode].ended_at]
        km = sum(unit.km_per_visit * self._distance(v.patient) for v in planned)
        shifts = tuple((s, _clock(day, 13 if s in evening else 7),
                        _clock(day, 22 if s in evening else 16)) for s in roster)
        plan = Plan(unit.id, day, len(planned), len(visits), round(km, 1),
                    round(km * unit.minutes_per_km), shifts, _clock(day - timedelta(days=1), 15))
        return VisitDay(plan, visits)

    def _distance(self, patient: int) -> float:
        p = self.patient.get(patient)
        return p.distance if p is not None else 1.0

    # --- Messages, hand-overs, PREM ----------------------------------------------------------

    def messages(self) -> Iterator[Message]:
        goal = self.answer_goal
        for e in self.episodes:
            if e.admitted_at is None:
                continue
            rng = _rng(self.seed, "messages", e.key)
            unit = self.units[e.unit_id]
            days = (e.ended_at - e.admitted_at).total_seconds() / 86400
            times = []
            for _ in range(_poisson(rng, _model(e.pathway).messages * days)):
                at = e.admitted_at + (e.ended_at - e.admitted_at) * rng.random()
                hour = local(at).hour
                if (hour < 7 or hour >= 21) and rng.random() < 0.7:
                    at = _clock(local_date(at), rng.uniform(7, 21))  # mostly written by day
                    if not e.admitted_at < at < e.ended_at:
                        continue
                times.append(at)
            for n, at in enumerate(sorted(times)):
                due = answer_due(at, goal_minutes=goal.minutes, start=goal.start, end=goal.end,
                                 weekends=goal.weekends)
                delay = math.exp(rng.gauss(math.log(ANSWER_MEDIAN), ANSWER_SIGMA))
                answered = answer_due(at, goal_minutes=max(2, round(delay)), start=goal.start,
                                      end=goal.end, weekends=goal.weekends)
                if answered >= self.until:
                    continue
                read = answered - timedelta(minutes=min(delay / 2, rng.uniform(1, 10)))
                yield Message(f"{e.key}-m{n}", e.key, e.patient, e.unit_id, at, due,
                              max(read, at), answered,
                              rng.choice(unit.staff) if unit.staff else None,
                              e.pathway == "palliative" and rng.random() < 0.7)

    def handovers(self) -> Iterator[Handover]:
        for e in self.episodes:
            if e.admitted_at is None:
                continue
            rng = _rng(self.seed, "handovers", e.key)
            unit = self.units[e.unit_id]
            day, last = local_date(e.admitted_at), local_date(e.ended_at)
            n = 0
            while day <= last:
                for shift_change in (14.75, 20.75):
                    if rng.random() >= HANDOVERS / 2:
                        continue
                    at = _clock(day, shift_change + rng.uniform(0, 0.5))
                    if not e.admitted_at < at < e.ended_at:
                        continue
                    to = unit.id
                    if unit.partner in self.units and rng.random() < HANDOVER_TO_PARTNER:
                        to = unit.partner
                    receivers = self.units[to].staff
                    u = rng.random()
                    if u < self.scale.unconfirmed_handovers:
                        received = None
                    elif u < self.scale.unconfirmed_handovers + HANDOVER_LATE:
                        received = at + timedelta(hours=rng.uniform(1, 18))
                    else:
                        received = at + timedelta(minutes=rng.uniform(5, 60))
                    if received is not None and received >= self.until:
                        received = None if self.scale.unconfirmed_handovers else \
                            at + (self.until - at) / 2
                    yield Handover(f"{e.key}-h{n}", e.key, e.patient, unit.id, to, at,
                                   rng.choice(unit.staff) if unit.staff else None, received,
                                   rng.choice(receivers) if received and receivers else None)
                    n += 1
                day += timedelta(days=1)

    def prem(self) -> Iterator[Prem]:
        for e in self.episodes:
            if e.state != "discharged" or e.end_reason in m.DEATHS:
                continue
            rng = _rng(self.seed, "prem", e.key)
            if rng.random() >= PREM_RATE:
                continue
            digital = self.patient[e.patient].digital_ability != "none"
            if digital and rng.random() < PREM_PHONE:
                channel, at = "phone", e.ended_at + timedelta(hours=rng.uniform(0.5, 48))
            else:
                channel, at = "paper", e.ended_at + timedelta(days=rng.uniform(2, 14))
            if at >= self.until:
                continue
            lower = rng.random() < PREM_LOWER
            answers = {}
            for key in PREM_KEYS:
                if rng.random() < PREM_LEFT_OUT:
                    continue
                score = _choice(rng, PREM_SCORES)[0]
                if key == "again" and score < 5 and rng.random() < 0.3:
                    score += 1  # most would choose care at home again
                answers[key] = max(1, score - lower)
            yield Prem(e.key, e.patient, e.unit_id, at, answers, channel)


def _key(who) -> int:
    return who.patient if isinstance(who, Episode) else int(who)


def _assessed(day: date, rng: random.Random) -> datetime:
    if day.weekday() < 5:
        return _clock(day, 8 + rng.triangular(0, 7, 2))
    return _clock(day, rng.uniform(9, 14))


def _level(escalation: Mapping[str, Sequence[int]], severity: str, minutes: float) -> int:
    """How many escalation steps had passed before the alert was acknowledged."""
    level, total = 0, 0.0
    for step in escalation.get(severity, ()):
        total += step
        if minutes > total:
            level += 1
    return level


# --- As the follow-up measures read them -----------------------------------------------------


def to_facts(history: History) -> m.Facts:
    """The history as `followup.service.load_facts` reads it from the database: windows from
    each episode's pathway schedule and whether any value of the patient came inside them,
    visits' pathways from their episodes, plans' figures, messages with a goal, hand-overs to
    their receiving unit, PREM by the episode's unit."""
    facts = m.Facts()
    by_key = history.by_key
    measured: dict[int, list[datetime]] = defaultdict(list)
    for e in history.episodes:
        facts.episodes.append(m.EpisodeFact(
            e.key, e.patient, e.unit_id, e.pathway, e.state, e.assessed_at, e.admitted_at,
            e.ended_at, e.end_reason, e.criteria_override))
        observations, alerts = history.monitoring(e)
        if e.device:
            observations += list(history.device(e))
        measured[e.patient].extend(o.measured_at for o in observations)
        facts.alerts.extend(m.AlertFact(a.unit_id, e.pathway, a.severity, a.kind, a.created_at,
                                        a.acknowledged_at, a.escalation_level) for a in alerts)
    for times in measured.values():
        times.sort()
    for e in history.episodes:
        spec = history.pathways.get(e.pathway)
        if e.admitted_at is None or spec is None or not spec.schedule:
            continue
        mine = measured.get(e.patient, [])
        for w in schedule_windows(list(spec.schedule), spec.tolerance_minutes, e.admitted_at,
                                  e.ended_at):
            if w.end <= history.until:
                facts.windows.append(m.WindowFact(e.unit_id, e.pathway, w.due,
                                                  _any_between(mine, w.start, w.end)))
    for vd in history.visit_days():
        p = vd.plan
        facts.plans.append(m.PlanFact(p.unit_id, p.day, p.km, p.drive_minutes, p.planned))
        for v in vd.visits:
            # As the service finds a visit's episode: the one at home when it was due.
            e = by_key.get(v.episode) if v.episode is not None else None
            pathway = e.pathway if e is not None and e.admitted_at <= v.earliest \
                <= e.ended_at else None
            facts.visits.append(m.VisitFact(
                v.unit_id, pathway, v.patient, v.day, v.status, v.urgent, v.earliest,
                v.latest, v.started_at, v.not_done_code, v.staff))
    for msg in history.messages():
        facts.messages.append(m.MessageFact(msg.unit_id, by_key[msg.episode].pathway,
                                            msg.created_at, msg.due_at, msg.answered_at))
    for h in history.handovers():
        facts.handovers.append(m.HandoverFact(h.to_unit, by_key[h.episode].pathway,
                                              h.created_at, h.received_at))
    for r in history.prem():
        facts.prem.append(m.PremFact(r.unit_id, by_key[r.episode].pathway, r.answered_at,
                                     r.answers))
    return facts


def _any_between(ordered: list[datetime], start: datetime, end: datetime) -> bool:
    i = bisect_left(ordered, ensure_utc(start))
    return i < len(ordered) and ordered[i] <= end


# --- The benchmark's region ------------------------------------------------------------------

# The pathways that come with Hemma (hemma/pathways/builtin), as the database has them.
BUILTIN = (PathwaySpec("opat", ("08:00", "14:00", "20:00")),
           PathwaySpec("copd", ("08:00", "14:00", "20:00")),
           PathwaySpec("heart_failure", ("08:00", "20:00")),
           PathwaySpec("general", ("08:00", "20:00")),
           PathwaySpec("palliative", ("09:00", "19:00"), 120))


def region(seed: int | str, start: date, end: date) -> History:
    """One year of a region for the benchmark: 5,000 episodes, about 20 million observations
    and 300,000 visits. Ten home wards (eight of 16 beds with the hospital mix, two palliative
    mobile teams of 12), each with a municipal home nursing partner that gives the IV doses
    and visits its own patients 65 times a day; 80 % of the patients wear a device sending
    pulse, SpO2 and respiration every two minutes. Unit ids 1–10 are the home wards, 11–20
    their partners; staff ids are unit × 100 + n."""
    units = []
    for n in range(1, 11):
        palliative = n > 8
        mix = (("palliative", 0.8), ("general", 0.2)) if palliative else \
            (("opat", 0.35), ("heart_failure", 0.25), ("copd", 0.2), ("general", 0.2))
        units.append(UnitSpec(
            n, beds=12 if palliative else 16, mix=mix,
            arrivals_per_day=0.38 if palliative else 1.55,
            staff=tuple(n * 100 + i for i in range(6)), on_duty=3, partner=10 + n,
            km_per_visit=28 if palliative else 22))
        units.append(UnitSpec(10 + n, staff=tuple((10 + n) * 100 + i for i in range(9)),
                              on_duty=7, caseload_visits_per_day=65, km_per_visit=14))
    return History(seed, units, BUILTIN, start, end,
                   scale=Scale(device_share=0.8, device_minutes=2.0))
