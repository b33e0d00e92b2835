"""Notices sent to patients and relatives outside Hemma (e-mail, SMS): that something is
waiting for them, never what. One row per notice handed to a transport."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from hemma.models.audit import BigId
from hemma.models.base import Base

# Who a notice went to: the patient, or one of their relatives (relatives.id).
RECIPIENT_KINDS = ("patient", "relative")
# How: e-mail, SMS, or only written to the log (no transport configured, or no address).
CHANNELS = ("email", "sms", "log")


class SentNotice(Base):
    __tablename__ = "notices"
    # A redelivered outbox message (a worker that died after sending, before its commit)
    # records its notice once.
    __table_args__ = (
        UniqueConstraint("outbox_id", "recipient_kind", "recipient_id",
                         name="uq_notices_outbox_recipient"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id"))
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"), index=True)
    recipient_kind: Mapped[str] = mapped_column(String(10))
    # The patient's or the relative's id (no foreign key: a relative may be removed later,
    # the record of what was sent stays).
    recipient_id: Mapped[uuid.UUID] = mapped_column(Uuid())
    channel: Mapped[str] = mapped_column(String(10))
    # Enough to recognise the address, not to use it: "07x-xxx xx 12", "a…@example.se".
    address: Mapped[str | None] = mapped_column(String(60))
    sent_at: Mapped[datetime]
