"""Reading monitoring data as a user may see it: the alert inbox, the live events after a
given id, a patient's values and alerts. Every list decides access per patient and per
origin, and logs the patients it shows."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from hemma.access.policy import Decision, Subject
from hemma.access.service import decisions_for, log_listed, origin
from hemma.i18n import gettext, number
from hemma.i18n.labels import (
    ALERT_KINDS,
    NEWS2_BANDS,
    PARAMETERS,
    PRIORITY_LABELS,
    UNITS,
    label,
)
from hemma.kit.text import N_
from hemma.kit.time import format_local
from hemma.models import Alert, AlertEvent, Notification, Patient
from hemma.monitoring import visible
from hemma.monitoring.rules import SEVERITIES


def _measured(text, unit: str, signed: bool = False) -> str:
    """A value quoted in a reason ("38.9", "+2.4", stored as text) written the reader's way
    with its unit: 38,9 °C, +2,4 kg."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        return str(text)
    shown = number(value)
    if signed and value > 0:
        shown = "+" + shown
    if not unit:
        return shown
    return shown + unit if unit.startswith("/") else f"{shown}\u00a0{unit}"


def reason_text(reason: dict) -> str:
    params = dict(reason.get("params") or {})
    unit = UNITS.get(params.get("parameter"), "")
    for key in ("value", "limit", "change"):
        if key in params:
            params[key] = _measured(params[key], unit, signed=key == "change")
    if "parameter" in params:
        params["parameter"] = label(PARAMETERS, params["parameter"])
    if "band" in params:
        params["band"] = label(NEWS2_BANDS, params["band"])
    if "op" in params:
        params["op"] = {">=": "≥", "<=": "≤"}.get(params["op"], params["op"])
    for key, value in params.items():
        if isinstance(value, float):
            params[key] = number(value)
    return gettext(reason["message"], **params) if params else gettext(reason["message"])


# What a reader is shown instead of a reason quoting values they may not see.
HIDDEN_REASONS = {
    "organisation": N_("A value from another organisation"),
    "blocked": N_("A value from a unit whose information is blocked for you"),
}


def _rank(reason: dict) -> int:
    severity = reason.get("severity")
    return SEVERITIES.index(severity) if severity in SEVERITIES else -1


@dataclass
class AlertView:
    """An alert as one reader may see it: reasons quoting values of an origin the reader
    may not see (`hidden`: origin unit -> why) are shown without the values."""

    alert: Alert
    patient: Patient
    hidden: dict[int, str] = field(default_factory=dict)

    @property
    def time(self) -> datetime:
        """When its newest values were measured (a missed measurement: when it was raised)."""
        return self.alert.latest_value_at or self.alert.created_at

    @property
    def reasons(self) -> list[str]:
        """The most severe first (what the alert's priority rests on), then the newest; each
        with its time when the values joined at different times."""
        reasons = sorted(self.alert.reasons, key=lambda r: r.get("at") or "", reverse=True)
        reasons.sort(key=_rank, reverse=True)
        timed = len({r.get("at") for r in reasons if r.get("at")}) > 1
        seen, out = set(), []
        for r in reasons:
            why = next((self.hidden[u] for u in _origins(r) if u in self.hidden), None)
            if why is not None:
                text = gettext(HIDDEN_REASONS[why])
            else:
                text = reason_text(r)
                if timed and r.get("at"):
                    text += f" · {format_local(datetime.fromisoformat(r['at']), '%H:%M')}"
            if text not in seen:
                seen.add(text)
                out.append(text)
        return out

    def to_event(self) -> dict:
        a, p = self.alert, self.patient
        return {
            "id": str(a.id), "patient_id": str(p.id), "patient": f"{p.family_name}, {p.given_name}",
            "severity": a.severity, "severity_label": label(PRIORITY_LABELS, a.severity),
            "status": a.status, "kind": label(ALERT_KINDS, a.kind),
            "reasons": self.reasons, "created": format_local(a.created_at, "%H:%M"),
            "time": format_local(self.time, "%d/%m %H:%M"), "level": a.escalation_level,
        }


def _origins(reason: dict) -> list[int]:
    """The units whose values a reason quotes: all a NEWS2 combined, else the one measured."""
    return reason.get("units") or [reason.get("unit_id")]


def _hidden(db: Session, decision: Decision, alerts: list[Alert]) -> dict[int, str]:
    """The origins of these alerts' reasons that the reader may not see, and why."""
    out = {}
    for unit_id in {u for a in alerts for r in a.reasons for u in _origins(r)} - {None}:
        source = origin(db, unit_id)
        if not decision.sees(source):
            blocked = decision.facts is not None and unit_id in decision.facts.blocked_units
            out[unit_id] = "blocked" if blocked else "organisation"
    return out


def alert_view(db: Session, decision: Decision, alert: Alert,
               patient: Patient | None = None) -> AlertView:
    return AlertView(alert, patient or db.get(Patient, alert.patient_id),
                     _hidden(db, decision, [alert]))


def _visible(db: Session, decisions: dict[uuid.UUID, Decision], alerts: list[Alert]) -> list[Alert]:
    return [a for a in alerts
            if decisions.get(a.patient_id) and decisions[a.patient_id].sees(origin(db, a.unit_id))]


def inbox(db: Session, subject: Subject, *, include_resolved: bool = False,
          limit: int = 200) -> list[AlertView]:
    """Unresolved alerts routed to the user's unit or delivered to the user: open before
    acknowledged, the most severe first, then those with the newest values."""
    notified = select(Notification.alert_id).where(Notification.staff_id == subject.staff_id)
    stmt = select(Alert).where(or_(Alert.unit_id == subject.unit_id, Alert.id.in_(notified)))
    if not include_resolved:
        stmt = stmt.where(Alert.status.in_(("open", "acknowledged")))
    newest = func.coalesce(Alert.latest_value_at, Alert.created_at)
    alerts = list(db.scalars(stmt.order_by(newest.desc()).limit(limit)))
    decisions = decisions_for(db, subject, {a.patient_id for a in alerts})
    alerts = _visible(db, decisions, alerts)
    patients = {p.id: p for p in db.scalars(
        select(Patient).where(Patient.id.in_({a.patient_id for a in alerts})))} if alerts else {}
    log_listed(db, {pid: decisions[pid] for pid in patients}, "alert.inbox")
    views = [AlertView(a, patients[a.patient_id], _hidden(db, decisions[a.patient_id], [a]))
             for a in alerts]
    # Open first; then the highest severity (of all the values that joined); then the
    # newest values.
    views.sort(key=lambda v: v.time, reverse=True)
    views.sort(key=lambda v: (v.alert.status != "open", -SEVERITIES.index(v.alert.severity)))
    return views


def _feed(subject: Subject):
    """The alerts a user follows live: their unit's, and any delivered to them."""
    notified = select(Notification.alert_id).where(Notification.staff_id == subject.staff_id)
    return or_(Alert.unit_id == subject.unit_id, Alert.id.in_(notified))


def latest_event_id(db: Session, subject: Subject) -> int:
    return db.scalar(select(AlertEvent.id).join(Alert, Alert.id == AlertEvent.alert_id)
                     .where(_feed(subject)).order_by(AlertEvent.id.desc()).limit(1)) or 0


EVENTS_AT_ONCE = 200


def events_after(db: Session, subject: Subject, after_id: int, limit: int = EVENTS_AT_ONCE,
                 ids: Collection[int] | None = None) -> tuple[list[dict], int]:
    """What happened to the alerts the user follows after event `after_id` (or, given `ids`,
    in those events: the live feed's arrivals, which may be numbered below it): one event
    per alert, in its latest state; and the id to continue from. Alerts about patients the
    user may no longer see are skipped, not sent."""
    which = AlertEvent.id.in_(list(ids)) if ids is not None else AlertEvent.id > after_id
    rows = list(db.execute(
        select(AlertEvent.id, AlertEvent.kind, Alert).join(Alert, Alert.id == AlertEvent.alert_id)
        .where(which, _feed(subject))
        .order_by(AlertEvent.id).limit(limit)))
    if not rows:
        return [], after_id
    last = max(after_id, rows[-1][0])
    latest: dict[uuid.UUID, tuple[int, str, Alert]] = {}
    for event_id, kind, alert in rows:
        latest[alert.id] = (event_id, kind, alert)
    alerts = [a for _, _, a in latest.values()]
    decisions = decisions_for(db, subject, {a.patient_id for a in alerts})
    visible = {a.id for a in _visible(db, decisions, alerts)}
    patients = {p.id: p for p in db.scalars(
        select(Patient).where(Patient.id.in_({a.patient_id for a in alerts})))}
    paged = set(db.scalars(select(Notification.alert_id).where(
        Notification.staff_id == subject.staff_id, Notification.alert_id.in_(latest))))
    events, shown = [], {}
    for event_id, kind, alert in sorted(latest.values(), key=lambda x: x[0]):
        if alert.id not in visible:
            continue
        shown[alert.patient_id] = decision = decisions[alert.patient_id]
        event = AlertView(alert, patients[alert.patient_id],
                          _hidden(db, decision, [alert])).to_event()
        event.update(event_id=event_id, event=kind, paged=alert.id in paged)
        events.append(event)
    log_listed(db, shown, "alert.live")
    return events, last


def patient_alerts(db: Session, decision: Decision, patient_id: uuid.UUID,
                   unresolved_only: bool = False, limit: int = 50,
                   episode_id: uuid.UUID | None = None) -> list[AlertView]:
    stmt = select(Alert).where(Alert.patient_id == patient_id)
    if unresolved_only:
        stmt = stmt.where(Alert.status.in_(("open", "acknowledged")))
    if episode_id is not None:
        stmt = stmt.where(Alert.episode_id == episode_id)
    newest = func.coalesce(Alert.latest_value_at, Alert.created_at)
    alerts = [a for a in db.scalars(stmt.order_by(newest.desc()).limit(limit))
              if decision.sees(origin(db, a.unit_id))]
    patient = db.get(Patient, patient_id)
    hidden = _hidden(db, decision, alerts)
    return [AlertView(a, patient, hidden) for a in alerts]


def visible_observations(db: Session, decision: Decision, patient_id: uuid.UUID,
                         since: datetime, until: datetime | None = None) -> list:
    """The patient's values the user may see (their own organisation's, and others' with
    consent; values a municipal nurse took at a visit are the municipality's), each with the
    NEWS2 the user may be shown (`hemma.monitoring.visible`)."""
    return visible.observations(db, decision, patient_id, since, until).observations
