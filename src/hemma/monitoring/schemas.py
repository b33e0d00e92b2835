"""Input shapes for observations, plans and alert actions. The plausibility limits reject
values no living patient at home can have (a typo, a unit mix-up), naming the field."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from hemma.kit.validation import Moment, Phone, Schema, Text, local_float
from hemma.monitoring.news2 import CONSCIOUSNESS
from hemma.monitoring.rules import (
    MAX_KEY_LENGTH,
    MAX_RULE_VALUE,
    MAX_WITHIN_HOURS,
    OPERATORS,
    SEVERITIES,
    VALUE_PARAMETERS,
    Rule,
)

# Values are optional one by one; a submission needs at least one of them.
VALUE_FIELDS = ("respiration_rate", "spo2", "on_oxygen", "temperature", "systolic_bp",
                "diastolic_bp", "pulse", "consciousness", "weight", "blood_glucose", "pain")


class ObservationValues(Schema):
    respiration_rate: int | None = Field(default=None, ge=3, le=80)
    spo2: int | None = Field(default=None, ge=50, le=100)
    on_oxygen: bool | None = None
    # Typed by people as often as sent by devices: "38,9" is a number (LocalFloat).
    temperature: local_float(25.0, 45.0) | None = None
    systolic_bp: int | None = Field(default=None, ge=40, le=300)
    diastolic_bp: int | None = Field(default=None, ge=20, le=200)
    pulse: int | None = Field(default=None, ge=20, le=250)
    consciousness: str | None = None
    weight: local_float(20.0, 350.0) | None = None
    blood_glucose: local_float(0.5, 50.0) | None = None
    pain: int | None = Field(default=None, ge=0, le=10)
    symptoms: dict[Text, Text | int | bool] = Field(default_factory=dict, max_length=30)
    feeling_worse: bool = False
    note: Text | None = Field(default=None, max_length=2000)

    @field_validator("consciousness")
    @classmethod
    def _acvpu(cls, value: str | None) -> str | None:
        if value is not None and value not in CONSCIOUSNESS:
            raise ValueError("Choose A, C, V, P or U")
        return value

    @field_validator("symptoms")
    @classmethod
    def _symptoms(cls, value: dict) -> dict:
        for key, answer in value.items():
            if len(key) > 60 or (isinstance(answer, str) and len(answer) > 200):
                raise ValueError("Symptom answers are short")
        return value

    @model_validator(mode="after")
    def _something(self):
        if self.systolic_bp is not None and self.diastolic_bp is not None \
                and self.diastolic_bp >= self.systolic_bp:
            raise ValueError("The lower blood pressure must be below the upper")
        if not (any(getattr(self, f) is not None for f in VALUE_FIELDS) or self.symptoms
                or self.feeling_worse or self.note):
            raise ValueError("Enter at least one value")
        return self


class ObservationCreate(ObservationValues):
    # Made by the sending phone, form or device; resending it is harmless.
    client_id: str = Field(min_length=8, max_length=80, pattern=r"^[A-Za-z0-9_.:\-]+$")
    measured_at: Moment
    device_id: Text | None = Field(default=None, max_length=100)


class BatchItem(ObservationCreate):
    patient_id: uuid.UUID


class ObservationBatch(Schema):
    observations: list[BatchItem] = Field(min_length=1, max_length=1000)


class ObservationRead(BaseModel):
    id: uuid.UUID
    patient_id: uuid.UUID
    client_id: str
    measured_at: datetime
    received_at: datetime
    performer: str
    source: str
    news2_total: int | None
    news2_band: str | None
    news2_partial: bool
    values: dict
    duplicate: bool = False
    alert_id: uuid.UUID | None = None

    @classmethod
    def of(cls, o, *, duplicate: bool = False, alert=None) -> ObservationRead:
        """From a stored row, so not validated here; the response model checks it once on
        the way out (a batch answers hundreds of these)."""
        return cls.model_construct(
            id=o.id, patient_id=o.patient_id, client_id=o.client_id, measured_at=o.measured_at,
            received_at=o.received_at, performer=o.performer, source=o.source,
            news2_total=o.news2_total, news2_band=o.news2_band, news2_partial=o.news2_partial,
            values={f: getattr(o, f) for f in VALUE_FIELDS if getattr(o, f) is not None}
            | ({"symptoms": o.symptoms} if o.symptoms else {})
            | ({"feeling_worse": True} if o.feeling_worse else {}),
            duplicate=duplicate, alert_id=alert.id if alert else None)


class RuleOverride(Schema):
    """One alert rule of a patient's plan: the same key replaces the pathway's rule, a new key
    adds one, `disabled` removes one. Every field is bounded (see monitoring.rules)."""

    key: Text = Field(min_length=1, max_length=MAX_KEY_LENGTH)
    disabled: bool = False
    parameter: Literal[VALUE_PARAMETERS] | None = None
    op: Literal[tuple(OPERATORS)] | None = None
    value: float | None = Field(default=None, ge=-MAX_RULE_VALUE, le=MAX_RULE_VALUE)
    severity: Literal[SEVERITIES] | None = None
    within_hours: float | None = Field(default=None, gt=0, le=MAX_WITHIN_HOURS)

    @model_validator(mode="after")
    def _complete(self):
        if not self.disabled and None in (self.parameter, self.op, self.value, self.severity):
            raise ValueError("Each rule needs key, parameter, op, value and severity")
        return self

    def stored(self) -> dict:
        """As kept in the plan (and read by `rules.effective_rules`)."""
        if self.disabled:
            return {"key": self.key, "disabled": True}
        return Rule(key=self.key, parameter=self.parameter, op=self.op, value=self.value,
                    severity=self.severity, within_hours=self.within_hours).to_dict()


class PlanUpdate(Schema):
    spo2_scale: Literal[1, 2] = 1
    schedule: list[str] | None = Field(default=None, max_length=12)
    tolerance_minutes: int | None = Field(default=None, ge=10, le=240)
    rule_overrides: list[RuleOverride] = Field(default_factory=list, max_length=30)
    contact_phone: Phone | None = Field(default=None, max_length=40)

    @field_validator("schedule")
    @classmethod
    def _times(cls, value):
        import re

        if value is None:
            return None
        for t in value:
            if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", t):
                raise ValueError("Times as HH:MM, e.g. 08:00")
        return sorted(set(value))


class Acknowledge(Schema):
    note: Text | None = Field(default=None, max_length=1000)


class Resolve(Schema):
    note: Text = Field(min_length=1, max_length=2000)


class Snooze(Schema):
    reason: Text = Field(min_length=3, max_length=500)
    minutes: int = Field(ge=5, le=24 * 60)
