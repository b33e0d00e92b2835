"""Vital signs between Hemma and FHIR R4 (pure: values in, values out).

Hemma stores one submission of values measured together as one row; FHIR has one Observation
per vital sign, coded with LOINC as the vital-signs profile asks (category `vital-signs`, the
profile's codes and UCUM units), the blood pressure as a panel with two components, and the
NEWS2 score as an Observation of its own whose `derivedFrom` names the values it used. Each
FHIR Observation's id is the row's id and the parameter ("<uuid>-temp"), so a read finds the
row again.

The other way, `values_from()` turns a device's Observation into the fields of a Hemma
submission, or says by name what is wrong with it (an unknown code, a unit that is not the
code's)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from hemma.kit.text import N_

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/observation-category"
VITALS_PROFILE = "http://hl7.org/fhir/StructureDefinition/vitalsigns"
ACVPU_SYSTEM = "urn:hemma:acvpu"  # Hemma's own: A, C, V, P, U as on the NEWS2 chart


@dataclass(frozen=True)
class Vital:
    field: str  # the column of Hemma's observations
    code: str  # LOINC
    display: str
    unit: str | None  # UCUM, None for a coded value
    unit_display: str | None = None
    integer: bool = False
    vital_sign: bool = True  # in the vital-signs profile (else the survey category)


# The vital-signs profile's codes and units, and the other values a patient or a device sends.
VITALS: tuple[Vital, ...] = (
    Vital("respiration_rate", "9279-1", "Respiratory rate", "/min", "breaths/minute",
          integer=True),
    Vital("spo2", "59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry", "%", "%",
          integer=True),
    Vital("temperature", "8310-5", "Body temperature", "Cel", "C"),
    Vital("pulse", "8867-4", "Heart rate", "/min", "beats/minute", integer=True),
    Vital("weight", "29463-7", "Body weight", "kg", "kg"),
    Vital("blood_glucose", "15074-8", "Glucose [Moles/volume] in Blood", "mmol/L", "mmol/L"),
    Vital("pain", "72514-3", "Pain severity - 0-10 verbal numeric rating [Score] - Reported",
          "{score}", "score", integer=True, vital_sign=False),
    Vital("consciousness", "67775-7", "Level of responsiveness", None, vital_sign=False),
)
BY_FIELD = {v.field: v for v in VITALS}
BY_CODE = {v.code: v for v in VITALS}
# Accepted from devices besides the profile's own code: SpO2 by the older code.
ALIASES = {"2708-6": "spo2", "59408-5": "spo2"}

BP_PANEL = Vital("blood_pressure", "85354-9", "Blood pressure panel with all children optional",
                 None)
SYSTOLIC = Vital("systolic_bp", "8480-6", "Systolic blood pressure", "mm[Hg]", "mmHg",
                 integer=True)
DIASTOLIC = Vital("diastolic_bp", "8462-4", "Diastolic blood pressure", "mm[Hg]", "mmHg",
                  integer=True)
NEWS2_CODE = "1104051000000101"
NEWS2_DISPLAY = "Royal College of Physicians National Early Warning Score 2 (NEWS2) score"
ACVPU = {"A": "Alert", "C": "New confusion", "V": "Voice", "P": "Pain", "U": "Unresponsive"}

# The parameter part of an Observation id, in the order they are listed.
PARAMETERS = tuple(v.field for v in VITALS[:4]) + ("blood_pressure",) + tuple(
    v.field for v in VITALS[4:]) + ("news2",)


# FHIR ids are letters, digits, "-" and "." (at most 64): each parameter's short name in them.
SLUGS = {"respiration_rate": "rr", "spo2": "spo2", "temperature": "temp", "pulse": "pulse",
         "blood_pressure": "bp", "weight": "weight", "blood_glucose": "glucose", "pain": "pain",
         "consciousness": "acvpu", "news2": "news2"}
BY_SLUG = {slug: parameter for parameter, slug in SLUGS.items()}


def resource_id(row_id: uuid.UUID, parameter: str) -> str:
    return f"{row_id}-{SLUGS[parameter]}"


def split_id(resource_id: str) -> tuple[uuid.UUID, str] | None:
    """The row id and the parameter of an Observation id, or None for an id Hemma never made."""
    head, slug = resource_id[:36], resource_id[37:]
    if resource_id[36:37] != "-" or slug not in BY_SLUG:
        return None
    try:
        row_id = uuid.UUID(head)
    except ValueError:
        return None
    # Ids are case-sensitive: only the form Hemma made names the row.
    return (row_id, BY_SLUG[slug]) if str(row_id) == head else None


def _coding(system: str, code: str, display: str) -> dict:
    return {"system": system, "code": code, "display": display}


def _category(vital_sign: bool) -> list[dict]:
    code = "vital-signs" if vital_sign else "survey"
    display = "Vital Signs" if vital_sign else "Survey"
    return [{"coding": [_coding(CATEGORY_SYSTEM, code, display)]}]


def _quantity(vital: Vital, value: float | int) -> dict:
    return {"value": int(value) if vital.integer else float(value), "unit": vital.unit_display,
            "system": UCUM, "code": vital.unit}


@dataclass(frozen=True)
class Context:
    """What every Observation of a row shares: whose, when, by whom, for which episode."""

    patient: str  # "Patient/<id>"
    effective: str  # an instant with its offset
    issued: str
    performer: list[dict]
    encounter: str | None = None  # not used by Hemma's rows; kept for the shape
    device: dict | None = None  # the Device that sent it (a reference with its name)
    version: str = "1"
    last_updated: str | None = None


def observations(row: Any, ctx: Context, parameters: Iterable[str] | None = None) -> list[dict]:
    """The FHIR Observations of one stored submission (`row` has the columns of Hemma's
    observations): one per value present, the blood pressure as a panel, and NEWS2 when it
    was scored. `parameters` limits them (a search by code)."""
    wanted = set(parameters) if parameters is not None else None
    out: list[dict] = []
    used: list[str] = []

    def base(parameter: str, vital: Vital, code_system: str = LOINC) -> dict:
        rid = resource_id(row.id, parameter)
        resource = {
            "resourceType": "Observation", "id": rid,
            "meta": {"versionId": ctx.version, **({"lastUpdated": ctx.last_updated}
                                                 if ctx.last_updated else {})},
            "status": "final", "category": _category(vital.vital_sign),
            "code": {"coding": [_coding(code_system, vital.code, vital.display)],
                     "text": vital.display},
            "subject": {"reference": ctx.patient}, "effectiveDateTime": ctx.effective,
            "issued": ctx.issued,
        }
        if vital.vital_sign:
            resource["meta"]["profile"] = [VITALS_PROFILE]
        if ctx.performer:
            resource["performer"] = ctx.performer
        if ctx.device:
            resource["device"] = ctx.device
        return resource

    for parameter in PARAMETERS:
        if parameter == "blood_pressure":
            if row.systolic_bp is None and row.diastolic_bp is None:
                continue
            used.append(resource_id(row.id, parameter))
            if wanted is not None and parameter not in wanted:
                continue
            resource = base(parameter, BP_PANEL)
            resource["meta"]["profile"] = [VITALS_PROFILE]
            resource["component"] = [
                {"code": {"coding": [_coding(LOINC, part.code, part.display)]},
                 "valueQuantity": _quantity(part, value)}
                for part, value in ((SYSTOLIC, row.systolic_bp), (DIASTOLIC, row.diastolic_bp))
                if value is not None]
            out.append(resource)
            continue
        if parameter == "news2":
            continue
        vital = BY_FIELD[parameter]
        value = getattr(row, parameter)
        if value is None:
            continue
        used.append(resource_id(row.id, parameter))
        if wanted is not None and parameter not in wanted:
            continue
        resource = base(parameter, vital)
        if vital.unit is None:
            resource["valueCodeableConcept"] = {
                "coding": [_coding(ACVPU_SYSTEM, value, ACVPU.get(value, value))],
                "text": ACVPU.get(value, value)}
        else:
            resource["valueQuantity"] = _quantity(vital, value)
        out.append(resource)
    if row.news2_total is not None and (wanted is None or "news2" in wanted):
        score = Vital("news2", NEWS2_CODE, NEWS2_DISPLAY, "{score}", "score", integer=True,
                      vital_sign=False)
        resource = base("news2", score, SNOMED)
        resource["valueQuantity"] = _quantity(score, row.news2_total)
        resource["derivedFrom"] = [{"reference": f"Observation/{rid}"} for rid in used]
        if row.news2_partial:
            # Scored on the values sent: some parameters were missing.
            resource["note"] = [{"text": "Partial score: not every NEWS2 parameter was "
                                         "measured."}]
        elif row.news2_band:
            resource["interpretation"] = [{"text": row.news2_band}]
        out.append(resource)
    return out


# --- From a device -------------------------------------------------------------------------


class NotUnderstood(ValueError):
    """A FHIR resource Hemma cannot take as it is; `path` names the element. The message is a
    msgid with its `params` (put into words in the caller's language)."""

    def __init__(self, message: str, path: str, **params) -> None:
        super().__init__(message % params if params else message)
        self.message, self.path, self.params = message, path, params


def _codes(concept: Mapping | None) -> list[tuple[str | None, str | None]]:
    if not isinstance(concept, Mapping):
        return []
    return [(c.get("system"), c.get("code")) for c in concept.get("coding") or []
            if isinstance(c, Mapping)]


def _value(vital: Vital, quantity: Any, path: str) -> float | int:
    if not isinstance(quantity, Mapping) or "value" not in quantity:
        raise NotUnderstood(N_("A value with its unit is needed"), path)
    unit = quantity.get("code") or quantity.get("unit")
    if quantity.get("system") not in (None, UCUM) or unit != vital.unit:
        raise NotUnderstood(N_("The unit must be %(unit)s (UCUM) for %(what)s"),
                            f"{path}.code", unit=vital.unit, what=vital.display)
    value = quantity["value"]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise NotUnderstood(N_("The value must be a number"), f"{path}.value")
    if vital.integer:
        if value != int(value):
            raise NotUnderstood(N_("The value must be a whole number"), f"{path}.value")
        return int(value)
    return float(value)


def values_from(resource: Mapping) -> dict:
    """The fields of a Hemma submission in a device's vital-sign Observation (one value, or
    the blood pressure panel). Raises NotUnderstood naming the element otherwise."""
    codes = [code for system, code in _codes(resource.get("code")) if system == LOINC]
    if not codes:
        raise NotUnderstood(N_("The code must be a LOINC code of a vital sign"),
                            "Observation.code")
    if BP_PANEL.code in codes:
        out: dict = {}
        for i, component in enumerate(resource.get("component") or []):
            part_codes = [c for s, c in _codes(component.get("code")) if s == LOINC]
            part = SYSTOLIC if SYSTOLIC.code in part_codes else (
                DIASTOLIC if DIASTOLIC.code in part_codes else None)
            if part is None:
                raise NotUnderstood(N_("A blood pressure component must be systolic (8480-6) "
                                       "or diastolic (8462-4)"),
                                    f"Observation.component[{i}].code")
            out[part.field] = _value(part, component.get("valueQuantity"),
                                     f"Observation.component[{i}].valueQuantity")
        if not out:
            raise NotUnderstood(N_("The blood pressure panel has no values"),
                                "Observation.component")
        return out
    for code in codes:
        field = ALIASES.get(code) or (BY_CODE[code].field if code in BY_CODE else None)
        if field is None:
            continue
        vital = BY_FIELD[field]
        if vital.unit is None:
            concept = resource.get("valueCodeableConcept")
            letters = [c for s, c in _codes(concept) if s == ACVPU_SYSTEM and c in ACVPU]
            if not letters:
                raise NotUnderstood(N_("The value must be one of %(codes)s (%(system)s)"),
                                    "Observation.valueCodeableConcept",
                                    codes=", ".join(ACVPU), system=ACVPU_SYSTEM)
            return {field: letters[0]}
        return {field: _value(vital, resource.get("valueQuantity"),
                              "Observation.valueQuantity")}
    raise NotUnderstood(N_("Hemma does not take this code: %(codes)s"), "Observation.code",
                        codes=", ".join(codes))
