"""The live inbox on a real server: one look per process at new alert events
(hemma.monitoring.feed) decides when an inbox reads, and what it reads is still the
person's own feed through the access check. An event numbered below one already shown, but
committed after it (two transactions took their numbers in one order and committed in the
other), still reaches the open inbox; an alert of another unit reaches it only when it was
delivered to the person."""

from __future__ import annotations

import time
import uuid

import pytest
from sqlalchemy import func, select

from hemma.access.auth import start_session
from hemma.app import create_app
from hemma.coordination import live
from hemma.kit.time import utcnow
from hemma.models import Alert, AlertEvent, Notification, OutboxMessage, Staff
from hemma.web.deps import SESSION_COOKIE
from tests.live import Stream, serving


@pytest.fixture
def server(settings, database):
    with serving(create_app(settings, database)) as base:
        yield base


def _inbox(server, database, world, who: str) -> Stream:
    with database.session() as s:
        cookie = start_session(s, s.get(Staff, world.staff[who]), "password",
                               client_addr="127.0.0.1", user_agent="test")
    return Stream(f"{server}/alerts/stream", {SESSION_COOKIE: cookie})


def _event(database, alert_id: uuid.UUID, event_id: int, kind: str = "acknowledged",
           notify: int | None = None) -> None:
    """An alert event with the number given, committed now and announced, as the alerts'
    own actions do; `notify`: delivered to that person in the same transaction, as the
    worker's delivery does (its outbox message already handled)."""
    with database.session() as s:
        s.add(AlertEvent(id=event_id, alert_id=alert_id, at=utcnow(), kind=kind))
        if notify is not None:
            now = utcnow()
            message = OutboxMessage(topic="alert.deliver", payload={}, created_at=now,
                                    available_at=now, delivered_at=now)
            s.add(message)
            s.flush()
            s.add(Notification(outbox_id=message.id, staff_id=notify, alert_id=alert_id,
                               patient_id=s.get(Alert, alert_id).patient_id,
                               kind="alert.created", created_at=now))
        live.announce(s)


def _next_alert(stream: Stream, within: float = 60.0) -> dict:
    """The next alert event on the stream (keep-alives pass); fails after `within` s."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        kind, data = stream.next()
        assert kind not in ("end", "error"), data
        if kind == "alert":
            return data
    raise AssertionError("no alert on the live inbox")


def _alert_of(world, unit: str):
    """An alert for `unit` about an admitted patient of the region's home ward (one sara may
    read)."""
    pid = world.patient(unit="med")
    world.episode(pid, state="admitted")
    return world.alert(pid, unit=unit)


def _top(database) -> int:
    with database.session() as s:
        return s.scalar(select(func.max(AlertEvent.id))) or 0


def test_an_event_committed_after_a_higher_one_still_reaches_the_open_inbox(
        server, world, database):
    pid = world.patient(unit="med")
    world.episode(pid, state="admitted")
    alert = world.alert(pid, unit="med")
    inbox = _inbox(server, database, world, "sara")
    try:
        top = _top(database) + 100  # numbers no one else takes in this test
        _event(database, alert, top + 10, kind="created")
        shown = _next_alert(inbox)
        assert (shown["event_id"], shown["id"]) == (top + 10, str(alert))
        # The transaction that took number top + 5 commits only now.
        _event(database, alert, top + 5, kind="acknowledged")
        late = _next_alert(inbox)
        assert late["event_id"] == top + 5 and late["id"] == str(alert)
    finally:
        inbox.close()


def test_another_units_alert_reaches_an_inbox_only_when_delivered_to_the_person(
        server, world, database):
    # A patient the region's home ward may read, whose alert goes to the health centre.
    other = _alert_of(world, "hc")
    mine = _alert_of(world, "med")
    inbox = _inbox(server, database, world, "sara")
    try:
        top = _top(database) + 100
        _event(database, other, top + 1, kind="created")  # the health centre's: not hers
        _event(database, mine, top + 2, kind="created")
        first = _next_alert(inbox)
        assert (first["event_id"], first["id"]) == (top + 2, str(mine))
        # The health centre's alert delivered to sara as well: now in her inbox too.
        _event(database, other, top + 3, kind="delivered", notify=world.staff["sara"])
        second = _next_alert(inbox)
        assert (second["event_id"], second["id"]) == (top + 3, str(other))
    finally:
        inbox.close()


def test_an_inbox_woken_by_others_alerts_still_sends_its_keep_alive(server, world, database):
    """Another unit's alert events, one every quarter second: each wakes the open inbox,
    none is for it. It still says something every two seconds (it said nothing at all in a
    busy morning, and its clients hung up after a minute)."""
    other = _alert_of(world, "hc")
    inbox = _inbox(server, database, world, "sara")
    try:
        top = _top(database) + 100
        started = time.monotonic()
        heard = False
        for k in range(60):  # 15 s of events
            _event(database, other, top + k, kind="escalated")
            time.sleep(0.25)
            while not inbox.items.empty():
                kind, data = inbox.items.get_nowait()
                assert kind not in ("end", "error", "alert"), data
                # After three seconds of events: the stream was woken all along.
                heard = heard or (kind == "keep-alive" and time.monotonic() - started > 3)
            if heard:
                break
        assert heard, "the inbox said nothing while others' events kept arriving"
    finally:
        inbox.close()
