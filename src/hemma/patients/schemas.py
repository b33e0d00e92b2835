"""Input and output shapes for patients and relatives (API and forms share them)."""

from __future__ import annotations

import uuid
from datetime import date

from pydantic import BaseModel, Field, field_validator

from hemma.kit.validation import Phone, PostalCode, Schema, Text
from hemma.models.patients import LANGUAGES, DigitalAbility
from hemma.patients.personnummer import InvalidPersonnummer, parse


class PatientContact(Schema):
    street: Text | None = Field(default=None, max_length=200)
    postal_code: PostalCode | None = None
    city: Text | None = Field(default=None, max_length=100)
    # Within Sweden's bounding box: catches swapped latitude and longitude.
    latitude: float | None = Field(default=None, ge=55.0, le=69.1)
    longitude: float | None = Field(default=None, ge=10.9, le=24.2)
    phone: Phone | None = None
    language: str = "sv"
    interpreter_needed: bool = False
    digital_ability: DigitalAbility = DigitalAbility.WITH_SUPPORT

    @field_validator("language")
    @classmethod
    def _language(cls, value: str) -> str:
        if value not in LANGUAGES:
            raise ValueError("Choose one of the options")
        return value


class PatientCreate(PatientContact):
    personnummer: str = Field(max_length=20)
    given_name: Text = Field(min_length=1, max_length=100)
    family_name: Text = Field(min_length=1, max_length=100)

    @field_validator("personnummer")
    @classmethod
    def _valid_number(cls, value: str) -> str:
        try:
            return parse(value, today=date.today()).number
        except InvalidPersonnummer as exc:
            raise ValueError(str(exc)) from None


class PatientUpdate(PatientContact):
    given_name: Text = Field(min_length=1, max_length=100)
    family_name: Text = Field(min_length=1, max_length=100)


class RelativeCreate(Schema):
    name: Text = Field(min_length=1, max_length=200)
    relation: Text = Field(min_length=1, max_length=100)
    phone: Phone | None = None
    email: Text | None = Field(default=None, max_length=200, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
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
    phone: str | None
    language: str
    interpreter_needed: bool
    digital_ability: str
    relatives: list[RelativeRead] = []
