"""Follow-up (uppföljning): the patient's experience of the stay (PREM), answered on their
phone at discharge or entered by staff from paper; the measures materialised per day."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import JSON, Date, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hemma.models.audit import BigId
from hemma.models.base import Base, uuid_pk


class PremResponse(Base):
    """One patient's answers about one episode (patient-reported experience measures).
    Answers are 1–5 per question key of the questionnaire version, or absent when the
    patient left it out; the free comment is the patient's own words and is read only by
    those who may read the episode. Outside the care team only distributions are shown."""

    __tablename__ = "prem_responses"
    __table_args__ = (Index("ix_prem_responses_unit_answered", "unit_id", "answered_at"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    # One response per episode: the phone's and the paper's are the same questionnaire.
    episode_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("episodes.id"), unique=True)
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"), index=True)
    # The episode's responsible unit: it documents the response (its origin).
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    questionnaire: Mapped[str] = mapped_column(String(20))  # version, e.g. "prem-1"
    answers: Mapped[dict] = mapped_column(JSON, default=dict)  # {question key: 1..5}
    comment: Mapped[str | None] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(String(10))  # "phone" / "paper"
    answered_at: Mapped[datetime]
    # Staff who typed in a paper questionnaire (None when the patient answered on /p).
    entered_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))


class FollowUpDay(Base):
    """The follow-up measures of one Swedish date, unit and pathway, as
    `hemma.followup.measures.Day.to_json()`: what the page adds up instead of reading a
    year of events. The worker keeps recent days current; `hemma followup rebuild` remakes
    any range. A test holds them equal to the raw computation."""

    __tablename__ = "followup_days"
    __table_args__ = (UniqueConstraint("day", "unit_id", "pathway",
                                       name="uq_followup_days_day_unit_pathway"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    day: Mapped[date] = mapped_column(Date, index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    pathway: Mapped[str] = mapped_column(String(40))  # "" where there is no episode
    data: Mapped[dict] = mapped_column(JSON)


class FollowUpComputed(Base):
    """A Swedish date whose `followup_days` are computed (a date with no events has none)."""

    __tablename__ = "followup_computed"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    computed_at: Mapped[datetime]
    # Which refresh computed it (random per refresh): what a process that keeps added-up
    # months in memory compares to know they still hold.
    batch: Mapped[str] = mapped_column(String(32))
