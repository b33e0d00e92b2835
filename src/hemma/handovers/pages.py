"""HTML pages: the patient's hand-overs (rapport) in SBAR form, and confirming one."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse

from hemma.access.policy import Action
from hemma.handovers import service
from hemma.handovers.schemas import HandoverCreate
from hemma.kit.validation import parse
from hemma.patients.service import get_patient
from hemma.tasks.service import team_units
from hemma.web.deps import DbSession, PatientAccess, PatientContext
from hemma.web.forms import attempt, error_messages, form_data
from hemma.web.templating import render

router = APIRouter()
FormData = Annotated[dict, Depends(form_data)]
Reader = Annotated[PatientContext, Depends(PatientAccess(Action.READ))]
Coordinator = Annotated[PatientContext, Depends(PatientAccess(Action.COORDINATE))]


def _page(request: Request, db, ctx: PatientContext, *, values: dict | None = None,
          errors: dict | None = None, form: str | None = None, status_code: int = 200):
    views, hidden = service.patient_handovers(db, ctx.decision, ctx.patient_id)
    return render(request, "handovers/handovers.html", {
        "patient": get_patient(db, ctx.patient_id), "handovers": views, "hidden": hidden,
        "units": [(u.id, u.name) for u in team_units(db, ctx.patient_id)],
        "may_write": ctx.subject.role_allows(Action.COORDINATE)
        and ctx.decision.basis != "emergency",
        "values": values if values is not None else {"to_unit_id": ctx.subject.unit_id},
        "errors": errors or {}, "form": form,
    }, status_code=status_code)


@router.get("/patients/{patient_id}/handovers")
def handovers(request: Request, db: DbSession, ctx: Reader):
    """The patient's hand-overs, newest first, and the SBAR form."""
    return _page(request, db, ctx)


@router.post("/patients/{patient_id}/handovers")
def write(request: Request, db: DbSession, form: FormData, ctx: Coordinator):
    """Hand the patient over to a unit of the care team (or the next shift of one's own)."""
    _, err = attempt(db, lambda: service.write(db, ctx.subject, ctx.patient_id,
                                               parse(HandoverCreate, form)))
    if err:
        return _page(request, db, ctx, values=form, errors=error_messages(err), form="write",
                     status_code=err.status_code)
    return RedirectResponse(f"/patients/{ctx.patient_id}/handovers?done=handover_sent", 303)


@router.post("/patients/{patient_id}/handovers/{handover_id}/receive")
def receive(request: Request, db: DbSession, handover_id: uuid.UUID, ctx: Coordinator):
    """Confirm the hand-over as received ("mottagen"), with one's name and the time."""
    _, err = attempt(db, lambda: service.receive(db, ctx.subject, ctx.patient_id, handover_id))
    if err:
        return _page(request, db, ctx, errors=error_messages(err), form=str(handover_id),
                     status_code=err.status_code)
    nxt = request.query_params.get("next")
    if nxt == "board":
        return RedirectResponse("/board?done=handover_received", 303)
    return RedirectResponse(f"/patients/{ctx.patient_id}/handovers?done=handover_received", 303)
