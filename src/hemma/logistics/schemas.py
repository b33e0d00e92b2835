"""What the checklist and the homecoming call take in and give out."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from hemma.kit.validation import DbId, Moment, Schema, Text
from hemma.models import ChecklistCategory

# A question's key as the pathway writes it (snake_case).
QuestionKey = Annotated[str, Field(min_length=1, max_length=60, pattern=r"^[a-z][a-z0-9_]*$")]


class ChecklistCreate(Schema):
    """The checklist from the pathway's template: everything is due before this time."""

    homecoming_at: Moment


class ChecklistItemCreate(Schema):
    category: ChecklistCategory
    what: Text = Field(min_length=1, max_length=300)
    provider_unit_id: DbId
    deliverer: Text | None = Field(default=None, max_length=200)
    due_at: Moment


class ChecklistDone(Schema):
    # Who brought it, when that is worth knowing (the pharmacy's courier, a relative).
    deliverer: Text | None = Field(default=None, max_length=200)


class Answer(Schema):
    answer: Literal["yes", "no"] | None = None
    note: Text | None = Field(default=None, max_length=1000)


class HomecomingAnswers(Schema):
    answers: dict[QuestionKey, Answer] = Field(default_factory=dict, max_length=20)
    done: bool = False


class ChecklistItemRead(BaseModel):
    id: uuid.UUID
    episode_id: uuid.UUID
    category: str
    what: str
    provider_unit_id: int
    provider_unit_name: str
    provider_organisation_name: str
    deliverer: str | None
    due_at: datetime
    overdue: bool
    done_at: datetime | None
    done_by: str | None
    documented_by_unit_id: int


class HomecomingCallRead(BaseModel):
    id: uuid.UUID
    episode_id: uuid.UUID | None
    unit_id: int
    due_at: datetime
    questions: list[dict]
    answers: dict
    done_at: datetime | None
    overdue: bool


class LogisticsRead(BaseModel):
    items: list[ChecklistItemRead]
    hidden_items: int
    homecoming_call: HomecomingCallRead | None
