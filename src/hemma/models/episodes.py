"""Home-ward episodes (vårdtillfälle i hemmet), pathways (vårdprogram) and the care team
(care relationships, vårdrelationer) that decide who may see the patient."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hemma.models.base import Base, uuid_pk


class EpisodeState(StrEnum):
    ASSESSING = "assessing"  # bedömning pågår
    ADMITTED = "admitted"  # inskriven i hemmet
    DISCHARGED = "discharged"  # utskriven
    RETURNED = "returned"  # återförd till sjukhus
    NOT_ADMITTED = "not_admitted"  # bedömd, ej inskriven


ACTIVE_STATES = (EpisodeState.ASSESSING, EpisodeState.ADMITTED)
_ACTIVE_SQL = "state IN ('assessing', 'admitted')"


class Pathway(Base):
    """One version of a pathway (vårdprogram). Editing a pathway saves a new version and
    retires the old one; an episode keeps the version it started on (`Episode.pathway_id`).
    What each field may hold is `hemma.pathways.document`."""

    __tablename__ = "pathways"
    __table_args__ = (UniqueConstraint("code", "version", name="uq_pathway_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40))
    version: Mapped[int] = mapped_column(Integer, default=1)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    # The current version of its code; older versions and retired pathways are inactive.
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    expected_days: Mapped[int | None] = mapped_column(Integer)
    # The assessment's diagnosis suitability: [{"key", "text"}] each.
    inclusion_criteria: Mapped[list[dict]] = mapped_column(JSON, default=list)
    exclusion_criteria: Mapped[list[dict]] = mapped_column(JSON, default=list)
    # Visits the plan proposes ([{"key", "what", "care_kind", "organisation_kind", "times",
    # "duration_minutes", "skills", ...}]), the agreement's template, the logistics checklist's
    # template, and the questions of the homecoming call.
    visit_templates: Mapped[list[dict]] = mapped_column(JSON, default=list)
    agreement_template: Mapped[dict] = mapped_column(JSON, default=dict)
    checklist_template: Mapped[list[dict]] = mapped_column(JSON, default=list)
    homecoming_questions: Mapped[list[dict]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime | None]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    change_note: Mapped[str | None] = mapped_column(Text)
    # When values are due, Swedish wall-clock times (e.g. ["08:00", "14:00", "20:00"]) and
    # the tolerance around them; and the default alert rules (hemma.monitoring.rules).
    schedule: Mapped[list[str]] = mapped_column(JSON, default=list)
    tolerance_minutes: Mapped[int] = mapped_column(Integer, default=60)
    rules: Mapped[list[dict]] = mapped_column(JSON, default=list)
    # Yes/no questions the patient answers with their values ({"key": …, "text": …}); a yes
    # to a question with "alert": "<severity>" raises an alert.
    symptom_questions: Mapped[list[dict]] = mapped_column(JSON, default=list)


class Episode(Base):
    __tablename__ = "episodes"
    __table_args__ = (
        # One active episode per patient, enforced by the database so that two nurses
        # admitting at once cannot both succeed.
        Index(
            "uq_episodes_one_active_per_patient",
            "patient_id",
            unique=True,
            sqlite_where=text(_ACTIVE_SQL),
            postgresql_where=text(_ACTIVE_SQL),
        ),
        # A virtual bed holds one admitted patient at a time.
        Index(
            "uq_episodes_bed_per_unit",
            "responsible_unit_id",
            "bed_number",
            unique=True,
            sqlite_where=text("state = 'admitted'"),
            postgresql_where=text("state = 'admitted'"),
        ),
        Index("ix_episodes_unit_state", "responsible_unit_id", "state"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"), index=True)
    state: Mapped[str] = mapped_column(String(20))
    pathway_id: Mapped[int] = mapped_column(ForeignKey("pathways.id"))
    # The unit with medical responsibility; its organisation "documents" the episode.
    responsible_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    responsible_physician_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    coordinator_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))  # fast vårdkontakt
    bed_number: Mapped[int | None] = mapped_column(Integer)
    held_bed: Mapped[bool] = mapped_column(Boolean, default=False)  # trygghetsplats
    held_bed_location: Mapped[str | None] = mapped_column(String(200))
    assessment_note: Mapped[str | None] = mapped_column(Text)
    assessed_at: Mapped[datetime]
    assessed_by_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    admitted_at: Mapped[datetime | None]
    admitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    ended_at: Mapped[datetime | None]
    ended_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    end_note: Mapped[str | None] = mapped_column(Text)
    ambulance_informed: Mapped[bool] = mapped_column(Boolean, default=False)
    # Why it ended, as a code for follow-up: a return's reason (labels.RETURN_REASONS) or a
    # discharge's outcome (labels.DISCHARGE_OUTCOMES, deaths at home among them). None for
    # episodes ended before the codes existed and for those never admitted.
    end_reason: Mapped[str | None] = mapped_column(String(30))
    # Admitted by a physician although a criterion of the assessment was not met (the
    # assessment's decision says why): flagged on the episode and in follow-up.
    criteria_override: Mapped[bool] = mapped_column(Boolean, default=False)

    pathway: Mapped[Pathway] = relationship(lazy="raise")

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_STATES


class CareRelation(Base):
    """A unit, or one staff member, caring for the patient from `starts_at` until `ends_at`.

    This is the vårdrelation that Patientdatalagen requires before anyone may read the record."""

    __tablename__ = "care_relations"
    __table_args__ = (
        CheckConstraint(
            "(unit_id IS NULL) <> (staff_id IS NULL)", name="unit_xor_staff"
        ),
        Index("ix_care_relations_unit_patient", "unit_id", "patient_id"),
        Index("ix_care_relations_staff_patient", "staff_id", "patient_id"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"), index=True)
    episode_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("episodes.id"), index=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    role: Mapped[str | None] = mapped_column(String(200))
    # A member from another organisation joined without the patient's consent to share:
    # why none was needed (they then see contact details only).
    sharing_note: Mapped[str | None] = mapped_column(Text)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime | None]
    created_by_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    documented_by_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    ended_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
