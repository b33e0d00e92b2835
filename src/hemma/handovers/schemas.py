"""What hand-overs take in and give out."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from hemma.kit.validation import DbId, Schema, Text


class HandoverCreate(Schema):
    """SBAR: what is happening now, what led here, how the writer judges it, and what the
    receiver should do (and when to call whom)."""

    to_unit_id: DbId
    situation: Text = Field(min_length=1, max_length=2000)
    background: Text = Field(min_length=1, max_length=4000)
    assessment: Text = Field(min_length=1, max_length=4000)
    recommendation: Text = Field(min_length=1, max_length=4000)


class HandoverRead(BaseModel):
    id: uuid.UUID
    patient_id: uuid.UUID
    episode_id: uuid.UUID | None
    from_unit_id: int
    from_unit_name: str
    to_unit_id: int
    to_unit_name: str
    situation: str
    background: str
    assessment: str
    recommendation: str
    created_at: datetime
    created_by: str
    received_at: datetime | None
    received_by: str | None
