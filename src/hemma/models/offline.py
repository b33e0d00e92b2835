"""What the route page sends from the phone, kept so that sending it again changes nothing:
each visit report with the client id the phone made for it (the phone queues reports made
without coverage and sends them when it is back online, possibly more than once)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from hemma.models.base import Base, uuid_pk


class VisitReportRecord(Base):
    """One report of a visit (started, done, not done) as its staff member sent it. The
    client id is unique per visit: a resend finds the first report and records nothing."""

    __tablename__ = "visit_reports"
    __table_args__ = (UniqueConstraint("visit_id", "client_id", name="uq_visit_reports_client_id"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    visit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("visits.id"))
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"), index=True)
    status: Mapped[str] = mapped_column(String(20))
    # Made by the sending phone (or form); None from a sender that makes none.
    client_id: Mapped[str | None] = mapped_column(String(64))
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    # When it happened, by the phone's clock (a report sent later keeps its time); and when
    # it reached us.
    reported_at: Mapped[datetime]
    received_at: Mapped[datetime]
    # The values measured at the visit, recorded with the report.
    # No foreign key: observations are partitioned by month on PostgreSQL.
    observation_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())
