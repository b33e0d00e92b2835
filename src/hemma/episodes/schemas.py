"""Input and output shapes for episodes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from hemma.access.sharing import SharingAnswer
from hemma.i18n.labels import DISCHARGE_OUTCOMES, RETURN_REASONS
from hemma.kit.validation import DbId, Moment, Schema, Text


class AssessmentCreate(Schema):
    pathway_id: DbId
    responsible_unit_id: DbId | None = None  # default: the user's own unit
    assessment_note: Text | None = Field(default=None, max_length=4000)


class AdmissionCreate(SharingAnswer):
    responsible_physician_id: DbId
    coordinator_id: DbId | None = None
    held_bed: bool = False
    held_bed_location: Text | None = Field(default=None, max_length=200)
    admitted_at: Moment | None = None  # default: now

    @model_validator(mode="after")
    def _held_bed_needs_place(self):
        if self.held_bed and not self.held_bed_location:
            raise ValueError("Say where the held bed is")
        return self


# The codes follow-up counts by (labels.py gives their words): why patients went back to
# hospital, and how the episodes that ended at home ended, deaths at home among them.
ReturnReason = Literal[tuple(RETURN_REASONS)]
DischargeOutcome = Literal[tuple(DISCHARGE_OUTCOMES)]


class EpisodeEnd(Schema):
    note: Text = Field(min_length=1, max_length=4000)
    ended_at: Moment | None = None  # default: now


class Discharge(EpisodeEnd):
    outcome: DischargeOutcome  # how the episode ended: completed, a death at home, other


class ReturnToHospital(EpisodeEnd):
    reason: ReturnReason  # why the patient went back to hospital
    ambulance_informed: bool = False


class EpisodeRead(BaseModel):
    id: uuid.UUID
    patient_id: uuid.UUID
    state: str
    pathway_id: int
    pathway_name: str
    responsible_unit_id: int
    responsible_unit_name: str
    responsible_physician_id: int | None
    coordinator_id: int | None
    bed_number: int | None
    held_bed: bool
    held_bed_location: str | None
    assessed_at: datetime
    admitted_at: datetime | None
    ended_at: datetime | None
    # A return's reason or a discharge's outcome (codes of RETURN_REASONS or
    # DISCHARGE_OUTCOMES by `state`); None while active, when never admitted, and for
    # episodes ended before Hemma asked.
    end_reason: str | None
    end_note: str | None


class HomeWardRow(BaseModel):
    patient_id: uuid.UUID
    personnummer: str
    name: str
    visible: bool
    hidden_reason: str | None = None
    episode_id: uuid.UUID | None = None
    state: str | None = None
    pathway: str | None = None
    responsible_unit: str | None = None
    bed_number: int | None = None
    held_bed: bool | None = None
    admitted_at: datetime | None = None
    day_at_home: int | None = None
    coordinator: str | None = None
    physician: str | None = None
    # The latest NEWS2 the user may see (of the last day) and the episode's open alerts.
    news2_total: int | None = None
    news2_band: str | None = None
    news2_partial: bool | None = None
    news2_at: datetime | None = None
    open_alerts: int = 0
    top_severity: str | None = None
    team_organisations: list[str] = []
