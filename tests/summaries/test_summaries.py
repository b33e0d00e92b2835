"""The discharge summary: drafted from the episode, edited and signed by the physician, sent
to the units that take over (each acknowledges), as a page and a PDF; the patient's page says
"Du är utskriven"; who may read and change it."""

from __future__ import annotations

import io
import re
import uuid
from datetime import timedelta

from pypdf import PdfReader
from sqlalchemy import func, select

from hemma.kit.time import at_local, local_date, utcnow
from hemma.models import (
    DischargeSummary,
    Episode,
    Observation,
    RoundNote,
    SummaryReceipt,
)


def _discharged(world, database):
    """A patient discharged an hour ago after three days at home with a fever handled, a
    round decision, and the municipality in the care team (with consent both ways)."""
    pid = world.patient(unit="med", name="Gunnel", family="Lindgren")
    world.relation(pid, unit="hsv")
    world.relation(pid, unit="hc")
    world.consent(pid, "region")
    world.consent(pid, "kommun")
    eid = world.episode(pid, state="discharged", pathway="snabbspar")
    now = utcnow()
    with database.session() as s:
        e = s.get(Episode, eid)
        for i, temp in enumerate((38.9, 38.1, 37.2)):
            s.add(Observation(patient_id=pid, episode_id=eid, client_id=f"t-{uuid.uuid4()}",
                              measured_at=now - timedelta(hours=40 - 12 * i), received_at=now,
                              performer="patient", source="api",
                              documented_by_unit_id=world.units["med"], temperature=temp,
                              pulse=90 - 5 * i, news2_partial=True))
        s.add(RoundNote(patient_id=pid, episode_id=eid, staff_id=world.staff["lisa"],
                        documented_by_unit_id=world.units["med"], at=now - timedelta(hours=20),
                        decision="continue", note="Feberfri, fortsätt antibiotika."))
        e.end_note = "Utskriven efter avslutad antibiotikakur."
        # Three calendar days at home whatever the hour the test runs: admitted at one in
        # the night two local days before the discharge (an hour ago).
        e.admitted_at = at_local(local_date(e.ended_at) - timedelta(days=2), "01:00")
    world.alert(pid, unit="med", status="resolved")
    return pid, eid


def _url(pid, eid):
    return f"/api/v1/patients/{pid}/episodes/{eid}/summary"


def test_the_physician_drafts_signs_and_sends_and_each_unit_acknowledges(world, database,
                                                                        as_user):
    pid, eid = _discharged(world, database)
    lisa, sara, kim, hugo = (as_user(u) for u in ("lisa", "sara", "kim", "hugo"))
    assert lisa.get(_url(pid, eid)).json() == {"exists": False, "facts": None, "text": None,
                                               "next_steps": None, "created_by": None,
                                               "signed_at": None, "signed_by": None,
                                               "receipts": []}
    r = sara.post(_url(pid, eid), json={})
    assert r.status_code == 201, r.text
    facts = r.json()["facts"]
    assert facts["days_at_home"] == 3
    temps = next(t for t in facts["trends"] if t["parameter"] == "temperature")
    assert (temps["first"], temps["last"], temps["max"], temps["n"]) == (38.9, 37.2, 38.9, 3)
    assert facts["rounds"][0]["note"] == "Feberfri, fortsätt antibiotika."
    assert len(facts["alerts"]) == 1
    assert r.json()["text"] == "Utskriven efter avslutad antibiotikakur."
    r = sara.put(_url(pid, eid), json={"text": "Behandlad för pyelonefrit i hemmet.",
                                       "next_steps": "Hälsocentralen ringer dig inom en vecka."})
    assert r.status_code == 200
    # Only a physician signs.
    body = {"receivers": [world.units["hc"], world.units["hsv"]]}
    assert sara.post(_url(pid, eid) + "/sign", json=body).status_code == 403
    r = lisa.post(_url(pid, eid) + "/sign", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["signed_by"].startswith("Lisa")
    assert {x["unit"] for x in r.json()["receipts"]} == {"Hälsocentralen", "Hemsjukvården"}
    # Signed: it no longer changes.
    assert sara.put(_url(pid, eid), json={"text": "Ändrad"}).status_code == 409
    # Each receiving unit sees it in its inbox and acknowledges it.
    assert [x["patient"] for x in kim.get("/api/v1/summaries").json()] == ["Lindgren, Gunnel"]
    assert "Lindgren, Gunnel" in kim.get("/summaries").text
    assert kim.post(_url(pid, eid) + "/acknowledge", json={}).status_code == 200
    assert kim.post(_url(pid, eid) + "/acknowledge", json={}).status_code == 409
    page = hugo.get(f"/patients/{pid}/episodes/{eid}/summary")
    assert page.status_code == 200 and 'action="/patients' in page.text
    r = hugo.post(f"/patients/{pid}/episodes/{eid}/summary/acknowledge",
                  follow_redirects=False)
    assert r.status_code == 303
    receipts = lisa.get(_url(pid, eid)).json()["receipts"]
    assert all(x["acknowledged_at"] for x in receipts)
    # A unit it was not sent to cannot acknowledge it.
    assert sara.post(_url(pid, eid) + "/acknowledge", json={}).status_code == 403


def test_the_pdf_holds_the_content_in_large_type_without_ids(world, database, as_user):
    pid, eid = _discharged(world, database)
    lisa = as_user("lisa")
    lisa.post(_url(pid, eid), json={})
    lisa.put(_url(pid, eid), json={"text": "Behandlad för pyelonefrit i hemmet.",
                                   "next_steps": "Hälsocentralen ringer dig inom en vecka."})
    lisa.post(_url(pid, eid) + "/sign", json={"receivers": [world.units["hc"]]})
    r = lisa.get(f"/patients/{pid}/episodes/{eid}/summary.pdf")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(r.content))
    text = " ".join(" ".join(page.extract_text() for page in reader.pages).split())
    for expected in ("Gunnel Lindgren", "pyelonefrit", "Hälsocentralen ringer dig", "3",
                     "Feberfri, fortsätt antibiotika."):
        assert expected in text, expected
    assert not re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-", text)
    assert str(eid) not in text and str(pid) not in text


def test_the_patients_page_says_discharged_with_next_steps_and_whom_to_call(world, database,
                                                                          as_user, app):
    from hemma.access.auth import create_patient_code
    from tests.monitoring.test_patient_page import _patient_login

    pid, eid = _discharged(world, database)
    with database.session() as s:
        code, _row = create_patient_code(s, pid, world.staff["sara"])
    client = _patient_login(app, code)
    lisa = as_user("lisa")
    lisa.post(_url(pid, eid), json={})
    lisa.put(_url(pid, eid), json={"text": "Klar.", "next_steps": "Hälsocentralen ringer dig."})
    assert "Du är utskriven" not in client.get("/p").text  # not before it is signed
    lisa.post(_url(pid, eid) + "/sign", json={"receivers": [world.units["hc"]]})
    page = client.get("/p").text
    assert "Du är utskriven" in page and "Hälsocentralen ringer dig." in page
    assert "Hälsocentralen" in page and 'action="/p/observations"' not in page


def test_sending_to_another_organisation_needs_consent_and_nothing_is_half_sent(
        world, database, as_user):
    pid = world.patient(unit="med")
    world.relation(pid, unit="hsv")
    eid = world.episode(pid, state="discharged", pathway="snabbspar")
    lisa = as_user("lisa")
    lisa.post(_url(pid, eid), json={})
    lisa.put(_url(pid, eid), json={"text": "Klar."})
    r = lisa.post(_url(pid, eid) + "/sign",
                  json={"receivers": [world.units["hc"], world.units["hsv"]]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "receivers"
    assert "Hemsjukvården" in r.json()["errors"][0]["message"]
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(SummaryReceipt)) == 0
        assert s.scalar(select(DischargeSummary.signed_at)) is None
    for body, field in [({"receivers": []}, "receivers"), ({"receivers": [0]}, "receivers.0"),
                        ({"receivers": [world.units["med"]]}, "receivers")]:
        r = lisa.post(_url(pid, eid) + "/sign", json=body)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == field, body


def test_without_consent_the_municipality_sees_no_summary_and_no_one_outside_changes_it(
        world, database, as_user):
    pid = world.patient(unit="med")
    world.relation(pid, unit="hsv")
    eid = world.episode(pid, state="discharged", pathway="snabbspar")
    lisa, kim = as_user("lisa"), as_user("kim")
    lisa.post(_url(pid, eid), json={})
    assert kim.get(_url(pid, eid)).status_code == 404
    assert kim.get(f"/patients/{pid}/episodes/{eid}/summary.pdf").status_code == 404
    world.consent(pid, "kommun")
    world.consent(pid, "region")
    assert kim.get(_url(pid, eid)).status_code == 200
    assert kim.put(_url(pid, eid), json={"text": "Kommunens text"}).status_code == 404 or \
        kim.put(_url(pid, eid), json={"text": "Kommunens text"}).status_code == 403


def test_a_summary_waits_for_discharge(world, as_user):
    pid = world.patient(unit="med")
    eid = world.episode(pid, state="admitted")
    r = as_user("lisa").post(_url(pid, eid), json={})
    assert r.status_code == 409
