"""Patients and their relatives (närstående)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import JSON, Boolean, Date, Float, ForeignKey, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hemma.models.base import Base, uuid_pk

# Languages the team may need to speak with the patient in (ISO 639-1; "other" for the rest).
LANGUAGES = ("sv", "en", "fi", "se", "ar", "so", "ti", "fa", "pl", "other")


class DigitalAbility(StrEnum):
    INDEPENDENT = "independent"  # reports values on their own phone or tablet
    WITH_SUPPORT = "with_support"  # can, with help from relatives or staff
    NONE = "none"  # staff report on the patient's behalf (phone or visit)


class Patient(Base):
    __tablename__ = "patients"

    id: Mapped[uuid.UUID] = uuid_pk()
    # Twelve digits, no separator; samordningsnummer have the day of birth plus 60.
    personnummer: Mapped[str] = mapped_column(String(12), unique=True)
    is_coordination_number: Mapped[bool] = mapped_column(Boolean, default=False)
    birth_date: Mapped[date] = mapped_column(Date)
    given_name: Mapped[str] = mapped_column(String(100))
    family_name: Mapped[str] = mapped_column(String(100), index=True)
    street: Mapped[str | None] = mapped_column(String(200))
    postal_code: Mapped[str | None] = mapped_column(String(10))
    city: Mapped[str | None] = mapped_column(String(100))
    # Where the home is, for planning visits: looked up from the address, measured at the
    # door, or sent by another system. The source and precision say how far to trust it
    # (hemma.geo.geocoding.SOURCES and PRECISIONS): a postal code's centre can be kilometres
    # from the house.
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    position_source: Mapped[str | None] = mapped_column(String(20))
    position_precision: Mapped[str | None] = mapped_column(String(20))
    position_place: Mapped[str | None] = mapped_column(String(200))  # what it was found as
    position_accuracy_m: Mapped[int | None] = mapped_column(Integer)  # measured at the door: ±
    position_at: Mapped[datetime | None]
    phone: Mapped[str | None] = mapped_column(String(40))
    # Where notices of new messages go (hemma.notifications); never anything about health.
    email: Mapped[str | None] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(10), default="sv")
    interpreter_needed: Mapped[bool] = mapped_column(Boolean, default=False)
    digital_ability: Mapped[str] = mapped_column(String(20), default=DigitalAbility.WITH_SUPPORT)
    registered_by_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    relatives: Mapped[list[Relative]] = relationship(
        back_populates="patient", lazy="raise", order_by="Relative.created_at"
    )

    @property
    def full_name(self) -> str:
        return f"{self.given_name} {self.family_name}"


class Relative(Base):
    __tablename__ = "relatives"

    id: Mapped[uuid.UUID] = uuid_pk()
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    relation: Mapped[str] = mapped_column(String(100))  # e.g. "dotter", "make"
    phone: Mapped[str | None] = mapped_column(String(40))
    email: Mapped[str | None] = mapped_column(String(200))
    is_primary_contact: Mapped[bool] = mapped_column(Boolean, default=False)
    # The patient's permission for the team to share information with this relative.
    may_receive_information: Mapped[bool] = mapped_column(Boolean, default=False)
    note: Mapped[str | None] = mapped_column(Text)
    documented_by_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    created_at: Mapped[datetime]
    # What the patient lets this relative see on the patient's page with a login code of
    # their own (portal.relatives.SHARES); nothing until the patient says so.
    shares: Mapped[list] = mapped_column(JSON, default=list, server_default=text("'[]'"))
    shares_changed_at: Mapped[datetime | None]
    # "patient" when the patient chose on their own page; else the staff member who recorded
    # what the patient said.
    shares_changed_by: Mapped[str | None] = mapped_column(String(100))
    # A removed relative stays for the record (the messages they wrote name them), but has
    # no access and gets no notices.
    removed_at: Mapped[datetime | None]

    patient: Mapped[Patient] = relationship(back_populates="relatives", lazy="raise")
