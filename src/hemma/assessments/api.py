"""JSON API: the assessment of an episode (every version) and the physician's decision."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from hemma.access.policy import Action
from hemma.assessments import service
from hemma.assessments.schemas import AssessmentCreate, DecisionCreate
from hemma.episodes import service as episodes
from hemma.web.deps import DbSession, PatientAccess, PatientContext
from hemma.web.routing import JsonRoute

router = APIRouter(prefix="/api/v1", tags=["assessments"], route_class=JsonRoute)
Reader = Annotated[PatientContext, Depends(PatientAccess(Action.READ))]
Manager = Annotated[PatientContext, Depends(PatientAccess(Action.EPISODE))]
BASE = "/patients/{patient_id}/episodes/{episode_id}/assessments"


class AssessmentRead(BaseModel):
    version: int
    parts: dict[str, Any]
    stability: dict[str, Any]
    criteria: dict[str, Any]
    information: dict[str, Any]
    created_at: datetime
    assessed_by: str
    unmet: list[str]
    decision: str | None
    decision_reason: str | None
    override: bool
    decided_at: datetime | None
    decided_by: str | None


def _read(v: service.AssessmentView) -> AssessmentRead:
    r = v.row
    return AssessmentRead(
        version=r.version, parts=r.parts, stability=r.stability, criteria=r.criteria,
        information=r.information, created_at=r.created_at, assessed_by=v.assessed_by,
        unmet=v.unmet, decision=r.decision, decision_reason=r.decision_reason,
        override=r.override, decided_at=r.decided_at, decided_by=v.decided_by)


@router.get(BASE, response_model=list[AssessmentRead])
def list_assessments(episode_id: uuid.UUID, db: DbSession, ctx: Reader):
    """Every version of the episode's assessment, newest first."""
    return [_read(v) for v in service.versions(db, ctx.decision, ctx.patient_id, episode_id)]


@router.post(BASE, status_code=201, response_model=AssessmentRead)
def assess(episode_id: uuid.UUID, body: AssessmentCreate, db: DbSession, ctx: Manager):
    """Save a new version of the assessment; medical stability is computed from the values."""
    service.assess(db, ctx.subject, ctx.patient_id, episode_id, body)
    return _read(service.versions(db, ctx.decision, ctx.patient_id, episode_id)[0])


@router.post(BASE + "/decision", response_model=AssessmentRead)
def decide(episode_id: uuid.UUID, body: DecisionCreate, db: DbSession, ctx: Manager):
    """The physician's decision on the newest version (not admitting ends the episode)."""
    episodes.decide_admission(db, ctx.subject, ctx.patient_id, episode_id, body)
    return _read(service.versions(db, ctx.decision, ctx.patient_id, episode_id)[0])
