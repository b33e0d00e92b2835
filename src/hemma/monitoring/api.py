"""JSON API: observations (one, or a batch from a device gateway), alerts, the plan."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from hemma.access import audit
from hemma.access.auth import Caller
from hemma.access.policy import Action
from hemma.access.service import decisions_for, log_listed, origin
from hemma.kit.errors import FieldError, Invalid, NotFound
from hemma.kit.time import utcnow
from hemma.kit.validation import Moment
from hemma.models import Episode, Pathway
from hemma.monitoring import alerts, service, views, visible
from hemma.monitoring.rules import effective_rules
from hemma.monitoring.schemas import (
    Acknowledge,
    ObservationBatch,
    ObservationCreate,
    ObservationRead,
    PlanUpdate,
    Resolve,
    Snooze,
)
from hemma.web.deps import (
    DbSession,
    DeferredPatientAccess,
    PatientAccess,
    PatientContext,
    Principal,
    StaffAccess,
)
from hemma.web.routing import JsonRoute

router = APIRouter(prefix="/api/v1", tags=["monitoring"], route_class=JsonRoute)
Reader = Annotated[PatientContext, Depends(PatientAccess(Action.READ))]
Handler = Annotated[PatientContext, Depends(PatientAccess(Action.ALERT))]


def _performer(principal: Principal) -> str:
    return "device" if principal.profession == "system" else "staff"


@router.post("/patients/{patient_id}/observations", status_code=201,
             response_model=ObservationRead, openapi_extra={"requestBody": {
                 "required": True, "content": {"application/json": {
                     "schema": ObservationCreate.model_json_schema()}}}})
async def record(request: Request, patient_id: uuid.UUID,
                 caller: Annotated[Caller, Depends(DeferredPatientAccess(Action.OBSERVE))]):
    """Record one submission of values (an `ObservationCreate`). Send a fresh `client_id`
    with each; resending the same one returns the first result (`duplicate: true`) and
    changes nothing. Submissions arriving together are recorded in one transaction."""
    return await request.app.state.ingest.submit(caller, patient_id, await request.body())


@router.post("/observations/batch", response_model=list[ObservationRead])
def batch(body: ObservationBatch, db: DbSession,
          principal: Annotated[Principal, Depends(StaffAccess(Action.OBSERVE))]):
    """Many submissions at once (a device gateway catching up). All or nothing: one bad item
    refuses the batch with its index, and nothing is stored. A patient you may not record
    for is refused like one that does not exist."""
    subject = principal.subject
    decisions = decisions_for(db, subject, {item.patient_id for item in body.observations},
                              Action.OBSERVE)
    for index, item in enumerate(body.observations):
        decision = decisions[item.patient_id]
        if not decision:
            if decision.facts is not None and decision.facts.exists:
                audit.record(db, item.patient_id, "observation.record", outcome="denied")
            raise Invalid(errors=[FieldError(f"observations.{index}.patient_id", "Not found")])
    recorded = service.record_many(
        db, [(item.patient_id, item) for item in body.observations],
        performer=_performer(principal), source="api",
        documented_by_unit_id=subject.unit_id, staff_id=subject.staff_id, indexed=True)
    log_listed(db, decisions, "observation.record")
    return [ObservationRead.of(
        visible.answer(db, decisions[item.patient_id], r.observation, r.news2_units),
        duplicate=not r.created, alert=r.alert)
        for item, r in zip(body.observations, recorded, strict=True)]


@router.get("/patients/{patient_id}/observations", response_model=list[ObservationRead])
def list_observations(db: DbSession, ctx: Reader, since: Moment | None = None):
    """The patient's values you may see, oldest first (default: the last 72 hours)."""
    since = since or utcnow() - timedelta(hours=72)
    rows = views.visible_observations(db, ctx.decision, ctx.patient_id, since)
    return [ObservationRead.of(o) for o in rows]


class AlertOut(BaseModel):
    id: uuid.UUID
    patient_id: uuid.UUID
    patient: str
    kind: str
    severity: str
    status: str
    reasons: list[str]
    created_at: datetime
    # When its newest values were measured (those that raised it or joined it later).
    latest_value_at: datetime | None
    escalation_level: int
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    # Closed because the episode ended (episode_discharged, episode_returned), not by hand.
    resolved_reason: str | None


def _alert_out(view: views.AlertView) -> AlertOut:
    a = view.alert
    return AlertOut(id=a.id, patient_id=a.patient_id, patient=view.patient.full_name,
                    kind=a.kind, severity=a.severity, status=a.status, reasons=view.reasons,
                    created_at=a.created_at, latest_value_at=a.latest_value_at,
                    escalation_level=a.escalation_level, acknowledged_at=a.acknowledged_at,
                    resolved_at=a.resolved_at, resolved_reason=a.resolved_reason)


@router.get("/alerts", response_model=list[AlertOut])
def inbox(db: DbSession, principal: Annotated[Principal, Depends(StaffAccess(Action.READ))]):
    """Unresolved alerts of your unit and those delivered to you, most urgent first."""
    return [_alert_out(v) for v in views.inbox(db, principal.subject)]


def _handled(db, ctx: PatientContext, alert) -> AlertOut:
    return _alert_out(views.alert_view(db, ctx.decision, alert))


@router.post("/patients/{patient_id}/alerts/{alert_id}/acknowledge", response_model=AlertOut)
def acknowledge(alert_id: uuid.UUID, body: Acknowledge, db: DbSession, ctx: Handler):
    """Acknowledge: escalation stops."""
    return _handled(db, ctx, alerts.acknowledge_alert(db, ctx.subject, ctx.patient_id,
                                                      alert_id, body))


@router.post("/patients/{patient_id}/alerts/{alert_id}/snooze", response_model=AlertOut)
def snooze(alert_id: uuid.UUID, body: Snooze, db: DbSession, ctx: Handler):
    """Snooze with a reason; the alert comes back after `minutes`."""
    return _handled(db, ctx, alerts.snooze_alert(db, ctx.subject, ctx.patient_id, alert_id,
                                                 body))


@router.post("/patients/{patient_id}/alerts/{alert_id}/resolve", response_model=AlertOut)
def resolve(alert_id: uuid.UUID, body: Resolve, db: DbSession, ctx: Handler):
    """Resolve with a note."""
    return _handled(db, ctx, alerts.resolve_alert(db, ctx.subject, ctx.patient_id, alert_id,
                                                  body))


class PlanOut(BaseModel):
    spo2_scale: int
    schedule: list[str]
    tolerance_minutes: int
    rules: list[dict]
    rule_overrides: list[dict]
    contact_phone: str | None


def _plan_out(db, episode) -> PlanOut:
    plan = service.plan_for(db, episode)
    pathway = db.get(Pathway, episode.pathway_id)
    overrides = plan.rule_overrides if plan else []
    return PlanOut(
        spo2_scale=plan.spo2_scale if plan else 1,
        schedule=plan.schedule if plan and plan.schedule is not None else pathway.schedule,
        tolerance_minutes=(plan.tolerance_minutes if plan and plan.tolerance_minutes
                           else pathway.tolerance_minutes),
        rules=[r.to_dict() for r in effective_rules(pathway.rules or [], overrides)],
        rule_overrides=overrides, contact_phone=plan.contact_phone if plan else None)


def _episode(db, patient_id):
    episode = service.active_episode(db, patient_id)
    if episode is None:
        raise NotFound()
    return episode


@router.get("/patients/{patient_id}/monitoring-plan", response_model=PlanOut)
def get_plan(db: DbSession, ctx: Reader):
    """The effective monitoring plan: the pathway's schedule and rules with this patient's
    overrides."""
    episode = _episode(db, ctx.patient_id)
    if not ctx.decision.sees(origin(db, episode.responsible_unit_id)):
        raise NotFound()
    return _plan_out(db, episode)


@router.put("/patients/{patient_id}/monitoring-plan", response_model=PlanOut)
def put_plan(body: PlanUpdate, db: DbSession,
             ctx: Annotated[PatientContext, Depends(PatientAccess(Action.PLAN))]):
    """Set the SpO2 scale, schedule and rule overrides (physician)."""
    plan = service.update_plan(db, ctx.subject, ctx.patient_id, body)
    return _plan_out(db, db.get(Episode, plan.episode_id))
