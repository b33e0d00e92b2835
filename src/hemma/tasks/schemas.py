"""What tasks take in and give out."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from hemma.kit.validation import DbId, Moment, Schema, Text

PRIORITIES = ("normal", "high", "urgent")
Priority = Literal["normal", "high", "urgent"]


class TaskCreate(Schema):
    """A task for a unit of the care team (in any organisation), or for a person in it."""

    title: Text = Field(min_length=1, max_length=200)
    description: Text | None = Field(default=None, max_length=2000)
    unit_id: DbId
    staff_id: DbId | None = None
    due_at: Moment
    priority: Priority = "normal"


class TaskUndo(Schema):
    """Done by mistake, or not done after all: why it is open again."""

    reason: Text = Field(min_length=1, max_length=1000)


class TaskEventRead(BaseModel):
    kind: str
    at: datetime
    by: str | None
    reason: str | None


class TaskRead(BaseModel):
    id: uuid.UUID
    patient_id: uuid.UUID
    episode_id: uuid.UUID | None
    kind: str
    title: str
    description: str | None
    priority: str
    unit_id: int
    unit_name: str
    staff_id: int | None
    staff_name: str | None
    due_at: datetime
    overdue: bool
    escalated_at: datetime | None
    done_at: datetime | None
    done_by: str | None
    documented_by_unit_id: int
    history: list[TaskEventRead] = []
