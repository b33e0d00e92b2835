"""What an assessment and the physician's decision look like on the way in."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from hemma.kit.validation import DbId, Schema, Text

Status = Literal["met", "not_met", "not_assessed"]
Note = Text | None


class Part(Schema):
    status: Status = "not_assessed"
    note: Note = Field(default=None, max_length=2000)


class HomePart(Part):
    """Hemsituation: who is there, how to get in, and what the home is like."""

    lives_alone: bool | None = None
    relatives_help: bool | None = None
    stairs: bool | None = None
    access: Text | None = Field(default=None, max_length=300)  # how to get in: key box, code
    heating_ok: bool | None = None
    pets: Text | None = Field(default=None, max_length=200)


INFORMATION_ITEMS = ("home_care", "measuring", "whom_to_call", "written_material")


class Information(Schema):
    given: list[Literal[INFORMATION_ITEMS]] = Field(default_factory=list, max_length=10)
    how: Literal["oral", "written", "both"] | None = None
    consent_home: bool = False  # the patient consents to care at home
    relatives_informed: bool = False
    note: Note = Field(default=None, max_length=2000)
    # Organisations of the care team the patient consents to share with now (Step 1's
    # consent, recorded for each).
    consent_organisations: list[DbId] = Field(default_factory=list, max_length=10)
    consent_method: Literal["oral", "written"] = "oral"

    @model_validator(mode="after")
    def _how_if_given(self):
        if self.given and self.how is None:
            raise ValueError("Say how the information was given")
        return self


class AssessmentCreate(Schema):
    adl: Part = Field(default_factory=Part)
    mobility: Part = Field(default_factory=Part)
    home: HomePart = Field(default_factory=HomePart)
    medication: Part = Field(default_factory=Part)
    stability_note: Note = Field(default=None, max_length=2000)
    # The pathway's criteria: inclusion keys that hold, exclusion keys that are present.
    inclusion: list[Text] = Field(default_factory=list, max_length=20)
    exclusion: list[Text] = Field(default_factory=list, max_length=20)
    diagnosis_note: Note = Field(default=None, max_length=2000)
    information: Information = Field(default_factory=Information)


class DecisionCreate(Schema):
    decision: Literal["admit", "not_admit"]
    version: int = Field(ge=1, le=10_000)  # the version the physician read
    reason: Text | None = Field(default=None, max_length=2000)
