"""JSON API: the shared plan of an episode, its activities and the SIP meeting."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from hemma.access.policy import Action
from hemma.careplans import service
from hemma.careplans.schemas import ActivityCreate, ActivityStatusUpdate, GoalsUpdate, SipUpdate
from hemma.web.deps import DbSession, PatientAccess, PatientContext
from hemma.web.routing import JsonRoute

router = APIRouter(prefix="/api/v1", tags=["care plans"], route_class=JsonRoute)
Reader = Annotated[PatientContext, Depends(PatientAccess(Action.READ))]
Requester = Annotated[PatientContext, Depends(PatientAccess(Action.CARE_REQUEST))]
Manager = Annotated[PatientContext, Depends(PatientAccess(Action.EPISODE))]
BASE = "/patients/{patient_id}/episodes/{episode_id}/careplan"


class ActivityRead(BaseModel):
    id: uuid.UUID
    unit_id: int
    unit: str
    organisation: str
    person: str | None
    what: str
    kind: str
    times: list[str]
    duration_minutes: int | None
    due_at: datetime | None
    starts_on: date
    ends_on: date | None
    continues_after: bool
    status: str
    care_request_id: uuid.UUID | None
    visits_done: int
    visits_planned: int
    overdue: bool


class TimerRead(BaseModel):
    key: str
    due: datetime | None
    done_at: datetime | None
    state: str


class SipRead(BaseModel):
    needed_from: datetime
    notice_sent_at: datetime | None
    called_at: datetime | None
    meeting_at: datetime | None
    held_at: datetime | None
    participants: list[str]
    decisions: str | None
    timers: list[TimerRead]


class PlanRead(BaseModel):
    version: int
    goals: str | None
    needs: str | None
    follow_ups: list[dict[str, Any]]
    activities: list[ActivityRead]
    hidden_activities: int
    sip: SipRead | None


def _read(view: service.PlanView) -> PlanRead:
    p = view.plan
    sip = None
    if view.sip is not None:
        s = view.sip
        sip = SipRead(needed_from=s.needed_from, notice_sent_at=s.notice_sent_at,
                      called_at=s.called_at, meeting_at=s.meeting_at, held_at=s.held_at,
                      participants=list(s.participants or []), decisions=s.decisions,
                      timers=[TimerRead(key=t.key, due=t.due, done_at=t.done_at, state=t.state)
                              for t in view.timers])
    return PlanRead(
        version=p.version if p else 0, goals=p.goals if p else None, needs=p.needs if p else None,
        follow_ups=list(p.follow_ups or []) if p else [],
        activities=[ActivityRead(
            id=a.activity.id, unit_id=a.activity.unit_id, unit=a.unit_name,
            organisation=a.organisation_name, person=a.person, what=a.activity.what,
            kind=a.activity.kind, times=list(a.activity.times or []),
            duration_minutes=a.activity.duration_minutes, due_at=a.activity.due_at,
            starts_on=a.activity.starts_on, ends_on=a.activity.ends_on,
            continues_after=a.activity.continues_after, status=a.status,
            care_request_id=a.activity.care_request_id, visits_done=a.visits_done,
            visits_planned=a.visits_planned, overdue=a.overdue) for a in view.activities],
        hidden_activities=view.hidden_activities, sip=sip)


def _view(db, ctx: PatientContext, episode_id: uuid.UUID) -> PlanRead:
    return _read(service.plan_view(db, ctx.decision, ctx.patient_id, episode_id))


@router.get(BASE, response_model=PlanRead)
def get_plan(episode_id: uuid.UUID, db: DbSession, ctx: Reader):
    """The shared plan as the caller may see it."""
    return _view(db, ctx, episode_id)


@router.put(BASE + "/goals", response_model=PlanRead)
def put_goals(episode_id: uuid.UUID, body: GoalsUpdate, db: DbSession, ctx: Reader):
    """Goals, needs and follow-up dates (the coordinator edits them)."""
    service.update_goals(db, ctx.subject, ctx.patient_id, episode_id, body)
    return _view(db, ctx, episode_id)


@router.post(BASE + "/activities", status_code=201, response_model=PlanRead)
def post_activity(episode_id: uuid.UUID, body: ActivityCreate, db: DbSession, ctx: Requester):
    """Add an activity: a visit becomes a care request to its unit, a one-off a task."""
    service.add_activity(db, ctx.subject, ctx.patient_id, episode_id, body)
    return _view(db, ctx, episode_id)


@router.post(BASE + "/activities/{activity_id}/status", response_model=PlanRead)
def post_status(episode_id: uuid.UUID, activity_id: uuid.UUID, body: ActivityStatusUpdate,
                db: DbSession, ctx: Requester):
    """The responsible organisation sets how its activity goes."""
    service.set_status(db, ctx.subject, ctx.patient_id, activity_id, body)
    return _view(db, ctx, episode_id)


@router.post(BASE + "/sip/start", response_model=PlanRead)
def post_sip_start(episode_id: uuid.UUID, db: DbSession, ctx: Manager):
    """The patient will need the municipality after discharge: the SIP timers start."""
    service.start_sip(db, ctx.subject, ctx.patient_id, episode_id)
    return _view(db, ctx, episode_id)


@router.put(BASE + "/sip", response_model=PlanRead)
def put_sip(episode_id: uuid.UUID, body: SipUpdate, db: DbSession, ctx: Manager):
    """The notice, the call, the meeting, its participants and decisions."""
    service.update_sip(db, ctx.subject, ctx.patient_id, episode_id, body)
    return _view(db, ctx, episode_id)
