"""Medical stability for the snabbspår assessment, from the patient's latest values: NEWS2
below 4 and no need of oxygen.

Pure: the values come in with their times, the moment of the assessment with them. Each
NEWS2 parameter takes its newest value within the look-back; a parameter without one is
missing, and with anything missing the part is "not assessed" — never "met" on values nobody
took."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from hemma.kit.text import N_
from hemma.monitoring.news2 import score

# The parameters a NEWS2 needs, as observations carry them (air_or_oxygen is `on_oxygen`).
PARAMETERS = ("respiration_rate", "spo2", "on_oxygen", "systolic_bp", "pulse", "consciousness",
              "temperature")
# Values older than this say little about whether the patient is stable now.
LOOK_BACK = timedelta(hours=24)
NEWS2_LIMIT = 4  # NEWS2 of 4 or more: not stable enough for the home ward


@dataclass(frozen=True)
class Value:
    value: object
    at: datetime


@dataclass
class Stability:
    status: str  # met / not_met / not_assessed
    values: dict[str, Value] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    news2_total: int | None = None
    news2_band: str | None = None
    on_oxygen: bool | None = None
    reasons: list[str] = field(default_factory=list)  # msgids

    def stored(self) -> dict:
        """As kept with the assessment version (what the decision was based on)."""
        return {
            "status": self.status,
            "values": {k: {"value": v.value, "at": v.at.isoformat()} for k, v in self.values.items()},
            "missing": list(self.missing), "news2_total": self.news2_total,
            "news2_band": self.news2_band, "on_oxygen": self.on_oxygen,
            "reasons": list(self.reasons),
        }


def latest_values(observations, now: datetime) -> dict[str, Value]:
    """The newest value of each parameter within the look-back, from observations (objects
    with `measured_at` and the parameters as attributes), whatever order they come in."""
    since = now - LOOK_BACK
    out: dict[str, Value] = {}
    for o in observations:
        if not since <= o.measured_at <= now:
            continue
        for name in PARAMETERS:
            value = getattr(o, name, None)
            if value is None:
                continue
            if name not in out or o.measured_at > out[name].at:
                out[name] = Value(value, o.measured_at)
    return out


def assess(values: dict[str, Value], spo2_scale: int = 1) -> Stability:
    v = {k: x.value for k, x in values.items()}
    missing = [p for p in PARAMETERS if p not in values]
    result = score(respiration_rate=v.get("respiration_rate"), spo2=v.get("spo2"),
                   spo2_scale=spo2_scale, on_oxygen=v.get("on_oxygen"),
                   temperature=v.get("temperature"), systolic_bp=v.get("systolic_bp"),
                   pulse=v.get("pulse"), consciousness=v.get("consciousness"))
    reasons = []
    on_oxygen = v.get("on_oxygen")
    if on_oxygen:
        reasons.append(N_("Needs oxygen"))
    if result.total >= NEWS2_LIMIT:
        reasons.append(N_("NEWS2 is 4 or more"))
    if reasons:
        status = "not_met"  # a known reason is enough, whatever else is missing
    elif missing:
        status = "not_assessed"
        reasons.append(N_("Values are missing: stability cannot be judged"))
    else:
        status = "met"
    return Stability(status=status, values=dict(values), missing=missing,
                     news2_total=result.total, news2_band=result.band, on_oxygen=on_oxygen,
                     reasons=reasons)
