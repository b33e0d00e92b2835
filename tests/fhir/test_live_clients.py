"""Two real FHIR clients against a live Hemma (uvicorn on loopback, the test's database):
fhirpy's async client and fhirclient, the SMART on FHIR Python client. Each finds a patient
by personnummer, pages through a month of values with `next` links to the end (every value
once, none missing), includes the patient, creates an Observation conditionally twice (one
stored), posts a gateway's transaction Bundle, and reads the shared plan with what its
activities became, in the way each client does it. fhirpy authenticates as a journal's
SMART Backend Services client (a signed JWT traded for a token), fhirclient as a user."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import httpx
import pytest
from fhirclient.models.bundle import Bundle as FcBundle
from fhirclient.models.careplan import CarePlan as FcCarePlan
from fhirclient.models.fhirsearch import FHIRSearch
from fhirclient.models.observation import Observation as FcObservation
from fhirclient.models.patient import Patient as FcPatient
from fhirclient.models.servicerequest import ServiceRequest as FcServiceRequest
from fhirclient.models.task import Task as FcTask
from fhirclient.server import FHIRServer
from fhirpy import AsyncFHIRClient
from sqlalchemy import func, select

from hemma.access.auth import create_api_token
from hemma.app import create_app
from hemma.fhir import resources, vitals
from hemma.kit.time import utcnow
from hemma.models import Observation, Patient, Staff
from tests.fhir.test_care import _plan
from tests.fhir.test_smart import Gateway
from tests.fhir.validate import fhir_client
from tests.live import serving

SYSTEM = "urn:hemma:test-gateway"
DAYS, EVERY_MINUTES = 30, 240  # a month of values, six submissions a day
PER_SUBMISSION = 3  # pulse, temperature and the NEWS2 scored on them


def bearer_token(database, world) -> str:
    """A staff user's API token (fhirclient's credentials here)."""
    with database.session() as s:
        return create_api_token(s, s.get(Staff, world.staff["sara"]), "live-fhir-client")


def smart_token(live: str, database, world) -> str:
    """A journal integration's token, as SMART Backend Services get one: a registered client
    signs a JWT assertion with its private key and trades it at the token endpoint (fhirpy's
    credentials here). It acts as the home ward's system account, narrowed by its scopes."""
    journal = Gateway(database, world, client_id="journal-1",
                      scope="system/Patient.rs system/Observation.crs system/CarePlan.rs "
                            "system/ServiceRequest.rs system/Task.rs")
    token_url = f"{live}/auth/token"
    r = httpx.post(token_url, data=journal.form(
        assertion=journal.assertion(aud=token_url),
        scope="system/Patient.rs system/Observation.crs system/CarePlan.rs "
              "system/ServiceRequest.rs system/Task.rs"))
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


@pytest.fixture
def plan(world, as_user):
    """A second patient with a shared plan: a visit (a care request to the municipality) and
    a one-off (a task), with consent to share both ways."""
    pid, _eid = _plan(world, as_user)
    return pid


@pytest.fixture
def live(settings, database):
    """Hemma served for real, on a free loopback port, until the test ends."""
    with serving(create_app(settings, database)) as base:
        yield f"{base}/fhir"


@pytest.fixture
def ward(world, database):
    """An admitted patient with a month of a device's values, and a token to read them."""
    pid = world.patient(unit="med")
    world.episode(pid, state="admitted")
    now = utcnow()
    n = DAYS * 24 * 60 // EVERY_MINUTES
    with database.session() as s:
        for i in range(n):
            s.add(Observation(
                patient_id=pid, measured_at=now - timedelta(minutes=EVERY_MINUTES * (n - i)),
                received_at=now, client_id=f"month-{uuid.uuid4()}", performer="device",
                source="api", documented_by_unit_id=world.units["med"], pulse=60 + i % 30,
                temperature=36.5 + (i % 10) / 10, news2_total=0, news2_band="low",
                news2_partial=True))
        personnummer = s.get(Patient, pid).personnummer
    return {"pid": pid, "personnummer": personnummer, "stored": n * PER_SUBMISSION,
            "since": (now - timedelta(days=DAYS, hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "token": bearer_token(database, world)}


def _rows(database, pid) -> int:
    with database.session() as s:
        return s.scalar(select(func.count()).select_from(Observation).where(
            Observation.patient_id == pid))


def _pulse(pid, value: int, identifier: str) -> dict:
    return {
        "resourceType": "Observation", "status": "final",
        "identifier": [{"system": SYSTEM, "value": identifier}],
        "category": [{"coding": [{"system": vitals.CATEGORY_SYSTEM, "code": "vital-signs"}]}],
        "code": {"coding": [{"system": vitals.LOINC, "code": "8867-4", "display": "Heart rate"}]},
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": utcnow().isoformat(timespec="seconds"),
        "valueQuantity": {"value": value, "unit": "beats/minute", "system": vitals.UCUM,
                          "code": "/min"}}


def _transaction(pid, prefix: str) -> dict:
    entries = []
    for i, value in enumerate((71, 73)):
        identifier = f"{prefix}-{i:04d}"
        entries.append({"resource": _pulse(pid, value, identifier),
                        "request": {"method": "POST", "url": "Observation",
                                    "ifNoneExist": f"identifier={SYSTEM}|{identifier}"}})
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def test_fhirpy_async_client(live, ward, plan, database, world):
    pid = ward["pid"]
    token = smart_token(live, database, world)

    async def run() -> None:
        client = AsyncFHIRClient(live, authorization=f"Bearer {token}")
        # A patient by personnummer.
        found = await client.resources("Patient").search(
            identifier=f"{resources.PERSONNUMMER}|{ward['personnummer']}").fetch_all()
        assert [p.id for p in found] == [str(pid)]
        assert found[0]["identifier"][0]["value"] == ward["personnummer"]

        # A month of values, 50 a page, following `next` to the end.
        month = await client.resources("Observation").search(
            patient=str(pid), date=f"ge{ward['since']}").limit(50).fetch_all()
        ids = [o.id for o in month]
        assert len(ids) == ward["stored"] and len(set(ids)) == len(ids)

        # The patient included.
        bundle = await client.resources("Observation").search(patient=str(pid)).include(
            "Observation", "patient").limit(10).fetch_raw()
        modes = [e["search"]["mode"] for e in bundle["entry"]]
        assert modes.count("match") == 10 and modes.count("include") == 1
        included = [e.resource for e in bundle["entry"] if e["search"]["mode"] == "include"]
        assert included[0]["resourceType"] == "Patient" and included[0]["id"] == str(pid)

        # A conditional create, twice: fhirpy's get_or_create sends the condition as the
        # search parameters of the POST.
        before = _rows(database, pid)
        search = client.resources("Observation").search(identifier=f"{SYSTEM}|fhirpy-0001")
        first, created = await search.get_or_create(
            client.resource("Observation", **_pulse(pid, 74, "fhirpy-0001")))
        again, created_again = await search.get_or_create(
            client.resource("Observation", **_pulse(pid, 74, "fhirpy-0001")))
        assert (created, created_again) == (True, False) and again.id == first.id
        assert _rows(database, pid) == before + 1

        # A gateway's transaction Bundle, sent twice: two values, stored once.
        for _ in range(2):
            answer = await client.execute("", method="post", data=_transaction(pid, "fhirpy-tx"))
            assert answer["type"] == "transaction-response" and len(answer["entry"]) == 2
        assert _rows(database, pid) == before + 3

        # The shared plan with what its activities became, in one search.
        bundle = await client.resources("CarePlan").search(patient=str(plan)).include(
            "CarePlan", "activity-reference").fetch_raw()
        (care_plan,) = [e.resource for e in bundle["entry"] if e["search"]["mode"] == "match"]
        wanted = sorted(a["reference"]["reference"] for a in care_plan["activity"])
        got = sorted(f"{e.resource['resourceType']}/{e.resource['id']}"
                     for e in bundle["entry"] if e["search"]["mode"] == "include")
        assert wanted == got and {w.split("/")[0] for w in wanted} == {"ServiceRequest", "Task"}

    asyncio.run(run())


def test_fhirclient_smart_on_fhir_client(live, ward, plan, database):
    pid = ward["pid"]
    server = FHIRServer(None, base_uri=live)
    server.session.headers["Authorization"] = f"Bearer {ward['token']}"

    # A patient by personnummer (the models are strict R4: an element R4 lacks would raise).
    found = list(FcPatient.where({
        "identifier": f"{resources.PERSONNUMMER}|{ward['personnummer']}"})
        .perform_resources_iter(server))
    assert [p.id for p in found] == [str(pid)]

    # A month of values, 50 a page, following `next` to the end.
    pages = list(FcObservation.where({"patient": str(pid), "date": f"ge{ward['since']}",
                                      "_count": "50"}).perform_iter(server))
    ids = [e.resource.id for page in pages for e in page.entry or []]
    assert len(ids) == ward["stored"] and len(set(ids)) == len(ids)
    assert len(pages) == -(-ward["stored"] // 50)

    # The patient included (fhirclient names the reference element: Observation:subject).
    search = FHIRSearch(FcObservation, {"patient": str(pid), "_count": "10"}).include("subject")
    first_page = next(search.perform_iter(server))
    modes = [e.search.mode for e in first_page.entry]
    assert modes.count("match") == 10 and modes.count("include") == 1
    assert [e.resource.id for e in first_page.entry if e.search.mode == "include"] == [str(pid)]

    # A conditional create, twice: fhirclient sends no condition of its own; the header
    # goes on its session.
    before = _rows(database, pid)
    server.session.headers["If-None-Exist"] = f"identifier={SYSTEM}|fhirclient-0001"
    try:
        made = [FcObservation(_pulse(pid, 76, "fhirclient-0001")).create(server)
                for _ in range(2)]
    finally:
        del server.session.headers["If-None-Exist"]
    assert made[0]["id"] == made[1]["id"]
    assert _rows(database, pid) == before + 1

    # A gateway's transaction Bundle, sent twice: two values, stored once.
    for _ in range(2):
        answer = FcBundle(_transaction(pid, "fhirclient-tx")).create(server)
        assert answer["type"] == "transaction-response" and len(answer["entry"]) == 2
    assert _rows(database, pid) == before + 3

    # The shared plan, read with its activities, each followed to what it became.
    (care_plan,) = list(FcCarePlan.where({"patient": str(plan)}).perform_resources_iter(server))
    read_back = FcCarePlan.read(care_plan.id, server)
    kinds = {"ServiceRequest": FcServiceRequest, "Task": FcTask}
    followed = []
    for activity in read_back.activity:
        kind, rid = activity.reference.reference.split("/")
        followed.append(kinds[kind].read(rid, server))
    assert sorted(type(x).__name__ for x in followed) == ["ServiceRequest", "Task"]
    assert any(getattr(x, "description", None) == "Ordna nyckelgömma" for x in followed)


# --- What the real clients tripped on, each pinned without them ----------------------------

FHIR = {"Content-Type": "application/fhir+json"}


def test_a_transaction_posted_to_the_base_with_a_slash_is_answered_not_redirected(
        app, world, database):
    # fhirclient posts a Bundle to "<base>/" (its base always ends in a slash); a 307 to
    # "/fhir" has no OperationOutcome and leaves following it, with the token, to the client.
    pid = world.patient(unit="med")
    world.episode(pid, state="admitted")
    sara = fhir_client(app, database, world, "sara")
    r = sara.post("/fhir/", json=_transaction(pid, "slash"), headers=FHIR,
                  follow_redirects=False)
    assert r.status_code == 200, r.text
    assert r.json()["type"] == "transaction-response"
    assert _rows(database, pid) == 2


def test_the_condition_in_the_posts_query_is_the_conditional_create(app, world, database):
    # fhirpy's get_or_create sends `POST /Observation?identifier=system|value`.
    pid = world.patient(unit="med")
    world.episode(pid, state="admitted")
    sara = fhir_client(app, database, world, "sara")
    url = f"/fhir/Observation?identifier={SYSTEM}|query-0001"
    first = sara.post(url, json=_pulse(pid, 70, "query-0001"), headers=FHIR)
    again = sara.post(url, json=_pulse(pid, 70, "query-0001"), headers=FHIR)
    assert (first.status_code, again.status_code) == (201, 200)
    assert _rows(database, pid) == 1
    # A condition that is not the Observation's own identifier is refused, as in the header;
    # so is a query Hemma would otherwise ignore.
    other = sara.post(f"/fhir/Observation?identifier={SYSTEM}|query-0002",
                      json=_pulse(pid, 70, "query-0003"), headers=FHIR)
    assert other.status_code == 422
    assert other.json()["issue"][0]["expression"] == ["Observation.identifier"]
    unknown = sara.post(f"/fhir/Observation?code={vitals.LOINC}|8867-4",
                        json=_pulse(pid, 70, "query-0004"), headers=FHIR)
    assert unknown.status_code == 400
    assert unknown.json()["issue"][0]["expression"] == ["code"]
    assert _rows(database, pid) == 1


def test_a_method_fhir_does_not_serve_here_is_an_operation_outcome_in_swedish(
        app, world, database):
    sara = fhir_client(app, database, world, "sara")
    for method, path in (("DELETE", "/fhir/Observation/x"), ("PUT", "/fhir/Patient/x"),
                         ("POST", "/fhir/Patient")):
        r = sara.request(method, path, json={"resourceType": "Patient"}, headers=FHIR)
        assert r.status_code == 405
        assert r.headers["content-type"].startswith("application/fhir+json")
        issue = r.json()["issue"][0]
        assert r.json()["resourceType"] == "OperationOutcome"
        assert issue["code"] == "not-supported"
        assert issue["details"]["text"] == "Den här åtgärden stöds inte här."
        assert "GET" in r.headers["Allow"]
