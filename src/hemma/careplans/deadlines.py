"""The deadlines of Lag (2017:612) om samverkan vid utskrivning från sluten hälso- och
sjukvård, as timers: the notice to the municipality (inskrivningsmeddelande) within hours of
the need being known, and the call to the SIP meeting (kallelse till samordnad individuell
planering) within days of the notice. The law sets the frame and each county's local
agreement the figures, so both are settings.

Pure: moments in, timers out. Days are Swedish calendar days at the same wall-clock time, so
a deadline three days after 10:00 is 10:00 also across a daylight-saving change; hours are
hours."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from hemma.kit.text import N_
from hemma.kit.time import at_local, local

# A timer is amber in the last quarter of its time.
WARN_SHARE = 0.25


@dataclass(frozen=True)
class Timer:
    key: str
    label: str  # msgid
    starts: datetime | None  # None: its clock has not started (the step before is not done)
    due: datetime | None
    done_at: datetime | None
    now: datetime

    @property
    def state(self) -> str:
        """done, late (done after the deadline), waiting, open, soon, overdue."""
        if self.done_at is not None:
            return "late" if self.due is not None and self.done_at > self.due else "done"
        if self.due is None:
            return "waiting"
        if self.now > self.due:
            return "overdue"
        if self.starts is not None and (self.due - self.now) <= (self.due - self.starts) * WARN_SHARE:
            return "soon"
        return "open"

    @property
    def remaining(self) -> timedelta | None:
        if self.due is None or self.done_at is not None:
            return None
        return self.due - self.now


def add_local_days(start: datetime, days: int) -> datetime:
    """`days` Swedish calendar days after `start`, at the same Swedish wall-clock time."""
    wall = local(start)
    return at_local(wall.date() + timedelta(days=days), wall.time().replace(tzinfo=None))


def timers(*, needed_from: datetime, notice_sent_at: datetime | None,
           called_at: datetime | None, now: datetime, notice_hours: int,
           call_days: int) -> list[Timer]:
    notice_due = needed_from + timedelta(hours=notice_hours)
    call_due = add_local_days(notice_sent_at, call_days) if notice_sent_at else None
    return [
        Timer("notice", N_("Notice to the municipality"), needed_from, notice_due,
              notice_sent_at, now),
        Timer("call", N_("Call to the SIP meeting"), notice_sent_at, call_due, called_at, now),
    ]


def remaining_text(remaining: timedelta) -> tuple[int, int, int]:
    """Days, hours and minutes of a positive time left (for "2 d 3 h" on the page)."""
    total = max(int(remaining.total_seconds()), 0) // 60
    return total // (24 * 60), (total // 60) % 24, total % 60
