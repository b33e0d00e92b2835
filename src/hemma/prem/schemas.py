"""The patient's experience (PREM) on the way in and out."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from hemma.kit.validation import Day, Schema
from hemma.prem.questionnaire import COMMENT_MAX, KEYS


class PremPaper(Schema):
    """A paper questionnaire as staff type it in. Every field may be left out here, so that
    the rules (who may enter it, for which episode) are decided before the input is read;
    the action names what is missing or wrong."""

    # {question key: 1..5}; a question the patient left out is left out.
    answers: dict[str, Any] = Field(
        default_factory=dict, max_length=20,
        json_schema_extra={"propertyNames": {"enum": list(KEYS)},
                           "additionalProperties": {"type": "integer", "minimum": 1,
                                                    "maximum": 5}})
    # Plain text, checked by the questionnaire (control characters, composed letters).
    comment: str | None = Field(default=None, max_length=COMMENT_MAX)
    # The day the patient filled it in (Swedish date): not in the future, not before the
    # admission. Required.
    answered_on: Day | None = None


class PremRead(BaseModel):
    questionnaire: str
    answers: dict[str, int]
    comment: str | None
    channel: str  # "phone": the patient on their own page; "paper": typed in by staff
    answered_at: datetime
    entered_by: str | None


class PremStatus(BaseModel):
    episode_id: uuid.UUID
    # The patient of this episode is asked (discharged, and not a death at home).
    asked: bool
    questionnaire: str
    response: PremRead | None
