"""Bad input to the planner gets a 4xx that names its field, and changes nothing; odd but
possible data (an empty day, a latitude without its longitude) is planned and drawn like
any other. Each of these answered 500 once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from hemma.kit.time import at_local, frozen_clock, local_today
from hemma.models import CareRequest, Patient, StaffShift, VisitPlan
from hemma.planning.solver.model import Problem
from hemma.planning.solver.plan import solve
from tests.planning.test_day import Day

BIG = [2**63, 2**31]
EDGES = ["0001-01-01", "9999-12-31"]


@pytest.fixture
def clock():
    with frozen_clock(at_local(local_today(), "07:00")) as advance:
        yield advance


def _count(database, model):
    with database.session() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_an_empty_day_is_planned_as_an_empty_plan(world, database, as_user, clock):
    assert solve(Problem((), (), ((),), ()), iterations=1_000).routes == []
    kim = as_user("kim")
    today = local_today().isoformat()
    r = kim.post(f"/api/v1/planning/{today}/solve")  # nobody works, nothing to do
    assert r.status_code == 200, r.text
    assert r.json()["routes"] == [] and r.json()["unplanned"] == []
    Day(world, database, local_today())  # three shifts, still no visits
    r = kim.post(f"/api/v1/planning/{today}/solve")
    assert r.status_code == 200, r.text
    assert [len(route["stops"]) for route in r.json()["routes"]] == [0, 0, 0]
    assert kim.get("/planning").status_code == 200
    assert kim.get("/planning/routes.svg").status_code == 200


@pytest.mark.parametrize("edge", EDGES)
def test_days_at_the_edges_of_the_calendar_name_the_field(world, database, as_user, edge):
    kim = as_user("kim")
    for path in (f"/planning?day={edge}", f"/my-route?day={edge}",
                 f"/planning/routes.svg?day={edge}", f"/planning/shifts?day={edge}",
                 f"/my-route/version?day={edge}"):
        r = kim.get(path)
        assert r.status_code == 422 and "Dag: " in r.text, path  # the field, by its label
    for path in (f"/api/v1/planning/{edge}", f"/api/v1/shifts?day={edge}",
                 f"/api/v1/my-route?day={edge}"):
        r = kim.get(path)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "day", path
    r = kim.post(f"/api/v1/planning/{edge}/solve")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "day"
    r = kim.post("/planning/solve", data={"csrf_token": world.csrf[id(kim)], "day": edge})
    assert r.status_code == 422
    assert _count(database, VisitPlan) == 0


@pytest.mark.parametrize("edge", EDGES)
def test_care_request_dates_at_the_edges_name_the_field(world, database, as_user, edge):
    pid = world.patient(unit="med")
    sara = as_user("sara")
    body = {"to_unit_id": world.units["hsv"], "kind": "iv_antibiotic", "times": ["08:00"],
            "first_date": local_today().isoformat(), "last_date": edge,
            "duration_minutes": 30}
    r = sara.post(f"/api/v1/patients/{pid}/care-requests", json=body)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "last_date"
    r = sara.post(f"/api/v1/patients/{pid}/care-requests", json=body | {
        "first_date": edge, "last_date": local_today().isoformat()})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "first_date"
    form = {"csrf_token": world.csrf[id(sara)], "to_unit_id": world.units["hsv"],
            "kind": "iv_antibiotic", "times": "08:00", "first_date": local_today().isoformat(),
            "last_date": edge, "duration_minutes": 30, "staff_count": 1}
    r = sara.post(f"/patients/{pid}/care-requests", data=form)
    assert r.status_code == 422 and "1900" in r.text
    assert _count(database, CareRequest) == 0


@pytest.mark.parametrize("big", BIG)
def test_ids_too_large_for_the_database_name_the_field(world, database, as_user, big, clock):
    pid = world.patient(unit="med")
    sara, kim = as_user("sara"), as_user("kim")
    r = sara.post(f"/api/v1/patients/{pid}/care-requests", json={
        "to_unit_id": big, "kind": "iv_antibiotic", "times": ["08:00"],
        "first_date": local_today().isoformat(), "last_date": local_today().isoformat(),
        "duration_minutes": 30})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "to_unit_id"
    r = kim.post("/api/v1/shifts", json={"staff_id": big, "day": local_today().isoformat(),
                                          "start": "07:00", "end": "16:00"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "staff_id"
    d = Day(world, database, local_today())
    visit = d.visit(0, "09:00", "15:00")
    r = kim.post(f"/api/v1/planning/visits/{visit}/move", json={"shift_id": big})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "shift_id"
    r = kim.post(f"/planning/visits/{visit}/move",
                 data={"csrf_token": world.csrf[id(kim)], "shift_id": big})
    assert r.status_code == 422
    r = kim.post(f"/planning/shifts/{big}/remove", data={"csrf_token": world.csrf[id(kim)]})
    assert r.status_code == 422 and "shift_id" in r.text
    assert _count(database, StaffShift) == 3 and _count(database, VisitPlan) == 0


def test_a_latitude_without_a_longitude_is_no_place_on_the_map(world, database, as_user,
                                                               clock):
    """Another check refuses saving such a pair; the planner copes with what is there: the
    patient has no position, the visit is left out for its address, and the map is drawn."""
    d = Day(world, database, local_today())
    d.visit(0, "09:00", "15:00")
    d.visit(1, "09:00", "15:00")
    kim = as_user("kim")
    kim.post(f"/api/v1/planning/{d.day.isoformat()}/solve")
    with database.session() as s:
        s.get(Patient, d.patients[0]).longitude = None  # planned with a place, now half of one
    assert kim.get("/planning/routes.svg").status_code == 200
    assert kim.get("/my-route").status_code == 200
    r = kim.post(f"/api/v1/planning/{d.day.isoformat()}/solve")
    assert r.status_code == 200
    assert [u["reason"] for u in r.json()["unplanned"]] == ["address"]
    svg = kim.get(f"/planning/routes.svg?day={(d.day + timedelta(days=0)).isoformat()}")
    assert svg.status_code == 200 and b"<svg" in svg.content
