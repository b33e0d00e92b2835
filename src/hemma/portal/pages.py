"""The patient's own page (`/p`): phone-sized, large controls, plain Swedish. The patient logs in
with the code staff handed over, sends values, sees that they arrived, and when they are
worrying, what to do now."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, StreamingResponse
from sqlalchemy import select

from hemma.access import audit
from hemma.access.auth import end_session, patient_login
from hemma.agreements import service as agreements
from hemma.config import get_settings
from hemma.i18n import gettext as _
from hemma.kit.time import utcnow
from hemma.kit.validation import parse
from hemma.messaging import service as messaging
from hemma.models import Observation, Pathway, Unit
from hemma.monitoring import service
from hemma.monitoring.schemas import ObservationCreate
from hemma.patients.service import get_patient
from hemma.portal import today
from hemma.summaries import service as summaries
from hemma.web.deps import (
    LOGIN_CSRF_COOKIE,
    PATIENT_SESSION_COOKIE,
    DbSession,
    PatientOwnPage,
    PatientSelf,
    Public,
    client_addr,
    login_token_valid,
    render_login,
    submitted_csrf,
)
from hemma.web.forms import attempt, error_messages, form_data
from hemma.web.templating import render

router = APIRouter()
FormData = Annotated[dict, Depends(form_data)]
Me = Annotated[PatientSelf, Depends(PatientOwnPage())]

# Which questions the form asks, by pathway; everyone gets the vital signs.
PATHWAY_EXTRAS = {"heart_failure": ["weight"], "opat": [], "copd": [], "palliative": ["pain"]}


def _context(db, me: PatientSelf) -> dict:
    patient = get_patient(db, me.patient_id)
    episode = service.active_episode(db, me.patient_id)
    plan = service.plan_for(db, episode)
    phone = plan.contact_phone if plan and plan.contact_phone else None
    pathway = db.get(Pathway, episode.pathway_id) if episode else None
    found = agreements.patient_agreement(db, me)
    if found is not None:
        # The numbers the patient was given in the agreement, by the time of day: the page
        # must not name another number than the paper on the fridge.
        phone = agreements.number_now(found[1].content, utcnow()) or phone
    if phone is None and episode is not None:
        phone = db.get(Unit, episode.responsible_unit_id).phone
    # What the patient (or their device) sent: values staff measured at a visit are the
    # care team's record, not the patient's list of what arrived.
    recent = list(db.scalars(select(Observation).where(
        Observation.patient_id == me.patient_id, Observation.performer != "staff",
        Observation.measured_at >= utcnow() - timedelta(days=3))
        .order_by(Observation.measured_at.desc()).limit(10)))
    now = utcnow()
    return {"patient": patient, "episode": episode, "phone": phone, "recent": recent,
            "coming": today.coming_today(db, me.patient_id) if episode else [],
            "goals": today.goals(db, episode), "trends": today.trends(db, me.patient_id, now),
            "sparkline": today.sparkline,
            "extras": PATHWAY_EXTRAS.get(pathway.code if pathway else "", []),
            "questions": pathway.symptom_questions if pathway else [],
            "csrf_token": me.csrf_token, "client_id": f"p-{uuid.uuid4()}",
            "agreement": found is not None,
            "unread_messages": messaging.patient_unread(db, me.patient_id),
            "discharged": summaries.patient_discharge(db, me.patient_id) if episode is None
            else None}


def _login_page(request: Request, error: str | None = None, status_code: int = 200):
    return render_login(request, "patient/login.html", "/p/login", {"error": error},
                        status_code)


@router.get("/p/login", dependencies=[Depends(Public())])
def login_form(request: Request):
    """The patient's login page."""
    return _login_page(request)


@router.post("/p/login", dependencies=[Depends(Public())])
def login(request: Request, db: DbSession, form: FormData,
          sent: Annotated[str | None, Depends(submitted_csrf)]):
    """Log in with the code from the care team."""
    if not login_token_valid(request, sent):
        return _login_page(request, _("The page had expired. Please try again."), 400)
    result = patient_login(db, form.get("code", ""), client_addr=client_addr(request),
                           user_agent=request.headers.get("user-agent"))
    if result is None:
        return _login_page(
            request, _("The code did not work. Check it, or call your care team for a new one."),
            401)
    token, _patient = result
    response = RedirectResponse("/p", 303)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/p/login")
    response.set_cookie(PATIENT_SESSION_COOKIE, token, httponly=True, samesite="lax",
                        secure=get_settings().cookie_secure, path="/p",
                        max_age=get_settings().patient_session_days * 86400)
    return response


@router.get("/p")
def home(request: Request, db: DbSession, me: Me):
    """The patient's page: send values, see the last ones, call the team."""
    audit.record(db, me.patient_id, "patient.self", basis="self")
    return render(request, "patient/home.html", {**_context(db, me), "values": {},
                                                 "errors": {}})


@router.get("/p/today")
async def today_stream(request: Request, db: DbSession, me: Me, once: bool = False):
    """Server-sent events: who comes today and when, each time the day's plan changes (a
    visit moved, started, done). `once=true` sends it as it is and closes."""
    from starlette.concurrency import run_in_threadpool

    from hemma.coordination.live import broadcaster
    from hemma.i18n import current_language
    from hemma.web.templating import templates

    database = request.app.state.db
    patient_id = me.patient_id
    lang = current_language.get()

    def fetch():
        with database.session() as s:
            return today.coming_today(s, patient_id)

    async def events():
        current_language.set(lang)
        subscription = broadcaster.subscribe()
        try:
            yield "retry: 5000\n\n"
            last = None
            while not await request.is_disconnected():
                subscription.clear()
                coming = await run_in_threadpool(fetch)
                html = templates.get_template("patient/_today.html").render(
                    {"coming": coming, "lang": lang})
                if html != last:
                    last = html
                    yield f"event: today\ndata: {json.dumps({'html': html})}\n\n"
                if once:
                    return
                if not await subscription.wait(60):
                    yield ": keep-alive\n\n"
                await asyncio.sleep(0.2)
        finally:
            subscription.close()

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"X-Accel-Buffering": "no", "Cache-Control": "no-store"})


# What the page asks every patient to measure (consciousness and oxygen are staff's to judge).
SELF_MEASURED = ("respiration_rate", "spo2", "temperature", "pulse", "systolic_bp")
NEWS2_LOW_MAX = 4  # an aggregate of 0-4 is low risk


def _levels(recorded) -> str:
    """What the patient is told after sending: all well, call the team now, or call 112."""
    alert = recorded.alert
    band = recorded.observation.news2_band
    if band == "high" or (alert is not None and alert.severity == "critical"):
        return "emergency"
    if alert is not None or band in ("medium", "low-medium"):
        return "call"
    # "As expected" only when everything the page asks for was sent and scored low: a
    # temperature sent alone says nothing of the patient's breathing or blood pressure.
    # (Without consciousness and oxygen, which the patient is not asked, the score is
    # incomplete and has no band: its total is what the values sent add up to.)
    o = recorded.observation
    complete = all(getattr(o, f) is not None for f in SELF_MEASURED)
    low = o.news2_total is not None and o.news2_total <= NEWS2_LOW_MAX
    return "ok" if complete and low else "seen"


@router.post("/p/observations")
def send(request: Request, db: DbSession, form: FormData, me: Me):
    """The patient sends values."""
    data = {k: v for k, v in form.items() if k in ObservationCreate.model_fields}
    data["measured_at"] = utcnow()
    # Yes/no answers arrive as symptom__<key>=yes|no; unanswered questions are left out.
    data["symptoms"] = {k.removeprefix("symptom__"): v == "yes" for k, v in form.items()
                        if k.startswith("symptom__") and v in ("yes", "no")}
    if "on_oxygen" in data:
        data["on_oxygen"] = data["on_oxygen"] == "true"

    def act():
        return service.record_observation(
            db, me.patient_id, parse(ObservationCreate, data), performer="patient",
            source="patient_page", documented_by_unit_id=None)

    recorded, err = attempt(db, act)
    if err:
        return render(request, "patient/home.html", {
            **_context(db, me), "values": form, "errors": error_messages(err)},
            status_code=err.status_code)
    audit.record(db, me.patient_id, "patient.observation", basis="self")
    return render(request, "patient/sent.html", {
        **_context(db, me), "observation": recorded.observation, "level": _levels(recorded)})


@router.post("/p/worse")
def feeling_worse(request: Request, db: DbSession, form: FormData, me: Me):
    """The 'I feel worse' button: an alert to the team, and the number to call."""
    data = {"client_id": form.get("client_id") or f"p-{uuid.uuid4()}", "feeling_worse": True,
            "measured_at": utcnow(), "note": form.get("note")}
    recorded, err = attempt(db, lambda: service.record_observation(
        db, me.patient_id, parse(ObservationCreate, data), performer="patient",
        source="patient_page", documented_by_unit_id=None))
    if err:
        return render(request, "patient/home.html", {
            **_context(db, me), "values": form, "errors": error_messages(err)},
            status_code=err.status_code)
    audit.record(db, me.patient_id, "patient.worse", basis="self")
    return render(request, "patient/sent.html", {
        **_context(db, me), "observation": recorded.observation, "level": "call",
        "worse": True})


@router.post("/p/logout")
def logout(request: Request, db: DbSession, me: Me):
    """Log out on this phone."""
    end_session(db, request.cookies.get(PATIENT_SESSION_COOKIE))
    response = RedirectResponse("/p/login", 303)
    response.delete_cookie(PATIENT_SESSION_COOKIE, path="/p")
    return response
