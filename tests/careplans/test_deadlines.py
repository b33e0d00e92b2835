"""The SIP timers (pure): hours are hours, days are Swedish calendar days at the same
wall-clock time across daylight-saving changes; a timer turns amber, then red."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hemma.careplans.deadlines import add_local_days, remaining_text, timers
from hemma.kit.time import local

# The clocks go back at 03:00 on 25 October 2026 and forward at 02:00 on 29 March 2026.
BEFORE_AUTUMN = datetime(2026, 10, 23, 8, 0, tzinfo=UTC)  # 10:00 Swedish summer time
BEFORE_SPRING = datetime(2026, 3, 27, 9, 0, tzinfo=UTC)  # 10:00 Swedish winter time


def test_days_keep_the_swedish_wall_clock_time_across_daylight_saving():
    autumn = add_local_days(BEFORE_AUTUMN, 3)
    assert local(autumn).hour == 10 and autumn - BEFORE_AUTUMN == timedelta(hours=73)
    spring = add_local_days(BEFORE_SPRING, 3)
    assert local(spring).hour == 10 and spring - BEFORE_SPRING == timedelta(hours=71)


def _timers(now, notice=None, called=None):
    return {t.key: t for t in timers(needed_from=BEFORE_AUTUMN, notice_sent_at=notice,
                                     called_at=called, now=now, notice_hours=24, call_days=3)}


def test_the_notice_is_due_in_hours_and_the_call_waits_for_it():
    t = _timers(BEFORE_AUTUMN + timedelta(hours=1))
    assert t["notice"].due == BEFORE_AUTUMN + timedelta(hours=24)
    assert t["notice"].state == "open" and t["call"].state == "waiting"
    assert _timers(BEFORE_AUTUMN + timedelta(hours=19))["notice"].state == "soon"
    assert _timers(BEFORE_AUTUMN + timedelta(hours=25))["notice"].state == "overdue"


def test_a_step_done_in_time_is_done_and_one_done_late_says_so():
    notice = BEFORE_AUTUMN + timedelta(hours=5)
    t = _timers(BEFORE_AUTUMN + timedelta(days=2), notice=notice)
    assert t["notice"].state == "done" and t["call"].state == "open"
    assert t["call"].due == add_local_days(notice, 3)
    late = _timers(BEFORE_AUTUMN + timedelta(days=9), notice=notice,
                   called=notice + timedelta(days=4))
    assert late["call"].state == "late"
    assert _timers(BEFORE_AUTUMN + timedelta(days=9), notice=notice)["call"].state == "overdue"


def test_remaining_time_in_days_hours_and_minutes():
    assert remaining_text(timedelta(days=2, hours=3, minutes=7, seconds=30)) == (2, 3, 7)
    assert remaining_text(timedelta(seconds=-5)) == (0, 0, 0)
