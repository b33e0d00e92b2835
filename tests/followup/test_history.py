"""The history model (hemma.followup.history): the same seed gives the same history, its
figures fall in the ranges its docstring gives (counted with the follow-up's own measures),
and what it makes hangs together — beds, times of day, alerts and their readings."""

from __future__ import annotations

import statistics
import types
from collections import Counter
from datetime import date, timedelta

import pytest

from hemma.followup import history as h
from hemma.followup import measures as m
from hemma.kit.time import at_local, local, local_date

START, END = date(2025, 1, 1), date(2026, 1, 1)
WARD, PALLIATIVE = 1, 2


def units(scale: int = 1) -> list[h.UnitSpec]:
    """A home ward with the hospital's mix and a palliative one, `scale` times larger."""
    return [
        h.UnitSpec(WARD, beds=12 * scale, arrivals_per_day=1.5 * scale,
                   mix=(("opat", 0.35), ("heart_failure", 0.25), ("copd", 0.2),
                        ("general", 0.2)),
                   staff=(11, 12, 13, 14), on_duty=2),
        h.UnitSpec(PALLIATIVE, beds=6 * scale, arrivals_per_day=0.3 * scale,
                   mix=(("palliative", 0.85), ("general", 0.15)), staff=(21, 22, 23),
                   on_duty=2, km_per_visit=28),
    ]


@pytest.fixture(scope="module")
def big():
    """A year of both units at four times their size: thousands of episodes."""
    history = h.History(20261204, units(4), h.BUILTIN, START, END)
    return history, h.to_facts(history)


YEAR = m.Period(START, END)


def figures(facts: m.Facts, unit: int, beds: int, period: m.Period = YEAR):
    return m.figures(m.totals(m.days(facts, END), period, m.Scope(frozenset({unit}))),
                     period_days=period.days, beds=beds, bed_day_cost=8483)


QUARTER = date(2025, 4, 1)


def test_the_same_seed_gives_the_same_history_and_another_seed_another():
    first = h.History(7, units(), h.BUILTIN, START, QUARTER)
    again = h.History(7, units(), h.BUILTIN, START, QUARTER)
    other = h.History(8, units(), h.BUILTIN, START, QUARTER)
    assert first.episodes == again.episodes and first.patients == again.patients
    assert first.episodes != other.episodes
    for kind in ("observations", "alerts", "visits", "plans", "messages", "handovers", "prem"):
        a, b = list(getattr(first, kind)()), list(getattr(again, kind)())
        assert a and a == b, kind
    # Each kind is made on its own: reading alerts first changes nothing in the values.
    fresh = h.History(7, units(), h.BUILTIN, START, QUARTER)
    assert list(fresh.alerts()) == list(first.alerts())
    assert list(fresh.observations()) == list(first.observations())


def test_kinds_are_made_lazily_and_in_portions():
    history = h.History(7, units(), h.BUILTIN, START, QUARTER)
    observations = history.observations()
    assert isinstance(observations, types.GeneratorType)
    portions = list(h.chunked(observations, 1000))
    assert all(len(p) == 1000 for p in portions[:-1]) and 0 < len(portions[-1]) <= 1000
    assert sum(map(len, portions)) == sum(1 for _ in history.observations())


def test_stays_returns_and_readmissions_are_in_the_documented_ranges(big):
    history, facts = big
    ward = figures(facts, WARD, 48)
    palliative = figures(facts, PALLIATIVE, 24)
    nights = {u: [(local_date(e.ended_at) - local_date(e.admitted_at)).days
                  for e in history.episodes if e.unit_id == u and e.admitted_at]
              for u in (WARD, PALLIATIVE)}
    assert 5 <= statistics.median(nights[WARD]) <= 8
    assert 11 <= statistics.median(nights[PALLIATIVE]) <= 22
    assert ward["episodes_started"].value > 1500
    assert 0.05 <= ward["return_rate"].value <= 0.15
    assert 0.05 <= ward["readmission_rate"].value <= 0.15
    assert 0.55 <= ward["occupancy"].value <= 0.9 and 0.5 <= palliative["occupancy"].value <= 0.9
    assert ward["deaths_expected"].value < 0.01 * ward["episodes_ended"].value
    ended = Counter(e.end_reason for e in history.episodes
                    if e.unit_id == PALLIATIVE and e.state == "discharged")
    assert 0.5 <= ended["death_expected"] / sum(ended.values()) <= 0.75
    assert set(ward["returns"].parts) <= set(r for r, _w in h.RETURN_REASONS)
    assert ward["criteria_override"].value > 0


def test_monitoring_is_in_the_documented_ranges(big):
    _history, facts = big
    f = figures(facts, WARD, 48)
    assert 0.78 <= f["adherence"].value <= 0.9
    assert 0.4 <= f["alerts_per_day"].value <= 1.2
    assert set(f["alerts_per_day"].parts) == set(m.SEVERITIES)
    parts = f["alerts_per_day"].parts
    assert parts["critical"]["n"] < parts["medium"]["n"]
    assert 10 <= f["ack_p50"].value <= 40 and 30 <= f["ack_p90"].value <= 150
    # Slower at night than in the day, and the most urgent fastest.
    hours = f["ack_p90"].parts["hours"]
    assert hours[3]["p50"] > hours[10]["p50"]
    severities = f["ack_p50"].parts
    assert severities["critical"]["p50"] < severities["high"]["p50"] < severities["low"]["p50"]
    assert 0 < f["escalations"].value and 0 < f["missed"].value


def test_visits_messages_handovers_and_prem_are_in_the_documented_ranges(big):
    history, facts = big
    f = figures(facts, WARD, 48)
    assert 0.92 <= f["visits_done"].value <= 0.99
    assert 0.8 <= f["punctuality"].value <= 0.95
    assert 15 <= f["km_per_visit"].value <= 35
    assert 1 <= f["continuity"].value <= 3
    assert f["visits_urgent"].value > 0 and f["visits_not_done"].parts
    assert 0.78 <= f["messages_in_goal"].value <= 0.95
    assert 0.92 <= f["handovers_confirmed"].value <= 0.99
    alive = sum(1 for e in history.episodes if e.unit_id == WARD and e.state == "discharged"
                and e.end_reason not in m.DEATHS)
    assert 0.3 <= f["prem_responses"].value / alive <= 0.45
    answers = f["prem_responses"].parts["safe"]
    mean = sum(score * n for score, n in answers.items()) / sum(answers.values())
    assert 4.0 <= mean <= 4.6  # skewed positive


def test_beds_are_never_more_than_the_unit_has_nor_a_patient_in_two_places(big):
    history, _facts = big
    for unit, beds in ((WARD, 48), (PALLIATIVE, 24)):
        moments = sorted([(e.admitted_at, 1) for e in history.episodes
                          if e.unit_id == unit and e.admitted_at]
                         + [(e.ended_at, -1) for e in history.episodes
                            if e.unit_id == unit and e.admitted_at])
        at_home = 0
        for _at, step in moments:
            at_home += step
            assert at_home <= beds
    by_patient: dict[int, list] = {}
    for e in history.episodes:
        by_patient.setdefault(e.patient, []).append(e)
    for own in by_patient.values():
        own.sort(key=lambda e: e.assessed_at)
        for before, after in zip(own, own[1:], strict=False):
            assert before.ended_at <= after.assessed_at


def test_the_beds_others_hold_are_left_to_them():
    """Ten patients at home on the last twelve days (the demo's own) leave two beds."""
    end = END
    busy = tuple((local_date_at(end - timedelta(days=12)), None) for _ in range(10))
    spec = [h.UnitSpec(WARD, beds=12, arrivals_per_day=3,
                       mix=(("general", 1.0),), busy=busy)]
    history = h.History(3, spec, h.BUILTIN, START, END)
    last = [e for e in history.episodes if e.admitted_at and e.ended_at
            > local_date_at(end - timedelta(days=11))]
    moments = sorted([(e.admitted_at, 1) for e in last] + [(e.ended_at, -1) for e in last])
    at_home = 0
    for _at, step in moments:
        at_home += step
        assert at_home <= 2


def local_date_at(day: date):
    return at_local(day, "12:00")


def test_everything_happens_inside_the_history_and_at_its_hours():
    history = h.History(11, units(), h.BUILTIN, START, END)
    until = history.until
    weekday_assessments = [local(e.assessed_at).hour for e in history.episodes
                           if local(e.assessed_at).weekday() < 5]
    assert min(weekday_assessments) >= 8 and max(weekday_assessments) <= 15
    discharges = [local(e.ended_at) for e in history.episodes if e.end_reason == "completed"]
    assert all(9 <= d.hour <= 14 for d in discharges)
    assert sum(d.weekday() >= 5 for d in discharges) < 0.2 * len(discharges)
    for e in history.episodes:
        assert e.ended_at < until and (e.admitted_at is None or e.assessed_at < e.admitted_at
                                       < e.ended_at)
    observations = {o.key: o for o in history.observations()}
    assert all(o.measured_at < o.received_at for o in observations.values())
    for a in history.alerts():
        assert a.created_at < until and a.resolved_at < until
        assert a.acknowledged_at is None or a.created_at < a.acknowledged_at <= a.resolved_at
        episode = history.by_key[a.episode]
        assert episode.admitted_at <= a.created_at <= episode.ended_at
        if a.observation is not None:
            # The reading says what the alert says.
            reading = observations[a.observation]
            if a.cause == "news2" and a.severity == "critical":
                assert reading.news2_total >= 7
            elif a.cause == "fever":
                assert reading.values["temperature"] >= 38.5
            elif a.cause == "worse":
                assert reading.feeling_worse
        if a.acknowledged_at is not None:
            waited = (a.acknowledged_at - a.created_at).total_seconds() / 60
            assert a.escalation_level == sum(
                1 for total in _cumulative(h.ESCALATION[a.severity]) if waited > total)
    for vd in history.visit_days():
        assert START <= vd.plan.day < END
        for v in vd.visits:
            assert v.earliest < v.latest and (v.status == "done") == (v.started_at is not None)
            assert (v.status == "not_done") == (v.not_done_code is not None)
    for msg in history.messages():
        assert msg.created_at < msg.read_at <= msg.answered_at < until
        assert local(msg.due_at).hour in range(8, 18)
    for ho in history.handovers():
        assert ho.received_at is None or ho.created_at < ho.received_at < until
    for r in history.prem():
        assert r.answered_at < until and set(r.answers) <= set(h.PREM_KEYS)
        assert all(1 <= s <= 5 for s in r.answers.values())


def _cumulative(steps):
    total = 0
    for step in steps:
        total += step
        yield total


def test_values_for_an_episode_outside_the_history_are_stable():
    history = h.History(5, units(), h.BUILTIN, START, END)
    outside = h.Episode(-1, -1, WARD, "opat", "discharged", local_date_at(START),
                        local_date_at(START + timedelta(days=1)),
                        local_date_at(START + timedelta(days=8)), "completed", False, None,
                        False, False, None)
    readings = history.stable_observations(outside)
    assert 10 <= len(readings) <= 21  # three a day for a week, most of them
    assert all(o.news2_band == "low" or o.news2_band is None for o in readings)
    assert all(o.values["temperature"] < 38.5 for o in readings)


def test_the_region_is_five_thousand_episodes_twenty_million_values_and_300000_visits():
    region = h.region(1, START, END)
    assert 4750 <= len(region.episodes) <= 5250
    # Observations: what the devices send (counted from the stays) and the readings of a
    # sample of episodes; visits: two weeks of a year.
    scale = region.scale
    device = sum((e.ended_at - e.admitted_at).total_seconds() / 60 / scale.device_minutes
                 for e in region.episodes if e.device) * 0.98
    sample = region.episodes[::100]
    readings = sum(len(region.monitoring(e)[0]) for e in sample) * 100
    assert 18e6 <= device + readings <= 22e6
    sent = sum(1 for _ in region.device(next(e for e in sample if e.device)))
    assert sent > 0
    fortnight = sum(len(vd.visits) for vd in region.visit_days(date(2025, 3, 3),
                                                                date(2025, 3, 17)))
    assert 270_000 <= fortnight * 365 / 14 <= 330_000
