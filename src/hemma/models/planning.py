"""Care requests (vårdbegäran) between units, the visits they become, staff shifts, and saved
day plans (which staff member does which visit, in which order, when)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from hemma.models.base import Base, uuid_pk


class CareKind(StrEnum):
    IV_ANTIBIOTIC = "iv_antibiotic"  # intravenös antibiotika
    BLOOD_SAMPLE = "blood_sample"  # provtagning
    WOUND_CARE = "wound_care"  # såromläggning
    VITAL_SIGNS = "vital_signs"  # kontroller
    ASSESSMENT = "assessment"  # bedömning
    OTHER = "other"


class RequestStatus(StrEnum):
    REQUESTED = "requested"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    CANCELLED = "cancelled"


class VisitStatus(StrEnum):
    PLANNED = "planned"
    STARTED = "started"
    DONE = "done"
    NOT_DONE = "not_done"
    CANCELLED = "cancelled"


# A visit reported started, done or not done: it happened (or was tried) where it was planned.
REPORTED_STATES = (VisitStatus.STARTED, VisitStatus.DONE, VisitStatus.NOT_DONE)


class CareRequest(Base):
    """One unit asks another to do something at the patient's home: what, when (at fixed
    Swedish times each day, e.g. 08/14/20 ± 30 min, or within a window), for how many days,
    how long, with which skills and how many staff."""

    __tablename__ = "care_requests"
    __table_args__ = (
        CheckConstraint("staff_count IN (1, 2)", name="staff_count"),
        CheckConstraint("last_date >= first_date", name="dates"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"), index=True)
    episode_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("episodes.id"), index=True)
    from_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    to_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    # Either fixed times ("08:00", ...) ± tolerance, or one window ("09:00"-"15:00") a day.
    times: Mapped[list[str] | None] = mapped_column(JSON)
    tolerance_minutes: Mapped[int] = mapped_column(Integer, default=30)
    window_start: Mapped[str | None] = mapped_column(String(5))
    window_end: Mapped[str | None] = mapped_column(String(5))
    first_date: Mapped[date] = mapped_column(Date)
    last_date: Mapped[date] = mapped_column(Date)
    duration_minutes: Mapped[int] = mapped_column(Integer)
    skills: Mapped[list[str]] = mapped_column(JSON, default=list)
    staff_count: Mapped[int] = mapped_column(Integer, default=1)
    # Two staff: "simultaneous", or "sequential" (the second gap_min..gap_max min after).
    sync: Mapped[str | None] = mapped_column(String(20))
    gap_min: Mapped[int] = mapped_column(Integer, default=0)
    gap_max: Mapped[int] = mapped_column(Integer, default=0)
    # IV antibiotics on time is medicine: the window is hard. A blood sample "in the
    # morning" may slip, at a cost.
    hard: Mapped[bool] = mapped_column(Boolean, default=True)
    priority: Mapped[int] = mapped_column(Integer, default=2)
    notes: Mapped[str | None] = mapped_column(Text)
    # Sent to another organisation without the patient's consent to share: why none was
    # needed (the receiving unit then sees contact details and the request only).
    sharing_note: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default=RequestStatus.REQUESTED)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    created_at: Mapped[datetime]
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    decided_at: Mapped[datetime | None]
    decline_reason: Mapped[str | None] = mapped_column(Text)


class Visit(Base):
    """One visit at the patient's home on one day: from an accepted care request, or added
    (an urgent visit). Its window is absolute time, computed in Swedish time."""

    __tablename__ = "visits"
    __table_args__ = (
        # Accepting a request twice, or two planners at once, never doubles its visits.
        UniqueConstraint("care_request_id", "earliest", name="uq_visits_request_time"),
        Index("ix_visits_unit_day", "unit_id", "day"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    care_request_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("care_requests.id"))
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))  # who does it
    day: Mapped[date] = mapped_column(Date)  # the Swedish calendar day
    kind: Mapped[str] = mapped_column(String(30))
    earliest: Mapped[datetime]
    latest: Mapped[datetime]  # the latest start
    duration_minutes: Mapped[int] = mapped_column(Integer)
    skills: Mapped[list[str]] = mapped_column(JSON, default=list)
    staff_count: Mapped[int] = mapped_column(Integer, default=1)
    sync: Mapped[str | None] = mapped_column(String(20))
    gap_min: Mapped[int] = mapped_column(Integer, default=0)
    gap_max: Mapped[int] = mapped_column(Integer, default=0)
    hard: Mapped[bool] = mapped_column(Boolean, default=True)
    priority: Mapped[int] = mapped_column(Integer, default=2)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    notes: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default=VisitStatus.PLANNED)
    not_done_reason: Mapped[str | None] = mapped_column(Text)
    # Why, as a code for follow-up (labels.NOT_DONE_CODES), beside the staff's own words.
    not_done_code: Mapped[str | None] = mapped_column(String(30))
    started_at: Mapped[datetime | None]
    done_at: Mapped[datetime | None]
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    created_at: Mapped[datetime]


class StaffShift(Base):
    """A staff member's working day for planning: when, from where to where, breaks, and
    how they travel."""

    __tablename__ = "staff_shifts"
    __table_args__ = (UniqueConstraint("staff_id", "starts_at", name="uq_staff_shift_start"),
                      Index("ix_staff_shifts_unit_day", "unit_id", "day"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    day: Mapped[date] = mapped_column(Date)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    start_place: Mapped[str] = mapped_column(String(20), default="office")  # or "home"
    start_latitude: Mapped[float] = mapped_column(Float)
    start_longitude: Mapped[float] = mapped_column(Float)
    end_latitude: Mapped[float] = mapped_column(Float)
    end_longitude: Mapped[float] = mapped_column(Float)
    # [{"earliest": "11:00", "latest": "13:00", "minutes": 30}] in Swedish time
    breaks: Mapped[list[dict]] = mapped_column(JSON, default=list)
    profile: Mapped[str] = mapped_column(String(20), default="car")


class VisitPlan(Base):
    """A saved plan of one unit's day. The newest is the plan; older ones are its history."""

    __tablename__ = "visit_plans"
    __table_args__ = (Index("ix_visit_plans_unit_day", "unit_id", "day", "created_at"),
                      UniqueConstraint("unit_id", "day", "version", name="uq_visit_plan_version"))

    id: Mapped[uuid.UUID] = uuid_pk()
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    day: Mapped[date] = mapped_column(Date)
    # 1, 2, ... per unit and day: the highest is the plan (two planners at once cannot both
    # save version n + 1).
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    reason: Mapped[str] = mapped_column(String(40))  # "planned", "urgent visit", "moved by hand"
    figures: Mapped[dict] = mapped_column(JSON, default=dict)  # km, minutes driving, late, ...
    unplanned: Mapped[list[dict]] = mapped_column(JSON, default=list)  # [{visit_id, reason}]
    # Where each shift's breaks fall: [{"shift_id", "position", "start", "minutes"}].
    breaks: Mapped[list[dict]] = mapped_column(JSON, default=list)


class VisitAssignment(Base):
    """One staff member's part of one visit in a saved plan."""

    __tablename__ = "visit_assignments"
    __table_args__ = (UniqueConstraint("plan_id", "visit_id", "part", name="uq_assignment"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("visit_plans.id"), index=True)
    visit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("visits.id"), index=True)
    part: Mapped[int] = mapped_column(Integer, default=0)
    shift_id: Mapped[int] = mapped_column(ForeignKey("staff_shifts.id"))
    position: Mapped[int] = mapped_column(Integer)
    planned_start: Mapped[datetime]
    planned_end: Mapped[datetime]
    locked: Mapped[bool] = mapped_column(Boolean, default=False)  # a planner placed it by hand
