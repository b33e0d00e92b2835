"""HTML pages: the shared plan of an episode (goals, each organisation's activities, the SIP
meeting's timers) and its history."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse

from hemma.access.directory import all_units
from hemma.access.policy import Action
from hemma.access.sharing import organisations_without_consent
from hemma.careplans import service
from hemma.careplans.deadlines import remaining_text
from hemma.careplans.schemas import ActivityCreate, ActivityStatusUpdate, GoalsUpdate, SipUpdate
from hemma.episodes import service as episodes
from hemma.kit.time import format_local, local_today
from hemma.kit.validation import parse
from hemma.models import Pathway
from hemma.patients.service import get_patient
from hemma.web.deps import DbSession, PatientAccess, PatientContext
from hemma.web.forms import attempt, error_messages, form_data, local_times
from hemma.web.templating import render

router = APIRouter()
FormData = Annotated[dict, Depends(form_data)]
Reader = Annotated[PatientContext, Depends(PatientAccess(Action.READ))]
Requester = Annotated[PatientContext, Depends(PatientAccess(Action.CARE_REQUEST))]
Manager = Annotated[PatientContext, Depends(PatientAccess(Action.EPISODE))]
BASE = "/patients/{patient_id}/episodes/{episode_id}/careplan"


def _url(ctx: PatientContext, episode_id: uuid.UUID) -> str:
    return f"/patients/{ctx.patient_id}/episodes/{episode_id}/careplan"


def _template_values(pathway: Pathway, key: str | None, units) -> dict:
    """The add-activity form filled from one of the pathway's visit templates, with the
    unit of the kind it names in the organisation it names."""
    template = next((t for t in pathway.visit_templates or [] if t.get("key") == key), None)
    if template is None:
        return {"kind": "visit", "starts_on": local_today().isoformat()}
    unit = next((u for u, o in units if o.kind == template.get("organisation_kind")
                 and (template.get("unit_kind") in (None, u.kind))), None)
    return {"kind": "visit", "what": template["what"], "care_kind": template["care_kind"],
            "times": " ".join(template["times"]), "duration_minutes": template["duration_minutes"],
            "tolerance_minutes": template.get("tolerance_minutes", 30),
            "skills": ", ".join(template.get("skills", [])), "unit_id": unit.id if unit else None,
            "starts_on": local_today().isoformat()}


def _context(db, ctx: PatientContext, episode_id: uuid.UUID, template: str | None = None) -> dict:
    view = episodes.get_episode_view(db, ctx.decision, ctx.patient_id, episode_id)
    pathway = db.get(Pathway, view.episode.pathway_id)
    units = [(u, o) for u, o in all_units(db) if u.active]
    plan = service.plan_view(db, ctx.decision, ctx.patient_id, episode_id)
    goals = {}
    if plan.plan is not None:
        goals = {"goals": plan.plan.goals, "needs": plan.plan.needs,
                 "follow_ups": "\n".join(f"{f['on']} {f['what']}" for f in plan.plan.follow_ups)}
    sip = plan.sip
    sip_values = {}
    if sip is not None:
        sip_values = {k: getattr(sip, k) for k in ("decisions",)}
        sip_values["participants"] = "\n".join(sip.participants or [])
        for k in ("notice_sent_at", "called_at", "meeting_at", "held_at"):
            v = getattr(sip, k)
            sip_values[k] = format_local(v, "%Y-%m-%dT%H:%M") if v else None
    return {
        "patient": get_patient(db, ctx.patient_id), "view": view, "pathway": pathway,
        "plan": plan, "goal_values": goals, "goal_errors": {},
        "values": _template_values(pathway, template, units), "errors": {},
        "sip_values": sip_values, "sip_errors": {},
        "unit_options": [(u.id, f"{u.name} ({o.name})") for u, o in units],
        "sharing_missing": organisations_without_consent(db, ctx.patient_id),
        "remaining_text": remaining_text,
    }


@router.get(BASE)
def show(request: Request, db: DbSession, episode_id: uuid.UUID, ctx: Reader,
         template: str | None = None):
    """The shared plan: goals, who does what, the SIP meeting."""
    return render(request, "careplans/plan.html", _context(db, ctx, episode_id, template))


@router.get(BASE + "/versions")
def history(request: Request, db: DbSession, episode_id: uuid.UUID, ctx: Reader):
    """What the plan looked like after each change."""
    return render(request, "careplans/versions.html", {
        "patient": get_patient(db, ctx.patient_id),
        "view": episodes.get_episode_view(db, ctx.decision, ctx.patient_id, episode_id),
        "versions": service.versions(db, ctx.decision, ctx.patient_id, episode_id)})


def _lines(value) -> list[str]:
    return [x.strip() for x in (value or "").splitlines() if x.strip()]


def _follow_ups(value) -> list[dict]:
    out = []
    for line in _lines(value):
        day, _, what = line.partition(" ")
        out.append({"on": day, "what": what.strip()})
    return out


@router.post(BASE + "/goals")
def save_goals(request: Request, db: DbSession, episode_id: uuid.UUID, form: FormData,
               ctx: Reader):
    """Save the goals, needs and follow-up dates (the coordinator)."""
    data = {"goals": form.get("goals"), "needs": form.get("needs"),
            "follow_ups": _follow_ups(form.get("follow_ups"))}
    _, err = attempt(db, lambda: service.update_goals(
        db, ctx.subject, ctx.patient_id, episode_id, parse(GoalsUpdate, data)))
    if err:
        return render(request, "careplans/plan.html", {
            **_context(db, ctx, episode_id), "goal_values": form,
            "goal_errors": error_messages(err)}, status_code=err.status_code)
    return RedirectResponse(_url(ctx, episode_id) + "?done=saved", 303)


def _activity_form(form: dict) -> dict:
    out = local_times(form, "due_at")
    for name in ("skills", "times"):
        if isinstance(out.get(name), str):
            out[name] = [p for p in out[name].replace(",", " ").split() if p]
    out["continues_after"] = form.get("continues_after") in ("true", "on")
    return out


@router.post(BASE + "/activities")
def add_activity(request: Request, db: DbSession, episode_id: uuid.UUID, form: FormData,
                 ctx: Requester):
    """Add an activity: a visit goes to its unit as a care request, a one-off as a task."""
    _, err = attempt(db, lambda: service.add_activity(
        db, ctx.subject, ctx.patient_id, episode_id, parse(ActivityCreate, _activity_form(form))))
    if err:
        return render(request, "careplans/plan.html", {
            **_context(db, ctx, episode_id), "values": form, "errors": error_messages(err)},
            status_code=err.status_code)
    done = "activity_requested" if form.get("kind") == "visit" else (
        "activity_task" if form.get("kind") == "once" else "saved")
    return RedirectResponse(_url(ctx, episode_id) + f"?done={done}", 303)


@router.post(BASE + "/activities/{activity_id}/status")
def set_status(request: Request, db: DbSession, episode_id: uuid.UUID, activity_id: uuid.UUID,
               form: FormData, ctx: Requester):
    """The responsible organisation sets how its activity goes."""
    service.plan_view(db, ctx.decision, ctx.patient_id, episode_id)  # 404 unless visible
    service.set_status(db, ctx.subject, ctx.patient_id, activity_id,
                       parse(ActivityStatusUpdate, form))
    return RedirectResponse(_url(ctx, episode_id) + "?done=saved", 303)


@router.post(BASE + "/sip/start")
def start_sip(request: Request, db: DbSession, episode_id: uuid.UUID, ctx: Manager):
    """Record that the patient will need the municipality after discharge."""
    service.start_sip(db, ctx.subject, ctx.patient_id, episode_id)
    return RedirectResponse(_url(ctx, episode_id) + "?done=saved#sip", 303)


@router.post(BASE + "/sip")
def save_sip(request: Request, db: DbSession, episode_id: uuid.UUID, form: FormData,
             ctx: Manager):
    """Record the notice, the call, the meeting, its participants and decisions."""
    data = local_times(form, "notice_sent_at", "called_at", "meeting_at", "held_at")
    data["participants"] = _lines(form.get("participants"))
    _, err = attempt(db, lambda: service.update_sip(
        db, ctx.subject, ctx.patient_id, episode_id, parse(SipUpdate, data)))
    if err:
        return render(request, "careplans/plan.html", {
            **_context(db, ctx, episode_id), "sip_values": form,
            "sip_errors": error_messages(err)}, status_code=err.status_code)
    return RedirectResponse(_url(ctx, episode_id) + "?done=saved#sip", 303)
