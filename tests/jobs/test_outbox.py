"""The outbox with several workers: a claim lasts HEMMA_OUTBOX_LEASE_SECONDS and is then
anyone's; a worker asked to stop hands back what it claimed; a delivery on the clock carries
its own time. (Real processes: tests/test_processes.py.)"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from hemma.config import configure
from hemma.jobs import outbox
from hemma.jobs.worker import Worker
from hemma.kit.time import frozen_clock, utcnow
from hemma.models import OutboxMessage


@pytest.fixture
def topic():
    """A topic of the test's own, its handler given by the test."""
    name = "test.noted"
    yield name
    outbox.HANDLERS.pop(name, None)


def _queue(database, topic: str, n: int) -> list[int]:
    with database.session() as s:
        messages = [outbox.enqueue(s, topic, {"n": i}) for i in range(n)]
        s.flush()
        return [m.id for m in messages]


def _messages(database) -> dict[int, OutboxMessage]:
    with database.session() as s:
        return {m.id: m for m in s.scalars(select(OutboxMessage))}


def test_a_claim_lasts_the_configured_lease_then_another_worker_delivers(settings, database,
                                                                        topic):
    configure(settings.model_copy(update={"outbox_lease_seconds": 5}))
    delivered = []
    outbox.handler(topic)(lambda s, message, now: delivered.append(message.id))
    [message_id] = _queue(database, topic, 1)
    t0 = utcnow() + timedelta(seconds=1)
    with database.session() as s:
        assert outbox.claim(s, "a", t0) == [message_id]
    assert _messages(database)[message_id].claimed_until == t0 + timedelta(seconds=5)
    with database.session() as s:
        assert outbox.claim(s, "b", t0 + timedelta(seconds=4)) == []  # still a's
    with database.session() as s:
        assert outbox.claim(s, "b", t0 + timedelta(seconds=6)) == [message_id]  # a is gone
    with database.session() as s:
        assert outbox.deliver(s, message_id, "a", t0) is False  # no longer a's to deliver
    with database.session() as s:
        assert outbox.deliver(s, message_id, "b", t0 + timedelta(seconds=6)) is True
    assert delivered == [message_id]
    assert _messages(database)[message_id].attempts == 2


def test_a_worker_asked_to_stop_hands_back_what_it_claimed(database, topic):
    worker = Worker(database, name="stopping")
    delivered = []

    def deliver(s, message, now):
        delivered.append(message.id)
        worker.stop()  # SIGTERM arrives while the first message is being delivered

    outbox.handler(topic)(deliver)
    ids = _queue(database, topic, 3)
    now = utcnow() + timedelta(seconds=1)
    report = worker.tick(now)
    assert (report.delivered, delivered) == (1, ids[:1])  # it finished the one it was at
    messages = _messages(database)
    for message_id in ids[1:]:  # the rest: anyone's at once, the claim not an attempt
        m = messages[message_id]
        assert (m.claimed_by, m.claimed_until, m.attempts, m.delivered_at) == (None, None, 0,
                                                                               None)
    assert Worker(database, name="other").tick(now).delivered == 2  # no lease to wait for
    assert delivered == ids


def test_deliveries_on_the_clock_carry_their_own_time(database, topic):
    """A worker on the clock (not a test's `now`) reads it at each claim and delivery: a
    slow backlog's messages say when each was delivered, not when the round began."""
    t0 = utcnow().replace(microsecond=0) + timedelta(seconds=1)
    with frozen_clock(t0) as advance:
        outbox.handler(topic)(lambda s, message, now: advance(timedelta(seconds=10)))
        ids = _queue(database, topic, 3)
        assert Worker(database).tick().delivered == 3
    messages = _messages(database)
    assert [messages[i].delivered_at for i in ids] == [
        t0 + timedelta(seconds=10 * k) for k in range(3)]
