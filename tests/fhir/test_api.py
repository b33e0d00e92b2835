"""FHIR over HTTP on a real database: the capability statement; patients read and searched by
personnummer; a month of values paged with `next` links, the patient included; dates and
codes; and the access rules of the pages: a patient the caller may not read is 404 on read
and absent from searches, another organisation's values need consent. Errors are
OperationOutcomes naming the parameter, in Swedish unless asked otherwise."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from hemma.fhir import resources, vitals
from hemma.kit.time import local_date, local_today, utcnow
from hemma.models import AuditEntry, Observation, Patient
from hemma.web.deps import api_routes
from tests.fhir.validate import assert_r4, fhir_client


def _values(database, world, pid, *, days: int, every_minutes: int = 60, unit: str = "med"):
    now = utcnow()
    with database.session() as s:
        n = days * 24 * 60 // every_minutes
        for i in range(n):
            s.add(Observation(
                patient_id=pid, measured_at=now - timedelta(minutes=every_minutes * (n - i)),
                received_at=now, client_id=f"f-{uuid.uuid4()}", performer="device",
                source="api", documented_by_unit_id=world.units[unit], pulse=60 + i % 30,
                temperature=36.5 + (i % 10) / 10, news2_total=0, news2_band="low",
                news2_partial=True))
        return n


def _personnummer(database, pid) -> str:
    with database.session() as s:
        return s.get(Patient, pid).personnummer


def test_the_capability_statement_tells_what_is_supported(app):
    c = TestClient(app, base_url="https://testserver")
    r = c.get("/fhir/metadata")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/fhir+json")
    body = r.json()
    assert_r4(body)
    assert body["fhirVersion"] == "4.0.1"
    kinds = {x["type"]: x for x in body["rest"][0]["resource"]}
    assert {"Patient", "Observation"} <= set(kinds)
    assert {p["name"] for p in kinds["Observation"]["searchParam"]} >= {"patient", "date", "code"}
    # Each interaction it names is served: a route of that method and path exists.
    routes = {(m, r.path) for r in api_routes(app) for m in r.methods}
    where = {"read": ("GET", "/fhir/{t}/{{id}}"), "vread": ("GET", "/fhir/{t}/{{id}}/_history/{{v}}"),
             "search-type": ("GET", "/fhir/{t}"), "create": ("POST", "/fhir/{t}"),
             "update": ("PUT", "/fhir/{t}/{{id}}")}
    shapes = {(m, re.sub(r"\{[^}]+\}", "{}", path)) for m, path in routes}
    for kind, entry in kinds.items():
        for interaction in entry["interaction"]:
            method, path = where[interaction["code"]]
            shape = re.sub(r"\{[^}]+\}", "{}", path.format(t=kind))
            assert (method, shape) in shapes, (kind, interaction["code"])


def test_versions_are_etags_and_the_current_one_can_be_read_by_its_version(
        app, world, database):
    pid = world.patient(unit="med")
    world.episode(pid, state="admitted")
    _values(database, world, pid, days=1, every_minutes=600)
    sara = fhir_client(app, database, world, "sara")
    r = sara.get(f"/fhir/Patient/{pid}")
    version = r.json()["meta"]["versionId"]
    assert r.headers["ETag"] == f'W/"{version}"'
    assert sara.get(f"/fhir/Patient/{pid}/_history/{version}").json() == r.json()
    assert sara.get(f"/fhir/Patient/{pid}/_history/{version}0").status_code == 404
    found = sara.get("/fhir/Observation", params={"patient": pid}).json()["entry"][0]
    oid = found["resource"]["id"]
    r = sara.get(f"/fhir/Observation/{oid}/_history/1")
    assert r.status_code == 200 and r.json() == found["resource"]
    assert r.headers["ETag"] == 'W/"1"'
    kim = fhir_client(app, database, world, "kim")
    assert kim.get(f"/fhir/Observation/{oid}/_history/1").status_code == 404


def test_a_patient_is_read_and_found_by_personnummer_only_by_who_may_read_them(
        app, world, database):
    pid = world.patient(unit="med", name="Gunnel", family="Lindgren")
    world.episode(pid, state="admitted")
    number = _personnummer(database, pid)
    sara, kim = fhir_client(app, database, world, "sara"), fhir_client(app, database, world, "kim")
    r = sara.get(f"/fhir/Patient/{pid}")
    assert r.status_code == 200
    assert_r4(r.json())
    assert r.json()["identifier"][0] == {"use": "official", "system": resources.PERSONNUMMER,
                                         "value": number}
    r = sara.get("/fhir/Patient", params={"identifier": f"{resources.PERSONNUMMER}|{number}"})
    assert r.status_code == 200
    assert_r4(r.json())
    assert [e["resource"]["id"] for e in r.json()["entry"]] == [str(pid)]
    assert r.json()["entry"][0]["fullUrl"] == f"https://testserver/fhir/Patient/{pid}"
    # Kommunen has no relationship with her: she does not exist for them.
    r = kim.get(f"/fhir/Patient/{pid}")
    assert r.status_code == 404
    assert_r4(r.json())
    assert r.json()["issue"][0]["code"] == "not-found"
    r = kim.get("/fhir/Patient", params={"identifier": number})
    assert r.status_code == 200 and r.json().get("entry", []) == [] and r.json()["total"] == 0
    # Another identifier system: nobody has it.
    r = sara.get("/fhir/Patient", params={"identifier": f"urn:oid:1.2.3|{number}"})
    assert r.json()["total"] == 0
    # The read and the search were logged under Sara's name.
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.patient_id == pid, AuditEntry.action.like("fhir.%"),
            AuditEntry.user_id == world.staff["sara"])) >= 2


def test_a_month_of_values_pages_with_next_links_and_includes_the_patient(app, world,
                                                                          database):
    pid = world.patient(unit="med")
    world.episode(pid, state="admitted")
    rows = _values(database, world, pid, days=30, every_minutes=240)
    sara = fhir_client(app, database, world, "sara")
    url = f"/fhir/Observation?patient={pid}&_count=100&_include=Observation:patient"
    seen, pages, patients = [], 0, 0
    while url:
        r = sara.get(url)
        assert r.status_code == 200, r.text
        body = r.json()
        assert_r4(body)
        pages += 1
        for e in body.get("entry", []):
            if e["search"]["mode"] == "include":
                patients += 1
                assert e["resource"]["resourceType"] == "Patient"
            else:
                seen.append(e["resource"])
        nxt = [link["url"] for link in body["link"] if link["relation"] == "next"]
        url = nxt[0].removeprefix("https://testserver") if nxt else None
    # Three Observations a submission (pulse, temperature, NEWS2), none twice, newest first.
    assert len(seen) == 3 * rows and len({o["id"] for o in seen}) == len(seen)
    assert pages == -(-3 * rows // 100) and patients == pages
    times = [o["effectiveDateTime"] for o in seen]
    assert times == sorted(times, reverse=True)
    for o in seen[:10]:
        assert_r4(o)


def test_dates_and_codes_narrow_the_search(app, world, database):
    pid = world.patient(unit="med")
    world.episode(pid, state="admitted")
    _values(database, world, pid, days=10, every_minutes=60 * 24)
    sara = fhir_client(app, database, world, "sara")
    # A date without a time is the server's day, Swedish time (FHIR: the server's zone);
    # the values come back in UTC, so near midnight their UTC date is the day before.
    since = (local_today() - timedelta(days=3)).isoformat()
    r = sara.get("/fhir/Observation", params={"patient": f"Patient/{pid}", "date": f"ge{since}",
                                              "code": f"{vitals.LOINC}|8310-5",
                                              "_sort": "date"})
    assert r.status_code == 200
    found = [e["resource"] for e in r.json()["entry"]]
    assert found and all(o["code"]["coding"][0]["code"] == "8310-5" for o in found)
    assert all(local_date(datetime.fromisoformat(o["effectiveDateTime"])).isoformat() >= since
               for o in found)
    assert [o["effectiveDateTime"] for o in found] == sorted(o["effectiveDateTime"]
                                                             for o in found)
    one = found[0]
    r = sara.get(f"/fhir/Observation/{one['id']}")
    assert r.status_code == 200 and r.json() == one
    vital_signs = sara.get("/fhir/Observation", params={"patient": str(pid),
                                                        "category": "vital-signs"}).json()
    assert {e["resource"]["code"]["coding"][0]["code"] for e in vital_signs["entry"]} == {
        "8310-5", "8867-4"}


def test_another_organisations_values_need_consent(app, world, database):
    pid = world.patient(unit="med")
    world.episode(pid, state="admitted")
    world.relation(pid, unit="hsv")
    _values(database, world, pid, days=1, every_minutes=60 * 6, unit="med")
    kim = fhir_client(app, database, world, "kim")
    r = kim.get("/fhir/Observation", params={"patient": str(pid)})
    assert r.status_code == 200 and r.json().get("entry", []) == []
    with database.session() as s:
        row = s.scalar(select(Observation).where(Observation.patient_id == pid).limit(1))
    r = kim.get(f"/fhir/Observation/{vitals.resource_id(row.id, 'pulse')}")
    assert r.status_code == 404
    world.consent(pid, "region")
    world.consent(pid, "kommun")
    r = kim.get("/fhir/Observation", params={"patient": str(pid)})
    assert len(r.json()["entry"]) == 4 * 3


def test_errors_are_operation_outcomes_naming_the_parameter_in_the_callers_language(
        app, world, database):
    pid = world.patient(unit="med")
    sara = fhir_client(app, database, world, "sara")
    cases = [({"patient": str(pid), "date": "igår"}, "date"),
             ({"patient": str(pid), "_count": "many"}, "_count"),
             ({"patient": str(pid), "colour": "red"}, "colour"),
             ({"patient": str(pid), "_sort": "name"}, "_sort"),
             ({"patient": str(pid), "_include": "Observation:performer"}, "_include"),
             ({"date": "ge2026-01-01"}, "patient")]
    for params, parameter in cases:
        r = sara.get("/fhir/Observation", params=params)
        assert r.status_code == 400, (params, r.text)
        assert r.headers["content-type"].startswith("application/fhir+json")
        assert_r4(r.json())
        assert r.json()["issue"][0]["expression"] == [parameter], r.json()
    swedish = sara.get("/fhir/Observation", params={"patient": str(pid), "colour": "red"})
    assert "Okänd sökparameter" in swedish.json()["issue"][0]["details"]["text"]
    english = sara.get("/fhir/Observation", params={"patient": str(pid), "colour": "red"},
                       headers={"Accept-Language": "en"})
    assert english.json()["issue"][0]["details"]["text"] == "Unknown search parameter: colour"
    # Without a token: 401, as an OperationOutcome, never a login page.
    r = TestClient(app, base_url="https://testserver").get(f"/fhir/Patient/{pid}",
                                                          follow_redirects=False)
    assert r.status_code == 401 and r.json()["resourceType"] == "OperationOutcome"
    assert sara.get("/fhir/Observation/not-an-id").status_code == 404
    assert sara.get(f"/fhir/Observation/{uuid.uuid4()}-pulse").status_code == 404


def test_observations_by_when_they_were_recorded_and_by_status(app, world, database):
    pid = world.patient(unit="med")
    world.episode(pid, state="admitted")
    _values(database, world, pid, days=1, every_minutes=240)  # 6 submissions: 2 values, NEWS2
    sara = fhir_client(app, database, world, "sara")
    today = utcnow().date().isoformat()
    tomorrow = (utcnow() + timedelta(days=2)).date().isoformat()
    everything = {"patient": pid, "_count": 100}
    assert len(sara.get("/fhir/Observation", params=everything).json()["entry"]) == 18
    r = sara.get("/fhir/Observation", params={**everything, "_lastUpdated": f"ge{tomorrow}"})
    assert r.status_code == 200 and r.json().get("entry", []) == []
    r = sara.get("/fhir/Observation", params={**everything, "_lastUpdated": f"ge{today}",
                                               "status": "final"})
    assert len(r.json()["entry"]) == 18
    r = sara.get("/fhir/Observation", params={**everything, "status": "preliminary"})
    assert r.json().get("entry", []) == []
    r = sara.get("/fhir/Observation", params={**everything, "_lastUpdated": "xx2026"})
    assert r.status_code == 400 and r.json()["issue"][0]["expression"] == ["_lastUpdated"]
