"""HTML pages: treatments given at home, their orders and the record of each dose."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse

from hemma.access.directory import all_units
from hemma.access.policy import Action
from hemma.access.service import origin
from hemma.access.sharing import organisations_without_consent
from hemma.kit.time import format_local
from hemma.kit.validation import parse
from hemma.models import Episode
from hemma.patients.service import get_patient
from hemma.treatments import service
from hemma.treatments.schemas import DoseRecord, OrderCreate
from hemma.web.deps import DbSession, PatientAccess, PatientContext
from hemma.web.forms import attempt, error_messages, form_data
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
    record = service.treatment_record(db, ctx.decision, episode_id)
    episode = db.get(Episode, episode_id)
    subject = ctx.subject
    may_order = (episode.state in ("assessing", "admitted") and subject.profession == "physician"
                 and ctx.decision.basis != "emergency"
                 and ctx.decision.may_change(origin(db, episode.responsible_unit_id)))
    return render(request, "treatments/orders.html", {
        "patient": get_patient(db, ctx.patient_id), "episode": episode, "record": record,
        "recordable": {v.order.id: [(t.isoformat(), format_local(t))
                                    for t in service.recordable_times(v)]
                       for v in record.orders},
        "may_order": may_order, "units": _units(db),
        "sharing_missing": organisations_without_consent(db, ctx.patient_id),
        "values": values or {"giving_unit_id": episode.responsible_unit_id,
                             "duration_minutes": 30},
        "errors": errors or {}, "form": form,
    }, status_code=status_code)


def _back(ctx: PatientContext, episode_id: uuid.UUID) -> RedirectResponse:
    return RedirectResponse(f"/patients/{ctx.patient_id}/episodes/{episode_id}/treatments", 303)


def _order_form(form: dict) -> dict:
    """Times of day typed in one field ("08:00 16:00 24:00"), comma- or space-separated."""
    out = dict(form)
    if isinstance(out.get("times"), str):
        out["times"] = [p for p in out["times"].replace(",", " ").split() if p]
    return out


@router.get("/patients/{patient_id}/episodes/{episode_id}/treatments")
def orders(request: Request, db: DbSession, episode_id: uuid.UUID, ctx: Reader):
    """The episode's treatments given at home, and each dose."""
    return _page(request, db, ctx, episode_id)


@router.post("/patients/{patient_id}/episodes/{episode_id}/treatments")
def order(request: Request, db: DbSession, episode_id: uuid.UUID, form: FormData,
          ctx: Manager):
    """Order a treatment given at home (physician)."""
    service.treatment_record(db, ctx.decision, episode_id)  # the episode is seen
    _, err = attempt(db, lambda: service.order_treatment(
        db, ctx.subject, ctx.patient_id, episode_id, parse(OrderCreate, _order_form(form))))
    if err:
        return _page(request, db, ctx, episode_id, values=form, errors=error_messages(err),
                     form="order", status_code=err.status_code)
    return _back(ctx, episode_id)


@router.post("/patients/{patient_id}/treatments/{order_id}/stop")
def stop(request: Request, db: DbSession, order_id: uuid.UUID, ctx: Manager):
    """Stop a treatment (physician)."""
    episode_id = service.get_order(db, ctx.decision, ctx.patient_id, order_id).episode_id
    _, err = attempt(db, lambda: service.stop_order(db, ctx.subject, ctx.patient_id, order_id))
    if err:
        return _page(request, db, ctx, episode_id, errors=error_messages(err),
                     status_code=err.status_code)
    return _back(ctx, episode_id)


@router.post("/patients/{patient_id}/treatments/{order_id}/doses")
def record_dose(request: Request, db: DbSession, order_id: uuid.UUID, form: FormData,
                ctx: Visitor):
    """Record a dose: given, or not given with a reason."""
    episode_id = service.get_order(db, ctx.decision, ctx.patient_id, order_id).episode_id
    _, err = attempt(db, lambda: service.record_dose(
        db, ctx.subject, ctx.patient_id, order_id, parse(DoseRecord, form)))
    if err:
        return _page(request, db, ctx, episode_id, values={**form, "order_id": str(order_id)},
                     errors=error_messages(err), form="dose", status_code=err.status_code)
    return _back(ctx, episode_id)
