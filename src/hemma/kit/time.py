"""The one time helper: UTC in storage and logic, Europe/Stockholm only for display and
for rules that are defined in local time (night-time accesses, days at home)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

STOCKHOLM = ZoneInfo("Europe/Stockholm")

_clock: Callable[[], datetime] = lambda: datetime.now(UTC)  # noqa: E731


def utcnow() -> datetime:
    """Now, UTC-aware. Tests move time with `frozen_clock`."""
    return _clock()


@contextmanager
def frozen_clock(at: datetime) -> Iterator[Callable[[timedelta], None]]:
    """Freeze utcnow() at `at`; yields a function that advances the frozen clock."""
    global _clock
    if at.tzinfo is None:
        raise TypeError("frozen_clock needs an aware datetime")
    state = {"now": at.astimezone(UTC)}
    previous = _clock
    _clock = lambda: state["now"]  # noqa: E731

    def advance(delta: timedelta) -> None:
        state["now"] = state["now"] + delta

    try:
        yield advance
    finally:
        _clock = previous


def ensure_utc(value: datetime) -> datetime:
    """Aware datetimes are converted to UTC; naive ones are refused, not guessed."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("datetime without a UTC offset")
    return value.astimezone(UTC)


def local(value: datetime) -> datetime:
    return ensure_utc(value).astimezone(STOCKHOLM)


def local_date(value: datetime) -> date:
    return local(value).date()


def local_today() -> date:
    return local_date(utcnow())


def from_local(value: datetime) -> datetime:
    """Interpret a naive wall-clock time (from a form) as Stockholm time."""
    if value.tzinfo is not None:
        return ensure_utc(value)
    return value.replace(tzinfo=STOCKHOLM).astimezone(UTC)


def end_of_local_day(day: date) -> datetime:
    """The first instant after `day` in Swedish time (correct on daylight-saving days)."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=STOCKHOLM).astimezone(UTC)


def parse_clock(value: str) -> time:
    """"08:00" → 08:00 (a wall-clock time of day)."""
    hh, mm = value.split(":")
    return time(int(hh), int(mm))


def at_local(day: date, clock: str | time) -> datetime:
    """`clock` o'clock Swedish time on `day`, in UTC: 08:00 stays 08:00 across daylight-saving
    changes, so the same clock time is 07:00 UTC in winter and 06:00 UTC in summer."""
    t = parse_clock(clock) if isinstance(clock, str) else clock
    return datetime.combine(day, t, tzinfo=STOCKHOLM).astimezone(UTC)


def format_local(value: datetime | str | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if isinstance(value, str):  # as JSON keeps it (ISO 8601 with its offset)
        value = datetime.fromisoformat(value)
    return "" if value is None else local(value).strftime(fmt)


def age(born: date, on: date | None = None) -> int:
    """Whole years, in Swedish calendar days (a birthday counts from midnight local time)."""
    on = on or local_today()
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))
