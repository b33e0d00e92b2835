"""Devices send vital signs as FHIR Observations: recorded once however often a conditional
create is resent, scored and checked like every other value (an alarming one raises an
alert), and anything Hemma cannot take is refused with the element named and nothing saved:
XML (415, never parsed), unknown elements, wrong units, a patient the sender may not record
for (404, as if it did not exist)."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from hemma.fhir import vitals
from hemma.kit.time import utcnow
from hemma.models import Alert, Observation
from tests.fhir.validate import assert_r4, fhir_client

SYSTEM = "urn:hemma:test-gateway"
FHIR = {"Content-Type": "application/fhir+json"}



def _pulse(pid, value=72, identifier: str | None = None, **extra) -> dict:
    resource = {
        "resourceType": "Observation", "status": "final",
        "category": [{"coding": [{"system": vitals.CATEGORY_SYSTEM, "code": "vital-signs"}]}],
        "code": {"coding": [{"system": vitals.LOINC, "code": "8867-4", "display": "Heart rate"}]},
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": utcnow().isoformat(),
        "valueQuantity": {"value": value, "unit": "beats/minute", "system": vitals.UCUM,
                          "code": "/min"}, **extra}
    if identifier:
        resource["identifier"] = [{"system": SYSTEM, "value": identifier}]
    return resource


def _rows(database, pid) -> int:
    with database.session() as s:
        return s.scalar(select(func.count()).select_from(Observation).where(
            Observation.patient_id == pid))


def test_a_conditional_create_records_once_however_often_it_is_sent(app, world, database):
    pid = world.patient(unit="med")
    world.episode(pid, state="admitted")
    sara = fhir_client(app, database, world, "sara")
    body = _pulse(pid, 74, identifier="gw-0001-000042")
    condition = {**FHIR, "If-None-Exist": f"identifier={SYSTEM}|gw-0001-000042"}
    first = sara.post("/fhir/Observation", json=body, headers=condition)
    assert first.status_code == 201, first.text
    assert_r4(first.json())
    assert first.json()["valueQuantity"]["value"] == 74
    assert first.headers["Location"].startswith(
        f"https://testserver/fhir/Observation/{first.json()['id']}/_history/")
    again = sara.post("/fhir/Observation", json=body, headers=condition)
    assert again.status_code == 200 and again.json() == first.json()
    assert _rows(database, pid) == 1
    # It reads back, and is found by the search.
    assert sara.get(f"/fhir/Observation/{first.json()['id']}").json() == first.json()
    # Without a condition, each post is a new value.
    sara.post("/fhir/Observation", json=_pulse(pid, 75), headers=FHIR)
    sara.post("/fhir/Observation", json=_pulse(pid, 75), headers=FHIR)
    assert _rows(database, pid) == 3


def test_an_alarming_value_from_a_device_raises_an_alert(app, world, database):
    pid = world.patient(unit="med")
    world.episode(pid, state="admitted")
    sara = fhir_client(app, database, world, "sara")
    spo2 = {**_pulse(pid), "code": {"coding": [{"system": vitals.LOINC, "code": "59408-5"}]},
            "valueQuantity": {"value": 84, "unit": "%", "system": vitals.UCUM, "code": "%"}}
    r = sara.post("/fhir/Observation", json=spo2, headers=FHIR)
    assert r.status_code == 201, r.text
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(Alert).where(
            Alert.patient_id == pid)) == 1


def test_what_hemma_cannot_take_is_refused_by_element_and_nothing_is_saved(app, world,
                                                                           database):
    pid = world.patient(unit="med")
    world.episode(pid, state="admitted")
    sara = fhir_client(app, database, world, "sara")
    xml = ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "boom">]>'
           '<Observation xmlns="http://hl7.org/fhir"/>')
    r = sara.post("/fhir/Observation", content=xml,
                  headers={"Content-Type": "application/fhir+xml"})
    assert r.status_code == 415 and r.json()["resourceType"] == "OperationOutcome"
    cases = [
        (_pulse(pid, bodySite={"text": "arm"}), "Observation.bodySite"),
        ({**_pulse(pid), "valueQuantity": {"value": 72, "code": "/s", "system": vitals.UCUM}},
         "Observation.valueQuantity.code"),
        ({**_pulse(pid), "code": {"coding": [{"system": vitals.LOINC, "code": "8302-2"}]}},
         "Observation.code"),
        ({**_pulse(pid), "subject": {"reference": "Group/1"}}, "Observation.subject"),
        ({**_pulse(pid), "effectiveDateTime": "yesterday"}, "Observation.effectiveDateTime"),
        ({**_pulse(pid), "valueQuantity": {"value": 900, "code": "/min",
                                           "system": vitals.UCUM}}, "Observation.value[x]"),
        ({**_pulse(pid), "resourceType": "Patient"}, "resourceType"),
    ]
    for body, element in cases:
        r = sara.post("/fhir/Observation", json=body, headers=FHIR)
        assert r.status_code == 422, (element, r.text)
        assert_r4(r.json())
        assert r.json()["issue"][0]["expression"] == [element], r.json()
    r = sara.post("/fhir/Observation", json=_pulse(pid, identifier="gw-0001-000001"),
                  headers={**FHIR, "If-None-Exist": f"identifier={SYSTEM}|gw-0001-999999"})
    assert r.status_code == 422
    deep: dict = {"a": 1}
    for _ in range(20):
        deep = {"a": deep}
    r = sara.post("/fhir/Observation", json={**_pulse(pid), "note": [deep]}, headers=FHIR)
    assert r.status_code == 422
    assert "Hemma läser inte Observation.bodySite" in sara.post(
        "/fhir/Observation", json=cases[0][0], headers=FHIR).json()["issue"][0]["details"][
        "text"]
    assert _rows(database, pid) == 0


def test_a_patient_the_sender_may_not_record_for_does_not_exist(app, world, database):
    pid = world.patient(unit="med")
    world.episode(pid, state="admitted")
    kim = fhir_client(app, database, world, "kim")
    r = kim.post("/fhir/Observation", json=_pulse(pid), headers=FHIR)
    assert r.status_code == 404 and r.json()["issue"][0]["code"] == "not-found"
    r = kim.post("/fhir/Observation", json=_pulse(uuid.uuid4()), headers=FHIR)
    assert r.status_code == 404
    assert _rows(database, pid) == 0


def test_an_identifier_reused_for_another_value_answers_what_was_recorded_under_it(
        app, world, database):
    """Not a server error: the conditional create finds the first submission, and says what
    it holds (the pulse), rather than pretend the temperature was recorded."""
    pid = world.patient(unit="med")
    world.episode(pid, state="admitted")
    sara = fhir_client(app, database, world, "sara")
    condition = {**FHIR, "If-None-Exist": f"identifier={SYSTEM}|gw-0003-000001"}
    first = sara.post("/fhir/Observation", json=_pulse(pid, 71, identifier="gw-0003-000001"),
                      headers=condition)
    assert first.status_code == 201
    temperature = {**_pulse(pid, identifier="gw-0003-000001"),
                   "code": {"coding": [{"system": vitals.LOINC, "code": "8310-5"}]},
                   "valueQuantity": {"value": 38.2, "unit": "C", "system": vitals.UCUM,
                                     "code": "Cel"}}
    again = sara.post("/fhir/Observation", json=temperature, headers=condition)
    assert again.status_code == 200 and again.json() == first.json()
    assert _rows(database, pid) == 1


def _entry(resource: dict, identifier: str | None = None) -> dict:
    request = {"method": "POST", "url": "Observation"}
    if identifier:
        request["ifNoneExist"] = f"identifier={SYSTEM}|{identifier}"
    return {"resource": resource, "request": request}


def test_a_gateways_transaction_bundle_is_all_or_nothing_and_exactly_once(app, world,
                                                                         database):
    pid = world.patient(unit="med")
    world.episode(pid, state="admitted")
    sara = fhir_client(app, database, world, "sara")
    ids = [f"gw-0002-{i:06d}" for i in range(5)]
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        _entry(_pulse(pid, 70 + i, identifier=ids[i]), ids[i]) for i in range(5)]}
    r = sara.post("/fhir", json=bundle, headers=FHIR)
    assert r.status_code == 200, r.text
    assert_r4(r.json())
    assert [e["response"]["status"] for e in r.json()["entry"]] == ["201 Created"] * 5
    assert _rows(database, pid) == 5
    # Sent again (the gateway lost the answer): the same values, nothing new.
    again = sara.post("/fhir", json=bundle, headers=FHIR)
    assert [e["response"]["status"] for e in again.json()["entry"]] == ["200 OK"] * 5
    assert [e["resource"]["id"] for e in again.json()["entry"]] == [
        e["resource"]["id"] for e in r.json()["entry"]]
    assert _rows(database, pid) == 5
    # One bad entry among good ones: refused by its place, and none of them saved.
    bad = {"resourceType": "Bundle", "type": "transaction", "entry": [
        _entry(_pulse(pid, 80)), _entry(_pulse(pid, 81)),
        _entry({**_pulse(pid), "valueQuantity": {"value": 72, "code": "/h",
                                                 "system": vitals.UCUM}})]}
    r = sara.post("/fhir", json=bad, headers=FHIR)
    assert r.status_code == 422
    assert r.json()["issue"][0]["expression"] == [
        "Bundle.entry[2].resource.valueQuantity.code"]
    assert _rows(database, pid) == 5
    for body, element in (({**bundle, "type": "batch"}, "Bundle.type"),
                          ({**bundle, "entry": []}, "Bundle.entry"),
                          ({**bundle, "entry": [{"resource": _pulse(pid),
                                                 "request": {"method": "PUT",
                                                             "url": "Observation/x"}}]},
                           "Bundle.entry[0].request")):
        r = sara.post("/fhir", json=body, headers=FHIR)
        assert r.status_code == 422 and r.json()["issue"][0]["expression"] == [element]
    assert _rows(database, pid) == 5


def test_a_value_names_the_device_that_sent_it_and_the_device_reads_back(app, world, database):
    pid = world.patient(unit="med")
    world.episode(pid, state="admitted")
    sara = fhir_client(app, database, world, "sara")
    r = sara.post("/fhir/Observation", json=_pulse(pid, 66, device={"display": "Omron HEM-7600"}),
                  headers=FHIR)
    assert r.status_code == 201, r.text
    device = r.json()["device"]
    assert device["display"] == "Omron HEM-7600"
    found = sara.get(f"/fhir/{device['reference']}")
    assert found.status_code == 200, found.text
    assert_r4(found.json())
