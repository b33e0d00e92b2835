"""The shared plan on the way in: goals, activities, their status, the SIP meeting."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from hemma.access.sharing import SharingAnswer
from hemma.kit.validation import Clock, Day, DbId, Moment, Schema, Text
from hemma.models import ActivityKind, CareKind

Line = Annotated[Text, Field(min_length=1, max_length=300)]


class FollowUp(Schema):
    on: Day
    what: Line


class GoalsUpdate(Schema):
    goals: Text | None = Field(default=None, max_length=4000)  # in the patient's own words
    needs: Text | None = Field(default=None, max_length=4000)
    follow_ups: list[FollowUp] = Field(default_factory=list, max_length=20)


class ActivityCreate(SharingAnswer):
    """One line of the plan: who (a unit, or a named person of it) does what, when."""

    unit_id: DbId
    staff_id: DbId | None = None
    what: Annotated[Text, Field(min_length=1, max_length=1000)]
    kind: ActivityKind
    # A visit: the times of day, how long, which skills, what kind of care.
    times: list[Clock] = Field(default_factory=list, max_length=8)
    tolerance_minutes: int = Field(default=30, ge=0, le=180)
    duration_minutes: int | None = Field(default=None, ge=5, le=480)
    skills: list[Annotated[str, Field(min_length=1, max_length=40)]] = Field(
        default_factory=list, max_length=10)
    care_kind: CareKind = CareKind.OTHER
    due_at: Moment | None = None  # once
    starts_on: Day
    ends_on: Day | None = None
    continues_after: bool = False  # goes on after discharge (named in the summary)


class ActivityStatusUpdate(Schema):
    status: Literal["planned", "ongoing", "done", "stopped"]


class SipUpdate(Schema):
    notice_sent_at: Moment | None = None
    called_at: Moment | None = None
    meeting_at: Moment | None = None
    held_at: Moment | None = None
    participants: list[Line] = Field(default_factory=list, max_length=20)
    decisions: Text | None = Field(default=None, max_length=4000)
