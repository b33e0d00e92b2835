"""The vital signs as FHIR R4 Observations and back (the pure core): LOINC codes and UCUM
units of the vital-signs profile, the blood pressure panel, NEWS2 derived from the values it
used; every resource validates with fhir.resources; a device's Observation gives back the
values, and what Hemma cannot take is named by its element."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hemma.fhir import vitals
from hemma.fhir.vitals import NotUnderstood, values_from
from tests.fhir.validate import assert_r4

FIELDS = ("respiration_rate", "spo2", "temperature", "pulse", "weight", "blood_glucose", "pain",
          "consciousness", "systolic_bp", "diastolic_bp")


def _row(**values):
    base = {f: None for f in FIELDS}
    base.update(news2_total=None, news2_band=None, news2_partial=True)
    base.update(values)
    return SimpleNamespace(id=uuid.UUID("12345678-1234-5678-1234-567812345678"), **base)


CTX = vitals.Context(patient="Patient/p-1", effective="2026-12-04T08:00:00+01:00",
                     issued="2026-12-04T07:01:00+00:00",
                     performer=[{"reference": "Patient/p-1"}])
FULL = _row(respiration_rate=18, spo2=96, temperature=37.4, pulse=82, weight=71.5,
            blood_glucose=6.2, pain=3, consciousness="A", systolic_bp=132, diastolic_bp=84,
            news2_total=1, news2_band="low", news2_partial=False)


def _by_code(resources):
    return {r["code"]["coding"][0]["code"]: r for r in resources}


def test_every_value_becomes_a_valid_coded_observation():
    resources = vitals.observations(FULL, CTX)
    for r in resources:
        assert_r4(r)  # raises on anything R4(B) does not allow
    codes = _by_code(resources)
    assert set(codes) == {"9279-1", "59408-5", "8310-5", "8867-4", "29463-7", "15074-8",
                          "72514-3", "67775-7", "85354-9", vitals.NEWS2_CODE}
    temp = codes["8310-5"]
    assert temp["valueQuantity"] == {"value": 37.4, "unit": "C",
                                     "system": "http://unitsofmeasure.org", "code": "Cel"}
    assert temp["category"][0]["coding"][0]["code"] == "vital-signs"
    assert temp["meta"]["profile"] == [vitals.VITALS_PROFILE]
    assert temp["subject"] == {"reference": "Patient/p-1"}
    assert codes["8867-4"]["valueQuantity"]["value"] == 82
    assert isinstance(codes["8867-4"]["valueQuantity"]["value"], int)
    bp = codes["85354-9"]
    assert [(c["code"]["coding"][0]["code"], c["valueQuantity"]["value"],
             c["valueQuantity"]["code"]) for c in bp["component"]] == [
        ("8480-6", 132, "mm[Hg]"), ("8462-4", 84, "mm[Hg]")]
    assert "valueQuantity" not in bp
    assert codes["67775-7"]["valueCodeableConcept"]["coding"][0]["code"] == "A"
    assert codes["72514-3"]["category"][0]["coding"][0]["code"] == "survey"


def test_news2_is_derived_from_exactly_the_values_of_its_submission():
    resources = vitals.observations(FULL, CTX)
    news2 = _by_code(resources)[vitals.NEWS2_CODE]
    others = {f"Observation/{r['id']}" for r in resources if r is not news2}
    assert {d["reference"] for d in news2["derivedFrom"]} == others
    assert news2["valueQuantity"]["value"] == 1
    assert news2["interpretation"] == [{"text": "low"}]
    # A partial score says so, and has no band.
    partial = _row(temperature=38.9, news2_total=1, news2_partial=True)
    news2 = _by_code(vitals.observations(partial, CTX))[vitals.NEWS2_CODE]
    assert "interpretation" not in news2 and "Partial" in news2["note"][0]["text"]
    assert [d["reference"] for d in news2["derivedFrom"]] == [
        f"Observation/{FULL.id}-temp"]
    # Limited to one parameter, NEWS2 still names all it was derived from.
    only = vitals.observations(FULL, CTX, ["news2"])
    assert len(only) == 1 and len(only[0]["derivedFrom"]) == 9


def test_nothing_measured_gives_nothing_and_a_lone_systolic_is_a_panel_of_one():
    assert vitals.observations(_row(), CTX) == []
    (bp,) = vitals.observations(_row(systolic_bp=101), CTX)
    assert_r4(bp)
    assert [c["code"]["coding"][0]["code"] for c in bp["component"]] == ["8480-6"]


def test_ids_name_the_row_and_the_parameter():
    u = uuid.uuid4()
    for parameter in vitals.PARAMETERS:
        assert vitals.split_id(vitals.resource_id(u, parameter)) == (u, parameter)
    assert vitals.resource_id(u, "temperature") == f"{u}-temp"
    for bad in ("", "x", f"{u}", f"{u}-", f"{u}-height", f"{u}_pulse", f"{u}-temperature",
                f"{str(u).upper()}-pulse", f"{str(u).replace('-', '')}-pulse", "nonsense-" + "0" * 28
                + "-pulse", f"{str(u)[:-1]}g-pulse"):
        assert vitals.split_id(bad) is None, bad


@given(st.fixed_dictionaries({}, optional={
    "respiration_rate": st.integers(1, 80), "spo2": st.integers(50, 100),
    "temperature": st.floats(30, 44, allow_nan=False).map(lambda x: round(x, 1)),
    "pulse": st.integers(20, 250), "weight": st.floats(20, 300).map(lambda x: round(x, 1)),
    "blood_glucose": st.floats(1, 40).map(lambda x: round(x, 1)),
    "pain": st.integers(0, 10), "consciousness": st.sampled_from("ACVPU"),
    "systolic_bp": st.integers(50, 250), "diastolic_bp": st.integers(30, 150)}))
def test_a_devices_observation_gives_back_exactly_its_values(values):
    """What Hemma sends out, a device could send in: each resource gives back its values."""
    back: dict = {}
    for r in vitals.observations(_row(**values), CTX):
        back.update(values_from(r))
    assert back == values


@pytest.mark.parametrize("resource,path", [
    ({"code": {"coding": [{"system": "http://snomed.info/sct", "code": "86290005"}]}},
     "Observation.code"),
    ({"code": {"coding": [{"system": vitals.LOINC, "code": "8302-2"}]},
      "valueQuantity": {"value": 180, "code": "cm", "system": vitals.UCUM}}, "Observation.code"),
    ({"code": {"coding": [{"system": vitals.LOINC, "code": "8310-5"}]},
      "valueQuantity": {"value": 99.1, "code": "[degF]", "system": vitals.UCUM}},
     "Observation.valueQuantity.code"),
    ({"code": {"coding": [{"system": vitals.LOINC, "code": "8310-5"}]}},
     "Observation.valueQuantity"),
    ({"code": {"coding": [{"system": vitals.LOINC, "code": "8867-4"}]},
      "valueQuantity": {"value": 72.5, "code": "/min", "system": vitals.UCUM}},
     "Observation.valueQuantity.value"),
    ({"code": {"coding": [{"system": vitals.LOINC, "code": "8867-4"}]},
      "valueQuantity": {"value": True, "code": "/min", "system": vitals.UCUM}},
     "Observation.valueQuantity.value"),
    ({"code": {"coding": [{"system": vitals.LOINC, "code": "8867-4"}]},
      "valueQuantity": {"value": "72", "code": "/min", "system": vitals.UCUM}},
     "Observation.valueQuantity.value"),
    ({"code": {"coding": [{"system": vitals.LOINC, "code": "85354-9"}]},
      "component": [{"code": {"coding": [{"system": vitals.LOINC, "code": "8478-0"}]},
                     "valueQuantity": {"value": 90, "code": "mm[Hg]"}}]},
     "Observation.component[0].code"),
    ({"code": {"coding": [{"system": vitals.LOINC, "code": "85354-9"}]}},
     "Observation.component"),
    ({"code": {"coding": [{"system": vitals.LOINC, "code": "67775-7"}]},
      "valueCodeableConcept": {"coding": [{"system": vitals.ACVPU_SYSTEM, "code": "X"}]}},
     "Observation.valueCodeableConcept"),
])
def test_what_hemma_cannot_take_is_named(resource, path):
    with pytest.raises(NotUnderstood) as e:
        values_from(resource)
    assert e.value.path == path


def test_spo2_by_the_older_code_is_taken():
    assert values_from({"code": {"coding": [{"system": vitals.LOINC, "code": "2708-6"}]},
                        "valueQuantity": {"value": 95, "code": "%"}}) == {"spo2": 95}
