"""JSON API: the patient's tasks."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends

from hemma.access.policy import Action
from hemma.tasks import service
from hemma.tasks.schemas import TaskCreate, TaskEventRead, TaskRead, TaskUndo
from hemma.web.deps import DbSession, PatientAccess, PatientContext
from hemma.web.routing import JsonRoute

router = APIRouter(prefix="/api/v1", tags=["tasks"], route_class=JsonRoute)
Reader = Annotated[PatientContext, Depends(PatientAccess(Action.READ))]
Coordinator = Annotated[PatientContext, Depends(PatientAccess(Action.COORDINATE))]


def task_read(x: service.TaskView) -> TaskRead:
    t = x.task
    return TaskRead(
        id=t.id, patient_id=t.patient_id, episode_id=t.episode_id, kind=t.kind, title=t.title,
        description=t.description, priority=t.priority, unit_id=t.unit_id,
        unit_name=x.unit_name, staff_id=t.staff_id, staff_name=x.staff_name, due_at=t.due_at,
        overdue=x.overdue, escalated_at=t.escalated_at, done_at=t.done_at, done_by=x.done_by,
        documented_by_unit_id=t.documented_by_unit_id,
        history=[TaskEventRead(kind=e.kind, at=e.at, by=who, reason=e.reason)
                 for e, who in x.history])


@router.get("/patients/{patient_id}/tasks", response_model=list[TaskRead])
def tasks(db: DbSession, ctx: Reader):
    """The patient's tasks the caller may see: open first, by due time, with their history.
    Tasks another organisation wrote need the patient's consent, unless given to the caller's
    unit."""
    views, _hidden = service.patient_tasks(db, ctx.decision, ctx.patient_id)
    return [task_read(x) for x in views]


@router.post("/patients/{patient_id}/tasks", status_code=201, response_model=TaskRead)
def add(data: TaskCreate, db: DbSession, ctx: Coordinator):
    """Give a task to a unit of the care team (any organisation), or to a person in it."""
    task = service.add_task(db, ctx.subject, ctx.patient_id, data)
    return task_read(service.get_task(db, ctx.decision, ctx.patient_id, task.id))


@router.post("/patients/{patient_id}/tasks/{task_id}/done", response_model=TaskRead)
def done(task_id: uuid.UUID, db: DbSession, ctx: Coordinator):
    """Mark the task done (the owner's unit, or the organisation that wrote it)."""
    service.complete(db, ctx.subject, ctx.patient_id, task_id)
    return task_read(service.get_task(db, ctx.decision, ctx.patient_id, task_id))


@router.post("/patients/{patient_id}/tasks/{task_id}/undo", response_model=TaskRead)
def undo(task_id: uuid.UUID, data: TaskUndo, db: DbSession, ctx: Coordinator):
    """Open a done task again, with the reason."""
    service.undo(db, ctx.subject, ctx.patient_id, task_id, data.reason)
    return task_read(service.get_task(db, ctx.decision, ctx.patient_id, task_id))
