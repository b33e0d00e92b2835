"""JSON API: home-ward episodes and the home-ward list."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends

from hemma.access.policy import Action
from hemma.episodes import service
from hemma.episodes.schemas import (
    AdmissionCreate,
    AssessmentCreate,
    Discharge,
    EpisodeEnd,
    EpisodeRead,
    HomeWardRow,
    ReturnToHospital,
)
from hemma.web.deps import DbSession, PatientAccess, PatientContext, Principal, StaffAccess
from hemma.web.routing import JsonRoute

router = APIRouter(prefix="/api/v1", tags=["episodes"], route_class=JsonRoute)
EpisodeManager = Annotated[PatientContext, Depends(PatientAccess(Action.EPISODE))]


def _read(view: service.EpisodeView) -> EpisodeRead:
    e = view.episode
    return EpisodeRead(
        id=e.id, patient_id=e.patient_id, state=e.state, pathway_id=e.pathway_id,
        pathway_name=view.pathway_name, responsible_unit_id=e.responsible_unit_id,
        responsible_unit_name=view.unit_name, responsible_physician_id=e.responsible_physician_id,
        coordinator_id=e.coordinator_id, bed_number=e.bed_number, held_bed=e.held_bed,
        held_bed_location=e.held_bed_location, assessed_at=e.assessed_at,
        admitted_at=e.admitted_at, ended_at=e.ended_at, end_reason=e.end_reason,
        end_note=e.end_note,
    )


@router.get("/home-ward", response_model=list[HomeWardRow])
def home_ward(db: DbSession, principal: Annotated[Principal, Depends(StaffAccess(Action.READ))],
              scope: str | None = None):
    """The home-ward list: `scope=unit` your unit's virtual beds, `scope=team` every patient
    your unit cares for. Rows from other organisations without consent carry no episode data."""
    ward = service.home_ward(db, principal.subject, scope)
    rows = []
    for item in ward.entries:
        v, p = item.view, item.patient
        row = HomeWardRow(patient_id=p.id, personnummer=p.personnummer, name=p.full_name,
                          visible=v.visible, team_organisations=item.team_organisations)
        if v.visible:
            e = v.episode
            row = row.model_copy(update=dict(
                episode_id=e.id, state=e.state, pathway=v.pathway_name,
                responsible_unit=v.unit_name, bed_number=e.bed_number, held_bed=e.held_bed,
                admitted_at=e.admitted_at, day_at_home=v.day_at_home,
                coordinator=v.coordinator.full_name if v.coordinator else None,
                physician=v.physician.full_name if v.physician else None,
                news2_total=item.latest.news2_total if item.latest else None,
                news2_band=item.latest.news2_band if item.latest else None,
                news2_partial=item.latest.news2_partial if item.latest else None,
                news2_at=item.latest.measured_at if item.latest else None,
                open_alerts=item.open_alerts, top_severity=item.top_severity))
        else:
            row.hidden_reason = v.hidden_reason
        rows.append(row)
    return rows


@router.get("/patients/{patient_id}/episodes", response_model=list[EpisodeRead])
def episodes(db: DbSession, ctx: Annotated[PatientContext, Depends(PatientAccess(Action.READ))]):
    """The patient's episodes that you may see, newest first."""
    return [_read(v) for v in service.patient_episodes(db, ctx.decision, ctx.patient_id)
            if v.visible]


def _view(db, ctx: PatientContext, episode_id: uuid.UUID) -> EpisodeRead:
    # Re-decide after the change: the response shows what the user may now see.
    return _read(service.get_episode_view(db, ctx.decision, ctx.patient_id, episode_id))


@router.post("/patients/{patient_id}/episodes", status_code=201, response_model=EpisodeRead)
def assess(body: AssessmentCreate, db: DbSession, ctx: EpisodeManager):
    """Start an assessment for the home ward (state `assessing`)."""
    episode = service.start_assessment(db, ctx.subject, ctx.patient_id, body)
    return _view(db, ctx, episode.id)


@router.post("/patients/{patient_id}/episodes/{episode_id}/admit", response_model=EpisodeRead)
def admit(episode_id: uuid.UUID, body: AdmissionCreate, db: DbSession, ctx: EpisodeManager):
    """Admit: assigns a free virtual bed; names the responsible physician and coordinator."""
    service.admit(db, ctx.subject, ctx.patient_id, episode_id, body)
    return _view(db, ctx, episode_id)


@router.post("/patients/{patient_id}/episodes/{episode_id}/discharge", response_model=EpisodeRead)
def discharge(episode_id: uuid.UUID, body: Discharge, db: DbSession, ctx: EpisodeManager):
    """Discharge from the home ward, with a note and how the episode ended (`outcome`:
    `completed`, `death_expected` — a death at home in palliative care —,
    `death_unexpected`, `other`)."""
    service.discharge(db, ctx.subject, ctx.patient_id, episode_id, body)
    return _view(db, ctx, episode_id)


@router.post("/patients/{patient_id}/episodes/{episode_id}/return", response_model=EpisodeRead)
def return_to_hospital(episode_id: uuid.UUID, body: ReturnToHospital, db: DbSession,
                       ctx: EpisodeManager):
    """Register a return to hospital, with why (`reason`: `deterioration`, `new_problem`,
    `fall_injury`, `treatment_not_possible`, `patient_wish`, `other`)."""
    service.return_to_hospital(db, ctx.subject, ctx.patient_id, episode_id, body)
    return _view(db, ctx, episode_id)


@router.post("/patients/{patient_id}/episodes/{episode_id}/close", response_model=EpisodeRead)
def close(episode_id: uuid.UUID, body: EpisodeEnd, db: DbSession, ctx: EpisodeManager):
    """Close an assessment without admission."""
    service.close_without_admission(db, ctx.subject, ctx.patient_id, episode_id, body)
    return _view(db, ctx, episode_id)
