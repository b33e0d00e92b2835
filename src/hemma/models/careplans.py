"""The road home: the structured assessment (snabbspår), the agreement the patient has in
their hand (överenskommelse), the shared plan across organisations (gemensam plan, SIP) with
its activities and tasks, treatments given at home, the logistics checklist, and the
discharge summary to ordinary care.

Every row carries the unit that documented it (`documented_by_unit_id`): that is its origin
for the access rules, so another organisation reads it with the patient's consent and never
changes it."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from hemma.models.base import Base, uuid_pk


class PartStatus(StrEnum):
    MET = "met"  # uppfyllt
    NOT_MET = "not_met"  # ej uppfyllt
    NOT_ASSESSED = "not_assessed"  # ej bedömt


# The six parts of the snabbspår assessment, in the order they are asked.
ASSESSMENT_PARTS = ("medical_stability", "adl", "mobility", "home", "medication", "diagnosis")


class Assessment(Base):
    """One version of the structured assessment of an episode. A re-assessment is a new
    version; earlier ones stay as they were. The physician's decision is taken on a version."""

    __tablename__ = "assessments"
    __table_args__ = (UniqueConstraint("episode_id", "version", name="uq_assessment_version"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    episode_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("episodes.id"), index=True)
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    # {part: {"status": met/not_met/not_assessed, "note": str, ...part's own facts}}
    parts: Mapped[dict] = mapped_column(JSON, default=dict)
    # The medical stability as computed when the version was saved: NEWS2, each value with
    # its time, what was missing, oxygen.
    stability: Mapped[dict] = mapped_column(JSON, default=dict)
    # {"inclusion": {key: bool}, "exclusion": {key: bool}} against the pathway's criteria.
    criteria: Mapped[dict] = mapped_column(JSON, default=dict)
    # What was told and agreed: {"given": [..], "how": "oral"/"written"/"both",
    # "consent_home": bool, "relatives_informed": bool, "note": str}
    information: Mapped[dict] = mapped_column(JSON, default=dict)
    documented_by_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    created_at: Mapped[datetime]
    created_by_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    decision: Mapped[str | None] = mapped_column(String(20))  # admit / not_admit
    decision_reason: Mapped[str | None] = mapped_column(Text)
    # The physician admitted although a criterion was not met (the reason says why).
    override: Mapped[bool] = mapped_column(Boolean, default=False)
    decided_at: Mapped[datetime | None]
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))


class Agreement(Base):
    """One version of the documented agreement with the patient: what they and their
    relatives do, what the team does and when, what to do if worse, whom to call, how long
    and until what. Each change is a new version, confirmed by the patient on its own."""

    __tablename__ = "agreements"
    __table_args__ = (UniqueConstraint("episode_id", "version", name="uq_agreement_version"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    episode_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("episodes.id"), index=True)
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    content: Mapped[dict] = mapped_column(JSON, default=dict)
    change_note: Mapped[str | None] = mapped_column(Text)  # what changed from the last version
    documented_by_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    created_at: Mapped[datetime]
    created_by_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    confirmed_at: Mapped[datetime | None]
    confirmed_how: Mapped[str | None] = mapped_column(String(20))  # patient_page / paper
    confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))  # paper


class CarePlan(Base):
    """The one shared plan of an episode (gemensam plan): the patient's goals in their own
    words, needs, follow-up dates. Its activities are rows of their own, each owned by the
    organisation that does it."""

    __tablename__ = "care_plans"

    id: Mapped[uuid.UUID] = uuid_pk()
    episode_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("episodes.id"), unique=True)
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"), index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    goals: Mapped[str | None] = mapped_column(Text)
    needs: Mapped[str | None] = mapped_column(Text)
    follow_ups: Mapped[list[dict]] = mapped_column(JSON, default=list)  # [{"on", "what"}]
    documented_by_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    updated_at: Mapped[datetime]
    updated_by_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))


class CarePlanVersion(Base):
    """What the plan looked like after each change, and what the change was."""

    __tablename__ = "care_plan_versions"
    __table_args__ = (UniqueConstraint("plan_id", "version", name="uq_care_plan_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("care_plans.id"))
    version: Mapped[int] = mapped_column(Integer)
    snapshot: Mapped[dict] = mapped_column(JSON, default=dict)
    change: Mapped[str] = mapped_column(String(200))
    documented_by_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    changed_at: Mapped[datetime]
    changed_by_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))


class ActivityKind(StrEnum):
    VISIT = "visit"  # visits at fixed times: becomes a care request to the unit
    ONCE = "once"  # one thing to do by a time: becomes a task
    ONGOING = "ongoing"  # support that goes on (home help, the patient's own measuring)


class ActivityStatus(StrEnum):
    PLANNED = "planned"
    REQUESTED = "requested"  # a care request was sent, not yet answered
    ONGOING = "ongoing"
    DONE = "done"
    DECLINED = "declined"
    STOPPED = "stopped"


class PlanActivity(Base):
    """Who does what, when: one line of the shared plan, owned by the organisation that
    does it (its unit documents it)."""

    __tablename__ = "plan_activities"

    id: Mapped[uuid.UUID] = uuid_pk()
    plan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("care_plans.id"), index=True)
    episode_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("episodes.id"), index=True)
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))  # responsible unit
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))  # or a named person
    what: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(20))
    # A visit: times of day ("08:00", …), how long, with which skills, which kind of care.
    times: Mapped[list[str]] = mapped_column(JSON, default=list)
    duration_minutes: Mapped[int | None] = mapped_column(Integer)
    skills: Mapped[list[str]] = mapped_column(JSON, default=list)
    care_kind: Mapped[str | None] = mapped_column(String(30))
    due_at: Mapped[datetime | None]  # once
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date | None] = mapped_column(Date)
    # Goes on after discharge (named in the discharge summary with its owner).
    continues_after: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(20), default=ActivityStatus.PLANNED)
    care_request_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("care_requests.id"))
    task_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tasks.id"))
    documented_by_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    created_at: Mapped[datetime]
    created_by_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    updated_at: Mapped[datetime]
    updated_by_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))


class SipMeeting(Base):
    """Samordnad individuell plan (Lag 2017:612): when the patient will need the
    municipality after discharge, the notice to it and the meeting it must be called to."""

    __tablename__ = "sip_meetings"

    id: Mapped[uuid.UUID] = uuid_pk()
    episode_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("episodes.id"), unique=True)
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"), index=True)
    needed_from: Mapped[datetime]  # when the need of the municipality was recorded
    notice_sent_at: Mapped[datetime | None]  # inskrivningsmeddelande to the municipality
    called_at: Mapped[datetime | None]  # kallelse sent
    meeting_at: Mapped[datetime | None]  # when it is (to be) held
    held_at: Mapped[datetime | None]
    participants: Mapped[list[str]] = mapped_column(JSON, default=list)
    decisions: Mapped[str | None] = mapped_column(Text)
    documented_by_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    updated_at: Mapped[datetime]
    updated_by_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))


class Task(Base):
    """Something one unit or person must do for the patient by a time: a one-off plan
    activity, the homecoming call (hemkomstsamtal) with its answers."""

    __tablename__ = "tasks"
    __table_args__ = (Index("ix_tasks_unit_open", "unit_id", "done_at"),
                      Index("ix_tasks_open_due", "done_at", "due_at"))

    id: Mapped[uuid.UUID] = uuid_pk()
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"), index=True)
    episode_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("episodes.id"), index=True)
    # activity (a one-off of the shared plan) / homecoming_call / round (from a round's
    # decision) / manual (written on the patient's task list)
    kind: Mapped[str] = mapped_column(String(30))
    title: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    # The owner: a unit of the care team, in any organisation, and within it perhaps a person.
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    due_at: Mapped[datetime]
    priority: Mapped[str] = mapped_column(String(10), default="normal", server_default="normal")
    round_note_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("round_notes.id"))
    # Set once, by the sweep that tells the owner's unit the task is overdue.
    escalated_at: Mapped[datetime | None]
    # The questions asked (homecoming call) and the answers given.
    questions: Mapped[list[dict]] = mapped_column(JSON, default=list)
    answers: Mapped[dict] = mapped_column(JSON, default=dict)
    done_at: Mapped[datetime | None]
    done_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    documented_by_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    created_at: Mapped[datetime]
    created_by_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))


class TreatmentOrder(Base):
    """A treatment the home ward gives (IV antibiotics, subcutaneous injections, infusions):
    not a medication module, the few facts that drive the visits and their record."""

    __tablename__ = "treatment_orders"

    id: Mapped[uuid.UUID] = uuid_pk()
    episode_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("episodes.id"), index=True)
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"), index=True)
    drug: Mapped[str] = mapped_column(String(200))
    atc_code: Mapped[str | None] = mapped_column(String(7))
    dose: Mapped[str] = mapped_column(String(100))
    route: Mapped[str] = mapped_column(String(20))  # iv / sc / im / po / infusion
    times: Mapped[list[str]] = mapped_column(JSON, default=list)
    starts_on: Mapped[date] = mapped_column(Date)
    stops_on: Mapped[date] = mapped_column(Date)
    prescriber_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    giving_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    care_request_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("care_requests.id"))
    documented_by_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    created_at: Mapped[datetime]
    created_by_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    stopped_at: Mapped[datetime | None]
    stopped_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))


class TreatmentDose(Base):
    """One planned dose and what happened: given, or not given with a reason."""

    __tablename__ = "treatment_doses"
    __table_args__ = (UniqueConstraint("order_id", "planned_at", name="uq_dose_time"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("treatment_orders.id"), index=True)
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"), index=True)
    visit_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("visits.id"))
    planned_at: Mapped[datetime]
    given: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str | None] = mapped_column(Text)
    recorded_at: Mapped[datetime]
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    documented_by_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))


class ChecklistCategory(StrEnum):
    SUPPLIES = "supplies"  # förbrukningsmaterial
    MEDICINES = "medicines"  # läkemedel och pumpar
    AIDS = "aids"  # hjälpmedel
    DEVICES = "devices"  # mätutrustning, surfplatta
    KEY = "key"  # nyckel, nyckelgömma


class ChecklistItem(Base):
    """One thing that must be in the home before the patient is."""

    __tablename__ = "checklist_items"

    id: Mapped[uuid.UUID] = uuid_pk()
    episode_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("episodes.id"), index=True)
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    category: Mapped[str] = mapped_column(String(20))
    what: Mapped[str] = mapped_column(String(300))
    provider_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    deliverer: Mapped[str | None] = mapped_column(String(200))
    due_at: Mapped[datetime]
    done_at: Mapped[datetime | None]
    done_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    documented_by_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    created_at: Mapped[datetime]
    created_by_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))


class DischargeSummary(Base):
    """The summary that hands the patient back to ordinary care: generated from the episode,
    edited and signed by the physician, sent to the units that take over."""

    __tablename__ = "discharge_summaries"

    id: Mapped[uuid.UUID] = uuid_pk()
    episode_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("episodes.id"), unique=True)
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"), index=True)
    # The facts gathered from the episode (days, values, alerts, decisions, treatments,
    # activities that continue, follow-ups) and the physician's text.
    facts: Mapped[dict] = mapped_column(JSON, default=dict)
    text: Mapped[str | None] = mapped_column(Text)
    next_steps: Mapped[str | None] = mapped_column(Text)  # what happens next, for the patient
    documented_by_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    created_at: Mapped[datetime]
    created_by_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    updated_at: Mapped[datetime]
    signed_at: Mapped[datetime | None]
    signed_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))


class SummaryReceipt(Base):
    """A signed summary sent to a unit that takes over, and its acknowledgement."""

    __tablename__ = "summary_receipts"
    __table_args__ = (UniqueConstraint("summary_id", "unit_id", name="uq_summary_receipt"),
                      Index("ix_summary_receipts_unit", "unit_id", "acknowledged_at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    summary_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("discharge_summaries.id"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    sent_at: Mapped[datetime]
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
