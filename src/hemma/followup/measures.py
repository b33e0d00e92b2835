"""Follow-up measures (pure): what is counted, from which events, per Swedish day.

Two steps, one definition. `days()` turns the facts (episodes, alerts, visits, messages, …)
into one additive `Day` per Swedish calendar day, unit and pathway; `totals()` adds the days
of a period and a scope; `figures()` turns totals into the figures the page, the exports and
the API show. The follow-up service materialises the days (the worker keeps them current) and
a test holds the stored days equal to a fresh `days()` over the raw events, so there is never
a second way of counting.

Conventions:
- A day at home (vårddygn i hemmet) is a night: the patient is counted on each Swedish date
  from the admission date up to, not including, the date the episode ended (or today for one
  still at home), as inpatient care days are counted. An episode that spans a period's end
  counts in both periods by its days.
- An event belongs to the Swedish date it happened on (admission, end, alert, visit day, …).
- Durations (time to acknowledge) are absolute seconds, so a daylight-saving change neither
  adds nor removes an hour; the hour of day is Swedish wall-clock time.
- Episodes, alerts and monitoring belong to the episode's responsible unit; a visit to the
  unit that makes it; a patient's message to the unit it was written to; a hand-over to the
  unit that receives it. The pathway is the episode's (None where there is no episode).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from hemma.kit.time import STOCKHOLM, ensure_utc, local_date

DEATHS = ("death_expected", "death_unexpected")
READMISSION_DAYS = 30
SEVERITIES = ("low", "medium", "high", "critical")


# --- Facts (what the service reads from the database) ----------------------------------------


@dataclass(frozen=True)
class EpisodeFact:
    id: Any
    patient_key: Any
    unit_id: int
    pathway: str | None
    state: str
    assessed_at: datetime
    admitted_at: datetime | None
    ended_at: datetime | None
    end_reason: str | None = None
    criteria_override: bool = False


@dataclass(frozen=True)
class AlertFact:
    unit_id: int
    pathway: str | None
    severity: str
    kind: str  # vitals / worse / missed
    created_at: datetime
    acknowledged_at: datetime | None
    escalations: int = 0


@dataclass(frozen=True)
class WindowFact:
    """One scheduled measurement window of an admitted episode that has closed."""

    unit_id: int
    pathway: str | None
    due: datetime
    received: bool


@dataclass(frozen=True)
class VisitFact:
    unit_id: int  # the unit that makes the visit
    pathway: str | None
    patient_key: Any
    day: date
    status: str  # planned / started / done / not_done / cancelled
    urgent: bool
    earliest: datetime
    latest: datetime  # the latest start
    started_at: datetime | None
    not_done_code: str | None
    staff: tuple[int, ...] = ()  # who made it (planned to, or reported it)


@dataclass(frozen=True)
class PlanFact:
    """The newest saved plan of a unit's day: its driving and how many visits it holds."""

    unit_id: int
    day: date
    km: float
    drive_minutes: float
    visits: int


@dataclass(frozen=True)
class MessageFact:
    """A patient's (or relative's) message with an answer goal, to a unit."""

    unit_id: int
    pathway: str | None
    created_at: datetime
    due_at: datetime
    answered_at: datetime | None


@dataclass(frozen=True)
class HandoverFact:
    unit_id: int  # the receiving unit
    pathway: str | None
    created_at: datetime
    received_at: datetime | None


@dataclass(frozen=True)
class PremFact:
    unit_id: int
    pathway: str | None
    answered_at: datetime
    answers: Mapping[str, int]


@dataclass
class Facts:
    episodes: list[EpisodeFact] = field(default_factory=list)
    alerts: list[AlertFact] = field(default_factory=list)
    windows: list[WindowFact] = field(default_factory=list)
    visits: list[VisitFact] = field(default_factory=list)
    plans: list[PlanFact] = field(default_factory=list)
    messages: list[MessageFact] = field(default_factory=list)
    handovers: list[HandoverFact] = field(default_factory=list)
    prem: list[PremFact] = field(default_factory=list)


# --- Days ------------------------------------------------------------------------------------


@dataclass
class Day:
    """What happened on one Swedish date for one unit and pathway: counters that add up,
    the acknowledgement times ([severity, hour, seconds]), the staff each patient met, and
    the PREM answers' counts. `to_json`/`from_json` store it."""

    counts: Counter = field(default_factory=Counter)
    acks: list[tuple[str, int, int]] = field(default_factory=list)
    staff: dict[str, set[int]] = field(default_factory=dict)  # "patient|2026-W49": staff
    prem: dict[str, Counter] = field(default_factory=dict)

    def add(self, other: Day) -> None:
        self.counts.update(other.counts)
        self.acks.extend(other.acks)
        for patient, staff in other.staff.items():
            self.staff.setdefault(patient, set()).update(staff)
        for key, counts in other.prem.items():
            self.prem.setdefault(key, Counter()).update(counts)

    def add_json(self, data: Mapping) -> None:
        """Add a stored day (`to_json`'s form) without making a Day of it first: the page
        adds up a year of stored days."""
        counts = self.counts
        for key, value in data.get("counts", {}).items():
            counts[key] += value
        acks = data.get("acks")
        if acks:
            self.acks.extend((a[0], a[1], a[2]) for a in acks)
        for patient, staff in data.get("staff", {}).items():
            self.staff.setdefault(patient, set()).update(staff)
        for key, scores in data.get("prem", {}).items():
            mine = self.prem.setdefault(key, Counter())
            for score, n in scores.items():
                mine[int(score)] += n

    def to_json(self) -> dict:
        return {
            "counts": {k: v for k, v in sorted(self.counts.items()) if v},
            "acks": sorted([list(a) for a in self.acks]),
            "staff": {p: sorted(s) for p, s in sorted(self.staff.items())},
            "prem": {k: {str(s): n for s, n in sorted(c.items())}
                     for k, c in sorted(self.prem.items())},
        }

    @classmethod
    def from_json(cls, data: Mapping) -> Day:
        return cls(
            counts=Counter(data.get("counts", {})),
            acks=[(a[0], int(a[1]), int(a[2])) for a in data.get("acks", [])],
            staff={p: set(s) for p, s in data.get("staff", {}).items()},
            prem={k: Counter({int(s): n for s, n in c.items()})
                  for k, c in data.get("prem", {}).items()},
        )


Key = tuple[date, int, str | None]  # (Swedish date, unit id, pathway code)


def _readmitted(episodes: list[EpisodeFact]) -> set[Any]:
    """Discharged (alive) episodes after which Hemma saw a new episode of the same patient
    start (its assessment) within 30 days of the discharge."""
    by_patient: dict[Any, list[EpisodeFact]] = defaultdict(list)
    for e in episodes:
        by_patient[e.patient_key].append(e)
    out = set()
    for own in by_patient.values():
        for e in own:
            if e.state != "discharged" or e.ended_at is None or e.end_reason in DEATHS:
                continue
            end = ensure_utc(e.ended_at)
            if any(o.id != e.id and end <= ensure_utc(o.assessed_at)
                   <= end + timedelta(days=READMISSION_DAYS) for o in own):
                out.add(e.id)
    return out


def days(facts: Facts, today: date) -> dict[Key, Day]:
    """Every fact put on its Swedish date, unit and pathway. `today` ends the days at home of
    episodes still running (tonight is not counted until it has passed)."""
    out: dict[Key, Day] = defaultdict(Day)

    def at(moment: datetime, unit: int, pathway: str | None) -> Day:
        return out[(local_date(moment), unit, pathway)]

    readmitted = _readmitted(facts.episodes)
    for e in facts.episodes:
        if e.admitted_at is None:
            continue
        c = at(e.admitted_at, e.unit_id, e.pathway).counts
        c["episodes_started"] += 1
        if e.criteria_override:
            c["criteria_override"] += 1
        first = local_date(e.admitted_at)
        last = local_date(e.ended_at) if e.ended_at is not None else today
        d = first
        while d < last:
            out[(d, e.unit_id, e.pathway)].counts["days_at_home"] += 1
            d += timedelta(days=1)
        if e.ended_at is None or e.state not in ("discharged", "returned"):
            continue
        c = at(e.ended_at, e.unit_id, e.pathway).counts
        c["episodes_ended"] += 1
        if e.state == "returned":
            c["returned"] += 1
            c[f"return:{e.end_reason or 'unknown'}"] += 1
        else:
            c["discharged"] += 1
            c[f"outcome:{e.end_reason or 'unknown'}"] += 1
            if e.end_reason not in DEATHS:
                c["discharged_alive"] += 1
                if e.id in readmitted:
                    c["readmitted"] += 1
    for a in facts.alerts:
        day = at(a.created_at, a.unit_id, a.pathway)
        day.counts["alerts"] += 1
        day.counts[f"alerts:{a.severity}"] += 1
        if a.kind == "missed":
            day.counts["missed"] += 1
        if a.escalations:
            day.counts["escalated"] += 1
            day.counts["escalations"] += a.escalations
        if a.acknowledged_at is not None:
            created = ensure_utc(a.created_at)
            seconds = max(0, round((ensure_utc(a.acknowledged_at) - created).total_seconds()))
            day.acks.append((a.severity, created.astimezone(STOCKHOLM).hour, seconds))
    for w in facts.windows:
        c = at(w.due, w.unit_id, w.pathway).counts
        c["scheduled"] += 1
        c["received"] += w.received
    for v in facts.visits:
        day = out[(v.day, v.unit_id, v.pathway)]
        c = day.counts
        if v.status == "cancelled":
            c["visits_cancelled"] += 1
            continue
        c["visits"] += 1
        if v.urgent:
            c["visits_urgent"] += 1
        if v.status == "done":
            c["visits_done"] += 1
            if v.started_at is not None:
                c["visits_timed"] += 1
                started = ensure_utc(v.started_at)
                if started < ensure_utc(v.earliest):
                    c["visits_early"] += 1
                elif started > ensure_utc(v.latest):
                    c["visits_late"] += 1
                else:
                    c["visits_on_time"] += 1
        elif v.status == "not_done":
            c["visits_not_done"] += 1
            c[f"not_done:{v.not_done_code or 'unknown'}"] += 1
        if v.staff and v.status in ("done", "started"):
            iso = v.day.isocalendar()
            week = f"{v.patient_key}|{iso.year}-W{iso.week:02d}"
            day.staff.setdefault(week, set()).update(v.staff)
    for p in facts.plans:
        c = out[(p.day, p.unit_id, None)].counts
        c["plan_km"] += p.km
        c["plan_minutes"] += p.drive_minutes
        c["plan_visits"] += p.visits
    for m in facts.messages:
        c = at(m.created_at, m.unit_id, m.pathway).counts
        c["messages"] += 1
        if m.answered_at is not None and ensure_utc(m.answered_at) <= ensure_utc(m.due_at):
            c["messages_in_goal"] += 1
    for h in facts.handovers:
        c = at(h.created_at, h.unit_id, h.pathway).counts
        c["handovers"] += 1
        if h.received_at is not None:
            c["handovers_confirmed"] += 1
    for r in facts.prem:
        day = at(r.answered_at, r.unit_id, r.pathway)
        day.counts["prem_responses"] += 1
        for key, score in r.answers.items():
            day.prem.setdefault(key, Counter())[int(score)] += 1
    return dict(out)


# --- Periods and scopes ----------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """Swedish dates [start, end)."""

    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    def __contains__(self, day: date) -> bool:
        return self.start <= day < self.end

    @classmethod
    def month(cls, year: int, month: int) -> Period:
        end = date(year + month // 12, month % 12 + 1, 1)
        return cls(date(year, month, 1), end)

    @classmethod
    def quarter(cls, year: int, quarter: int) -> Period:
        start = cls.month(year, 3 * quarter - 2).start
        return cls(start, cls.month(year, 3 * quarter).end)

    @classmethod
    def year(cls, year: int) -> Period:
        return cls(date(year, 1, 1), date(year + 1, 1, 1))

    @property
    def kind(self) -> str:
        s, e = self.start, self.end
        if s.day == 1 and e == Period.month(s.year, s.month).end:
            return "month"
        if s.day == 1 and s.month % 3 == 1 and e == Period.quarter(s.year, s.month // 3 + 1).end:
            return "quarter"
        if (s.month, s.day) == (1, 1) and e == date(s.year + 1, 1, 1):
            return "year"
        return "days"

    def previous(self) -> Period:
        """The period before, of the same kind: the month, quarter or year before, or as
        many days just before."""
        s = self.start
        kind = self.kind
        if kind == "month":
            return Period.month(s.year - (s.month == 1), (s.month - 2) % 12 + 1)
        if kind == "quarter":
            q = (s.month - 1) // 3 + 1
            return Period.quarter(s.year - (q == 1), (q - 2) % 4 + 1)
        if kind == "year":
            return Period.year(s.year - 1)
        return Period(s - timedelta(days=self.days), s)

    def months(self, count: int = 12) -> list[Period]:
        """The `count` calendar months up to and including the one the period ends in."""
        last = self.end - timedelta(days=1)
        y, m = last.year, last.month
        out = []
        for _ in range(count):
            out.append(Period.month(y, m))
            y, m = (y - 1, 12) if m == 1 else (y, m - 1)
        return out[::-1]


@dataclass(frozen=True)
class Scope:
    """Which units (None: all) and which pathway (None: all) the figures are about."""

    units: frozenset[int] | None = None
    pathway: str | None = None

    def holds(self, unit_id: int, pathway: str | None) -> bool:
        if self.units is not None and unit_id not in self.units:
            return False
        return self.pathway is None or pathway == self.pathway


def totals(all_days: Mapping[Key, Day], period: Period, scope: Scope) -> Day:
    out = Day()
    for (day, unit, pathway), value in all_days.items():
        if day in period and scope.holds(unit, pathway):
            out.add(value)
    return out


# --- Figures ---------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float | None:
    """The nearest-rank percentile: the smallest value with at least p% of the values at or
    below it (so it is always one of the values, and exact in tests)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


@dataclass
class Figure:
    """One figure: its value, what it was counted from (`n`: the count behind it, the one
    small-number suppression looks at), and its parts (by reason, severity, hour …)."""

    key: str
    value: float | None
    n: int
    unit: str  # count / share / days / kr / minutes / km / per_day / staff
    parts: dict[str, Any] = field(default_factory=dict)
    suppressed: bool = False


def figures(t: Day, *, period_days: int, beds: int, bed_day_cost: float) -> dict[str, Figure]:
    """Every figure from a period's totals. `beds` is the scope's virtual beds (occupancy),
    `bed_day_cost` what an inpatient day costs."""
    c = t.counts
    f: dict[str, Figure] = {}

    def put(key, value, n, unit, parts=None):
        f[key] = Figure(key, value, int(n), unit, parts or {})

    def prefixed(prefix: str) -> dict[str, int]:
        return {k.split(":", 1)[1]: v for k, v in sorted(c.items())
                if k.startswith(prefix + ":") and v}

    at_home = c["days_at_home"]
    # Activity
    put("episodes_started", c["episodes_started"], c["episodes_started"], "count")
    put("episodes_ended", c["episodes_ended"], c["episodes_ended"], "count")
    put("days_at_home", at_home, at_home, "days")
    put("occupancy", _ratio(at_home, beds * period_days), at_home, "share")
    # Cost
    put("bed_days_saved", at_home, at_home, "days")
    put("cost_saved", at_home * bed_day_cost, at_home, "kr")
    # Safety and quality
    put("returns", c["returned"], c["returned"], "count", prefixed("return"))
    put("return_rate", _ratio(c["returned"], c["episodes_ended"]), c["returned"], "share")
    put("readmissions", c["readmitted"], c["readmitted"], "count")
    put("readmission_rate", _ratio(c["readmitted"], c["discharged_alive"]), c["readmitted"],
        "share")
    put("deaths_expected", c["outcome:death_expected"], c["outcome:death_expected"], "count")
    put("deaths_unexpected", c["outcome:death_unexpected"], c["outcome:death_unexpected"],
        "count")
    put("criteria_override", c["criteria_override"], c["criteria_override"], "count")
    # Monitoring
    by_severity = {s: c[f"alerts:{s}"] for s in SEVERITIES if c[f"alerts:{s}"]}
    put("alerts_per_day", _ratio(c["alerts"], at_home), c["alerts"], "per_day",
        {s: {"rate": _ratio(n, at_home), "n": n} for s, n in by_severity.items()})
    seconds = [s for _sev, _h, s in t.acks]
    ack_parts: dict[str, Any] = {}
    for sev in SEVERITIES:
        own = [s for v, _h, s in t.acks if v == sev]
        if own:
            ack_parts[sev] = {"p50": percentile(own, 50) / 60, "p90": percentile(own, 90) / 60,
                              "n": len(own)}
    by_hour: dict[int, dict] = {}
    for hour in range(24):
        own = [s for _v, h, s in t.acks if h == hour]
        if own:
            by_hour[hour] = {"p50": percentile(own, 50) / 60, "p90": percentile(own, 90) / 60,
                             "n": len(own)}
    p50, p90 = percentile(seconds, 50), percentile(seconds, 90)
    put("ack_p50", None if p50 is None else p50 / 60, len(seconds), "minutes", ack_parts)
    put("ack_p90", None if p90 is None else p90 / 60, len(seconds), "minutes",
        {"hours": by_hour})
    put("escalations", c["escalations"], c["escalations"], "count",
        {"alerts": c["escalated"]})
    put("missed", c["missed"], c["missed"], "count")
    put("adherence", _ratio(c["received"], c["scheduled"]), c["scheduled"], "share",
        {"scheduled": c["scheduled"], "received": c["received"]})
    # Visits
    put("visits_done", _ratio(c["visits_done"], c["visits"]), c["visits"], "share",
        {"planned": c["visits"], "done": c["visits_done"]})
    put("punctuality", _ratio(c["visits_on_time"], c["visits_timed"]), c["visits_timed"],
        "share", {"early": c["visits_early"], "late": c["visits_late"],
                  "on_time": c["visits_on_time"]})
    put("km_per_visit", _ratio(c["plan_km"], c["plan_visits"]), c["plan_visits"], "km")
    put("minutes_per_visit", _ratio(c["plan_minutes"], c["plan_visits"]), c["plan_visits"],
        "minutes")
    weeks = continuity(t.staff)
    put("continuity", _ratio(sum(weeks), len(weeks)), len(weeks), "staff")
    put("visits_urgent", c["visits_urgent"], c["visits_urgent"], "count")
    put("visits_not_done", c["visits_not_done"], c["visits_not_done"], "count",
        prefixed("not_done"))
    # Communication
    put("messages_in_goal", _ratio(c["messages_in_goal"], c["messages"]), c["messages"],
        "share")
    put("handovers_confirmed", _ratio(c["handovers_confirmed"], c["handovers"]),
        c["handovers"], "share")
    # The patient's experience
    put("prem_responses", c["prem_responses"], c["prem_responses"], "count",
        {k: {s: v[s] for s in range(1, 6)} for k, v in sorted(t.prem.items())})
    return f


def continuity(staff_by_week: Mapping[str, set[int]]) -> list[int]:
    """Distinct staff per patient and ISO week (the keys of `Day.staff`), one number per
    patient-week that had a visit."""
    return [len(s) for s in staff_by_week.values() if s]


# Figures that are counts of patients' events (suppressed by their value); the others are
# shares, rates and times, suppressed by the count behind them.
COUNTS = frozenset({"episodes_started", "episodes_ended", "returns", "readmissions",
                    "deaths_expected", "deaths_unexpected", "criteria_override", "escalations",
                    "missed", "visits_urgent", "visits_not_done", "prem_responses"})


def suppress(figs: dict[str, Figure], threshold: int) -> dict[str, Figure]:
    """Small numbers hidden for readers outside the unit's own care team: a count between 1
    and threshold - 1, anything computed from fewer than `threshold` (a share, a rate, a
    time), and every part of a figure (by reason, severity, hour …) counted from that few
    (a PREM question answered by fewer). Zero is shown: it tells nothing about anyone."""

    def clean(value):
        if isinstance(value, dict):
            n = value.get("n")
            if isinstance(n, int) and n < threshold:
                return None
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, int) and not isinstance(value, bool) and 0 < value < threshold:
            return None
        return value

    out = {}
    for key, f in figs.items():
        small = 0 < f.n < threshold
        if small:
            parts = {}
        elif key == "prem_responses":
            parts = {q: (None if 0 < sum(c.values()) < threshold else c)
                     for q, c in f.parts.items()}
        else:
            parts = {k: clean(v) for k, v in f.parts.items()}
        out[key] = Figure(key, None if small else f.value, f.n, f.unit, parts, small)
    return out
