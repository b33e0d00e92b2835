"""JSON API: the round worklist and decisions."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from hemma.access.policy import Action
from hemma.config import get_settings
from hemma.kit.errors import Conflict
from hemma.kit.time import local_today
from hemma.planning import service as planning
from hemma.planning.day import Budget
from hemma.rounds import service
from hemma.web.deps import DbSession, OwnWork, PatientAccess, PatientContext, Principal, StaffAccess
from hemma.web.routing import JsonRoute

router = APIRouter(prefix="/api/v1", tags=["rounds"], route_class=JsonRoute)


class WorklistOut(BaseModel):
    patient_id: uuid.UUID
    name: str
    personnummer: str
    episode_id: uuid.UUID
    pathway: str
    news2_total: int | None
    news2_band: str | None
    news2_partial: bool | None
    measured_at: datetime | None
    open_alerts: int
    top_severity: str | None
    missed: int
    last_round_at: datetime | None
    last_decision: str | None


class NoteOut(BaseModel):
    id: uuid.UUID
    decision: str
    note: str
    at: datetime
    # What "visit" booked: a care request to the unit that makes the visit, or a visit of
    # the physician's own unit (planned at once when it is today).
    care_request_id: uuid.UUID | None = None
    visit_id: uuid.UUID | None = None
    visit_planned: bool | None = None


@router.get("/rounds", response_model=list[WorklistOut])
def worklist(db: DbSession, principal: Annotated[Principal, Depends(StaffAccess(Action.READ))]):
    """The unit's admitted patients ranked by risk (worst alert, NEWS2, missed values, time
    since the last round)."""
    return [WorklistOut(
        patient_id=r.patient.id, name=r.patient.full_name, personnummer=r.patient.personnummer,
        episode_id=r.episode.id, pathway=r.pathway,
        news2_total=r.latest.news2_total if r.latest else None,
        news2_band=r.latest.news2_band if r.latest else None,
        news2_partial=r.latest.news2_partial if r.latest else None,
        measured_at=r.latest.measured_at if r.latest else None,
        open_alerts=r.open_alerts, top_severity=r.top_severity, missed=r.missed,
        last_round_at=r.last_note.at if r.last_note else None,
        last_decision=r.last_note.decision if r.last_note else None,
    ) for r in service.worklist(db, principal.subject)]


@router.post("/patients/{patient_id}/round", status_code=201, response_model=NoteOut)
def decide(body: service.RoundDecision, request: Request,
           ctx: Annotated[PatientContext, Depends(PatientAccess(Action.ROUND))], work: OwnWork):
    """Record the physician's round decision; `return` and `discharge` end the episode;
    `visit` books what `visit` describes (a care request to another unit, or a visit of the
    own unit, planned at once when it is today: `visit_planned` says whether it fitted)."""
    with work() as s:
        note = service.decide(s, ctx.subject, ctx.patient_id, body)
    planned = None
    if note.visit_id is not None and body.visit.when == "today":
        settings = get_settings()
        try:
            plan = planning.plan_day(work, ctx.subject, local_today(),
                                     budget=Budget.of(settings, replan=True),
                                     osrm_url=settings.osrm_url, reason="urgent visit")
            planned = not any(u["visit_id"] == str(note.visit_id) for u in plan.unplanned)
        except Conflict:
            planned = False
    return NoteOut(id=note.id, decision=note.decision, note=note.note, at=note.at,
                   care_request_id=note.care_request_id, visit_id=note.visit_id,
                   visit_planned=planned)
