"""Organisations (huvudmän), their units (vårdenheter) and staff accounts."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hemma.models.base import Base


class OrganisationKind(StrEnum):
    REGION = "region"
    KOMMUN = "kommun"


class UnitKind(StrEnum):
    HOSPITAL_CLINIC = "hospital_clinic"
    PRIMARY_CARE = "primary_care"
    MOBILE_TEAM = "mobile_team"
    HOME_HEALTH = "home_health"
    REHAB = "rehab"
    HOME_HELP = "home_help"
    OTHER = "other"


class Profession(StrEnum):
    PHYSICIAN = "physician"  # läkare
    NURSE = "nurse"  # sjuksköterska
    ASSISTANT_NURSE = "assistant_nurse"  # undersköterska
    PHYSIOTHERAPIST = "physiotherapist"  # fysioterapeut
    OCCUPATIONAL_THERAPIST = "occupational_therapist"  # arbetsterapeut
    COORDINATOR = "coordinator"  # samordnare
    ADMINISTRATIVE = "administrative"  # no clinical role: administrators, log reviewers
    SYSTEM = "system"  # an integration account, e.g. a device gateway


class Organisation(Base):
    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    org_number: Mapped[str | None] = mapped_column(String(20))  # organisationsnummer
    hsa_id: Mapped[str | None] = mapped_column(String(64), unique=True)

    units: Mapped[list[Unit]] = relationship(back_populates="organisation", lazy="raise")


class Unit(Base):
    __tablename__ = "units"
    __table_args__ = (UniqueConstraint("organisation_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(30))
    hsa_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    phone: Mapped[str | None] = mapped_column(String(40))
    # Capacity of the unit's home ward: how many virtual beds it can hold (0 = no home ward).
    virtual_beds: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Where the unit's staff start and end their day (the office), for visit planning.
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)

    organisation: Mapped[Organisation] = relationship(back_populates="units", lazy="raise")


class Staff(Base):
    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    given_name: Mapped[str] = mapped_column(String(100))
    family_name: Mapped[str] = mapped_column(String(100))
    profession: Mapped[str] = mapped_column(String(30))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    skills: Mapped[list[str]] = mapped_column(JSON, default=list)
    hsa_id: Mapped[str | None] = mapped_column(String(64), unique=True)  # for SITHS/OIDC login
    phone: Mapped[str | None] = mapped_column(String(40))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    is_log_reviewer: Mapped[bool] = mapped_column(Boolean, default=False)
    # Medicinskt ledningsansvar: edits the pathways (vårdprogram); grants no patient data.
    is_medical_lead: Mapped[bool] = mapped_column(Boolean, default=False)
    # Verksamhetsuppföljning: reads the follow-up figures of every unit, with small numbers
    # suppressed; grants no patient data (a unit's own care team reads its own unsuppressed).
    is_follow_up: Mapped[bool] = mapped_column(Boolean, default=False)
    # May take the pseudonymised research extract (logged); grants no patient data either.
    is_research_exporter: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime]

    unit: Mapped[Unit] = relationship(lazy="raise")

    @property
    def full_name(self) -> str:
        return f"{self.given_name} {self.family_name}"
