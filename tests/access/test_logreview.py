"""Log review: each organisation reviews its own staff's accesses, suspicious ones are
flagged, reviews are recorded; the patient's log extract lists units and times."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import func, select

from hemma.kit.time import at_local, frozen_clock, local_today, utcnow
from hemma.models import AuditEntry, AuditReview, Patient
from hemma.patients.personnummer import format_number


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
    # One line a day per unit, with how many and between which times: not one per page view.
    for _ in range(3):
        as_user("sara").get(f"/patients/{pid}")
    page = as_user("rita").get(f"/logs/extract?personnummer={number}").text
    med = page.split("<h3>Medicinkliniken")[1].split("</section>")[0]
    assert med.count("<tr><td") == 1 and re.search(r"<td>([4-9]|\d\d)</td>", med), med
    kommun = as_user("mona").get("/api/v1/audit/extract", params={"personnummer": number}).json()
    assert [u["unit"] for u in kommun["units"]] == ["Hemsjukvården"]
    # A mistyped number is named as such: nothing was looked up, so no "no accesses".
    bad = as_user("rita").get("/logs/extract?personnummer=hej").text
    assert 'id="personnummer-error"' in bad and "Inga åtkomster" not in bad
    assert "Ingenting sparades" not in bad
    r = as_user("mona").get("/api/v1/audit/extract", params={"personnummer": "19121212-1212"})
    assert r.status_code == 404


def _ten_oclock():
    """The coming 10:00 Swedish time: daytime (no night flags), after the relationships
    the test makes begin (the clock may not go back)."""
    ten = at_local(local_today(), "10:00")
    return ten if ten > utcnow() else at_local(local_today() + timedelta(days=1), "10:00")


def _rows(page: str) -> list[str]:
    body = page.split('<tbody>', 1)[1].split('</tbody>', 1)[0]
    return [row for row in body.split("<tr")[1:] if "data-entries" in row]


def test_repeated_list_views_are_one_row_per_minute_showing_every_patient(world, database,
                                                                         as_user):
    # Six patients on Sara's list, and one who shares her surname (flagged for review).
    pids = [world.patient(unit="med", name=f"Pat{k}") for k in range(6)]
    namesake = world.patient(unit="med", name="Svea", family="Sköterska")
    for pid in [*pids, namesake]:
        world.episode(pid, state="admitted")
    ten = _ten_oclock()
    with frozen_clock(ten + timedelta(seconds=5)):
        sara = as_user("sara")
        for _ in range(5):  # the list, reloaded again and again within a minute
            assert sara.get("/home-ward").status_code == 200
    with frozen_clock(ten + timedelta(minutes=1, seconds=5)):
        assert sara.get("/home-ward").status_code == 200
        rita = as_user("rita")
        page = rita.get("/logs").text
    rows = _rows(page)
    listed = [r for r in rows if "Visades i vårdlistan" in r]
    assert len(listed) == 2  # one per minute, not 6 × 7 rows
    # Nothing is hidden from the review: every patient shown is in the row.
    for pid in [*pids, namesake]:
        assert format_number(_number(database, pid)) in listed[1]
    assert "5 gånger" in listed[1] and "7 patienter" in listed[1]
    # The flag stays with the entry it is about, visible without opening the list.
    flagged = listed[1].split("<details>")[0]
    assert "Svea" in flagged and "Samma efternamn" in flagged and "Pat0" not in flagged
    # Swedish labels, not codes.
    assert "homeward.list<" not in page and "<code" not in page
    assert "Enhetens patient" in listed[1]

    # Reviewing the row reviews every entry in it.
    ids = listed[1].split('value="', 1)[1].split('"', 1)[0].split(",")
    assert len(ids) == 35
    with frozen_clock(ten + timedelta(minutes=2)):
        r = rita.post("/logs/review", data={"entry_ids": [",".join(ids)],
                                            "outcome": "justified"}, follow_redirects=False)
        assert r.status_code == 303
        page = rita.get(r.headers["location"]).text  # back on the log, with the confirmation
    assert "Granskningen är registrerad." in page and "Okänt fält" not in page
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(AuditReview)) == 35
    assert "(35 av 35)" in [r for r in _rows(page) if "Visades i vårdlistan" in r][1]


def test_log_review_pages_hold_whole_groups(world, database, as_user, monkeypatch):
    from hemma.access import logreview

    pid = world.patient(unit="med")
    ten = _ten_oclock()
    with frozen_clock(ten):
        sara = as_user("sara")
    for minute in range(3):
        with frozen_clock(ten + timedelta(minutes=minute)):
            for _ in range(minute + 1):
                assert sara.get(f"/patients/{pid}").status_code == 200
    monkeypatch.setattr(logreview, "PAGE_SIZE", 1)
    with frozen_clock(ten + timedelta(minutes=5)):
        rita = as_user("rita")
        pages = [rita.get(f"/logs?page={n}").text for n in (1, 2, 3)]
    assert [len(_rows(p)) for p in pages] == [1, 1, 1]
    entries = [_rows(p)[0].split('data-entries="', 1)[1].split('"', 1)[0] for p in pages]
    assert [len(e.split(",")) for e in entries] == [3, 2, 1]  # newest minute first
    assert ["Fler poster" in p for p in pages] == [True, True, False]


def test_every_logged_action_basis_outcome_and_flag_has_a_swedish_label():
    import re
    from pathlib import Path

    import hemma
    from hemma.access.policy import PATIENT_ACTIONS, Action, Basis
    from hemma.i18n import labels

    calls = re.compile(r'(?:audit\.record|\.record_for|\.record|log_listed|audit_action=|'
                       r'_alert_to_handle)\s*\(?(?:[^()"]|\([^()]*\))*?"([a-z_]+(?:\.[a-z_]+)+)"',
                       re.S)
    codes = {m.group(1) for f in Path(hemma.__file__).parent.rglob("*.py")
             for m in calls.finditer(f.read_text())}
    codes |= {str(a) for a in PATIENT_ACTIONS | {Action.REGISTER, Action.EMERGENCY}}
    assert {"homeward.list", "alert.acknowledge", "plan.update"} <= codes
    assert sorted(codes - set(labels.AUDIT_ACTIONS)) == []
    bases = {str(b) for b in Basis} | {"self"}
    assert sorted(bases - set(labels.BASES)) == []
    assert set(labels.OUTCOMES) == {"allowed", "denied"}
    # (tests/test_i18n.py holds every label to a Swedish translation.)
