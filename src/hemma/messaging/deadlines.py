"""When a patient's message must be answered: the answer goal counts minutes of daytime only.

Daytime is a span of Swedish wall-clock hours (08:00–17:00 by default) on every day, or on
weekdays only. A message sent in daytime starts its clock at once; one sent in the evening,
at night or (without weekends) on a Saturday starts it at the next daytime start. Minutes
left when a day's daytime ends carry over to the next daytime start: a two-hour goal for a
message sent at 16:30 ends at 09:30 the next daytime morning.

Pure: moments in, a moment out. Daytime is computed per Swedish date with the wall-clock
hours of that date, so 08:00 stays 08:00 across a daylight-saving change (and a day whose
daytime spans the change is an hour shorter or longer). Daytime never starts or ends in the
hour the clocks skip or repeat (02:00–02:59; the settings refuse it)."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from hemma.kit.time import at_local, ensure_utc, local

# A goal of at most a week of minutes never needs more than this many days to place.
_MAX_DAYS = 400


def daytime(day, start: time, end: time) -> tuple[datetime, datetime]:
    """The daytime span of a Swedish date, in UTC."""
    return at_local(day, start), at_local(day, end)


def is_daytime_day(day, weekends: bool) -> bool:
    return weekends or day.weekday() < 5


def answer_due(sent_at: datetime, *, goal_minutes: int, start: time, end: time,
               weekends: bool = True) -> datetime:
    """The moment a message sent at `sent_at` passes its answer goal."""
    if end <= start:
        raise ValueError("daytime must end after it starts")
    if goal_minutes < 0:
        raise ValueError("the goal cannot be negative")
    sent_at = ensure_utc(sent_at)
    remaining = timedelta(minutes=goal_minutes)
    day = local(sent_at).date()
    for _ in range(_MAX_DAYS):
        if is_daytime_day(day, weekends):
            opens, closes = daytime(day, start, end)
            begin = max(sent_at, opens)
            if begin < closes:
                if begin + remaining <= closes:
                    return begin + remaining
                remaining -= closes - begin
        day += timedelta(days=1)
    raise ValueError("the goal does not fit in the days looked at")  # pragma: no cover


def clock_starts(sent_at: datetime, *, start: time, end: time,
                 weekends: bool = True) -> datetime:
    """When the answer clock of a message sent at `sent_at` starts (the next daytime
    moment: `sent_at` itself in daytime)."""
    return answer_due(sent_at, goal_minutes=0, start=start, end=end, weekends=weekends)


def waited(since: datetime, now: datetime) -> tuple[int, int, int]:
    """Days, hours and minutes from `since` to `now` (wall time, for "väntat 2 h 10 min");
    zero when `now` is not after `since`."""
    total = max(int((ensure_utc(now) - ensure_utc(since)).total_seconds()), 0) // 60
    return total // (24 * 60), (total // 60) % 24, total % 60
