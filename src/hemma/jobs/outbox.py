"""The one way to queue an event: `enqueue()` inside the action's transaction. The message
exists only if the action committed; the worker delivers it afterwards, exactly once.

Claiming is a conditional UPDATE (no broker): a worker takes a message by setting a lease
(HEMMA_OUTBOX_LEASE_SECONDS), delivers it and marks it delivered in one transaction. A worker
that dies mid-delivery rolls back; its lease runs out and another worker (or the same,
restarted) delivers it. A worker that stops when asked hands back what it claimed and did not
deliver (`release`), so nobody waits for its lease. Delivery holds the message's row lock and
checks that the claim is still its own: a message is delivered once, whatever the number of
workers and however a lease ran out under one of them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import and_, event, or_, select, update
from sqlalchemy.orm import Session

from hemma.config import get_settings
from hemma.db import notify_on_commit
from hemma.kit.time import utcnow
from hemma.models import OutboxMessage

log = logging.getLogger("hemma.outbox")

CHANNEL = "hemma_outbox"
_ENQUEUED = "hemma.outbox.enqueued"
Handler = Callable[[Session, OutboxMessage, datetime], None]
HANDLERS: dict[str, Handler] = {}

# Set after a commit that queued messages: the in-process worker wakes at once.
ready = threading.Event()


def handler(topic: str):
    def register(fn: Handler) -> Handler:
        HANDLERS[topic] = fn
        return fn
    return register


def enqueue(session: Session, topic: str, payload: dict, *,
            available_at: datetime | None = None) -> OutboxMessage:
    now = utcnow()
    message = OutboxMessage(topic=topic, payload=payload, created_at=now,
                            available_at=available_at or now, attempts=0)
    session.add(message)
    session.info[_ENQUEUED] = True
    notify_on_commit(session, CHANNEL)  # workers in other processes
    return message


@event.listens_for(Session, "after_commit")
def _wake_worker(session: Session) -> None:
    if session.info.pop(_ENQUEUED, False):
        ready.set()


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_ENQUEUED, None)


def lease() -> timedelta:
    """How long a claim holds (HEMMA_OUTBOX_LEASE_SECONDS)."""
    return timedelta(seconds=get_settings().outbox_lease_seconds)


def claim(session: Session, worker: str, now: datetime, limit: int = 50) -> list[int]:
    """Take up to `limit` due messages: those never claimed, or whose lease ran out."""
    candidates = list(session.scalars(
        select(OutboxMessage.id)
        .where(OutboxMessage.delivered_at.is_(None), OutboxMessage.available_at <= now,
               or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now))
        .order_by(OutboxMessage.id).limit(limit)
        # PostgreSQL: rows another worker is claiming or delivering right now are passed
        # over, so workers woken together share a burst instead of queueing on each other.
        .with_for_update(skip_locked=True)
    ))
    until = now + lease()
    claimed = []
    for message_id in candidates:
        # Conditional: only if nobody claimed it since we looked.
        result = session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id, OutboxMessage.delivered_at.is_(None),
                   or_(OutboxMessage.claimed_until.is_(None),
                       OutboxMessage.claimed_until < now))
            .values(claimed_until=until, claimed_by=worker,
                    attempts=OutboxMessage.attempts + 1)
        )
        if result.rowcount == 1:
            claimed.append(message_id)
    return claimed


def release(session: Session, worker: str, message_ids: list[int]) -> int:
    """Hand back claimed messages this worker will not deliver (it is stopping): due again at
    once for any worker, and the claim not counted as an attempt. Returns how many."""
    if not message_ids:
        return 0
    notify_on_commit(session, CHANNEL)  # the other workers: look now, not at their next round
    return session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(message_ids), OutboxMessage.claimed_by == worker,
               OutboxMessage.delivered_at.is_(None))
        .values(claimed_until=None, claimed_by=None, attempts=OutboxMessage.attempts - 1)
    ).rowcount


def deliver(session: Session, message_id: int, worker: str, now: datetime) -> bool:
    """Deliver one claimed message inside the caller's transaction; the caller commits.
    Returns False if the message is no longer ours (another worker took over)."""
    message = session.scalar(
        select(OutboxMessage).where(
            OutboxMessage.id == message_id, OutboxMessage.delivered_at.is_(None),
            and_(OutboxMessage.claimed_by == worker)).with_for_update()
    )
    if message is None:
        return False
    fn = HANDLERS.get(message.topic)
    if fn is None:
        raise LookupError(f"no handler for outbox topic {message.topic!r}")
    fn(session, message, now)
    message.delivered_at = now
    return True

