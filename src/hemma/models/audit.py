"""The access log (HSLF-FS 2016:40 4 kap): append-only, hash-chained, reviewed."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from hemma.models.base import Base

# SQLite only auto-increments a plain INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class AuditEntry(Base):
    __tablename__ = "audit_entries"
    __table_args__ = (
        Index("ix_audit_patient_at", "patient_id", "at"),
        Index("ix_audit_user_at", "user_id", "at"),
        Index("ix_audit_org_at", "organisation_id", "at"),
        Index("ix_audit_unit_at", "unit_id", "at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # Position in the hash chain: gap-free, so a deleted row is noticed.
    seq: Mapped[int] = mapped_column(BigInteger, unique=True)
    at: Mapped[datetime]
    # Names are copied, not only referenced: the log must still say who it was after an
    # account is renamed.
    user_id: Mapped[int | None] = mapped_column(Integer)
    username: Mapped[str | None] = mapped_column(String(64))
    unit_id: Mapped[int | None] = mapped_column(Integer)
    organisation_id: Mapped[int | None] = mapped_column(Integer)
    patient_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())
    action: Mapped[str] = mapped_column(String(64))
    # How access was granted: unit (the user's unit cares for the patient), personal (the user
    # is in the care team by name), emergency, or none (a refused attempt / no patient).
    basis: Mapped[str] = mapped_column(String(20))
    emergency: Mapped[bool] = mapped_column(Boolean, default=False)
    outcome: Mapped[str] = mapped_column(String(20))  # allowed / denied
    client_addr: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The end of each chain, one row per chain (1: the access log, 2: the log reviews).
    Appenders lock it, so each chain stays linear."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    last_hash: Mapped[str] = mapped_column(String(64))


class AuditReview(Base):
    """Who reviewed which log entry, when, with what outcome: chained like the entries (a
    review changed or removed behind the application's back must show), in a chain of its
    own so that reviewing never waits on the access log's head."""

    __tablename__ = "audit_reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, unique=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("audit_entries.id"), index=True)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    reviewed_at: Mapped[datetime]
    outcome: Mapped[str] = mapped_column(String(20))  # justified / follow_up / incident
    note: Mapped[str | None] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
