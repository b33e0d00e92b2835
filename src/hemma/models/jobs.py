"""The transactional outbox and what it delivers. A named action queues a message in its
own transaction; the worker delivers it after commit, exactly once, even if killed midway."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hemma.models.audit import BigId
from hemma.models.base import Base


class OutboxMessage(Base):
    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_pending", "delivered_at", "available_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime]
    available_at: Mapped[datetime]
    # A worker holds a message until this time; a crashed worker's hold simply runs out.
    claimed_until: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    delivered_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(500))


class Notification(Base):
    """One staff member's copy of an event, in the order they happened: the live inbox's
    event ids, so a page that reconnects asks for everything after the last one it saw."""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("outbox_id", "staff_id", name="uq_notifications_outbox_staff"),
        Index("ix_notifications_staff_id", "staff_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id"))
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    alert_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("alerts.id"))
    patient_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("patients.id"))
    kind: Mapped[str] = mapped_column(String(30))
    created_at: Mapped[datetime]
    read_at: Mapped[datetime | None]


class WorkerHeartbeat(Base):
    """One row per running worker (`hemma worker`, or the one inside `hemma serve`), beaten
    at the end of every round it completes: /ready and /metrics see, from any process, that
    someone delivers the outbox. A worker that stops removes its row; one that died leaves
    it to go stale (and rows older than a day are cleared by the others)."""

    __tablename__ = "worker_heartbeats"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime]
    beat_at: Mapped[datetime]
