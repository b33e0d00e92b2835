"""HTML pages: the round worklist and the decision form."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import select

from hemma.access.policy import Action
from hemma.access.sharing import organisations_without_consent, team
from hemma.config import get_settings
from hemma.i18n import gettext
from hemma.kit.errors import Conflict, Invalid
from hemma.kit.time import local_today, utcnow
from hemma.kit.validation import parse
from hemma.models import Staff, StaffShift, Unit
from hemma.monitoring import service as monitoring
from hemma.monitoring import views
from hemma.patients.service import get_patient
from hemma.planning import service as planning
from hemma.planning.day import Budget
from hemma.rounds import service
from hemma.tasks.service import team_units
from hemma.web.deps import DbSession, OwnWork, PatientAccess, PatientContext, Principal, StaffAccess
from hemma.web.forms import error_messages, form_data, local_times
from hemma.web.templating import render

router = APIRouter()
FormData = Annotated[dict, Depends(form_data)]
Decider = Annotated[PatientContext, Depends(PatientAccess(Action.ROUND))]


@router.get("/rounds")
def worklist(request: Request, db: DbSession,
             principal: Annotated[Principal, Depends(StaffAccess(Action.READ))]):
    """The remote round's worklist: the unit's admitted patients, sickest first."""
    return render(request, "rounds/worklist.html", {
        "rows": service.worklist(db, principal.subject),
        "may_decide": principal.subject.role_allows(Action.ROUND)})


BOOKING_FIELDS = {"visit_unit_id": "unit_id", "visit_when": "when", "visit_date": "date",
                  "visit_kind": "kind", "visit_minutes": "duration_minutes",
                  # Another organisation asked to visit: the patient's consent to sharing.
                  "sharing": "sharing", "sharing_method": "sharing_method",
                  "sharing_reason": "sharing_reason"}
# Errors about the booking name its form fields.
BOOKING_NAMES = {f"visit.{v}": k for k, v in BOOKING_FIELDS.items()}


def _units(db, ctx) -> tuple[list[tuple[int, str]], int]:
    """The units a visit can be booked with, and the one offered first: a unit of the
    patient's care team that makes home visits (it has shifts these weeks), else the
    physician's own unit, then other units that make home visits, then the rest. Each option
    says which it is: a clinic without home-visit shifts has nobody in its day plan to send."""
    today = local_today()
    visiting = set(db.scalars(select(StaffShift.unit_id).where(
        StaffShift.day.between(today - timedelta(days=14), today + timedelta(days=14)))
        .distinct()))
    subject = ctx.subject
    members, _hidden = team(db, ctx.decision, ctx.patient_id)
    in_team = {m.relation.unit_id for m in members if m.relation.unit_id} | {
        s for s in db.scalars(select(Staff.unit_id).where(
            Staff.id.in_([m.relation.staff_id for m in members if m.relation.staff_id])))}
    units = list(db.scalars(select(Unit).where(Unit.active).order_by(Unit.name)))

    def rank(u: Unit) -> tuple:
        if u.id in visiting and u.id in in_team:
            return (0, u.name)
        if u.id == subject.unit_id:
            return (1, u.name)
        return (2 if u.id in visiting else 3, u.name)

    options = []
    for u in sorted(units, key=rank):
        notes = []
        if u.id == subject.unit_id:
            notes.append(gettext("your unit"))
        if u.id in in_team:
            notes.append(gettext("in the care team"))
        if u.id not in visiting:
            notes.append(gettext("no home-visit shifts"))
        options.append((u.id, f"{u.name} ({', '.join(notes)})" if notes else u.name))
    return options, (options[0][0] if options else subject.unit_id)


def _round_page(request, db, ctx, values=None, errors=None, status_code=200):
    now = utcnow()
    units, default_unit = _units(db, ctx)
    episode = monitoring.active_episode(db, ctx.patient_id)
    observations = views.visible_observations(db, ctx.decision, ctx.patient_id,
                                              now - timedelta(hours=72))
    notes = service.round_notes(db, ctx.decision, ctx.patient_id)
    return render(request, "rounds/decide.html", {
        "patient": get_patient(db, ctx.patient_id), "episode": episode,
        "latest": observations[-1] if observations else None,
        "observations": list(reversed(observations))[:12],
        "alerts": views.patient_alerts(db, ctx.decision, ctx.patient_id, unresolved_only=True),
        "notes": notes, "bookings": service.bookings(db, [n for n, _who in notes]),
        "units": units, "today": local_today(), "task_rows": range(TASK_ROWS),
        "team_units": [(u.id, u.name) for u in team_units(db, ctx.patient_id)],
        "sharing_missing": organisations_without_consent(db, ctx.patient_id),
        "values": values or {"decision": "continue", "visit_when": "today",
                             "visit_kind": "assessment", "visit_minutes": 30,
                             "visit_unit_id": default_unit},
        "errors": {BOOKING_NAMES.get(k, k): v for k, v in (errors or {}).items()}},
        status_code=status_code)


@router.get("/patients/{patient_id}/round")
def decide_form(request: Request, db: DbSession, ctx: Decider):
    """Form: the physician's round decision, beside trends, alerts and earlier notes."""
    return _round_page(request, db, ctx)


def round_decision(form: dict) -> dict:
    """The decision as its schema takes it: the booking's fields only with "book a visit"."""
    data = {k: v for k, v in form.items()
            if k not in BOOKING_FIELDS and not k.startswith("tasks.")}
    data["tasks"] = round_tasks(form)
    if "ambulance_informed" in data:
        data["ambulance_informed"] = data["ambulance_informed"] in ("true", "on")
    # A reason chosen and then another decision taken: the choice no longer applies.
    for key, decision in (("return_reason", "return"), ("discharge_outcome", "discharge")):
        if data.get("decision") != decision:
            data.pop(key, None)
    if data.get("decision") == "visit":
        data["visit"] = {v: form[k] for k, v in BOOKING_FIELDS.items() if form.get(k)}
        if data["visit"].get("when") != "date":
            data["visit"].pop("date", None)
    return data


TASK_ROWS = 3


def round_tasks(form: dict) -> list[dict]:
    """The decision's task rows that have a title (a row left blank asks nothing)."""
    out = []
    for i in range(TASK_ROWS):
        row = {k: form[f"tasks.{i}.{k}"] for k in ("title", "unit_id", "due_at", "priority",
                                                    "description")
               if form.get(f"tasks.{i}.{k}")}
        if row.get("title"):
            out.append(local_times(row, "due_at"))
    return out


@router.post("/patients/{patient_id}/round")
def decide(request: Request, db: DbSession, form: FormData, ctx: Decider, work: OwnWork):
    """Record the round decision; return and discharge end the episode; "book a visit" books
    it (a care request to the unit that makes it, or a visit of the physician's own unit,
    planned at once when it is today)."""
    try:
        data = parse(service.RoundDecision, round_decision(form))
        with work() as s:
            note = service.decide(s, ctx.subject, ctx.patient_id, data)
    except (Invalid, Conflict) as err:
        return _round_page(request, db, ctx, values=form, errors=error_messages(err),
                           status_code=err.status_code)
    if note.decision == "adjust":
        return RedirectResponse(f"/patients/{ctx.patient_id}/plan", 303)
    if note.decision == "visit":
        if note.visit_id is not None and data.visit.when == "today":
            plan = _plan_today(request, work, ctx.subject)
            if plan is None or any(u["visit_id"] == str(note.visit_id) for u in plan.unplanned):
                # Booked, but nobody goes yet: to the day plan, where the planner can act.
                return RedirectResponse(f"/planning?day={local_today().isoformat()}#unplanned",
                                        303)
        return RedirectResponse(f"/patients/{ctx.patient_id}/round?done=round_booked#notes",
                                303)
    return RedirectResponse("/rounds?done=round", 303)


def _plan_today(request, work, subject):
    """Plan today's day of the physician's unit around the urgent visit just booked (outside
    the decision's transaction: the search takes its time). None if the day kept changing."""
    try:
        return planning.plan_day(work, subject, local_today(),
                                 budget=Budget.of(get_settings(), replan=True),
                                 osrm_url=get_settings().osrm_url,
                                 reason="urgent visit")
    except Conflict:
        return None
