"""NEWS2 against the Royal College of Physicians' 2017 chart: every boundary of every
parameter, scale 1 and 2, on air and on oxygen; and properties that must hold for any input."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hemma.monitoring.news2 import BANDS, CONSCIOUSNESS, score

NORMAL = dict(respiration_rate=16, spo2=97, spo2_scale=1, on_oxygen=False, temperature=37.0,
              systolic_bp=125, pulse=70, consciousness="A")


def one(**changes):
    return score(**{**NORMAL, **changes})


# (value, points) on both sides of every boundary in Chart 1.
RESPIRATION = [(0, 3), (8, 3), (9, 1), (11, 1), (12, 0), (20, 0), (21, 2), (24, 2), (25, 3),
               (60, 3)]
SPO2_SCALE1 = [(70, 3), (91, 3), (92, 2), (93, 2), (94, 1), (95, 1), (96, 0), (100, 0)]
SPO2_SCALE2_AIR = [(70, 3), (83, 3), (84, 2), (85, 2), (86, 1), (87, 1), (88, 0), (92, 0),
                   (93, 0), (97, 0), (100, 0)]
SPO2_SCALE2_OXYGEN = [(70, 3), (83, 3), (84, 2), (85, 2), (86, 1), (87, 1), (88, 0), (92, 0),
                      (93, 1), (94, 1), (95, 2), (96, 2), (97, 3), (100, 3)]
SYSTOLIC = [(50, 3), (90, 3), (91, 2), (100, 2), (101, 1), (110, 1), (111, 0), (219, 0),
            (220, 3), (280, 3)]
PULSE = [(20, 3), (40, 3), (41, 1), (50, 1), (51, 0), (90, 0), (91, 1), (110, 1), (111, 2),
         (130, 2), (131, 3), (220, 3)]
TEMPERATURE = [(30.0, 3), (35.0, 3), (35.1, 1), (36.0, 1), (36.1, 0), (38.0, 0), (38.1, 1),
               (39.0, 1), (39.1, 2), (42.0, 2)]


@pytest.mark.parametrize("value,points", RESPIRATION)
def test_respiration_rate(value, points):
    assert one(respiration_rate=value).respiration_rate == points


@pytest.mark.parametrize("on_oxygen", [False, True])
@pytest.mark.parametrize("value,points", SPO2_SCALE1)
def test_spo2_scale_1_same_on_air_and_oxygen(value, points, on_oxygen):
    result = one(spo2=value, on_oxygen=on_oxygen)
    assert result.spo2 == points
    assert result.air_or_oxygen == (2 if on_oxygen else 0)


@pytest.mark.parametrize("value,points", SPO2_SCALE2_AIR)
def test_spo2_scale_2_on_air(value, points):
    assert one(spo2=value, spo2_scale=2, on_oxygen=False).spo2 == points


@pytest.mark.parametrize("value,points", SPO2_SCALE2_OXYGEN)
def test_spo2_scale_2_on_oxygen(value, points):
    result = one(spo2=value, spo2_scale=2, on_oxygen=True)
    assert result.spo2 == points and result.air_or_oxygen == 2


@pytest.mark.parametrize("value,points", SYSTOLIC)
def test_systolic_bp(value, points):
    assert one(systolic_bp=value).systolic_bp == points


@pytest.mark.parametrize("value,points", PULSE)
def test_pulse(value, points):
    assert one(pulse=value).pulse == points


@pytest.mark.parametrize("value,points", [("A", 0), ("C", 3), ("V", 3), ("P", 3), ("U", 3)])
def test_consciousness(value, points):
    assert one(consciousness=value).consciousness == points


@pytest.mark.parametrize("value,points", TEMPERATURE)
def test_temperature(value, points):
    assert one(temperature=value).temperature == points


@pytest.mark.parametrize("changes,total,band", [
    ({}, 0, "low"),
    ({"pulse": 95}, 1, "low"),
    ({"pulse": 95, "temperature": 38.5, "systolic_bp": 105, "spo2": 95}, 4, "low"),
    ({"respiration_rate": 8}, 3, "low-medium"),          # 3 in one parameter
    ({"consciousness": "C"}, 3, "low-medium"),           # new confusion alone
    ({"respiration_rate": 8, "pulse": 95}, 4, "low-medium"),
    ({"respiration_rate": 22, "pulse": 115, "temperature": 38.5}, 5, "medium"),
    ({"respiration_rate": 25, "pulse": 95, "temperature": 39.5}, 6, "medium"),
    ({"respiration_rate": 25, "on_oxygen": True, "pulse": 115}, 7, "high"),
    ({"respiration_rate": 5, "spo2": 80, "on_oxygen": True, "systolic_bp": 80, "pulse": 150,
      "consciousness": "U", "temperature": 34.0}, 20, "high"),
])
def test_totals_and_bands(changes, total, band):
    result = one(**changes)
    assert (result.total, result.band, result.partial) == (total, band, False)


def test_missing_values_make_a_partial_score_that_is_never_low():
    result = one(respiration_rate=None, temperature=None)
    assert result.partial and result.missing == ("respiration_rate", "temperature")
    assert result.band is None and result.total == 0
    # What is there can already show risk; it is a floor, not the score.
    worse = one(respiration_rate=None, consciousness="V")
    assert worse.partial and worse.band == "low-medium"
    # Scale 2 above 92 % cannot be scored without knowing about oxygen.
    assert one(spo2=95, spo2_scale=2, on_oxygen=None).spo2 is None


def test_invalid_arguments():
    with pytest.raises(ValueError):
        one(spo2_scale=3)
    with pytest.raises(ValueError):
        one(consciousness="X")


VALUES = dict(
    respiration_rate=st.integers(0, 80),
    spo2=st.integers(50, 100),
    spo2_scale=st.sampled_from([1, 2]),
    on_oxygen=st.booleans(),
    temperature=st.decimals(min_value=30, max_value=43, places=1).map(float),
    systolic_bp=st.integers(40, 300),
    pulse=st.integers(20, 250),
    consciousness=st.sampled_from(CONSCIOUSNESS),
)


@given(**VALUES)
def test_total_is_the_sum_and_band_follows_the_rules(**values):
    result = score(**values)
    points = [p for p in result.parameters.values()]
    assert all(p in (0, 1, 2, 3) for p in points)
    assert result.total == sum(points) and 0 <= result.total <= 20
    assert result.band in BANDS
    if result.total >= 7:
        assert result.band == "high"
    elif result.total >= 5:
        assert result.band == "medium"
    elif 3 in points:
        assert result.band == "low-medium"
    else:
        assert result.band == "low"


@given(**VALUES)
def test_oxygen_never_lowers_the_score(**values):
    on_air = score(**{**values, "on_oxygen": False})
    on_o2 = score(**{**values, "on_oxygen": True})
    assert on_o2.total >= on_air.total + 2
    if values["spo2_scale"] == 1:
        assert on_o2.total == on_air.total + 2


@given(**VALUES, drop=st.sets(st.sampled_from(["respiration_rate", "spo2", "temperature",
                                                 "systolic_bp", "pulse", "consciousness"]),
                                min_size=1))
def test_partial_scores_are_floors(drop, **values):
    full = score(**values)
    partial = score(**{**values, **{k: None for k in drop}})
    assert partial.partial and partial.total <= full.total
    assert partial.band != "low"
    if partial.band is not None:
        assert BANDS.index(partial.band) <= BANDS.index(full.band)
