"""FHIR reads and searches over Hemma's own services and the same access check as the pages:
a patient the caller may not read does not exist (404 on read, absent from a search); values
another organisation documented are shown only as `sees()` allows, and a NEWS2 is the one
the reader may be shown (monitoring.visible). Every patient a search returns is logged."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from hemma.access import audit
from hemma.access.policy import Action, Decision, Subject
from hemma.access.service import (
    accessible_patients,
    can,
    decisions_for,
    log_listed,
    origin,
    require,
)
from hemma.fhir import resources, vitals
from hemma.fhir.search import DAMAGED, DateRange, SearchError, decode_cursor, encode_cursor
from hemma.kit.errors import NotFound
from hemma.kit.text import N_
from hemma.models import Observation, Patient, Relative
from hemma.monitoring import visible

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def _instant(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def _relatives(db: Session, patient_id: uuid.UUID) -> list[Relative]:
    return list(db.scalars(select(Relative).where(
        Relative.patient_id == patient_id, Relative.removed_at.is_(None))
        .order_by(Relative.created_at)))


def patient_resource(db: Session, p: Patient) -> dict:
    return resources.patient(p, _relatives(db, p.id), version=str(
        int(p.updated_at.timestamp())), last_updated=_instant(p.updated_at))


def read_patient(db: Session, subject: Subject, patient_id: uuid.UUID) -> dict:
    require(db, subject, Action.READ, patient_id, audit_action="fhir.read")
    p = db.get(Patient, patient_id)
    if p is None:
        raise NotFound()
    return patient_resource(db, p)


def search_patients(db: Session, subject: Subject, *, identifier: tuple[str | None, str] | None,
                    ids: list[uuid.UUID] | None, count: int) -> list[dict]:
    """The patients the caller may read that match; each one returned is logged."""
    stmt = select(Patient).where(Patient.id.in_(accessible_patients(subject)))
    if identifier is not None:
        system, value = identifier
        digits = value.replace("-", "")
        if system in (None, resources.PERSONNUMMER, resources.SAMORDNINGSNUMMER):
            stmt = stmt.where(Patient.personnummer == digits)
            if system is not None:
                stmt = stmt.where(Patient.is_coordination_number.is_(
                    system == resources.SAMORDNINGSNUMMER))
        else:
            return []  # a system Hemma does not keep: nobody has it
    if ids is not None:
        stmt = stmt.where(Patient.id.in_(ids))
    rows = list(db.scalars(stmt.order_by(Patient.family_name, Patient.given_name, Patient.id)
                           .limit(count)))
    log_listed(db, decisions_for(db, subject, [p.id for p in rows]), "fhir.search")
    return [patient_resource(db, p) for p in rows]


# --- Observations --------------------------------------------------------------------------


def _context(o, patient_ref: str) -> vitals.Context:
    performer = [{"reference": patient_ref}] if o.performer == "patient" else []
    return vitals.Context(patient=patient_ref, effective=_instant(o.measured_at),
                          issued=_instant(o.received_at), performer=performer,
                          last_updated=_instant(o.received_at))


def _resources_of(o, parameters=None) -> list[dict]:
    return vitals.observations(o, _context(o, f"Patient/{o.patient_id}"), parameters)


def read_observation(db: Session, subject: Subject, resource_id: str) -> dict:
    """One Observation by its id: 404 unless the caller may read the patient and see the
    organisation that documented it."""
    found = vitals.split_id(resource_id)
    if found is None:
        raise NotFound()
    row_id, parameter = found
    row = db.get(Observation, row_id)
    if row is None:
        raise NotFound()
    decision = require(db, subject, Action.READ, row.patient_id,
                       on=origin(db, row.documented_by_unit_id), audit_action="fhir.read")
    shown = _shown(db, decision, row)
    out = _resources_of(shown, [parameter]) if shown is not None else []
    if not out:
        raise NotFound()
    return out[0]


def _shown(db: Session, decision: Decision, row):
    """The row as this reader sees it (its NEWS2 recomputed if it combined hidden values)."""
    at = row.measured_at
    for shown in visible.observations(db, decision, row.patient_id, at, at).observations:
        if shown.id == row.id:
            return shown
    return None


@dataclass
class Page:
    resources: list[dict]
    next_cursor: str | None
    patients: list[uuid.UUID]


def search_observations(db: Session, subject: Subject, *, patient_id: uuid.UUID,
                        when: DateRange, parameters: set[str] | None, newest_first: bool,
                        count: int, cursor: str | None) -> Page:
    """One page of the patient's Observations (each value its own), in time order; empty
    when the caller may not read the patient (absent, as the specification asks)."""
    decision = can(db, subject, Action.READ, patient_id)
    if not decision:
        return Page([], None, [])
    audit.record(db, patient_id, "fhir.search", basis=str(decision.basis),
                 emergency=decision.emergency)
    seen = visible.observations(db, decision, patient_id, when.start or EPOCH,
                                when.end).observations
    rows = [o for o in seen if when.holds(o.measured_at)]
    if newest_first:
        rows.reverse()
    i, skip = _position(cursor, rows) if cursor else (0, 0)
    out: list[dict] = []
    while i < len(rows) and len(out) < count:
        made = _resources_of(rows[i], parameters)[skip:]
        room = count - len(out)
        if len(made) > room:
            # The page ends within this submission's values: the next one starts there.
            out.extend(made[:room])
            skip += room
            break
        out.extend(made)
        i, skip = i + 1, 0
    next_cursor = None
    if count and i < len(rows):
        next_cursor = encode_cursor({"row": str(rows[i].id), "skip": skip})
    return Page(out, next_cursor, [patient_id])


def _position(cursor: str, rows: list) -> tuple[int, int]:
    position = decode_cursor(cursor)
    row, skip = position.get("row"), position.get("skip")
    if not isinstance(skip, int) or skip < 0:
        raise SearchError(DAMAGED, "_cursor")
    for i, o in enumerate(rows):
        if str(o.id) == row:
            return i, skip
    raise SearchError(N_("The page link no longer matches the results: start the search "
                         "again"), "_cursor")
