"""NEWS2, exactly as the Royal College of Physicians' 2017 chart: pure, no clock, no database.

    score(respiration_rate=…, spo2=…, spo2_scale=1, on_oxygen=False, temperature=…,
          systolic_bp=…, pulse=…, consciousness="A")

A parameter given as None is missing: the result is then `partial`, lists what is missing,
and never claims the patient is low risk (its band is None unless the parameters that are
there already put the patient at low-medium or above — more values can only add points).
"""

from __future__ import annotations

from dataclasses import dataclass, field

BANDS = ("low", "low-medium", "medium", "high")
CONSCIOUSNESS = ("A", "C", "V", "P", "U")  # ACVPU: alert, new Confusion, Voice, Pain, Unresponsive
PARAMETERS = ("respiration_rate", "spo2", "air_or_oxygen", "systolic_bp", "pulse",
              "consciousness", "temperature")


class News2Error(ValueError):
    """Called with arguments outside the chart (a programming error, not bad patient data)."""


@dataclass(frozen=True)
class News2:
    total: int
    band: str | None  # None only when partial and nothing yet shows more than low risk
    respiration_rate: int | None
    spo2: int | None
    air_or_oxygen: int | None
    systolic_bp: int | None
    pulse: int | None
    consciousness: int | None
    temperature: int | None
    missing: tuple[str, ...] = field(default_factory=tuple)

    @property
    def partial(self) -> bool:
        return bool(self.missing)

    @property
    def parameters(self) -> dict[str, int | None]:
        return {name: getattr(self, name) for name in PARAMETERS}

    @property
    def red_score(self) -> bool:
        """A score of 3 in any single parameter."""
        return any(v == 3 for v in self.parameters.values())


def _respiration(rate: float) -> int:
    if rate <= 8:
        return 3
    if rate <= 11:
        return 1
    if rate <= 20:
        return 0
    if rate <= 24:
        return 2
    return 3


def _spo2_scale1(spo2: float) -> int:
    if spo2 <= 91:
        return 3
    if spo2 <= 93:
        return 2
    if spo2 <= 95:
        return 1
    return 0


def _spo2_scale2(spo2: float, on_oxygen: bool) -> int:
    # Scale 2 is only for confirmed hypercapnic respiratory failure, prescribed by a
    # physician: the target is 88–92 %, and high saturation on oxygen scores too.
    if spo2 <= 83:
        return 3
    if spo2 <= 85:
        return 2
    if spo2 <= 87:
        return 1
    if spo2 <= 92 or not on_oxygen:
        return 0
    if spo2 <= 94:
        return 1
    if spo2 <= 96:
        return 2
    return 3


def _systolic(bp: float) -> int:
    if bp <= 90:
        return 3
    if bp <= 100:
        return 2
    if bp <= 110:
        return 1
    if bp <= 219:
        return 0
    return 3


def _pulse(pulse: float) -> int:
    if pulse <= 40:
        return 3
    if pulse <= 50:
        return 1
    if pulse <= 90:
        return 0
    if pulse <= 110:
        return 1
    if pulse <= 130:
        return 2
    return 3


def _temperature(temp: float) -> int:
    if temp <= 35.0:
        return 3
    if temp <= 36.0:
        return 1
    if temp <= 38.0:
        return 0
    if temp <= 39.0:
        return 1
    return 2


def band_for(total: int, red_score: bool) -> str:
    if total >= 7:
        return "high"
    if total >= 5:
        return "medium"
    if red_score:
        return "low-medium"
    return "low"


def score(
    *,
    respiration_rate: float | None,
    spo2: float | None,
    spo2_scale: int,
    on_oxygen: bool | None,
    temperature: float | None,
    systolic_bp: float | None,
    pulse: float | None,
    consciousness: str | None,
) -> News2:
    if spo2_scale not in (1, 2):
        raise News2Error("spo2_scale must be 1 or 2")
    if consciousness is not None and consciousness not in CONSCIOUSNESS:
        raise News2Error("consciousness must be one of A, C, V, P, U")
    if spo2 is None:
        spo2_points = None
    elif spo2_scale == 2:
        # On scale 2 the oxygen question decides the upper range; unknown is scored as air
        # only when the saturation makes it irrelevant.
        spo2_points = None if on_oxygen is None and spo2 >= 93 else \
            _spo2_scale2(spo2, bool(on_oxygen))
    else:
        spo2_points = _spo2_scale1(spo2)
    points = {
        "respiration_rate": None if respiration_rate is None else _respiration(respiration_rate),
        "spo2": spo2_points,
        "air_or_oxygen": None if on_oxygen is None else (2 if on_oxygen else 0),
        "systolic_bp": None if systolic_bp is None else _systolic(systolic_bp),
        "pulse": None if pulse is None else _pulse(pulse),
        "consciousness": None if consciousness is None else (0 if consciousness == "A" else 3),
        "temperature": None if temperature is None else _temperature(temperature),
    }
    missing = tuple(name for name in PARAMETERS if points[name] is None)
    total = sum(v for v in points.values() if v is not None)
    band = band_for(total, any(v == 3 for v in points.values()))
    if missing and band == "low":
        band = None  # never "low" on incomplete data
    return News2(total=total, band=band, missing=missing, **points)
