"""Alert rules and measurement schedules: pure functions of values, rules and times.

A pathway (vårdprogram) sets default rules and a schedule; a clinician may override them for
one patient. Rules are data (JSON in the database), so a new threshold is a setting, not a
deploy. Times are passed in: no clock here.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from hemma.kit.text import N_
from hemma.kit.time import STOCKHOLM, at_local, ensure_utc, parse_clock
from hemma.monitoring.news2 import News2

SEVERITIES = ("low", "medium", "high", "critical")
VALUE_PARAMETERS = ("respiration_rate", "spo2", "temperature", "systolic_bp", "diastolic_bp",
                    "pulse", "weight", "blood_glucose", "pain")
OPERATORS = {">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b,
             ">": lambda a, b: a > b, "<": lambda a, b: a < b}

log = logging.getLogger("hemma.rules")

# Bounds of every rule: a limit or change beyond a thousand units of any parameter, or a change
# looked for over more than a month of values, is a typo (or a probe), never a clinical rule.
MAX_RULE_VALUE = 1000.0
MAX_WITHIN_HOURS = 24 * 31
MAX_KEY_LENGTH = 60

# The RCP's clinical response to each NEWS2 band, as alert severities: low-medium (a 3 in one
# parameter) needs an urgent ward-based response, medium an urgent response, high an
# emergency response.
NEWS2_SEVERITY = {"low-medium": "medium", "medium": "high", "high": "critical"}


def max_severity(*severities: str | None) -> str | None:
    present = [s for s in severities if s]
    return max(present, key=SEVERITIES.index) if present else None


class RuleError(ValueError):
    """A rule that cannot be evaluated (a setting error, not a patient's input)."""


@dataclass(frozen=True)
class Rule:
    """`parameter op value` on one observation, or with `within_hours`, the change of a
    parameter against the earliest value in that window (e.g. weight +2 kg in 3 days)."""

    key: str
    parameter: str
    op: str
    value: float
    severity: str
    within_hours: float | None = None

    def __post_init__(self):
        if not self.key or len(self.key) > MAX_KEY_LENGTH:
            raise RuleError("a rule needs a short key")
        if not (math.isfinite(self.value) and abs(self.value) <= MAX_RULE_VALUE):
            raise RuleError(f"value {self.value} out of bounds")
        if self.within_hours is not None and not (
                math.isfinite(self.within_hours) and 0 < self.within_hours <= MAX_WITHIN_HOURS):
            raise RuleError(f"within_hours {self.within_hours} out of bounds")
        if self.parameter not in VALUE_PARAMETERS:
            raise RuleError(f"unknown parameter {self.parameter}")
        if self.op not in OPERATORS:
            raise RuleError(f"unknown operator {self.op}")
        if self.severity not in SEVERITIES:
            raise RuleError(f"unknown severity {self.severity}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Rule:
        return cls(key=str(data["key"]), parameter=data["parameter"], op=data["op"],
                   value=float(data["value"]), severity=data["severity"],
                   within_hours=float(data["within_hours"]) if data.get("within_hours") else None)

    def to_dict(self) -> dict[str, Any]:
        out = {"key": self.key, "parameter": self.parameter, "op": self.op,
               "value": self.value, "severity": self.severity}
        if self.within_hours:
            out["within_hours"] = self.within_hours
        return out


def effective_rules(pathway_rules: list[dict], overrides: list[dict]) -> list[Rule]:
    """The pathway's rules with the patient's overrides: same key replaces, a new key adds, an
    override with `"disabled": true` removes.

    Rules are checked on the way in, but one stored before the bounds existed (or edited in
    the database) must not stop every later value of the patient from being recorded: such a
    rule is left out and logged, and the others still hold."""
    merged: dict[str, Any] = {}
    for r in [*(pathway_rules or []), *(overrides or [])]:
        key = r.get("key") if isinstance(r, dict) else None
        if not isinstance(key, str):
            log.error("an alert rule without a key is ignored: %r", r)
        elif r.get("disabled"):
            merged.pop(key, None)
        else:
            merged[key] = r
    rules = []
    for r in merged.values():
        try:
            rules.append(Rule.from_dict(r))
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            log.error("alert rule %r cannot be evaluated and is ignored: %s", r.get("key"), exc)
    return rules


@dataclass(frozen=True)
class Reason:
    """Why an alert was raised: a msgid and its values, translated where shown."""

    message: str
    params: dict = field(default_factory=dict)
    severity: str = "low"
    topic: str = ""  # what it is about ("news2", "rule:<key>", ...): a newer one replaces it

    def to_dict(self) -> dict:
        return {"message": self.message, "params": self.params, "severity": self.severity,
                "topic": self.topic or self.message}


@dataclass(frozen=True)
class Evaluation:
    reasons: tuple[Reason, ...]

    @property
    def severity(self) -> str | None:
        return max_severity(*(r.severity for r in self.reasons))


def evaluate(
    values: dict[str, Any],
    news2: News2 | None,
    rules: list[Rule],
    history: dict[str, list[tuple[datetime, float]]] | None = None,
    *,
    feeling_worse: bool = False,
    measured_at: datetime | None = None,
    symptoms: dict[str, Any] | None = None,
    questions: list[dict] | None = None,
) -> Evaluation:
    """What is worrying about one observation. `history` holds earlier values per parameter
    (time, value), for rules about change; `questions` are the pathway's symptom questions,
    those with an "alert" severity raise one when answered yes."""
    reasons: list[Reason] = []
    if feeling_worse:
        reasons.append(Reason(N_("The patient reports feeling worse"), {}, "high", "worse"))
    for question in questions or []:
        severity = question.get("alert")
        if severity in SEVERITIES and (symptoms or {}).get(question["key"]) is True:
            reasons.append(Reason(N_("The patient answers yes: %(question)s"),
                                  {"question": question["text"]}, severity,
                                  f"symptom:{question['key']}"))
    if news2 is not None and news2.band in NEWS2_SEVERITY:
        message = N_("NEWS2 %(total)s (%(band)s)") if not news2.partial else \
            N_("NEWS2 at least %(total)s (%(band)s, incomplete)")
        reasons.append(Reason(message, {"total": news2.total, "band": news2.band},
                              NEWS2_SEVERITY[news2.band], "news2"))
    for rule in rules:
        value = values.get(rule.parameter)
        if value is None:
            continue
        if rule.within_hours:
            if measured_at is None or not history:
                continue
            since = measured_at - timedelta(hours=rule.within_hours)
            earlier = [(t, v) for t, v in history.get(rule.parameter, []) if since <= t < measured_at]
            if not earlier:
                continue
            baseline = min(earlier)[1]
            change = float(value) - baseline
            if OPERATORS[rule.op](change, rule.value):
                reasons.append(Reason(
                    N_("%(parameter)s changed by %(change)s in %(hours)s hours"),
                    {"parameter": rule.parameter, "change": f"{change:+g}",
                     "hours": f"{rule.within_hours:g}"}, rule.severity, f"rule:{rule.key}"))
        elif OPERATORS[rule.op](float(value), rule.value):
            reasons.append(Reason(
                N_("%(parameter)s %(value)s (limit %(op)s %(limit)s)"),
                {"parameter": rule.parameter, "value": f"{float(value):g}", "op": rule.op,
                 "limit": f"{rule.value:g}"}, rule.severity, f"rule:{rule.key}"))
    return Evaluation(tuple(reasons))


# --- Schedules -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """When a scheduled measurement is due: `due` ± tolerance, in absolute time."""

    due: datetime
    start: datetime
    end: datetime

    @property
    def key(self) -> str:
        return self.due.strftime("%Y-%m-%dT%H:%MZ")


def windows(times: list[str], tolerance_minutes: int, start: datetime,
            end: datetime) -> list[Window]:
    """Every window whose due time (Swedish wall-clock, e.g. 08:00) lies in [start, end).
    Each local day is walked separately, so 08:00 stays 08:00 across daylight-saving
    changes; the tolerance is absolute minutes around it."""
    start, end = ensure_utc(start), ensure_utc(end)
    tolerance = timedelta(minutes=tolerance_minutes)
    first: date = start.astimezone(STOCKHOLM).date() - timedelta(days=1)
    last: date = end.astimezone(STOCKHOLM).date() + timedelta(days=1)
    clocks = sorted(parse_clock(t) for t in times)
    out = []
    day = first
    while day <= last:
        for clock in clocks:
            due = at_local(day, clock)
            if start <= due < end:
                out.append(Window(due, due - tolerance, due + tolerance))
        day += timedelta(days=1)
    return out


def missed(all_windows: list[Window], measured: list[datetime], now: datetime) -> list[Window]:
    """Windows that have closed with no measurement inside them."""
    now = ensure_utc(now)
    times = sorted(ensure_utc(t) for t in measured)
    out = []
    for w in all_windows:
        if w.end > now:
            continue
        if not any(w.start <= t <= w.end for t in times):
            out.append(w)
    return out
