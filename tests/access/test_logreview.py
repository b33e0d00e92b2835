"""Log review: each organisation reviews its own staff's accesses, suspicious ones are
flagged, reviews are recorded; the patient's log extract lists units and times."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from hemma.kit.time import at_local, frozen_clock, local_today, utcnow
from hemma.models import AuditEntry, AuditReview, Patient


def _number(database, pid):
    with database.session() as s:
        return s.get(Patient, pid).personnummer


def test_flags_and_review(world, database, as_user):
    # Lisa Läkare opens a patient called Läkare, at night, through a personal relationship.
    relative = world.patient(unit=None, family="Läkare")
    world.relation(relative, person="lisa", documented_by="med")
    # Lisa opens another patient under emergency access.
    stranger = world.patient(unit="hsv", registered_by="hsv")
    # Sara reads her own unit's patient in daytime: nothing to flag.
    ordinary = world.patient(unit="med")
    # The coming night (the relationships above start now: the clock may not go back).
    night = at_local(local_today(), "23:30")
    if night <= utcnow():
        night = at_local(local_today() + timedelta(days=1), "23:30")
    with frozen_clock(night):
        world.emergency(stranger, "lisa")
        lisa = as_user("lisa")
        assert lisa.get(f"/patients/{relative}").status_code == 200
        assert lisa.get(f"/patients/{stranger}").status_code == 200
    with frozen_clock(night + timedelta(hours=11)):
        sara = as_user("sara")
        assert sara.get(f"/patients/{ordinary}").status_code == 200
        kim = as_user("kim")
        kim.get(f"/patients/{stranger}")

        rita = as_user("rita")
        entries = rita.get("/api/v1/audit/entries").json()
        by_patient = {e["patient_id"]: e for e in entries if e["patient_id"]}
        assert set(by_patient[str(relative)]["flags"]) == {"outside_unit", "same_surname",
                                                           "night"}
        assert {"emergency", "outside_unit", "night"} <= set(by_patient[str(stranger)]["flags"])
        assert by_patient[str(ordinary)]["flags"] == []
        # Kommunen's users are Kommunen's reviewer's business.
        assert all(e["organisation_id"] == world.orgs["region"] for e in entries)

        flagged = rita.get("/api/v1/audit/entries", params={"flagged_only": "true"}).json()
        assert {e["patient_id"] for e in flagged} == {str(relative), str(stranger)}
        only_lisa = rita.get("/api/v1/audit/entries", params={"username": "lisa"}).json()
        assert {e["username"] for e in only_lisa} == {"lisa"}
        by_number = rita.get("/api/v1/audit/entries",
                             params={"personnummer": _number(database, ordinary)}).json()
        assert {e["patient_id"] for e in by_number} == {str(ordinary)}

        page = rita.get("/logs?flagged_only=true")
        assert page.status_code == 200
        assert "Samma efternamn" in page.text and "Nattetid" in page.text

        entry_id = by_patient[str(stranger)]["id"]
        r = rita.post("/logs/review", data={"entry_ids": [str(entry_id)], "outcome": "justified",
                                            "note": "Akut omhändertagande"},
                      follow_redirects=False)
        assert r.status_code == 303
        with database.session() as s:
            review = s.scalar(select(AuditReview).where(AuditReview.entry_id == entry_id))
            assert review.reviewer_id == world.staff["rita"] and review.outcome == "justified"
        assert "Befogad" in rita.get("/logs").text

        # Rita cannot review Kommunen's entries.
        with database.session() as s:
            kim_entry = s.scalar(select(AuditEntry.id).where(AuditEntry.username == "kim"))
        r = rita.post("/api/v1/audit/reviews", json={"entry_ids": [kim_entry],
                                                     "outcome": "incident"})
        assert r.status_code == 422


def test_log_review_is_for_log_reviewers(world, as_user):
    for username in ("sara", "lisa", "adam"):
        assert as_user(username).get("/logs").status_code == 403
        assert as_user(username).get("/api/v1/audit/entries").status_code == 403


def test_viewing_the_log_is_itself_logged(world, database, as_user):
    pid = world.patient(unit="med")
    as_user("sara").get(f"/patients/{pid}")
    as_user("rita").get("/logs")
    with database.session() as s:
        actions = s.scalars(select(AuditEntry.action).where(AuditEntry.username == "rita",
                                                            AuditEntry.patient_id == pid)).all()
    assert actions == ["log.review"]


def test_patient_log_extract(world, database, as_user):
    pid = world.patient(unit="med")
    world.relation(pid, unit="hc")
    world.relation(pid, unit="hsv", documented_by="med")
    as_user("sara").get(f"/patients/{pid}")
    as_user("hugo").get(f"/patients/{pid}")
    as_user("kim").get(f"/patients/{pid}")
    number = _number(database, pid)
    extract = as_user("rita").get("/api/v1/audit/extract", params={"personnummer": number}).json()
    assert {u["unit"] for u in extract["units"]} == {"Medicinkliniken", "Hälsocentralen"}
    page = as_user("rita").get(f"/logs/extract?personnummer={number}")
    assert "Medicinkliniken" in page.text and "Hälsocentralen" in page.text
    kommun = as_user("mona").get("/api/v1/audit/extract", params={"personnummer": number}).json()
    assert [u["unit"] for u in kommun["units"]] == ["Hemsjukvården"]
    r = as_user("mona").get("/api/v1/audit/extract", params={"personnummer": "19121212-1212"})
    assert r.status_code == 404
