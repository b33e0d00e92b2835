"""HTML pages: the patient's tasks (give one, mark it done, open it again with a reason)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse

from hemma.access.policy import Action
from hemma.kit.time import local, utcnow
from hemma.kit.validation import parse
from hemma.patients.service import get_patient
from hemma.tasks import service
from hemma.tasks.schemas import TaskCreate, TaskUndo
from hemma.web.deps import DbSession, PatientAccess, PatientContext
from hemma.web.forms import attempt, error_messages, form_data, local_times
from hemma.web.templating import render

router = APIRouter()
FormData = Annotated[dict, Depends(form_data)]
Reader = Annotated[PatientContext, Depends(PatientAccess(Action.READ))]
Coordinator = Annotated[PatientContext, Depends(PatientAccess(Action.COORDINATE))]


def _page(request: Request, db, ctx: PatientContext, *, values: dict | None = None,
          errors: dict | None = None, form: str | None = None, status_code: int = 200):
    views, hidden = service.patient_tasks(db, ctx.decision, ctx.patient_id)
    units = service.team_units(db, ctx.patient_id)
    soon = local(utcnow() + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    return render(request, "tasks/tasks.html", {
        "patient": get_patient(db, ctx.patient_id), "tasks": views, "hidden": hidden,
        "units": [(u.id, u.name) for u in units],
        "people": [(s.id, f"{s.full_name} ({u.name})") for s, u in service.team_people(db, units)],
        "may_add": ctx.subject.role_allows(Action.COORDINATE) and ctx.decision.basis != "emergency",
        "values": values if values is not None else {"due_at": soon, "unit_id": ctx.subject.unit_id},
        "errors": errors or {}, "form": form,
    }, status_code=status_code)


@router.get("/patients/{patient_id}/tasks")
def tasks(request: Request, db: DbSession, ctx: Reader):
    """The patient's tasks: open first, by due time, each with its history."""
    return _page(request, db, ctx)


@router.post("/patients/{patient_id}/tasks")
def add(request: Request, db: DbSession, form: FormData, ctx: Coordinator):
    """Give a task to a unit of the care team, or a person in it."""
    _, err = attempt(db, lambda: service.add_task(
        db, ctx.subject, ctx.patient_id, parse(TaskCreate, local_times(form, "due_at"))))
    if err:
        return _page(request, db, ctx, values=form, errors=error_messages(err), form="add",
                     status_code=err.status_code)
    return RedirectResponse(f"/patients/{ctx.patient_id}/tasks?done=task_added", 303)


@router.post("/patients/{patient_id}/tasks/{task_id}/done")
def done(request: Request, db: DbSession, task_id: uuid.UUID, ctx: Coordinator):
    """Mark the task done: who and when."""
    _, err = attempt(db, lambda: service.complete(db, ctx.subject, ctx.patient_id, task_id))
    if err:
        return _page(request, db, ctx, errors=error_messages(err), form=str(task_id),
                     status_code=err.status_code)
    return RedirectResponse(f"/patients/{ctx.patient_id}/tasks?done=task_done", 303)


@router.post("/patients/{patient_id}/tasks/{task_id}/undo")
def undo(request: Request, db: DbSession, task_id: uuid.UUID, form: FormData, ctx: Coordinator):
    """Open a done task again, with the reason."""
    service.get_task(db, ctx.decision, ctx.patient_id, task_id)  # seen before its form is read
    _, err = attempt(db, lambda: service.undo(db, ctx.subject, ctx.patient_id, task_id,
                                              parse(TaskUndo, form).reason))
    if err:
        return _page(request, db, ctx, values=form, errors=error_messages(err),
                     form=str(task_id), status_code=err.status_code)
    return RedirectResponse(f"/patients/{ctx.patient_id}/tasks?done=task_undone", 303)
