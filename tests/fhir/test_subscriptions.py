"""Rest-hook subscriptions on new alerts and new care requests, delivered by the worker
through the outbox to a real HTTP endpoint on loopback: only to endpoints the administrator
allowed, only events the subscribing account may read, each exactly once however often the
worker runs, retried while the endpoint fails and then set to `error`; a notification names
the new resource and carries no patient data."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from hemma.config import Settings, configure
from hemma.fhir import subscriptions
from hemma.jobs.outbox import lease
from hemma.jobs.worker import Worker
from hemma.kit.time import utcnow
from hemma.models import FhirNotification, FhirSubscription, Patient
from tests.conftest import TEST_SECRET
from tests.fhir.validate import assert_r4, fhir_client
from tests.notifications.servers import sms_provider

FHIR = {"Content-Type": "application/fhir+json"}


@pytest.fixture
def hook():
    with sms_provider() as endpoint:  # any HTTP receiver that keeps what it is sent
        yield endpoint


@pytest.fixture
def settings(db_url, tmp_path, hook):
    settings = Settings(database_url=db_url, secret_key=TEST_SECRET, data_dir=tmp_path,
                        fhir_subscription_endpoints=hook.url.rsplit("/", 2)[0] + "/")
    configure(settings)
    yield settings
    configure(None)


def _subscription(hook, criteria="Flag?status=active", endpoint=None) -> dict:
    return {"resourceType": "Subscription", "status": "requested", "criteria": criteria,
            "reason": "Larm till journalen", "channel": {
                "type": "rest-hook", "endpoint": endpoint or hook.url,
                "payload": "application/fhir+json",
                "header": ["Authorization: Bearer hook-secret"]}}


def _sent(database) -> int:
    with database.session() as s:
        return s.scalar(select(func.count()).select_from(FhirNotification)
                        .where(FhirNotification.sent_at.is_not(None)))


def test_each_new_alert_the_account_may_read_is_told_once(app, world, database, hook):
    sara = fhir_client(app, database, world, "sara")
    r = sara.post("/fhir/Subscription", json=_subscription(hook), headers=FHIR)
    assert r.status_code == 201, r.text
    assert_r4(r.json())
    assert r.json()["status"] == "active" and "header" not in r.json()["channel"]
    sub_id = r.json()["id"]
    # An endpoint nobody allowed is refused by name, and nothing is saved.
    r = sara.post("/fhir/Subscription", headers=FHIR,
                  json=_subscription(hook, endpoint="https://elsewhere.example/hook"))
    assert r.status_code == 422
    assert r.json()["issue"][0]["expression"] == ["Subscription.channel.endpoint"]
    r = sara.post("/fhir/Subscription", headers=FHIR,
                  json=_subscription(hook, criteria="Observation?code=8867-4"))
    assert r.status_code == 422
    assert r.json()["issue"][0]["expression"] == ["Subscription.criteria"]
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(FhirSubscription)) == 1

    mine = world.patient(unit="med")
    world.episode(mine, state="admitted")
    other = world.patient(unit="hc")  # a patient Sara has no relationship with
    alert = world.alert(mine, unit="med")
    world.alert(other, unit="hc")
    worker = Worker(database)
    worker.tick(utcnow() + timedelta(seconds=1))
    (request,) = hook.requests
    body = request.body
    assert_r4(body)
    assert body["type"] == "history"
    assert body["entry"][0]["response"]["location"] == f"Flag/{alert}"
    assert request.headers["Authorization"] == "Bearer hook-secret"
    # No patient data: neither name nor personnummer, nor the patient's id.
    with database.session() as s:
        patient = s.get(Patient, mine)
        text = str(body)
        assert patient.personnummer not in text and patient.family_name not in text
        assert str(mine) not in text
    # However often the worker runs, once.
    worker.tick(utcnow() + lease() * 3)
    assert len(hook.requests) == 1 and _sent(database) == 1
    # Only the subscribing account sees its subscription; it ends it with status off.
    kim = fhir_client(app, database, world, "kim")
    assert kim.get(f"/fhir/Subscription/{sub_id}").status_code == 404
    assert kim.get("/fhir/Subscription").json()["total"] == 0
    r = sara.put(f"/fhir/Subscription/{sub_id}", headers=FHIR,
                 json={**sara.get(f"/fhir/Subscription/{sub_id}").json(), "status": "off"})
    assert r.status_code == 200 and r.json()["status"] == "off"
    world.alert(mine, unit="med")
    worker.tick(utcnow() + lease() * 6)
    assert len(hook.requests) == 1


def test_a_failing_endpoint_is_tried_again_and_then_set_to_error(
        app, world, database, hook, monkeypatch):
    monkeypatch.setattr(subscriptions, "MAX_ATTEMPTS", 3)
    sara = fhir_client(app, database, world, "sara")
    sub_id = sara.post("/fhir/Subscription", json=_subscription(hook), headers=FHIR).json()["id"]
    first = sara.get(f"/fhir/Subscription/{sub_id}")
    assert first.json()["meta"]["versionId"] == "1" and first.headers["ETag"] == 'W/"1"'
    pid = world.patient(unit="med")
    world.episode(pid, state="admitted")
    world.alert(pid, unit="med")
    hook.status = 503
    worker = Worker(database)
    t = utcnow() + timedelta(seconds=1)
    worker.tick(t)
    assert len(hook.requests) == 1 and _sent(database) == 0
    worker.tick(t + lease() * 2)  # the lease ran out: tried again
    assert len(hook.requests) == 2 and _sent(database) == 0
    hook.status = 202
    worker.tick(t + lease() * 4)
    assert len(hook.requests) == 3 and _sent(database) == 1
    # Down for good: after the last try the subscription says so, and nothing more is sent.
    hook.status = 500
    world.alert(pid, unit="med")
    for i in range(1, 6):
        worker.tick(t + lease() * (6 + 2 * i))
    assert len(hook.requests) == 6  # three more tries, then none
    r = sara.get(f"/fhir/Subscription/{sub_id}").json()
    assert r["status"] == "error" and "500" in r["error"]
    assert r["meta"]["versionId"] == "2" and r["meta"]["lastUpdated"] != first.json()[
        "meta"]["lastUpdated"]
    assert_r4(r)
    # Ending it with the version read before it failed: it changed since, 412, nothing done.
    stale = sara.put(f"/fhir/Subscription/{sub_id}", headers={**FHIR, "If-Match": 'W/"1"'},
                     json={**first.json(), "status": "off"})
    assert stale.status_code == 412, stale.text
    assert stale.json()["resourceType"] == "OperationOutcome"
    assert stale.json()["issue"][0]["expression"] == ["If-Match"]
    assert sara.get(f"/fhir/Subscription/{sub_id}").json()["status"] == "error"
    # With the current version it ends, as a version of its own.
    ended = sara.put(f"/fhir/Subscription/{sub_id}", headers={**FHIR, "If-Match": 'W/"2"'},
                     json={**r, "status": "off"})
    assert ended.status_code == 200, ended.text
    assert ended.json()["status"] == "off" and ended.json()["meta"]["versionId"] == "3"
    assert ended.headers["ETag"] == 'W/"3"'


def test_new_care_requests_to_the_receiving_unit(app, world, database, hook, as_user):
    kim = fhir_client(app, database, world, "kim")
    r = kim.post("/fhir/Subscription", json=_subscription(
        hook, criteria="ServiceRequest?status=active"), headers=FHIR)
    assert r.status_code == 201
    from tests.fhir.test_care import _plan

    _plan(world, as_user)  # the region asks the municipality for visits
    Worker(database).tick(utcnow() + timedelta(seconds=1))
    (request,) = hook.requests
    assert request.body["entry"][0]["request"]["url"] == "ServiceRequest"
