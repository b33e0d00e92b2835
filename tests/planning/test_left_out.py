"""A plan that leaves a visit out says so loudly — not "the day has been planned" in green —
with the reason and what to do: move it by hand, add a shift, fix the address. Accepting a
care request the unit has no capacity for warns, on the page and in the API's answer."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from hemma.access.service import subject_for
from hemma.kit.time import at_local, frozen_clock, local_today
from hemma.models import CareRequest, Patient, Staff, Visit
from hemma.planning import service
from tests.planning.test_day import Day


@pytest.fixture
def clock():
    with frozen_clock(at_local(local_today(), "09:00")) as advance:
        yield advance


@pytest.fixture
def d(world, database, clock):
    return Day(world, database, local_today())


def test_a_plan_that_leaves_a_dose_out_says_so_with_what_to_do(world, database, as_user, d):
    d.visit(0, "10:00", "11:00", skills=["iv"])
    left_out = d.visit(1, "19:30", "20:30", skills=["iv"])  # after every shift has ended
    no_place = d.visit(2, "10:00", "15:00")
    with database.session() as s:
        s.get(Patient, d.patients[2]).latitude = None
    kim = as_user("kim")
    r = kim.post("/planning/solve", data={"csrf_token": world.csrf[id(kim)],
                                          "day": d.day.isoformat()}, follow_redirects=False)
    assert r.status_code == 303 and "done=planned" not in r.headers["location"]
    page = kim.get(r.headers["location"])
    assert "Dagen är planerad" not in page.text
    banner = re.search(r'<section class="banner emergency left-out" id="unplanned" '
                       r'role="alert">(.*?)</section>', page.text, re.S).group(1)
    assert "2 besök är inte med i planen" in banner
    dose = re.search(rf'<li data-visit="{left_out}" data-reason="(\w+)">(.*?)</li>', banner,
                     re.S)
    assert dose.group(1) in ("window", "capacity")
    assert f'action="/planning/visits/{left_out}/move"' in dose.group(2)  # move it by hand
    assert f'href="/planning/shifts?day={d.day.isoformat()}"' in dose.group(2)  # add a shift
    address = re.search(rf'<li data-visit="{no_place}" data-reason="address">(.*?)</li>',
                        banner, re.S).group(1)
    assert f'href="/patients/{d.patients[2]}/edit"' in address  # fix the address
    plan = kim.get(f"/api/v1/planning/{d.day.isoformat()}").json()
    assert plan["complete"] is False
    assert sorted(u["reason"] for u in plan["unplanned"])[0] == "address"
    # A day where everything fits is "planned", in green.
    with database.session() as s:
        s.get(Patient, d.patients[2]).latitude = 64.5561
    r = kim.post("/planning/solve", data={"csrf_token": world.csrf[id(kim)],
                                          "day": d.day.isoformat()}, follow_redirects=False)
    assert "done=planned" not in r.headers["location"]  # the evening dose is still out
    with database.session() as s:
        s.get(Visit, left_out).status = "cancelled"
    r = kim.post("/planning/solve", data={"csrf_token": world.csrf[id(kim)],
                                          "day": d.day.isoformat()}, follow_redirects=False)
    assert "done=planned" in r.headers["location"]
    assert kim.get(f"/api/v1/planning/{d.day.isoformat()}").json()["complete"] is True


def _send(world, sara, pid, first, last, times):
    r = sara.post(f"/api/v1/patients/{pid}/care-requests", json={
        "to_unit_id": world.units["hsv"], "kind": "iv_antibiotic", "times": times,
        "first_date": first.isoformat(), "last_date": last.isoformat(),
        "duration_minutes": 30, "skills": ["iv"], "sharing": "consent"})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_accepting_a_request_the_unit_has_no_capacity_for_warns(world, database, as_user, d):
    today, tomorrow = local_today(), local_today() + timedelta(days=1)
    d.visit(0, "10:00", "11:00")
    sara, kim = as_user("sara"), as_user("kim")
    kim.post(f"/api/v1/planning/{today.isoformat()}/solve")
    pid = world.patient(unit="med", family="Doserad")
    with database.session() as s:
        s.get(Patient, pid).latitude, s.get(Patient, pid).longitude = 64.60, 18.66
    # 20:00 today (the shifts end at 16) and tomorrow (nobody works yet).
    request_id = _send(world, sara, pid, today, tomorrow, ["20:00"])
    r = kim.post(f"/api/v1/patients/{pid}/care-requests/{request_id}/decision",
                 json={"accept": True})
    assert r.status_code == 200, r.text
    warnings = {w["reason"]: w for w in r.json()["warnings"]}
    assert warnings["no_shift"]["days"] == [tomorrow.isoformat()]
    assert "Ingen i din enhet arbetar" in warnings["no_shift"]["message"]
    assert (warnings.get("window") or warnings["capacity"])["days"] == [today.isoformat()]
    # The page: accepted, and a warning where the green message would be.
    second = _send(world, sara, pid, tomorrow, tomorrow, ["08:00"])
    r = kim.post(f"/patients/{pid}/care-requests/{second}/decision",
                 data={"csrf_token": world.csrf[id(kim)], "accept": "true", "back": "inbox"},
                 follow_redirects=False)
    assert r.status_code == 200 and 'id="capacity"' in r.text
    assert "Ingen i din enhet arbetar" in r.text and tomorrow.isoformat() in r.text
    assert f'href="/planning/shifts?day={tomorrow.isoformat()}"' in r.text
    with database.session() as s:
        assert s.get(CareRequest, __import__("uuid").UUID(second)).status == "accepted"
    # With a nurse with the skills on duty tomorrow, and room today, nothing to warn about.
    tomorrow_day = Day.__new__(Day)
    tomorrow_day.__dict__.update(d.__dict__, day=tomorrow)
    tomorrow_day.shift("kim", "07:00", "22:00")
    third = _send(world, sara, pid, tomorrow, tomorrow, ["12:00"])
    r = kim.post(f"/patients/{pid}/care-requests/{third}/decision",
                 data={"csrf_token": world.csrf[id(kim)], "accept": "true", "back": "inbox"},
                 follow_redirects=False)
    assert r.status_code == 303 and "done=request_accepted" in r.headers["location"]


def test_the_incoming_requests_page_filters_and_counts(world, database, as_user, clock):
    pids = [world.patient(unit="med", family=f"Begärd{i}") for i in range(3)]
    # Begärd0 is Hemsjukvården's patient too: still theirs to read once they decline.
    world.relation(pids[0], unit="hsv")
    sara = as_user("sara")
    ids = [_send(world, sara, pid, local_today(), local_today(), ["12:00"]) for pid in pids]
    kim = as_user("kim")
    kim.post(f"/api/v1/patients/{pids[0]}/care-requests/{ids[0]}/decision",
             json={"accept": False, "reason": "Ingen kapacitet"})
    page = kim.get("/care-requests")
    assert "2 begäranden väntar på svar" in page.text
    # From the menu, those awaiting an answer; "All" shows the answered too.
    assert "Begärd0" not in page.text and "Begärd1" in page.text and "Begärd2" in page.text
    everything = kim.get("/care-requests?status=")
    assert all(f"Begärd{i}" in everything.text for i in range(3))
    waiting = kim.get("/care-requests?status=requested")
    assert "Begärd0" not in waiting.text and "Begärd1" in waiting.text
    declined = kim.get("/care-requests?status=declined")
    assert "Begärd0" in declined.text and "Begärd1" not in declined.text
    assert kim.get("/care-requests?status=bogus").status_code == 422
    with database.session() as s:
        kim_subject = subject_for(s, s.get(Staff, world.staff["kim"]))
        pia = subject_for(s, s.get(Staff, world.staff["pia"]))
        assert service.pending_care_requests(s, kim_subject) == 2
        assert service.pending_care_requests(s, pia) == 0  # does not answer requests
