"""The live inboxes' one look at new alert events, per process.

Every commit anywhere (a value, a visit, a message) wakes every open page. When each open
inbox looked at the database for itself on each wake-up, a morning's hundred open inboxes and
ten values a second made a thousand looks a second, almost all finding nothing: that, not the
values, held the staff's app process. Here one look per wake-up and process (`AlertFeed`)
reads which alert events arrived — their number, the alert's unit, and who it was delivered
to — and an inbox reads its events only when one concerns it (its unit's alert, or one
delivered to the person), through the same query and access check as before
(`views.events_after`). What the feed knows only decides when to look, never what is shown.

It also closes a gap in how the inbox went on from the last event it had: the events are
numbered by a sequence, and a transaction can commit event 10 after another committed 11. An
inbox that had gone on from 11 never showed 10 (until reloaded). The feed keeps the numbers
missing below the highest it has seen for `GAP_SECONDS`, and an event that fills one arrives
like any new one.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections import deque
from dataclasses import dataclass, field

from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from hemma.coordination.live import broadcaster
from hemma.models import Alert, AlertEvent, Notification

# A number missing below the highest seen is looked for this long (a transaction that took
# the number and has not committed yet), then taken as rolled back.
GAP_SECONDS = 300.0
MAX_GAPS = 500
# At the start, the numbers this far below the highest are checked for gaps too.
BACKLOG = 1000
KEEP = 5000  # arrivals remembered for inboxes that have not caught up yet
IDLE_SECONDS = 2.0  # looked at this often without a wake-up (missed wake-ups, old gaps)
SETTLE_SECONDS = 0.05  # a burst of commits is one look


@dataclass(frozen=True)
class Arrival:
    generation: int
    event_id: int
    unit_id: int
    notified: frozenset[int]

    def concerns(self, unit_id: int | None, staff_id: int | None) -> bool:
        """As views._feed: the unit's alerts, and any delivered to the person."""
        return self.unit_id == unit_id or staff_id in self.notified


@dataclass(eq=False)
class _Feed:
    database: object
    high: int | None = None
    gaps: dict[int, float] = field(default_factory=dict)  # number -> when first missed
    generation: int = 0
    arrivals: deque = field(default_factory=lambda: deque(maxlen=KEEP))
    viewers: int = 0
    task: asyncio.Task | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    moved: asyncio.Event = field(default_factory=asyncio.Event)

    def look(self) -> list[tuple[int, int, int]]:
        """(event, alert's unit, alert) of every event new since the last look, including
        numbers that were missing (in a worker thread)."""
        with self.database.session() as s:
            if self.high is None:
                top = s.scalar(select(AlertEvent.id).order_by(AlertEvent.id.desc()).limit(1))
                self.high = max(0, (top or 0) - BACKLOG)
                first = True
            else:
                first = False
            cond = AlertEvent.id > self.high
            if self.gaps:
                cond = cond | AlertEvent.id.in_(list(self.gaps))
            rows = s.execute(select(AlertEvent.id, Alert.unit_id, Alert.id)
                             .join(Alert, Alert.id == AlertEvent.alert_id)
                             .where(cond).order_by(AlertEvent.id)).all()
            notified: dict = {}
            if rows:
                for alert_id, staff_id in s.execute(
                        select(Notification.alert_id, Notification.staff_id).where(
                            Notification.alert_id.in_({r[2] for r in rows}))):
                    notified.setdefault(alert_id, set()).add(staff_id)
        now = time.monotonic()
        found = {r[0] for r in rows}
        top = max(found | {self.high})
        # Numbers skipped far below the top (a sequence moved on by thousands, a restore)
        # are not tracked one by one: at most MAX_GAPS are kept anyway.
        for missing in set(range(max(self.high + 1, top - 4 * MAX_GAPS), top + 1)) - found:
            self.gaps[missing] = now
        for number in found:
            self.gaps.pop(number, None)
        for number, since in list(self.gaps.items()):
            if now - since > GAP_SECONDS:
                del self.gaps[number]
        while len(self.gaps) > MAX_GAPS:
            del self.gaps[min(self.gaps)]
        self.high = top
        if first:
            return []  # what was there before the feed began, the inboxes read themselves
        return [(event_id, unit_id, frozenset(notified.get(alert_id, ())))
                for event_id, unit_id, alert_id in rows]

    async def run(self) -> None:
        subscription = broadcaster.subscribe()
        try:
            while self.viewers > 0 and not broadcaster.closing:
                subscription.clear()
                try:
                    new = await run_in_threadpool(self.look)
                except Exception:  # the database restarted: the inboxes wait, then look again
                    await asyncio.sleep(2)
                    continue
                if new:
                    self.generation += 1
                    self.arrivals.extend(Arrival(self.generation, *n) for n in new)
                self.ready.set()
                moved, self.moved = self.moved, asyncio.Event()
                moved.set()
                await subscription.wait(IDLE_SECONDS)
                await asyncio.sleep(SETTLE_SECONDS)
        finally:
            subscription.close()
            self.moved.set()


class AlertFeed:
    """One `_Feed` per event loop and database (the tests run apps in several loops)."""

    def __init__(self) -> None:
        self._feeds: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def _feed(self, database) -> _Feed:
        by_database = self._feeds.setdefault(asyncio.get_running_loop(), {})
        feed = by_database.get(id(database))
        if feed is None or feed.database is not database:
            feed = by_database[id(database)] = _Feed(database)
        return feed

    async def join(self, database) -> int:
        """An inbox opens: the generation it starts from (it reads what is already there
        itself, after this). Counted in at once: call `leave` however the stream ends."""
        feed = self._feed(database)
        feed.viewers += 1
        if feed.task is None or feed.task.done():
            feed.ready = asyncio.Event()
            feed.task = asyncio.get_running_loop().create_task(feed.run())
        await feed.ready.wait()
        return feed.generation

    def leave(self, database) -> None:
        feed = self._feed(database)
        feed.viewers -= 1
        if feed.viewers <= 0 and feed.task is not None:
            feed.task.cancel()
            feed.task = None

    def since(self, database, generation: int) -> tuple[list[Arrival] | None, int]:
        """What arrived after `generation`, and the generation now; None: more arrived than
        is remembered (the inbox reads from its last event instead)."""
        feed = self._feed(database)
        if feed.generation == generation:
            return [], generation
        arrivals = feed.arrivals
        if not arrivals or arrivals[0].generation > generation + 1:
            return None, feed.generation
        return [a for a in arrivals if a.generation > generation], feed.generation

    async def wait(self, database, generation: int, timeout: float) -> bool:
        """Until something arrives after `generation` (True), or `timeout` (False)."""
        feed = self._feed(database)
        deadline = time.monotonic() + timeout
        while feed.generation == generation and not broadcaster.closing:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            try:
                await asyncio.wait_for(feed.moved.wait(), left)
            except TimeoutError:
                return False
        return True


alert_feed = AlertFeed()
