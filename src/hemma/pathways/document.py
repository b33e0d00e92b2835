"""What a pathway (vårdprogram) holds, as one document that is validated, stored, exported
and imported the same way: the assessment's criteria, the monitoring schedule and alert
rules, the symptom questions, the visits the plan proposes, the agreement's template, the
logistics checklist, the homecoming call's questions and the expected length of stay.

Pure: values in, values out. Every field is bounded, and an error names its field by its
path in the document ("monitoring.schedule.1")."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field, model_validator

from hemma.kit.errors import Invalid
from hemma.kit.text import N_
from hemma.kit.validation import Clock, Schema, Text, load_json, parse
from hemma.models.careplans import ChecklistCategory
from hemma.models.directory import OrganisationKind, UnitKind
from hemma.models.planning import CareKind
from hemma.monitoring.rules import (
    MAX_KEY_LENGTH,
    MAX_RULE_VALUE,
    MAX_WITHIN_HOURS,
    OPERATORS,
    SEVERITIES,
    VALUE_PARAMETERS,
    Rule,
)

Key = Annotated[str, Field(min_length=1, max_length=MAX_KEY_LENGTH, pattern=r"^[a-z0-9_]+$")]
Line = Annotated[Text, Field(min_length=1, max_length=500)]


def _unique_keys(items: list) -> None:
    keys = [i.key for i in items]
    if len(keys) != len(set(keys)):
        raise ValueError(N_("Two entries have the same key: each needs its own"))


class Criterion(Schema):
    key: Key
    text: Line


class SymptomQuestion(Schema):
    """A yes/no question the patient answers with their values; a yes to one with an
    `alert` raises an alert of that severity."""

    key: Key
    text: Line
    alert: Literal[SEVERITIES] | None = None


class AlertRule(Schema):
    key: Key
    parameter: Literal[VALUE_PARAMETERS]
    op: Literal[tuple(OPERATORS)]
    value: float = Field(ge=-MAX_RULE_VALUE, le=MAX_RULE_VALUE)
    severity: Literal[SEVERITIES]
    within_hours: float | None = Field(default=None, gt=0, le=MAX_WITHIN_HOURS)

    def stored(self) -> dict:
        return Rule(key=self.key, parameter=self.parameter, op=self.op, value=self.value,
                    severity=self.severity, within_hours=self.within_hours).to_dict()


class Monitoring(Schema):
    """When the patient measures (Swedish wall-clock times ± tolerance), and what alerts
    beyond NEWS2."""

    schedule: list[Clock] = Field(default_factory=list, max_length=12)
    tolerance_minutes: int = Field(default=60, ge=10, le=240)
    rules: list[AlertRule] = Field(default_factory=list, max_length=30)
    symptom_questions: list[SymptomQuestion] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _distinct(self):
        if len(set(self.schedule)) != len(self.schedule):
            raise ValueError("A time is given twice")
        self.schedule = sorted(self.schedule)
        _unique_keys(self.rules)
        _unique_keys(self.symptom_questions)
        return self


class VisitTemplate(Schema):
    """Visits the shared plan proposes, e.g. OPAT: IV antibiotics 08/14/20 by
    hemsjukvården, 30 minutes, a nurse who gives IV treatment."""

    key: Key
    what: Line
    care_kind: CareKind
    organisation_kind: OrganisationKind
    unit_kind: UnitKind | None = None
    times: list[Clock] = Field(min_length=1, max_length=8)
    tolerance_minutes: int = Field(default=30, ge=0, le=240)
    duration_minutes: int = Field(ge=5, le=480)
    skills: list[Annotated[str, Field(min_length=1, max_length=40)]] = Field(
        default_factory=list, max_length=10)
    staff_count: int = Field(default=1, ge=1, le=2)

    @model_validator(mode="after")
    def _distinct(self):
        if len(set(self.times)) != len(self.times):
            raise ValueError("A time is given twice")
        self.times = sorted(self.times)
        return self


class IfWorse(Schema):
    """What to do if worse, per symptom: call the team, press "Jag mår sämre", call 112."""

    symptom: Line
    action: Literal["call_team", "feeling_worse", "call_112"]


class AgreementTemplate(Schema):
    patient_tasks: list[Line] = Field(default_factory=list, max_length=20)
    team_tasks: list[Line] = Field(default_factory=list, max_length=20)
    if_worse: list[IfWorse] = Field(default_factory=list, max_length=20)
    end_criteria: Text | None = Field(default=None, max_length=2000)


class ChecklistEntry(Schema):
    """Something that must be in the home before the patient: what, who provides it (an
    organisation, and the kind of unit if it matters), and how long before homecoming."""

    category: ChecklistCategory
    what: Line
    provider: OrganisationKind
    unit_kind: UnitKind | None = None
    hours_before: int = Field(default=0, ge=0, le=14 * 24)


class Question(Schema):
    key: Key
    text: Line


class PathwayDocument(Schema):
    code: Annotated[str, Field(min_length=2, max_length=40, pattern=r"^[a-z0-9_]+$")]
    name: Annotated[Text, Field(min_length=1, max_length=200)]
    description: Text | None = Field(default=None, max_length=4000)
    expected_days: int = Field(ge=1, le=90)
    inclusion_criteria: list[Criterion] = Field(default_factory=list, max_length=20)
    exclusion_criteria: list[Criterion] = Field(default_factory=list, max_length=20)
    monitoring: Monitoring = Field(default_factory=Monitoring)
    visit_templates: list[VisitTemplate] = Field(default_factory=list, max_length=10)
    agreement: AgreementTemplate = Field(default_factory=AgreementTemplate)
    checklist: list[ChecklistEntry] = Field(default_factory=list, max_length=40)
    homecoming_questions: list[Question] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _distinct(self):
        _unique_keys(self.inclusion_criteria + self.exclusion_criteria)
        _unique_keys(self.visit_templates)
        _unique_keys(self.homecoming_questions)
        return self

    def columns(self) -> dict[str, Any]:
        """The document as the pathway table's columns."""
        return {
            "code": self.code, "name": self.name, "description": self.description,
            "expected_days": self.expected_days,
            "inclusion_criteria": [c.model_dump() for c in self.inclusion_criteria],
            "exclusion_criteria": [c.model_dump() for c in self.exclusion_criteria],
            "schedule": list(self.monitoring.schedule),
            "tolerance_minutes": self.monitoring.tolerance_minutes,
            "rules": [r.stored() for r in self.monitoring.rules],
            "symptom_questions": [q.model_dump(exclude_none=True)
                                  for q in self.monitoring.symptom_questions],
            "visit_templates": [v.model_dump(mode="json", exclude_none=True)
                                for v in self.visit_templates],
            "agreement_template": self.agreement.model_dump(mode="json", exclude_none=True),
            "checklist_template": [c.model_dump(mode="json", exclude_none=True)
                                   for c in self.checklist],
            "homecoming_questions": [q.model_dump() for q in self.homecoming_questions],
        }


def from_columns(row: Any) -> dict[str, Any]:
    """A stored pathway (any object with the table's columns) as a document: what export
    writes and the edit page shows. Stored rows are not trusted blindly: `validate` it."""
    return {
        "code": row.code, "name": row.name, "description": row.description,
        "expected_days": row.expected_days or 1,
        "inclusion_criteria": list(row.inclusion_criteria or []),
        "exclusion_criteria": list(row.exclusion_criteria or []),
        "monitoring": {"schedule": list(row.schedule or []),
                       "tolerance_minutes": row.tolerance_minutes or 60,
                       "rules": list(row.rules or []),
                       "symptom_questions": list(row.symptom_questions or [])},
        "visit_templates": list(row.visit_templates or []),
        "agreement": dict(row.agreement_template or {}),
        "checklist": list(row.checklist_template or []),
        "homecoming_questions": list(row.homecoming_questions or []),
    }


def validate(data: Any) -> PathwayDocument:
    if not isinstance(data, dict):
        raise Invalid(N_("A pathway is one object with named fields"), field="document")
    return parse(PathwayDocument, data)


def read_text(text: str, fmt: Literal["json", "yaml"]) -> PathwayDocument:
    """A pathway from the JSON or YAML a medical lead uploads or pastes."""
    if fmt == "json":
        data = load_json(text, field="document")
    else:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = {"line": mark.line + 1} if mark is not None else {"line": "?"}
            raise Invalid(N_("The YAML cannot be read (line %(line)s)"), field="document",
                          **where) from None
    return validate(data)


def write_text(document: dict[str, Any], fmt: Literal["json", "yaml"]) -> str:
    if fmt == "json":
        return json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    return yaml.safe_dump(document, allow_unicode=True, sort_keys=False, width=100)
