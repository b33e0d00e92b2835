"""What a care request and the answers to it look like on the way in."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Literal

from pydantic import Field

from hemma.access.sharing import SharingAnswer
from hemma.i18n.labels import NOT_DONE_CODES
from hemma.kit.validation import Clock, Day, DbId, Moment, Schema, Text
from hemma.models import CareKind
from hemma.monitoring.schemas import ObservationValues


class Staffing(Schema):
    """Who a visit needs: skills, one or two staff, and how the two go together."""

    kind: CareKind
    skills: list[Annotated[str, Field(min_length=1, max_length=40)]] = Field(
        default_factory=list, max_length=10)
    staff_count: int = Field(default=1, ge=1, le=2)
    # Two staff: "simultaneous", or "sequential" (the second gap_min..gap_max min after).
    sync: Literal["simultaneous", "sequential"] | None = None
    gap_min: int = Field(default=0, ge=0, le=240)
    gap_max: int = Field(default=0, ge=0, le=480)
    notes: Text | None = Field(default=None, max_length=2000)


class CareRequestCreate(Staffing, SharingAnswer):
    to_unit_id: DbId
    # Fixed times each day (e.g. 08:00, 14:00, 20:00) ± tolerance, or one window a day.
    times: list[Clock] | None = Field(default=None, max_length=12)
    tolerance_minutes: int = Field(default=30, ge=0, le=180)
    window_start: Clock | None = None
    window_end: Clock | None = None
    first_date: Day
    last_date: Day
    duration_minutes: int = Field(ge=5, le=480)
    hard: bool = True
    priority: int = Field(default=2, ge=1, le=3)


class CareRequestDecision(Schema):
    accept: bool
    reason: Text | None = Field(default=None, max_length=1000)


class CareRequestRead(Schema):
    id: uuid.UUID
    patient_id: uuid.UUID
    from_unit_id: int
    to_unit_id: int
    kind: str
    times: list[str] | None
    tolerance_minutes: int
    window_start: str | None
    window_end: str | None
    first_date: date
    last_date: date
    duration_minutes: int
    skills: list[str]
    staff_count: int
    sync: str | None
    gap_min: int
    gap_max: int
    hard: bool
    priority: int
    notes: str | None
    status: str
    decline_reason: str | None
    sharing_note: str | None = None
    visits: int = 0


class UrgentVisitCreate(Staffing):
    """A visit today that no care request foresaw (the patient called, a value alerted)."""

    patient_id: uuid.UUID
    # Swedish time, on the day planned. Left out: from now within the hour when the
    # patient's latest NEWS2 is 7 or more, else from a quarter of an hour on within two hours.
    earliest: Clock | None = None
    latest: Clock | None = None  # the latest start
    duration_minutes: int = Field(default=30, ge=5, le=240)


class VisitMove(Schema):
    shift_id: DbId
    part: int = Field(default=0, ge=0, le=1)


class VisitReport(Schema):
    """What the visiting staff member reports: started, done (with the values measured at the
    visit), or not done (and why)."""

    status: Literal["started", "done", "not_done"]
    # Why a visit was not done, as chosen from the list follow-up counts by (required with
    # "not_done"); `reason` says it in the staff's own words (required with "other").
    reason_code: Literal[tuple(NOT_DONE_CODES)] | None = None
    reason: Text | None = Field(default=None, max_length=1000)
    note: Text | None = Field(default=None, max_length=2000)
    # Made once by the sending phone for this report: sending it again changes nothing (the
    # route page queues reports made without coverage and sends them when it is back).
    client_id: str | None = Field(default=None, min_length=8, max_length=64,
                                  pattern=r"^[A-Za-z0-9_.:\-]+$")
    # When it happened by the phone's clock: a report sent later keeps its time.
    at: Moment | None = None
    # The values measured at the visit (with "done"): they go to the patient's monitoring.
    values: ObservationValues | None = None


class ShiftCreate(Schema):
    staff_id: DbId
    day: Day
    start: Clock
    end: Clock
    start_place: Literal["office", "home"] = "office"
    break_earliest: Clock | None = None
    break_latest: Clock | None = None
    break_minutes: int = Field(default=30, ge=0, le=120)
    profile: Literal["car", "car-town", "walk"] = "car"
    # Where the day starts and ends when it starts from home: the address, looked up like a
    # patient's (only the position is kept), or coordinates another system sends (Sweden).
    home_address: Text | None = Field(default=None, max_length=300)
    latitude: float | None = Field(default=None, ge=55.0, le=69.1)
    longitude: float | None = Field(default=None, ge=10.9, le=24.2)
