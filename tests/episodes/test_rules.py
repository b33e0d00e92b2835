"""The rules of the home-ward episode: virtual beds, one active episode (also under
concurrency), who may change it, and how the care team's access ends."""

from __future__ import annotations

import threading
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from hemma.kit.time import frozen_clock, utcnow
from hemma.models import Episode


def _admit(client, pid, eid, world, **extra):
    import uuid

    eid, pid = uuid.UUID(str(eid)), uuid.UUID(str(pid))
    with world.database.session() as s:
        from hemma.models import Assessment

        decided = s.scalar(select(Assessment.id).where(Assessment.episode_id == eid,
                                                       Assessment.decision == "admit"))
    if decided is None:  # started through the API here: the physician's decision first
        world.assessed(pid, eid)
    return client.post(f"/api/v1/patients/{pid}/episodes/{eid}/admit",
                       json={"responsible_physician_id": world.staff["lisa"], **extra})


def test_admission_takes_the_lowest_free_virtual_bed_until_the_ward_is_full(world, as_user):
    sara = as_user("sara")
    for bed in (1, 2, 4, 5):  # bed 3 is free; the ward has 5
        world.episode(world.patient(unit="med"), state="admitted", bed=bed)
    pid = world.patient(unit="med")
    eid = world.episode(pid, state="assessing")
    r = _admit(sara, pid, eid, world)
    assert r.status_code == 200 and r.json()["bed_number"] == 3
    other = world.patient(unit="med")
    other_eid = world.episode(other, state="assessing")
    r = _admit(sara, other, other_eid, world)
    assert r.status_code == 409
    assert r.json()["errors"] == [{"field": "bed_number",
                                   "message": "Det finns ingen ledig virtuell vårdplats"}]
    # Discharging frees the bed.
    assert sara.post(f"/api/v1/patients/{pid}/episodes/{eid}/discharge",
                     json={"note": "Klar", "outcome": "completed"}).status_code == 200
    assert _admit(sara, other, other_eid, world).json()["bed_number"] == 3


def test_held_bed_needs_a_place_and_times_cannot_be_in_the_future(world, as_user):
    sara = as_user("sara")
    pid = world.patient(unit="med")
    eid = world.episode(pid, state="assessing")
    r = _admit(sara, pid, eid, world, held_bed=True)
    assert r.status_code == 422
    r = _admit(sara, pid, eid, world, admitted_at=(utcnow() + timedelta(hours=2)).isoformat())
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "admitted_at"
    r = _admit(sara, pid, eid, world, held_bed=True, held_bed_location="Avd 5",
               coordinator_id=world.staff["kim"], sharing="consent")
    assert r.status_code == 200
    body = r.json()
    assert body["held_bed"] and body["held_bed_location"] == "Avd 5"
    # A coordinator from Kommunen joins the care team by name.
    team = sara.get(f"/api/v1/patients/{pid}/care-team").json()["members"]
    assert any(m["staff_id"] == world.staff["kim"] and m["active"] for m in team)


def test_one_active_episode_even_when_ten_nurses_press_at_once(app, world, database, as_user):
    pid = world.patient(unit="med")
    clients = []
    for _ in range(10):
        clients.append(as_user("sara"))
    barrier = threading.Barrier(len(clients))
    results = []

    def start(client: TestClient):
        barrier.wait()
        r = client.post(f"/api/v1/patients/{pid}/episodes",
                        json={"pathway_id": world.pathways["opat"]})
        results.append(r.status_code)

    threads = [threading.Thread(target=start, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [201] + [409] * 9
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(Episode)
                        .where(Episode.patient_id == pid)) == 1


def test_another_organisation_may_read_but_not_change_the_episode(world, as_user):
    pid = world.patient(unit="med")
    world.relation(pid, unit="hsv", documented_by="med")
    world.consent(pid, "kommun")
    eid = world.episode(pid, state="admitted")
    kim = as_user("kim")
    assert kim.get(f"/api/v1/patients/{pid}/episodes").json()[0]["id"] == str(eid)
    r = kim.post(f"/api/v1/patients/{pid}/episodes/{eid}/discharge",
                 json={"note": "Klar", "outcome": "completed"})
    assert r.status_code == 403
    assert "organisation" in r.json()["detail"]
    page = kim.get(f"/patients/{pid}")
    assert f"/episodes/{eid}/discharge" not in page.text


def test_discharge_ends_the_teams_access_after_the_follow_up_period(world, as_user):
    sara = as_user("sara")
    kim = as_user("kim")
    r = sara.post("/api/v1/patients", json={
        "personnummer": "19121212-1212", "given_name": "Tolvan", "family_name": "Tolvansson"})
    pid = r.json()["id"]
    eid = sara.post(f"/api/v1/patients/{pid}/episodes",
                    json={"pathway_id": world.pathways["opat"]}).json()["id"]
    _admit(sara, pid, eid, world)
    assert sara.post(f"/api/v1/patients/{pid}/care-team",
                     json={"unit_id": world.units["hsv"], "sharing": "consent"}
                     ).status_code == 201
    assert kim.get(f"/patients/{pid}").status_code == 200
    assert sara.post(f"/api/v1/patients/{pid}/episodes/{eid}/discharge",
                     json={"note": "Klar", "outcome": "completed"}).json()["state"] == "discharged"
    with frozen_clock(utcnow() + timedelta(days=6)):
        # Sessions would have timed out; log in afresh in the future.
        assert as_user("kim").get(f"/patients/{pid}").status_code == 200
    with frozen_clock(utcnow() + timedelta(days=7, minutes=5)):
        kim2, sara2 = as_user("kim"), as_user("sara")
        assert kim2.get(f"/patients/{pid}").status_code == 404
        assert sara2.get(f"/patients/{pid}").status_code == 404


def test_return_to_hospital_and_closing_an_assessment(world, as_user):
    sara = as_user("sara")
    pid = world.patient(unit="med")
    eid = world.episode(pid, state="admitted")
    r = sara.post(f"/api/v1/patients/{pid}/episodes/{eid}/return",
                  json={"note": "NEWS2 7, andningspåverkad", "reason": "deterioration",
                        "ambulance_informed": True})
    assert r.status_code == 200 and r.json()["state"] == "returned"
    assert r.json()["end_reason"] == "deterioration"
    assert r.json()["bed_number"] == 1  # kept as history; the bed is free again
    r = sara.post(f"/api/v1/patients/{pid}/episodes/{eid}/return",
                  json={"note": "igen", "reason": "deterioration"})
    assert r.status_code == 409
    other = world.patient(unit="med")
    assessing = world.episode(other, state="assessing")
    r = sara.post(f"/api/v1/patients/{other}/episodes/{assessing}/close",
                  json={"note": "Vill stanna på avdelningen"})
    assert r.json()["state"] == "not_admitted" and r.json()["end_reason"] is None
    r = sara.post(f"/api/v1/patients/{other}/episodes/{assessing}/discharge",
                  json={"note": "x", "outcome": "completed"})
    assert r.status_code == 409


def test_the_responsible_unit_stays_in_the_team(world, as_user):
    sara = as_user("sara")
    pid = world.patient(unit=None)
    world.relation(pid, unit="med")
    world.episode(pid, state="admitted")
    team = sara.get(f"/api/v1/patients/{pid}/care-team").json()["members"]
    med = next(m for m in team if m["unit_id"] == world.units["med"])
    r = sara.post(f"/api/v1/patients/{pid}/care-team/{med['id']}/end")
    assert r.status_code == 409


def test_home_ward_list_shows_state_days_coordinator_and_team(world, as_user):
    pid = world.patient(unit="med", name="Rune", family="Öberg")
    world.relation(pid, unit="hsv", documented_by="med")
    world.episode(pid, state="admitted")
    sara = as_user("sara")
    rows = sara.get("/api/v1/home-ward").json()
    assert len(rows) == 1
    row = rows[0]
    assert row["state"] == "admitted" and row["day_at_home"] in (2, 3)
    assert row["coordinator"] == "Carl Samordnare" and row["physician"] == "Lisa Läkare"
    assert row["team_organisations"] == ["Kommunen", "Region Norr"]
    page = sara.get("/home-ward").text
    assert "Öberg, Rune" in page and "Carl Samordnare" in page and "Kommunen" in page
    # Kommunen's nurse sees the patient on her list, without the region's episode (no consent).
    kim = as_user("kim")
    kim_rows = kim.get("/api/v1/home-ward").json()
    assert [r["visible"] for r in kim_rows] == [False]
    assert kim_rows[0]["hidden_reason"] == "no_consent" and kim_rows[0]["state"] is None
    assert "kräver patientens samtycke" in kim.get("/home-ward").text


def test_a_care_relationship_can_have_a_planned_end(world, as_user):
    from datetime import date

    from hemma.kit.time import local_today

    sara = as_user("sara")
    pid = world.patient(unit="med")
    until = local_today() + timedelta(days=3)
    r = sara.post(f"/api/v1/patients/{pid}/care-team",
                  json={"staff_id": world.staff["pia"], "role": "Rehab", "until": str(until),
                        "sharing": "consent"})
    assert r.status_code == 201
    pia_relation = next(m for m in r.json()["members"] if m["staff_id"] == world.staff["pia"])
    assert pia_relation["ends_at"] is not None
    assert as_user("pia").get(f"/patients/{pid}").status_code == 200
    with frozen_clock(utcnow() + timedelta(days=4, hours=1)):
        assert as_user("pia").get(f"/patients/{pid}").status_code == 404
    r = sara.post(f"/api/v1/patients/{pid}/care-team",
                  json={"unit_id": world.units["hc"], "until": str(date(2020, 1, 1))})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "until"
