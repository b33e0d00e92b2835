"""Coordination between shifts and organisations: what happened to a task (done, undone
with its reason, passed on, escalated), and the structured hand-over (rapport, SBAR).

A hand-over is documented by the unit that writes it (its origin for the access rules) and
addressed to a unit of the care team, which sees it because it was sent to it and confirms
it as received."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hemma.models.base import Base, uuid_pk


class TaskEvent(Base):
    """One line of a task's history: created, done, undone (with a reason), escalated."""

    __tablename__ = "task_events"
    __table_args__ = (Index("ix_task_events_task_at", "task_id", "at"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    task_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tasks.id"))
    kind: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime]
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))  # None: the worker
    reason: Mapped[str | None] = mapped_column(Text)


class Handover(Base):
    """A structured report about one patient, from a shift or unit to another: Situation,
    Background, Assessment, Recommendation."""

    __tablename__ = "handovers"
    __table_args__ = (Index("ix_handovers_to_unread", "to_unit_id", "received_at"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"), index=True)
    episode_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("episodes.id"))
    from_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    to_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    situation: Mapped[str] = mapped_column(Text)
    background: Mapped[str] = mapped_column(Text)
    assessment: Mapped[str] = mapped_column(Text)
    recommendation: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    created_by_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    received_at: Mapped[datetime | None]
    received_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
