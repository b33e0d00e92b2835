"""JSON API: the patient's hand-overs (SBAR)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends

from hemma.access.policy import Action
from hemma.handovers import service
from hemma.handovers.schemas import HandoverCreate, HandoverRead
from hemma.web.deps import DbSession, PatientAccess, PatientContext
from hemma.web.routing import JsonRoute

router = APIRouter(prefix="/api/v1", tags=["handovers"], route_class=JsonRoute)
Reader = Annotated[PatientContext, Depends(PatientAccess(Action.READ))]
Coordinator = Annotated[PatientContext, Depends(PatientAccess(Action.COORDINATE))]


def handover_read(x: service.HandoverView) -> HandoverRead:
    h = x.handover
    return HandoverRead(
        id=h.id, patient_id=h.patient_id, episode_id=h.episode_id, from_unit_id=h.from_unit_id,
        from_unit_name=x.from_unit, to_unit_id=h.to_unit_id, to_unit_name=x.to_unit,
        situation=h.situation, background=h.background, assessment=h.assessment,
        recommendation=h.recommendation, created_at=h.created_at, created_by=x.created_by,
        received_at=h.received_at, received_by=x.received_by)


@router.get("/patients/{patient_id}/handovers", response_model=list[HandoverRead])
def handovers(db: DbSession, ctx: Reader):
    """The patient's hand-overs the caller may see, newest first."""
    views, _hidden = service.patient_handovers(db, ctx.decision, ctx.patient_id)
    return [handover_read(x) for x in views]


@router.post("/patients/{patient_id}/handovers", status_code=201, response_model=HandoverRead)
def write(data: HandoverCreate, db: DbSession, ctx: Coordinator):
    """Hand the patient over, in SBAR form, to a unit of the care team."""
    h = service.write(db, ctx.subject, ctx.patient_id, data)
    return handover_read(service.get(db, ctx.decision, ctx.patient_id, h.id))


@router.post("/patients/{patient_id}/handovers/{handover_id}/receive",
             response_model=HandoverRead)
def receive(handover_id: uuid.UUID, db: DbSession, ctx: Coordinator):
    """Confirm as received: only someone of the receiving unit."""
    service.receive(db, ctx.subject, ctx.patient_id, handover_id)
    return handover_read(service.get(db, ctx.decision, ctx.patient_id, handover_id))
