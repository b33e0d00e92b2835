"""Named actions on observations and monitoring plans.

`record_observation` stores a submission exactly once (the client id is unique per
patient), combines the values measured within the NEWS2 window into one score, evaluates the
episode's rules and, for what is worrying, raises one alert through `alerts.raise_alert` — all
in the caller's transaction, so a value and its alert commit together or not at all."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from hemma.config import get_settings
from hemma.db import insert_ignoring_conflict
from hemma.kit.errors import Invalid
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


def active_episode(db: Session, patient_id: uuid.UUID) -> Episode | None:
    return db.scalar(select(Episode).where(Episode.patient_id == patient_id,
                                           Episode.state.in_(ACTIVE_STATES)))


def plan_for(db: Session, episode: Episode | None) -> MonitoringPlan | None:
    if episode is None:
        return None
    return db.scalar(select(MonitoringPlan).where(MonitoringPlan.episode_id == episode.id))


def _combine(rows: list[Observation], at: datetime, window: timedelta,
             spo2_scale: int) -> News2:
    """NEWS2 from the latest value of each parameter measured within the window up to `at`:
    a pulse taken at 08:05 and a temperature at 08:40 make one score."""
    latest: dict[str, object] = {}
    for o in sorted(rows, key=lambda o: (o.measured_at, o.received_at), reverse=True):
        if not (at - window <= o.measured_at <= at):
            continue
        for name in NEWS2_FIELDS:
            value = getattr(o, name)
            if value is not None and name not in latest:
                latest[name] = value
    return score(
        respiration_rate=latest.get("respiration_rate"), spo2=latest.get("spo2"),
        spo2_scale=spo2_scale, on_oxygen=latest.get("on_oxygen"),
        temperature=latest.get("temperature"), systolic_bp=latest.get("systolic_bp"),
        pulse=latest.get("pulse"), consciousness=latest.get("consciousness"))


def combined_news2(db: Session, patient_id: uuid.UUID, at: datetime, spo2_scale: int) -> News2:
    window = timedelta(minutes=get_settings().news2_window_minutes)
    rows = list(db.scalars(select(Observation).where(
        Observation.patient_id == patient_id, Observation.measured_at <= at,
        Observation.measured_at >= at - window)))
    return _combine(rows, at, window, spo2_scale)


def _store_news2(observation: Observation, news2: News2) -> None:
    observation.news2_total = news2.total
    observation.news2_band = news2.band
    observation.news2_partial = news2.partial


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
    now = utcnow()
    measured_at = ensure_utc(data.measured_at)
    if measured_at > now + _FUTURE_SLACK:
        raise Invalid("The measurement time is in the future", field="measured_at")
    if measured_at < now - _MAX_AGE:
        raise Invalid("The measurement is more than 30 days old", field="measured_at")
    # The episode, its plan and its pathway in one query: this is the hot path of ingest.
    row = db.execute(
        select(Episode, MonitoringPlan, Pathway)
        .join(Pathway, Pathway.id == Episode.pathway_id)
        .outerjoin(MonitoringPlan, MonitoringPlan.episode_id == Episode.id)
        .where(Episode.patient_id == patient_id, Episode.state.in_(ACTIVE_STATES))
    ).one_or_none()
    episode, plan, pathway = row if row is not None else (None, None, None)
    unit_id = documented_by_unit_id or (episode.responsible_unit_id if episode else None)
    if unit_id is None:
        raise Invalid("The patient has no active home-ward episode", field="patient_id")
    values = data.model_dump(include=set(VALUE_FIELDS) | {"symptoms", "feeling_worse", "note"})
    offset = data.measured_at.utcoffset()
    scale = plan.spo2_scale if plan else 1
    window = timedelta(minutes=get_settings().news2_window_minutes)
    # Everything within a window on either side, in one query: the new row's score is known
    # before it is written (one INSERT, no UPDATE after), and a late arrival re-scores what
    # was measured just after it.
    nearby = list(db.scalars(select(Observation).where(
        Observation.patient_id == patient_id, Observation.measured_at >= measured_at - window,
        Observation.measured_at <= measured_at + window)))
    observation = Observation(
        id=uuid.uuid4(), patient_id=patient_id, episode_id=episode.id if episode else None,
        client_id=data.client_id, measured_at=measured_at,
        measured_offset_minutes=int(offset.total_seconds() // 60) if offset else 0,
        received_at=now, performer=performer, staff_id=staff_id, device_id=data.device_id,
        source=source, documented_by_unit_id=unit_id, **values)
    news2 = _combine([*nearby, observation], measured_at, window, scale)
    _store_news2(observation, news2)
    row = {c.key: getattr(observation, c.key) for c in Observation.__table__.columns}
    if insert_ignoring_conflict(db, Observation, row, ["patient_id", "client_id"]) is None:
        # A resend: the first one counted, this one changes nothing.
        existing = db.scalar(select(Observation).where(Observation.patient_id == patient_id,
                                                       Observation.client_id == data.client_id))
        alert = db.scalar(select(Alert).join(AlertEvent, AlertEvent.alert_id == Alert.id).where(
            AlertEvent.detail == f"observation {existing.id}").limit(1))
        return Recorded(existing, False, alert)
    for later in nearby:
        if later.measured_at > measured_at:
            _store_news2(later, _combine([*nearby, observation], later.measured_at, window,
                                         scale))
    alert = None
    if episode is not None and episode.state == EpisodeState.ADMITTED and \
            measured_at >= now - timedelta(hours=get_settings().alert_max_age_hours):
        alert = _evaluate(db, episode, plan, pathway, observation, news2)
    return Recorded(observation, True, alert)


def _evaluate(db: Session, episode: Episode, plan: MonitoringPlan | None, pathway: Pathway,
              observation: Observation, news2: News2) -> Alert | None:
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
    return alerts.raise_alert(
        db, episode=episode, kind=kind, severity=result.severity,
        reasons=[r.to_dict() for r in result.reasons], observation_id=observation.id,
        dedupe_key=f"obs:{observation.id}")


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


def update_plan(db: Session, staff_id: int, episode: Episode, data: PlanUpdate) -> MonitoringPlan:
    """Set by a physician: SpO2 scale 2 only for confirmed hypercapnic respiratory failure."""
    plan = ensure_plan(db, episode)
    if data.spo2_scale != plan.spo2_scale:
        plan.spo2_scale_set_by_id = staff_id
    plan.spo2_scale = data.spo2_scale
    plan.schedule = data.schedule
    plan.tolerance_minutes = data.tolerance_minutes
    plan.rule_overrides = data.rule_overrides
    plan.contact_phone = data.contact_phone
    plan.updated_at = utcnow()
    plan.updated_by_id = staff_id
    return plan
