"""What the patient has decided about sharing (consent, blocks) and emergency accesses."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hemma.models.base import Base, uuid_pk


class Consent(Base):
    """The patient's consent that staff of `organisation_id` may see what other organisations
    documented (sammanhållen journalföring, PDL 6 kap; Lag 2022:913 between health and social
    care). Withdrawn consents are kept, with the time of withdrawal."""

    __tablename__ = "consents"
    __table_args__ = (Index("ix_consents_patient_org", "patient_id", "organisation_id"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    method: Mapped[str] = mapped_column(String(20))  # oral / written
    given_by: Mapped[str] = mapped_column(String(20))  # patient / representative
    note: Mapped[str | None] = mapped_column(Text)
    given_at: Mapped[datetime]
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    documented_by_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    withdrawn_at: Mapped[datetime | None]
    withdrawn_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))


class Block(Base):
    """A block (spärr) on the information one unit documented: hidden from every other unit
    until the patient asks for it to be lifted."""

    __tablename__ = "blocks"
    __table_args__ = (Index("ix_blocks_patient", "patient_id"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    created_by_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    lifted_at: Mapped[datetime | None]
    lifted_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))


class EmergencyAccess(Base):
    """Nödåtkomst: read access without a care relationship or consent, for a limited time,
    with a typed reason, always flagged in the log review."""

    __tablename__ = "emergency_accesses"
    __table_args__ = (Index("ix_emergency_staff_patient", "staff_id", "patient_id"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"))
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    reason: Mapped[str] = mapped_column(Text)
    started_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    client_addr: Mapped[str | None] = mapped_column(String(64))
