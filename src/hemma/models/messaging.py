"""Messages about one patient: threads between the patient (or, later, a relative) and a unit
of the care team, and one thread between the staff of the care team, across organisations.

Every message is documented by a unit (its origin for the access rules): a staff member's
message by their unit; a patient's (or relative's) message by the unit it is addressed to."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hemma.models.base import Base, uuid_pk


class ThreadKind(StrEnum):
    PATIENT = "patient"  # the patient (and relatives) with one unit of the care team
    STAFF = "staff"  # "personal emellan": the care team's staff, about the patient


class AuthorKind(StrEnum):
    PATIENT = "patient"
    STAFF = "staff"
    RELATIVE = "relative"


class MessageThread(Base):
    __tablename__ = "message_threads"
    __table_args__ = (
        # One patient thread per addressed unit, one staff thread per patient.
        UniqueConstraint("patient_id", "key", name="uq_message_threads_patient_key"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    # A patient thread: the unit of the care team it is addressed to (it answers). None for
    # the staff thread.
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    key: Mapped[str] = mapped_column(String(40))  # "patient:<unit id>" or "staff"
    created_at: Mapped[datetime]
    last_message_at: Mapped[datetime]


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_thread_created", "thread_id", "created_at"),
        # The unanswered messages of a unit (the inbox, the menu's count, the sweep).
        Index("ix_messages_waiting", "answered_at", "due_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    thread_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("message_threads.id"))
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"), index=True)
    author_kind: Mapped[str] = mapped_column(String(10))
    author_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    # A relative writing with their own login code (built later): who wrote.
    relative_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("relatives.id"))
    documented_by_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    # A photo sent with the message: stored under data_dir/uploads by a random name (never
    # the name it was uploaded with), re-encoded without EXIF.
    photo_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    photo_type: Mapped[str | None] = mapped_column(String(20))
    photo_bytes: Mapped[int | None] = mapped_column(Integer)
    # A message from the patient (or a relative) to the unit: when its answer is due, when
    # the unit read it and who, when the unit answered, when it was escalated (once).
    due_at: Mapped[datetime | None]
    read_at: Mapped[datetime | None]
    read_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    read_by_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    answered_at: Mapped[datetime | None]
    answered_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    escalated_at: Mapped[datetime | None]
    # A staff message in a patient thread: when the patient opened it.
    seen_at: Mapped[datetime | None]

    @property
    def from_outside(self) -> bool:
        """Written by the patient or a relative (it waits for the unit's answer)."""
        return self.author_kind != AuthorKind.STAFF
