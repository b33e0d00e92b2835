"""Alert rules and measurement schedules, including the last Sundays of March and October."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hemma.kit.time import STOCKHOLM
from hemma.monitoring.news2 import score
from hemma.monitoring.rules import Rule, effective_rules, evaluate, missed, windows

OPAT = [{"key": "fever", "parameter": "temperature", "op": ">=", "value": 38.5,
         "severity": "high"}]
HEART_FAILURE = [{"key": "weight_gain", "parameter": "weight", "op": ">=", "value": 2,
                  "within_hours": 72, "severity": "medium"}]
T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


def _news(**kw):
    base = dict(respiration_rate=16, spo2=97, spo2_scale=1, on_oxygen=False, temperature=37.0,
                systolic_bp=125, pulse=70, consciousness="A")
    return score(**{**base, **kw})


def test_threshold_rule_and_severity():
    rules = effective_rules(OPAT, [])
    ok = evaluate({"temperature": 38.4}, _news(temperature=38.4), rules)
    assert ok.reasons == () and ok.severity is None
    fever = evaluate({"temperature": 38.5}, _news(temperature=38.5), rules)
    assert fever.severity == "high"
    assert fever.reasons[0].params == {"parameter": "temperature", "value": "38.5", "op": ">=",
                                       "limit": "38.5"}


def test_change_rule_uses_the_window():
    rules = effective_rules(HEART_FAILURE, [])
    history = {"weight": [(T0 - timedelta(hours=80), 70.0), (T0 - timedelta(hours=70), 71.0),
                          (T0 - timedelta(hours=10), 72.5)]}
    result = evaluate({"weight": 73.0}, None, rules, history, measured_at=T0)
    assert result.severity == "medium"  # 71.0 → 73.0 within 72 h
    calm = evaluate({"weight": 72.9}, None, rules, history, measured_at=T0)
    assert calm.reasons == ()
    assert evaluate({"weight": 90}, None, rules, {}, measured_at=T0).reasons == ()


def test_news2_bands_and_feeling_worse():
    assert evaluate({}, _news(), []).severity is None
    assert evaluate({}, _news(respiration_rate=8), []).severity == "medium"
    assert evaluate({}, _news(respiration_rate=22, pulse=115, temperature=38.5), []).severity \
        == "high"
    assert evaluate({}, _news(respiration_rate=25, on_oxygen=True, pulse=115), []).severity \
        == "critical"
    assert evaluate({}, _news(), [], feeling_worse=True).severity == "high"
    partial = evaluate({}, _news(consciousness=None, respiration_rate=5), [])
    assert "incomplete" in partial.reasons[0].message


def test_patient_overrides_replace_add_and_remove():
    override = [{"key": "fever", "parameter": "temperature", "op": ">=", "value": 38.0,
                 "severity": "medium"},
                {"key": "low_bp", "parameter": "systolic_bp", "op": "<", "value": 95,
                 "severity": "high"}]
    rules = {r.key: r for r in effective_rules(OPAT, override)}
    assert rules["fever"].value == 38.0 and rules["low_bp"].op == "<"
    assert effective_rules(OPAT, [{"key": "fever", "disabled": True}]) == []
    with pytest.raises(ValueError):
        Rule(key="x", parameter="mood", op=">=", value=1, severity="high")


def _local(y, m, d, hh, mm=0):
    return datetime(y, m, d, hh, mm, tzinfo=STOCKHOLM)


@pytest.mark.parametrize("day,offset_before,offset_after", [
    ((2026, 3, 29), 1, 2),    # last Sunday of March: summer time starts at 02:00
    ((2026, 10, 25), 2, 1),   # last Sunday of October: summer time ends at 03:00
])
def test_schedule_keeps_wall_clock_times_across_daylight_saving(day, offset_before,
                                                                offset_after):
    y, m, d = day
    start = _local(y, m, d - 1, 0)
    end = _local(y, m, d + 1, 23, 59)
    found = windows(["08:00", "14:00", "20:00"], 60, start, end)
    assert len(found) == 9  # three days, three measurements each, none lost or doubled
    for w in found:
        local = w.due.astimezone(STOCKHOLM)
        assert (local.hour, local.minute) in ((8, 0), (14, 0), (20, 0))
        assert w.end - w.start == timedelta(hours=2)
    before = [w for w in found if w.due.astimezone(STOCKHOLM).day == d - 1]
    after = [w for w in found if w.due.astimezone(STOCKHOLM).day == d]
    assert before[0].due.hour == 8 - offset_before  # 08:00 local in UTC
    assert after[0].due.hour == 8 - offset_after


def test_a_night_time_schedule_on_the_short_and_the_long_night():
    # 02:30 does not exist on the short night and happens twice on the long one: one window
    # each night, never two and never none.
    for y, m, d in ((2026, 3, 29), (2026, 10, 25)):
        found = windows(["02:30"], 30, _local(y, m, d, 0), _local(y, m, d, 12))
        assert len(found) == 1


def test_missed_windows_raise_once_each():
    start = _local(2026, 11, 30, 0)
    all_windows = windows(["08:00", "14:00", "20:00"], 60, start, start + timedelta(days=1))
    measured = [_local(2026, 11, 30, 8, 45)]  # inside the 08:00 window
    now = _local(2026, 11, 30, 16)
    gaps = missed(all_windows, measured, now)
    assert [w.due.astimezone(STOCKHOLM).hour for w in gaps] == [14]
    # The 20:00 window has not closed yet; at 21:01 it has.
    assert len(missed(all_windows, measured, _local(2026, 11, 30, 21, 1))) == 2
    # A measurement exactly at the edge counts.
    assert missed(all_windows, [_local(2026, 11, 30, 15)], now) == [all_windows[0]]


def test_symptom_questions_alert_on_yes():
    questions = [{"key": "chills", "text": "Har du haft frossa?", "alert": "high"},
                 {"key": "legs", "text": "Svullna ben?"}]
    assert evaluate({}, None, [], symptoms={"chills": False, "legs": True},
                    questions=questions).reasons == ()
    result = evaluate({}, None, [], symptoms={"chills": True}, questions=questions)
    assert result.severity == "high"
    assert result.reasons[0].params == {"question": "Har du haft frossa?"}
