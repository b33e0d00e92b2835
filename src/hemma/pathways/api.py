"""JSON API: pathways (vårdprogram) as documents: read, export, import a new version,
retire."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from hemma.access.policy import Action
from hemma.kit.validation import DbId, Schema, Text
from hemma.pathways import service
from hemma.pathways.document import PathwayDocument
from hemma.web.deps import DbSession, Principal, StaffAccess
from hemma.web.routing import JsonRoute

router = APIRouter(prefix="/api/v1", tags=["pathways"], route_class=JsonRoute)
Reader = Annotated[Principal, Depends(StaffAccess(Action.SIGNED_IN))]
Lead = Annotated[Principal, Depends(StaffAccess(Action.PATHWAY))]


class PathwayOut(BaseModel):
    id: int
    code: str
    version: int
    name: str
    active: bool
    expected_days: int | None
    created_at: datetime | None
    change_note: str | None


class PathwayFull(PathwayOut):
    document: dict[str, Any]


class PathwayImport(Schema):
    document: PathwayDocument
    change_note: Text | None = Field(default=None, max_length=500)
    # The version the editor started from: refused if someone saved another since.
    based_on: int | None = Field(default=None, ge=1, le=1_000_000)


def _out(row) -> PathwayOut:
    return PathwayOut(id=row.id, code=row.code, version=row.version, name=row.name,
                      active=row.active, expected_days=row.expected_days,
                      created_at=row.created_at, change_note=row.change_note)


@router.get("/pathways", response_model=list[PathwayOut])
def list_pathways(db: DbSession, principal: Reader):
    """The pathways a home-ward episode can follow: the current version of each."""
    return [_out(p) for p in service.current(db)]


@router.get("/pathways/{pathway_id}", response_model=PathwayFull)
def get_pathway(pathway_id: DbId, db: DbSession,
                principal: Reader):
    """One version of a pathway with its whole document (the form import takes)."""
    row = service.get(db, pathway_id)
    return PathwayFull(**_out(row).model_dump(), document=service.document(row))


@router.post("/pathways", status_code=201, response_model=PathwayFull)
def import_pathway(body: PathwayImport, db: DbSession, principal: Lead):
    """Save a pathway document: a new code starts at version 1, an existing one gets its
    next version. Every error names its place in the document."""
    row = service.save(db, principal.subject, body.document, change_note=body.change_note,
                       based_on=body.based_on)
    return PathwayFull(**_out(row).model_dump(), document=service.document(row))


@router.post("/pathways/{pathway_id}/retire", response_model=PathwayOut)
def retire_pathway(pathway_id: DbId, db: DbSession,
                   principal: Lead):
    """Retire a pathway: no new assessments on it; episodes on it go on."""
    row = service.get(db, pathway_id)
    return _out(service.retire(db, principal.subject, row.code))
