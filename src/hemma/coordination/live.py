"""Waking open pages when something happened.

Notifications are rows; a page streams them with server-sent events, asking for everything
after the last id it saw. This module only says "look again": within one process through an
in-memory broadcaster, across processes on PostgreSQL through LISTEN/NOTIFY. A page that
missed a wake-up still finds its rows on its next look (every few seconds at the latest)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable

from sqlalchemy import event
from sqlalchemy.orm import Session

from hemma.db import notify_on_commit

log = logging.getLogger("hemma.live")
CHANNEL = "hemma_inbox"
# Visits changed (planned, moved, started, done, cancelled): the pages that show a patient's
# day read it again at once, the rest only on their own clock.
VISITS_CHANNEL = "hemma_visits"
_ANNOUNCE = "hemma.live.announce"
_VISITS = "hemma.live.visits"


class Broadcaster:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        # The process is stopping: open streams end (their browsers reconnect, to another
        # process behind the load balancer) instead of holding the server up.
        self.closing = False

    def close(self) -> None:
        """Wake every open stream for the last time: each sees `closing` and ends."""
        self.closing = True
        self.notify()

    def notify(self) -> None:
        with self._lock:
            waiters = list(self._waiters)
        for loop, ev in waiters:
            try:
                loop.call_soon_threadsafe(ev.set)
            except RuntimeError:  # the loop has closed
                pass

    async def wait(self, timeout: float) -> bool:
        if self.closing:
            return True
        ev = asyncio.Event()
        entry = (asyncio.get_running_loop(), ev)
        with self._lock:
            self._waiters.add(entry)
        try:
            await asyncio.wait_for(ev.wait(), timeout)
            return True
        except TimeoutError:
            return False
        finally:
            with self._lock:
                self._waiters.discard(entry)


    def subscribe(self) -> Subscription:
        """A standing wake-up for a page that looks, sends and waits in a loop: a change
        committed while it was looking is not lost (it wakes the next wait at once)."""
        return Subscription(self)


class Subscription:
    def __init__(self, broadcaster: Broadcaster) -> None:
        self._broadcaster = broadcaster
        self._event = asyncio.Event()
        self._entry = (asyncio.get_running_loop(), self._event)
        with broadcaster._lock:
            broadcaster._waiters.add(self._entry)

    def clear(self) -> None:
        """Call before looking: what is committed after this wakes the next `wait`."""
        self._event.clear()

    async def wait(self, timeout: float) -> bool:
        if self._broadcaster.closing:
            return True
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
            return True
        except TimeoutError:
            return False

    def close(self) -> None:
        with self._broadcaster._lock:
            self._broadcaster._waiters.discard(self._entry)


broadcaster = Broadcaster()


class Silence:
    """How long a live stream has said nothing. Its keep-alive is due after `limit` seconds
    of silence however often it was woken meanwhile: a stream woken by every commit anywhere
    that only sent on a quiet wake-up said nothing at all in a busy hour, and the proxy or the
    browser hung up on it."""

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self._since = time.monotonic()

    def spoke(self) -> None:
        """The stream has just sent something."""
        self._since = time.monotonic()

    def due(self) -> bool:
        """A keep-alive is due now (counted as said)."""
        if time.monotonic() - self._since >= self.limit:
            self.spoke()
            return True
        return False

    def left(self) -> float:
        """Seconds until the next keep-alive is due: how long to wait for news."""
        return max(0.0, self.limit - (time.monotonic() - self._since))


class VisitChanges:
    """How many times visits changed, as this process has heard (its own commits and, on
    PostgreSQL, the other processes' through VISITS_CHANNEL). A page that shows a patient's
    day notes the count when it reads and reads again when the count moves; the other
    wake-ups (alerts, tasks, messages) change no visit."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0

    @property
    def count(self) -> int:
        return self._count

    def happened(self) -> None:
        with self._lock:
            self._count += 1
        broadcaster.notify()


visit_changes = VisitChanges()


def announce(session: Session, *, visits: bool = False) -> None:
    """Call inside the transaction that made notifications (`visits`: or changed visits); the
    wake-up goes out on commit."""
    session.info[_ANNOUNCE] = True
    notify_on_commit(session, CHANNEL)
    if visits:
        session.info[_VISITS] = True
        notify_on_commit(session, VISITS_CHANNEL)


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    visits = session.info.pop(_VISITS, False)
    if session.info.pop(_ANNOUNCE, False):
        if visits:
            visit_changes.happened()  # wakes the pages too
        else:
            broadcaster.notify()


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_ANNOUNCE, None)
    session.info.pop(_VISITS, None)


class PostgresListener:
    """One thread per process: LISTEN for other processes' announcements, each channel
    answered by its own callback (the live pages' wake-up is not the outbox's: a message
    queued for the worker wakes no open page)."""

    def __init__(self, url: str, handlers: dict[str, Callable[[], object]] | None = None
                 ) -> None:
        self.url = url
        self.handlers = handlers or {CHANNEL: broadcaster.notify}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="hemma-listen", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        import psycopg
        from sqlalchemy.engine import make_url

        url = make_url(self.url).set(drivername="postgresql")
        dsn = url.render_as_string(hide_password=False)
        while not self._stop.is_set():
            try:
                with psycopg.connect(dsn, autocommit=True) as conn:
                    for channel in self.handlers:
                        conn.execute(f"LISTEN {channel}")
                    while not self._stop.is_set():
                        for notice in conn.notifies(timeout=1.0):
                            self.handlers[notice.channel]()
            except Exception:  # the database restarted: listen again
                log.warning("LISTEN connection lost; reconnecting", exc_info=True)
                self._stop.wait(2)
