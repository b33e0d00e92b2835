"""The home-ward flow through the pages, as a nurse would click it."""

from __future__ import annotations

import re
import uuid
from datetime import date

from sqlalchemy import select

from hemma.models import AuditEntry, Episode
from hemma.patients.personnummer import make


def test_nurse_registers_assesses_admits_and_discharges(as_user, world, database):
    sara = as_user("sara")
    r = sara.post("/patients/new", data={
        "personnummer": make(date(1940, 5, 17), 980), "given_name": "Gunnel", "family_name": "Lindgren",
        "language": "sv", "digital_ability": "none", "csrf_token": world.csrf[id(sara)]},
        follow_redirects=False)
    assert r.status_code == 303, r.text
    patient_url = r.headers["location"].split("?")[0]
    pid = patient_url.rsplit("/", 1)[1]

    r = sara.post(f"{patient_url}/episodes/new", data={
        "pathway_id": world.pathways["opat"], "responsible_unit_id": world.units["med"],
        "assessment_note": "NEWS2 2"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    with database.session() as s:
        episode = s.scalar(select(Episode).where(Episode.patient_id == uuid.UUID(pid)))
        assert episode.state == "assessing"

    # Without the physician's decision there is nothing to admit on.
    r = sara.post(f"{patient_url}/episodes/{episode.id}/admit", data={
        "responsible_physician_id": world.staff["lisa"]}, follow_redirects=False)
    assert r.status_code == 409
    r = sara.post(f"{patient_url}/episodes/{episode.id}/assessment", data={
        "adl.status": "met", "mobility.status": "met", "home.status": "met",
        "medication.status": "met", "information.consent_home": "true"},
        follow_redirects=False)
    assert r.status_code == 303, r.text
    lisa = as_user("lisa")
    r = lisa.post(f"{patient_url}/episodes/{episode.id}/assessment/decision", data={
        "decision": "admit", "version": "1", "reason": "Stabil, värden tas hemma i kväll."},
        follow_redirects=False)
    assert r.status_code == 303, r.text

    r = sara.post(f"{patient_url}/episodes/{episode.id}/admit", data={
        "responsible_physician_id": world.staff["lisa"], "coordinator_id": world.staff["carl"],
        "held_bed": "true", "held_bed_location": "Avd 5"}, follow_redirects=False)
    assert r.status_code == 303, r.text

    page = sara.get("/home-ward")
    assert page.status_code == 200
    assert "Lindgren, Gunnel" in page.text
    assert re.search(r"Inskriven", page.text)

    r = sara.post(f"{patient_url}/episodes/{episode.id}/discharge",
                  data={"outcome": "completed", "note": "Klar med antibiotika."},
                  follow_redirects=False)
    assert r.status_code == 303, r.text
    assert "Lindgren" not in sara.get("/home-ward").text
    with database.session() as s:
        actions = set(s.scalars(select(AuditEntry.action)))
    assert {"patient.register", "episode.assess", "assessment.save", "assessment.decide",
            "episode.admit", "episode.discharge",
            "homeward.list"} <= actions


def test_the_home_ward_list_shows_who_is_getting_worse(world, as_user):
    from hemma.kit.time import utcnow

    calm = world.patient(unit="med", family="Lugn")
    world.episode(calm, state="admitted")
    worse = world.patient(unit="med", family="Sämre")
    world.episode(worse, state="admitted")
    sara = as_user("sara")
    for pid, values in ((calm, dict(respiration_rate=16, spo2=97, temperature=36.9,
                                    systolic_bp=130, pulse=72, consciousness="A",
                                    on_oxygen=False)),
                        (worse, dict(respiration_rate=26, spo2=91, temperature=38.9,
                                     systolic_bp=98, pulse=124, consciousness="A",
                                     on_oxygen=False))):
        r = sara.post(f"/api/v1/patients/{pid}/observations", json={
            "client_id": f"ward-{pid}", "measured_at": utcnow().isoformat(), **values})
        assert r.status_code == 201
    rows = {r["name"]: r for r in sara.get("/api/v1/home-ward?scope=unit").json()}
    assert rows["Test Lugn"]["news2_total"] == 0 and rows["Test Lugn"]["open_alerts"] == 0
    assert rows["Test Sämre"]["news2_band"] == "high" and rows["Test Sämre"]["open_alerts"] == 1
    page = sara.get("/home-ward?scope=unit")
    row = page.text.split(f'data-patient="{worse}"')[1].split("</tr>")[0]
    assert 'class="attention"' in row and "1 öppet larm" in row
    calm_row = page.text.split(f'data-patient="{calm}"')[1].split("</tr>")[0]
    assert "attention" not in calm_row


def test_a_temperature_sent_alone_does_not_look_like_getting_better(world, as_user):
    """A NEWS2 of 5 or more from a complete set, then only a temperature: the list shows the
    complete score (a lone temperature scores 1 at most)."""
    from datetime import timedelta

    from hemma.kit.time import utcnow

    pid = world.patient(unit="med", family="Ensam")
    world.episode(pid, state="admitted")
    sara = as_user("sara")
    sent = [(utcnow() - timedelta(hours=2), dict(respiration_rate=22, spo2=95, temperature=38.2,
                                                 systolic_bp=105, pulse=96, consciousness="A",
                                                 on_oxygen=False)),
            (utcnow(), dict(temperature=38.9))]
    answers = []
    for i, (at, values) in enumerate(sent):
        r = sara.post(f"/api/v1/patients/{pid}/observations", json={
            "client_id": f"alone-{i:06d}", "measured_at": at.isoformat(), **values})
        assert r.status_code == 201, r.text
        answers.append(r.json())
    complete, alone = answers
    assert complete["news2_total"] >= 5 and complete["news2_partial"] is False
    assert alone["news2_partial"] is True and alone["news2_total"] <= 1
    (row,) = [x for x in sara.get("/api/v1/home-ward?scope=unit").json()
              if x["patient_id"] == str(pid)]
    assert row["news2_total"] == complete["news2_total"] and row["news2_partial"] is False
