"""The main menu's badges: what waits for the user's unit (open alerts, care requests to
answer, patients' messages to answer). Counts only, of the unit's own work: they show no patient."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hemma.access.policy import Action, Subject
from hemma.messaging.service import unanswered_count
from hemma.models import Alert, Handover, SummaryReceipt
from hemma.planning.service import pending_care_requests


def badges(db: Session, subject: Subject) -> dict[str, int]:
    out = {}
    if subject.role_allows(Action.READ):
        out["alerts"] = db.scalar(select(func.count()).select_from(Alert).where(
            Alert.unit_id == subject.unit_id, Alert.status == "open")) or 0
        out["summaries"] = db.scalar(select(func.count()).select_from(SummaryReceipt).where(
            SummaryReceipt.unit_id == subject.unit_id,
            SummaryReceipt.acknowledged_at.is_(None))) or 0
        # Counts only (no patient): the board shows which, as the user may see them.
        out["handovers"] = db.scalar(select(func.count()).select_from(Handover).where(
            Handover.to_unit_id == subject.unit_id, Handover.received_at.is_(None))) or 0
        out["messages"] = unanswered_count(db, subject.unit_id)
    if subject.role_allows(Action.CARE_REQUEST):
        out["care_requests"] = pending_care_requests(db, subject)
    return out
