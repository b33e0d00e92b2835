"""The one way to queue an event: `enqueue()` inside the action's transaction. The message
exists only if the action committed; the worker delivers it afterwards, exactly once.

Claiming is a conditional UPDATE (no broker): a worker takes a message by setting a lease,
delivers it and marks it delivered in one transaction. A worker that dies mid-delivery rolls
back; its lease runs out and another worker (or the same, restarted) delivers it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import and_, event, or_, select, update
from sqlalchemy.orm import Session

from hemma.db import notify_on_commit
from hemma.kit.time import utcnow
from hemma.models import OutboxMessage

log = logging.getLogger("hemma.outbox")

LEASE = timedelta(seconds=30)
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


def claim(session: Session, worker: str, now: datetime, limit: int = 50) -> list[int]:
    """Take up to `limit` due messages: those never claimed, or whose lease ran out."""
    candidates = list(session.scalars(
        select(OutboxMessage.id)
        .where(OutboxMessage.delivered_at.is_(None), OutboxMessage.available_at <= now,
               or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now))
        .order_by(OutboxMessage.id).limit(limit)
    ))
    claimed = []
    for message_id in candidates:
        # Conditional: only if nobody claimed it since we looked.
        result = session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id, OutboxMessage.delivered_at.is_(None),
                   or_(OutboxMessage.claimed_until.is_(None),
                       OutboxMessage.claimed_until < now))
            .values(claimed_until=now + LEASE, claimed_by=worker,
                    attempts=OutboxMessage.attempts + 1)
        )
        if result.rowcount == 1:
            claimed.append(message_id)
    return claimed


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

