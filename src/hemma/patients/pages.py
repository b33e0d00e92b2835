"""HTML pages: find and register patients, the patient overview, contact details."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse

from hemma.access.policy import Action
from hemma.i18n.labels import DIGITAL_ABILITY, JOIN_REASONS, LANGUAGE_NAMES, label
from hemma.kit.errors import Invalid
from hemma.kit.validation import parse
from hemma.patients import relatives, service
from hemma.patients.overview import overview
from hemma.patients.schemas import (
    PatientCreate,
    PatientUpdate,
    PositionCorrection,
    RelativeCreate,
)
from hemma.web.deps import DbSession, PatientAccess, PatientContext, Principal, StaffAccess
from hemma.web.forms import attempt, error_messages, form_data
from hemma.web.templating import render

router = APIRouter()
FormData = Annotated[dict, Depends(form_data)]

_CONTACT_FIELDS = ("street", "postal_code", "city", "phone", "email", "language",
                   "interpreter_needed", "digital_ability")


def _options() -> dict:
    return {
        "relative_shares": relatives.SHARES,
        "language_options": [(code, label(LANGUAGE_NAMES, code)) for code in LANGUAGE_NAMES],
        "digital_options": [(code, label(DIGITAL_ABILITY, code)) for code in DIGITAL_ABILITY],
        "join_options": [(code, label(JOIN_REASONS, code)) for code in JOIN_REASONS],
    }


@router.get("/patients/search")
def search(request: Request, db: DbSession,
           principal: Annotated[Principal, Depends(StaffAccess(Action.READ))], q: str = ""):
    """Search by personnummer or name among the patients the user may see."""
    results, errors = [], {}
    if q:
        try:
            results = service.search(db, principal.subject, q)
        except Invalid as exc:
            errors = error_messages(exc)
    return render(request, "patients/search.html", {"q": q, "results": results, "errors": errors})


@router.get("/patients/new")
def new_form(request: Request,
             principal: Annotated[Principal, Depends(StaffAccess(Action.REGISTER))]):
    """Form: register a patient."""
    return render(request, "patients/new.html", {
        "values": {"language": "sv", "digital_ability": "with_support"}, **_options(),
        "ask_join": False})


@router.post("/patients/new")
def register(request: Request, db: DbSession, form: FormData,
             principal: Annotated[Principal, Depends(StaffAccess(Action.REGISTER))]):
    """Register a patient (or join the care team of one already in Hemma)."""
    result, err = attempt(db, lambda: service.register_patient(
        db, principal.subject, parse(PatientCreate, form), geocoder=request.app.state.geocoder))
    if err:
        errors = error_messages(err)
        return render(request, "patients/new.html", {
            "values": form, "errors": errors, **_options(),
            "ask_join": "join_reason" in errors or "join_note" in errors},
            status_code=err.status_code)
    patient, outcome = result
    flash = {"registered": "registered", "joined": "existing", "already": "already"}[outcome]
    return RedirectResponse(f"/patients/{patient.id}?done={flash}", 303)


@router.get("/patients/{patient_id}")
def show(request: Request, db: DbSession,
         ctx: Annotated[PatientContext, Depends(PatientAccess(Action.READ))]):
    """The patient overview."""
    return render(request, "patients/overview.html",
                  {"o": overview(db, ctx.decision, ctx.patient_id)})


def _edit_page(request, db, ctx, *, values=None, errors=None, relative_values=None,
               relative_errors=None, position_errors=None, status_code=200):
    patient = service.get_patient(db, ctx.patient_id)
    if values is None:
        values = {k: getattr(patient, k) for k in ("given_name", "family_name", *_CONTACT_FIELDS)}
    return render(request, "patients/edit.html", {
        "patient": patient,
        "relatives": service.relatives(db, ctx.patient_id),
        "values": values, "errors": errors or {},
        "relative_values": relative_values or {}, "relative_errors": relative_errors or {},
        "position_errors": position_errors or {},
        **_options(),
    }, status_code=status_code)


@router.get("/patients/{patient_id}/edit")
def edit_form(request: Request, db: DbSession,
              ctx: Annotated[PatientContext, Depends(PatientAccess(Action.EDIT))]):
    """Form: contact details and relatives."""
    return _edit_page(request, db, ctx)


@router.post("/patients/{patient_id}/edit")
def edit(request: Request, db: DbSession, form: FormData,
         ctx: Annotated[PatientContext, Depends(PatientAccess(Action.EDIT))]):
    """Save contact details."""
    _, err = attempt(db, lambda: service.update_patient(
        db, ctx.subject, ctx.patient_id, parse(PatientUpdate, form),
        geocoder=request.app.state.geocoder))
    if err:
        return _edit_page(request, db, ctx, values=form, errors=error_messages(err),
                          status_code=err.status_code)
    return RedirectResponse(f"/patients/{ctx.patient_id}?done=saved", 303)


@router.post("/patients/{patient_id}/position")
def correct_position(request: Request, db: DbSession, form: FormData,
                     ctx: Annotated[PatientContext, Depends(PatientAccess(Action.EDIT))]):
    """Correct the map position: look the address up again, or use the phone's position."""
    _, err = attempt(db, lambda: service.correct_position(
        db, ctx.subject, ctx.patient_id, parse(PositionCorrection, form),
        geocoder=request.app.state.geocoder))
    if err:
        return _edit_page(request, db, ctx, position_errors=error_messages(err),
                          status_code=err.status_code)
    return RedirectResponse(f"/patients/{ctx.patient_id}/edit?done=position#position", 303)


@router.post("/patients/{patient_id}/relatives")
def add_relative(request: Request, db: DbSession, form: FormData,
                 ctx: Annotated[PatientContext, Depends(PatientAccess(Action.EDIT))]):
    """Add a relative."""
    _, err = attempt(db, lambda: service.add_relative(
        db, ctx.subject, ctx.patient_id, parse(RelativeCreate, form)))
    if err:
        return _edit_page(request, db, ctx, relative_values=form,
                          relative_errors=error_messages(err), status_code=err.status_code)
    return RedirectResponse(f"/patients/{ctx.patient_id}/edit?done=saved", 303)


@router.post("/patients/{patient_id}/relatives/{relative_id}/remove")
def remove_relative(db: DbSession, relative_id: uuid.UUID,
                    ctx: Annotated[PatientContext, Depends(PatientAccess(Action.EDIT))]):
    """Remove a relative."""
    service.remove_relative(db, ctx.subject, ctx.patient_id, relative_id)
    return RedirectResponse(f"/patients/{ctx.patient_id}/edit?done=saved", 303)


@router.post("/patients/{patient_id}/relatives/{relative_id}/shares")
def relative_shares(request: Request, db: DbSession, relative_id: uuid.UUID, form: FormData,
                    ctx: Annotated[PatientContext, Depends(PatientAccess(Action.EDIT))]):
    """Record what the patient lets this relative see on the patient's page."""
    _, err = attempt(db, lambda: relatives.set_by_staff(
        db, ctx.subject, ctx.patient_id, relative_id, form.get("shares") or []))
    if err:
        return _edit_page(request, db, ctx, relative_errors=error_messages(err),
                          status_code=err.status_code)
    return RedirectResponse(f"/patients/{ctx.patient_id}/edit?done=saved#relative-{relative_id}",
                            303)


@router.post("/patients/{patient_id}/relatives/{relative_id}/access-codes")
def relative_code(request: Request, db: DbSession, relative_id: uuid.UUID,
                  ctx: Annotated[PatientContext, Depends(PatientAccess(Action.PATIENT_CODE))]):
    """A login code of the relative's own for the parts of the patient's page the patient
    lets them see; shown this once."""
    from hemma.access.auth import format_code
    from hemma.portal import service as portal

    code, row = portal.issue_relative_code(db, ctx.subject, ctx.patient_id, relative_id)
    return render(request, "monitoring/code.html", {
        "patient": service.get_patient(db, ctx.patient_id), "code": format_code(code),
        "row": row, "relative": relatives.get(db, ctx.patient_id, relative_id)})
