"""Workers' heartbeats in the database (`worker_heartbeats`), so that any process, on any
host, can tell whether someone delivers the outbox: /ready asks for a fresh one, /metrics
shows each worker's age."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from hemma.db import insert_ignoring_conflict
from hemma.models import WorkerHeartbeat

# A worker silent this long is surely gone: its row is cleared by the others' beats.
FORGET_AFTER = timedelta(days=1)


@dataclass(frozen=True)
class Beat:
    name: str
    host: str
    pid: int
    started_at: datetime
    beat_at: datetime


def beat(session: Session, name: str, host: str, pid: int, now: datetime) -> None:
    """Record that worker `name` completed a round at `now` (its first: it started then)."""
    done = session.execute(update(WorkerHeartbeat).where(WorkerHeartbeat.name == name)
                           .values(beat_at=now, host=host, pid=pid))
    if done.rowcount == 0:
        insert_ignoring_conflict(session, WorkerHeartbeat, [dict(
            name=name, host=host, pid=pid, started_at=now, beat_at=now)], ["name"],
            report=False)
    session.execute(delete(WorkerHeartbeat).where(WorkerHeartbeat.beat_at < now - FORGET_AFTER))


def forget(session: Session, name: str) -> None:
    """A worker that stops removes its heartbeat: it is not a worker that died."""
    session.execute(delete(WorkerHeartbeat).where(WorkerHeartbeat.name == name))


def beats(session: Session) -> list[Beat]:
    return [Beat(*row) for row in session.execute(
        select(WorkerHeartbeat.name, WorkerHeartbeat.host, WorkerHeartbeat.pid,
               WorkerHeartbeat.started_at, WorkerHeartbeat.beat_at)
        .order_by(WorkerHeartbeat.name))]


def newest(session: Session) -> datetime | None:
    return session.scalar(select(func.max(WorkerHeartbeat.beat_at)))
