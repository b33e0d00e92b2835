"""FHIR R4's own example resources (tests/fhir/examples, see its README) against Hemma: each
vital sign Hemma takes is recorded with the value the example has; each one it does not take
as published is refused with an OperationOutcome naming the element (never a 500, never an
HTML or plain JSON error), and taken once only what Hemma reads is left; the Patient, which
Hemma does not take from outside, is refused as a method not supported or a wrong type."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from hemma.fhir.service import OBSERVATION_ELEMENTS
from hemma.kit.time import utcnow
from hemma.models import Observation
from tests.fhir.validate import assert_r4, fhir_client

EXAMPLES = Path(__file__).parent / "examples"
FHIR = {"Content-Type": "application/fhir+json"}


def example(name: str) -> dict:
    return json.loads((EXAMPLES / name).read_text())


def posted(resource: dict, pid) -> dict:
    """The example as a device would send it for our patient now: no server id, the subject
    our patient, a measurement time with its offset (the examples' are days or years old,
    some without a time)."""
    out = {k: v for k, v in resource.items() if k not in ("id", "effectivePeriod")}
    out["subject"] = {"reference": f"Patient/{pid}"}
    out["effectiveDateTime"] = utcnow().isoformat(timespec="seconds")
    return out


def only_what_hemma_reads(resource: dict) -> dict:
    return {k: v for k, v in resource.items() if k in OBSERVATION_ELEMENTS}


def is_outcome(r, status: int) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/fhir+json")
    body = r.json()
    assert body["resourceType"] == "OperationOutcome"
    assert_r4(body)
    return body["issue"][0]


@pytest.fixture
def sara(app, world, database):
    return fhir_client(app, database, world, "sara")


@pytest.fixture
def pid(world):
    pid = world.patient(unit="med")
    world.episode(pid, state="admitted")
    return pid


def _stored(database, pid) -> list[Observation]:
    with database.session() as s:
        return list(s.scalars(select(Observation).where(Observation.patient_id == pid)))


def test_the_examples_are_r4():
    for path in sorted(EXAMPLES.glob("*.json")):
        assert_r4(json.loads(path.read_text()))


@pytest.mark.parametrize("name, field, value", [
    ("observation-example-heart-rate.json", "pulse", 44),
    ("observation-example-respiratory-rate.json", "respiration_rate", 26),
    ("observation-example-body-temperature.json", "temperature", 36.5),
])
def test_the_vital_signs_examples_hemma_takes_are_recorded(sara, pid, database, name, field,
                                                           value):
    r = sara.post("/fhir/Observation", json=posted(example(name), pid), headers=FHIR)
    assert r.status_code == 201, r.text
    assert_r4(r.json())
    assert r.json()["code"]["coding"][0]["code"] == example(name)["code"]["coding"][0]["code"]
    assert r.json()["valueQuantity"]["value"] == value
    (row,) = _stored(database, pid)
    assert getattr(row, field) == value


@pytest.mark.parametrize("name, unread, recorded", [
    # Elements Hemma does not read are refused, not dropped: a value must not look accepted
    # with half of it ignored. With only what Hemma reads, the value is recorded.
    ("observation-example-bloodpressure.json", "basedOn",
     {"systolic_bp": 107, "diastolic_bp": 60}),
    ("observation-example-satO2.json", "interpretation", {"spo2": 95}),
    ("observation-example-f001-glucose.json", "interpretation", {"blood_glucose": 6.3}),
])
def test_examples_with_elements_hemma_does_not_read_are_refused_by_name(
        sara, pid, database, name, unread, recorded):
    resource = posted(example(name), pid)
    issue = is_outcome(sara.post("/fhir/Observation", json=resource, headers=FHIR), 422)
    assert issue["expression"] == [f"Observation.{unread}"]
    assert _stored(database, pid) == []
    r = sara.post("/fhir/Observation", json=only_what_hemma_reads(resource), headers=FHIR)
    assert r.status_code == 201, r.text
    assert_r4(r.json())
    (row,) = _stored(database, pid)
    assert {k: getattr(row, k) for k in recorded} == recorded
    # Resent with its own identifier as the condition (FHIR's glucose example has "6323",
    # the blood pressure a URN): the same Observation, nothing new stored.
    identifier = resource["identifier"][0]
    again = sara.post("/fhir/Observation", json=only_what_hemma_reads(resource), headers={
        **FHIR, "If-None-Exist": f"identifier={identifier['system']}|{identifier['value']}"})
    assert again.status_code == 200 and again.json()["id"] == r.json()["id"]
    assert len(_stored(database, pid)) == 1


def test_the_observation_example_a_weight_in_pounds_is_refused_by_its_unit(sara, pid,
                                                                           database):
    resource = posted(example("observation-example.json"), pid)
    issue = is_outcome(sara.post("/fhir/Observation", json=resource, headers=FHIR), 422)
    assert issue["expression"] == ["Observation.encounter"]
    issue = is_outcome(sara.post("/fhir/Observation", json=only_what_hemma_reads(resource),
                                 headers=FHIR), 422)
    # Hemma keeps weights in kilograms; it does not convert pounds behind the sender's back.
    assert issue["expression"] == ["Observation.valueQuantity.code"]
    assert "kg" in issue["details"]["text"]
    assert _stored(database, pid) == []


def test_the_patient_example_is_refused_with_an_operation_outcome(sara, pid, database):
    patient = example("patient-example.json")
    # Patients are registered in Hemma, not created through FHIR.
    for method, path in (("POST", "/fhir/Patient"), ("PUT", "/fhir/Patient/example")):
        issue = is_outcome(sara.request(method, path, json=patient, headers=FHIR), 405)
        assert issue["code"] == "not-supported"
    issue = is_outcome(sara.post("/fhir/Observation", json=patient, headers=FHIR), 422)
    assert issue["expression"] == ["resourceType"]
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": patient, "request": {"method": "POST", "url": "Patient"}}]}
    issue = is_outcome(sara.post("/fhir", json=bundle, headers=FHIR), 422)
    assert issue["expression"] == ["Bundle.entry[0].request"]
    # Read back as Hemma has it: the example's id names no patient here.
    is_outcome(sara.get("/fhir/Patient/example"), 404)
    assert _stored(database, pid) == []


def test_the_examples_in_a_gateways_transaction_are_all_or_nothing(sara, pid, database):
    taken = [posted(example(n), pid) for n in (
        "observation-example-heart-rate.json", "observation-example-respiratory-rate.json",
        "observation-example-body-temperature.json")]
    refused = posted(example("observation-example-satO2.json"), pid)
    entries = [{"resource": r, "request": {"method": "POST", "url": "Observation"}}
               for r in [*taken, refused]]
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
    issue = is_outcome(sara.post("/fhir", json=bundle, headers=FHIR), 422)
    assert issue["expression"] == ["Bundle.entry[3].resource.interpretation"]
    assert _stored(database, pid) == []
    bundle["entry"] = bundle["entry"][:3]
    r = sara.post("/fhir", json=bundle, headers=FHIR)
    assert r.status_code == 200, r.text
    assert [e["response"]["status"] for e in r.json()["entry"]] == ["201 Created"] * 3
    assert len(_stored(database, pid)) == 3
