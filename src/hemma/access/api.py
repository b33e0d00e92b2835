"""JSON API: who am I, directory lookups, care team and sharing, emergency access, log
review, administration."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel
from sqlalchemy import text

from hemma.access import directory, logreview, sharing
from hemma.access.policy import Action
from hemma.kit.validation import DbId
from hemma.web.deps import (
    DbSession,
    PatientAccess,
    PatientContext,
    Principal,
    Public,
    StaffAccess,
    client_addr,
)
from hemma.web.routing import JsonRoute

router = APIRouter(prefix="/api/v1", route_class=JsonRoute)


class Me(BaseModel):
    id: int
    username: str
    name: str
    profession: str
    unit_id: int
    organisation_id: int
    is_admin: bool
    is_log_reviewer: bool
    is_medical_lead: bool
    is_follow_up: bool
    is_research_exporter: bool
    skills: list[str]


class UnitOut(BaseModel):
    id: int
    name: str
    kind: str
    organisation_id: int
    organisation: str
    virtual_beds: int
    phone: str | None
    active: bool


class TeamMemberOut(BaseModel):
    id: uuid.UUID
    name: str
    unit_id: int | None
    staff_id: int | None
    organisation: str
    role: str | None
    starts_at: datetime
    ends_at: datetime | None
    active: bool


class TeamOut(BaseModel):
    members: list[TeamMemberOut]
    hidden: int


class ConsentOut(BaseModel):
    id: uuid.UUID
    organisation_id: int
    organisation: str
    method: str
    given_by: str
    given_at: datetime
    withdrawn_at: datetime | None


class BlockOut(BaseModel):
    id: uuid.UUID
    unit_id: int
    created_at: datetime
    lifted_at: datetime | None


class EmergencyOut(BaseModel):
    patient_id: uuid.UUID
    expires_at: datetime


class AuditEntryOut(BaseModel):
    id: int
    seq: int
    at: datetime
    user_id: int | None
    username: str | None
    unit_id: int | None
    organisation_id: int | None
    patient_id: uuid.UUID | None
    action: str
    basis: str
    emergency: bool
    outcome: str
    client_addr: str | None
    flags: list[str]
    reviewed: bool


class ExtractOut(BaseModel):
    patient_id: uuid.UUID
    units: list[dict]


class StaffOut(BaseModel):
    id: int
    username: str
    given_name: str
    family_name: str
    profession: str
    unit_id: int
    skills: list[str]
    is_admin: bool
    is_log_reviewer: bool
    is_medical_lead: bool
    is_follow_up: bool
    is_research_exporter: bool
    active: bool


@router.get("/health", dependencies=[Depends(Public())], tags=["system"])
def health(db: DbSession):
    """Liveness and database check for the load balancer."""
    db.execute(text("SELECT 1"))
    return {"status": "ok"}


@router.get("/me", response_model=Me, tags=["directory"])
def me(principal: Annotated[Principal, Depends(StaffAccess(Action.SIGNED_IN))]):
    """The signed-in staff member."""
    p, subj = principal, principal.subject
    return Me(id=subj.staff_id, username=p.username, name=p.full_name, profession=p.profession,
              unit_id=subj.unit_id, organisation_id=subj.organisation_id,
              is_admin=subj.is_admin, is_log_reviewer=subj.is_log_reviewer,
              is_medical_lead=subj.is_medical_lead, is_follow_up=subj.is_follow_up,
              is_research_exporter=subj.is_research_exporter, skills=list(p.skills))


@router.get("/units", response_model=list[UnitOut], tags=["directory"])
def units(db: DbSession, principal: Annotated[Principal, Depends(StaffAccess(Action.SIGNED_IN))]):
    """Every active unit of every organisation (for care teams and care requests)."""
    return [UnitOut(id=u.id, name=u.name, kind=u.kind, organisation_id=o.id, organisation=o.name,
                    virtual_beds=u.virtual_beds, phone=u.phone, active=u.active)
            for u, o in directory.all_units(db)]


# --- Care team and sharing ----------------------------------------------------------------


def _team(db, ctx: PatientContext) -> TeamOut:
    members, hidden = sharing.team(db, ctx.decision, ctx.patient_id, include_ended=True)
    return TeamOut(hidden=hidden, members=[
        TeamMemberOut(id=m.relation.id, name=m.name, unit_id=m.relation.unit_id,
                      staff_id=m.relation.staff_id, organisation=m.organisation_name,
                      role=m.relation.role, starts_at=m.relation.starts_at,
                      ends_at=m.relation.ends_at, active=m.active)
        for m in members])


@router.get("/patients/{patient_id}/care-team", response_model=TeamOut, tags=["sharing"])
def care_team(db: DbSession, ctx: Annotated[PatientContext, Depends(PatientAccess(Action.READ))]):
    """The care team as you may see it; `hidden` counts members recorded by organisations
    whose information you may not see."""
    return _team(db, ctx)


@router.post("/patients/{patient_id}/care-team", status_code=201, response_model=TeamOut,
             tags=["sharing"])
def add_member(body: sharing.CareRelationCreate, db: DbSession,
               ctx: Annotated[PatientContext, Depends(PatientAccess(Action.CARE_TEAM))]):
    """Add a unit or a staff member to the care team."""
    sharing.add_to_team(db, ctx.subject, ctx.patient_id, body)
    return _team(db, ctx)


@router.post("/patients/{patient_id}/care-team/{relation_id}/end", response_model=TeamOut,
             tags=["sharing"])
def end_member(relation_id: uuid.UUID, db: DbSession,
               ctx: Annotated[PatientContext, Depends(PatientAccess(Action.CARE_TEAM))]):
    """End a care relationship now."""
    sharing.end_relation(db, ctx.subject, ctx.patient_id, relation_id)
    return _team(db, ctx)


def _consents(db, patient_id) -> list[ConsentOut]:
    return [ConsentOut(id=c.id, organisation_id=c.organisation_id, organisation=name,
                       method=c.method, given_by=c.given_by, given_at=c.given_at,
                       withdrawn_at=c.withdrawn_at)
            for c, name in sharing.consents(db, patient_id)]


@router.get("/patients/{patient_id}/consents", response_model=list[ConsentOut], tags=["sharing"])
def consents(db: DbSession, ctx: Annotated[PatientContext, Depends(PatientAccess(Action.READ))]):
    """Consents to sharing between organisations, current and withdrawn."""
    return _consents(db, ctx.patient_id)


@router.post("/patients/{patient_id}/consents", status_code=201,
             response_model=list[ConsentOut], tags=["sharing"])
def add_consent(body: sharing.ConsentCreate, db: DbSession,
                ctx: Annotated[PatientContext, Depends(PatientAccess(Action.CONSENT))]):
    """Record the patient's consent that staff of an organisation may see the others'
    information."""
    sharing.record_consent(db, ctx.subject, ctx.patient_id, body)
    return _consents(db, ctx.patient_id)


@router.post("/patients/{patient_id}/consents/{consent_id}/withdraw",
             response_model=list[ConsentOut], tags=["sharing"])
def withdraw_consent(consent_id: uuid.UUID, db: DbSession,
                     ctx: Annotated[PatientContext, Depends(PatientAccess(Action.CONSENT))]):
    """Withdraw a consent; holds from the next request of every user."""
    sharing.withdraw_consent(db, ctx.subject, ctx.patient_id, consent_id)
    return _consents(db, ctx.patient_id)


def _blocks(db, ctx) -> list[BlockOut]:
    own, _others = sharing.blocks(db, ctx.subject, ctx.patient_id)
    return [BlockOut(id=b.id, unit_id=b.unit_id, created_at=b.created_at, lifted_at=b.lifted_at)
            for b, _name in own]


@router.post("/patients/{patient_id}/blocks", status_code=201, response_model=list[BlockOut],
             tags=["sharing"])
def add_block(body: sharing.BlockCreate, db: DbSession,
              ctx: Annotated[PatientContext, Depends(PatientAccess(Action.BLOCK))]):
    """Block one of your organisation's units' information from all other units."""
    sharing.add_block(db, ctx.subject, ctx.patient_id, body)
    return _blocks(db, ctx)


@router.post("/patients/{patient_id}/blocks/{block_id}/lift", response_model=list[BlockOut],
             tags=["sharing"])
def lift_block(block_id: uuid.UUID, db: DbSession,
               ctx: Annotated[PatientContext, Depends(PatientAccess(Action.BLOCK))]):
    """Lift a block (at the patient's request)."""
    sharing.lift_block(db, ctx.subject, ctx.patient_id, block_id)
    return _blocks(db, ctx)


@router.post("/emergency-access", status_code=201, response_model=EmergencyOut, tags=["sharing"])
def emergency(request: Request, body: sharing.EmergencyCreate, db: DbSession,
              principal: Annotated[Principal, Depends(StaffAccess(Action.EMERGENCY))]):
    """Open time-limited read access to a patient without a care relationship or consent.
    Requires a reason; always flagged in the log review."""
    patient_id = sharing.open_emergency(db, principal.subject, body, client_addr(request))
    access = sharing.active_emergency(db, principal.subject, patient_id)
    return EmergencyOut(patient_id=patient_id, expires_at=access.expires_at)


# --- Log review ---------------------------------------------------------------------------

Reviewer = Annotated[Principal, Depends(StaffAccess(Action.LOG_REVIEW))]


@router.get("/audit/entries", response_model=list[AuditEntryOut], tags=["log review"])
def audit_entries(db: DbSession, principal: Reviewer,
                  f: Annotated[logreview.LogFilter, Query()]):
    """Your organisation's access log, newest first, with review flags, filtered as on the
    log review page."""
    entries, _more = logreview.search(db, principal.subject, f)
    return [AuditEntryOut(
        flags=v.flags, reviewed=bool(v.reviews),
        **{k: getattr(v.entry, k) for k in AuditEntryOut.model_fields
           if k not in ("flags", "reviewed")}) for v in entries]


@router.post("/audit/reviews", status_code=201, tags=["log review"])
def audit_review(body: logreview.ReviewCreate, db: DbSession, principal: Reviewer):
    """Record the outcome of reviewing log entries."""
    return {"reviewed": logreview.record_review(db, principal.subject, body)}


@router.get("/audit/extract", response_model=ExtractOut, tags=["log review"])
def audit_extract(personnummer: str, db: DbSession, principal: Reviewer):
    """The patient's log extract: which of your organisation's units accessed them, when."""
    patient, units_ = logreview.patient_extract(db, principal.subject, personnummer)
    return ExtractOut(patient_id=patient.id, units=[
        {"unit": u.unit_name, "organisation": u.organisation_name,
         "accesses": [a.isoformat() for a in u.accesses], "emergency": u.emergency_count}
        for u in units_])


# --- Administration -----------------------------------------------------------------------

Admin = Annotated[Principal, Depends(StaffAccess(Action.ADMIN))]


def _unit_out(u, org_name: str) -> UnitOut:
    return UnitOut(id=u.id, name=u.name, kind=u.kind, organisation_id=u.organisation_id,
                   organisation=org_name, virtual_beds=u.virtual_beds, phone=u.phone,
                   active=u.active)


@router.post("/admin/units", status_code=201, response_model=UnitOut, tags=["administration"])
def create_unit(body: directory.UnitCreate, db: DbSession, principal: Admin):
    """Create a unit in your organisation."""
    unit = directory.create_unit(db, principal.subject, body)
    return _unit_out(unit, "")


@router.put("/admin/units/{unit_id}", response_model=UnitOut, tags=["administration"])
def update_unit(unit_id: DbId, body: directory.UnitUpdate, db: DbSession, principal: Admin):
    """Update a unit of your organisation."""
    unit = directory.update_unit(db, principal.subject, unit_id, body)
    return _unit_out(unit, "")


@router.get("/admin/staff", response_model=list[StaffOut], tags=["administration"])
def list_staff(db: DbSession, principal: Admin):
    """Staff accounts of your organisation."""
    return [StaffOut.model_validate(s, from_attributes=True)
            for s, _u in directory.organisation_staff(db, principal.subject.organisation_id)]


@router.post("/admin/staff", status_code=201, response_model=StaffOut, tags=["administration"])
def create_staff(body: directory.StaffCreate, db: DbSession, principal: Admin):
    """Create a staff account."""
    return StaffOut.model_validate(directory.create_staff(db, principal.subject, body),
                                   from_attributes=True)


@router.put("/admin/staff/{staff_id}", response_model=StaffOut, tags=["administration"])
def update_staff(staff_id: DbId, body: directory.StaffUpdate, db: DbSession, principal: Admin):
    """Update a staff account; deactivating or setting a password ends its sessions."""
    return StaffOut.model_validate(directory.update_staff(db, principal.subject, staff_id, body),
                                   from_attributes=True)
