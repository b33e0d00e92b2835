"""JSON API: patients and relatives."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from hemma.access.policy import Action
from hemma.patients import service
from hemma.patients.schemas import (
    PatientCreate,
    PatientRead,
    PatientUpdate,
    RelativeCreate,
    RelativeRead,
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


@router.post("/patients", status_code=201, response_model=PatientRead)
def register(body: PatientCreate, db: DbSession,
             principal: Annotated[Principal, Depends(StaffAccess(Action.REGISTER))]):
    """Register a patient; your unit joins the care team. An existing personnummer is not
    registered twice: your unit joins that patient's care team."""
    patient, _existed = service.register_patient(db, principal.subject, body)
    return _read(db, patient.id)


@router.get("/patients/{patient_id}", response_model=PatientRead)
def read(db: DbSession, ctx: Annotated[PatientContext, Depends(PatientAccess(Action.READ))]):
    """The patient's identity, contact details and relatives."""
    return _read(db, ctx.patient_id)


@router.put("/patients/{patient_id}", response_model=PatientRead)
def update(body: PatientUpdate, db: DbSession,
           ctx: Annotated[PatientContext, Depends(PatientAccess(Action.EDIT))]):
    """Replace the patient's name and contact details."""
    service.update_patient(db, ctx.subject, ctx.patient_id, body)
    return _read(db, ctx.patient_id)


@router.post("/patients/{patient_id}/relatives", status_code=201, response_model=RelativeRead)
def add_relative(body: RelativeCreate, db: DbSession,
                 ctx: Annotated[PatientContext, Depends(PatientAccess(Action.EDIT))]):
    """Add a relative (närstående)."""
    relative = service.add_relative(db, ctx.subject, ctx.patient_id, body)
    return RelativeRead.model_validate(relative, from_attributes=True)


@router.delete("/patients/{patient_id}/relatives/{relative_id}", status_code=204)
def remove_relative(relative_id: uuid.UUID, db: DbSession,
                    ctx: Annotated[PatientContext, Depends(PatientAccess(Action.EDIT))]):
    """Remove a relative."""
    service.remove_relative(db, ctx.subject, ctx.patient_id, relative_id)
    return Response(status_code=204)
