"""HTML pages: the round worklist and the decision form."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse

from hemma.access.policy import Action
from hemma.kit.time import utcnow
from hemma.kit.validation import parse
from hemma.monitoring import service as monitoring
from hemma.monitoring import views
from hemma.patients.service import get_patient
from hemma.rounds import service
from hemma.web.deps import DbSession, PatientAccess, PatientContext, Principal, StaffAccess
from hemma.web.forms import attempt, error_messages, form_data
from hemma.web.templating import render

router = APIRouter()
FormData = Annotated[dict, Depends(form_data)]
Decider = Annotated[PatientContext, Depends(PatientAccess(Action.ROUND))]


@router.get("/rounds")
def worklist(request: Request, db: DbSession,
             principal: Annotated[Principal, Depends(StaffAccess(Action.READ))]):
    """The remote round's worklist: the unit's admitted patients, sickest first."""
    return render(request, "rounds/worklist.html", {
        "rows": service.worklist(db, principal.subject),
        "may_decide": principal.subject.role_allows(Action.ROUND)})


def _round_page(request, db, ctx, values=None, errors=None, status_code=200):
    now = utcnow()
    episode = monitoring.active_episode(db, ctx.patient_id)
    observations = views.visible_observations(db, ctx.decision, ctx.patient_id,
                                              now - timedelta(hours=72))
    return render(request, "rounds/decide.html", {
        "patient": get_patient(db, ctx.patient_id), "episode": episode,
        "latest": observations[-1] if observations else None,
        "observations": list(reversed(observations))[:12],
        "alerts": views.patient_alerts(db, ctx.decision, ctx.patient_id, unresolved_only=True),
        "notes": service.round_notes(db, ctx.decision, ctx.patient_id),
        "values": values or {"decision": "continue"}, "errors": errors or {}},
        status_code=status_code)


@router.get("/patients/{patient_id}/round")
def decide_form(request: Request, db: DbSession, ctx: Decider):
    """Form: the physician's round decision, beside trends, alerts and earlier notes."""
    return _round_page(request, db, ctx)


@router.post("/patients/{patient_id}/round")
def decide(request: Request, db: DbSession, form: FormData, ctx: Decider):
    """Record the round decision; return and discharge end the episode."""
    data = dict(form)
    if "ambulance_informed" in data:
        data["ambulance_informed"] = data["ambulance_informed"] in ("true", "on")
    note, err = attempt(db, lambda: service.decide(
        db, ctx.subject, ctx.patient_id, parse(service.RoundDecision, data)))
    if err:
        return _round_page(request, db, ctx, values=form, errors=error_messages(err),
                           status_code=err.status_code)
    if note.decision == "adjust":
        return RedirectResponse(f"/patients/{ctx.patient_id}/plan", 303)
    return RedirectResponse("/rounds?done=round", 303)
