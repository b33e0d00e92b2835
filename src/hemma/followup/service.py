"""Follow-up (uppföljning): the measures of `followup.measures` read from Hemma's own events,
for the scopes a user may see, with small numbers suppressed outside the unit's own team.

Figures are about many patients and show none: a user of a clinical profession reads their
own unit's; the follow-up role (`Staff.is_follow_up`) and the medical lead read any unit's,
organisation's or the whole installation's. Counts between 1 and the threshold
(`HEMMA_FOLLOWUP_SMALL_NUMBERS`, 5) are suppressed in every scope but the user's own unit,
and so are shares, rates and times computed from fewer. Tracing a figure to its episodes
lists only the episodes the user may read through `can()`; the rest are counted, not shown.
"""

from __future__ import annotations

import json
import math
import threading
import uuid
from bisect import bisect_left
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import BigInteger, String, Text, cast, delete, func, insert, select
from sqlalchemy.orm import Session

from hemma.access.policy import Action, Subject
from hemma.access.service import decisions_for, log_listed, origin, require
from hemma.config import get_settings
from hemma.db import advisory_lock
from hemma.followup import measures as m
from hemma.kit.errors import Invalid
from hemma.kit.time import at_local, ensure_utc, local_date, local_today, utcnow
from hemma.models import (
    Alert,
    CareRequest,
    Episode,
    FollowUpComputed,
    FollowUpDay,
    Handover,
    Message,
    MessageThread,
    MonitoringPlan,
    Observation,
    Organisation,
    Pathway,
    Patient,
    PremResponse,
    StaffShift,
    Unit,
    Visit,
    VisitAssignment,
    VisitPlan,
)
from hemma.monitoring.rules import windows as schedule_windows

TREND_MONTHS = 12


# --- Scopes ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    key: str  # "unit-3", "org-1", "all"
    name: str
    kind: str  # unit / organisation / all


@dataclass(frozen=True)
class Chosen:
    choice: Choice
    scope: m.Scope
    beds: int
    own_team: bool  # the user's own unit: nothing suppressed


def choices(db: Session, subject: Subject) -> list[Choice]:
    """The scopes the user may look at: their own unit; for the follow-up role and the
    medical lead every unit, every organisation and all of them."""
    require(db, subject, Action.FOLLOW_UP)
    own = db.get(Unit, subject.unit_id)
    out = [Choice(f"unit-{own.id}", own.name, "unit")]
    if subject.follows_up_everywhere:
        out.append(Choice("all", "", "all"))
        for org in db.scalars(select(Organisation).order_by(Organisation.name)):
            out.append(Choice(f"org-{org.id}", org.name, "organisation"))
        for unit in db.scalars(select(Unit).order_by(Unit.name)):
            if unit.id != own.id:
                out.append(Choice(f"unit-{unit.id}", unit.name, "unit"))
    return out


def choose(db: Session, subject: Subject, key: str | None) -> Chosen:
    options = {c.key: c for c in choices(db, subject)}
    key = key or f"unit-{subject.unit_id}"
    choice = options.get(key)
    if choice is None:
        raise Invalid("You cannot see follow-up for that unit or organisation", field="scope")
    if choice.kind == "all":
        units = list(db.scalars(select(Unit)))
        scope = m.Scope()
    elif choice.kind == "organisation":
        units = list(db.scalars(select(Unit).where(Unit.organisation_id
                                                   == int(key.split("-", 1)[1]))))
        scope = m.Scope(units=frozenset(u.id for u in units))
    else:
        units = [db.get(Unit, int(key.split("-", 1)[1]))]
        scope = m.Scope(units=frozenset({units[0].id}))
    return Chosen(choice, scope, sum(u.virtual_beds for u in units),
                  choice.kind == "unit" and units[0].id == subject.unit_id)


def pathways(db: Session) -> list[tuple[str, str]]:
    """(code, name) of every pathway, the current version's name."""
    rows = db.execute(select(Pathway.code, Pathway.name, Pathway.version)
                      .order_by(Pathway.code, Pathway.version)).all()
    names: dict[str, str] = {}
    for code, name, _version in rows:
        names[code] = name
    return sorted(names.items(), key=lambda item: item[1])


# --- Reading the events ----------------------------------------------------------------------


def _utc(day: date) -> datetime:
    return at_local(day, "00:00")


def load_facts(db: Session, start: date, end: date, now: datetime) -> m.Facts:
    """Every event of the Swedish dates [start, end) that a measure counts, and what it needs
    around them (episodes a month either side, for readmissions)."""
    lo, hi = _utc(start), _utc(end)
    now = ensure_utc(now)
    codes = dict(db.execute(select(Pathway.id, Pathway.code)).all())
    facts = m.Facts()
    # Columns, not entities: a month of a region is thousands of episodes and visits.
    episodes = db.execute(select(
        Episode.id, Episode.patient_id, Episode.responsible_unit_id, Episode.pathway_id,
        Episode.state, Episode.assessed_at, Episode.admitted_at, Episode.ended_at,
        Episode.end_reason, Episode.criteria_override).where(
        Episode.assessed_at < hi + timedelta(days=m.READMISSION_DAYS + 1),
        (Episode.ended_at.is_(None)) | (Episode.ended_at >= lo - timedelta(
            days=m.READMISSION_DAYS + 1)))).all()
    by_id = {e.id: e for e in episodes}
    by_patient: dict[uuid.UUID, list] = defaultdict(list)
    for e in episodes:
        by_patient[e.patient_id].append(e)
        facts.episodes.append(m.EpisodeFact(
            e.id, e.patient_id, e.responsible_unit_id, codes.get(e.pathway_id), e.state,
            e.assessed_at, e.admitted_at, e.ended_at, e.end_reason, e.criteria_override))

    def pathway_of(episode_id: uuid.UUID | None) -> str | None:
        e = by_id.get(episode_id) if episode_id is not None else None
        return codes.get(e.pathway_id) if e is not None else None

    def episode_on(patient_id: uuid.UUID, at: datetime):
        for e in by_patient.get(patient_id, ()):
            if e.admitted_at is not None and ensure_utc(e.admitted_at) <= at and (
                    e.ended_at is None or at <= ensure_utc(e.ended_at)):
                return e
        return None

    for a in db.execute(select(
            Alert.unit_id, Alert.episode_id, Alert.severity, Alert.kind, Alert.created_at,
            Alert.acknowledged_at, Alert.escalation_level).where(
            Alert.created_at >= lo, Alert.created_at < hi)):
        facts.alerts.append(m.AlertFact(
            a.unit_id, pathway_of(a.episode_id), a.severity, a.kind, a.created_at,
            a.acknowledged_at, a.escalation_level))

    # Self-monitoring: the windows of each admitted day that have closed, and whether any
    # values came inside them.
    admitted = [e.id for e in episodes if e.admitted_at is not None]
    plans = {}
    for i in range(0, len(admitted), 1000):
        plans.update((p.episode_id, p) for p in db.execute(select(
            MonitoringPlan.episode_id, MonitoringPlan.schedule,
            MonitoringPlan.tolerance_minutes).where(
            MonitoringPlan.episode_id.in_(admitted[i:i + 1000]))))
    schedules = {p.id: (p.schedule, p.tolerance_minutes)
                 for p in db.execute(select(Pathway.id, Pathway.schedule,
                                            Pathway.tolerance_minutes))}
    spans = []
    for e in episodes:
        if e.admitted_at is None:
            continue
        begin = max(lo, ensure_utc(e.admitted_at))
        finish = min(hi, now, ensure_utc(e.ended_at) if e.ended_at is not None else now)
        if begin >= finish:
            continue
        times, tolerance = schedules.get(e.pathway_id, ([], 60))
        plan = plans.get(e.id)
        if plan is not None and plan.schedule is not None:
            times = plan.schedule
        if plan is not None and plan.tolerance_minutes:
            tolerance = plan.tolerance_minutes
        if times:
            spans.append((e, begin, finish, times, tolerance))
    # The times of the readings, as whole seconds since 1970 in one string per patient: a
    # day of a region is tens of thousands of values, and a window only asks whether one
    # came (to the second).
    measured: dict[uuid.UUID, list[int]] = {}
    if spans:
        margin = timedelta(hours=6)
        patients = sorted({e.patient_id for e, *_ in spans})
        seconds = _epoch_seconds(db, Observation.measured_at)
        for i in range(0, len(patients), 1000):
            for pid, times in db.execute(
                    select(Observation.patient_id,
                           func.aggregate_strings(cast(seconds, String), ","))
                    .where(Observation.patient_id.in_(patients[i:i + 1000]),
                           Observation.measured_at >= lo - margin,
                           Observation.measured_at < hi + margin)
                    .group_by(Observation.patient_id)):
                measured[pid] = sorted(map(int, times.split(",")))
    for e, begin, finish, times, tolerance in spans:
        mine = measured.get(e.patient_id, [])
        for w in schedule_windows(times, tolerance, begin, finish):
            if w.end > now:
                continue
            first = bisect_left(mine, math.ceil(w.start.timestamp()))
            facts.windows.append(m.WindowFact(
                e.responsible_unit_id, codes.get(e.pathway_id), w.due,
                first < len(mine) and mine[first] <= w.end.timestamp()))

    # Visits: the unit that makes them; the episode through the care request, else the
    # patient's episode at the time; who made them from the newest plan of that day.
    # Only the visits due by now: a later day's, or one still ahead today, is not yet a
    # visit that was or was not made (nor its plan's kilometres).
    today = local_date(now)
    visits = list(db.execute(select(
        Visit.id, Visit.unit_id, Visit.patient_id, Visit.day, Visit.status, Visit.urgent,
        Visit.earliest, Visit.latest, Visit.started_at, Visit.not_done_code,
        Visit.updated_by_id, CareRequest.episode_id).outerjoin(
        CareRequest, CareRequest.id == Visit.care_request_id).where(
        Visit.day >= start, Visit.day < end, Visit.day <= today)))
    newest = (select(VisitPlan.unit_id, VisitPlan.day, func.max(VisitPlan.version)
                     .label("version"))
              .where(VisitPlan.day >= start, VisitPlan.day < end, VisitPlan.day <= today)
              .group_by(VisitPlan.unit_id, VisitPlan.day).subquery())
    plan_rows = list(db.execute(select(VisitPlan.id, VisitPlan.unit_id, VisitPlan.day,
                                       VisitPlan.figures).join(newest, (newest.c.unit_id
                                                               == VisitPlan.unit_id)
                                                      & (newest.c.day == VisitPlan.day)
                                                      & (newest.c.version
                                                         == VisitPlan.version))))
    staff_of: dict[uuid.UUID, set[int]] = defaultdict(set)
    if plan_rows:
        for visit_id, staff_id in db.execute(
                select(VisitAssignment.visit_id, StaffShift.staff_id)
                .join(StaffShift, StaffShift.id == VisitAssignment.shift_id)
                .where(VisitAssignment.plan_id.in_([p.id for p in plan_rows]))):
            staff_of[visit_id].add(staff_id)
    for plan in plan_rows:
        figures = plan.figures or {}
        facts.plans.append(m.PlanFact(plan.unit_id, plan.day, float(figures.get("km", 0)),
                                      float(figures.get("drive_minutes", 0)),
                                      int(figures.get("planned", 0))))
    for v in visits:
        episode_id = v.episode_id
        if v.status == "planned" and ensure_utc(v.latest) > now:
            continue
        e = by_id.get(episode_id) if episode_id else episode_on(v.patient_id,
                                                                 ensure_utc(v.earliest))
        staff = staff_of.get(v.id) or ({v.updated_by_id} if v.updated_by_id else set())
        facts.visits.append(m.VisitFact(
            v.unit_id, codes.get(e.pathway_id) if e is not None else None, v.patient_id, v.day,
            v.status, v.urgent, v.earliest, v.latest, v.started_at, v.not_done_code,
            tuple(sorted(staff))))

    for msg, unit_id in db.execute(select(Message, MessageThread.unit_id).join(
            MessageThread, MessageThread.id == Message.thread_id).where(
            Message.due_at.is_not(None), Message.created_at >= lo, Message.created_at < hi)):
        e = episode_on(msg.patient_id, ensure_utc(msg.created_at))
        facts.messages.append(m.MessageFact(
            unit_id, codes.get(e.pathway_id) if e is not None else None, msg.created_at,
            msg.due_at, msg.answered_at))
    for h in db.scalars(select(Handover).where(Handover.created_at >= lo,
                                               Handover.created_at < hi)):
        facts.handovers.append(m.HandoverFact(h.to_unit_id, pathway_of(h.episode_id),
                                              h.created_at, h.received_at))
    for r in db.scalars(select(PremResponse).where(PremResponse.answered_at >= lo,
                                                   PremResponse.answered_at < hi)):
        facts.prem.append(m.PremFact(r.unit_id, pathway_of(r.episode_id), r.answered_at,
                                     r.answers or {}))
    return facts


def _epoch_seconds(db: Session, column):
    """A UTC time column as whole seconds since 1970, in SQL (rounded down on both)."""
    if db.get_bind().dialect.name == "sqlite":
        return cast(func.strftime("%s", column), BigInteger)
    return cast(func.floor(func.extract("epoch", column)), BigInteger)


def raw_days(db: Session, start: date, end: date, now: datetime) -> dict[m.Key, m.Day]:
    """The days of [start, end) computed from the events themselves."""
    today = local_date(now)
    return {key: day for key, day in m.days(load_facts(db, start, end, now), today).items()
            if start <= key[0] < end}


def _ranges(dates: list[date]) -> list[tuple[date, date]]:
    """Consecutive dates as [start, end) ranges."""
    out: list[tuple[date, date]] = []
    for d in sorted(dates):
        if out and out[-1][1] == d:
            out[-1] = (out[-1][0], d + timedelta(days=1))
        else:
            out.append((d, d + timedelta(days=1)))
    return out


def load_days(db: Session, start: date, end: date, now: datetime) -> dict[m.Key, m.Day]:
    """The days of [start, end): the materialised ones as stored, the rest (today, and any
    the worker has not computed yet) from the events."""
    computed = set(db.scalars(select(FollowUpComputed.day).where(
        FollowUpComputed.day >= start, FollowUpComputed.day < end)))
    out: dict[m.Key, m.Day] = {}
    for day, unit_id, pathway, data in db.execute(
            select(FollowUpDay.day, FollowUpDay.unit_id, FollowUpDay.pathway, FollowUpDay.data)
            .where(FollowUpDay.day >= start, FollowUpDay.day < end)):
        if day in computed:
            out[(day, unit_id, pathway or None)] = m.Day.from_json(data)
    missing = [start + timedelta(days=i) for i in range((end - start).days)]
    for lo, hi in _ranges([d for d in missing if d not in computed]):
        out.update(raw_days(db, lo, hi, now))
    return out


# Added-up months of stored days, per process: (first day, last day + 1, units, pathway) ->
# (the refresh batches they were added from, the total). A month whose days were all stored
# is added up once, until a refresh touches one of its days.
_MONTHS: dict[tuple, tuple[frozenset, m.Day]] = {}
_MONTHS_LOCK = threading.Lock()
_MONTHS_MAX = 2000


def month_totals(db: Session, start: date, end: date, now: datetime,
                 scope: m.Scope) -> dict[date, m.Day]:
    """The days of [start, end) in `scope`, added up per calendar month (keyed by its first
    day): stored days straight from their JSON (a month whose days are all stored is kept
    added up in memory until a refresh touches it), the rest from the events."""
    batches: dict[date, str] = dict(db.execute(select(
        FollowUpComputed.day, FollowUpComputed.batch).where(
        FollowUpComputed.day >= start, FollowUpComputed.day < end)).all())
    out: dict[date, m.Day] = {}
    units = None if scope.units is None else tuple(sorted(scope.units))
    # The dates not stored are read from the events in one go per run of dates, not per month.
    # Dates after today have nothing to count yet: they are neither read nor stored.
    today = local_date(now)
    missing = [start + timedelta(days=i) for i in range((end - start).days)]
    missing = [d for d in missing if d not in batches and d <= today]
    raw: dict[m.Key, m.Day] = {}
    for a, b in _ranges(missing):
        raw.update(raw_days(db, a, b, now))
    month = start.replace(day=1)
    while month < end:
        lo = max(month, start)
        hi = min((month + timedelta(days=32)).replace(day=1), end)
        dates = [lo + timedelta(days=i) for i in range((hi - lo).days)]
        stored = [d for d in dates if d in batches]
        version = frozenset(batches[d] for d in stored)
        key = (lo, hi, units, scope.pathway)
        complete = all(d in batches or d > today for d in dates)
        with _MONTHS_LOCK:
            cached = _MONTHS.get(key)
        if complete and cached is not None and cached[0] == version:
            out[month] = cached[1]
        else:
            total = m.Day()
            if stored:
                stmt = select(FollowUpDay.day, cast(FollowUpDay.data, Text)).where(
                    FollowUpDay.day >= lo, FollowUpDay.day < hi)
                if units is not None:
                    stmt = stmt.where(FollowUpDay.unit_id.in_(units))
                if scope.pathway is not None:
                    stmt = stmt.where(FollowUpDay.pathway == scope.pathway)
                for day, data in db.execute(stmt):
                    if day in batches:
                        total.add_json(json.loads(data))
            if not complete:
                for (day, unit, pathway), value in raw.items():
                    if lo <= day < hi and scope.holds(unit, pathway):
                        total.add(value)
            if complete:
                with _MONTHS_LOCK:
                    if len(_MONTHS) >= _MONTHS_MAX:
                        _MONTHS.clear()
                    _MONTHS[key] = (version, total)
            out[month] = total
        month = hi if hi.day == 1 else (month + timedelta(days=32)).replace(day=1)
    return out


# The worker keeps these days current: the last two on every round, and once a day the
# last 35 (a readmission is seen up to 30 days after the discharge it belongs to, and
# visits and ends of episodes may be reported some days late). Older changes need
# `hemma followup rebuild`.
RECENT_DAYS = 2
SETTLING_DAYS = 35


LOCK = "hemma.followup.refresh"


def refresh(db: Session, start: date, end: date, now: datetime | None = None) -> int:
    """Compute and store the days of [start, end) before today (today is still happening and
    is always computed from the events). Returns the number of rows stored."""
    now = now or utcnow()
    end = min(end, local_date(now))
    if start >= end:
        return 0
    # One refresh at a time across processes (two workers, a worker and `hemma followup
    # rebuild`): each deletes its days and inserts them anew, and two at once would insert
    # the same days twice. The lock is taken before reading, so the second computes from
    # what the first committed.
    advisory_lock(db, LOCK)
    days = raw_days(db, start, end, now)
    db.execute(delete(FollowUpDay).where(FollowUpDay.day >= start, FollowUpDay.day < end))
    db.execute(delete(FollowUpComputed).where(FollowUpComputed.day >= start,
                                              FollowUpComputed.day < end))
    rows = [{"day": d, "unit_id": unit, "pathway": pathway or "", "data": day.to_json()}
            for (d, unit, pathway), day in days.items()]
    for i in range(0, len(rows), 1000):
        db.execute(insert(FollowUpDay), rows[i:i + 1000])
    batch = uuid.uuid4().hex
    db.execute(insert(FollowUpComputed), [
        {"day": start + timedelta(days=i), "computed_at": now, "batch": batch}
        for i in range((end - start).days)])
    return len(rows)


BACKFILL_MONTHS = 3


def keep_current(db: Session, now: datetime) -> int | None:
    """The worker's round: the last days again, once a day the settling ones, and, where
    events are older than anything computed (an installation upgraded with its history),
    up to three months further back each round until the first event. None if another
    process is refreshing right now: its round serves this one's."""
    if not advisory_lock(db, LOCK, wait=False):
        return None
    today = local_date(now)
    rows = 0
    oldest = db.scalar(select(func.min(FollowUpComputed.day)))
    first_event = db.scalar(select(func.min(Episode.assessed_at)))
    if oldest is not None and first_event is not None and local_date(first_event) < oldest:
        start = max(local_date(first_event), oldest - timedelta(days=31 * BACKFILL_MONTHS))
        rows += refresh(db, start, oldest, now)
    settled = db.scalar(select(func.min(FollowUpComputed.computed_at)).where(
        FollowUpComputed.day >= today - timedelta(days=SETTLING_DAYS),
        FollowUpComputed.day < today - timedelta(days=RECENT_DAYS)))
    if settled is None or local_date(settled) < today:
        return rows + refresh(db, today - timedelta(days=SETTLING_DAYS), today, now)
    return rows + refresh(db, today - timedelta(days=RECENT_DAYS), today, now)


# --- The report ------------------------------------------------------------------------------


@dataclass
class Row:
    """One figure as shown: this period, the one before, and the monthly trend."""

    figure: m.Figure
    previous: m.Figure
    trend: list[tuple[date, float | None]] = field(default_factory=list)


@dataclass
class Report:
    chosen: Chosen
    pathway: str | None
    period: m.Period
    previous: m.Period
    rows: dict[str, Row]
    threshold: int
    bed_day_cost: float
    bed_day_cost_source: str
    generated_at: datetime


def report(db: Session, subject: Subject, period: m.Period, scope_key: str | None,
           pathway: str | None, *, now: datetime | None = None) -> Report:
    chosen = choose(db, subject, scope_key)
    if period.kind == "days":
        raise Invalid("Choose a month (2026-11), a quarter (2026-Q4) or a year (2026)",
                      field="period")
    if pathway and pathway not in dict(pathways(db)):
        raise Invalid("No such pathway", field="pathway")
    scope = m.Scope(chosen.scope.units, pathway or None)
    settings = get_settings()
    now = now or utcnow()
    previous = period.previous()
    months = period.months(TREND_MONTHS)
    first = min(previous.start, months[0].start)
    # Each day is added once, into its month; a period adds its months (the page offers
    # months, quarters and years only).
    months_total = month_totals(db, first, period.end, now, scope)
    threshold = settings.followup_small_numbers
    cost = settings.followup_bed_day_cost

    def period_total(p: m.Period) -> m.Day:
        total = m.Day()
        for start, value in months_total.items():
            if start in p:
                total.add(value)
        return total

    def figs(p: m.Period) -> dict[str, m.Figure]:
        out = m.figures(period_total(p), period_days=p.days, beds=chosen.beds,
                        bed_day_cost=cost)
        return out if chosen.own_team else m.suppress(out, threshold)

    current, before = figs(period), figs(previous)
    trend = [(p.start, figs(p)) for p in months]
    rows = {key: Row(f, before[key], [(start, t[key].value) for start, t in trend])
            for key, f in current.items()}
    return Report(chosen, pathway or None, period, previous, rows, threshold, cost,
                  settings.followup_bed_day_cost_source, now)


# --- Tracing a figure to its episodes --------------------------------------------------------


# The figures whose episodes can be listed, and which episodes count for them.
TRACEABLE = {
    "episodes_started": lambda e, p: e.admitted_at is not None and _on(e.admitted_at, p),
    "episodes_ended": lambda e, p: (e.state in ("discharged", "returned")
                                    and _on(e.ended_at, p)),
    "days_at_home": lambda e, p: e.admitted_at is not None and _overlaps(e, p),
    "bed_days_saved": lambda e, p: e.admitted_at is not None and _overlaps(e, p),
    "returns": lambda e, p: e.state == "returned" and _on(e.ended_at, p),
    "deaths_expected": lambda e, p: (e.state == "discharged" and e.end_reason
                                     == "death_expected" and _on(e.ended_at, p)),
    "deaths_unexpected": lambda e, p: (e.state == "discharged" and e.end_reason
                                       == "death_unexpected" and _on(e.ended_at, p)),
    "criteria_override": lambda e, p: (e.criteria_override and e.admitted_at is not None
                                       and _on(e.admitted_at, p)),
}


def _on(moment: datetime | None, period: m.Period) -> bool:
    return moment is not None and local_date(moment) in period


def _overlaps(e: Episode, period: m.Period) -> bool:
    first = local_date(e.admitted_at)
    last = local_date(e.ended_at) if e.ended_at is not None else local_today()
    return first < period.end and last > period.start


@dataclass
class Traced:
    visible: list[tuple[Episode, Patient]]
    hidden: int


def trace(db: Session, subject: Subject, figure: str, period: m.Period, scope_key: str | None,
          pathway: str | None) -> Traced:
    """The episodes behind an episode figure, those the user may read; the others counted."""
    if figure not in TRACEABLE:
        raise Invalid("This figure cannot be traced to episodes", field="figure")
    chosen = choose(db, subject, scope_key)
    codes = dict(db.execute(select(Pathway.id, Pathway.code)).all())
    stmt = select(Episode, Patient).join(Patient, Patient.id == Episode.patient_id).where(
        Episode.assessed_at < _utc(period.end))
    if chosen.scope.units is not None:
        stmt = stmt.where(Episode.responsible_unit_id.in_(chosen.scope.units))
    rows = [(e, p) for e, p in db.execute(stmt)
            if TRACEABLE[figure](e, period) and (not pathway or codes.get(e.pathway_id)
                                                  == pathway)]
    decisions = decisions_for(db, subject, {e.patient_id for e, _p in rows})
    visible = [(e, p) for e, p in rows if decisions[e.patient_id].sees(
        origin(db, e.responsible_unit_id))]
    log_listed(db, {e.patient_id: decisions[e.patient_id] for e, _p in visible},
               "followup.trace")
    visible.sort(key=lambda r: r[0].admitted_at or r[0].assessed_at)
    return Traced(visible, len(rows) - len(visible))
