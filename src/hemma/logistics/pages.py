"""HTML pages: the episode's logistics checklist and the homecoming call."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse

from hemma.access.directory import all_units
from hemma.access.policy import Action
from hemma.kit.time import format_local
from hemma.kit.validation import parse
from hemma.logistics import service
from hemma.logistics.schemas import (
    ChecklistCreate,
    ChecklistDone,
    ChecklistItemCreate,
    HomecomingAnswers,
)
from hemma.patients.service import get_patient
from hemma.web.deps import DbSession, PatientAccess, PatientContext
from hemma.web.forms import attempt, error_messages, form_data, local_times
from hemma.web.templating import render

router = APIRouter()
FormData = Annotated[dict, Depends(form_data)]
Reader = Annotated[PatientContext, Depends(PatientAccess(Action.READ))]
Manager = Annotated[PatientContext, Depends(PatientAccess(Action.EPISODE))]
Visitor = Annotated[PatientContext, Depends(PatientAccess(Action.VISIT))]


def _units(db) -> list[tuple[int, str]]:
    return [(u.id, f"{u.name} · {o.name}") for u, o in all_units(db)]


def _page(request: Request, db, ctx: PatientContext, episode_id: uuid.UUID, *,
          values: dict | None = None, errors: dict | None = None, form: str | None = None,
          status_code: int = 200):
    view = service.logistics(db, ctx.decision, ctx.patient_id, episode_id)
    return render(request, "logistics/checklist.html", {
        "patient": get_patient(db, ctx.patient_id), "view": view, "units": _units(db),
        "values": values or {}, "errors": errors or {}, "form": form,
    }, status_code=status_code)


def _back(ctx: PatientContext, episode_id: uuid.UUID) -> RedirectResponse:
    return RedirectResponse(f"/patients/{ctx.patient_id}/episodes/{episode_id}/logistics", 303)


@router.get("/patients/{patient_id}/episodes/{episode_id}/logistics")
def checklist(request: Request, db: DbSession, episode_id: uuid.UUID, ctx: Reader):
    """The checklist of what must be in the home before the patient, and the homecoming call."""
    return _page(request, db, ctx, episode_id)


@router.post("/patients/{patient_id}/episodes/{episode_id}/checklist")
def create_checklist(request: Request, db: DbSession, episode_id: uuid.UUID, form: FormData,
                     ctx: Manager):
    """Make the checklist from the pathway's template."""
    service.logistics(db, ctx.decision, ctx.patient_id, episode_id)  # the episode is seen
    _, err = attempt(db, lambda: service.create_checklist(
        db, ctx.subject, ctx.patient_id, episode_id,
        parse(ChecklistCreate, local_times(form, "homecoming_at")).homecoming_at))
    if err:
        return _page(request, db, ctx, episode_id, values=form, errors=error_messages(err),
                     form="create", status_code=err.status_code)
    return _back(ctx, episode_id)


@router.post("/patients/{patient_id}/episodes/{episode_id}/checklist/items")
def add_item(request: Request, db: DbSession, episode_id: uuid.UUID, form: FormData,
             ctx: Manager):
    """Add an item by hand."""
    service.logistics(db, ctx.decision, ctx.patient_id, episode_id)
    _, err = attempt(db, lambda: service.add_item(
        db, ctx.subject, ctx.patient_id, episode_id,
        parse(ChecklistItemCreate, local_times(form, "due_at"))))
    if err:
        return _page(request, db, ctx, episode_id, values=form, errors=error_messages(err),
                     form="add", status_code=err.status_code)
    return _back(ctx, episode_id)


@router.post("/patients/{patient_id}/checklist/{item_id}/done")
def tick_done(request: Request, db: DbSession, item_id: uuid.UUID, form: FormData,
              ctx: Visitor):
    """Tick an item done: it is in the home."""
    item = service.get_item(db, ctx.decision, ctx.patient_id, item_id)
    episode_id = item.episode_id
    _, err = attempt(db, lambda: service.tick_done(
        db, ctx.subject, ctx.patient_id, item_id, parse(ChecklistDone, form)))
    if err:
        return _page(request, db, ctx, episode_id, values=form, errors=error_messages(err),
                     status_code=err.status_code)
    return _back(ctx, episode_id)


@router.post("/patients/{patient_id}/checklist/{item_id}/remove")
def remove_item(request: Request, db: DbSession, item_id: uuid.UUID, ctx: Manager):
    """Remove an item that is not needed."""
    episode_id = service.get_item(db, ctx.decision, ctx.patient_id, item_id).episode_id
    service.remove_item(db, ctx.subject, ctx.patient_id, item_id)
    return _back(ctx, episode_id)


def _answers(form: dict) -> dict:
    """The call's form as its schema takes it: `answers.<key>.answer` and `.note` fields."""
    out: dict = {"answers": {}}
    for name, value in form.items():
        parts = name.split(".")
        if len(parts) == 3 and parts[0] == "answers":
            out["answers"].setdefault(parts[1], {})[parts[2]] = value
        else:
            out[name] = value
    return out


def _call_page(request: Request, db, ctx: PatientContext, task_id: uuid.UUID, *,
               values: dict | None = None, errors: dict | None = None, status_code: int = 200):
    task = service.get_call(db, ctx.decision, ctx.patient_id, task_id)
    view = service.logistics(db, ctx.decision, ctx.patient_id, task.episode_id)
    if values is None:
        values = {f"answers.{k}.{f}": v for k, a in task.answers.items() for f, v in a.items()}
    return render(request, "logistics/call.html", {
        "patient": get_patient(db, ctx.patient_id), "task": task, "view": view,
        "due": format_local(task.due_at), "values": values, "errors": errors or {},
    }, status_code=status_code)


@router.get("/patients/{patient_id}/tasks/{task_id}/call")
def call_form(request: Request, db: DbSession, task_id: uuid.UUID, ctx: Reader):
    """The homecoming call: the pathway's questions and the answers so far."""
    return _call_page(request, db, ctx, task_id)


@router.post("/patients/{patient_id}/tasks/{task_id}/call")
def call_save(request: Request, db: DbSession, task_id: uuid.UUID, form: FormData,
              ctx: Visitor):
    """Save the homecoming call's answers, and mark it made."""
    task = service.get_call(db, ctx.decision, ctx.patient_id, task_id)
    _, err = attempt(db, lambda: service.answer_call(
        db, ctx.subject, ctx.patient_id, task_id, parse(HomecomingAnswers, _answers(form))))
    if err:
        return _call_page(request, db, ctx, task_id, values=form, errors=error_messages(err),
                          status_code=err.status_code)
    return _back(ctx, task.episode_id)
