"""The patient's own page (`/p`): phone-sized, large controls, plain Swedish. The patient logs in
with the code staff handed over, sends values, sees that they arrived, and when they are
worrying, what to do now."""

from __future__ import annotations

import json
import time
import uuid
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, StreamingResponse
from sqlalchemy import select

from hemma.access import audit
from hemma.access.auth import (
    end_session,
    patient_login,
    relative_may_log_in,
    resolve_patient_session,
)
from hemma.agreements import service as agreements
from hemma.config import get_settings
from hemma.i18n import gettext as _
from hemma.kit.time import utcnow
from hemma.kit.validation import parse
from hemma.messaging import service as messaging
from hemma.models import Observation, Pathway, Relative, Unit
from hemma.monitoring import service
from hemma.monitoring.schemas import ObservationCreate
from hemma.patients import relatives
from hemma.patients.service import get_patient
from hemma.portal import today
from hemma.prem import service as prem
from hemma.summaries import service as summaries
from hemma.web.deps import (
    ANY_SHARE,
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
# The home page and logging out: the patient, or a relative with a code of their own.
Anyone = Annotated[PatientSelf, Depends(PatientOwnPage(relative=ANY_SHARE))]
Visits = Annotated[PatientSelf, Depends(PatientOwnPage(relative="visits"))]

# Which questions the form asks, by pathway; everyone gets the vital signs.
PATHWAY_EXTRAS = {"heart_failure": ["weight"], "opat": [], "copd": [], "palliative": ["pain"]}


def _sent_lately(db, patient_id: uuid.UUID) -> list[Observation]:
    """What the patient (or their device) sent: values staff measured at a visit are the
    care team's record, not the patient's list of what arrived."""
    return list(db.scalars(select(Observation).where(
        Observation.patient_id == patient_id, Observation.performer != "staff",
        Observation.measured_at >= utcnow() - timedelta(days=3))
        .order_by(Observation.measured_at.desc()).limit(10)))


def _phone(db, episode, found) -> str | None:
    """The one number to call ("en väg in"), the same for the patient and their relatives:
    the agreement's, by the time of day (the page must not name another number than the
    paper on the fridge; it comes from the duty roster), else the plan's, else the unit's."""
    plan = service.plan_for(db, episode)
    phone = plan.contact_phone if plan and plan.contact_phone else None
    if found is not None:
        phone = agreements.number_now(found[1].content, utcnow()) or phone
    if phone is None and episode is not None:
        phone = db.get(Unit, episode.responsible_unit_id).phone
    return phone


def _context(db, me: PatientSelf) -> dict:
    patient = get_patient(db, me.patient_id)
    episode = service.active_episode(db, me.patient_id)
    pathway = db.get(Pathway, episode.pathway_id) if episode else None
    found = agreements.patient_agreement(db, me)
    phone = _phone(db, episode, found)
    recent = _sent_lately(db, me.patient_id)
    now = utcnow()
    return {"patient": patient, "episode": episode, "phone": phone, "recent": recent,
            "coming": today.coming_today(db, me.patient_id) if episode else [],
            "goals": today.goals(db, episode), "trends": today.trends(db, me.patient_id, now),
            "sparkline": today.sparkline,
            "extras": PATHWAY_EXTRAS.get(pathway.code if pathway else "", []),
            "questions": pathway.symptom_questions if pathway else [],
            "csrf_token": me.csrf_token, "client_id": f"p-{uuid.uuid4()}",
            "agreement": found is not None,
            "relatives": relatives.current(db, me.patient_id),
            "unread_messages": messaging.patient_unread(db, me.patient_id),
            "discharged": summaries.patient_discharge(db, me.patient_id) if episode is None
            else None,
            # After discharge: the questions about the stay, or thanks once answered.
            "prem": prem.patient_card(db, me.patient_id) if episode is None else None}


def _relative_context(db, me: PatientSelf) -> dict:
    """A relative's page is built from what the patient lets them see, and nothing else is
    even read: no values unless allowed, never the patient's questions, goals or discharge
    letter."""
    patient = get_patient(db, me.patient_id)
    episode = service.active_episode(db, me.patient_id)
    found = agreements.patient_agreement(db, me)
    context = {"patient": patient, "episode": episode, "phone": _phone(db, episode, found),
               "me": me,
               "csrf_token": me.csrf_token, "sparkline": today.sparkline,
               "coming": None, "trends": None, "recent": None, "agreement": False,
               "unread_messages": 0}
    if episode is not None and me.may("visits"):
        context["coming"] = today.coming_today(db, me.patient_id)
    if me.may("values"):
        context["trends"] = today.trends(db, me.patient_id, utcnow())
        context["recent"] = _sent_lately(db, me.patient_id)
    if me.may("agreement"):
        context["agreement"] = found is not None
    if me.may("messages"):
        context["unread_messages"] = messaging.patient_unread(db, me.patient_id)
    return context


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
def home(request: Request, db: DbSession, me: Anyone):
    """The patient's page: send values, see the last ones, call the team. A relative sees
    only the parts the patient chose for them."""
    if me.is_relative:
        audit.record(db, me.patient_id, "relative.self", basis="relative",
                     detail=f"relative {me.relative_id}: {','.join(sorted(me.shares))}")
        return render(request, "patient/relative_home.html", _relative_context(db, me))
    audit.record(db, me.patient_id, "patient.self", basis="self")
    return render(request, "patient/home.html", {**_context(db, me), "values": {},
                                                 "errors": {}})


@router.get("/p/relatives")
def relatives_page(request: Request, db: DbSession, me: Me):
    """The patient chooses what each of their relatives may see with a code of their own."""
    audit.record(db, me.patient_id, "patient.relatives", basis="self")
    return _relatives_page(request, db, me)


def _relatives_page(request: Request, db, me: PatientSelf, *, errors: dict | None = None,
                    status_code: int = 200):
    return render(request, "patient/relatives.html", {
        "relatives": relatives.current(db, me.patient_id), "shares": relatives.SHARES,
        "csrf_token": me.csrf_token,
        "saved": request.query_params.get("saved"), "errors": errors or {}},
        status_code=status_code)


@router.post("/p/relatives/{relative_id}")
def relatives_choose(request: Request, db: DbSession, relative_id: uuid.UUID, form: FormData,
                     me: Me):
    """Save what the patient chose for one relative (boxes left empty take it back)."""
    chosen = form.get("shares") or []
    _, err = attempt(db, lambda: relatives.set_by_patient(db, me, relative_id, chosen))
    if err:
        return _relatives_page(request, db, me, errors=error_messages(err),
                               status_code=err.status_code)
    return RedirectResponse(f"/p/relatives?saved={relative_id}#r-{relative_id}", 303)


@router.get("/p/today")
async def today_stream(request: Request, db: DbSession, me: Visits, once: bool = False):
    """Server-sent events: who comes today and when, each time the day's plan changes (a
    visit moved, started, done). `once=true` sends it as it is and closes."""
    from starlette.concurrency import run_in_threadpool

    from hemma.coordination.live import broadcaster, visit_changes
    from hemma.i18n import current_language
    from hemma.web.templating import templates

    database = request.app.state.db
    patient_id = me.patient_id
    lang = current_language.get()

    token = request.cookies.get(PATIENT_SESSION_COOKIE)
    relative_id = me.relative_id

    def fetch():
        with database.session() as s:
            # The stream lives on: it ends once the session does (logged out, the code
            # revoked) or, for a relative, once the patient takes "who comes" back.
            web = resolve_patient_session(s, token)
            if web is None or web.patient_id != patient_id or web.relative_id != relative_id:
                return None
            if relative_id is not None:
                relative = s.get(Relative, relative_id)
                if relative is None or not relative_may_log_in(relative) \
                        or "visits" not in relative.shares:
                    return None
            return today.coming_today(s, patient_id)

    async def events():
        # It reads the day again when visits changed (live.visit_changes), and on its own
        # clock; not at every wake-up: every alert, task and message in the region wakes the
        # live pages, and a thousand patients' open pages each reading the day on each of
        # them would be the busiest thing in a morning.
        current_language.set(lang)
        subscription = broadcaster.subscribe()
        try:
            yield "retry: 5000\n\n"
            last = None
            while not broadcaster.closing and not await request.is_disconnected():
                seen = visit_changes.count  # a change committed while it reads: read again
                coming = await run_in_threadpool(fetch)
                if coming is None:
                    yield "event: ended\ndata: {}\n\n"
                    return
                html = templates.get_template("patient/_today.html").render(
                    {"coming": coming, "lang": lang})
                if html != last:
                    last = html
                    yield f"event: today\ndata: {json.dumps({'html': html})}\n\n"
                else:
                    yield ": keep-alive\n\n"
                if once:
                    return
                deadline = time.monotonic() + TODAY_LOOK_SECONDS
                while not broadcaster.closing and visit_changes.count == seen \
                        and time.monotonic() < deadline:
                    subscription.clear()
                    await subscription.wait(deadline - time.monotonic())
        finally:
            subscription.close()

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"X-Accel-Buffering": "no", "Cache-Control": "no-store"})


# The patient's live "today" reads the day when visits changed, and this often besides; it says
# something (the day, or a keep-alive) at least as often, within any proxy's and browser's
# patience.
TODAY_LOOK_SECONDS = 20.0

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
def logout(request: Request, db: DbSession, me: Anyone):
    """Log out on this phone."""
    end_session(db, request.cookies.get(PATIENT_SESSION_COOKIE))
    response = RedirectResponse("/p/login", 303)
    response.delete_cookie(PATIENT_SESSION_COOKIE, path="/p")
    return response
