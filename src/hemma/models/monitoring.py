"""Observations (vital signs and symptoms), the monitoring plan of an episode, alerts with
their history, and the remote round's notes."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from hemma.models.audit import BigId
from hemma.models.base import Base, uuid_pk


class MonitoringPlan(Base):
    """What a clinician prescribed for one episode: SpO2 scale, schedule and rule overrides,
    and the number the patient calls when values are worrying."""

    __tablename__ = "monitoring_plans"

    id: Mapped[uuid.UUID] = uuid_pk()
    episode_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("episodes.id"), unique=True)
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"), index=True)
    # Scale 2 only for confirmed hypercapnic respiratory failure, set by a physician.
    spo2_scale: Mapped[int] = mapped_column(Integer, default=1)
    spo2_scale_set_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    schedule: Mapped[list[str] | None] = mapped_column(JSON)  # None: the pathway's
    tolerance_minutes: Mapped[int | None] = mapped_column(Integer)
    rule_overrides: Mapped[list[dict]] = mapped_column(JSON, default=list)
    contact_phone: Mapped[str | None] = mapped_column(String(40))
    updated_at: Mapped[datetime]
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))


class Observation(Base):
    """One submission of values, measured together (or close together) by the patient, a
    staff member or a device."""

    __tablename__ = "observations"
    __table_args__ = (
        # Resending the same submission (retries, double taps) never makes a second row. The
        # id is the sender's, so it is unique within the documenting unit: one unit can
        # neither find nor claim another's submissions by guessing their ids. With the time
        # it was measured: on PostgreSQL the table is partitioned by month of `measured_at`,
        # and a unique constraint there must include it (a resend carries the same time;
        # the service finds an earlier submission by its client id alone before it inserts).
        UniqueConstraint("patient_id", "documented_by_unit_id", "client_id", "measured_at",
                         name="uq_observations_client_id"),
        Index("ix_observations_patient_measured", "patient_id", "measured_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"))
    episode_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("episodes.id"), index=True)
    client_id: Mapped[str] = mapped_column(String(80))
    measured_at: Mapped[datetime]
    # The offset the patient's phone or device gave, kept as sent (minutes east of UTC).
    measured_offset_minutes: Mapped[int | None] = mapped_column(Integer)
    received_at: Mapped[datetime]
    performer: Mapped[str] = mapped_column(String(20))  # patient / staff / device
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    device_id: Mapped[str | None] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(String(20))  # patient_page / staff_form / api
    documented_by_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    respiration_rate: Mapped[int | None] = mapped_column(Integer)
    spo2: Mapped[int | None] = mapped_column(Integer)
    on_oxygen: Mapped[bool | None] = mapped_column(Boolean)
    temperature: Mapped[float | None] = mapped_column(Float)
    systolic_bp: Mapped[int | None] = mapped_column(Integer)
    diastolic_bp: Mapped[int | None] = mapped_column(Integer)
    pulse: Mapped[int | None] = mapped_column(Integer)
    consciousness: Mapped[str | None] = mapped_column(String(1))
    weight: Mapped[float | None] = mapped_column(Float)
    blood_glucose: Mapped[float | None] = mapped_column(Float)
    pain: Mapped[int | None] = mapped_column(Integer)
    symptoms: Mapped[dict] = mapped_column(JSON, default=dict)
    feeling_worse: Mapped[bool] = mapped_column(Boolean, default=False)
    note: Mapped[str | None] = mapped_column(Text)
    # NEWS2 combined from the values measured within the window before this observation.
    news2_total: Mapped[int | None] = mapped_column(Integer)
    news2_band: Mapped[str | None] = mapped_column(String(12))
    news2_partial: Mapped[bool] = mapped_column(Boolean, default=True)


class Alert(Base):
    __tablename__ = "alerts"
    __table_args__ = (
        Index("ix_alerts_status_next", "status", "next_escalation_at"),
        Index("ix_alerts_unit_status", "unit_id", "status"),
        Index("ix_alerts_patient_status", "patient_id", "status"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"))
    episode_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("episodes.id"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))  # routed to (responsible)
    kind: Mapped[str] = mapped_column(String(20))  # vitals / worse / missed
    severity: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(15))  # open / acknowledged / resolved
    # One triggering event, one alert: the database refuses a second alert for the same key.
    dedupe_key: Mapped[str] = mapped_column(String(120), unique=True)
    reasons: Mapped[list[dict]] = mapped_column(JSON, default=list)
    # No foreign key: observations are partitioned by month on PostgreSQL (a key into them
    # would have to carry the month) and old months can be detached for archive.
    observation_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())
    created_at: Mapped[datetime]
    # When the newest of the values that raised or joined it were measured (None: it is
    # about values that did not come, a missed measurement). Lists show and sort by it.
    latest_value_at: Mapped[datetime | None]
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    resolved_at: Mapped[datetime | None]
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    resolution_note: Mapped[str | None] = mapped_column(Text)
    # Why it was closed without anyone handling it: the episode ended (episode_discharged,
    # episode_returned). None when staff resolved it, with their note.
    resolved_reason: Mapped[str | None] = mapped_column(String(30))
    snoozed_until: Mapped[datetime | None]
    snooze_reason: Mapped[str | None] = mapped_column(Text)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    next_escalation_at: Mapped[datetime | None]


class AlertEvent(Base):
    """The alert's history: created, delivered, escalated, acknowledged, snoozed, resolved."""

    __tablename__ = "alert_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    alert_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("alerts.id"), index=True)
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(20))
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    level: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[str | None] = mapped_column(Text)


class RoundNote(Base):
    """A decision at the remote round (distansrond)."""

    __tablename__ = "round_notes"
    __table_args__ = (Index("ix_round_notes_patient_at", "patient_id", "at"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"))
    episode_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("episodes.id"))
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    documented_by_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    at: Mapped[datetime]
    decision: Mapped[str] = mapped_column(String(20))  # continue/adjust/visit/return/discharge
    note: Mapped[str] = mapped_column(Text)
    # What a "visit" decision booked: a care request to another unit, or a visit of the
    # physician's own unit.
    care_request_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("care_requests.id"))
    visit_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("visits.id"))


class DutyShift(Base):
    """Who is on duty for a unit, in which role: where alerts go, and whom they escalate to."""

    __tablename__ = "duty_shifts"
    __table_args__ = (Index("ix_duty_unit_time", "unit_id", "starts_at", "ends_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    role: Mapped[str] = mapped_column(String(30))  # nurse / physician_on_call
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]


class PatientAccessCode(Base):
    """The code staff hand to a patient for their own page, or to a relative the patient
    allowed to see part of it (`relative_id`). Only a keyed hash is stored."""

    __tablename__ = "patient_access_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"), index=True)
    relative_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("relatives.id"),
                                                          index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    created_by_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
