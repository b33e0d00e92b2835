"""JSON API: the discharge summary of an episode and the unit's inbox of summaries."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from hemma.access.policy import Action
from hemma.summaries import service
from hemma.summaries.schemas import SummarySign, SummaryUpdate
from hemma.web.deps import DbSession, PatientAccess, PatientContext, Principal, StaffAccess
from hemma.web.routing import JsonRoute

router = APIRouter(prefix="/api/v1", tags=["discharge summaries"], route_class=JsonRoute)
Reader = Annotated[PatientContext, Depends(PatientAccess(Action.READ))]
Manager = Annotated[PatientContext, Depends(PatientAccess(Action.EPISODE))]
BASE = "/patients/{patient_id}/episodes/{episode_id}/summary"


class ReceiptRead(BaseModel):
    unit_id: int
    unit: str
    sent_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None


class SummaryRead(BaseModel):
    exists: bool
    facts: dict[str, Any] | None = None
    text: str | None = None
    next_steps: str | None = None
    created_by: str | None = None
    signed_at: datetime | None = None
    signed_by: str | None = None
    receipts: list[ReceiptRead] = []


class InboxRead(BaseModel):
    patient_id: uuid.UUID
    episode_id: uuid.UUID
    patient: str
    from_unit: str
    signed_at: datetime
    acknowledged_at: datetime | None


def _read(view: service.SummaryView) -> SummaryRead:
    s = view.summary
    if s is None:
        return SummaryRead(exists=False)
    return SummaryRead(
        exists=True, facts=s.facts, text=s.text, next_steps=s.next_steps,
        created_by=view.created_by, signed_at=s.signed_at, signed_by=view.signed_by,
        receipts=[ReceiptRead(unit_id=r.unit_id, unit=r.unit, sent_at=r.sent_at,
                              acknowledged_at=r.acknowledged_at,
                              acknowledged_by=r.acknowledged_by) for r in view.receipts])


def _view(db, ctx: PatientContext, episode_id: uuid.UUID) -> SummaryRead:
    return _read(service.summary_view(db, ctx.decision, ctx.patient_id, episode_id))


@router.get(BASE, response_model=SummaryRead)
def get_summary(episode_id: uuid.UUID, db: DbSession, ctx: Reader):
    """The discharge summary as the caller may see it."""
    return _view(db, ctx, episode_id)


@router.post(BASE, status_code=201, response_model=SummaryRead)
def post_summary(episode_id: uuid.UUID, db: DbSession, ctx: Manager):
    """Gather the facts of the discharged episode into a summary to edit."""
    service.draft(db, ctx.subject, ctx.patient_id, episode_id)
    return _view(db, ctx, episode_id)


@router.put(BASE, response_model=SummaryRead)
def put_summary(episode_id: uuid.UUID, body: SummaryUpdate, db: DbSession, ctx: Manager):
    """The physician's text and what happens next (until signed)."""
    service.update(db, ctx.subject, ctx.patient_id, episode_id, body)
    return _view(db, ctx, episode_id)


@router.post(BASE + "/sign", response_model=SummaryRead)
def post_sign(episode_id: uuid.UUID, body: SummarySign, db: DbSession, ctx: Manager):
    """Sign (a physician) and send to the units that take over."""
    service.sign(db, ctx.subject, ctx.patient_id, episode_id, body)
    return _view(db, ctx, episode_id)


@router.post(BASE + "/acknowledge", response_model=SummaryRead)
def post_acknowledge(episode_id: uuid.UUID, db: DbSession, ctx: Reader):
    """The receiving unit acknowledges the summary."""
    service.acknowledge(db, ctx.subject, ctx.patient_id, episode_id)
    return _view(db, ctx, episode_id)


@router.get("/summaries", response_model=list[InboxRead])
def get_inbox(db: DbSession, principal: Annotated[Principal, Depends(StaffAccess(Action.READ))]):
    """Discharge summaries sent to the caller's unit, unacknowledged first."""
    return [InboxRead(patient_id=r.patient_id, episode_id=r.episode_id, patient=r.patient_name,
                      from_unit=r.from_unit, signed_at=r.signed_at,
                      acknowledged_at=r.receipt.acknowledged_at)
            for r in service.inbox(db, principal.subject)]
