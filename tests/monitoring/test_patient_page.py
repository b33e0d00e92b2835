"""The patient's own page: a code from staff, values sent, told what to do; and the round."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from hemma.kit.time import frozen_clock, utcnow
from hemma.models import Alert, Episode, Observation, RoundNote
from hemma.web.deps import PATIENT_SESSION_COOKIE


def _code_for(client, pid) -> str:
    page = client.post(f"/patients/{pid}/access-codes")
    assert page.status_code == 200
    return re.search(r'id="patient-code">([\d ]+)<', page.text).group(1)


def _patient_login(app, code) -> TestClient:
    phone = TestClient(app, base_url="https://testserver")
    page = phone.get("/p/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = phone.post("/p/login", data={"code": code, "csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return phone


def _form_fields(page: str) -> dict:
    form = page.split('id="patient-values"')[1]
    return dict(re.findall(r'name="(csrf_token|client_id)" value="([^"]+)"', form))


def test_patient_logs_in_sends_values_and_is_told_what_to_do(app, world, database, as_user):
    pid = world.patient(unit="med", name="Gunnel")
    world.episode(pid, state="admitted")
    code = _code_for(as_user("sara"), pid)
    phone = _patient_login(app, code)
    home = phone.get("/p")
    assert home.status_code == 200 and "Hej Gunnel" in home.text
    assert "Jag mår sämre" in home.text
    fields = _form_fields(home.text)
    calm = phone.post("/p/observations", data={**fields, "temperature": "37.1", "pulse": "72",
                                               "spo2": "97"})
    assert calm.status_code == 200 and "Tack, det har kommit fram" in calm.text
    # Three of the five values the page asks for: seen by the team, but not "as expected".
    assert "ser ut som väntat" not in calm.text and "Ditt vårdteam ser dina värden" in calm.text
    fields = _form_fields(phone.get("/p").text)
    whole = phone.post("/p/observations", data={
        **fields, "temperature": "37,1", "pulse": "72", "spo2": "97", "respiration_rate": "14",
        "systolic_bp": "128", "diastolic_bp": "78"})
    assert "ser ut som väntat" in whole.text
    # Tapping send twice on the same form does not store twice.
    again = phone.post("/p/observations", data={**fields, "temperature": "37.1", "pulse": "72",
                                                "spo2": "97"})
    assert again.status_code == 200
    with database.session() as s:
        rows = s.scalars(select(Observation).where(Observation.patient_id == pid)).all()
        assert len(rows) == 2 and {r.performer for r in rows} == {"patient"}
    fields = _form_fields(phone.get("/p").text)
    bad = phone.post("/p/observations", data={**fields, "respiration_rate": "26", "spo2": "90",
                                              "pulse": "131"})
    assert "Dina värden behöver kontrolleras nu" in bad.text
    assert "112" in bad.text
    with database.session() as s:
        assert s.scalar(select(Alert).where(Alert.patient_id == pid)).severity == "critical"


def test_impossible_values_get_a_clear_message(app, world, as_user):
    pid = world.patient(unit="med")
    world.episode(pid, state="admitted")
    phone = _patient_login(app, _code_for(as_user("sara"), pid))
    fields = _form_fields(phone.get("/p").text)
    r = phone.post("/p/observations", data={**fields, "temperature": "73"})
    assert r.status_code == 422 and 'id="temperature-error"' in r.text
    assert "Får vara högst 45" in r.text


def test_feeling_worse_alerts_the_team(app, world, database, as_user):
    pid = world.patient(unit="med")
    world.episode(pid, state="admitted")
    phone = _patient_login(app, _code_for(as_user("sara"), pid))
    page = phone.get("/p").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = phone.post("/p/worse", data={"csrf_token": token, "client_id": "p-worse-1"})
    assert r.status_code == 200 and "mår sämre" in r.text
    with database.session() as s:
        alert = s.scalar(select(Alert).where(Alert.patient_id == pid))
        assert alert.kind == "worse" and alert.severity == "high"


def test_codes_are_hashed_revocable_and_expire(app, world, database, as_user):
    pid = world.patient(unit="med")
    world.episode(pid, state="admitted")
    sara = as_user("sara")
    code = _code_for(sara, pid)
    from hemma.models import PatientAccessCode

    with database.session() as s:
        row = s.scalar(select(PatientAccessCode))
        assert code.replace(" ", "") not in row.code_hash and len(row.code_hash) == 64
    phone = _patient_login(app, code)
    assert phone.get("/p").status_code == 200
    r = sara.post(f"/patients/{pid}/access-codes/{row.id}/revoke", follow_redirects=False)
    assert r.status_code == 303
    # The phone is logged out at once, and the code no longer works.
    r = phone.get("/p", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/p/login"
    page = phone.get("/p/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    assert phone.post("/p/login", data={"code": code, "csrf_token": token}).status_code == 401
    new_code = _code_for(sara, pid)
    with frozen_clock(utcnow() + timedelta(days=31)):
        page = phone.get("/p/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        assert phone.post("/p/login", data={"code": new_code,
                                            "csrf_token": token}).status_code == 401


def test_a_patient_session_opens_nothing_else(app, world, as_user):
    pid = world.patient(unit="med")
    world.episode(pid, state="admitted")
    phone = _patient_login(app, _code_for(as_user("sara"), pid))
    assert phone.cookies.get(PATIENT_SESSION_COOKIE)
    for path in (f"/patients/{pid}", "/home-ward", "/alerts", f"/api/v1/patients/{pid}"):
        r = phone.get(path, follow_redirects=False)
        assert r.status_code in (303, 401), path
    # And a form without the session's token is refused.
    r = phone.post("/p/observations", data={"client_id": "p-forged-1", "pulse": "70"})
    assert r.status_code == 403


def test_the_round_ranks_by_risk_and_its_decisions_end_episodes(world, database, as_user):
    stable = world.patient(unit="med", name="Stabil")
    sick = world.patient(unit="med", name="Sjuk")
    quiet = world.patient(unit="med", name="Tyst")
    for pid in (stable, sick, quiet):
        world.episode(pid, state="admitted")
    sara = as_user("sara")
    now = utcnow()
    sara.post(f"/api/v1/patients/{stable}/observations", json={
        "client_id": "r-stable-1", "measured_at": now.isoformat(), "respiration_rate": 16,
        "spo2": 97, "on_oxygen": False, "temperature": 37.0, "systolic_bp": 130, "pulse": 70,
        "consciousness": "A"})
    sara.post(f"/api/v1/patients/{sick}/observations", json={
        "client_id": "r-sick-1", "measured_at": now.isoformat(), "respiration_rate": 26,
        "spo2": 90, "pulse": 131})
    lisa = as_user("lisa")
    rows = lisa.get("/api/v1/rounds").json()
    assert [r["patient_id"] for r in rows][0] == str(sick)
    assert {r["patient_id"] for r in rows} == {str(stable), str(sick), str(quiet)}
    page = lisa.get("/rounds")
    assert page.status_code == 200 and "Sjuk" in page.text.split("Stabil")[0]
    # The nurse may look, not decide.
    assert sara.post(f"/api/v1/patients/{sick}/round",
                     json={"decision": "continue", "note": "x"}).status_code == 404
    # Ending the episode at the round takes why, as the episode's own forms do: refused
    # without it (or with it beside another decision), naming the field; nothing written.
    form = lisa.get(f"/patients/{stable}/round").text
    for name in ("return_reason", "discharge_outcome"):
        choices = form.split(f'name="{name}"')[1].split("</select>")[0]
        assert '<option value="">Välj …</option>' in choices and "selected" not in choices
    assert "Avled i hemmet, förväntat (palliativt)" in form and "Fall eller skada" in form
    r = lisa.post(f"/patients/{stable}/round", data={"decision": "discharge", "note": "Klar"})
    assert r.status_code == 422 and "Välj hur vårdtillfället avslutades" in r.text
    for body, field in (({"decision": "return"}, "return_reason"),
                        ({"decision": "return", "return_reason": "worse"}, "return_reason"),
                        ({"decision": "discharge", "return_reason": "deterioration",
                          "discharge_outcome": "completed"}, "return_reason"),
                        ({"decision": "continue", "discharge_outcome": "completed"},
                         "discharge_outcome")):
        r = lisa.post(f"/api/v1/patients/{sick}/round", json=body | {"note": "x"})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == field, (body, r.text)
    with database.session() as s:
        assert {e.state for e in s.scalars(select(Episode))} == {"admitted"}
        assert s.scalar(select(RoundNote).where(RoundNote.patient_id.in_((stable, sick)))) \
            is None
    # On the page a reason chosen before the decision changed no longer applies.
    r = lisa.post(f"/patients/{stable}/round", data={
        "decision": "discharge", "discharge_outcome": "death_expected",
        "return_reason": "fall_injury", "note": "Somnade in lugnt hemma, som planerat"},
        follow_redirects=False)
    assert r.status_code == 303
    r = lisa.post(f"/api/v1/patients/{sick}/round", json={
        "decision": "return", "return_reason": "deterioration",
        "note": "NEWS2 11, ambulans beställd", "ambulance_informed": True})
    assert r.status_code == 201
    with database.session() as s:
        states = {e.patient_id: (e.state, e.end_reason) for e in s.scalars(select(Episode))}
        assert states[stable] == ("discharged", "death_expected")
        assert states[sick] == ("returned", "deterioration")
        assert s.scalar(select(RoundNote).where(RoundNote.patient_id == sick)).decision == "return"
    assert [r["patient_id"] for r in lisa.get("/api/v1/rounds").json()] == [str(quiet)]


def test_symptom_questions_on_the_patient_page(app, world, database, as_user):
    from hemma.models import Pathway

    with database.session() as s:
        s.get(Pathway, world.pathways["opat"]).symptom_questions = [
            {"key": "chills", "text": "Har du haft frossa?", "alert": "high"}]
    pid = world.patient(unit="med")
    world.episode(pid, state="admitted", pathway="opat")
    phone = _patient_login(app, _code_for(as_user("sara"), pid))
    page = phone.get("/p").text
    assert "Har du haft frossa?" in page
    r = phone.post("/p/observations", data={**_form_fields(page), "symptom__chills": "yes"})
    assert r.status_code == 200 and "Ditt vårdteam har fått veta" in r.text
    with database.session() as s:
        assert s.scalar(select(Observation)).symptoms == {"chills": True}
        assert s.scalar(select(Alert)).severity == "high"


def test_sent_lately_lists_what_the_patient_sent(app, world, as_user):
    """The patient's list of what arrived holds their own values (temperature with its
    decimal, 37,0 not 37), not what staff measured at a visit."""
    pid = world.patient(unit="med")
    world.episode(pid, state="admitted")
    sara = as_user("sara")
    form = sara.get(f"/patients/{pid}/observations/new").text
    client_id = re.search(r'name="client_id" value="([^"]+)"', form).group(1)
    r = sara.post(f"/patients/{pid}/observations/new", follow_redirects=False, data={
        "client_id": client_id, "pulse": "101", "temperature": "38,4"})
    assert r.status_code == 303, r.text
    phone = _patient_login(app, _code_for(sara, pid))
    fields = _form_fields(phone.get("/p").text)
    sent = phone.post("/p/observations", data={**fields, "temperature": "37", "pulse": "72"})
    assert sent.status_code == 200
    listed = phone.get("/p").text.split("sent-list")[1]
    assert "37,0 °C" in listed and "72" in listed
    assert "38,4" not in listed and "101" not in listed
