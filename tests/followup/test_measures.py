"""The follow-up measures with answers worked out by hand (see each comment)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from hemma.followup.measures import (
    AlertFact,
    Day,
    EpisodeFact,
    Facts,
    HandoverFact,
    MessageFact,
    Period,
    PlanFact,
    PremFact,
    Scope,
    VisitFact,
    WindowFact,
    days,
    figures,
    percentile,
    suppress,
    totals,
)
from hemma.kit.time import from_local

WARD, OTHER, MUNI = 1, 2, 3


def t(text: str) -> datetime:
    """Swedish wall-clock time, as UTC."""
    return from_local(datetime.fromisoformat(text))


# Three episodes (daylight saving starts 2026-03-29 02:00 → 03:00):
# - A: admitted 27 March 10:00, discharged (completed) 2 April 14:00. Nights: 27, 28, 29, 30,
#   31 March and 1 April: 5 in March, 1 in April.
# - B: admitted 5 April, returned to hospital 8 April (deterioration): nights 5, 6, 7 April.
# - C: the same patient as A, assessed 20 April (18 days after A's discharge: a readmission
#   of A), admitted 21 April, discharged 30 April, an expected death: 9 nights (21–29).
EPISODES = [
    EpisodeFact("A", "p1", WARD, "infection", "discharged", t("2026-03-26T15:00"),
                t("2026-03-27T10:00"), t("2026-04-02T14:00"), "completed"),
    EpisodeFact("B", "p2", WARD, "heart", "returned", t("2026-04-05T08:00"),
                t("2026-04-05T09:00"), t("2026-04-08T11:00"), "deterioration",
                criteria_override=True),
    EpisodeFact("C", "p1", WARD, "infection", "discharged", t("2026-04-20T09:00"),
                t("2026-04-21T09:00"), t("2026-04-30T20:00"), "death_expected"),
]
MARCH, APRIL = Period.month(2026, 3), Period.month(2026, 4)
TODAY = date(2026, 6, 1)


def fig(facts: Facts, period: Period, scope: Scope | None = None, beds: int = 2):
    return figures(totals(days(facts, TODAY), period, scope or Scope()), period_days=period.days,
                   beds=beds, bed_day_cost=8483)


def test_days_at_home_split_at_the_month_end_and_across_daylight_saving():
    march, april = fig(Facts(episodes=EPISODES), MARCH), fig(Facts(episodes=EPISODES), APRIL)
    assert march["days_at_home"].value == 5
    assert april["days_at_home"].value == 1 + 3 + 9
    assert march["episodes_started"].value == 1 and april["episodes_started"].value == 2
    assert march["episodes_ended"].value == 0 and april["episodes_ended"].value == 3
    # Occupancy: 13 nights of 2 beds × 30 days.
    assert april["occupancy"].value == pytest.approx(13 / 60)
    assert march["occupancy"].value == pytest.approx(5 / 62)


def test_cost_is_the_nights_at_the_cost_of_an_inpatient_day():
    april = fig(Facts(episodes=EPISODES), APRIL)
    assert april["bed_days_saved"].value == 13
    assert april["cost_saved"].value == 13 * 8483


def test_returns_readmissions_deaths_and_overrides():
    april = fig(Facts(episodes=EPISODES), APRIL)
    assert april["returns"].value == 1
    assert april["returns"].parts == {"deterioration": 1}
    assert april["return_rate"].value == pytest.approx(1 / 3)
    # A was discharged alive and C started 18 days later; C died, so it is no candidate.
    assert april["readmissions"].value == 1
    assert april["readmission_rate"].value == 1.0
    assert april["deaths_expected"].value == 1 and april["deaths_unexpected"].value == 0
    assert april["criteria_override"].value == 1
    assert fig(Facts(episodes=EPISODES), MARCH)["criteria_override"].value == 0


def test_a_new_episode_after_30_days_is_no_readmission():
    late = EpisodeFact("D", "p3", WARD, None, "assessing", t("2026-05-03T15:00"), None, None)
    first = EpisodeFact("E", "p3", WARD, None, "discharged", t("2026-03-01T08:00"),
                        t("2026-03-01T09:00"), t("2026-04-02T15:00"), "completed")
    # 2 April 15:00 + 30 days = 2 May 15:00: D began a day later.
    assert fig(Facts(episodes=[first, late]), APRIL)["readmissions"].value == 0
    on_time = EpisodeFact("D", "p3", WARD, None, "assessing", t("2026-05-02T15:00"), None, None)
    assert fig(Facts(episodes=[first, on_time]), APRIL)["readmissions"].value == 1


def test_an_episode_still_at_home_counts_until_today():
    running = EpisodeFact("R", "p4", WARD, None, "admitted", t("2026-05-29T10:00"),
                          t("2026-05-29T11:00"), None)
    # Nights of 29, 30 and 31 May; tonight (1 June) has not passed.
    assert fig(Facts(episodes=[running]), Period.month(2026, 5))["days_at_home"].value == 3
    assert fig(Facts(episodes=[running]), Period.month(2026, 6))["days_at_home"].value == 0


def test_time_to_acknowledge_is_absolute_across_daylight_saving():
    alerts = [
        # 29 March 01:30 → 03:10 Swedish time: the clock jumped an hour, 40 minutes passed.
        AlertFact(WARD, "infection", "high", "vitals", t("2026-03-29T01:30"),
                  t("2026-03-29T03:10")),
        # 25 October 01:50 summer time → 02:20 winter time: 90 minutes passed.
        AlertFact(WARD, "infection", "high", "vitals",
                  datetime.fromisoformat("2026-10-24T23:50+00:00"),
                  datetime.fromisoformat("2026-10-25T01:20+00:00")),
        AlertFact(WARD, "infection", "medium", "missed", t("2026-03-29T08:00"),
                  t("2026-03-29T08:10"), escalations=2),
        AlertFact(WARD, "infection", "medium", "vitals", t("2026-03-30T08:00"), None),
    ]
    year = fig(Facts(episodes=EPISODES, alerts=alerts), Period.year(2026))
    assert year["ack_p50"].value == 40 and year["ack_p90"].value == 90
    assert year["ack_p50"].n == 3
    assert year["ack_p50"].parts == {"high": {"p50": 40, "p90": 90, "n": 2},
                                     "medium": {"p50": 10, "p90": 10, "n": 1}}
    # The hour of day is Swedish wall-clock time of the alert.
    assert year["ack_p90"].parts["hours"] == {1: {"p50": 40, "p90": 90, "n": 2},
                                              8: {"p50": 10, "p90": 10, "n": 1}}
    assert year["escalations"].value == 2 and year["escalations"].parts == {"alerts": 1}
    assert year["missed"].value == 1
    # 4 alerts over 5 + 13 nights.
    assert year["alerts_per_day"].value == pytest.approx(4 / 18)
    assert year["alerts_per_day"].parts == {"high": {"rate": pytest.approx(2 / 18), "n": 2},
                                            "medium": {"rate": pytest.approx(2 / 18), "n": 2}}


def test_an_alert_after_midnight_swedish_time_belongs_to_the_next_month():
    # 1 April 00:30 in Sweden is still 31 March in UTC.
    alert = AlertFact(WARD, None, "low", "vitals", t("2026-04-01T00:30"), None)
    assert alert.created_at.day == 31
    assert fig(Facts(alerts=[alert]), MARCH)["alerts_per_day"].n == 0
    assert fig(Facts(alerts=[alert]), APRIL)["alerts_per_day"].n == 1


def test_adherence_is_windows_with_values_over_windows_scheduled():
    windows = [WindowFact(WARD, None, t(f"2026-04-0{d}T08:00"), d != 3) for d in range(1, 5)]
    april = fig(Facts(windows=windows), APRIL)
    assert april["adherence"].value == 0.75
    assert april["adherence"].parts == {"scheduled": 4, "received": 3}


def visit(day: int, status: str, *, started: str | None = None, urgent=False, code=None,
          staff=(10,), patient="p1", unit=MUNI) -> VisitFact:
    d = date(2026, 4, day)
    return VisitFact(unit, "infection", patient, d, status, urgent,
                     t(f"2026-04-{day:02d}T08:00"), t(f"2026-04-{day:02d}T09:00"),
                     None if started is None else t(f"2026-04-{day:02d}T{started}"), code, staff)


def test_visits_done_punctuality_travel_continuity_and_reasons():
    visits = [
        visit(6, "done", started="07:50", staff=(10,)),           # early (Monday, week 15)
        visit(7, "done", started="08:30", staff=(11,)),           # on time
        visit(8, "done", started="09:00", staff=(10,)),           # on time: the latest start
        visit(9, "done", started="09:01", staff=(12,), urgent=True),  # late
        visit(9, "not_done", code="patient_declined", staff=()),
        visit(13, "not_done", code="patient_not_home", staff=(10,)),  # Monday, week 16
        visit(14, "cancelled"),
        visit(14, "done", staff=(10,), patient="p2"),  # done, no start time: not timed
    ]
    plans = [PlanFact(MUNI, date(2026, 4, 6), 40.0, 50, 4), PlanFact(MUNI, date(2026, 4, 7),
                                                                    20.0, 30, 4)]
    april = fig(Facts(visits=visits, plans=plans), APRIL)
    assert april["visits_done"].value == 5 / 7
    assert april["visits_done"].parts == {"planned": 7, "done": 5}
    assert april["punctuality"].value == 2 / 4
    assert april["punctuality"].parts == {"early": 1, "late": 1, "on_time": 2}
    assert april["km_per_visit"].value == 60 / 8 and april["minutes_per_visit"].value == 10
    # p1 met staff 10, 11 and 12 in week 15 (the visit of week 16 was not made, so nobody
    # met); p2 met staff 10 in week 16.
    assert april["continuity"].value == (3 + 1) / 2
    assert april["visits_urgent"].value == 1
    assert april["visits_not_done"].value == 2
    assert april["visits_not_done"].parts == {"patient_declined": 1, "patient_not_home": 1}
    # Visits are the unit's that made them.
    assert fig(Facts(visits=visits), APRIL, Scope(units=frozenset({WARD})))["visits_done"].n == 0


def test_messages_handovers_and_prem():
    messages = [
        MessageFact(WARD, None, t("2026-04-02T10:00"), t("2026-04-02T12:00"),
                    t("2026-04-02T11:59")),
        MessageFact(WARD, None, t("2026-04-02T10:00"), t("2026-04-02T12:00"),
                    t("2026-04-02T12:01")),
        MessageFact(WARD, None, t("2026-04-03T10:00"), t("2026-04-03T12:00"), None),
    ]
    handovers = [HandoverFact(MUNI, None, t("2026-04-02T07:00"), t("2026-04-02T07:30")),
                 HandoverFact(MUNI, None, t("2026-04-02T15:00"), None)]
    prem = [PremFact(WARD, "infection", t("2026-04-30T10:00"), {"safe": 5, "who_to_call": 4}),
            PremFact(WARD, "infection", t("2026-04-30T11:00"), {"safe": 5}),
            PremFact(WARD, "infection", t("2026-05-01T11:00"), {"safe": 1})]
    april = fig(Facts(messages=messages, handovers=handovers, prem=prem), APRIL)
    assert april["messages_in_goal"].value == 1 / 3
    assert april["handovers_confirmed"].value == 1 / 2
    assert april["prem_responses"].value == 2
    assert april["prem_responses"].parts == {
        "safe": {1: 0, 2: 0, 3: 0, 4: 0, 5: 2}, "who_to_call": {1: 0, 2: 0, 3: 0, 4: 1, 5: 0}}


def test_scopes_by_unit_and_pathway():
    facts = Facts(episodes=EPISODES)
    assert fig(facts, APRIL, Scope(pathway="infection"))["days_at_home"].value == 10
    assert fig(facts, APRIL, Scope(pathway="heart"))["days_at_home"].value == 3
    assert fig(facts, APRIL, Scope(units=frozenset({OTHER})))["days_at_home"].value == 0


def test_figures_without_a_denominator_are_none_not_zero():
    empty = fig(Facts(), APRIL)
    for key in ("return_rate", "readmission_rate", "alerts_per_day", "ack_p50", "adherence",
                "visits_done", "punctuality", "km_per_visit", "continuity", "messages_in_goal"):
        assert empty[key].value is None, key
    assert empty["days_at_home"].value == 0


def test_days_are_stored_and_read_back_unchanged():
    facts = Facts(episodes=EPISODES, alerts=[
        AlertFact(WARD, "infection", "high", "vitals", t("2026-04-01T01:30"),
                  t("2026-04-01T02:10"))], visits=[visit(6, "done", started="08:10")],
        prem=[PremFact(WARD, None, t("2026-04-30T10:00"), {"safe": 5})])
    stored = {k: Day.from_json(v.to_json()) for k, v in days(facts, TODAY).items()}
    for period in (MARCH, APRIL):
        a = fig(facts, period)
        b = figures(totals(stored, period, Scope()), period_days=period.days, beds=2,
                    bed_day_cost=8483)
        assert {k: (f.value, f.n, f.parts) for k, f in a.items()} == \
               {k: (f.value, f.n, f.parts) for k, f in b.items()}


@pytest.mark.parametrize(("values", "p", "expected"), [
    ([1], 50, 1), ([1, 2], 50, 1), ([1, 2, 3], 50, 2), ([1, 2, 3, 4], 50, 2),
    (list(range(1, 11)), 90, 9), (list(range(1, 11)), 91, 10), ([5, 1, 3], 100, 5), ([], 50, None),
])
def test_nearest_rank_percentile(values, p, expected):
    assert percentile(values, p) == expected


def test_periods_and_the_one_before():
    assert Period.month(2026, 1).previous() == Period.month(2025, 12)
    assert Period.month(2026, 3).previous() == Period(date(2026, 2, 1), date(2026, 3, 1))
    assert Period.quarter(2026, 1).previous() == Period.quarter(2025, 4)
    assert Period.quarter(2026, 3) == Period(date(2026, 7, 1), date(2026, 10, 1))
    assert Period.quarter(2026, 3).kind == "quarter"
    assert Period.year(2026).previous() == Period.year(2025)
    week = Period(date(2026, 4, 6), date(2026, 4, 13))
    assert week.kind == "days" and week.previous() == Period(date(2026, 3, 30), date(2026, 4, 6))
    assert Period.month(2026, 12).end == date(2027, 1, 1)
    months = Period.month(2026, 2).months(3)
    assert months == [Period.month(2025, 12), Period.month(2026, 1), Period.month(2026, 2)]
    assert sum(p.days for p in Period.year(2026).months()) == 365
    assert date(2026, 4, 30) in APRIL and date(2026, 5, 1) not in APRIL
    assert APRIL.start - timedelta(days=1) not in APRIL


def test_small_numbers_are_suppressed_outside_the_team():
    figs = fig(Facts(episodes=EPISODES), APRIL)
    hidden = suppress(figs, 5)
    # 3 episodes ended, 1 return: suppressed; 13 days at home: shown; 0 unexpected deaths: shown.
    assert hidden["episodes_ended"].suppressed and hidden["episodes_ended"].value is None
    assert hidden["returns"].suppressed and hidden["returns"].parts == {}
    assert hidden["return_rate"].suppressed and hidden["return_rate"].value is None
    assert not hidden["days_at_home"].suppressed and hidden["days_at_home"].value == 13
    assert not hidden["deaths_unexpected"].suppressed and hidden["deaths_unexpected"].value == 0
    # Nothing is hidden with a threshold of 1, and the figures themselves are unchanged.
    assert all(not f.suppressed for f in suppress(figs, 1).values())
    assert figs["returns"].value == 1


def test_parts_counted_from_few_are_suppressed_even_when_the_figure_is_not():
    alerts = [AlertFact(WARD, None, "high", "vitals", t(f"2026-04-0{d}T10:00"),
                        t(f"2026-04-0{d}T10:05")) for d in range(1, 7)]
    alerts.append(AlertFact(WARD, None, "low", "vitals", t("2026-04-07T10:00"),
                            t("2026-04-07T11:00")))
    hidden = suppress(fig(Facts(episodes=EPISODES, alerts=alerts), APRIL), 5)
    assert hidden["ack_p50"].value == 5
    assert hidden["ack_p50"].parts == {"high": {"p50": 5, "p90": 5, "n": 6}, "low": None}
    assert hidden["alerts_per_day"].parts["low"] is None
    assert hidden["alerts_per_day"].parts["high"]["n"] == 6
