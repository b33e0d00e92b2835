"""HTML pages: the snabbspår assessment of an episode (the newest version, its history, a
new version) and the physician's decision."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import RedirectResponse

from hemma.access.policy import Action
from hemma.access.service import origin
from hemma.access.sharing import consented_organisations
from hemma.assessments import service
from hemma.assessments.schemas import INFORMATION_ITEMS, AssessmentCreate, DecisionCreate
from hemma.episodes import service as episodes
from hemma.kit.errors import NotFound
from hemma.kit.validation import parse
from hemma.models import Pathway, Profession
from hemma.patients.service import get_patient
from hemma.web.deps import DbSession, PatientAccess, PatientContext
from hemma.web.forms import attempt, error_messages, form_data, nested
from hemma.web.templating import render

router = APIRouter()
FormData = Annotated[dict, Depends(form_data)]
Reader = Annotated[PatientContext, Depends(PatientAccess(Action.READ))]
Manager = Annotated[PatientContext, Depends(PatientAccess(Action.EPISODE))]
PARTS_ASKED = ("adl", "mobility", "medication")
Version = Annotated[int, Path(ge=1, le=100_000)]


def _values(row) -> dict:
    """A saved version as the form's flat values (a re-assessment starts from it)."""
    if row is None:
        return {}
    out = {}
    for part in (*PARTS_ASKED, "home"):
        for key, value in row.parts.get(part, {}).items():
            out[f"{part}.{key}"] = value
    out["stability_note"] = row.parts.get("medical_stability", {}).get("note")
    out["diagnosis_note"] = row.parts.get("diagnosis", {}).get("note")
    out["inclusion"] = [k for k, v in row.criteria.get("inclusion", {}).items() if v]
    out["exclusion"] = [k for k, v in row.criteria.get("exclusion", {}).items() if v]
    for key, value in row.information.items():
        out[f"information.{key}"] = value
    return out


def _context(db, ctx: PatientContext, episode_id: uuid.UUID) -> dict:
    view = episodes.get_episode_view(db, ctx.decision, ctx.patient_id, episode_id)
    e = view.episode
    versions = service.versions(db, ctx.decision, ctx.patient_id, episode_id)
    own = ctx.decision.basis != "emergency" and ctx.decision.may_change(
        origin(db, e.responsible_unit_id))
    latest = versions[0] if versions else None
    have = consented_organisations(db, ctx.patient_id)
    return {
        "patient": get_patient(db, ctx.patient_id), "view": view,
        "pathway": db.get(Pathway, e.pathway_id), "versions": versions, "latest": latest,
        "shown": latest,
        "stability": service.current_stability(db, ctx.decision, ctx.patient_id),
        "may_assess": own and ctx.subject.role_allows(Action.EPISODE) and e.is_active,
        "may_decide": own and ctx.subject.profession == Profession.PHYSICIAN
        and e.state == "assessing" and latest is not None and latest.row.decision is None,
        "information_items": INFORMATION_ITEMS,
        "sharing_missing": [o for o in service.team_organisations(db, ctx.patient_id)
                            if o.id not in have],
        "values": _values(latest.row if latest else None),
    }


@router.get("/patients/{patient_id}/episodes/{episode_id}/assessment")
def show(request: Request, db: DbSession, episode_id: uuid.UUID, ctx: Reader):
    """The assessment: the newest version, its history, and a form for a new version."""
    return render(request, "assessments/assessment.html", _context(db, ctx, episode_id))


@router.get("/patients/{patient_id}/episodes/{episode_id}/assessment/versions/{version}")
def show_version(request: Request, db: DbSession, episode_id: uuid.UUID, version: Version,
                 ctx: Reader):
    """An earlier version of the assessment, as it was saved."""
    context = _context(db, ctx, episode_id)
    shown = next((v for v in context["versions"] if v.row.version == version), None)
    if shown is None:
        raise NotFound()
    return render(request, "assessments/assessment.html", {
        **context, "shown": shown, "may_assess": False, "may_decide": False})


@router.post("/patients/{patient_id}/episodes/{episode_id}/assessment")
def save(request: Request, db: DbSession, episode_id: uuid.UUID, form: FormData, ctx: Manager):
    """Save a new version of the assessment."""
    _, err = attempt(db, lambda: service.assess(
        db, ctx.subject, ctx.patient_id, episode_id, parse(AssessmentCreate, nested(form))))
    if err:
        return render(request, "assessments/assessment.html", {
            **_context(db, ctx, episode_id), "values": form, "errors": error_messages(err)},
            status_code=err.status_code)
    return RedirectResponse(
        f"/patients/{ctx.patient_id}/episodes/{episode_id}/assessment?done=saved", 303)


@router.post("/patients/{patient_id}/episodes/{episode_id}/assessment/decision")
def decide(request: Request, db: DbSession, episode_id: uuid.UUID, form: FormData, ctx: Manager):
    """The physician's decision: admit, or not admit (which ends the episode)."""
    _, err = attempt(db, lambda: episodes.decide_admission(
        db, ctx.subject, ctx.patient_id, episode_id, parse(DecisionCreate, form)))
    if err:
        return render(request, "assessments/assessment.html", {
            **_context(db, ctx, episode_id), "decision_values": form,
            "decision_errors": error_messages(err)}, status_code=err.status_code)
    done = "decided_admit" if form.get("decision") == "admit" else "not_admitted"
    return RedirectResponse(f"/patients/{ctx.patient_id}?done={done}", 303)
