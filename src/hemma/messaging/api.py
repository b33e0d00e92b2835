"""JSON API for staff: the inbox of threads, a patient's threads and one thread, writing a
message, marking what the patient wrote read. The same named actions as the pages."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from hemma.access.policy import Action
from hemma.messaging import service
from hemma.messaging.schemas import MessageCreate
from hemma.web.deps import DbSession, PatientAccess, PatientContext, Principal, StaffAccess
from hemma.web.routing import JsonRoute

router = APIRouter(prefix="/api/v1", tags=["messages"], route_class=JsonRoute)
Reader = Annotated[PatientContext, Depends(PatientAccess(Action.READ))]
Writer = Annotated[PatientContext, Depends(PatientAccess(Action.MESSAGE))]
Staff = Annotated[Principal, Depends(StaffAccess(Action.READ))]


class InboxThreadRead(BaseModel):
    patient_id: uuid.UUID
    patient_name: str
    thread_id: uuid.UUID
    kind: Literal["patient", "staff"]
    unit: str | None
    own_unit: bool
    last_message_at: datetime
    unanswered: int
    waiting_since: datetime | None
    answer_due_at: datetime | None
    escalated: bool
    interpreter_language: str | None


class MessageRead(BaseModel):
    id: uuid.UUID
    author_kind: Literal["patient", "staff", "relative"]
    author: str
    unit_id: int
    unit: str
    organisation: str
    body: str
    created_at: datetime
    photo_url: str | None
    # What the patient (or a relative) wrote to the unit:
    answer_due_at: datetime | None
    read_at: datetime | None
    read_by_unit: str | None
    answered_at: datetime | None
    escalated_at: datetime | None
    # What staff wrote to the patient: when the patient opened it.
    seen_by_patient_at: datetime | None


class ThreadRead(BaseModel):
    id: uuid.UUID
    kind: Literal["patient", "staff"]
    unit_id: int | None
    unit: str | None
    own_unit: bool
    messages: list[MessageRead]
    hidden_messages: int


class PatientThreadsRead(BaseModel):
    threads: list[ThreadRead]
    hidden_messages: int  # in threads with the patient of units the caller may not see
    may_write: bool
    interpreter_language: str | None


def _message(patient_id: uuid.UUID, v: service.MessageView) -> MessageRead:
    m = v.message
    return MessageRead(
        id=m.id, author_kind=m.author_kind, author=v.author, unit_id=m.documented_by_unit_id,
        unit=v.unit_name, organisation=v.organisation_name, body=m.body, created_at=m.created_at,
        photo_url=f"/patients/{patient_id}/messages/{m.id}/photo" if m.photo_key else None,
        answer_due_at=m.due_at, read_at=m.read_at, read_by_unit=v.read_by_unit,
        answered_at=m.answered_at, escalated_at=m.escalated_at, seen_by_patient_at=m.seen_at)


def _thread(patient_id: uuid.UUID, v: service.ThreadView) -> ThreadRead:
    return ThreadRead(id=v.thread.id, kind=v.thread.kind, unit_id=v.thread.unit_id,
                      unit=v.unit_name, own_unit=v.own,
                      messages=[_message(patient_id, m) for m in v.messages],
                      hidden_messages=v.hidden)


def _interpreter(patient) -> str | None:
    return patient.language if patient.interpreter_needed else None


@router.get("/messages", response_model=list[InboxThreadRead])
def list_threads(db: DbSession, principal: Staff):
    """Every thread of the patients the caller may read: unanswered first (the longest
    waiting first), then the newest."""
    return [InboxThreadRead(
        patient_id=r.patient_id, patient_name=r.patient_name, thread_id=r.thread_id,
        kind=r.kind, unit=r.unit_name, own_unit=r.own, last_message_at=r.last_at,
        unanswered=r.unanswered, waiting_since=r.waiting_since, answer_due_at=r.due_at,
        escalated=r.escalated,
        interpreter_language=r.language if r.interpreter_needed else None)
        for r in service.inbox(db, principal.subject)]


def _patient_threads(db, ctx: PatientContext) -> PatientThreadsRead:
    found = service.patient_messages(db, ctx.decision, ctx.patient_id)
    threads = [_thread(ctx.patient_id, t) for t in found.threads]
    if found.staff is not None:
        threads.append(_thread(ctx.patient_id, found.staff))
    return PatientThreadsRead(threads=threads, hidden_messages=found.hidden_threads,
                              may_write=found.may_write,
                              interpreter_language=_interpreter(found.patient))


@router.get("/patients/{patient_id}/messages", response_model=PatientThreadsRead)
def patient_threads(db: DbSession, ctx: Reader):
    """The patient's threads as the caller may see them (another organisation's only with
    the patient's consent; what is not shown is counted)."""
    return _patient_threads(db, ctx)


@router.get("/patients/{patient_id}/messages/{thread_id}", response_model=ThreadRead)
def read_thread(thread_id: uuid.UUID, db: DbSession, ctx: Reader):
    """One thread, as the caller may see it."""
    return _thread(ctx.patient_id, service.thread_messages(db, ctx.decision, ctx.patient_id,
                                                            thread_id))


@router.post("/patients/{patient_id}/messages", status_code=201, response_model=MessageRead)
def post_message(body: MessageCreate, db: DbSession, ctx: Writer):
    """Write as the caller's unit: to the patient (`to: patient`, which answers what the
    patient wrote to the unit), or to the care team (`to: staff`)."""
    message = service.send(db, ctx.subject, ctx.patient_id, body)
    view = service.thread_messages(db, ctx.decision, ctx.patient_id, message.thread_id)
    return next(_message(ctx.patient_id, m) for m in view.messages if m.message.id == message.id)


@router.post("/patients/{patient_id}/messages/{thread_id}/read", response_model=ThreadRead)
def mark_read(thread_id: uuid.UUID, db: DbSession, ctx: Writer):
    """The unit the patient wrote to has read what they wrote."""
    service.mark_read(db, ctx.subject, ctx.patient_id, thread_id)
    return _thread(ctx.patient_id, service.thread_messages(db, ctx.decision, ctx.patient_id,
                                                            thread_id))
