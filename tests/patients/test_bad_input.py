"""Bad input gets a clear error that names the field, and changes nothing."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from hemma.models import AuditEntry, CareRelation, Episode, Patient, Relative
from hemma.patients.personnummer import make

GOOD = {"given_name": "Gunnel", "family_name": "Lindgren", "language": "sv",
        "digital_ability": "none"}


def _counts(database) -> dict:
    with database.session() as s:
        return {m.__name__: s.scalar(select(func.count()).select_from(m))
                for m in (Patient, Episode, CareRelation, Relative)}


def _fields(r) -> dict:
    return {e["field"]: e["message"] for e in r.json()["errors"]}


@pytest.mark.parametrize("personnummer", ["19400517-0000", "19401317-9804", "hej", ""])
def test_invalid_personnummer(personnummer, world, database, as_user):
    sara = as_user("sara")
    before = _counts(database)
    r = sara.post("/api/v1/patients", json={**GOOD, "personnummer": personnummer})
    assert r.status_code == 422
    assert "personnummer" in _fields(r)
    page = sara.post("/patients/new", data={**GOOD, "personnummer": personnummer})
    assert page.status_code == 422
    assert 'id="personnummer-error"' in page.text
    assert _counts(database) == before


def test_error_messages_are_swedish_and_name_each_field(world, as_user):
    sara = as_user("sara")
    r = sara.post("/api/v1/patients", json={
        "personnummer": make(date(1940, 1, 1), 1), "given_name": "", "family_name": "A" * 300,
        "latitude": 18.6, "longitude": 64.5, "phone": "ring mig", "postal_code": "12"})
    fields = _fields(r)
    assert r.status_code == 422
    assert fields["given_name"] == "Fältet måste fyllas i"
    assert fields["family_name"] == "Högst 100 tecken"
    assert "latitude" in fields and "longitude" in fields  # swapped coordinates are caught
    assert "phone" in fields and "postal_code" in fields


def test_second_active_episode_is_refused(world, database, as_user):
    pid = world.patient(unit="med")
    world.episode(pid, state="assessing")
    sara = as_user("sara")
    before = _counts(database)
    r = sara.post(f"/api/v1/patients/{pid}/episodes", json={"pathway_id": world.pathways["opat"]})
    assert r.status_code == 409
    assert _fields(r) == {"patient_id": "Patienten har redan ett pågående vårdtillfälle i hemmet"}
    page = sara.post(f"/patients/{pid}/episodes/new",
                     data={"pathway_id": world.pathways["opat"]})
    assert page.status_code == 409 and "pågående vårdtillfälle" in page.text
    assert _counts(database) == before


def test_unknown_unit_pathway_and_staff(world, database, as_user):
    pid = world.patient(unit="med")
    sara = as_user("sara")
    before = _counts(database)
    r = sara.post(f"/api/v1/patients/{pid}/episodes",
                  json={"pathway_id": world.pathways["opat"], "responsible_unit_id": 9999})
    assert r.status_code == 422 and "responsible_unit_id" in _fields(r)
    r = sara.post(f"/api/v1/patients/{pid}/episodes", json={"pathway_id": 9999})
    assert r.status_code == 422 and "pathway_id" in _fields(r)
    r = sara.post(f"/api/v1/patients/{pid}/care-team", json={"unit_id": 9999})
    assert r.status_code == 422 and "unit_id" in _fields(r)
    # Kommunen's unit has no home ward of its own.
    r = sara.post(f"/api/v1/patients/{pid}/episodes",
                  json={"pathway_id": world.pathways["opat"],
                        "responsible_unit_id": world.units["hsv"]})
    assert r.status_code in (404, 422)
    assert _counts(database) == before


def test_malformed_and_oversized_json(world, database, as_user):
    sara = as_user("sara")
    before = _counts(database)
    r = sara.post("/api/v1/patients", content=b'{"personnummer": ',
                  headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["message"] == "Anropet innehåller inte giltig JSON"
    r = sara.post("/api/v1/patients", content=b"[1, 2, 3]",
                  headers={"content-type": "application/json"})
    assert r.status_code == 422
    big = b'{"personnummer": "' + b"1" * 2_000_000 + b'"}'
    r = sara.post("/api/v1/patients", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413
    r = sara.post("/api/v1/patients", json={**GOOD, "personnummer": make(date(1940, 1, 1), 5),
                                            "shoe_size": 44})
    assert r.status_code == 422 and "shoe_size" in _fields(r)
    assert _counts(database) == before


def test_a_failed_action_leaves_no_half_written_rows(world, database, as_user):
    """Admission validates the physician after the bed is chosen: nothing may remain."""
    pid = world.patient(unit="med")
    eid = world.episode(pid, state="assessing")
    sara = as_user("sara")
    with database.session() as s:
        audit_before = s.scalar(select(func.count()).select_from(AuditEntry))
    r = sara.post(f"/api/v1/patients/{pid}/episodes/{eid}/admit",
                  json={"responsible_physician_id": world.staff["sara"]})  # not a physician
    assert r.status_code == 422 and _fields(r) == {"responsible_physician_id": "Välj en läkare"}
    with database.session() as s:
        episode = s.get(Episode, eid)
        assert episode.state == "assessing" and episode.bed_number is None
        # A refused request logs nothing, as nothing was shown or changed.
        assert s.scalar(select(func.count()).select_from(AuditEntry)) == audit_before


def test_registering_an_existing_personnummer_asks_why_before_joining_the_team(
        world, database, as_user):
    pid = world.patient(unit="hsv", registered_by="hsv")
    with database.session() as s:
        number = s.get(Patient, pid).personnummer
        relations_before = s.scalar(select(func.count()).select_from(CareRelation))
    sara = as_user("sara")
    assert sara.get(f"/patients/{pid}").status_code == 404
    # Without a reason, nothing happens: the answer says the patient exists and asks why.
    r = sara.post("/api/v1/patients", json={**GOOD, "personnummer": number})
    assert r.status_code == 409 and "join_reason" in _fields(r)
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(CareRelation)) == relations_before
    assert sara.get(f"/patients/{pid}").status_code == 404
    r = sara.post("/api/v1/patients", json={**GOOD, "personnummer": number,
                                            "join_reason": "other"})
    assert r.status_code == 422 and "join_note" in _fields(r)
    r = sara.post("/api/v1/patients", json={**GOOD, "personnummer": number,
                                            "join_reason": "care_request"})
    assert r.status_code == 200 and r.json()["id"] == str(pid)
    # The identity is the existing one, not what was typed.
    assert r.json()["given_name"] == "Test"
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(Patient)) == 1
        entry = s.scalars(select(AuditEntry).where(
            AuditEntry.patient_id == pid, AuditEntry.action == "patient.register_existing")).one()
        assert "care_request" in entry.detail and entry.username == "sara"
    # The log review flags it.
    rita = as_user("rita")
    flagged = rita.get("/api/v1/audit/entries", params={"flagged_only": "true"}).json()
    assert any(e["patient_id"] == str(pid) and "joined_existing" in e["flags"] for e in flagged)
    # Registering again, now in the team: nothing new, and the page says so.
    page = sara.post("/patients/new", data={**GOOD, "personnummer": number})
    assert page.status_code == 200 and "redan i vårdteamet" in page.text


def test_the_registration_page_asks_for_the_reason(world, database, as_user):
    pid = world.patient(unit="hsv", registered_by="hsv")
    with database.session() as s:
        number = s.get(Patient, pid).personnummer
    sara = as_user("sara")
    page = sara.post("/patients/new", data={**GOOD, "personnummer": number})
    assert page.status_code == 409
    assert "Patienten finns redan i Hemma" in page.text and 'name="join_reason"' in page.text
    joined = sara.post("/patients/new", data={**GOOD, "personnummer": number,
                                              "join_reason": "visit_booked"})
    assert joined.status_code == 200 and "Patienten fanns redan i Hemma" in joined.text


def test_patient_text_cannot_run_script_in_a_staff_browser(world, database, as_user):
    sara = as_user("sara")
    payload = '<script>alert(1)</script><img src=x onerror=alert(2)>'
    r = sara.post("/api/v1/patients", json={**GOOD, "personnummer": make(date(1941, 2, 3), 7),
                                            "given_name": payload, "street": payload})
    assert r.status_code == 201
    pid = r.json()["id"]
    assert sara.post(f"/api/v1/patients/{pid}/episodes",
                     json={"pathway_id": world.pathways["opat"]}).status_code == 201
    for page in (sara.get(f"/patients/{pid}").text, sara.get("/home-ward?scope=team").text,
                 sara.get(f"/patients/{pid}/edit").text):
        assert "<script>alert(1)" not in page and "<img src=x" not in page
        assert "&lt;script&gt;" in page
