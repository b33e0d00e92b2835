"""Named actions on observations and monitoring plans.

`record_observation` stores a submission exactly once (the client id is unique per
patient), combines the values measured within the NEWS2 window into one score, evaluates the
episode's rules and, for what is worrying, raises one alert through `alerts.raise_alert` — all
in the caller's transaction, so a value and its alert commit together or not at all."""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import SimpleNamespace

from sqlalchemy import and_, any_, bindparam, func, or_, select, union_all, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from hemma.access.policy import Action, Subject
from hemma.access.service import origin, require
from hemma.config import get_settings
from hemma.db import any_of, insert_ignoring_conflict, matching_rows
from hemma.kit.errors import FieldError, Invalid, NotFound
from hemma.kit.time import ensure_utc, utcnow
from hemma.models import (
    ACTIVE_STATES,
    Alert,
    AlertEvent,
    Episode,
    EpisodeState,
    MonitoringPlan,
    Observation,
    Pathway,
)
from hemma.monitoring import alerts
from hemma.monitoring.news2 import News2, score
from hemma.monitoring.rules import effective_rules, evaluate
from hemma.monitoring.schemas import VALUE_FIELDS, ObservationCreate, PlanUpdate

NEWS2_FIELDS = ("respiration_rate", "spo2", "on_oxygen", "temperature", "systolic_bp", "pulse",
                "consciousness")
_FUTURE_SLACK = timedelta(minutes=5)
_MAX_AGE = timedelta(days=30)


@dataclass
class Recorded:
    observation: Observation
    created: bool
    alert: Alert | None
    # The units whose values the stored NEWS2 combined (None for a resend: not recomputed).
    # A reader who may not see one of them is shown a score of their own (monitoring.visible).
    news2_units: frozenset[int] | None = None


def active_episode(db: Session, patient_id: uuid.UUID) -> Episode | None:
    return db.scalar(select(Episode).where(Episode.patient_id == patient_id,
                                           Episode.state.in_(ACTIVE_STATES)))


def plan_for(db: Session, episode: Episode | None) -> MonitoringPlan | None:
    if episode is None:
        return None
    return db.scalar(select(MonitoringPlan).where(MonitoringPlan.episode_id == episode.id))


def combine(rows, at: datetime, window: timedelta, spo2_scale: int
            ) -> tuple[News2, frozenset[int]]:
    """NEWS2 from the latest value of each parameter measured within the window up to `at`:
    a pulse taken at 08:05 and a temperature at 08:40 make one score. Also returns the units
    that documented the values it used: a reader who may not see one of them must not be
    shown this score (it would reveal the hidden value), but one of their own."""
    latest: dict[str, object] = {}
    units: set[int] = set()
    for o in sorted(rows, key=lambda o: (o.measured_at, o.received_at), reverse=True):
        if not (at - window <= o.measured_at <= at):
            continue
        for name in NEWS2_FIELDS:
            value = getattr(o, name)
            if value is not None and name not in latest:
                latest[name] = value
                units.add(o.documented_by_unit_id)
    return score(
        respiration_rate=latest.get("respiration_rate"), spo2=latest.get("spo2"),
        spo2_scale=spo2_scale, on_oxygen=latest.get("on_oxygen"),
        temperature=latest.get("temperature"), systolic_bp=latest.get("systolic_bp"),
        pulse=latest.get("pulse"), consciousness=latest.get("consciousness")), frozenset(units)


def _store_news2(observation: Observation, news2: News2) -> None:
    observation.news2_total = news2.total
    observation.news2_band = news2.band
    observation.news2_partial = news2.partial


_COLUMNS = [c.key for c in Observation.__table__.columns]
_SUBMITTED = (*VALUE_FIELDS, "symptoms", "feeling_worse", "note")
_SCORING_COLUMNS = ("id", "patient_id", "measured_at", "received_at", "documented_by_unit_id", *(
    f for f in ("respiration_rate", "spo2", "on_oxygen", "temperature", "systolic_bp", "pulse",
                "consciousness")), "news2_total", "news2_band", "news2_partial")


def record_observation(
    db: Session,
    patient_id: uuid.UUID,
    data: ObservationCreate,
    *,
    performer: str,
    source: str,
    documented_by_unit_id: int | None,
    staff_id: int | None = None,
) -> Recorded:
    """One submission (the patient's page, a staff form, the single-value API)."""
    return record_many(db, [(patient_id, data)], performer=performer, source=source,
                       documented_by_unit_id=documented_by_unit_id, staff_id=staff_id)[0]


def enter_observation(db: Session, subject: Subject, patient_id: uuid.UUID,
                      data: ObservationCreate) -> Recorded:
    """Values a staff member entered (measured at a visit, read out on the phone): their
    unit documents them."""
    require(db, subject, Action.OBSERVE, patient_id, audit_action="observation.record")
    return record_observation(db, patient_id, data, performer="staff", source="staff_form",
                              documented_by_unit_id=subject.unit_id, staff_id=subject.staff_id)


def _refuse(message: str, field: str, index: int | None):
    name = field if index is None else f"observations.{index}.{field}"
    raise Invalid(errors=[FieldError(name, message)])


def check_time(data: ObservationCreate, now: datetime, index: int | None = None) -> None:
    """Late and out-of-order values are fine; from the future or older than 30 days not."""
    at = ensure_utc(data.measured_at)
    if at > now + _FUTURE_SLACK:
        _refuse("The measurement time is in the future", "measured_at", index)
    if at < now - _MAX_AGE:
        _refuse("The measurement is more than 30 days old", "measured_at", index)


def record_many(
    db: Session,
    entries: list[tuple[uuid.UUID, ObservationCreate]],
    *,
    performer: str,
    source: str,
    documented_by_unit_id: int | None,
    staff_id: int | None = None,
    indexed: bool = False,
) -> list[Recorded]:
    """Store submissions exactly once each, scored and checked, in a fixed number of
    queries however many there are (a device gateway sends hundreds at a time). All or
    nothing: a bad entry raises Invalid naming it (`observations.<i>.<field>` when
    `indexed`) before anything is written."""
    now = utcnow()
    window = timedelta(minutes=get_settings().news2_window_minutes)
    for i, (_pid, data) in enumerate(entries):
        check_time(data, now, i if indexed else None)
    pids = list(dict.fromkeys(pid for pid, _ in entries))
    context = _context(db, pids)
    for i, (pid, _data) in enumerate(entries):
        if documented_by_unit_id is None and pid not in context:
            _refuse("The patient has no active home-ward episode", "patient_id",
                    i if indexed else None)

    def unit_of(pid: uuid.UUID) -> int:
        return documented_by_unit_id or context[pid][0].responsible_unit_id

    # A client id is unique per patient *and documenting unit*: a resend finds only what the
    # sender's own unit documented (always theirs to read), and nobody can probe or claim
    # another unit's ids (demo ids and many devices' ids are predictable).
    keys = [(pid, unit_of(pid), d.client_id) for pid, d in entries]
    # What was sent before (resends), and the values near the new ones: three queries.
    sent_before = {
        (o.patient_id, o.documented_by_unit_id, o.client_id): o for o in db.scalars(
            matching_rows(db, Observation, (Observation.patient_id,
                                            Observation.documented_by_unit_id,
                                            Observation.client_id), set(keys)))}
    times = [ensure_utc(d.measured_at) for _, d in entries]
    nearby = _nearby(db, pids, min(times), max(times), window)
    results: list[Recorded | None] = [None] * len(entries)
    new: list[tuple[int, Observation]] = []
    fresh: dict[tuple, Observation] = {}
    for i, (pid, data) in enumerate(entries):
        key = keys[i]
        if key in sent_before or key in fresh:
            continue  # resolved after the insert
        episode, plan, _pathway = context.get(pid, (None, None, None))
        offset = data.measured_at.utcoffset()
        observation = SimpleNamespace(
            id=uuid.uuid4(), patient_id=pid, episode_id=episode.id if episode else None,
            client_id=data.client_id, measured_at=ensure_utc(data.measured_at),
            measured_offset_minutes=int(offset.total_seconds() // 60) if offset else 0,
            received_at=now, performer=performer, staff_id=staff_id,
            device_id=data.device_id, source=source,
            documented_by_unit_id=key[1], **{f: getattr(data, f) for f in _SUBMITTED})
        fresh[key] = observation
        nearby.setdefault(pid, []).append(observation)
        new.append((i, observation))
    # Scores are known before the rows are written: one multi-row INSERT, no UPDATE after.
    scores: dict[uuid.UUID, News2] = {}
    score_units: dict[uuid.UUID, frozenset[int]] = {}
    for _i, o in new:
        plan = context.get(o.patient_id, (None, None, None))[1]
        scores[o.id], score_units[o.id] = combine(nearby[o.patient_id], o.measured_at, window,
                                                  plan.spo2_scale if plan else 1)
        _store_news2(o, scores[o.id])
    inserted: set[uuid.UUID] = set()
    if new:
        inserted = set(insert_ignoring_conflict(
            db, Observation, [{c: getattr(o, c) for c in _COLUMNS} for _, o in new],
            ["patient_id", "documented_by_unit_id", "client_id", "measured_at"]))
    # A late arrival re-scores what was measured just after it.
    earliest: dict[uuid.UUID, datetime] = {}
    for _i, o in new:
        if o.id in inserted:
            earliest[o.patient_id] = min(o.measured_at, earliest.get(o.patient_id, o.measured_at))
    rescored = []
    for pid, first in earliest.items():
        plan = context.get(pid, (None, None, None))[1]
        for later in nearby[pid]:
            if later.measured_at > first and later.id not in scores:
                news2, _units = combine(nearby[pid], later.measured_at, window,
                                        plan.spo2_scale if plan else 1)
                if (news2.total, news2.band, news2.partial) != (
                        later.news2_total, later.news2_band, later.news2_partial):
                    _store_news2(later, news2)
                    rescored.append({"oid": later.id, "t": news2.total, "b": news2.band,
                                     "p": news2.partial})
    if rescored:
        db.execute(update(Observation.__table__)
                   .where(Observation.__table__.c.id == bindparam("oid"))
                   .values(news2_total=bindparam("t"), news2_band=bindparam("b"),
                           news2_partial=bindparam("p")), rescored)
    # Alerts, for what is new, recent and worrying, in the order it was measured.
    recent = now - timedelta(hours=get_settings().alert_max_age_hours)
    worrying = []
    for i, o in sorted(new, key=lambda x: x[1].measured_at):
        if o.id not in inserted:
            continue
        results[i] = Recorded(o, True, None, score_units[o.id])
        episode, plan, pathway = context.get(o.patient_id, (None, None, None))
        if episode is not None and episode.state == EpisodeState.ADMITTED and \
                o.measured_at >= recent:
            judged = _judge(db, plan, pathway, o, scores[o.id])
            if judged is not None:
                kind, severity, reasons = judged
                # A NEWS2 quotes every value it combined: its reason names all their units,
                # so a reader who may not see one of them is not shown the score either.
                reasons = [{**r, "units": sorted(score_units[o.id])}
                           if r.get("topic") == "news2" else r for r in reasons]
                worrying.append((i, episode, (kind, severity, reasons)))
    if len(worrying) > 1:
        alerts.lock_open_alerts(db, [episode.id for _i, episode, _j in worrying])
    for i, episode, (kind, severity, reasons) in worrying:
        o = results[i].observation
        results[i].alert = alerts.raise_alert(
            db, episode=episode, kind=kind, severity=severity, reasons=reasons,
            observation_id=o.id, dedupe_key=f"obs:{o.id}", measured_at=o.measured_at,
            origin_unit_id=o.documented_by_unit_id)
    # Resends (earlier, within this batch, or by a concurrent request) return the first.
    for i, (pid, data) in enumerate(entries):
        if results[i] is not None:
            continue
        first = fresh.get(keys[i])
        if first is not None and first.id in inserted:
            original = first
        else:
            original = sent_before.get(keys[i]) or db.scalar(
                select(Observation).where(Observation.patient_id == pid,
                                          Observation.documented_by_unit_id == keys[i][1],
                                          Observation.client_id == data.client_id))
        alert = db.scalar(select(Alert).join(AlertEvent, AlertEvent.alert_id == Alert.id)
                          .where(AlertEvent.detail == f"observation {original.id}").limit(1))
        results[i] = Recorded(original, False, alert)
    return results


def _context(db: Session, pids: list[uuid.UUID]) -> dict[uuid.UUID, tuple]:
    """Each patient's active episode, monitoring plan and pathway, in one query: the episode
    and plan as plain rows (a batch has hundreds), the few pathways as objects."""
    rows = db.execute(
        select(Episode.id, Episode.patient_id, Episode.state, Episode.responsible_unit_id,
               Episode.pathway_id, MonitoringPlan.spo2_scale, MonitoringPlan.rule_overrides,
               MonitoringPlan.id.label("plan_id"))
        .outerjoin(MonitoringPlan, MonitoringPlan.episode_id == Episode.id)
        .where(any_of(db, Episode.patient_id, pids), Episode.state.in_(ACTIVE_STATES))).all()
    pathways = {p.id: p for p in db.scalars(select(Pathway).where(
        Pathway.id.in_({r.pathway_id for r in rows})))} if rows else {}
    return {r.patient_id: (
        SimpleNamespace(id=r.id, patient_id=r.patient_id, state=r.state,
                        responsible_unit_id=r.responsible_unit_id),
        SimpleNamespace(spo2_scale=r.spo2_scale, rule_overrides=r.rule_overrides)
        if r.plan_id is not None else None,
        pathways[r.pathway_id]) for r in rows}


def _nearby(db: Session, pids: list[uuid.UUID], first: datetime, last: datetime,
            window: timedelta) -> dict[uuid.UUID, list]:
    """The stored values that score (or are re-scored by) submissions measured between
    `first` and `last`: every row from `first` to `last` + window, and before `first` only
    the latest row of each NEWS2 parameter within the window (all a score can use), chosen
    by the database. A device that reports every second thus costs the same as one that
    reports every hour. Plain rows, not ORM objects: a batch reads thousands."""
    statement = _nearby_statement(db.get_bind().dialect.name)
    nearby: dict[uuid.UUID, list] = {}
    for o in db.execute(statement, {"pids": list(pids), "since": first - window,
                                     "first": first, "until": last + window}):
        nearby.setdefault(o.patient_id, []).append(SimpleNamespace(**o._asdict()))
    return nearby


@functools.cache
def _nearby_statement(dialect: str):
    """`_nearby`'s query, built once per database kind (building it costs more Python than
    running it for one submission); the patients and times are bound when it runs."""
    columns = [getattr(Observation, f) for f in _SCORING_COLUMNS]
    if dialect == "postgresql":
        patients = Observation.patient_id == any_(
            bindparam("pids", type_=ARRAY(Observation.patient_id.type)))
    else:
        patients = Observation.patient_id.in_(bindparam("pids", expanding=True))
    moment = Observation.measured_at.type
    # Newest first, each parameter's running count of values: the row where a parameter's
    # count is 1 and it has a value is that parameter's newest. One window definition for
    # all seven, so the database sorts the rows once.
    newest_first = (Observation.measured_at.desc(), Observation.received_at.desc())
    ranked = select(*columns, *(
        func.count(getattr(Observation, f)).over(
            partition_by=Observation.patient_id, order_by=newest_first, rows=(None, 0))
        .label(f"seen_{f}") for f in NEWS2_FIELDS)).where(
            patients, Observation.measured_at >= bindparam("since", type_=moment),
            Observation.measured_at <= bindparam("first", type_=moment),
    ).subquery()
    before = select(*(ranked.c[f] for f in _SCORING_COLUMNS)).where(or_(*(
        and_(ranked.c[f"seen_{f}"] == 1, ranked.c[f].is_not(None)) for f in NEWS2_FIELDS)))
    after = select(*columns).where(
        patients, Observation.measured_at > bindparam("first", type_=moment),
        Observation.measured_at <= bindparam("until", type_=moment))
    return union_all(before, after)


def _judge(db: Session, plan, pathway: Pathway, observation, news2: News2
           ) -> tuple[str, str, list[dict]] | None:
    """What kind of alert these values call for, how severe, and why (None: nothing
    worrying). `plan` is the row `_context` read."""
    rules = effective_rules(pathway.rules or [], plan.rule_overrides if plan else [])
    history: dict[str, list[tuple[datetime, float]]] = {}
    hours = max((r.within_hours or 0 for r in rules), default=0)
    for parameter in {r.parameter for r in rules
                      if r.within_hours and getattr(observation, r.parameter) is not None}:
        column = getattr(Observation, parameter)
        history[parameter] = [
            (t, float(v)) for t, v in db.execute(
                select(Observation.measured_at, column).where(
                    Observation.patient_id == observation.patient_id, column.is_not(None),
                    Observation.measured_at >= observation.measured_at - timedelta(hours=hours),
                    Observation.measured_at < observation.measured_at))
        ]
    values = {f: getattr(observation, f) for f in VALUE_FIELDS}
    # Values a patient typed themselves without a consciousness or breathing count are
    # common: their partial score still alerts when what is there is worrying.
    result = evaluate(values, news2 if news2.band else None, rules, history,
                      feeling_worse=observation.feeling_worse,
                      measured_at=observation.measured_at, symptoms=observation.symptoms,
                      questions=pathway.symptom_questions)
    if result.severity is None:
        return None
    # "I feel worse" is always its own alert: the patient's own words, never folded into
    # an alert about numbers that someone may already be looking at.
    kind = "worse" if observation.feeling_worse else "vitals"
    return kind, result.severity, [r.to_dict() for r in result.reasons]


def observations(db: Session, patient_id: uuid.UUID, since: datetime,
                 until: datetime | None = None) -> list[Observation]:
    stmt = select(Observation).where(Observation.patient_id == patient_id,
                                     Observation.measured_at >= since)
    if until is not None:
        stmt = stmt.where(Observation.measured_at <= until)
    return list(db.scalars(stmt.order_by(Observation.measured_at)))


def ensure_plan(db: Session, episode: Episode) -> MonitoringPlan:
    plan = plan_for(db, episode)
    if plan is None:
        plan = MonitoringPlan(episode_id=episode.id, patient_id=episode.patient_id,
                              spo2_scale=1, rule_overrides=[], updated_at=utcnow())
        db.add(plan)
        db.flush()
    return plan


def update_plan(db: Session, subject: Subject, patient_id: uuid.UUID,
                data: PlanUpdate) -> MonitoringPlan:
    """Set by a physician of the organisation that runs the episode: SpO2 scale 2 only for
    confirmed hypercapnic respiratory failure."""
    episode = active_episode(db, patient_id)
    if episode is None:
        raise NotFound()
    require(db, subject, Action.PLAN, patient_id, on=origin(db, episode.responsible_unit_id),
            audit_action="plan.update")
    plan = ensure_plan(db, episode)
    if data.spo2_scale != plan.spo2_scale:
        plan.spo2_scale_set_by_id = subject.staff_id
    plan.spo2_scale = data.spo2_scale
    plan.schedule = data.schedule
    plan.tolerance_minutes = data.tolerance_minutes
    plan.rule_overrides = [r.stored() for r in data.rule_overrides]
    plan.contact_phone = data.contact_phone
    plan.updated_at = utcnow()
    plan.updated_by_id = subject.staff_id
    return plan

