"""Alerts: raised once per triggering event, delivered through the outbox to the on-duty
staff of the responsible unit, escalated when nobody acknowledges them in time, snoozed only
with a reason and an expiry, resolved with a note. Nothing here is ever silently dropped: an
alert with nobody on duty goes to every nurse of the unit, and escalation continues until
someone acknowledges it."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hemma.access import audit
from hemma.access.policy import Action, Decision, Subject
from hemma.access.service import can, origin
from hemma.config import get_settings
from hemma.coordination import live
from hemma.db import any_of, insert_ignoring_conflict, on_commit
from hemma.jobs import outbox
from hemma.kit.errors import Conflict, NotFound
from hemma.kit.metrics import ALERT_DELIVERY_SECONDS
from hemma.kit.text import N_
from hemma.kit.time import STOCKHOLM, utcnow
from hemma.models import (
    Alert,
    AlertEvent,
    DutyShift,
    Episode,
    EpisodeState,
    MonitoringPlan,
    Notification,
    Observation,
    OutboxMessage,
    Pathway,
    Profession,
    Staff,
)
from hemma.monitoring.rules import SEVERITIES, missed, windows
from hemma.monitoring.schemas import Acknowledge, Resolve, Snooze

UNRESOLVED = ("open", "acknowledged")
TOPIC = "alert.notify"


def _steps(severity: str) -> list[int]:
    return get_settings().escalation.get(severity, [])


def _next_escalation(severity: str, level: int, now: datetime) -> datetime | None:
    steps = _steps(severity)
    return now + timedelta(minutes=steps[level]) if level < len(steps) else None


def _event(db: Session, alert: Alert, kind: str, now: datetime, *, staff_id: int | None = None,
           level: int | None = None, detail: str | None = None) -> None:
    db.add(AlertEvent(alert_id=alert.id, at=now, kind=kind, staff_id=staff_id, level=level,
                      detail=detail))


def _notify(db: Session, alert: Alert, reason: str) -> None:
    outbox.enqueue(db, TOPIC, {"alert_id": str(alert.id), "level": alert.escalation_level,
                               "reason": reason})


MAX_REASONS = 8


def _rank(reason: dict) -> int:
    severity = reason.get("severity")
    return SEVERITIES.index(severity) if severity in SEVERITIES else -1


def merge_reasons(old: list[dict], new: list[dict]) -> list[dict]:
    """The reasons an open alert shows after new values joined it: the new ones first, then
    older ones about something else. A reason about the same thing (its topic: NEWS2, one
    rule, one symptom question) is replaced by the latest, so a patient whose device
    retriggers an alert every minute shows one line per problem, not one per minute (each
    retrigger is still an event of the alert). But the most severe reason of a topic stays
    beside the latest when the latest is milder: the alert keeps its highest severity, and
    the reader must see what it is based on (NEWS2 7 at 08:00, though 5 at 08:40)."""
    def topic(r: dict) -> str:
        return r.get("topic") or r.get("message", "")

    combined = [*new, *old]  # newest first
    newest: dict[str, dict] = {}
    worst: dict[str, dict] = {}
    for r in combined:
        t = topic(r)
        newest.setdefault(t, r)
        if t not in worst or _rank(r) > _rank(worst[t]):
            worst[t] = r
    kept = [r for r in combined
            if r is newest[topic(r)] or (r is worst[topic(r)] and _rank(r) > _rank(newest[topic(r)]))]
    return kept[:MAX_REASONS]


_OPEN = "hemma.alerts.open"


def lock_open_alerts(db: Session, episode_ids) -> None:
    """Lock, in one query, the open alerts that new values of these episodes could join (a
    device batch touches hundreds of patients). Locked in id order, so two batches that
    share patients queue instead of deadlocking; `raise_alert` then finds them here."""
    loaded, found = db.info.setdefault(_OPEN, (set(), {}))
    todo = [e for e in dict.fromkeys(episode_ids) if e not in loaded]
    if not todo:
        return
    rows = db.scalars(select(Alert).where(
        any_of(db, Alert.episode_id, todo), Alert.status == "open", Alert.kind != "missed")
        .order_by(Alert.id).with_for_update())
    for alert in sorted(rows, key=lambda a: a.created_at):
        found[(alert.episode_id, alert.kind)] = alert  # the newest of each kind wins
    loaded.update(todo)


def _open_alert(db: Session, episode, kind: str) -> Alert | None:
    """The open alert of this kind new values would join, locked."""
    opened = db.info.get(_OPEN)
    if opened is not None and episode.id in opened[0]:
        current = opened[1].get((episode.id, kind))
        return current if current is not None and current.status == "open" else None
    return db.scalar(
        select(Alert).where(Alert.patient_id == episode.patient_id,
                            Alert.episode_id == episode.id, Alert.kind == kind,
                            Alert.status == "open")
        .order_by(Alert.created_at.desc()).limit(1).with_for_update())


def raise_alert(db: Session, *, episode, kind: str, severity: str, reasons: list[dict],
                dedupe_key: str, observation_id: uuid.UUID | None = None,
                measured_at: datetime | None = None, origin_unit_id: int | None = None,
                now: datetime | None = None) -> Alert | None:
    """One alert per triggering event. A new worrying value while the same kind of alert is
    still open (nobody has acknowledged it yet) joins that alert, and re-notifies if it is
    more severe, instead of paging the same people again for the same deterioration. Once
    someone has acknowledged an alert, new values make a new one: they are news.
    `episode` is an Episode or a row with its id, patient_id and responsible_unit_id.

    Values carry their origin: each reason records the unit that documented the values it
    quotes (`origin_unit_id`) and when they were measured, so a reader who may not see that
    unit's information is shown the reason without the value. The alert itself still goes to
    the responsible unit, whoever measured: safety first."""
    now = now or utcnow()
    detail = f"observation {observation_id}" if observation_id else None
    if measured_at is not None or origin_unit_id is not None:
        stamp = {"at": measured_at.isoformat() if measured_at else None,
                 "unit_id": origin_unit_id}
        reasons = [{**r, **stamp} for r in reasons]
    if kind != "missed":
        current = _open_alert(db, episode, kind)
        if current is not None:
            current.reasons = merge_reasons(current.reasons, reasons)
            if measured_at is not None and (current.latest_value_at is None
                                            or measured_at > current.latest_value_at):
                current.latest_value_at = measured_at
            _event(db, current, "retriggered", now, detail=detail)
            if SEVERITIES.index(severity) > SEVERITIES.index(current.severity):
                current.severity = severity
                current.snoozed_until = None
                current.next_escalation_at = _next_escalation(severity,
                                                              current.escalation_level, now)
                _event(db, current, "severity_raised", now, detail=severity)
                _notify(db, current, "raised")
            return current
    alert = Alert(
        id=uuid.uuid4(), patient_id=episode.patient_id, episode_id=episode.id,
        unit_id=episode.responsible_unit_id, kind=kind, severity=severity, status="open",
        dedupe_key=dedupe_key, reasons=reasons, observation_id=observation_id, created_at=now,
        latest_value_at=measured_at, escalation_level=0,
        next_escalation_at=_next_escalation(severity, 0, now))
    if observation_id is not None:
        # Only the transaction that inserted the observation gets here (its insert ignores
        # a resend), so its alert cannot exist yet: no savepoint needed.
        db.add(alert)
    else:
        try:
            with db.begin_nested():
                db.add(alert)
                db.flush()
        except IntegrityError:
            return None  # this event already has its alert (a concurrent worker raised it)
    opened = db.info.get(_OPEN)
    if opened is not None and episode.id in opened[0]:
        opened[1][(episode.id, kind)] = alert
    _event(db, alert, "created", now, level=0, detail=detail)
    _notify(db, alert, "created")
    return alert


def find_alert(db: Session, subject: Subject, patient_id: uuid.UUID, alert_id: uuid.UUID,
               name: str = str(Action.ALERT)) -> tuple[Alert, Decision]:
    """The alert, locked, if the user may handle alerts for its patient and sees the
    information of the unit it is routed to; else it does not exist for them (404, and a
    refused attempt on an existing patient is logged)."""
    alert = db.get(Alert, alert_id, with_for_update=True)
    decision = can(db, subject, Action.ALERT, patient_id)
    if alert is None or alert.patient_id != patient_id or not decision or \
            not decision.sees(origin(db, alert.unit_id)):
        if decision.facts is not None and decision.facts.exists:
            audit.record(db, patient_id, name, outcome="denied")
        raise NotFound()
    return alert, decision


def _alert_to_handle(db: Session, subject: Subject, patient_id: uuid.UUID,
                     alert_id: uuid.UUID, name: str) -> Alert:
    """`find_alert`, and the action logged under its one name."""
    alert, decision = find_alert(db, subject, patient_id, alert_id, name)
    audit.record(db, patient_id, name, basis=str(decision.basis),
                 emergency=decision.emergency)
    return alert


def acknowledge_alert(db: Session, subject: Subject, patient_id: uuid.UUID,
                      alert_id: uuid.UUID, data: Acknowledge) -> Alert:
    """Someone has seen it and is acting: escalation stops."""
    alert = _alert_to_handle(db, subject, patient_id, alert_id, "alert.acknowledge")
    return acknowledge(db, subject.staff_id, alert, data.note)


def snooze_alert(db: Session, subject: Subject, patient_id: uuid.UUID, alert_id: uuid.UUID,
                 data: Snooze) -> Alert:
    """Postpone an open alert, with a reason: it comes back when the snooze runs out."""
    alert = _alert_to_handle(db, subject, patient_id, alert_id, "alert.snooze")
    return snooze(db, subject.staff_id, alert, data.reason, data.minutes)


def resolve_alert(db: Session, subject: Subject, patient_id: uuid.UUID, alert_id: uuid.UUID,
                  data: Resolve) -> Alert:
    """Close an alert with a note of what was done."""
    alert = _alert_to_handle(db, subject, patient_id, alert_id, "alert.resolve")
    return resolve(db, subject.staff_id, alert, data.note)


# The transitions themselves (the named actions above check access and log them; the demo's
# history uses them directly).


def acknowledge(db: Session, staff_id: int, alert: Alert, note: str | None = None) -> Alert:
    if alert.status != "open":
        raise Conflict("The alert is already acknowledged or resolved", field="status")
    now = utcnow()
    alert.status = "acknowledged"
    alert.acknowledged_at = now
    alert.acknowledged_by_id = staff_id
    alert.next_escalation_at = None
    alert.snoozed_until = None
    _event(db, alert, "acknowledged", now, staff_id=staff_id, detail=note)
    outbox.enqueue(db, "alert.changed", {"alert_id": str(alert.id)})
    return alert


def snooze(db: Session, staff_id: int, alert: Alert, reason: str, minutes: int) -> Alert:
    """Postpone an open alert: it comes back, to the same people, when the snooze runs out."""
    if alert.status != "open":
        raise Conflict("Only an open alert can be snoozed", field="status")
    now = utcnow()
    alert.snoozed_until = now + timedelta(minutes=minutes)
    alert.snooze_reason = reason
    alert.next_escalation_at = alert.snoozed_until
    _event(db, alert, "snoozed", now, staff_id=staff_id, detail=reason)
    outbox.enqueue(db, "alert.changed", {"alert_id": str(alert.id)})
    return alert


def resolve(db: Session, staff_id: int, alert: Alert, note: str | None,
            reason: str | None = None, now: datetime | None = None) -> Alert:
    if alert.status == "resolved":
        raise Conflict("The alert is already resolved", field="status")
    now = now or utcnow()
    alert.status = "resolved"
    alert.resolved_at = now
    alert.resolved_by_id = staff_id
    alert.resolution_note = note
    alert.resolved_reason = reason
    alert.next_escalation_at = None
    alert.snoozed_until = None
    _event(db, alert, "resolved", now, staff_id=staff_id, detail=note or reason)
    outbox.enqueue(db, "alert.changed", {"alert_id": str(alert.id)})
    return alert


def end_with_episode(db: Session, episode_id: uuid.UUID, staff_id: int, reason: str,
                     now: datetime) -> int:
    """The home-ward episode ended (discharge, return to hospital): its open alerts close
    with it, saying why, instead of escalating to a team that no longer cares for the
    patient at home. Whoever ended the episode saw them listed before confirming, and on a
    return to hospital hands them over with the patient."""
    closed = 0
    for alert in db.scalars(select(Alert).where(Alert.episode_id == episode_id,
                                                Alert.status.in_(UNRESOLVED))
                            .order_by(Alert.id).with_for_update()):
        resolve(db, staff_id, alert, None, reason, now)
        closed += 1
    return closed


def escalate_due(db: Session, now: datetime) -> int:
    """Move every open alert whose time is up one step on (or back from a snooze). The
    conditional update makes each step happen exactly once, whatever the number of workers."""
    due = list(db.execute(
        select(Alert.id, Alert.escalation_level, Alert.severity, Alert.snoozed_until)
        .where(Alert.status == "open", Alert.next_escalation_at <= now)
        .order_by(Alert.next_escalation_at)
    ))
    count = 0
    for alert_id, level, severity, snoozed_until in due:
        if snoozed_until is not None:
            # The snooze ran out: the same people again, then the remaining steps.
            values = dict(snoozed_until=None, snooze_reason=None,
                          next_escalation_at=_next_escalation(severity, level, now))
            new_level, kind, reason = level, "snooze_over", "snooze_over"
        else:
            new_level = level + 1
            values = dict(escalation_level=new_level,
                          next_escalation_at=_next_escalation(severity, new_level, now))
            kind, reason = "escalated", "escalated"
        result = db.execute(
            update(Alert).where(Alert.id == alert_id, Alert.status == "open",
                                Alert.escalation_level == level,
                                Alert.next_escalation_at <= now).values(**values)
            .execution_options(synchronize_session=False))
        if result.rowcount != 1:
            continue
        alert = db.get(Alert, alert_id)
        db.refresh(alert)
        _event(db, alert, kind, now, level=new_level)
        _notify(db, alert, reason)
        count += 1
    return count


def check_missed(db: Session, now: datetime, lookback: timedelta = timedelta(hours=24)) -> int:
    """One alert for each schedule window that closed without any values (since admission,
    within the lookback)."""
    rows = db.execute(
        select(Episode, Pathway.schedule, Pathway.tolerance_minutes, MonitoringPlan)
        .join(Pathway, Pathway.id == Episode.pathway_id)
        .outerjoin(MonitoringPlan, MonitoringPlan.episode_id == Episode.id)
        .where(Episode.state == EpisodeState.ADMITTED)
    ).all()
    if not rows:
        return 0
    since = now - lookback
    measured: dict[uuid.UUID, list[datetime]] = {}
    for pid, at in db.execute(
        select(Observation.patient_id, Observation.measured_at)
        .where(Observation.patient_id.in_([e.patient_id for e, *_ in rows]),
               Observation.measured_at >= since - timedelta(hours=6))
    ):
        measured.setdefault(pid, []).append(at)
    known = set(db.scalars(select(Alert.dedupe_key).where(
        Alert.kind == "missed", Alert.created_at >= since - timedelta(hours=1))))
    raised = 0
    for episode, schedule, tolerance, plan in rows:
        times = plan.schedule if plan is not None and plan.schedule is not None else schedule
        if not times:
            continue
        minutes = (plan.tolerance_minutes if plan is not None and plan.tolerance_minutes
                   else tolerance)
        start = max(since, episode.admitted_at or since)
        for window in missed(windows(times, minutes, start, now), measured.get(
                episode.patient_id, []), now):
            key = f"missed:{episode.id}:{window.key}"
            if key in known:
                continue
            local = window.due.astimezone(STOCKHOLM)
            alert = raise_alert(
                db, episode=episode, kind="missed", severity="medium", now=now,
                reasons=[{"message": N_("No values in the %(time)s window on %(date)s"),
                          "params": {"time": local.strftime("%H:%M"),
                                     "date": local.strftime("%Y-%m-%d")},
                          "severity": "medium"}],
                dedupe_key=key)
            raised += alert is not None
    return raised


# --- Delivery ------------------------------------------------------------------------------


def _on_duty(db: Session, unit_id: int, role: str, now: datetime) -> list[int]:
    return list(db.scalars(
        select(DutyShift.staff_id).join(Staff, Staff.id == DutyShift.staff_id)
        .where(DutyShift.unit_id == unit_id, DutyShift.role == role,
               DutyShift.starts_at <= now, DutyShift.ends_at > now, Staff.active.is_(True))))


def _unit_staff(db: Session, unit_id: int, *professions: str) -> list[int]:
    return list(db.scalars(select(Staff.id).where(
        Staff.unit_id == unit_id, Staff.active.is_(True), Staff.profession.in_(professions))))


def recipients(db: Session, alert: Alert, level: int, now: datetime) -> list[int]:
    """Step 0: the unit's nurses on duty (with nobody rostered, all its nurses). Step 1: its
    physician on call (else the episode's responsible physician). Step 2 and on: every
    physician and nurse of the unit. A step with nobody on it falls through to the next, so
    someone always gets the alert."""
    for step in range(level, 3):
        if step == 0:
            found = _on_duty(db, alert.unit_id, "nurse", now) or \
                _unit_staff(db, alert.unit_id, Profession.NURSE)
        elif step == 1:
            found = _on_duty(db, alert.unit_id, "physician_on_call", now)
            if not found and alert.episode_id:
                physician = db.scalar(select(Episode.responsible_physician_id)
                                      .where(Episode.id == alert.episode_id))
                found = [physician] if physician else []
        else:
            found = _unit_staff(db, alert.unit_id, Profession.PHYSICIAN, Profession.NURSE)
        if found:
            return sorted(set(found))
    return []


@outbox.handler(TOPIC)
def _deliver_alert(db: Session, message: OutboxMessage, now: datetime) -> None:
    alert = db.get(Alert, uuid.UUID(message.payload["alert_id"]))
    if alert is None or alert.status == "resolved":
        return  # resolved before delivery: nothing to tell anyone
    level = int(message.payload.get("level", alert.escalation_level))
    people = recipients(db, alert, level, now)
    insert_ignoring_conflict(db, Notification, [
        {"outbox_id": message.id, "staff_id": staff_id, "alert_id": alert.id,
         "patient_id": alert.patient_id, "kind": f"alert.{message.payload['reason']}",
         "created_at": now} for staff_id in people], ["outbox_id", "staff_id"], report=False)
    _event(db, alert, "delivered", now, level=level,
           detail=f"{len(people)} recipient(s): " + ",".join(map(str, people)))
    live.announce(db)
    # Delivered when the notifications commit: the time since the alert was raised (or made
    # more severe, or escalated), which queued this message in the same transaction.
    queued, reason = message.created_at, str(message.payload.get("reason", "created"))
    on_commit(db, lambda: ALERT_DELIVERY_SECONDS.labels(reason).observe(
        max(0.0, (utcnow() - queued).total_seconds())))


@outbox.handler("alert.changed")
def _deliver_change(db: Session, message: OutboxMessage, now: datetime) -> None:
    """Acknowledged, snoozed or resolved: open inboxes, in every process, look again."""
    live.announce(db)
