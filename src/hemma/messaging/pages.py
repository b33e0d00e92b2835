"""HTML pages: the staff inbox of messages (`/messages`), a patient's threads
(`/patients/{id}/messages`: with the patient, and between staff), and the patient's own
messages on their phone (`/p/messages`). Photos are served only through the access check."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import UploadFile

from hemma.access import audit
from hemma.access.policy import Action
from hemma.kit.time import utcnow
from hemma.kit.validation import parse
from hemma.messaging import deadlines, photos, service
from hemma.messaging.schemas import BODY_CEILING, MessageCreate, PatientMessageCreate
from hemma.models import Message, ThreadKind
from hemma.patients.service import get_patient
from hemma.web.deps import (
    DbSession,
    PatientAccess,
    PatientContext,
    PatientOwnPage,
    PatientSelf,
    Principal,
    StaffAccess,
)
from hemma.web.forms import attempt, error_messages
from hemma.web.templating import render

router = APIRouter()
Reader = Annotated[PatientContext, Depends(PatientAccess(Action.READ))]
Writer = Annotated[PatientContext, Depends(PatientAccess(Action.MESSAGE))]
# The patient, or a relative the patient lets read and write their messages.
Me = Annotated[PatientSelf, Depends(PatientOwnPage(relative="messages"))]
Staff = Annotated[Principal, Depends(StaffAccess(Action.READ))]
# A photo and its text in one form: the largest photo any setting allows, and the text.
UPLOAD_LIMIT = 20_000_000 + 4 * BODY_CEILING + 64_000
PHOTO_HEADERS = {"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff",
                 "Content-Disposition": "inline"}


@dataclass
class MessageForm:
    values: dict
    photo: UploadFile | None


async def message_form(request: Request) -> MessageForm:
    """A message form (multipart, with an optional photo): its text fields, and the photo
    when one was chosen (an empty file input sends a part without a name)."""
    form = await request.form()
    values = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}
    photo = form.get("photo")
    chosen = isinstance(photo, UploadFile) and bool(photo.filename)
    return MessageForm(values, photo if chosen else None)


Form = Annotated[MessageForm, Depends(message_form)]


def _photo_response(message: Message) -> Response:
    try:
        data = photos.path_of(message.photo_key).read_bytes()
    except (OSError, ValueError):
        from hemma.kit.errors import NotFound

        raise NotFound() from None
    return Response(data, media_type=message.photo_type, headers=PHOTO_HEADERS)


def _helpers() -> dict:
    return {"waited": deadlines.waited, "now": utcnow()}


# --- Staff ----------------------------------------------------------------------------------


@router.get("/messages")
def inbox(request: Request, db: DbSession, principal: Staff):
    """Every thread of the patients the user may read: unanswered first, with their age."""
    return render(request, "messaging/inbox.html", {
        "rows": service.inbox(db, principal.subject), **_helpers()})


def _thread_page(request: Request, db, ctx: PatientContext, *, values: dict | None = None,
                 errors: dict | None = None, status_code: int = 200):
    found = service.patient_messages(db, ctx.decision, ctx.patient_id)
    own = found.own
    if own is not None and own.unread and found.may_write:
        # The unit the patient wrote to opened what they wrote: it is read.
        service.mark_read(db, ctx.subject, ctx.patient_id, own.thread.id)
        found = service.patient_messages(db, ctx.decision, ctx.patient_id)
    return render(request, "messaging/patient.html", {
        "patient": get_patient(db, ctx.patient_id), "found": found,
        "values": values or {}, "errors": errors or {}, **_helpers()},
        status_code=status_code)


@router.get("/patients/{patient_id}/messages")
def thread_page(request: Request, db: DbSession, ctx: Reader):
    """The patient's messages: with the patient (each unit's thread), and between staff."""
    return _thread_page(request, db, ctx)


@router.post("/patients/{patient_id}/messages", max_body_size=UPLOAD_LIMIT)
def post_message(request: Request, db: DbSession, form: Form, ctx: Writer):
    """Write to the patient (as the user's unit) or to the care team, with a photo."""
    data = form.values
    _, err = attempt(db, lambda: service.send(
        db, ctx.subject, ctx.patient_id, parse(MessageCreate, {
            "body": data.get("body", ""), "to": data.get("to", ThreadKind.PATIENT)}),
        form.photo.file if form.photo else None))
    if err:
        return _thread_page(request, db, ctx, values={**data, "form": data.get("to") or "patient"},
                            errors=error_messages(err), status_code=err.status_code)
    anchor = "staff-thread" if data.get("to") == ThreadKind.STAFF else "patient-thread"
    return RedirectResponse(f"/patients/{ctx.patient_id}/messages?done=message_sent#{anchor}",
                            303)


@router.get("/patients/{patient_id}/messages/{message_id}/photo")
def photo(db: DbSession, message_id: uuid.UUID, ctx: Reader):
    """A photo sent with a message, to someone who may see the message."""
    return _photo_response(service.photo_for_staff(db, ctx.decision, ctx.patient_id,
                                                   message_id))


# --- The patient ----------------------------------------------------------------------------


def _patient_page(request: Request, db, me: PatientSelf, *, values: dict | None = None,
                  errors: dict | None = None, status_code: int = 200):
    return render(request, "messaging/p_messages.html", {
        "page": service.patient_page(db, me), "csrf_token": me.csrf_token, "me": me,
        "values": values or {}, "errors": errors or {}, **_helpers()},
        status_code=status_code)


@router.get("/p/messages")
def patient_messages(request: Request, db: DbSession, me: Me):
    """The patient's messages with their care team, in large type."""
    service.patient_seen(db, me)
    return _patient_page(request, db, me)


@router.post("/p/messages", max_body_size=UPLOAD_LIMIT)
def patient_post(request: Request, db: DbSession, form: Form, me: Me):
    """The patient writes to their care team, with a photo if they like."""
    data = form.values
    _, err = attempt(db, lambda: service.patient_send(db, me, parse(PatientMessageCreate, {
        k: v for k, v in data.items() if k in ("body", "unit_id") and v != ""}),
        form.photo.file if form.photo else None))
    if err:
        audit.record(db, me.patient_id, me.action("messages"), basis=me.basis)
        return _patient_page(request, db, me, values=data, errors=error_messages(err),
                             status_code=err.status_code)
    return RedirectResponse("/p/messages?sent=1#sent", 303)


@router.get("/p/messages/{message_id}/photo")
def patient_photo(db: DbSession, message_id: uuid.UUID, me: Me):
    """A photo of the patient's own messages."""
    return _photo_response(service.photo_for_patient(db, me, message_id))
