"""JSON API: patients and relatives."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from hemma.access.policy import Action
from hemma.patients import relatives, service
from hemma.patients.schemas import (
    PatientCreate,
    PatientRead,
    PatientUpdate,
    PositionCorrection,
    RelativeCreate,
    RelativeRead,
    RelativeShares,
)
from hemma.web.deps import DbSession, PatientAccess, PatientContext, Principal, StaffAccess
from hemma.web.routing import JsonRoute

router = APIRouter(prefix="/api/v1", tags=["patients"], route_class=JsonRoute)


def _read(db, patient_id: uuid.UUID) -> PatientRead:
    patient = service.get_patient(db, patient_id)
    return PatientRead.model_validate({
        **{c: getattr(patient, c) for c in PatientRead.model_fields if c != "relatives"},
        "relatives": [RelativeRead.model_validate(r, from_attributes=True)
                      for r in service.relatives(db, patient_id)],
    })


@router.get("/patients", response_model=list[PatientRead])
def search(db: DbSession, principal: Annotated[Principal, Depends(StaffAccess(Action.READ))],
           q: str):
    """Search by personnummer or name among the patients you may see."""
    return [PatientRead.model_validate({c: getattr(p, c) for c in PatientRead.model_fields
                                        if c != "relatives"})
            for p in service.search(db, principal.subject, q)]


@router.post("/patients", status_code=201, response_model=PatientRead,
             responses={200: {"model": PatientRead, "description": "The patient was already "
                              "in Hemma (your unit joined the care team, or was in it)"},
                        409: {"description": "The patient is already in Hemma: send "
                              "`join_reason` to join the care team"}})
def register(body: PatientCreate, request: Request, db: DbSession, response: Response,
             principal: Annotated[Principal, Depends(StaffAccess(Action.REGISTER))]):
    """Register a patient; your unit joins the care team (201). An existing personnummer is
    not registered twice: to join that patient's care team, give `join_reason` (and
    `join_note`), which is logged and reviewed (200); without it the answer is 409. Without
    latitude and longitude the address is looked up (`position_*` say what was found)."""
    patient, outcome = service.register_patient(db, principal.subject, body,
                                                geocoder=request.app.state.geocoder)
    if outcome != "registered":
        response.status_code = 200
    return _read(db, patient.id)


@router.get("/patients/{patient_id}", response_model=PatientRead)
def read(db: DbSession, ctx: Annotated[PatientContext, Depends(PatientAccess(Action.READ))]):
    """The patient's identity, contact details and relatives."""
    return _read(db, ctx.patient_id)


@router.put("/patients/{patient_id}", response_model=PatientRead)
def update(body: PatientUpdate, request: Request, db: DbSession,
           ctx: Annotated[PatientContext, Depends(PatientAccess(Action.EDIT))]):
    """Replace the patient's name and contact details. A changed address without new
    coordinates is looked up again."""
    service.update_patient(db, ctx.subject, ctx.patient_id, body,
                           geocoder=request.app.state.geocoder)
    return _read(db, ctx.patient_id)


@router.post("/patients/{patient_id}/position", response_model=PatientRead)
def correct_position(body: PositionCorrection, request: Request, db: DbSession,
                     ctx: Annotated[PatientContext, Depends(PatientAccess(Action.EDIT))]):
    """Correct the home's map position: `lookup` the address again, or `device`: the
    latitude, longitude and accuracy (metres) a phone measured at the door."""
    service.correct_position(db, ctx.subject, ctx.patient_id, body,
                             geocoder=request.app.state.geocoder)
    return _read(db, ctx.patient_id)


@router.post("/patients/{patient_id}/relatives", status_code=201, response_model=RelativeRead)
def add_relative(body: RelativeCreate, db: DbSession,
                 ctx: Annotated[PatientContext, Depends(PatientAccess(Action.EDIT))]):
    """Add a relative (närstående)."""
    relative = service.add_relative(db, ctx.subject, ctx.patient_id, body)
    return RelativeRead.model_validate(relative, from_attributes=True)


@router.put("/patients/{patient_id}/relatives/{relative_id}/shares", response_model=RelativeRead)
def relative_shares(relative_id: uuid.UUID, body: RelativeShares, db: DbSession,
                    ctx: Annotated[PatientContext, Depends(PatientAccess(Action.EDIT))]):
    """Record what the patient lets this relative see on the patient's page (an empty list
    takes it all back and revokes the relative's codes)."""
    relative = relatives.set_by_staff(db, ctx.subject, ctx.patient_id, relative_id, body.shares)
    return RelativeRead.model_validate(relative, from_attributes=True)


@router.delete("/patients/{patient_id}/relatives/{relative_id}", status_code=204)
def remove_relative(relative_id: uuid.UUID, db: DbSession,
                    ctx: Annotated[PatientContext, Depends(PatientAccess(Action.EDIT))]):
    """Remove a relative."""
    service.remove_relative(db, ctx.subject, ctx.patient_id, relative_id)
    return Response(status_code=204)
