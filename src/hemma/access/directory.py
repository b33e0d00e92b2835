"""Administration of units and staff accounts. An administrator manages their own
organisation only; being an administrator grants no access to patients."""

from __future__ import annotations

import re

from pydantic import Field, field_validator
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hemma.access import audit
from hemma.access.auth import MIN_PASSWORD_LENGTH, end_all_sessions, hash_password
from hemma.access.policy import Action, Subject
from hemma.access.service import require
from hemma.kit.errors import Conflict, Invalid, NotFound
from hemma.kit.time import utcnow
from hemma.kit.validation import DbId, Phone, Schema, Text
from hemma.models import Organisation, Profession, Staff, Unit, UnitKind


class UnitCreate(Schema):
    name: Text = Field(min_length=2, max_length=200)
    kind: UnitKind
    phone: Phone | None = None
    hsa_id: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9\-]+$")
    virtual_beds: int = Field(default=0, ge=0, le=500)


class UnitUpdate(UnitCreate):
    active: bool = True


def _skills(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list | tuple) or not all(isinstance(s, str) for s in value):
        raise ValueError("Skills are short words separated by commas")
    cleaned = sorted({s.strip().lower() for s in value if s and s.strip()})
    for s in cleaned:
        if not re.fullmatch(r"[a-zåäö0-9_\- ]{2,40}", s):
            raise ValueError("Skills are short words separated by commas")
    return cleaned


class StaffFields(Schema):
    given_name: Text = Field(min_length=1, max_length=100)
    family_name: Text = Field(min_length=1, max_length=100)
    profession: Profession
    unit_id: DbId
    skills: list[str] = []
    phone: Phone | None = None
    hsa_id: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9\-]+$")
    is_admin: bool = False
    is_log_reviewer: bool = False
    is_medical_lead: bool = False
    # Verksamhetsuppföljning: every unit's follow-up figures, never a patient; and the
    # pseudonymised research extract (with an ethics approval's reference).
    is_follow_up: bool = False
    is_research_exporter: bool = False

    @field_validator("skills", mode="before")
    @classmethod
    def _parse_skills(cls, value):
        return _skills(value)


class StaffCreate(StaffFields):
    username: str = Field(min_length=3, max_length=64, pattern=r"^[a-z0-9._\-]+$")
    password: str = Field(min_length=MIN_PASSWORD_LENGTH, max_length=200)


class StaffUpdate(StaffFields):
    active: bool = True
    password: str | None = Field(default=None, min_length=MIN_PASSWORD_LENGTH, max_length=200)


def organisation_units(db: Session, organisation_id: int) -> list[Unit]:
    return list(db.scalars(select(Unit).where(Unit.organisation_id == organisation_id)
                           .order_by(Unit.name)))


def all_units(db: Session) -> list[tuple[Unit, Organisation]]:
    return list(db.execute(select(Unit, Organisation).join(Organisation)
                           .where(Unit.active.is_(True))
                           .order_by(Organisation.name, Unit.name)).all())


def organisations(db: Session) -> list[Organisation]:
    return list(db.scalars(select(Organisation).order_by(Organisation.name)))


def organisation_staff(db: Session, organisation_id: int) -> list[tuple[Staff, Unit]]:
    return list(db.execute(
        select(Staff, Unit).join(Unit, Unit.id == Staff.unit_id)
        .where(Unit.organisation_id == organisation_id)
        .order_by(Staff.family_name, Staff.given_name)).all())


def active_staff(db: Session, profession: str | None = None) -> list[tuple[Staff, Unit]]:
    stmt = select(Staff, Unit).join(Unit, Unit.id == Staff.unit_id).where(Staff.active.is_(True))
    if profession:
        stmt = stmt.where(Staff.profession == profession)
    return list(db.execute(stmt.order_by(Staff.family_name, Staff.given_name)).all())


def _own_unit(db: Session, subject: Subject, unit_id: int) -> Unit:
    unit = db.get(Unit, unit_id)
    if unit is None or unit.organisation_id != subject.organisation_id:
        raise Invalid("Choose a unit of your own organisation", field="unit_id")
    return unit


def _flush_unique(db: Session, field_name: str, message: str) -> None:
    try:
        with db.begin_nested():
            db.flush()
    except IntegrityError:
        raise Conflict(message, field=field_name) from None


def create_unit(db: Session, subject: Subject, data: UnitCreate) -> Unit:
    require(db, subject, Action.ADMIN)
    unit = Unit(organisation_id=subject.organisation_id, **data.model_dump())
    db.add(unit)
    _flush_unique(db, "name", "A unit with that name or HSA-id already exists")
    audit.record(db, None, "admin.unit.create", basis="role", detail=unit.name)
    return unit


def update_unit(db: Session, subject: Subject, unit_id: int, data: UnitUpdate) -> Unit:
    require(db, subject, Action.ADMIN)
    unit = db.get(Unit, unit_id)
    if unit is None or unit.organisation_id != subject.organisation_id:
        raise NotFound()
    for key, value in data.model_dump().items():
        setattr(unit, key, value)
    _flush_unique(db, "name", "A unit with that name or HSA-id already exists")
    audit.record(db, None, "admin.unit.update", basis="role", detail=unit.name)
    return unit


def create_staff(db: Session, subject: Subject, data: StaffCreate) -> Staff:
    require(db, subject, Action.ADMIN)
    _own_unit(db, subject, data.unit_id)
    if db.scalar(select(Staff.id).where(func.lower(Staff.username) == data.username)):
        raise Conflict("That username is taken", field="username")
    staff = Staff(created_at=utcnow(), password_hash=hash_password(data.password),
                  **data.model_dump(exclude={"password"}))
    db.add(staff)
    _flush_unique(db, "username", "That username or HSA-id is taken")
    audit.record(db, None, "admin.staff.create", basis="role", detail=staff.username)
    return staff


def get_own_staff(db: Session, subject: Subject, staff_id: int) -> Staff:
    row = db.execute(select(Staff, Unit.organisation_id).join(Unit, Unit.id == Staff.unit_id)
                     .where(Staff.id == staff_id)).one_or_none()
    if row is None or row[1] != subject.organisation_id:
        raise NotFound()
    return row[0]


def update_staff(db: Session, subject: Subject, staff_id: int, data: StaffUpdate) -> Staff:
    require(db, subject, Action.ADMIN)
    staff = get_own_staff(db, subject, staff_id)
    _own_unit(db, subject, data.unit_id)
    if staff.id == subject.staff_id and (not data.active or not data.is_admin):
        raise Invalid("You cannot remove your own administrator access", field="is_admin")
    values = data.model_dump(exclude={"password"})
    for key, value in values.items():
        setattr(staff, key, value)
    if data.password:
        staff.password_hash = hash_password(data.password)
    # Checked before anything else reads the database (which would flush the change first,
    # and a taken HSA-id would then be a server error instead of a message on the field).
    _flush_unique(db, "hsa_id", "That HSA-id is taken")
    if not data.active or data.password:
        # A deactivated account or a reset password logs out everywhere at once.
        end_all_sessions(db, staff.id)
    audit.record(db, None, "admin.staff.update", basis="role", detail=staff.username)
    return staff
