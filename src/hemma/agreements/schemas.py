"""Input and output shapes for the agreement with the patient."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, field_validator

from hemma.kit.validation import DB_INT_MAX, Schema, Text

Line = Annotated[Text, Field(min_length=1, max_length=500)]
IfWorseAction = Literal["call_team", "feeling_worse", "call_112"]


class IfWorseLine(Schema):
    """One symptom and what the patient does about it."""

    symptom: Line
    action: IfWorseAction


class AgreementContent(Schema):
    """What staff write (from the pathway's template, edited for this patient). The phone
    numbers and measurement times are added from the duty roster and the monitoring plan
    when a version is saved."""

    patient_tasks: list[Line] = Field(default_factory=list, max_length=20)
    team_tasks: list[Line] = Field(default_factory=list, max_length=20)
    if_worse: list[IfWorseLine] = Field(default_factory=list, max_length=20)
    planned_days: int = Field(ge=1, le=90)
    end_criteria: Annotated[Text, Field(min_length=1, max_length=2000)]

    @field_validator("if_worse")
    @classmethod
    def _someone_to_call(cls, value: list[IfWorseLine]) -> list[IfWorseLine]:
        # The reason the patient has the paper at all: what to do when it gets worse.
        if not value:
            raise ValueError("Say what the patient does if they get worse")
        return value


ChangeNote = Annotated[Text, Field(max_length=1000)]


class AgreementSave(Schema):
    content: AgreementContent
    # What changed from the last version: required from version 2 on.
    change_note: ChangeNote | None = None
    # The version the writer started from: a save on top of a newer one is refused.
    base_version: int | None = Field(default=None, ge=0, le=DB_INT_MAX)


class PaperConfirmation(Schema):
    version: int = Field(ge=1, le=DB_INT_MAX)


class AgreementRead(BaseModel):
    version: int
    content: dict
    change_note: str | None
    changes: list[str]
    created_at: datetime
    created_by: str
    documented_by_unit: str
    confirmed_at: datetime | None
    confirmed_how: str | None
    current: bool
