"""What a treatment order and a dose record take in and give out."""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field

from hemma.access.sharing import SharingAnswer
from hemma.kit.validation import Clock, Day, DbId, Moment, Schema, Text

Route = Literal["iv", "infusion", "sc", "im", "po"]


def _upper(value):
    return value.strip().upper() if isinstance(value, str) else value


def _atc(value: str) -> str:
    # A substance's full ATC code (level 5): letter, two digits, two letters, two digits.
    if not re.fullmatch(r"[A-Z]\d{2}[A-Z]{2}\d{2}", value):
        raise ValueError("Enter a full ATC code, e.g. J01DD04")
    return value


AtcCode = Annotated[str, BeforeValidator(_upper), AfterValidator(_atc)]


class OrderCreate(SharingAnswer):
    drug: Text = Field(min_length=1, max_length=200)
    atc_code: AtcCode | None = None
    dose: Text = Field(min_length=1, max_length=100)  # "2 g", "5 000 E"
    route: Route
    times: list[Clock] = Field(min_length=1, max_length=12)
    starts_on: Day
    stops_on: Day
    giving_unit_id: DbId
    # How long each visit to give it takes (for the giving unit's day plan).
    duration_minutes: int = Field(default=30, ge=5, le=240)


class DoseRecord(Schema):
    planned_at: Moment
    given: bool
    reason: Text | None = Field(default=None, max_length=1000)
    visit_id: uuid.UUID | None = None


class DoseRead(BaseModel):
    id: uuid.UUID
    planned_at: datetime
    given: bool
    reason: str | None
    visit_id: uuid.UUID | None
    recorded_at: datetime
    recorded_by: str | None


class OrderRead(BaseModel):
    id: uuid.UUID
    episode_id: uuid.UUID
    drug: str
    atc_code: str | None
    dose: str
    route: str
    times: list[str]
    starts_on: date
    stops_on: date
    prescriber: str | None
    giving_unit_id: int
    giving_unit_name: str
    care_request_id: uuid.UUID | None
    stopped_at: datetime | None
    doses: list[DoseRead]
    hidden_doses: int


class TreatmentRecordRead(BaseModel):
    orders: list[OrderRead]
    hidden_orders: int
