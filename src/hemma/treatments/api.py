"""JSON API: treatments given at home and the record of each dose."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends

from hemma.access.policy import Action
from hemma.treatments import service
from hemma.treatments.schemas import DoseRead, DoseRecord, OrderCreate, OrderRead, TreatmentRecordRead
from hemma.web.deps import DbSession, PatientAccess, PatientContext
from hemma.web.routing import JsonRoute

router = APIRouter(prefix="/api/v1", tags=["treatments"], route_class=JsonRoute)
Reader = Annotated[PatientContext, Depends(PatientAccess(Action.READ))]
Manager = Annotated[PatientContext, Depends(PatientAccess(Action.EPISODE))]
Visitor = Annotated[PatientContext, Depends(PatientAccess(Action.VISIT))]


def _order(v: service.OrderView) -> OrderRead:
    o = v.order
    return OrderRead(
        id=o.id, episode_id=o.episode_id, drug=o.drug, atc_code=o.atc_code, dose=o.dose,
        route=o.route, times=o.times, starts_on=o.starts_on, stops_on=o.stops_on,
        prescriber=v.prescriber, giving_unit_id=o.giving_unit_id, giving_unit_name=v.giving_unit,
        care_request_id=o.care_request_id, stopped_at=o.stopped_at,
        doses=[DoseRead(id=d.id, planned_at=d.planned_at, given=d.given, reason=d.reason,
                        visit_id=d.visit_id, recorded_at=d.recorded_at,
                        recorded_by=v.recorded_by.get(d.recorded_by_id)) for d in v.doses],
        hidden_doses=v.hidden_doses)


def _record(db, ctx: PatientContext, episode_id: uuid.UUID) -> TreatmentRecordRead:
    record = service.treatment_record(db, ctx.decision, episode_id)
    return TreatmentRecordRead(orders=[_order(v) for v in record.orders],
                               hidden_orders=record.hidden_orders)


def _one(db, ctx: PatientContext, episode_id: uuid.UUID, order_id: uuid.UUID) -> OrderRead:
    record = service.treatment_record(db, ctx.decision, episode_id)
    return _order(next(v for v in record.orders if v.order.id == order_id))


@router.get("/patients/{patient_id}/episodes/{episode_id}/treatments",
            response_model=TreatmentRecordRead)
def treatments(episode_id: uuid.UUID, db: DbSession, ctx: Reader):
    """The episode's treatments given at home, each with its doses (not a medication list)."""
    return _record(db, ctx, episode_id)


@router.post("/patients/{patient_id}/episodes/{episode_id}/treatments", status_code=201,
             response_model=OrderRead)
def order(episode_id: uuid.UUID, body: OrderCreate, db: DbSession, ctx: Manager):
    """A physician orders a treatment given at home; the giving unit is asked for its visits
    (answer `sharing` when it is another organisation without the patient's consent)."""
    created = service.order_treatment(db, ctx.subject, ctx.patient_id, episode_id, body)
    return _one(db, ctx, episode_id, created.id)


@router.post("/patients/{patient_id}/treatments/{order_id}/stop", response_model=OrderRead)
def stop(order_id: uuid.UUID, db: DbSession, ctx: Manager):
    """A physician stops the treatment: its visits not yet made are cancelled."""
    stopped = service.stop_order(db, ctx.subject, ctx.patient_id, order_id)
    return _one(db, ctx, stopped.episode_id, stopped.id)


@router.post("/patients/{patient_id}/treatments/{order_id}/doses", status_code=201,
             response_model=OrderRead)
def record_dose(order_id: uuid.UUID, body: DoseRecord, db: DbSession, ctx: Visitor):
    """Record a planned dose: given, or not given with a reason."""
    service.record_dose(db, ctx.subject, ctx.patient_id, order_id, body)
    order = service.get_order(db, ctx.decision, ctx.patient_id, order_id)
    return _one(db, ctx, order.episode_id, order_id)
