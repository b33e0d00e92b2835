"""JSON API: the logistics checklist and the homecoming call."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from hemma.access.policy import Action
from hemma.kit.time import utcnow
from hemma.logistics import service
from hemma.logistics.schemas import (
    ChecklistCreate,
    ChecklistDone,
    ChecklistItemCreate,
    ChecklistItemRead,
    HomecomingAnswers,
    HomecomingCallRead,
    LogisticsRead,
)
from hemma.web.deps import DbSession, PatientAccess, PatientContext
from hemma.web.routing import JsonRoute

router = APIRouter(prefix="/api/v1", tags=["logistics"], route_class=JsonRoute)
Reader = Annotated[PatientContext, Depends(PatientAccess(Action.READ))]
Manager = Annotated[PatientContext, Depends(PatientAccess(Action.EPISODE))]
Visitor = Annotated[PatientContext, Depends(PatientAccess(Action.VISIT))]


def _read(db, ctx: PatientContext, episode_id: uuid.UUID) -> LogisticsRead:
    view = service.logistics(db, ctx.decision, ctx.patient_id, episode_id)
    now = utcnow()
    call = view.call
    return LogisticsRead(
        items=[ChecklistItemRead(
            id=x.item.id, episode_id=x.item.episode_id, category=x.item.category,
            what=x.item.what, provider_unit_id=x.item.provider_unit_id,
            provider_unit_name=x.provider_name, provider_organisation_name=x.provider_organisation,
            deliverer=x.item.deliverer, due_at=x.item.due_at, overdue=x.overdue,
            done_at=x.item.done_at, done_by=x.done_by,
            documented_by_unit_id=x.item.documented_by_unit_id) for x in view.items],
        hidden_items=view.hidden_items,
        homecoming_call=HomecomingCallRead(
            id=call.id, episode_id=call.episode_id, unit_id=call.unit_id, due_at=call.due_at,
            questions=call.questions, answers=call.answers, done_at=call.done_at,
            overdue=call.done_at is None and call.due_at < now) if call else None)


@router.get("/patients/{patient_id}/episodes/{episode_id}/logistics",
            response_model=LogisticsRead)
def logistics(episode_id: uuid.UUID, db: DbSession, ctx: Reader):
    """The episode's checklist (what must be in the home before the patient) and its
    homecoming call. Items another organisation documented need the patient's consent."""
    return _read(db, ctx, episode_id)


@router.post("/patients/{patient_id}/episodes/{episode_id}/checklist", status_code=201,
             response_model=LogisticsRead)
def create_checklist(episode_id: uuid.UUID, body: ChecklistCreate, db: DbSession,
                     ctx: Manager):
    """Make the checklist from the pathway's template, due before `homecoming_at`, and the
    homecoming call on that evening."""
    service.create_checklist(db, ctx.subject, ctx.patient_id, episode_id, body.homecoming_at)
    return _read(db, ctx, episode_id)


@router.post("/patients/{patient_id}/episodes/{episode_id}/checklist/items", status_code=201,
             response_model=LogisticsRead)
def add_item(episode_id: uuid.UUID, body: ChecklistItemCreate, db: DbSession, ctx: Manager):
    """Add an item by hand."""
    service.add_item(db, ctx.subject, ctx.patient_id, episode_id, body)
    return _read(db, ctx, episode_id)


@router.post("/patients/{patient_id}/checklist/{item_id}/done", response_model=LogisticsRead)
def tick_done(item_id: uuid.UUID, db: DbSession, ctx: Visitor,
              body: ChecklistDone | None = None):
    """The item is in the home (by the providing organisation, or the responsible unit's)."""
    item = service.tick_done(db, ctx.subject, ctx.patient_id, item_id, body or ChecklistDone())
    return _read(db, ctx, item.episode_id)


@router.delete("/patients/{patient_id}/checklist/{item_id}", status_code=204)
def remove_item(item_id: uuid.UUID, db: DbSession, ctx: Manager):
    """Remove an item that is not needed (only the organisation that listed it)."""
    service.remove_item(db, ctx.subject, ctx.patient_id, item_id)
    return Response(status_code=204)


@router.post("/patients/{patient_id}/tasks/{task_id}/answers",
             response_model=HomecomingCallRead)
def answer_call(task_id: uuid.UUID, body: HomecomingAnswers, db: DbSession, ctx: Visitor):
    """Save the homecoming call's answers ({key: {answer: yes/no, note}}); `done` marks the
    call made (every question answered or noted)."""
    call = service.answer_call(db, ctx.subject, ctx.patient_id, task_id, body)
    return HomecomingCallRead(
        id=call.id, episode_id=call.episode_id, unit_id=call.unit_id, due_at=call.due_at,
        questions=call.questions, answers=call.answers, done_at=call.done_at,
        overdue=call.done_at is None and call.due_at < utcnow())
