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

    r = sara.post(f"{patient_url}/episodes/{episode.id}/admit", data={
        "responsible_physician_id": world.staff["lisa"], "coordinator_id": world.staff["carl"],
        "held_bed": "true", "held_bed_location": "Avd 5"}, follow_redirects=False)
    assert r.status_code == 303, r.text

    page = sara.get("/home-ward")
    assert page.status_code == 200
    assert "Lindgren, Gunnel" in page.text
    assert re.search(r"Inskriven", page.text)

    r = sara.post(f"{patient_url}/episodes/{episode.id}/discharge",
                  data={"note": "Klar med antibiotika."}, follow_redirects=False)
    assert r.status_code == 303, r.text
    assert "Lindgren" not in sara.get("/home-ward").text
    with database.session() as s:
        actions = set(s.scalars(select(AuditEntry.action)))
    assert {"patient.register", "episode.assess", "episode.admit", "episode.discharge",
            "homeward.list"} <= actions
