"""No server errors: each input that once gave a 500 now gets a clear 4xx that names its field
(or works), changes nothing, and even a real 500 page tells the truth and carries the same
security headers as every other page."""

from __future__ import annotations

import json

import pytest
from fastapi import Depends
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from hemma.kit.time import utcnow
from hemma.models import (
    Alert,
    Block,
    CareRelation,
    Consent,
    Episode,
    MonitoringPlan,
    Observation,
    Pathway,
    RoundNote,
    Staff,
    Unit,
)
from hemma.web.deps import Public

BIG = [2**31, 2**63, 10**30]  # beyond PostgreSQL's 32-bit ids, beyond 64 bits


def _fields(r) -> dict:
    return {e["field"]: e["message"] for e in r.json()["errors"]}


def _count(database, model) -> int:
    with database.session() as s:
        return s.scalar(select(func.count()).select_from(model))


def _admitted(world, unit="med"):
    pid = world.patient(unit=unit)
    world.episode(pid, state="admitted", unit=unit)
    return pid


def _pathway_rules(world, database, rules):
    with database.session() as s:
        s.get(Pathway, world.pathways["opat"]).rules = rules


FEVER = {"key": "fever", "parameter": "temperature", "op": ">=", "value": 38.5,
         "severity": "high"}
WEIGHT = {"key": "weight_gain", "parameter": "weight", "op": ">=", "value": 2,
          "within_hours": 72, "severity": "medium"}


# --- The monitoring plan page ---------------------------------------------------------------


def test_the_monitoring_plan_page_opens_for_an_admitted_patient(world, database, as_user):
    """The pathway's rules, with and without a change window, listed on the plan page; the
    round decision "adjust thresholds or plan" leads there after saving the round note."""
    _pathway_rules(world, database, [FEVER, WEIGHT])
    pid = _admitted(world)
    lisa = as_user("lisa")
    page = lisa.get(f"/patients/{pid}/plan")
    assert page.status_code == 200
    assert "fever" in page.text and "weight_gain" in page.text and "72" in page.text
    r = lisa.post(f"/patients/{pid}/round", data={"decision": "adjust",
                                                  "note": "Sänk febergränsen"})
    assert r.status_code == 200 and "Övervakningsplan" in r.text
    assert _count(database, RoundNote) == 1


def _boom_app(app):
    def boom():
        raise RuntimeError("a bug")

    for method in ("GET", "POST"):
        app.add_api_route("/boom", boom, methods=[method], dependencies=[Depends(Public())])
        app.add_api_route("/api/v1/boom", boom, methods=[method],
                          dependencies=[Depends(Public())])
    return TestClient(app, base_url="https://testserver", raise_server_exceptions=False)


def test_a_server_error_page_says_what_is_true_with_the_usual_headers(app):
    client = _boom_app(app)
    page = client.get("/boom")
    assert page.status_code == 500
    # Opening a page saves nothing; what an earlier form saved is still saved.
    assert "sidan kunde inte visas" in page.text and "fortfarande sparat" in page.text
    assert "ingenting sparades" not in page.text.lower()
    sent = client.post("/api/v1/boom")
    assert sent.status_code == 500 and "sparades inte" in sent.json()["detail"]
    for r in (page, sent):
        assert "script-src 'self'" in r.headers["content-security-policy"]
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["cache-control"] == "no-store"
    assert client.get("/api/v1/boom", headers={"accept-language": "en"}).json()["detail"] \
        .startswith("An error occurred and the page could not be shown")


# --- Monitoring rules -----------------------------------------------------------------------


@pytest.mark.parametrize("rule, field", [
    ({**WEIGHT, "within_hours": 1e9}, "within_hours"),
    ({**WEIGHT, "within_hours": 0}, "within_hours"),
    ({**FEVER, "value": 1e300}, "value"),
    ({**FEVER, "value": "NaN"}, "value"),
    ({**FEVER, "key": ""}, "key"),
    ({**FEVER, "key": "x" * 61}, "key"),
    ({**FEVER, "parameter": "shoe_size"}, "parameter"),
    ({**FEVER, "op": "=="}, "op"),
    ({**FEVER, "severity": "apocalyptic"}, "severity"),
    ({**FEVER, "colour": "red"}, "colour"),
])
def test_every_rule_field_is_bounded(rule, field, world, database, as_user):
    pid = _admitted(world)
    lisa = as_user("lisa")
    r = lisa.put(f"/api/v1/patients/{pid}/monitoring-plan", json={"rule_overrides": [rule]})
    assert r.status_code == 422 and f"rule_overrides.0.{field}" in _fields(r)
    page = lisa.post(f"/patients/{pid}/plan", data={"rules": json.dumps([rule])})
    assert page.status_code == 422 and 'id="rules-error"' in page.text
    assert f"Regel 1, {field}:" in page.text
    assert _count(database, MonitoringPlan) == 0


def test_a_good_rule_is_saved_and_shown(world, database, as_user):
    pid = _admitted(world)
    lisa = as_user("lisa")
    r = lisa.put(f"/api/v1/patients/{pid}/monitoring-plan", json={"rule_overrides": [
        {**WEIGHT, "within_hours": 48}, {"key": "fever", "disabled": True}]})
    assert r.status_code == 200
    assert r.json()["rule_overrides"] == [{**WEIGHT, "value": 2.0, "within_hours": 48.0},
                                          {"key": "fever", "disabled": True}]
    assert lisa.get(f"/patients/{pid}/plan").status_code == 200


def test_a_stored_rule_out_of_bounds_stops_no_observation(world, database, as_user):
    """A rule stored before the bounds existed: the values are recorded, the other rules
    still raise their alerts, and the plan still opens."""
    _pathway_rules(world, database, [FEVER])
    pid = _admitted(world)
    with database.session() as s:
        episode = s.scalar(select(Episode).where(Episode.patient_id == pid))
        s.add(MonitoringPlan(episode_id=episode.id, patient_id=pid, spo2_scale=1,
                             rule_overrides=[{**WEIGHT, "within_hours": 1e9},
                                             {"key": "odd", "parameter": "pulse"}],
                             updated_at=utcnow()))
    sara = as_user("sara")
    for i, values in enumerate(({"weight": 80.0}, {"weight": 84.0, "temperature": 39.2})):
        r = sara.post(f"/api/v1/patients/{pid}/observations", json={
            "client_id": f"weight-{i:04d}", "measured_at": utcnow().isoformat(), **values})
        assert r.status_code == 201, r.text
    assert _count(database, Observation) == 2
    with database.session() as s:
        reasons = s.scalar(select(Alert.reasons).where(Alert.patient_id == pid))
    assert [r["topic"] for r in reasons] == ["rule:fever"]
    assert as_user("lisa").get(f"/patients/{pid}/plan").status_code == 200
    assert sara.get(f"/api/v1/patients/{pid}/monitoring-plan").status_code == 200


# --- Bodies ---------------------------------------------------------------------------------


def _post_raw(client, url, body: bytes):
    return client.post(url, content=body, headers={"content-type": "application/json"})


def test_deeply_nested_json_names_the_body(world, database, as_user):
    pid = _admitted(world)
    sara = as_user("sara")
    deep = b"[" * 1100 + b"]" * 1100
    for url in (f"/api/v1/patients/{pid}/observations", "/api/v1/patients"):
        r = _post_raw(sara, url, deep)
        assert r.status_code == 422 and _fields(r) == {"body": "JSON-datat är för djupt nästlat"}
    # The ingest thread lives on: the next submission is recorded.
    r = sara.post(f"/api/v1/patients/{pid}/observations", json={
        "client_id": "after-deep-01", "measured_at": utcnow().isoformat(), "pulse": 70})
    assert r.status_code == 201


def test_invalid_utf8_and_endless_numbers_name_their_field(world, database, as_user):
    pid = _admitted(world)
    sara = as_user("sara")
    single = f"/api/v1/patients/{pid}/observations"
    for url in (single, "/api/v1/patients"):
        r = _post_raw(sara, url, b'{"given_name": "\xff\xfe"}')
        assert r.status_code == 422 and _fields(r) == {
            "body": "Anropet är inte giltig UTF-8-text"}
    digits = b"1" * 5000
    r = _post_raw(sara, single, b'{"client_id": "digits-0001", "pulse": ' + digits + b"}")
    assert r.status_code == 422 and _fields(r) == {"pulse": "Talet är för långt"}
    r = _post_raw(sara, "/api/v1/observations/batch",
                  b'{"observations": [{"pulse": 70}, {"spo2": -' + digits + b"}]}")
    assert r.status_code == 422 and _fields(r) == {"observations.1.spo2": "Talet är för långt"}
    r = _post_raw(sara, "/api/v1/patients", b'{"latitude": 1' + digits + b".5}")
    assert r.status_code == 422 and "latitude" in _fields(r)
    assert _count(database, Observation) == 0


def test_a_chunked_oversized_body_gets_413(world, database, as_user):
    pid = _admitted(world)
    sara = as_user("sara")

    def chunks():  # no Content-Length: the size is only known while reading
        for _ in range(12):
            yield b" " * 100_000

    for url, ctype in ((f"/api/v1/patients/{pid}/observations", "application/json"),
                       ("/api/v1/patients", "application/json"),
                       ("/patients/new", "application/x-www-form-urlencoded")):
        r = sara.post(url, content=chunks(), headers={"content-type": ctype})
        assert r.status_code == 413, (url, r.status_code)
        assert "content-length" not in r.request.headers
    r = sara.post("/api/v1/patients", content=chunks(),
                  headers={"content-type": "application/json"})
    assert _fields(r) == {"body": "Anropet är för stort"}
    assert "script-src 'self'" in r.headers["content-security-policy"]


def test_device_id_refuses_control_characters(world, database, as_user):
    pid = _admitted(world)
    sara = as_user("sara")
    r = sara.post(f"/api/v1/patients/{pid}/observations", json={
        "client_id": "device-0001", "measured_at": utcnow().isoformat(), "pulse": 70,
        "device_id": "pulsoximeter\x00\x1b[2J"})
    assert r.status_code == 422 and "device_id" in _fields(r)
    assert _count(database, Observation) == 0


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00",
                                    "1899-12-31T23:00:00+00:00"])
def test_times_at_the_edges_name_their_field(moment, world, database, as_user):
    pid = _admitted(world)
    assessing = world.patient(unit="med")
    eid = world.episode(assessing, state="assessing")
    sara = as_user("sara")
    r = sara.post(f"/api/v1/patients/{pid}/observations", json={
        "client_id": "edge-00001", "measured_at": moment, "pulse": 70})
    assert r.status_code == 422 and "measured_at" in _fields(r)
    r = sara.get(f"/api/v1/patients/{pid}/observations", params={"since": moment})
    assert r.status_code == 422 and "since" in _fields(r)
    r = sara.post(f"/api/v1/patients/{assessing}/episodes/{eid}/admit", json={
        "responsible_physician_id": world.staff["lisa"], "admitted_at": moment})
    assert r.status_code == 422 and "admitted_at" in _fields(r)
    # A time without its offset is named too (it once compared naive with aware).
    r = sara.get(f"/api/v1/patients/{pid}/observations", params={"since": "2026-01-01T08:00"})
    assert r.status_code == 422 and "since" in _fields(r)
    assert _count(database, Observation) == 0


# --- Ids and days ---------------------------------------------------------------------------


@pytest.mark.parametrize("big", BIG)
def test_ids_beyond_the_database_name_their_field(big, world, database, as_user):
    pid = _admitted(world)
    assessing = world.patient(unit="med")
    eid = world.episode(assessing, state="assessing")
    sara, adam = as_user("sara"), as_user("adam")
    before = {m: _count(database, m) for m in (CareRelation, Consent, Block, Staff, Unit,
                                               Episode)}
    cases = [
        (sara, "post", f"/api/v1/patients/{pid}/care-team", {"unit_id": big}, "unit_id"),
        (sara, "post", f"/api/v1/patients/{pid}/care-team", {"staff_id": big}, "staff_id"),
        (sara, "post", f"/api/v1/patients/{pid}/consents", {"organisation_id": big},
         "organisation_id"),
        (sara, "post", f"/api/v1/patients/{pid}/blocks", {"unit_id": big}, "unit_id"),
        (sara, "post", f"/api/v1/patients/{assessing}/episodes", {"pathway_id": big},
         "pathway_id"),
        (sara, "post", f"/api/v1/patients/{assessing}/episodes",
         {"pathway_id": world.pathways["opat"], "responsible_unit_id": big},
         "responsible_unit_id"),
        (sara, "post", f"/api/v1/patients/{assessing}/episodes/{eid}/admit",
         {"responsible_physician_id": big}, "responsible_physician_id"),
        (sara, "post", f"/api/v1/patients/{assessing}/episodes/{eid}/admit",
         {"responsible_physician_id": world.staff["lisa"], "coordinator_id": big},
         "coordinator_id"),
        (adam, "post", "/api/v1/admin/staff", {
            "username": "nyanstalld", "password": "ett långt lösenord", "given_name": "Ny",
            "family_name": "Anställd", "profession": "nurse", "unit_id": big}, "unit_id"),
        (adam, "put", f"/api/v1/admin/units/{big}", {"name": "Enheten", "kind": "home_health"},
         "unit_id"),
        (adam, "put", f"/api/v1/admin/staff/{big}", {
            "given_name": "Ny", "family_name": "Anställd", "profession": "nurse",
            "unit_id": world.units["med"]}, "staff_id"),
    ]
    for client, method, url, body, field in cases:
        r = getattr(client, method)(url, json=body)
        assert r.status_code == 422 and field in _fields(r), (url, body, r.status_code, r.text)
    for url, field in ((f"/admin/units/{big}", "unit_id"), (f"/admin/staff/{big}", "staff_id")):
        r = adam.get(url)
        assert r.status_code == 422 and f"<code>{field}</code>" in r.text
    r = sara.post(f"/patients/{pid}/access-codes/{big}/revoke")
    assert r.status_code == 422 and "<code>code_id</code>" in r.text
    r = as_user("rita").post("/api/v1/audit/reviews", json={"entry_ids": [2**63],
                                                           "outcome": "justified"})
    assert r.status_code == 422 and "entry_ids.0" in _fields(r)
    r = as_user("rita").get("/api/v1/audit/entries", params={"unit_id": big})
    assert r.status_code == 422 and "unit_id" in _fields(r)
    assert before == {m: _count(database, m) for m in before}


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31", "1899-12-31", "2200-01-01"])
def test_log_dates_at_the_edges_name_their_field(day, world, as_user):
    rita = as_user("rita")
    for field in ("date_from", "date_to"):
        r = rita.get("/api/v1/audit/entries", params={field: day})
        assert r.status_code == 422 and field in _fields(r), r.text
        page = rita.get("/logs", params={field: day})
        assert page.status_code == 200 and f'id="{field}-error"' in page.text
    assert rita.get("/api/v1/audit/entries", params={"date_from": "2026-01-01"}).status_code \
        == 200
    pid = world.patient(unit="med")
    r = as_user("sara").post(f"/api/v1/patients/{pid}/care-team",
                             json={"unit_id": world.units["hc"], "until": day})
    assert r.status_code == 422 and "until" in _fields(r)


@pytest.mark.parametrize("big", [2**63, 2**64, 10**30])
def test_the_alert_stream_refuses_an_oversized_position_before_it_starts(big, world, as_user):
    sara = as_user("sara")
    r = sara.get("/alerts/stream", params={"after": big, "once": "true"})
    assert r.status_code == 422 and "text/event-stream" not in r.headers["content-type"]
    assert 'after' in r.text
    r = sara.get("/alerts/stream", params={"once": "true"}, headers={"Last-Event-ID": str(big)})
    assert r.status_code == 422 and "Last-Event-ID" in r.text
    r = sara.get("/alerts/stream", params={"once": "true", "after": 2**63 - 1})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")


@pytest.mark.parametrize("skills", [False, 7, [["iv"]], [None, "iv"], {"iv": True}])
def test_skills_that_are_not_words_name_their_field(skills, world, database, as_user):
    adam = as_user("adam")
    before = _count(database, Staff)
    r = adam.post("/api/v1/admin/staff", json={
        "username": "nyanstalld", "password": "ett långt lösenord", "given_name": "Ny",
        "family_name": "Anställd", "profession": "nurse", "unit_id": world.units["med"],
        "skills": skills})
    assert r.status_code == 422 and "skills" in _fields(r)
    assert _count(database, Staff) == before


@pytest.mark.parametrize("moment", ["0001-01-01T00:30", "9999-12-31T23:59",
                                    "0001-01-01T00:00+05:00"])
def test_form_times_at_the_edges_name_their_field(moment, world, database, as_user):
    """A wall-clock time typed in a form (Swedish time) that has no UTC equivalent."""
    pid = _admitted(world)
    assessing = world.patient(unit="med")
    eid = world.episode(assessing, state="assessing")
    sara = as_user("sara")
    page = sara.post(f"/patients/{pid}/observations/new", data={
        "client_id": "form-edge-01", "measured_at": moment, "pulse": "70"})
    assert page.status_code == 422 and 'id="measured_at-error"' in page.text
    page = sara.post(f"/patients/{assessing}/episodes/{eid}/admit", data={
        "responsible_physician_id": world.staff["lisa"], "admitted_at": moment})
    assert page.status_code == 422 and 'id="admitted_at-error"' in page.text
    assert _count(database, Observation) == 0


def test_text_with_nul_never_reaches_the_database(world, app, as_user):
    """PostgreSQL keeps no NUL in text: a search or a login name with one is refused before
    any query (it was a 500 on PostgreSQL)."""
    import re

    world.patient(unit="med", name="Anna")
    sara = as_user("sara")
    r = sara.get("/api/v1/patients", params={"q": "an\x00na"})
    assert r.status_code == 422 and "q" in _fields(r)
    page = sara.get("/patients/search", params={"q": "an\x00na"})
    assert page.status_code == 200 and 'id="q-error"' in page.text
    browser = TestClient(app, base_url="https://testserver")
    token = re.search(r'name="csrf_token" value="([^"]+)"', browser.get("/login").text).group(1)
    r = browser.post("/login", data={"username": "sa\x00ra", "password": "correct horse battery",
                                     "csrf_token": token}, follow_redirects=False)
    assert r.status_code == 401 and "Inloggningen misslyckades" in r.text
