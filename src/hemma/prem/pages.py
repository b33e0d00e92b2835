"""HTML pages of the patient's experience (PREM): the questionnaire on the patient's own page
(`/p/prem`, large type for a phone), and the care team's part of a discharged episode (its
answers, or the form that types in a paper questionnaire; also a section of the discharge
summary's page)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse

from hemma.access import audit
from hemma.access.policy import Action
from hemma.patients.service import get_patient
from hemma.prem import questionnaire, service
from hemma.web.deps import DbSession, PatientAccess, PatientContext, PatientOwnPage, PatientSelf
from hemma.web.forms import attempt, error_messages, form_data
from hemma.web.templating import render

router = APIRouter()
FormData = Annotated[dict, Depends(form_data)]
Reader = Annotated[PatientContext, Depends(PatientAccess(Action.READ))]
# Typing in a paper questionnaire: anyone of the care team (service.enter_paper says why).
Writer = Annotated[PatientContext, Depends(PatientAccess(Action.COORDINATE))]
# The patient alone: a relative's code does not answer the patient's questions.
Me = Annotated[PatientSelf, Depends(PatientOwnPage())]

BASE = "/patients/{patient_id}/episodes/{episode_id}/prem"
_STEPS = {str(step): step for step in questionnaire.SCALE}


def form_answers(form: dict) -> tuple[dict, str | None]:
    """The form's radio buttons (`answers.<key>` = "1".."5") as the questionnaire's answers;
    anything else typed into them is passed on as typed, for the action to name."""
    answers = {k.removeprefix("answers."): _STEPS.get(v, v) for k, v in form.items()
               if k.startswith("answers.")}
    return answers, form.get("comment")


def _staff_page(request: Request, db, ctx: PatientContext, episode_id: uuid.UUID, *,
                values: dict | None = None, errors: dict | None = None, status_code: int = 200):
    return render(request, "prem/episode.html", {
        "patient": get_patient(db, ctx.patient_id),
        "prem": service.view(db, ctx.decision, ctx.patient_id, episode_id),
        "questionnaire": questionnaire, "prem_values": values or {},
        "prem_errors": errors or {}}, status_code=status_code)


@router.get(BASE)
def episode_prem(request: Request, db: DbSession, episode_id: uuid.UUID, ctx: Reader):
    """The patient's experience of the stay: the answers (the care team), or the form that
    types in a paper questionnaire."""
    return _staff_page(request, db, ctx, episode_id)


@router.post(BASE)
def enter_paper(request: Request, db: DbSession, episode_id: uuid.UUID, form: FormData,
                ctx: Writer):
    """Type in the questionnaire the patient filled in on paper."""
    answers, comment = form_answers(form)
    data = {"answers": answers, "comment": comment, "answered_on": form.get("answered_on")}
    _, err = attempt(db, lambda: service.enter_paper(db, ctx.subject, ctx.patient_id,
                                                     episode_id, data))
    if err:
        return _staff_page(request, db, ctx, episode_id, values=form,
                           errors=error_messages(err), status_code=err.status_code)
    return RedirectResponse(
        f"/patients/{ctx.patient_id}/episodes/{episode_id}/summary?done=prem_entered#prem", 303)


# --- The patient's own page ----------------------------------------------------------------


def _patient_page(request: Request, db, me: PatientSelf, *, values: dict | None = None,
                  errors: dict | None = None, status_code: int = 200):
    return render(request, "patient/prem.html", {
        "card": service.patient_card(db, me.patient_id), "questionnaire": questionnaire,
        "values": values or {}, "errors": errors or {}, "csrf_token": me.csrf_token},
        status_code=status_code)


@router.get("/p/prem")
def patient_form(request: Request, db: DbSession, me: Me):
    """The questions about the stay, after discharge (or thanks, once answered)."""
    audit.record(db, me.patient_id, "patient.prem", basis="self")
    return _patient_page(request, db, me)


@router.post("/p/prem")
def patient_answer(request: Request, db: DbSession, form: FormData, me: Me):
    """The patient sends their answers (every question may be left out)."""
    answers, comment = form_answers(form)
    _, err = attempt(db, lambda: service.answer(db, me, answers, comment))
    if err:
        return _patient_page(request, db, me, values=form, errors=error_messages(err),
                             status_code=err.status_code)
    return RedirectResponse("/p/prem", 303)
