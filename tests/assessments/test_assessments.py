"""The snabbspår assessment through the API and the pages: medical stability from the
values, versions, the physician's decision (refused while a criterion is not met unless
reasoned, then flagged), and who may read and change it."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from hemma.kit.time import utcnow
from hemma.models import Assessment, Consent, Episode

MET = {"status": "met"}
ALL_MET = {"adl": MET, "mobility": MET, "home": {**MET, "lives_alone": True, "stairs": False,
                                                "access": "Nyckelgömma, kod 1234"},
           "medication": MET, "inclusion": ["diagnosis_set", "access_in_place", "wants_home"],
           "information": {"given": ["home_care", "whom_to_call"], "how": "both",
                           "consent_home": True, "relatives_informed": True}}
CALM = {"respiration_rate": 16, "spo2": 97, "on_oxygen": False, "systolic_bp": 128,
        "pulse": 78, "consciousness": "A", "temperature": 37.1}


def _setup(world):
    pid = world.patient(unit="med")
    eid = world.episode(pid, state="assessing", pathway="snabbspar", assessed=False)
    return pid, eid


def _values(client, pid, **values):
    r = client.post(f"/api/v1/patients/{pid}/observations", json={
        "client_id": f"t-{uuid.uuid4()}", "measured_at": utcnow().isoformat(), **values})
    assert r.status_code == 201, r.text


def _url(pid, eid):
    return f"/api/v1/patients/{pid}/episodes/{eid}/assessments"


def test_stability_is_computed_from_the_values_and_missing_ones_are_missing(world, as_user):
    pid, eid = _setup(world)
    sara = as_user("sara")
    _values(sara, pid, **{k: v for k, v in CALM.items() if k != "temperature"})
    r = sara.post(_url(pid, eid), json=ALL_MET)
    assert r.status_code == 201, r.text
    a = r.json()
    assert a["stability"]["status"] == "not_assessed"
    assert a["stability"]["missing"] == ["temperature"]
    assert a["parts"]["medical_stability"]["status"] == "not_assessed"
    assert a["unmet"] == ["medical_stability"]
    assert a["parts"]["diagnosis"]["status"] == "met"
    assert a["parts"]["home"]["access"] == "Nyckelgömma, kod 1234"
    _values(sara, pid, temperature=37.2)
    r = sara.post(_url(pid, eid), json=ALL_MET)
    assert r.json()["version"] == 2 and r.json()["unmet"] == []
    assert r.json()["stability"]["values"]["temperature"]["value"] == 37.2
    # The first version is kept as it was.
    versions = sara.get(_url(pid, eid)).json()
    assert [v["version"] for v in versions] == [2, 1]
    assert versions[1]["stability"]["missing"] == ["temperature"]
    page = sara.get(f"/patients/{pid}/episodes/{eid}/assessment/versions/1")
    assert page.status_code == 200 and "Saknas" in page.text


def test_admission_waits_for_the_physician_and_an_override_is_reasoned_and_flagged(
        world, as_user, database):
    pid, eid = _setup(world)
    sara, lisa = as_user("sara"), as_user("lisa")
    _values(sara, pid, **{**CALM, "respiration_rate": 22, "pulse": 95, "temperature": 38.6})
    assert sara.post(_url(pid, eid), json=ALL_MET).json()["unmet"] == ["medical_stability"]
    admit = f"/api/v1/patients/{pid}/episodes/{eid}/admit"
    assert sara.post(admit, json={"responsible_physician_id": world.staff["lisa"]}
                     ).status_code == 409
    # A nurse does not decide.
    assert sara.post(_url(pid, eid) + "/decision",
                     json={"decision": "admit", "version": 1}).status_code == 403
    r = lisa.post(_url(pid, eid) + "/decision", json={"decision": "admit", "version": 1})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "reason"
    r = lisa.post(_url(pid, eid) + "/decision", json={
        "decision": "admit", "version": 1, "reason": "Febern är känd, svarar på antibiotika."})
    assert r.status_code == 200 and r.json()["override"] is True
    assert r.json()["decided_by"].startswith("Lisa")
    r = sara.post(admit, json={"responsible_physician_id": world.staff["lisa"]})
    assert r.status_code == 200, r.text
    with database.session() as s:
        assert s.get(Episode, eid).criteria_override is True
    page = sara.get(f"/patients/{pid}")
    assert 'id="override-flag"' in page.text


def test_a_decision_on_an_old_version_or_without_consent_to_home_care_is_refused(world, as_user):
    pid, eid = _setup(world)
    sara, lisa = as_user("sara"), as_user("lisa")
    sara.post(_url(pid, eid), json=ALL_MET)
    sara.post(_url(pid, eid), json={**ALL_MET, "information": {"consent_home": False}})
    r = lisa.post(_url(pid, eid) + "/decision", json={
        "decision": "admit", "version": 1, "reason": "Läst version ett noga."})
    assert r.status_code == 409 and r.json()["errors"][0]["field"] == "version"
    r = lisa.post(_url(pid, eid) + "/decision", json={
        "decision": "admit", "version": 2, "reason": "Läst version två noga."})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "decision"


def test_not_admitting_ends_the_episode(world, as_user, database):
    pid, eid = _setup(world)
    sara, lisa = as_user("sara"), as_user("lisa")
    sara.post(_url(pid, eid), json=ALL_MET)
    r = lisa.post(f"/patients/{pid}/episodes/{eid}/assessment/decision", data={
        "decision": "not_admit", "version": "1", "reason": "Patienten vill stanna kvar."},
        follow_redirects=False)
    assert r.status_code == 303, r.text
    with database.session() as s:
        e = s.get(Episode, eid)
        assert e.state == "not_admitted" and e.end_note == "Patienten vill stanna kvar."


def test_bad_input_names_the_field_and_saves_nothing(world, as_user, database):
    pid, eid = _setup(world)
    sara = as_user("sara")
    for body, field in [({"adl": {"status": "maybe"}}, "adl.status"),
                        ({"home": {"access": "x" * 301}}, "home.access"),
                        ({"inclusion": ["no_such_criterion"]}, "inclusion"),
                        ({"information": {"given": ["home_care"]}}, "information"),
                        ({"information": {"consent_organisations": [0]}},
                         "information.consent_organisations.0"),
                        ({"colour": "red"}, "colour")]:
        r = sara.post(_url(pid, eid), json=body)
        assert r.status_code == 422, (body, r.text)
        assert field in {e["field"] for e in r.json()["errors"]}, (body, r.json())
    page = sara.post(f"/patients/{pid}/episodes/{eid}/assessment", data={"adl.status": "maybe"})
    assert page.status_code == 422 and 'id="assessment-form"' in page.text
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(Assessment)) == 0


def test_consent_asked_in_the_assessment_is_recorded(world, as_user, database):
    pid, eid = _setup(world)
    world.relation(pid, unit="hsv")
    sara = as_user("sara")
    form = sara.get(f"/patients/{pid}/episodes/{eid}/assessment").text
    assert f'value="{world.orgs["kommun"]}"' in form
    r = sara.post(_url(pid, eid), json={**ALL_MET, "information": {
        **ALL_MET["information"], "consent_organisations": [world.orgs["kommun"],
                                                            world.orgs["region"]]}})
    assert r.status_code == 201, r.text
    with database.session() as s:
        orgs = set(s.scalars(select(Consent.organisation_id).where(Consent.patient_id == pid)))
    assert orgs == {world.orgs["kommun"], world.orgs["region"]}


def test_another_organisation_reads_with_consent_and_never_changes(world, as_user):
    pid, eid = _setup(world)
    world.relation(pid, unit="hsv")
    sara, kim = as_user("sara"), as_user("kim")
    sara.post(_url(pid, eid), json=ALL_MET)
    page = f"/patients/{pid}/episodes/{eid}/assessment"
    assert kim.get(page).status_code == 404 and kim.get(_url(pid, eid)).status_code == 404
    world.consent(pid, "kommun")
    world.consent(pid, "region")
    assert kim.get(page).status_code == 200
    assert 'id="assessment-form"' not in kim.get(page).text
    assert kim.post(_url(pid, eid), json=ALL_MET).status_code == 403
    assert kim.post(page, data={"adl.status": "met"}).status_code == 403
    assert len(sara.get(_url(pid, eid)).json()) == 1
