"""Administration of units and staff accounts. An administrator manages their own
organisation only; being an administrator grants no access to patients."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydantic import Field, field_validator
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hemma.access import audit, totp
from hemma.access.auth import (
    MIN_PASSWORD_LENGTH,
    end_all_sessions,
    end_steps,
    hash_password,
    password_login_choice,
    passwords_allowed,
    store_password_login,
)
from hemma.access.policy import Action, Subject
from hemma.access.service import require
from hemma.config import get_settings
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

    @field_validator("hsa_id")
    @classmethod
    def _hsa_id_in_capitals(cls, value):
        # As HSA writes them (SE2321000222-1234): the login through the region's identity
        # provider finds the account by it.
        return value.upper() if value else value


class StaffCreate(StaffFields):
    username: str = Field(min_length=3, max_length=64, pattern=r"^[a-z0-9._\-]+$")
    # None: the account logs in only through the region's identity provider (its HSA-id).
    password: str | None = Field(default=None, min_length=MIN_PASSWORD_LENGTH, max_length=200)


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
    if not data.password and not (data.hsa_id and get_settings().oidc_enabled):
        # Neither way in: the account could never log in.
        raise Invalid("Give an initial password (or, with login through SITHS, an HSA-id)",
                      field="password")
    staff = Staff(created_at=utcnow(),
                  password_hash=hash_password(data.password) if data.password else None,
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
        end_steps(db, staff.id)
    audit.record(db, None, "admin.staff.update", basis="role", detail=staff.username)
    return staff


def reset_totp(db: Session, subject: Subject, staff_id: int) -> bool:
    """Forget a user's authenticator app (a lost or new phone): their next password login
    sets up a new one where codes are required. True if there was one."""
    require(db, subject, Action.ADMIN)
    staff = get_own_staff(db, subject, staff_id)
    had = totp.remove(db, staff.id)
    end_steps(db, staff.id)
    audit.record(db, None, "admin.staff.totp_reset", basis="role", detail=staff.username)
    return had


class LoginSettings(Schema):
    password_login: bool = False


@dataclass(frozen=True)
class LoginState:
    """How staff log in here, as the admin page shows it."""

    oidc_issuer: str  # empty: no identity provider configured
    passwords_allowed: bool
    choice: bool | None  # what an administrator chose; None: the environment's default
    default: bool  # HEMMA_PASSWORD_LOGIN
    totp_required: bool


def login_state(db: Session) -> LoginState:
    settings = get_settings()
    return LoginState(settings.oidc_issuer if settings.oidc_enabled else "",
                      passwords_allowed(db), password_login_choice(db),
                      settings.password_login, settings.totp_required)


def set_password_login(db: Session, subject: Subject, data: LoginSettings) -> None:
    """Allow or forbid password logins in the whole installation (for every organisation:
    they share the login page), at once. Forbidding them needs the region's identity
    provider configured, and an HSA-id on the administrator's own account: nobody turns
    off the way they themselves came in with no other way back."""
    require(db, subject, Action.ADMIN)
    if not data.password_login:
        if not get_settings().oidc_enabled:
            raise Invalid("Login with SITHS is not set up in this installation: without it, "
                          "passwords are the only way in and stay on.",
                          field="password_login")
        own = db.get(Staff, subject.staff_id)
        if not own.hsa_id:
            raise Invalid("Your own account has no HSA-id: you could not log in with SITHS "
                          "yourself. Add it first.", field="password_login")
    store_password_login(db, data.password_login, by=own_username(db, subject))
    audit.record(db, None, "admin.password_login", basis="role",
                 detail="on" if data.password_login else "off")


def own_username(db: Session, subject: Subject) -> str:
    return db.get(Staff, subject.staff_id).username
