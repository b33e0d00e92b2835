"""Medical stability (pure): NEWS2 below 4 and no oxygen, from the newest value of each
parameter within a day; missing values are missing, never fine."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from hemma.assessments.stability import LOOK_BACK, PARAMETERS, assess, latest_values

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
CALM = dict(respiration_rate=16, spo2=97, on_oxygen=False, systolic_bp=128, pulse=78,
            consciousness="A", temperature=37.0)


@dataclass
class Obs:
    measured_at: datetime
    respiration_rate: int | None = None
    spo2: int | None = None
    on_oxygen: bool | None = None
    systolic_bp: int | None = None
    pulse: int | None = None
    consciousness: str | None = None
    temperature: float | None = None


def test_calm_values_are_stable():
    s = assess(latest_values([Obs(NOW - timedelta(hours=1), **CALM)], NOW))
    assert (s.status, s.news2_total, s.missing, s.reasons) == ("met", 0, [], [])


@pytest.mark.parametrize("name", PARAMETERS)
def test_any_missing_parameter_is_never_met(name):
    values = {k: v for k, v in CALM.items() if k != name}
    s = assess(latest_values([Obs(NOW - timedelta(hours=1), **values)], NOW))
    assert s.status == "not_assessed" and s.missing == [name]


def test_old_values_count_as_missing():
    s = assess(latest_values([Obs(NOW - LOOK_BACK - timedelta(minutes=1), **CALM)], NOW))
    assert s.status == "not_assessed" and set(s.missing) == set(PARAMETERS)
    assert s.news2_band is None  # never "low" on nothing


def test_future_values_are_ignored():
    s = assess(latest_values([Obs(NOW + timedelta(minutes=5), **CALM)], NOW))
    assert s.status == "not_assessed"


def test_oxygen_is_not_stable_even_with_values_missing():
    s = assess(latest_values([Obs(NOW - timedelta(hours=1), on_oxygen=True)], NOW))
    assert s.status == "not_met" and "Needs oxygen" in s.reasons


@pytest.mark.parametrize("change, total, status", [
    ({"respiration_rate": 21}, 2, "met"),
    ({"respiration_rate": 21, "pulse": 95}, 3, "met"),
    ({"respiration_rate": 21, "pulse": 95, "temperature": 38.5}, 4, "not_met"),
    ({"systolic_bp": 90}, 3, "met"),
    ({"consciousness": "C"}, 3, "met"),
    ({"consciousness": "C", "temperature": 35.5}, 4, "not_met"),
])
def test_news2_of_four_or_more_is_not_stable(change, total, status):
    s = assess(latest_values([Obs(NOW - timedelta(hours=1), **{**CALM, **change})], NOW))
    assert (s.news2_total, s.status) == (total, status)


def test_each_parameter_takes_its_newest_value_with_its_time():
    older = Obs(NOW - timedelta(hours=6), **{**CALM, "pulse": 130})
    newer = Obs(NOW - timedelta(hours=2), pulse=80)
    values = latest_values([newer, older], NOW)
    assert values["pulse"].value == 80 and values["pulse"].at == newer.measured_at
    assert values["spo2"].at == older.measured_at
    stored = assess(values).stored()
    assert stored["values"]["pulse"] == {"value": 80, "at": newer.measured_at.isoformat()}


def test_scale_two_scores_oxygen_saturation_by_its_own_chart():
    values = {**CALM, "spo2": 89}
    one = assess(latest_values([Obs(NOW, **values)], NOW), spo2_scale=1)
    two = assess(latest_values([Obs(NOW, **values)], NOW), spo2_scale=2)
    assert one.news2_total == 3 and two.news2_total == 0
