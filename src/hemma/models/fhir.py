"""FHIR subscriptions (rest-hook) and the bookkeeping of their notifications."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hemma.models.base import Base, uuid_pk


class FhirSubscription(Base):
    """A client's rest-hook: which events (criteria), where to (an endpoint an administrator
    allowed), as whom (the account that subscribed: only what it may read is notified)."""

    __tablename__ = "fhir_subscriptions"

    id: Mapped[uuid.UUID] = uuid_pk()
    owner_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    criteria: Mapped[str] = mapped_column(String(100))  # "Flag?status=active", ...
    endpoint: Mapped[str] = mapped_column(String(500))
    headers: Mapped[list[str]] = mapped_column(JSON, default=list)
    reason: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(20))  # active / error / off
    error: Mapped[str | None] = mapped_column(Text)
    # Events created after this are notified (a subscription does not replay the past).
    since: Mapped[datetime]
    created_at: Mapped[datetime]
    # FHIR's meta.versionId and lastUpdated: each change of status or error is a version
    # (subscriptions.changed), so If-Match can tell whether the client saw the current one.
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    updated_at: Mapped[datetime | None]


class FhirNotification(Base):
    """One event told to one subscription: written once (unique), sent by the outbox until
    the endpoint takes it, so each event reaches each subscriber exactly once in our books."""

    __tablename__ = "fhir_notifications"
    __table_args__ = (UniqueConstraint("subscription_id", "resource", name="uq_fhir_notified"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    subscription_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("fhir_subscriptions.id"))
    resource: Mapped[str] = mapped_column(String(120))  # "Flag/<id>"
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"))
    event_at: Mapped[datetime]
    created_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    sent_at: Mapped[datetime | None]
    status_code: Mapped[int | None] = mapped_column(Integer)
