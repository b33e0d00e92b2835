"""Input and output shapes for patients and relatives (API and forms share them)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from hemma.kit.validation import Email, LocalFloat, Phone, PostalCode, Schema, Text
from hemma.models.patients import LANGUAGES, DigitalAbility
from hemma.patients.personnummer import InvalidPersonnummer, parse


class PatientContact(Schema):
    street: Text | None = Field(default=None, max_length=200)
    postal_code: PostalCode | None = None
    city: Text | None = Field(default=None, max_length=100)
    phone: Phone | None = None
    # Where notices of new messages go ("Du har ett nytt meddelande från …"); without it,
    # an SMS to the phone when Hemma has an SMS provider.
    email: Email | None = None
    language: str = "sv"
    interpreter_needed: bool = False
    digital_ability: DigitalAbility = DigitalAbility.WITH_SUPPORT

    @field_validator("language")
    @classmethod
    def _language(cls, value: str) -> str:
        if value not in LANGUAGES:
            raise ValueError("Choose one of the options")
        return value


# Why a unit joins the care team of a patient who is already in Hemma: a care relationship
# needs a reason someone reviewing the log can judge.
JOIN_REASONS = ("care_request", "visit_booked", "referral", "other")


class GivenPosition(Schema):
    """Coordinates another system may send with the address (staff never type them: Hemma
    looks the address up). Both or neither; within Sweden's bounding box, which catches
    swapped latitude and longitude. Without them the address is looked up."""

    latitude: float | None = Field(default=None, ge=55.0, le=69.1)
    longitude: float | None = Field(default=None, ge=10.9, le=24.2)


class PatientCreate(PatientContact, GivenPosition):
    personnummer: str = Field(max_length=20)
    given_name: Text = Field(min_length=1, max_length=100)
    family_name: Text = Field(min_length=1, max_length=100)
    # Only when the personnummer is already in Hemma (the form asks then).
    join_reason: Literal[JOIN_REASONS] | None = None  # type: ignore[valid-type]
    join_note: Text | None = Field(default=None, max_length=500)

    @field_validator("personnummer")
    @classmethod
    def _valid_number(cls, value: str) -> str:
        try:
            return parse(value, today=date.today()).number
        except InvalidPersonnummer as exc:
            raise ValueError(str(exc)) from None


class PatientUpdate(PatientContact, GivenPosition):
    given_name: Text = Field(min_length=1, max_length=100)
    family_name: Text = Field(min_length=1, max_length=100)


class PositionCorrection(Schema):
    """Correcting where the home is on the map: look the address up again, or take the
    position of the staff member's phone at the door (what its browser measured)."""

    method: Literal["lookup", "device"]
    latitude: LocalFloat | None = Field(default=None, allow_inf_nan=False)
    longitude: LocalFloat | None = Field(default=None, allow_inf_nan=False)
    accuracy_m: LocalFloat | None = Field(default=None, ge=0, le=1_000_000, allow_inf_nan=False)


class RelativeCreate(Schema):
    name: Text = Field(min_length=1, max_length=200)
    relation: Text = Field(min_length=1, max_length=100)
    phone: Phone | None = None
    email: Email | None = None
    is_primary_contact: bool = False
    may_receive_information: bool = False
    note: Text | None = Field(default=None, max_length=1000)


class RelativeRead(BaseModel):
    id: uuid.UUID
    name: str
    relation: str
    phone: str | None
    email: str | None
    is_primary_contact: bool
    may_receive_information: bool
    note: str | None
    # What the patient lets the relative see on the patient's page (patients.relatives.SHARES).
    shares: list[str] = []


class RelativeShares(Schema):
    shares: list[str] = Field(default_factory=list, max_length=10)


class PatientRead(BaseModel):
    id: uuid.UUID
    personnummer: str
    is_coordination_number: bool
    birth_date: date
    given_name: str
    family_name: str
    street: str | None
    postal_code: str | None
    city: str | None
    latitude: float | None
    longitude: float | None
    # Where the position came from ("geocoder", "postal_codes", "device", "system"), how near
    # the house it is ("door", "address", "street", "locality", "postal_code"; None: not
    # known), and what it was found as ("921 31 Lycksele").
    position_source: str | None
    position_precision: str | None
    position_place: str | None
    position_accuracy_m: int | None
    position_at: datetime | None
    phone: str | None
    email: str | None
    language: str
    interpreter_needed: bool
    digital_ability: str
    relatives: list[RelativeRead] = []
