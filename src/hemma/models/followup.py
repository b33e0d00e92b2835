"""Follow-up (uppföljning): the patient's experience of the stay (PREM), answered on their
phone at discharge or entered by staff from paper."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

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
