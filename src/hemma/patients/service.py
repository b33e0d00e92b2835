"""Named actions on patients: register, update contact details, relatives, search.

Identity and contact details (name, personnummer, address, phone, relatives) are the
patient's master data: everyone in the care team needs them to reach the patient, so they
follow the care relationship alone. Clinical information (episodes, and what later
capabilities add) also needs consent across organisations; see hemma.access.policy."""

from __future__ import annotations

import uuid

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from hemma.access import audit
from hemma.access.policy import Action, Subject
from hemma.access.service import (
    accessible_patients,
    decisions_for,
    log_listed,
    relation_active,
    require,
)
from hemma.kit.errors import Invalid, NotFound
from hemma.kit.time import utcnow
from hemma.kit.validation import has_control_characters
from hemma.models import CareRelation, Patient, Relative
from hemma.patients.personnummer import InvalidPersonnummer, parse
from hemma.patients.schemas import PatientCreate, PatientUpdate, RelativeCreate


def register_patient(db: Session, subject: Subject, data: PatientCreate) -> tuple[Patient, bool]:
    """Register a new patient with the user's unit in the care team. A personnummer already
    in Hemma is not registered twice: the user's unit joins that patient's care team
    instead (logged as such, and flagged in the log review)."""
    require(db, subject, Action.REGISTER)
    now = utcnow()
    identity = parse(data.personnummer)
    existing = db.scalar(select(Patient).where(Patient.personnummer == identity.number))
    if existing is not None:
        _ensure_unit_relation(db, subject, existing.id)
        audit.record(db, existing.id, "patient.register_existing", basis="unit")
        return existing, True
    patient = Patient(
        personnummer=identity.number,
        is_coordination_number=identity.coordination,
        birth_date=identity.birth_date,
        given_name=data.given_name,
        family_name=data.family_name,
        registered_by_unit_id=subject.unit_id,
        created_at=now,
        updated_at=now,
        **data.model_dump(exclude={"personnummer", "given_name", "family_name"}),
    )
    db.add(patient)
    db.flush()
    _ensure_unit_relation(db, subject, patient.id)
    audit.record(db, patient.id, "patient.register", basis="unit")
    return patient, False


def _ensure_unit_relation(db: Session, subject: Subject, patient_id: uuid.UUID) -> None:
    now = utcnow()
    active = db.scalar(
        select(CareRelation.id).where(
            CareRelation.patient_id == patient_id,
            CareRelation.unit_id == subject.unit_id,
            relation_active(now),
        ).limit(1)
    )
    if active is None:
        db.add(
            CareRelation(
                patient_id=patient_id,
                unit_id=subject.unit_id,
                role="Registrerande enhet",
                starts_at=now,
                created_by_id=subject.staff_id,
                documented_by_unit_id=subject.unit_id,
            )
        )
        db.flush()


def get_patient(db: Session, patient_id: uuid.UUID) -> Patient:
    patient = db.get(Patient, patient_id)
    if patient is None:
        raise NotFound()
    return patient


def update_patient(db: Session, subject: Subject, patient_id: uuid.UUID,
                   data: PatientUpdate) -> Patient:
    require(db, subject, Action.EDIT, patient_id)
    patient = get_patient(db, patient_id)
    for key, value in data.model_dump().items():
        setattr(patient, key, value)
    patient.updated_at = utcnow()
    audit.record(db, patient_id, "patient.update")
    return patient


def relatives(db: Session, patient_id: uuid.UUID) -> list[Relative]:
    return list(
        db.scalars(select(Relative).where(Relative.patient_id == patient_id)
                   .order_by(Relative.created_at))
    )


def add_relative(db: Session, subject: Subject, patient_id: uuid.UUID,
                 data: RelativeCreate) -> Relative:
    require(db, subject, Action.EDIT, patient_id)
    relative = Relative(
        patient_id=patient_id,
        documented_by_unit_id=subject.unit_id,
        created_at=utcnow(),
        **data.model_dump(),
    )
    db.add(relative)
    db.flush()
    audit.record(db, patient_id, "relative.add")
    return relative


def remove_relative(db: Session, subject: Subject, patient_id: uuid.UUID,
                    relative_id: uuid.UUID) -> None:
    require(db, subject, Action.EDIT, patient_id)
    relative = db.get(Relative, relative_id)
    if relative is None or relative.patient_id != patient_id:
        raise NotFound()
    db.delete(relative)
    db.flush()
    audit.record(db, patient_id, "relative.remove")


def search(db: Session, subject: Subject, query: str, limit: int = 50) -> list[Patient]:
    """Search among the patients the user may see; no one else exists for them."""
    query = (query or "").strip()
    if len(query) < 2:
        raise Invalid("Enter at least two characters", field="q")
    if has_control_characters(query):
        raise Invalid("Contains characters that are not allowed", field="q")
    require(db, subject, Action.READ)  # role
    stmt = select(Patient).where(Patient.id.in_(accessible_patients(subject)))
    try:
        number = parse(query).number
        stmt = stmt.where(Patient.personnummer == number)
    except InvalidPersonnummer:
        digits = query.replace("-", "")
        if digits.isdigit():
            stmt = stmt.where(Patient.personnummer.contains(digits))
        else:
            pattern = f"%{query.lower()}%"
            stmt = stmt.where(
                or_(
                    func.lower(Patient.family_name).like(pattern),
                    func.lower(Patient.given_name).like(pattern),
                    func.lower(Patient.given_name + " " + Patient.family_name).like(pattern),
                )
            )
    patients = list(db.scalars(stmt.order_by(Patient.family_name, Patient.given_name)
                               .limit(limit)))
    decisions = decisions_for(db, subject, [p.id for p in patients])
    log_listed(db, decisions, "patient.search")
    return [p for p in patients if decisions[p.id]]
