"""HTML pages: the discharge summary (draft, edit, sign, send; the receiving unit's
acknowledgement), its PDF, and the unit's inbox of summaries received."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from hemma.access.policy import Action
from hemma.access.service import relation_active
from hemma.episodes import service as episodes
from hemma.kit.time import utcnow
from hemma.kit.validation import parse
from hemma.models import CareRelation, Organisation, Unit
from hemma.patients.service import get_patient
from hemma.prem import questionnaire
from hemma.prem import service as prem
from hemma.summaries import service
from hemma.summaries.schemas import SummarySign, SummaryUpdate
from hemma.web.deps import DbSession, PatientAccess, PatientContext, Principal, StaffAccess
from hemma.web.forms import attempt, error_messages, form_data
from hemma.web.templating import render

router = APIRouter()
FormData = Annotated[dict, Depends(form_data)]
Reader = Annotated[PatientContext, Depends(PatientAccess(Action.READ))]
Manager = Annotated[PatientContext, Depends(PatientAccess(Action.EPISODE))]
BASE = "/patients/{patient_id}/episodes/{episode_id}/summary"


def _receiver_options(db, ctx: PatientContext, view: service.SummaryView) -> list:
    """Units that can take over: the care team's other units first (ticked), then every
    other unit."""
    team = set(db.scalars(select(CareRelation.unit_id).where(
        CareRelation.patient_id == ctx.patient_id, CareRelation.unit_id.is_not(None),
        relation_active(utcnow()))))
    rows = db.execute(
        select(Unit, Organisation).join(Organisation)
        .where(Unit.active.is_(True), Unit.id != view.episode.responsible_unit_id)
        .order_by(Organisation.name, Unit.name)).all()
    return sorted([(u.id, f"{u.name} ({o.name})", u.id in team) for u, o in rows],
                  key=lambda x: not x[2])


def _context(db, ctx: PatientContext, episode_id: uuid.UUID) -> dict:
    view = service.summary_view(db, ctx.decision, ctx.patient_id, episode_id)
    return {"patient": get_patient(db, ctx.patient_id), "s": view,
            "episode_view": episodes.get_episode_view(db, ctx.decision, ctx.patient_id,
                                                      episode_id),
            "receiver_options": _receiver_options(db, ctx, view) if view.may_sign else [],
            "values": {"text": view.summary.text, "next_steps": view.summary.next_steps}
            if view.summary else {},
            # The patient's experience of the stay: the answers, or the paper form.
            "prem": prem.section(db, ctx.decision, ctx.patient_id, episode_id),
            "questionnaire": questionnaire, "prem_values": {}, "prem_errors": {}}


def _url(ctx: PatientContext, episode_id: uuid.UUID) -> str:
    return f"/patients/{ctx.patient_id}/episodes/{episode_id}/summary"


@router.get(BASE)
def show(request: Request, db: DbSession, episode_id: uuid.UUID, ctx: Reader):
    """The discharge summary: the facts of the episode, the physician's text, who got it."""
    return render(request, "summaries/summary.html", _context(db, ctx, episode_id))


@router.post(BASE + "/draft")
def draft(request: Request, db: DbSession, episode_id: uuid.UUID, ctx: Manager):
    """Gather the facts of the discharged episode into a summary to edit."""
    _, err = attempt(db, lambda: service.draft(db, ctx.subject, ctx.patient_id, episode_id))
    if err:
        return render(request, "summaries/summary.html", {
            **_context(db, ctx, episode_id), "errors": error_messages(err)},
            status_code=err.status_code)
    return RedirectResponse(_url(ctx, episode_id), 303)


@router.post(BASE)
def save(request: Request, db: DbSession, episode_id: uuid.UUID, form: FormData, ctx: Manager):
    """Save the physician's text and what happens next (or gather the facts again)."""
    data = {"text": form.get("text"), "next_steps": form.get("next_steps"),
            "refresh": form.get("refresh") == "true"}
    _, err = attempt(db, lambda: service.update(db, ctx.subject, ctx.patient_id, episode_id,
                                                parse(SummaryUpdate, data)))
    if err:
        return render(request, "summaries/summary.html", {
            **_context(db, ctx, episode_id), "values": form, "errors": error_messages(err)},
            status_code=err.status_code)
    return RedirectResponse(_url(ctx, episode_id) + "?done=saved", 303)


@router.post(BASE + "/sign")
def sign(request: Request, db: DbSession, episode_id: uuid.UUID, form: FormData, ctx: Manager):
    """Sign and send to the units that take over."""
    receivers = form.get("receivers", [])
    _, err = attempt(db, lambda: service.sign(db, ctx.subject, ctx.patient_id, episode_id,
                                              parse(SummarySign, {"receivers": receivers})))
    if err:
        return render(request, "summaries/summary.html", {
            **_context(db, ctx, episode_id), "sign_errors": error_messages(err)},
            status_code=err.status_code)
    return RedirectResponse(_url(ctx, episode_id) + "?done=summary_signed", 303)


@router.post(BASE + "/acknowledge")
def acknowledge(request: Request, db: DbSession, episode_id: uuid.UUID, ctx: Reader):
    """The receiving unit confirms it has received the summary."""
    service.acknowledge(db, ctx.subject, ctx.patient_id, episode_id)
    return RedirectResponse(_url(ctx, episode_id) + "?done=acknowledged", 303)


@router.get(BASE + ".pdf")
def summary_pdf(db: DbSession, episode_id: uuid.UUID, ctx: Reader):
    """The signed (or draft) summary as a PDF, in large type."""
    view = service.summary_view(db, ctx.decision, ctx.patient_id, episode_id)
    if view.summary is None:
        return RedirectResponse(_url(ctx, episode_id), 303)
    body = service.pdf_document(db, view)
    service.record_print(db, ctx.patient_id)
    return Response(body, media_type="application/pdf", headers={
        "Content-Disposition": 'inline; filename="utskrivningssammanfattning.pdf"'})


@router.get("/summaries")
def inbox(request: Request, db: DbSession,
          principal: Annotated[Principal, Depends(StaffAccess(Action.READ))]):
    """Discharge summaries sent to the user's unit, unacknowledged first."""
    return render(request, "summaries/inbox.html", {"rows": service.inbox(db, principal.subject)})
