"""Urgent visits: a patient whose latest NEWS2 (one the planner may see) is 7 or more gets a
window from now unless the planner says otherwise; two assessments of one patient planned
back to back are pointed out; and the round's decision "book a visit" books what it
promises — a care request to the unit that makes the visit, or an urgent visit of the
physician's own unit, planned at once — and its note says what was booked."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import delete, func, select

from hemma.kit.time import at_local, frozen_clock, local_today, utcnow
from hemma.models import (
    AuditEntry,
    CareRequest,
    Observation,
    RoundNote,
    Staff,
    StaffShift,
    Visit,
    VisitAssignment,
)
from hemma.planning import day as planner
from tests.planning.test_day import Day

NINE = at_local(local_today(), "09:00")


@pytest.fixture
def clock():
    with frozen_clock(NINE) as advance:
        yield advance


@pytest.fixture
def d(world, database, clock):
    day = Day(world, database, local_today())
    for i in range(3):
        day.visit(i, "09:30", "15:00", minutes=30)
    return day


def news2(database, world, pid, total: int, *, unit: str = "hsv", minutes_ago: int = 20):
    """A NEWS2 as recorded (staff at a visit, or the clinic), for the test's patient."""
    with database.session() as s:
        at = utcnow() - timedelta(minutes=minutes_ago)
        s.add(Observation(patient_id=pid, client_id=f"t-{uuid.uuid4()}", measured_at=at,
                          received_at=at, performer="staff", source="staff_form",
                          documented_by_unit_id=world.units[unit], respiration_rate=26,
                          news2_total=total, news2_band="high" if total >= 7 else "low",
                          news2_partial=False))


def _urgent(client, pid, **times):
    r = client.post("/api/v1/planning/today/urgent-visits", json={
        "patient_id": str(pid), "kind": "assessment", "duration_minutes": 30, **times})
    assert r.status_code == 201, r.text
    return r.json()["visit_id"]


def _window(database, visit_id):
    with database.session() as s:
        v = s.get(Visit, uuid.UUID(visit_id))
        return v.earliest, v.latest


def test_news2_of_7_or_more_asks_for_the_visit_from_now(world, database, as_user, d):
    kim = as_user("kim")
    sick, stable = d.patients[5], d.patients[6]
    news2(database, world, sick, 8)
    news2(database, world, stable, 3)
    now = utcnow()
    assert _window(database, _urgent(kim, sick)) == (now, now + timedelta(hours=1))
    assert _window(database, _urgent(kim, stable)) == (now + timedelta(minutes=15),
                                                       now + timedelta(hours=2))
    # A time the planner gives is the time.
    assert _window(database, _urgent(kim, sick, earliest="11:00", latest="12:00")) == (
        at_local(local_today(), "11:00"), at_local(local_today(), "12:00"))
    # The page opened for the patient says so, with the window filled in.
    page = kim.get(f"/planning?patient_id={sick}")
    assert 'id="news2-now"' in page.text and "Senaste NEWS2 8" in page.text
    assert re.search(r'name="earliest" type="time" value="09:00"', page.text)
    assert "NEWS2 8" in page.text.split('id="patient_id"')[1].split("</select>")[0]


def test_a_news2_the_planner_may_not_see_does_not_count(world, database, as_user, d):
    """The hospital clinic's score for a patient who has not consented to sharing with the
    municipality is not the municipal planner's to see, nor to act on unseen."""
    kim = as_user("kim")
    pid = d.patients[5]
    news2(database, world, pid, 9, unit="med")
    now = utcnow()
    assert _window(database, _urgent(kim, pid))[0] == now + timedelta(minutes=15)
    assert "news2-now" not in kim.get(f"/planning?patient_id={pid}").text
    world.consent(pid, "kommun")  # with consent, it counts
    assert _window(database, _urgent(kim, pid))[0] == now


def test_two_assessments_back_to_back_are_pointed_out(world, database, as_user, d):
    kim = as_user("kim")
    pid = d.patients[4]
    d.visit(4, "10:00", "14:00", minutes=45)  # wound care: not an assessment
    with database.session() as s:
        planned = s.scalar(select(Visit).where(Visit.patient_id == pid))
        planned.kind = "assessment"
    kim.post(f"/api/v1/planning/{d.day.isoformat()}/solve")
    assert kim.get(f"/api/v1/planning/{d.day.isoformat()}").json()["back_to_back"] == []
    urgent = _urgent(kim, pid, earliest="10:00", latest="11:00")
    plan = kim.get(f"/api/v1/planning/{d.day.isoformat()}").json()
    assert [b["patient_id"] for b in plan["back_to_back"]] == [str(pid)]
    assert urgent in plan["back_to_back"][0]["visit_ids"]
    page = kim.get("/planning")
    assert 'id="back-to-back"' in page.text and "har två bedömningar planerade" in page.text


def _round(client, pid, **form):
    return client.post(f"/patients/{pid}/round", data={
        "csrf_token": client.headers["X-CSRF-Token"], "note": "Andningsfrekvens 26, bedöm.",
        **form}, follow_redirects=False)


def test_book_a_visit_at_the_round_books_a_care_request_to_another_unit(world, database,
                                                                        as_user, clock):
    pid = world.patient(unit="med", family="Rondad")
    world.episode(pid)
    news2(database, world, pid, 7, unit="med")
    lisa = as_user("lisa")
    # Which unit, and when, must be said.
    r = lisa.post(f"/api/v1/patients/{pid}/round", json={"decision": "visit", "note": "Besök"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "visit.unit_id"
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(RoundNote)) == 0
    page = lisa.get(f"/patients/{pid}/round")
    assert 'name="visit_unit_id"' in page.text and "Hemsjukvården" in page.text
    r = _round(lisa, pid, decision="visit", visit_unit_id=world.units["hsv"],
               visit_when="today", visit_kind="assessment", visit_minutes="45",
               sharing="consent")
    assert r.status_code == 303 and "done=round_booked" in r.headers["location"]
    with database.session() as s:
        note = s.scalar(select(RoundNote))
        request = s.get(CareRequest, note.care_request_id)
        assert (request.to_unit_id, request.kind, request.first_date, request.last_date,
                request.duration_minutes, request.priority) == (
            world.units["hsv"], "assessment", local_today(), local_today(), 45, 3)
        # NEWS2 7: asked for from now (09:00), within the hour (plus the visit's length).
        assert (request.window_start, request.window_end) == ("09:00", "10:45")
        assert request.status == "requested" and note.visit_id is None
    page = lisa.get(r.headers["location"])
    assert "Bokat: en vårdbegäran till Hemsjukvården" in page.text
    # On a date: a care request for that day, in the daytime.
    later = local_today() + timedelta(days=2)
    r = lisa.post(f"/api/v1/patients/{pid}/round", json={
        "decision": "visit", "note": "Provtagning om två dagar",
        "visit": {"unit_id": world.units["hsv"], "when": "date", "date": later.isoformat(),
                  "kind": "blood_sample", "duration_minutes": 15}})
    assert r.status_code == 201, r.text
    with database.session() as s:
        request = s.get(CareRequest, uuid.UUID(r.json()["care_request_id"]))
        assert (request.first_date, request.window_start, request.window_end,
                request.kind) == (later, "08:00", "16:00", "blood_sample")
    # The booking only with "book a visit".
    r = lisa.post(f"/api/v1/patients/{pid}/round", json={
        "decision": "continue", "note": "Fortsätt",
        "visit": {"unit_id": world.units["hsv"]}})
    assert r.status_code == 422


def test_book_a_visit_of_the_own_unit_today_is_planned_at_once(world, database, as_user, d):
    """A physician of the unit that makes the visits (here, Hemsjukvården has one for the
    test) books an urgent visit today: it is in a route at once, and the note says so."""
    with database.session() as s:
        s.get(Staff, world.staff["lisa"]).unit_id = world.units["hsv"]
    pid = d.patients[5]
    world.episode(pid, unit="hsv")
    lisa = as_user("lisa")
    r = lisa.post(f"/api/v1/patients/{pid}/round", json={
        "decision": "visit", "note": "Bedöm i hemmet idag",
        "visit": {"unit_id": world.units["hsv"], "when": "today", "kind": "assessment"}})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["visit_id"] and body["care_request_id"] is None and body["visit_planned"]
    with database.session() as s:
        plan = planner.current_plan(s, world.units["hsv"], local_today())
        assert plan.reason == "urgent visit"
        assert s.scalar(select(VisitAssignment.id).where(
            VisitAssignment.plan_id == plan.id,
            VisitAssignment.visit_id == uuid.UUID(body["visit_id"])))
        visit = s.get(Visit, uuid.UUID(body["visit_id"]))
        assert visit.urgent and visit.unit_id == world.units["hsv"]
        # One entry for the patient for the decision (the booking and the route's check in it).
        actions = list(s.scalars(select(AuditEntry.action).where(
            AuditEntry.patient_id == pid, AuditEntry.username == "lisa")))
        assert any("round.decide" in a and "visit.add_urgent" in a for a in actions), actions
    # Nobody at work that day in the own unit: booked, and the page goes where it can be
    # acted on.
    with database.session() as s:
        s.execute(delete(VisitAssignment))
        s.execute(delete(StaffShift))
    r = _round(lisa, pid, decision="visit", visit_unit_id=world.units["hsv"],
               visit_when="today", visit_kind="assessment", visit_minutes="30")
    assert r.status_code == 303 and r.headers["location"].endswith("#unplanned")


def test_the_round_offers_the_care_team_unit_that_makes_home_visits(world, database, as_user,
                                                                    clock):
    """The physician's clinic has no home-visit shifts: "Who makes the visit" starts on the
    unit of the care team that does (else a booked visit waits in a day plan nobody works)."""
    pid = world.patient(unit="med", family="Rondad")
    world.episode(pid)
    world.relation(pid, unit="hsv", documented_by="med")
    Day(world, database, local_today())  # Hemsjukvården works today
    page = as_user("lisa").get(f"/patients/{pid}/round").text
    select_html = page.split('name="visit_unit_id"')[1].split("</select>")[0]
    chosen = re.search(r'<option value="(\d+)"[^>]*selected[^>]*>([^<]*)<', select_html)
    assert chosen and int(chosen.group(1)) == world.units["hsv"], select_html
    assert "i vårdteamet" in chosen.group(2)
    own = re.search(rf'<option value="{world.units["med"]}"[^>]*>([^<]*)<', select_html)
    assert "din enhet" in own.group(1) and "inga pass för hembesök" in own.group(1)
    # Without a visiting unit in the care team, the physician's own unit comes first (not a
    # unit outside the team that happens to have shifts).
    alone = world.patient(unit="med", family="Ensam")
    world.episode(alone)
    page = as_user("lisa").get(f"/patients/{alone}/round").text
    select_html = page.split('name="visit_unit_id"')[1].split("</select>")[0]
    chosen = re.search(r'<option value="(\d+)"[^>]*selected', select_html)
    assert int(chosen.group(1)) == world.units["med"], select_html
