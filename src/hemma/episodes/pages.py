"""HTML pages: the home-ward list and the episode forms."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse

from hemma.access.directory import active_staff
from hemma.access.policy import Action
from hemma.access.service import origin
from hemma.access.sharing import organisations_without_consent
from hemma.episodes import service
from hemma.episodes.schemas import (
    AdmissionCreate,
    AssessmentCreate,
    Discharge,
    EpisodeEnd,
    ReturnToHospital,
)
from hemma.i18n import gettext as _
from hemma.i18n.labels import (
    DISCHARGE_OUTCOMES,
    PROFESSIONS,
    RETURN_REASONS,
    label,
    options,
)
from hemma.kit.text import N_
from hemma.kit.validation import parse
from hemma.monitoring import views as monitoring_views
from hemma.patients.service import get_patient
from hemma.web.deps import DbSession, PatientAccess, PatientContext, Principal, StaffAccess
from hemma.web.forms import attempt, error_messages, form_data, local_times
from hemma.web.templating import render

router = APIRouter()
FormData = Annotated[dict, Depends(form_data)]


@router.get("/")
def start(request: Request, principal: Annotated[Principal, Depends(StaffAccess(Action.SIGNED_IN))]):
    """The start page is the user's work list."""
    subject = principal.subject
    if subject.role_allows(Action.READ):
        return RedirectResponse("/home-ward", 303)
    if subject.is_log_reviewer:
        return RedirectResponse("/logs", 303)
    if subject.is_admin:
        return RedirectResponse("/admin", 303)
    if subject.role_allows(Action.FOLLOW_UP):
        return RedirectResponse("/followup", 303)
    return render(request, "error.html", {
        "title": _("No role yet"),
        "message": _("Your account has no role in Hemma yet. Contact your administrator."),
    }, status_code=403)


@router.get("/home-ward")
def home_ward(request: Request, db: DbSession,
              principal: Annotated[Principal, Depends(StaffAccess(Action.READ))],
              scope: str | None = None):
    """The unit's home-ward list: its virtual beds, or every patient the unit cares for."""
    ward = service.home_ward(db, principal.subject, scope)
    return render(request, "episodes/home_ward.html", {"ward": ward})


def _assess_options(db) -> dict:
    return {
        "pathway_options": [(p.id, p.name) for p in service.pathways(db)],
        "unit_options": [(u.id, u.name) for u in service.home_ward_units(db)],
    }


@router.get("/patients/{patient_id}/episodes/new")
def assess_form(request: Request, db: DbSession,
                ctx: Annotated[PatientContext, Depends(PatientAccess(Action.EPISODE))]):
    """Form: start an assessment for the home ward."""
    return render(request, "episodes/assess.html", {
        "patient": get_patient(db, ctx.patient_id),
        "values": {"responsible_unit_id": ctx.subject.unit_id},
        **_assess_options(db),
    })


@router.post("/patients/{patient_id}/episodes/new")
def assess(request: Request, db: DbSession, form: FormData,
           ctx: Annotated[PatientContext, Depends(PatientAccess(Action.EPISODE))]):
    """Start an assessment."""
    _, err = attempt(db, lambda: service.start_assessment(
        db, ctx.subject, ctx.patient_id, parse(AssessmentCreate, form)))
    if err:
        return render(request, "episodes/assess.html", {
            "patient": get_patient(db, ctx.patient_id), "values": form,
            "errors": error_messages(err), **_assess_options(db),
        }, status_code=err.status_code)
    return RedirectResponse(f"/patients/{ctx.patient_id}?done=assessing", 303)


def _staff_options(db, profession: str | None = None, organisation_id: int | None = None):
    rows = active_staff(db, profession)
    return [
        (s.id, f"{s.family_name}, {s.given_name} · {label(PROFESSIONS, s.profession)} · {u.name}")
        for s, u in rows
        if (organisation_id is None or u.organisation_id == organisation_id)
        and s.profession in service.CLINICAL_PROFESSIONS
    ]


def _admit_context(db, ctx: PatientContext, episode_id: uuid.UUID) -> dict:
    view = service.get_episode_view(db, ctx.decision, ctx.patient_id, episode_id)
    home = origin(db, view.episode.responsible_unit_id)
    return {
        "patient": get_patient(db, ctx.patient_id),
        "view": view,
        "physician_options": _staff_options(db, "physician", home.organisation_id),
        "coordinator_options": _staff_options(db),
        "sharing_missing": organisations_without_consent(db, ctx.patient_id),
    }


@router.get("/patients/{patient_id}/episodes/{episode_id}/admit")
def admit_form(request: Request, db: DbSession, episode_id: uuid.UUID,
               ctx: Annotated[PatientContext, Depends(PatientAccess(Action.EPISODE))]):
    """Form: admit the patient to the home ward."""
    return render(request, "episodes/admit.html", _admit_context(db, ctx, episode_id))


@router.post("/patients/{patient_id}/episodes/{episode_id}/admit")
def admit(request: Request, db: DbSession, episode_id: uuid.UUID, form: FormData,
          ctx: Annotated[PatientContext, Depends(PatientAccess(Action.EPISODE))]):
    """Admit the patient: assigns a virtual bed on the responsible unit's list."""
    _, err = attempt(db, lambda: service.admit(
        db, ctx.subject, ctx.patient_id, episode_id,
        parse(AdmissionCreate, local_times(form, "admitted_at"))))
    if err:
        return render(request, "episodes/admit.html", {
            **_admit_context(db, ctx, episode_id), "values": form,
            "errors": error_messages(err)}, status_code=err.status_code)
    return RedirectResponse(f"/patients/{ctx.patient_id}?done=admitted", 303)


_END_FORMS = {
    # mode: (service action, schema, heading, note label, submit, done code)
    "discharge": (service.discharge, Discharge, N_("Discharge from the home ward"),
                  N_("Discharge note"), N_("Discharge"), "discharged"),
    "return": (service.return_to_hospital, ReturnToHospital, N_("Return to hospital"),
               N_("Condition and what happened"), N_("Register return to hospital"),
               "returned"),
    "close": (service.close_without_admission, EpisodeEnd,
              N_("Close assessment without admission"),
              N_("Why the patient is not admitted"), N_("Close assessment"), "not_admitted"),
}
# How an admitted episode ended, as a code follow-up counts by: chosen, never preselected.
# mode: (field, label, codes, hint)
_END_CODES = {
    "discharge": ("outcome", N_("How the episode ended"), DISCHARGE_OUTCOMES,
                  N_("A death at home that was expected, in palliative care, is recorded "
                     "here as the episode's end.")),
    "return": ("reason", N_("Why the patient returns to hospital"), RETURN_REASONS, None),
}


def _end_context(db, ctx: PatientContext, episode_id: uuid.UUID, mode: str) -> dict:
    heading, note_label, submit = _END_FORMS[mode][2:5]
    code = _END_CODES.get(mode)
    return {
        "patient": get_patient(db, ctx.patient_id),
        "view": service.get_episode_view(db, ctx.decision, ctx.patient_id, episode_id),
        "mode": mode, "heading": _(heading), "note_label": _(note_label), "submit": _(submit),
        "code": code and {"name": code[0], "label": _(code[1]), "options": options(code[2]),
                          "hint": _(code[3]) if code[3] else None},
        # The open alerts that ending the episode closes: seen before confirming.
        "alerts": monitoring_views.patient_alerts(db, ctx.decision, ctx.patient_id,
                                                  unresolved_only=True, episode_id=episode_id),
    }


def _end_routes(mode: str) -> None:
    action, schema, *_texts, done = _END_FORMS[mode]

    def show(request: Request, db: DbSession, episode_id: uuid.UUID,
             ctx: Annotated[PatientContext, Depends(PatientAccess(Action.EPISODE))]):
        return render(request, "episodes/end.html", _end_context(db, ctx, episode_id, mode))

    def submit(request: Request, db: DbSession, episode_id: uuid.UUID, form: FormData,
               ctx: Annotated[PatientContext, Depends(PatientAccess(Action.EPISODE))]):
        _, err = attempt(db, lambda: action(db, ctx.subject, ctx.patient_id, episode_id,
                                            parse(schema, local_times(form, "ended_at"))))
        if err:
            return render(request, "episodes/end.html", {
                **_end_context(db, ctx, episode_id, mode), "values": form,
                "errors": error_messages(err)}, status_code=err.status_code)
        if mode == "discharge":
            # Straight on to the summary that hands the patient back to ordinary care.
            return RedirectResponse(
                f"/patients/{ctx.patient_id}/episodes/{episode_id}/summary?done={done}", 303)
        return RedirectResponse(f"/patients/{ctx.patient_id}?done={done}", 303)

    show.__doc__ = f"Form: {mode} the episode."
    submit.__doc__ = f"{mode.capitalize()} the episode."
    path = f"/patients/{{patient_id}}/episodes/{{episode_id}}/{mode}"
    router.add_api_route(path, show, methods=["GET"], name=f"episode_{mode}_form")
    router.add_api_route(path, submit, methods=["POST"], name=f"episode_{mode}")


for _mode in _END_FORMS:
    _end_routes(_mode)
