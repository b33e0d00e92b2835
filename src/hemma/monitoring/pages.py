"""HTML pages for staff: enter values, trends, the monitoring plan, the patient's login code,
the live alert inbox, and the alert actions."""

from __future__ import annotations

import json
import logging
import time
import uuid
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from hemma.access import audit
from hemma.access.auth import format_code
from hemma.access.policy import Action
from hemma.access.service import origin
from hemma.coordination.live import Silence, broadcaster
from hemma.i18n import gettext
from hemma.i18n.labels import PARAMETERS, UNITS, label
from hemma.kit.errors import FieldError, Invalid, NotFound
from hemma.kit.text import N_
from hemma.kit.time import utcnow
from hemma.kit.validation import DB_BIGINT_MAX, DbId, load_json, parse
from hemma.models import Pathway
from hemma.monitoring import alerts, charts, service, views
from hemma.monitoring.feed import alert_feed
from hemma.monitoring.schemas import Acknowledge, ObservationCreate, PlanUpdate, Resolve, Snooze
from hemma.patients.service import get_patient
from hemma.portal import service as portal
from hemma.web.deps import DbSession, PatientAccess, PatientContext, Principal, StaffAccess
from hemma.web.forms import attempt, error_messages, form_data, local_times
from hemma.web.templating import render

log = logging.getLogger(__name__)

# An inbox stream that took this long to read and log what it shows is logged (a warning
# saying where the time went): its page heard nothing meanwhile, not even a keep-alive.
STREAM_WAIT_WARNING = 5.0
KEEP_ALIVE_SECONDS = 2.0  # the longest an open inbox stays silent (its `retry` is as long)

router = APIRouter()
FormData = Annotated[dict, Depends(form_data)]
Reader = Annotated[PatientContext, Depends(PatientAccess(Action.READ))]


# --- Values --------------------------------------------------------------------------------


def _values_page(request, db, ctx, values=None, errors=None, status_code=200):
    patient = get_patient(db, ctx.patient_id)
    episode = service.active_episode(db, ctx.patient_id)
    plan = service.plan_for(db, episode)
    values = values or {"client_id": f"staff-{uuid.uuid4()}"}
    return render(request, "monitoring/enter.html", {
        "patient": patient, "episode": episode, "plan": plan, "values": values,
        "errors": errors or {}}, status_code=status_code)


@router.get("/patients/{patient_id}/observations/new")
def enter_form(request: Request, db: DbSession,
               ctx: Annotated[PatientContext, Depends(PatientAccess(Action.OBSERVE))]):
    """Form: enter values measured at a visit or read out on the phone."""
    return _values_page(request, db, ctx)


@router.post("/patients/{patient_id}/observations/new")
def enter(request: Request, db: DbSession, form: FormData,
          ctx: Annotated[PatientContext, Depends(PatientAccess(Action.OBSERVE))]):
    """Save values entered by staff."""
    data = local_times(form, "measured_at")
    data.setdefault("measured_at", utcnow())
    for flag in ("on_oxygen",):
        if flag in data:
            data[flag] = data[flag] in ("true", "on", "1")

    recorded, err = attempt(db, lambda: service.enter_observation(
        db, ctx.subject, ctx.patient_id, parse(ObservationCreate, data)))
    if err:
        return _values_page(request, db, ctx, values=form, errors=error_messages(err),
                            status_code=err.status_code)
    return RedirectResponse(f"/patients/{ctx.patient_id}?done=values", 303)


@router.get("/patients/{patient_id}/charts/vitals.svg")
def chart(db: DbSession, ctx: Reader, hours: int = 72, compact: bool = False):
    """Trend chart of the last hours' values (SVG)."""
    hours = max(6, min(hours, 24 * 14))
    now = utcnow()
    data = views.visible_observations(db, ctx.decision, ctx.patient_id, now - timedelta(hours=hours))
    titles = {f: f"{label(PARAMETERS, f)} {UNITS.get(f, '')}".strip()
              for f in PARAMETERS} | {"news2_total": "NEWS2"}
    return Response(charts.cached_vitals_svg(data, now, hours, compact, titles),
                    media_type="image/svg+xml")


@router.get("/patients/{patient_id}/observations")
def values_list(request: Request, db: DbSession, ctx: Reader, days: int = 3):
    """All values of the last days, newest first."""
    days = max(1, min(days, 30))
    data = views.visible_observations(db, ctx.decision, ctx.patient_id,
                                      utcnow() - timedelta(days=days))
    return render(request, "monitoring/values.html", {
        "patient": get_patient(db, ctx.patient_id), "observations": list(reversed(data)),
        "days": days})


# --- The monitoring plan --------------------------------------------------------------------


def _plan_page(request, db, ctx, values=None, errors=None, status_code=200):
    patient = get_patient(db, ctx.patient_id)
    episode = service.active_episode(db, ctx.patient_id)
    if episode is None or not ctx.decision.may_change(origin(db, episode.responsible_unit_id)):
        raise NotFound()
    plan = service.plan_for(db, episode)
    pathway = db.get(Pathway, episode.pathway_id)
    if values is None:
        values = {
            "spo2_scale": plan.spo2_scale if plan else 1,
            "schedule": ", ".join(plan.schedule) if plan and plan.schedule is not None else "",
            "tolerance_minutes": plan.tolerance_minutes if plan else None,
            "contact_phone": plan.contact_phone if plan else None,
            "rules": json.dumps(plan.rule_overrides if plan else [], ensure_ascii=False, indent=1),
        }
    return render(request, "monitoring/plan.html", {
        "patient": patient, "episode": episode, "plan": plan, "pathway": pathway,
        "values": values, "errors": errors or {}}, status_code=status_code)


@router.get("/patients/{patient_id}/plan")
def plan_form(request: Request, db: DbSession,
              ctx: Annotated[PatientContext, Depends(PatientAccess(Action.PLAN))]):
    """Form: the monitoring plan (physician)."""
    return _plan_page(request, db, ctx)


@router.post("/patients/{patient_id}/plan")
def plan_save(request: Request, db: DbSession, form: FormData,
              ctx: Annotated[PatientContext, Depends(PatientAccess(Action.PLAN))]):
    """Save the monitoring plan."""
    def act():
        overrides = load_json(form.get("rules") or "[]", field="rules")
        schedule = [t.strip() for t in (form.get("schedule") or "").split(",") if t.strip()]
        scale = str(form.get("spo2_scale", "1"))
        try:
            data = parse(PlanUpdate, {
                "spo2_scale": int(scale) if scale.isdigit() else scale,
                "schedule": schedule or None,
                "tolerance_minutes": form.get("tolerance_minutes"),
                "rule_overrides": overrides if isinstance(overrides, list) else [overrides],
                "contact_phone": form.get("contact_phone")})
        except Invalid as exc:
            raise Invalid(errors=[_in_rules(e) for e in exc.errors]) from None
        return service.update_plan(db, ctx.subject, ctx.patient_id, data)

    _, err = attempt(db, act)
    if err:
        return _plan_page(request, db, ctx, values=form, errors=error_messages(err),
                          status_code=err.status_code)
    return RedirectResponse(f"/patients/{ctx.patient_id}?done=saved", 303)


def _in_rules(error: FieldError) -> FieldError:
    """The form has one text field for all rules: an error in one of them is shown there,
    saying which rule and which of its fields."""
    parts = error.field.split(".")
    if parts[0] != "rule_overrides":
        return error
    problem = gettext(error.message, **error.params) if error.params else gettext(error.message)
    number = int(parts[1]) + 1 if len(parts) > 1 and parts[1].isdigit() else ""
    return FieldError("rules", N_("Rule %(number)s, %(field)s: %(problem)s"),
                      {"number": number, "field": ".".join(parts[2:]) or "–", "problem": problem})


# --- The patient's login code ---------------------------------------------------------------


@router.post("/patients/{patient_id}/access-codes")
def new_code(request: Request, db: DbSession,
             ctx: Annotated[PatientContext, Depends(PatientAccess(Action.PATIENT_CODE))]):
    """Make a login code for the patient's own page; it is shown this once."""
    code, row = portal.issue_code(db, ctx.subject, ctx.patient_id)
    return render(request, "monitoring/code.html", {
        "patient": get_patient(db, ctx.patient_id), "code": format_code(code), "row": row})


@router.post("/patients/{patient_id}/access-codes/{code_id}/revoke")
def revoke_code(db: DbSession, code_id: DbId,
                ctx: Annotated[PatientContext, Depends(PatientAccess(Action.PATIENT_CODE))]):
    """Revoke a login code (a lost phone): its sessions end at once."""
    portal.revoke_code(db, ctx.subject, ctx.patient_id, code_id)
    return RedirectResponse(f"/patients/{ctx.patient_id}?done=saved", 303)


# --- Alerts ---------------------------------------------------------------------------------

Handler = Annotated[PatientContext, Depends(PatientAccess(Action.ALERT))]


def _with_back(schema):
    """Alert forms also say which page to go back to; the action's schema does not."""
    class Form(schema):
        back: str | None = None

    Form.__name__ = schema.__name__
    return Form


AcknowledgeForm, SnoozeForm, ResolveForm = (_with_back(s) for s in (Acknowledge, Snooze, Resolve))


@router.get("/alerts")
def inbox(request: Request, db: DbSession,
          principal: Annotated[Principal, Depends(StaffAccess(Action.READ))]):
    """The live alert inbox of the user's unit."""
    items = views.inbox(db, principal.subject)
    return render(request, "monitoring/inbox.html", {
        "items": items, "last_event": views.latest_event_id(db, principal.subject)})


# Alert events are numbered by a 64-bit database sequence: a larger number names no event, and
# the database would refuse to compare with it (after the stream had already answered 200).
EventId = Annotated[int, Field(ge=0, le=DB_BIGINT_MAX)]


def inbox_actor(db: DbSession,
                principal: Annotated[Principal, Depends(StaffAccess(Action.READ))]
                ) -> tuple[Principal, audit.Actor]:
    """Who has the inbox open, read from the request's own trail (a dependency): what the
    stream shows is logged under them."""
    return principal, audit.trail(db).actor


@router.get("/alerts/stream")
async def stream(request: Request,
                 opening: Annotated[tuple[Principal, audit.Actor], Depends(inbox_actor)],
                 after: Annotated[EventId, Query()] = 0, once: bool = False,
                 last_event_id: Annotated[EventId | None, Header(alias="Last-Event-ID")] = None):
    """Server-sent events: every inbox event after the last one the page saw (the
    Last-Event-ID header, else `after`). `once=true` answers what is there and closes, for
    clients that poll instead of holding a connection. What it shows is logged (under the
    person, with the other open inboxes' entries: audit.LiveLog) before it is sent. After
    the first answer, the process's one look at new events (`feed.alert_feed`) says when
    one concerns this inbox; only then does it read them."""
    database = request.app.state.db
    principal, actor = opening
    subject = principal.subject
    last = last_event_id if last_event_id is not None else after

    def fetch(since: int, ids: list[int] | None = None):
        began = time.monotonic()
        with database.session() as s:
            audit.trail(s).actor = actor
            found, last_seen = views.events_after(s, subject, since, ids=ids)
            return found, last_seen, audit.take(s), began

    async def send(since: int, ids: list[int] | None = None):
        asked = time.monotonic()
        found, last_seen, shown, began = await run_in_threadpool(fetch, since, ids)
        read = time.monotonic()
        await audit.live_log.write(database, shown)
        if time.monotonic() - asked >= STREAM_WAIT_WARNING:
            log.warning("an inbox stream was silent %.1f s: %.1f s waiting for a thread, "
                        "%.1f s reading, %.1f s logging what it shows",
                        time.monotonic() - asked, began - asked, read - began,
                        time.monotonic() - read)
        return found, last_seen

    def sse(event: dict) -> str:
        return f"id: {event['event_id']}\nevent: alert\ndata: {json.dumps(event)}\n\n"

    async def events():
        nonlocal last
        yield "retry: 2000\n\n"
        if once:
            found, _ = await send(last)
            for event in found:
                yield sse(event)
            return
        try:
            # Counted in from here (a stream closed while it waits is counted out below).
            asked = time.monotonic()
            generation = await alert_feed.join(database)
            if time.monotonic() - asked >= STREAM_WAIT_WARNING:
                log.warning("an inbox stream was silent %.1f s waiting for the alert feed's "
                            "first look", time.monotonic() - asked)
            sent: set[int] = set()  # the first answer's: the feed may bring them again
            while True:  # from the last event the page saw, up to now
                found, last_seen = await send(last)
                for event in found:
                    sent.add(event["event_id"])
                    yield sse(event)
                if last_seen == last:
                    break
                last = last_seen
            silence = Silence(KEEP_ALIVE_SECONDS)
            while True:
                if broadcaster.closing or await request.is_disconnected():
                    return
                arrived, generation = alert_feed.since(database, generation)
                if arrived is None:  # more arrived than the feed remembers: read from `last`
                    found, last = await send(last)
                    for event in found:
                        silence.spoke()
                        yield sse(event)
                    continue
                mine = sorted({a.event_id for a in arrived
                               if a.concerns(subject.unit_id, subject.staff_id)} - sent)
                for start in range(0, len(mine), views.EVENTS_AT_ONCE):
                    found, last = await send(last, mine[start:start + views.EVENTS_AT_ONCE])
                    for event in found:
                        silence.spoke()
                        yield sse(event)
                # A keep-alive after two quiet seconds, however often others' events woke
                # the stream meanwhile (a busy morning's inboxes of units with no alerts of
                # their own heard nothing for minutes, and their clients hung up).
                if silence.due():
                    yield ": keep-alive\n\n"
                await alert_feed.wait(database, generation, silence.left())
        finally:
            alert_feed.leave(database)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"X-Accel-Buffering": "no"})


def _alert_form(request, db, ctx, alert_id, form, schema, act, done: str):
    """An alert action taken on a page (the inbox, the patient's page): its form parsed, the
    named action run, and back to the page it was taken on. An alert the user may not
    handle is not found before its form is read (a form error would tell that it exists)."""
    alerts.find_alert(db, ctx.subject, ctx.patient_id, alert_id)
    _, err = attempt(db, lambda: act(parse(schema, form)))
    back = form.get("back", "")
    back = back if back.startswith("/") and not back.startswith("//") else "/alerts"
    if err:
        return render(request, "monitoring/inbox.html", {
            "items": views.inbox(db, ctx.subject), "errors": error_messages(err),
            "last_event": views.latest_event_id(db, ctx.subject)},
            status_code=err.status_code)
    return RedirectResponse(f"{back}?done={done}", 303)


@router.post("/patients/{patient_id}/alerts/{alert_id}/acknowledge")
def acknowledge(request: Request, db: DbSession, alert_id: uuid.UUID, form: FormData,
                ctx: Handler):
    """Acknowledge an alert: it stops escalating."""
    return _alert_form(request, db, ctx, alert_id, form, AcknowledgeForm, lambda data: (
        alerts.acknowledge_alert(db, ctx.subject, ctx.patient_id, alert_id, data)),
        "alert_acknowledged")


@router.post("/patients/{patient_id}/alerts/{alert_id}/snooze")
def snooze(request: Request, db: DbSession, alert_id: uuid.UUID, form: FormData, ctx: Handler):
    """Snooze an alert, with a reason, until a given time."""
    return _alert_form(request, db, ctx, alert_id, form, SnoozeForm, lambda data: (
        alerts.snooze_alert(db, ctx.subject, ctx.patient_id, alert_id, data)),
        "alert_snoozed")


@router.post("/patients/{patient_id}/alerts/{alert_id}/resolve")
def resolve(request: Request, db: DbSession, alert_id: uuid.UUID, form: FormData, ctx: Handler):
    """Resolve an alert with a note."""
    return _alert_form(request, db, ctx, alert_id, form, ResolveForm, lambda data: (
        alerts.resolve_alert(db, ctx.subject, ctx.patient_id, alert_id, data)),
        "alert_resolved")
