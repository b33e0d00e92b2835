"""The access log (HSLF-FS 2016:40 4 kap): append-only, hash-chained, reviewed."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
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
        # Not unique: on PostgreSQL the table is partitioned by month (`at`), where a unique
        # constraint must include the partition key. The head's lock keeps each chain one
        # line, and `verify` finds any row that is not.
        Index("ix_audit_chain_seq", "chain_id", "seq"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # The chain (an `audit_head` row: the organisation whose staff acted) and the position
    # in it: gap-free, so a deleted row is noticed.
    chain_id: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(BigInteger)
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
    """The end of each chain, one row per chain: the access log and the log reviews of each
    organisation (vårdgivare), and of the installation (accesses with no organisation: the
    patients' and relatives' own pages, refused logins). Appenders lock it, so each chain
    stays linear and organisations never wait for each other. Before Step 9 there was one
    chain of each kind for everyone (ids 1 and 2): kept as they were, `closed`, digest 1."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # "entries:org:<id>", "entries:installation", "reviews:org:<id>", "entries:shared" …
    chain_key: Mapped[str] = mapped_column(String(40), unique=True)
    kind: Mapped[str] = mapped_column(String(10))  # entries / reviews
    organisation_id: Mapped[int | None] = mapped_column(Integer)
    # 1: the rows' fields as before Step 9; 2: the chain's id is part of each row's hash.
    digest_version: Mapped[int] = mapped_column(Integer, default=2)
    closed: Mapped[bool] = mapped_column(Boolean, default=False)
    # Where the kept part of the chain begins: rows before it were purged after their
    # retention time (`first_seq` 1 and the genesis hash: nothing purged).
    first_seq: Mapped[int] = mapped_column(BigInteger, default=1)
    first_prev_hash: Mapped[str] = mapped_column(String(64))
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    last_hash: Mapped[str] = mapped_column(String(64))


class AuditReview(Base):
    """Who reviewed which log entry, when, with what outcome: chained like the entries (a
    review changed or removed behind the application's back must show), in a chain of its
    own so that reviewing never waits on the access log's head."""

    __tablename__ = "audit_reviews"
    __table_args__ = (UniqueConstraint("chain_id", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chain_id: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(BigInteger)
    # No foreign key: the access log is partitioned on PostgreSQL (a key into it would have
    # to carry the month), and old months are detached for archive. Reviews are made only
    # of entries the reviewer's organisation has (logreview.record_review checks).
    entry_id: Mapped[int] = mapped_column(BigId, index=True)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    reviewed_at: Mapped[datetime]
    outcome: Mapped[str] = mapped_column(String(20))  # justified / follow_up / incident
    note: Mapped[str | None] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
