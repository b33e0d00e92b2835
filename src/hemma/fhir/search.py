"""FHIR search parameters (pure): dates with their prefixes, tokens, `_count`, `_sort`, and
the cursor of `next` links. Each error names the parameter, for the OperationOutcome.

A date is a range as precise as it was written ("2026-12" is the whole month): `ge` keeps
what lies at or after its start, `gt` what lies after its end, `le` what lies before its
end, `lt` what lies before its start, `eq` what lies within. A date or time without an offset
is Swedish time, as the server's (the specification leaves it to the server)."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from hemma.kit.text import N_
from hemma.kit.time import from_local

PREFIXES = ("eq", "ge", "gt", "le", "lt")
DAMAGED = N_("The page link is damaged: start the search again")
DEFAULT_COUNT, MAX_COUNT = 50, 1000
_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?"
                   r"(Z|[+-]\d{2}:\d{2})?)?)?)?$")


class SearchError(ValueError):
    """A search parameter Hemma cannot use; `parameter` names it. The message is a msgid
    with its `params` (put into words in the caller's language)."""

    def __init__(self, message: str, parameter: str, **params) -> None:
        super().__init__(message % params if params else message)
        self.message, self.parameter, self.params = message, parameter, params


@dataclass(frozen=True)
class DateRange:
    """What a date parameter keeps: at or after `start`, before `end` (UTC, either open)."""

    start: datetime | None = None
    end: datetime | None = None

    def holds(self, moment: datetime) -> bool:
        return (self.start is None or moment >= self.start) and (
            self.end is None or moment < self.end)

    def narrowed(self, other: DateRange) -> DateRange:
        """Both at once (date=ge…&date=lt…)."""
        start = max((d for d in (self.start, other.start) if d), default=None)
        end = min((d for d in (self.end, other.end) if d), default=None)
        return DateRange(start, end)


def _span(text: str, parameter: str) -> tuple[datetime, datetime]:
    m = _DATE.match(text)
    if not m:
        raise SearchError(N_("Not a date: %(value)s (e.g. 2026-12-01 or "
                             "2026-12-01T08:00:00+01:00)"), parameter, value=text)
    year, month, day, hour, minute, second, zone = m.groups()
    try:
        if hour is not None:
            moment = datetime(int(year), int(month), int(day), int(hour), int(minute),
                              int(second or 0))
            if zone:
                offset = timedelta(0) if zone == "Z" else (
                    (1 if zone[0] == "+" else -1)
                    * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
                start = (moment - offset).replace(tzinfo=UTC)
            else:
                start = from_local(moment)
            step = timedelta(seconds=1) if second is not None else timedelta(minutes=1)
            return start, start + step
        first = date(int(year), int(month or 1), int(day or 1))
    except ValueError:
        raise SearchError(N_("Not a date: %(value)s"), parameter, value=text) from None
    if day is not None:
        after = first + timedelta(days=1)
    elif month is not None:
        after = date(first.year + (first.month == 12), first.month % 12 + 1, 1)
    else:
        after = date(first.year + 1, 1, 1)
    return (from_local(datetime.combine(first, datetime.min.time())),
            from_local(datetime.combine(after, datetime.min.time())))


def date_range(values: list[str], parameter: str = "date") -> DateRange:
    """One or more date parameters (each with an optional prefix) as one range."""
    out = DateRange()
    for value in values:
        prefix, text = (value[:2], value[2:]) if value[:2].isalpha() else ("eq", value)
        if prefix not in PREFIXES:
            raise SearchError(N_("The prefix %(prefix)s is not supported here: use one of "
                                 "%(prefixes)s"), parameter, prefix=prefix,
                              prefixes=", ".join(PREFIXES))
        start, end = _span(text, parameter)
        out = out.narrowed({"eq": DateRange(start, end), "ge": DateRange(start, None),
                            "gt": DateRange(end, None), "le": DateRange(None, end),
                            "lt": DateRange(None, start)}[prefix])
    return out


def token(value: str) -> tuple[str | None, str]:
    """"system|code", "|code" (no system) or "code" (any system): (system or None, code)."""
    if "|" in value:
        system, _, code = value.partition("|")
        return system, code
    return None, value


def count(values: list[str]) -> int:
    if not values:
        return DEFAULT_COUNT
    try:
        n = int(values[-1])
    except ValueError:
        raise SearchError(N_("_count must be a whole number"), "_count") from None
    if n < 0:
        raise SearchError(N_("_count must not be negative"), "_count")
    return min(n, MAX_COUNT)


def sort(values: list[str], allowed: tuple[str, ...]) -> str:
    """The one sort a search supports here (e.g. "-date", newest first)."""
    if not values:
        return allowed[0]
    if values[-1] not in allowed:
        raise SearchError(N_("_sort can be %(allowed)s"), "_sort", allowed=" | ".join(allowed))
    return values[-1]


def encode_cursor(position: dict) -> str:
    """Where the next page starts, opaque to clients (and checked when it comes back)."""
    raw = json.dumps(position, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(value: str) -> dict:
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        position = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise SearchError(DAMAGED, "_cursor") from None
    if not isinstance(position, dict):
        raise SearchError(DAMAGED, "_cursor")
    return position
