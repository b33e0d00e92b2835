"""JSON API: the agreement with the patient."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends

from hemma.access.policy import Action
from hemma.agreements import service
from hemma.agreements.schemas import AgreementRead, AgreementSave, PaperConfirmation
from hemma.web.deps import DbSession, PatientAccess, PatientContext
from hemma.web.routing import JsonRoute

router = APIRouter(prefix="/api/v1", tags=["agreements"], route_class=JsonRoute)
Reader = Annotated[PatientContext, Depends(PatientAccess(Action.READ))]
Writer = Annotated[PatientContext, Depends(PatientAccess(Action.EPISODE))]
PATH = "/patients/{patient_id}/episodes/{episode_id}/agreement"


def _read(view: service.AgreementView) -> list[AgreementRead]:
    current = view.current
    out = []
    for row in view.versions:
        previous = view.previous(row.version)
        out.append(AgreementRead(
            version=row.version, content=row.content, change_note=row.change_note,
            changes=service.changes(previous.content if previous else None, row.content),
            created_at=row.created_at, created_by=view.authors.get(row.created_by_id, ""),
            documented_by_unit=view.unit.name, confirmed_at=row.confirmed_at,
            confirmed_how=row.confirmed_how, current=row is current))
    return out


@router.get(PATH, response_model=list[AgreementRead])
def versions(episode_id: uuid.UUID, db: DbSession, ctx: Reader):
    """Every version of the episode's agreement, oldest first; the last is the current one."""
    return _read(service.agreement_view(db, ctx.decision, ctx.patient_id, episode_id))


@router.post(PATH, status_code=201, response_model=AgreementRead)
def save(episode_id: uuid.UUID, body: AgreementSave, db: DbSession, ctx: Writer):
    """Save a new version (`change_note` required from version 2 on; `base_version`, the
    version you started from, refuses a save over a newer one with 409)."""
    service.save_version(db, ctx.subject, ctx.patient_id, episode_id, body.content,
                         body.change_note, base_version=body.base_version)
    return _read(service.agreement_view(db, ctx.decision, ctx.patient_id, episode_id))[-1]


@router.post(PATH + "/paper-confirmation", response_model=AgreementRead)
def paper_confirmation(episode_id: uuid.UUID, body: PaperConfirmation, db: DbSession,
                       ctx: Writer):
    """Record that the patient confirmed the current version on paper."""
    service.confirm_on_paper(db, ctx.subject, ctx.patient_id, episode_id, body)
    return _read(service.agreement_view(db, ctx.decision, ctx.patient_id, episode_id))[-1]
