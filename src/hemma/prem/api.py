"""JSON API: the patient's experience of one episode (PREM), read by the care team and typed
in from paper by the home ward's own organisation."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends

from hemma.access.policy import Action
from hemma.prem import questionnaire, service
from hemma.prem.schemas import PremPaper, PremRead, PremStatus
from hemma.web.deps import DbSession, PatientAccess, PatientContext
from hemma.web.routing import JsonRoute

router = APIRouter(prefix="/api/v1", tags=["patient experience"], route_class=JsonRoute)
Reader = Annotated[PatientContext, Depends(PatientAccess(Action.READ))]
Writer = Annotated[PatientContext, Depends(PatientAccess(Action.COORDINATE))]
PATH = "/patients/{patient_id}/episodes/{episode_id}/prem"


def _status(view: service.PremView) -> PremStatus:
    row = view.response
    return PremStatus(
        episode_id=view.episode.id, asked=view.asked, questionnaire=questionnaire.VERSION,
        response=PremRead(questionnaire=row.questionnaire, answers=row.answers,
                          comment=row.comment, channel=row.channel,
                          answered_at=row.answered_at, entered_by=view.entered_by)
        if row is not None else None)


@router.get(PATH, response_model=PremStatus)
def get_prem(episode_id: uuid.UUID, db: DbSession, ctx: Reader):
    """The episode's questionnaire: whether its patient is asked, and the answers (`null`
    until answered). For the care team that may read the episode; 404 otherwise."""
    return _status(service.view(db, ctx.decision, ctx.patient_id, episode_id))


@router.post(PATH, status_code=201, response_model=PremStatus)
def post_prem(episode_id: uuid.UUID, body: PremPaper, db: DbSession, ctx: Writer):
    """Type in a paper questionnaire: `answers` {question key: 1..5} (at least one),
    `comment`, `answered_on` (the day it was filled in). One per episode: 409 once
    answered, on paper or on the patient's phone. Question keys: safe, who_to_call,
    listened, informed, again."""
    service.enter_paper(db, ctx.subject, ctx.patient_id, episode_id, body)
    return _status(service.view(db, ctx.decision, ctx.patient_id, episode_id))
