"""HTML pages of visit planning: care requests on the patient, the unit's incoming requests,
staff shifts, the unit's day plan (timeline, route map, urgent visit, lock and move), and each
staff member's own route on the phone (start, done with values, not done with a reason)."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy import select

from hemma.access.policy import Action
from hemma.access.service import decisions_for, log_listed
from hemma.access.sharing import organisations_without_consent
from hemma.config import get_settings
from hemma.i18n import current_language, gettext
from hemma.kit.errors import Conflict, Invalid
from hemma.kit.time import local, local_today, utcnow
from hemma.kit.validation import Day, DbId, Schema, parse
from hemma.models import CareRequest, Patient, Staff, Unit
from hemma.monitoring.schemas import VALUE_FIELDS, ObservationValues
from hemma.patients.service import get_patient
from hemma.planning import charts, service, views
from hemma.planning import day as planner
from hemma.planning.schemas import (
    CareRequestCreate,
    CareRequestDecision,
    ShiftCreate,
    UrgentVisitCreate,
    VisitMove,
    VisitReport,
)
from hemma.web.deps import (
    DbSession,
    OwnWork,
    PatientAccess,
    PatientContext,
    Principal,
    Public,
    StaffAccess,
)
from hemma.web.forms import attempt, error_messages, form_data
from hemma.web.templating import TEMPLATE_DIR, render

router = APIRouter()
FormData = Annotated[dict, Depends(form_data)]
Reader = Annotated[Principal, Depends(StaffAccess(Action.READ))]
Planner = Annotated[Principal, Depends(StaffAccess(Action.VISIT_PLAN))]
Visitor = Annotated[Principal, Depends(StaffAccess(Action.VISIT))]
Requests = Annotated[Principal, Depends(StaffAccess(Action.CARE_REQUEST))]
PatientReader = Annotated[PatientContext, Depends(PatientAccess(Action.READ))]
PatientRequester = Annotated[PatientContext, Depends(PatientAccess(Action.CARE_REQUEST))]
PatientVisitor = Annotated[PatientContext, Depends(PatientAccess(Action.VISIT))]

def _staffing(form: dict) -> dict:
    """A visit's form as its schema takes it: skills and times of day typed as lists (comma-
    or space-separated), and how two staff go together only when there are two."""
    out = dict(form)
    for name in ("skills", "times"):
        if isinstance(out.get(name), str):
            out[name] = [p for p in out[name].replace(",", " ").split() if p]
    if out.get("staff_count") in (None, "1"):
        out.pop("sync", None)
    return out


def _budget(request: Request, *, replan: bool) -> planner.Budget:
    return planner.Budget.of(get_settings(), replan=replan)


def _osrm(request: Request) -> str | None:
    return get_settings().osrm_url


# --- Care requests -------------------------------------------------------------------------


def _units(db, exclude: int) -> list[tuple[int, str]]:
    return [(u.id, u.name) for u in db.scalars(select(Unit).where(Unit.active, Unit.id != exclude)
                                               .order_by(Unit.name))]


def _requests_page(request, db, ctx: PatientContext, values=None, errors=None,
                   status_code=200, shortfalls=None, accepted=None):
    subject = ctx.subject
    today = local_today()
    visits = service.visits_for(db, ctx.patient_id, today, today + timedelta(days=1))
    return render(request, "planning/requests.html", {
        "visits": visits, "planned": views.planned_staff(db, visits),
        "patient": get_patient(db, ctx.patient_id),
        "requests": service.requests_for(db, ctx.patient_id),
        "unit_names": dict(db.execute(select(Unit.id, Unit.name)).all()),
        "units": _units(db, subject.unit_id),
        "may_request": subject.role_allows(Action.CARE_REQUEST),
        "sharing_missing": organisations_without_consent(db, ctx.patient_id),
        "own_unit": subject.unit_id,
        # Nothing chosen for the nurse: what, when and for how long are hers to say (a
        # form pre-filled for IV antibiotics sent 21 of them when a sample was meant).
        "values": values or {"first_date": today.isoformat(), "last_date": today.isoformat(),
                             "tolerance_minutes": 30, "duration_minutes": 30,
                             "staff_count": 1, "hard": "true", "priority": 2},
        "errors": errors or {}, "shortfalls": shortfalls or [], "accepted": accepted},
        status_code=status_code)


@router.get("/patients/{patient_id}/care-requests")
def requests_page(request: Request, db: DbSession, ctx: PatientReader):
    """The patient's care requests (vårdbegäran) and today's visits; a form for a new one."""
    return _requests_page(request, db, ctx)


@router.post("/patients/{patient_id}/care-requests")
def request_care(request: Request, db: DbSession, form: FormData, ctx: PatientRequester):
    """Send a care request to another unit."""
    data = _staffing(form)
    data["hard"] = data.get("hard") in ("true", "on")
    _result, err = attempt(db, lambda: service.request_care(
        db, ctx.subject, ctx.patient_id, parse(CareRequestCreate, data)))
    if err:
        return _requests_page(request, db, ctx, values=form, errors=error_messages(err),
                              status_code=err.status_code)
    return RedirectResponse(f"/patients/{ctx.patient_id}/care-requests?done=request_sent", 303)


@router.post("/patients/{patient_id}/care-requests/{request_id}/decision")
def decide_request(request: Request, db: DbSession, request_id: uuid.UUID, form: FormData,
                   ctx: PatientRequester, work: OwnWork):
    """The receiving unit accepts the request (its visits are created) or declines it; an
    acceptance the unit has no capacity for says so at once."""
    data = {k: v for k, v in form.items() if k in ("accept", "reason")}
    if "accept" in data:
        data["accept"] = data["accept"] == "true"
    inbox = form.get("back") == "inbox"
    try:
        decision = parse(CareRequestDecision, data)
        with work() as s:
            answered = service.decide(s, ctx.subject, ctx.patient_id, request_id, decision)
        shortfalls = (service.capacity(work, ctx.subject, answered.id,
                                       budget=_budget(request, replan=True),
                                       osrm_url=_osrm(request))
                      if decision.accept else [])
    except (Invalid, Conflict) as err:
        if inbox:
            return _incoming_page(request, db, ctx.principal, status="requested",
                                  errors=error_messages(err), status_code=err.status_code)
        return _requests_page(request, db, ctx, errors=error_messages(err),
                              status_code=err.status_code)
    if shortfalls:
        # Accepted, but the visits will not happen as things stand: say so, loudly, here.
        if inbox:
            return _incoming_page(request, db, ctx.principal, shortfalls=shortfalls,
                                  accepted=answered)
        return _requests_page(request, db, ctx, shortfalls=shortfalls, accepted=answered)
    done = "request_accepted" if decision.accept else "request_declined"
    target = "/care-requests" if inbox else f"/patients/{ctx.patient_id}/care-requests"
    return RedirectResponse(f"{target}?done={done}", 303)


INCOMING_STATUSES = ("requested", "accepted", "declined", "cancelled")


def _incoming_page(request, db, principal: Principal, *, status: str | None = None,
                   errors=None, shortfalls=None, accepted=None, status_code=200):
    subject = principal.subject
    q = (select(CareRequest, Patient).join(Patient, Patient.id == CareRequest.patient_id)
         .where(CareRequest.to_unit_id == subject.unit_id))
    if status:
        q = q.where(CareRequest.status == status)
    rows = db.execute(q.order_by(CareRequest.status != "requested",
                                 CareRequest.created_at.desc()).limit(100)).all()
    decisions = decisions_for(db, subject, {p.id for _r, p in rows})
    log_listed(db, decisions, "carerequest.manage")
    return render(request, "planning/incoming.html", {
        "rows": [(r, p) for r, p in rows if decisions[p.id]],
        "pending": service.pending_care_requests(db, subject),
        "status": status or "", "statuses": INCOMING_STATUSES,
        "errors": errors or {}, "shortfalls": shortfalls or [], "accepted": accepted,
        "unit_names": dict(db.execute(select(Unit.id, Unit.name)).all())},
        status_code=status_code)


@router.get("/care-requests")
def incoming(request: Request, db: DbSession, principal: Requests,
             status: Literal["requested", "accepted", "declined", "cancelled", ""] | None = None):
    """Care requests to the user's unit, filtered by status, with how many await an answer.
    Opened from the menu, it shows those awaiting an answer when there are any (the rest is
    one choice away: "All")."""
    if status is None:
        status = "requested" if service.pending_care_requests(db, principal.subject) else ""
    return _incoming_page(request, db, principal, status=status or None)


# --- The unit's day plan -------------------------------------------------------------------


def _day(day: date | None) -> date:
    return day or local_today()


TIMELINE_PX = 0.74 * 1100  # the visits' part of the timeline on a laptop, in pixels
NAME_PX = 6.0  # a character of a 10 px label, about


def _timeline(view: views.DayPlan) -> dict:
    """Where each visit and break sits on a timeline of the day (as % of its width)."""
    shifts = [r.shift for r in view.routes]
    if not shifts:
        return {"hours": [], "rows": []}
    first = min(local(s.starts_at).hour for s in shifts)
    last = max(local(s.ends_at).hour + (1 if local(s.ends_at).minute else 0) for s in shifts)
    t0 = local(shifts[0].starts_at).replace(hour=first, minute=0)
    span = (last - first) * 60

    def pct(at: datetime) -> float:
        return max(0.0, min(100.0, (at - t0) / timedelta(minutes=1) / span * 100))

    rows = []
    for route in view.routes:
        blocks = []
        for stop in route.stops:
            a = stop.assignment
            width = max(0.6, pct(a.planned_end) - pct(a.planned_start))
            name = stop.patient.family_name
            blocks.append({"left": pct(a.planned_start), "width": width, "stop": stop,
                           "name": name,
                           # The name along the tile when it fits (on a screen ~1366 px
                           # wide), else up it: a 15-minute visit is a narrow tile.
                           "across": width * TIMELINE_PX / 100 >= NAME_PX * len(name) + 6})
        breaks = [{"left": pct(b["start"]), "width": pct(b["start"] + timedelta(minutes=b["minutes"]))
                   - pct(b["start"]), "start": b["start"], "minutes": b["minutes"]}
                  for b in route.breaks]
        rows.append({"route": route, "blocks": blocks, "breaks": breaks,
                     "shift": (pct(route.shift.starts_at), pct(route.shift.ends_at)
                               - pct(route.shift.starts_at))})
    hours = [{"label": f"{h:02d}", "left": (h - first) / (last - first) * 100}
             for h in range(first, last + 1)]
    return {"hours": hours, "rows": rows}


def _plan_page(request, db, principal: Principal, day: date, values=None, errors=None,
               status_code=200, patient_id: uuid.UUID | None = None):
    subject = principal.subject
    view = views.day_plan(db, subject.unit_id, day, subject=subject)
    may_plan = subject.role_allows(Action.VISIT_PLAN)
    patients, news2, window = [], {}, None
    now = utcnow()
    if may_plan and day == local_today():  # the urgent-visit form is today's
        shown = service.urgent_patients(db, subject)
        news2 = service.latest_news2(db, subject, [p.id for p in shown], now)
        patients = [(p.id, f"{p.family_name}, {p.given_name} ({p.city or '–'})"
                     + (f" · NEWS2 {news2[p.id].news2_total}"
                        if p.id in news2 and news2[p.id].news2_total >= service.NEWS2_HIGH
                        else "")) for p in shown]
        if patient_id is not None and patient_id in {p.id for p in shown}:
            window = service.default_window(db, subject, patient_id, now)
    if values is None:
        values = {"kind": "assessment", "duration_minutes": 30, "staff_count": 1}
        if window is not None:
            values |= {"patient_id": str(patient_id),
                       "earliest": local(window.earliest).strftime("%H:%M"),
                       "latest": local(window.latest).strftime("%H:%M")}
    return render(request, "planning/day.html", {
        "view": view, "day": day, "timeline": _timeline(view), "may_plan": may_plan,
        "route_colour": charts.colour, "kind_colour": charts.kind_colour,
        "unit": db.get(Unit, subject.unit_id), "patients": patients, "window": window,
        "news2_high": service.NEWS2_HIGH,
        "prev_day": day - timedelta(days=1), "next_day": day + timedelta(days=1),
        "shifts": [(r.shift.id, r.staff.full_name) for r in view.routes],
        "values": values, "errors": errors or {}}, status_code=status_code)


@router.get("/planning")
def plan_page(request: Request, db: DbSession, principal: Reader, day: Day | None = None,
              patient_id: uuid.UUID | None = None):
    """The unit's day: a timeline per staff member, the routes on a map, what is left out,
    what the last re-plan moved; for planners, re-plan, urgent visit (for `patient_id`, with
    the window its NEWS2 calls for), lock and move."""
    return _plan_page(request, db, principal, _day(day), patient_id=patient_id)


@router.get("/planning/routes.svg")
def routes_svg(db: DbSession, principal: Reader, day: Day | None = None):
    """The day's routes drawn from coordinates (SVG, no map tiles)."""
    view = views.day_plan(db, principal.subject.unit_id, _day(day), subject=principal.subject)
    unit = db.get(Unit, principal.subject.unit_id)
    title = gettext("Within %(km)s km of the office", km=int(charts.TOWN_KM))
    return Response(charts.routes_svg(view, unit, title), media_type="image/svg+xml",
                    headers={"Cache-Control": "private, no-store"})


@router.post("/planning/solve")
def solve_day(request: Request, db: DbSession, form: FormData, principal: Planner,
              work: OwnWork):
    """Plan (or re-plan) the whole day; started and passed visits stay as they are."""
    try:
        day = _form_day(form)
        plan = service.plan_day(work, principal.subject, day,
                                budget=_budget(request, replan=False), osrm_url=_osrm(request))
    except (Invalid, Conflict) as err:
        return _plan_page(request, db, principal, _shown_day(form), errors=error_messages(err),
                          status_code=err.status_code)
    return _planned(plan, "planned")


def _planned(plan, done: str, anchor: str = "") -> RedirectResponse:
    """Back to the day. A plan that leaves a visit out is not "done": no green message, the
    page opens on the visits nobody goes to, with what to do about them."""
    if plan.unplanned:
        return RedirectResponse(f"/planning?day={plan.day.isoformat()}#unplanned", 303)
    return RedirectResponse(f"/planning?day={plan.day.isoformat()}&done={done}{anchor}", 303)


def _form_day(form: dict) -> date:
    """The form's day, or Invalid naming the field."""
    return parse(_DayForm, {"day": form.get("day")}).day


def _shown_day(form: dict) -> date:
    """The day a form was about, to show its page again (today if it cannot be read)."""
    try:
        return _form_day(form)
    except Invalid:
        return local_today()


class _DayForm(Schema):
    day: Day


@router.post("/planning/urgent")
def urgent_visit(request: Request, db: DbSession, form: FormData, principal: Planner,
                 work: OwnWork):
    """Add an urgent visit today and re-plan around it at once."""
    day = local_today()
    try:
        _visit, plan = service.add_urgent_visit(
            work, principal.subject, parse(UrgentVisitCreate, _staffing(form)), day, utcnow(),
            budget=_budget(request, replan=True), osrm_url=_osrm(request))
    except (Invalid, Conflict) as err:
        return _plan_page(request, db, principal, day, values=form, errors=error_messages(err),
                          status_code=err.status_code)
    return _planned(plan, "urgent", "#changes")


@router.post("/planning/visits/{visit_id}/move")
def move_visit(request: Request, db: DbSession, visit_id: uuid.UUID, form: FormData,
               principal: Planner, work: OwnWork):
    """Give a visit to another staff member by hand (it is locked to them) and re-plan."""
    try:
        data = parse(VisitMove, form)
        plan = service.move_visit(work, principal.subject, visit_id, data.part, data.shift_id,
                                  budget=_budget(request, replan=True), osrm_url=_osrm(request))
    except (Invalid, Conflict) as err:
        return _visit_error(request, db, principal, visit_id, err)
    return _planned(plan, "moved", "#changes")


def _visit_error(request, db, principal: Principal, visit_id: uuid.UUID, err):
    """The day's page again, with the error beside the visit it is about."""
    visit = service.visit_of_unit(db, principal.subject.unit_id, visit_id)
    return _plan_page(request, db, principal, visit.day,
                      errors={f"move-{visit_id}": error_messages(err).popitem()[1]},
                      status_code=err.status_code)


@router.post("/planning/visits/{visit_id}/lock")
def lock_visit(request: Request, db: DbSession, visit_id: uuid.UUID, form: FormData,
               principal: Planner):
    """Lock a visit to the staff member it is planned with (or unlock it)."""
    locked = form.get("locked") == "true"
    plan, err = attempt(db, lambda: service.set_locked(db, principal.subject, visit_id, locked))
    if err:
        return _visit_error(request, db, principal, visit_id, err)
    return RedirectResponse(f"/planning?day={plan.day.isoformat()}&done=locked", 303)


# --- Staff shifts ---------------------------------------------------------------------------


def _shifts_page(request, db, principal: Principal, day: date, values=None, errors=None,
                 status_code=200):
    subject = principal.subject
    staff = list(db.scalars(select(Staff).where(Staff.unit_id == subject.unit_id, Staff.active,
                                                Staff.profession.notin_(["administrative",
                                                                         "system"]))
                            .order_by(Staff.family_name)))
    return render(request, "planning/shifts.html", {
        "day": day, "shifts": service.shifts_of(db, subject.unit_id, day),
        "staff": [(s.id, f"{s.full_name} ({', '.join(s.skills or []) or '–'})") for s in staff],
        "may_plan": subject.role_allows(Action.VISIT_PLAN),
        "prev_day": day - timedelta(days=1), "next_day": day + timedelta(days=1),
        "values": values or {"day": day.isoformat(), "start": "07:00", "end": "16:00",
                             "break_earliest": "11:00", "break_latest": "13:00",
                             "break_minutes": 30, "start_place": "office", "profile": "car"},
        "errors": errors or {}}, status_code=status_code)


@router.get("/planning/shifts")
def shifts_page(request: Request, db: DbSession, principal: Reader, day: Day | None = None):
    """Who works the day, from where, with which break and skills."""
    return _shifts_page(request, db, principal, _day(day))


@router.post("/planning/shifts")
def add_shift(request: Request, db: DbSession, form: FormData, principal: Planner):
    """Add a shift for a staff member of the unit."""
    shift, err = attempt(db, lambda: service.add_shift(db, principal.subject,
                                                       parse(ShiftCreate, form),
                                                       geocoder=request.app.state.geocoder))
    if err:
        return _shifts_page(request, db, principal, _shown_day(form), values=form,
                            errors=error_messages(err), status_code=err.status_code)
    return RedirectResponse(f"/planning/shifts?day={shift.day.isoformat()}&done=shift", 303)


@router.post("/planning/shifts/{shift_id}/remove")
def remove_shift(request: Request, db: DbSession, shift_id: DbId, principal: Planner):
    """Remove a shift (sick leave); its visits go to others at the next re-plan."""
    shift, err = attempt(db, lambda: service.remove_shift(db, principal.subject, shift_id))
    if err:
        return _shifts_page(request, db, principal, local_today(),
                            errors={"_form": error_messages(err).popitem()[1]},
                            status_code=err.status_code)
    return RedirectResponse(f"/planning/shifts?day={shift.day.isoformat()}&done=shift_removed",
                            303)


# --- The staff member's own route -----------------------------------------------------------


def _route_page(request, db, principal: Principal, day: date, errors=None, values=None,
                status_code=200):
    view, routes = views.my_route(db, principal.subject, day)
    return render(request, "planning/my_route.html", {
        "day": day, "routes": routes, "plan": view.plan if view else None,
        "prev_day": day - timedelta(days=1), "next_day": day + timedelta(days=1),
        "today": local_today(), "errors": errors or {}, "values": values or {}},
        status_code=status_code)


@router.get("/my-route")
def my_route(request: Request, db: DbSession, principal: Visitor, day: Day | None = None):
    """The signed-in staff member's visits of the day, in order, on the phone. Today's page,
    shown to a signed-in browser, says whose and which day it is: the route page's service
    worker keeps that page, and only that one, on the phone for the day."""
    day = _day(day)
    response = _route_page(request, db, principal, day)
    if day == local_today() and principal.csrf_token is not None:
        response.headers[OFFLINE_HEADER] = f"{principal.subject.staff_id}/{day.isoformat()}"
    return response


# --- The route page without coverage: an installable web app with a service worker ---------

OFFLINE_HEADER = "X-Hemma-Offline"
_SERVICE_WORKER = (TEMPLATE_DIR.parent / "static" / "route-sw.js").read_bytes()


@router.get("/my-route/sw.js", dependencies=[Depends(Public())], include_in_schema=False)
def route_service_worker():
    """The route page's service worker (it holds no data; it keeps today's route page of
    whoever is signed in). Served from here so that its scope may be the route page."""
    return Response(_SERVICE_WORKER, media_type="text/javascript",
                    headers={"Service-Worker-Allowed": "/my-route"})


@router.get("/my-route/manifest.webmanifest", dependencies=[Depends(Public())],
            include_in_schema=False)
def route_manifest():
    """The route page as an app on the phone's home screen (no data, only its name)."""
    return JSONResponse({
        "id": "/my-route",
        "name": gettext("Hemma – My route"),
        "short_name": gettext("My route"),
        "lang": current_language.get(),
        "start_url": "/my-route",
        "scope": "/my-route",
        "display": "standalone",
        "background_color": "#ffffff",
        "theme_color": "#0b5f7a",
        "icons": [{"src": "/static/route-icon.svg", "sizes": "any", "type": "image/svg+xml",
                   "purpose": "any"}],
    }, media_type="application/manifest+json")


@router.get("/my-route/offline", dependencies=[Depends(Public())], include_in_schema=False)
def route_offline(request: Request):
    """What the service worker shows without coverage when no route of today is kept on the
    phone (none was opened today, another day has begun, or someone logged out)."""
    return render(request, "planning/offline.html")


@router.get("/my-route/version")
def my_route_version(db: DbSession, principal: Visitor, day: Day | None = None):
    """Which plan the route page shows: the page asks now and then, and offers the new
    route when the plan changed."""
    return {"plan_id": views.route_version(db, principal.subject.staff_id, _day(day))}


@router.post("/patients/{patient_id}/visits/{visit_id}/report")
def report_visit(request: Request, db: DbSession, visit_id: uuid.UUID, form: FormData,
                 ctx: PatientVisitor):
    """Started, done (with the values measured at the visit), or not done with a reason."""
    now = utcnow()
    values = {k: form[k] for k in VALUE_FIELDS if form.get(k)}
    if "on_oxygen" in values:
        values["on_oxygen"] = values["on_oxygen"] in ("true", "on")
    report = {k: form[k] for k in ("status", "reason_code", "reason", "note") if k in form}
    if form.get("client_id"):
        report["client_id"] = form["client_id"]

    def act():
        body = dict(report)
        if values and report.get("status") == "done":
            # Parsed on their own, so that an error names the field as the form does.
            body["values"] = parse(ObservationValues, values)
        return service.report_visit(db, ctx.subject, ctx.patient_id, visit_id,
                                    parse(VisitReport, body), now)

    visit, err = attempt(db, act)
    if err:
        messages = error_messages(err)
        return _route_page(request, db, ctx.principal, local_today(),
                           errors={str(visit_id): messages}, values={str(visit_id): form},
                           status_code=err.status_code)
    return RedirectResponse(f"/my-route?day={visit.day.isoformat()}&done=visit_{visit.status}"
                            f"#visit-{visit_id}", 303)
