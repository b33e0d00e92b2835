"""The answer goal of a patient's message (pure), against an oracle that walks real minutes
one by one and counts those whose Swedish wall-clock time is daytime: across both
daylight-saving changes (with a daytime that spans the change, too), weekends in or out,
messages sent before, in and after daytime."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from hemma.config import Settings
from hemma.kit.time import at_local, local
from hemma.messaging.deadlines import answer_due, clock_starts, waited

# The clocks go forward at 02:00 on Sunday 29 March 2026 and back at 03:00 on Sunday
# 25 October 2026.
SPRING = datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
AUTUMN = datetime(2026, 10, 25, 1, 0, tzinfo=UTC)
DAY = (time(8), time(17))
ACROSS_THE_CHANGE = (time(1), time(5))  # a "daytime" that holds the changed hour


def oracle(sent: datetime, goal: int, start: time, end: time, weekends: bool) -> datetime:
    """Walk minute by minute: a minute counts if it begins in daytime (by its own Swedish
    wall-clock time and weekday)."""

    def daytime(t: datetime) -> bool:
        wall = local(t)
        return (weekends or wall.weekday() < 5) and start <= wall.time() < end

    t, counted = sent, 0
    while not daytime(t):
        t += timedelta(minutes=1)
    while counted < goal:
        if daytime(t):
            counted += 1
        t += timedelta(minutes=1)
        if counted < goal:
            while not daytime(t):
                t += timedelta(minutes=1)
    return t


def _moments(around: datetime, days: int, step_minutes: int):
    t = around - timedelta(days=days)
    while t < around + timedelta(days=days):
        yield t
        t += timedelta(minutes=step_minutes)


@pytest.mark.parametrize("around", [SPRING, AUTUMN], ids=["spring", "autumn"])
@pytest.mark.parametrize("weekends", [True, False], ids=["every day", "weekdays"])
@pytest.mark.parametrize("hours", [DAY, ACROSS_THE_CHANGE], ids=["08-17", "01-05"])
def test_the_goal_counts_daytime_minutes_only(around, weekends, hours):
    start, end = hours
    checked = 0
    for sent in _moments(around, 3, 131):
        for goal in (0, 1, 120, 239, 541):
            assert answer_due(sent, goal_minutes=goal, start=start, end=end,
                              weekends=weekends) == oracle(sent, goal, start, end, weekends), \
                (sent, goal)
            checked += 1
    assert checked > 300


def test_daytime_keeps_its_swedish_hours_across_daylight_saving():
    # Friday before the spring change: 16:00 (winter time) + 2 h = Saturday 09:00.
    friday = at_local(datetime(2026, 3, 27).date(), "16:00")
    due = answer_due(friday, goal_minutes=120, start=time(8), end=time(17))
    assert local(due).strftime("%a %H:%M") == "Sat 09:00"
    # Sunday the clocks went forward: 08:00 is still 08:00.
    sunday_night = at_local(datetime(2026, 3, 28).date(), "22:00")
    due = answer_due(sunday_night, goal_minutes=30, start=time(8), end=time(17))
    assert local(due).strftime("%Y-%m-%d %H:%M %Z") == "2026-03-29 08:30 CEST"
    # The daytime that holds the changed hour is an hour shorter in spring, longer in autumn.
    spring = at_local(datetime(2026, 3, 29).date(), "01:00")
    assert answer_due(spring, goal_minutes=180, start=time(1), end=time(5)) - spring == \
        timedelta(hours=3)
    autumn = at_local(datetime(2026, 10, 25).date(), "01:00")
    assert answer_due(autumn, goal_minutes=300, start=time(1), end=time(5)) - autumn == \
        timedelta(hours=5)


def test_without_weekends_friday_evening_waits_for_monday():
    friday = at_local(datetime(2026, 11, 27).date(), "16:30")
    due = answer_due(friday, goal_minutes=120, start=time(8), end=time(17), weekends=False)
    assert local(due).strftime("%a %Y-%m-%d %H:%M") == "Mon 2026-11-30 09:30"
    saturday = at_local(datetime(2026, 11, 28).date(), "11:00")
    assert local(clock_starts(saturday, start=time(8), end=time(17), weekends=False)) \
        .strftime("%a %H:%M") == "Mon 08:00"
    # With weekends, Saturday is a day like any other.
    assert answer_due(saturday, goal_minutes=120, start=time(8), end=time(17)) == \
        saturday + timedelta(hours=2)


def test_the_clock_starts_at_once_in_daytime_and_at_the_next_start_outside():
    day = datetime(2026, 12, 2).date()  # a Wednesday
    for sent, starts in (("07:59", "08:00"), ("08:00", "08:00"), ("12:34", "12:34"),
                         ("16:59", "16:59"), ("17:00", "08:00"), ("23:10", "08:00")):
        got = clock_starts(at_local(day, sent), start=time(8), end=time(17))
        assert local(got).strftime("%H:%M") == starts, sent
    # A goal ending exactly at the end of daytime ends then, not the next morning.
    assert local(answer_due(at_local(day, "15:00"), goal_minutes=120, start=time(8),
                            end=time(17))).strftime("%d %H:%M") == "02 17:00"
    assert local(answer_due(at_local(day, "15:00"), goal_minutes=121, start=time(8),
                            end=time(17))).strftime("%d %H:%M") == "03 08:01"


def test_bad_hours_and_goals_are_refused():
    sent = datetime(2026, 12, 2, 10, tzinfo=UTC)
    with pytest.raises(ValueError):
        answer_due(sent, goal_minutes=10, start=time(17), end=time(8))
    with pytest.raises(ValueError):
        answer_due(sent, goal_minutes=-1, start=time(8), end=time(17))
    with pytest.raises(ValueError):
        answer_due(sent.replace(tzinfo=None), goal_minutes=10, start=time(8), end=time(17))
    for start, end in (("17:00", "08:00"), ("08:00", "08:00"), ("02:30", "17:00"),
                       ("08:00", "02:15")):
        with pytest.raises(ValueError):
            Settings(message_day_start=start, message_day_end=end)


def test_waited_is_days_hours_and_minutes():
    since = datetime(2026, 12, 2, 10, tzinfo=UTC)
    assert waited(since, since + timedelta(hours=2, minutes=10, seconds=59)) == (0, 2, 10)
    assert waited(since, since + timedelta(days=1, hours=3)) == (1, 3, 0)
    assert waited(since, since - timedelta(minutes=5)) == (0, 0, 0)
