"""The shared plan of an episode (gemensam plan): goals in the patient's words, needs,
follow-ups, and the activities each organisation does, across region and municipality; the
SIP meeting of Lag (2017:612).

Who may do what:
- An activity belongs to the organisation responsible for it (its unit documents it): that
  organisation changes it; the others read it with the patient's consent.
- Anyone of the care team who may send care requests may propose an activity for any unit:
  a visit becomes a care request to that unit (its status then follows the answer and the
  visits), a one-off becomes a task with an owner and a due time.
- The coordinator (fast vårdkontakt) edits the goals; while none is named, the responsible
  unit does.
Every change saves a version of the whole plan with what changed."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hemma.access import audit
from hemma.access.policy import Action, Decision, Origin, Subject
from hemma.access.service import origin, relation_active, require
from hemma.access.sharing import SharingAnswer, settle_sharing
from hemma.careplans import deadlines
from hemma.careplans.schemas import ActivityCreate, ActivityStatusUpdate, GoalsUpdate, SipUpdate
from hemma.config import get_settings
from hemma.coordination import live
from hemma.kit.errors import Conflict, Forbidden, Invalid, NotFound
from hemma.kit.time import local_today, utcnow
from hemma.models import (
    ACTIVE_STATES,
    ActivityKind,
    ActivityStatus,
    CarePlan,
    CarePlanVersion,
    CareRelation,
    CareRequest,
    Episode,
    Organisation,
    PlanActivity,
    RequestStatus,
    SipMeeting,
    Staff,
    Task,
    Unit,
    Visit,
    VisitStatus,
)
from hemma.patients.service import episode_of
from hemma.planning import service as planning
from hemma.planning.schemas import CareRequestCreate

TEAM_ROLE = "Insats i gemensam plan"



def _plan(db: Session, subject: Subject, episode: Episode) -> CarePlan:
    """The episode's plan, made on its first change (documented by the responsible unit)."""
    plan = db.scalar(select(CarePlan).where(CarePlan.episode_id == episode.id)
                     .with_for_update())
    if plan is None:
        plan = CarePlan(episode_id=episode.id, patient_id=episode.patient_id, version=0,
                        follow_ups=[], documented_by_unit_id=episode.responsible_unit_id,
                        updated_at=utcnow(), updated_by_id=subject.staff_id)
        db.add(plan)
        db.flush()
    return plan


def snapshot(db: Session, plan: CarePlan) -> dict:
    activities = db.execute(
        select(PlanActivity, Unit.name).join(Unit, Unit.id == PlanActivity.unit_id)
        .where(PlanActivity.plan_id == plan.id).order_by(PlanActivity.created_at)).all()
    return {
        "goals": plan.goals, "needs": plan.needs, "follow_ups": list(plan.follow_ups or []),
        "activities": [{"id": str(a.id), "unit": name, "what": a.what, "kind": a.kind,
                        "times": list(a.times or []), "starts_on": a.starts_on.isoformat(),
                        "ends_on": a.ends_on.isoformat() if a.ends_on else None,
                        "status": a.status, "continues_after": a.continues_after}
                       for a, name in activities],
    }


def _version(db: Session, subject: Subject, plan: CarePlan, change: str) -> None:
    db.flush()
    plan.version += 1
    plan.updated_at = utcnow()
    plan.updated_by_id = subject.staff_id
    db.add(CarePlanVersion(plan_id=plan.id, version=plan.version, snapshot=snapshot(db, plan),
                           change=change[:200], documented_by_unit_id=subject.unit_id,
                           changed_at=plan.updated_at, changed_by_id=subject.staff_id))


def update_goals(db: Session, subject: Subject, patient_id: uuid.UUID, episode_id: uuid.UUID,
                 data: GoalsUpdate) -> CarePlan:
    episode = episode_of(db, patient_id, episode_id, lock=True)
    home = origin(db, episode.responsible_unit_id)
    if episode.coordinator_id is not None:
        # The coordinator holds the plan together, whichever organisation they belong to.
        require(db, subject, Action.READ, patient_id, on=home)
        if subject.staff_id != episode.coordinator_id:
            raise Forbidden("The coordinator (fast vårdkontakt) edits the goals")
    else:
        require(db, subject, Action.EPISODE, patient_id, on=home)
    _active(episode)
    plan = _plan(db, subject, episode)
    plan.goals, plan.needs = data.goals, data.needs
    plan.follow_ups = [{"on": f.on.isoformat(), "what": f.what}
                       for f in sorted(data.follow_ups, key=lambda f: f.on)]
    _version(db, subject, plan, "goals")
    audit.record(db, patient_id, "careplan.goals")
    return plan


def _active(episode: Episode) -> None:
    if episode.state not in ACTIVE_STATES:
        raise Conflict("The episode has ended: its plan can no longer change", field="state")


def _check(db: Session, data: ActivityCreate) -> Unit:
    unit = db.get(Unit, data.unit_id)
    if unit is None or not unit.active:
        raise Invalid("Unknown unit", field="unit_id")
    if data.staff_id is not None:
        staff = db.get(Staff, data.staff_id)
        if staff is None or not staff.active or staff.unit_id != unit.id:
            raise Invalid("Choose someone of the responsible unit", field="staff_id")
    if data.ends_on is not None and data.ends_on < data.starts_on:
        raise Invalid("The end is before the start", field="ends_on")
    if data.kind == ActivityKind.VISIT:
        if not data.times:
            raise Invalid("A visit needs its times of day", field="times")
        if data.duration_minutes is None:
            raise Invalid("A visit needs its length in minutes", field="duration_minutes")
        if data.ends_on is None:
            raise Invalid("A visit needs its last day", field="ends_on")
        if data.starts_on < local_today():
            raise Invalid("Visits cannot start in the past", field="starts_on")
    if data.kind == ActivityKind.ONCE and data.due_at is None:
        raise Invalid("Say by when it is to be done", field="due_at")
    return unit


def add_activity(db: Session, subject: Subject, patient_id: uuid.UUID, episode_id: uuid.UUID,
                 data: ActivityCreate) -> PlanActivity:
    """Add an activity for any unit. For another organisation's unit this is a request to
    it: a visit goes as a care request (which that unit accepts or declines), and the patient
    is asked about sharing as for any care request."""
    episode = episode_of(db, patient_id, episode_id, lock=True)
    require(db, subject, Action.CARE_REQUEST, patient_id,
            on=origin(db, episode.responsible_unit_id))
    _active(episode)
    unit = _check(db, data)
    plan = _plan(db, subject, episode)
    now = utcnow()
    activity = PlanActivity(
        plan_id=plan.id, episode_id=episode.id, patient_id=patient_id, unit_id=unit.id,
        staff_id=data.staff_id, what=data.what, kind=data.kind,
        times=sorted(set(data.times)), duration_minutes=data.duration_minutes,
        skills=sorted(set(data.skills)), care_kind=data.care_kind,
        due_at=data.due_at, starts_on=data.starts_on, ends_on=data.ends_on,
        continues_after=data.continues_after, status=ActivityStatus.PLANNED,
        documented_by_unit_id=unit.id, created_at=now, created_by_id=subject.staff_id,
        updated_at=now, updated_by_id=subject.staff_id)
    db.add(activity)
    if data.kind == ActivityKind.VISIT:
        request = planning.request_care(db, subject, patient_id, CareRequestCreate(
            to_unit_id=unit.id, kind=data.care_kind, times=list(activity.times),
            tolerance_minutes=data.tolerance_minutes, first_date=data.starts_on,
            last_date=data.ends_on, duration_minutes=data.duration_minutes,
            skills=list(activity.skills), notes=data.what, sharing=data.sharing,
            sharing_method=data.sharing_method, sharing_reason=data.sharing_reason))
        activity.care_request_id = request.id
        activity.status = ActivityStatus.REQUESTED
    else:
        _join(db, subject, patient_id, episode, unit, data)
        if data.kind == ActivityKind.ONCE:
            task = Task(patient_id=patient_id, episode_id=episode.id, kind="activity",
                        title=data.what, unit_id=unit.id, staff_id=data.staff_id,
                        due_at=data.due_at, questions=[], answers={},
                        documented_by_unit_id=unit.id, created_at=now,
                        created_by_id=subject.staff_id)
            db.add(task)
            db.flush()
            activity.task_id = task.id
    # What changed names the activity by its id: a reader who may not see it is not told.
    _version(db, subject, plan, f"activity.add:{activity.id}")
    audit.record(db, patient_id, "careplan.activity.add")
    return activity


def _join(db: Session, subject: Subject, patient_id: uuid.UUID, episode: Episode, unit: Unit,
          answer: SharingAnswer) -> None:
    """The unit responsible for an activity must be able to read the patient: it joins the
    care team (asking about sharing when it is another organisation's)."""
    now = utcnow()
    if db.scalar(select(CareRelation.id).where(
            CareRelation.patient_id == patient_id, CareRelation.unit_id == unit.id,
            relation_active(now))):
        return
    note = settle_sharing(db, subject, patient_id, unit.organisation_id, answer,
                          context="care plan")
    db.add(CareRelation(patient_id=patient_id, episode_id=episode.id, unit_id=unit.id,
                        role=TEAM_ROLE, sharing_note=note, starts_at=now,
                        created_by_id=subject.staff_id, documented_by_unit_id=subject.unit_id))


def set_status(db: Session, subject: Subject, patient_id: uuid.UUID, activity_id: uuid.UUID,
               data: ActivityStatusUpdate) -> PlanActivity:
    """The responsible organisation says how its activity goes. A visit's status follows
    its care request and visits; stopping one cancels the visits still planned."""
    activity = db.get(PlanActivity, activity_id, with_for_update=True)
    if activity is None or activity.patient_id != patient_id:
        raise NotFound()
    require(db, subject, Action.CARE_REQUEST, patient_id, on=origin(db, activity.unit_id))
    episode = db.get(Episode, activity.episode_id)
    _active(episode)
    if activity.kind == ActivityKind.VISIT and data.status != "stopped":
        raise Invalid("A visit's status follows its care request and visits; it can only be "
                      "stopped", field="status")
    now = utcnow()
    if data.status == "stopped" and activity.care_request_id is not None:
        request = db.get(CareRequest, activity.care_request_id, with_for_update=True)
        if request.status in (RequestStatus.REQUESTED, RequestStatus.ACCEPTED):
            request.status = RequestStatus.CANCELLED
        cancelled = list(db.scalars(select(Visit).where(
            Visit.care_request_id == request.id, Visit.status == VisitStatus.PLANNED,
            Visit.earliest > now)))
        for visit in cancelled:
            visit.status = VisitStatus.CANCELLED
            visit.not_done_reason = "activity_stopped"
        if cancelled:
            live.announce(db, visits=True)
    if activity.task_id is not None:
        task = db.get(Task, activity.task_id)
        if data.status == "done" and task.done_at is None:
            task.done_at, task.done_by_id = now, subject.staff_id
    activity.status = data.status
    activity.updated_at, activity.updated_by_id = now, subject.staff_id
    plan = db.get(CarePlan, activity.plan_id, with_for_update=True)
    _version(db, subject, plan, f"activity.status:{activity.id}:{data.status}")
    audit.record(db, patient_id, "careplan.activity.status", detail=data.status)
    return activity


def start_sip(db: Session, subject: Subject, patient_id: uuid.UUID,
              episode_id: uuid.UUID) -> SipMeeting:
    """The patient will need the municipality after discharge: the law's clocks start."""
    episode = episode_of(db, patient_id, episode_id, lock=True)
    require(db, subject, Action.EPISODE, patient_id, on=origin(db, episode.responsible_unit_id))
    _active(episode)
    if db.scalar(select(SipMeeting.id).where(SipMeeting.episode_id == episode.id)):
        raise Conflict("The need of the municipality is already recorded", field="sip")
    now = utcnow()
    sip = SipMeeting(episode_id=episode.id, patient_id=patient_id, needed_from=now,
                     participants=[], documented_by_unit_id=episode.responsible_unit_id,
                     updated_at=now, updated_by_id=subject.staff_id)
    db.add(sip)
    db.flush()
    audit.record(db, patient_id, "sip.start")
    return sip


def update_sip(db: Session, subject: Subject, patient_id: uuid.UUID, episode_id: uuid.UUID,
               data: SipUpdate) -> SipMeeting:
    episode = episode_of(db, patient_id, episode_id, lock=True)
    require(db, subject, Action.EPISODE, patient_id, on=origin(db, episode.responsible_unit_id))
    sip = db.scalar(select(SipMeeting).where(SipMeeting.episode_id == episode.id)
                    .with_for_update())
    if sip is None:
        raise Conflict("Record first that the patient will need the municipality", field="sip")
    now = utcnow()
    for name in ("notice_sent_at", "called_at", "held_at"):
        value = getattr(data, name)
        if value is not None and value > now:
            raise Invalid("The time cannot be in the future", field=name)
        if value is not None and value < sip.needed_from:
            raise Invalid("The time is before the need was recorded", field=name)
    if data.called_at and not data.notice_sent_at:
        raise Invalid("Record the notice to the municipality before the call", field="called_at")
    if data.called_at and data.called_at < data.notice_sent_at:
        raise Invalid("The call cannot come before the notice", field="called_at")
    if data.held_at and not data.called_at:
        raise Invalid("Record the call before the meeting is held", field="held_at")
    for name in ("notice_sent_at", "called_at", "meeting_at", "held_at", "participants",
                 "decisions"):
        setattr(sip, name, getattr(data, name))
    sip.updated_at, sip.updated_by_id = now, subject.staff_id
    audit.record(db, patient_id, "sip.update")
    return sip


# --- Reading -------------------------------------------------------------------------------


@dataclass
class ActivityView:
    activity: PlanActivity
    unit_name: str
    organisation_name: str
    person: str | None
    status: str  # as it stands now (a visit's follows its request and visits)
    visits_done: int = 0
    visits_planned: int = 0
    overdue: bool = False
    may_change: bool = False


@dataclass
class PlanView:
    plan: CarePlan | None
    activities: list[ActivityView]
    hidden_activities: int
    may_edit_goals: bool
    may_add: bool
    sip: SipMeeting | None = None
    timers: list = field(default_factory=list)
    may_sip: bool = False

    @property
    def by_organisation(self) -> dict[str, list[ActivityView]]:
        out: dict[str, list[ActivityView]] = {}
        for a in self.activities:
            out.setdefault(a.organisation_name, []).append(a)
        return out


def _visit_status(request: CareRequest | None, done: int, planned: int, last: date | None,
                  today: date) -> str:
    if request is None:
        return ActivityStatus.PLANNED
    if request.status == RequestStatus.REQUESTED:
        return ActivityStatus.REQUESTED
    if request.status == RequestStatus.DECLINED:
        return ActivityStatus.DECLINED
    if request.status == RequestStatus.CANCELLED:
        return ActivityStatus.STOPPED
    if last is not None and last < today and planned == 0:
        return ActivityStatus.DONE
    return ActivityStatus.ONGOING


def plan_view(db: Session, decision: Decision, patient_id: uuid.UUID,
              episode_id: uuid.UUID) -> PlanView:
    """The plan as this reader may see it: each organisation's activities only with the
    patient's consent (or their own), the rest counted."""
    episode = episode_of(db, patient_id, episode_id)
    home = origin(db, episode.responsible_unit_id)
    if not decision.sees(home):
        raise NotFound()
    plan = db.scalar(select(CarePlan).where(CarePlan.episode_id == episode.id))
    rows = db.execute(
        select(PlanActivity, Unit, Organisation)
        .join(Unit, Unit.id == PlanActivity.unit_id)
        .join(Organisation, Organisation.id == Unit.organisation_id)
        .where(PlanActivity.episode_id == episode.id).order_by(PlanActivity.created_at)).all()
    subject = decision.subject
    writer = decision.basis != "emergency"
    shown, hidden = [], 0
    request_ids = [a.care_request_id for a, _, _ in rows if a.care_request_id]
    requests = {r.id: r for r in db.scalars(select(CareRequest).where(
        CareRequest.id.in_(request_ids)))} if request_ids else {}
    counts: dict = {}
    if request_ids:
        for rid, status, n in db.execute(
                select(Visit.care_request_id, Visit.status, func.count())
                .where(Visit.care_request_id.in_(request_ids))
                .group_by(Visit.care_request_id, Visit.status)):
            counts.setdefault(rid, {})[status] = n
    task_ids = [a.task_id for a, _, _ in rows if a.task_id]
    tasks = {t.id: t for t in db.scalars(select(Task).where(Task.id.in_(task_ids)))} \
        if task_ids else {}
    people = {s.id: s.full_name for s in db.scalars(select(Staff).where(Staff.id.in_(
        {a.staff_id for a, _, _ in rows if a.staff_id})))}
    now, today = utcnow(), local_today()
    for a, unit, org in rows:
        where = Origin(unit.id, org.id)
        if not decision.sees(where):
            hidden += 1
            continue
        c = counts.get(a.care_request_id, {})
        status = a.status
        if a.kind == ActivityKind.VISIT and a.status != ActivityStatus.STOPPED:
            status = _visit_status(requests.get(a.care_request_id), c.get(VisitStatus.DONE, 0),
                                   c.get(VisitStatus.PLANNED, 0), a.ends_on, today)
        task = tasks.get(a.task_id)
        if task is not None and task.done_at is not None:
            status = ActivityStatus.DONE
        overdue = a.kind == ActivityKind.ONCE and status not in (
            ActivityStatus.DONE, ActivityStatus.STOPPED) and a.due_at is not None and a.due_at < now
        shown.append(ActivityView(
            a, unit.name, org.name, people.get(a.staff_id), status,
            visits_done=c.get(VisitStatus.DONE, 0), visits_planned=c.get(VisitStatus.PLANNED, 0),
            overdue=overdue,
            may_change=writer and episode.is_active and decision.may_change(where)
            and subject.role_allows(Action.CARE_REQUEST)))
    sip = db.scalar(select(SipMeeting).where(SipMeeting.episode_id == episode.id))
    settings = get_settings()
    timers = deadlines.timers(
        needed_from=sip.needed_from, notice_sent_at=sip.notice_sent_at,
        called_at=sip.called_at, now=now, notice_hours=settings.sip_notice_hours,
        call_days=settings.sip_call_days) if sip else []
    own = writer and episode.is_active and decision.may_change(home)
    coordinator = episode.coordinator_id
    return PlanView(
        plan=plan, activities=shown, hidden_activities=hidden,
        may_edit_goals=writer and episode.is_active and (
            subject.staff_id == coordinator if coordinator is not None
            else own and subject.role_allows(Action.EPISODE)),
        may_add=writer and episode.is_active and subject.role_allows(Action.CARE_REQUEST),
        sip=sip, timers=timers, may_sip=own and subject.role_allows(Action.EPISODE))


@dataclass
class VersionView:
    version: CarePlanVersion
    changed_by: str
    snapshot: dict  # the activities the reader may see
    change: str  # "goals", "activity.add", "activity.status"
    activity: dict | None  # the activity the change was about, if the reader may see it
    status: str | None = None


def versions(db: Session, decision: Decision, patient_id: uuid.UUID,
             episode_id: uuid.UUID) -> list[VersionView]:
    """The plan's history, newest first (what it looked like after each change). Activities
    of organisations the reader may not see are left out of each snapshot and each change."""
    view = plan_view(db, decision, patient_id, episode_id)
    if view.plan is None:
        return []
    visible = {str(a.activity.id) for a in view.activities}
    rows = db.execute(
        select(CarePlanVersion, Staff).join(Staff, Staff.id == CarePlanVersion.changed_by_id)
        .where(CarePlanVersion.plan_id == view.plan.id)
        .order_by(CarePlanVersion.version.desc())).all()
    out = []
    for v, staff in rows:
        activities = [a for a in v.snapshot.get("activities", []) if a["id"] in visible]
        kind, _, rest = v.change.partition(":")
        activity_id, _, status = rest.partition(":")
        about = next((a for a in activities if a["id"] == activity_id), None)
        out.append(VersionView(v, staff.full_name, {**v.snapshot, "activities": activities},
                               kind, about, status or None))
    return out
