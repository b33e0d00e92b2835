"""The planning pages and API through HTTP: care requests sent, answered and turned into
visits; the unit's day planned, an urgent visit inserted and what moved shown; a nurse's own
route with start / done (values go to monitoring) / not done; bad input names its field and
saves nothing; what a patient's notes say cannot run in a staff member's browser."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from hemma.kit.time import at_local, frozen_clock, local_today
from hemma.models import (
    AuditEntry,
    CareRequest,
    Observation,
    Patient,
    Visit,
    VisitPlan,
    VisitReportRecord,
)
from tests.planning.test_day import Day


@pytest.fixture
def clock():
    with frozen_clock(at_local(local_today(), "09:00")) as advance:
        yield advance


@pytest.fixture
def d(world, database, clock):
    return Day(world, database, local_today())


def _count(database, model, *where):
    with database.session() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def test_care_request_sent_answered_and_visits_created(world, database, as_user, clock):
    pid = world.patient(unit="med")
    sara, kim = as_user("sara"), as_user("kim")
    page = sara.get(f"/patients/{pid}/care-requests")
    assert page.status_code == 200 and "Ny vårdbegäran" in page.text
    form = {"csrf_token": world.csrf[id(sara)], "to_unit_id": world.units["hsv"],
            "kind": "iv_antibiotic", "times": "08:00, 14:00 20:00", "tolerance_minutes": 30,
            "first_date": local_today().isoformat(),
            "last_date": (local_today() + timedelta(days=2)).isoformat(),
            "duration_minutes": 30, "skills": "iv", "staff_count": 1, "hard": "true",
            "priority": 2, "notes": "PICC-line, spola med NaCl", "sharing": "consent"}
    bad = sara.post(f"/patients/{pid}/care-requests", data=form | {"last_date": "2020-01-01"})
    assert bad.status_code == 422 and "Sista dagen är före den första" in bad.text
    assert _count(database, CareRequest) == 0
    r = sara.post(f"/patients/{pid}/care-requests", data=form, follow_redirects=False)
    assert r.status_code == 303
    inbox = kim.get("/care-requests")
    assert "Intravenös antibiotika" in inbox.text and "PICC-line" in inbox.text
    with database.session() as s:
        request_id = s.scalar(select(CareRequest.id))
    r = kim.post(f"/patients/{pid}/care-requests/{request_id}/decision",
                 data={"csrf_token": world.csrf[id(kim)], "accept": "true", "back": "inbox"},
                 follow_redirects=False)
    # Accepted; nobody at Hemsjukvården has a shift on those days, which the answer says.
    assert r.status_code == 200 and 'id="capacity"' in r.text and "Ny vårdbegäran" not in r.text
    # Today 08:00 has passed (it is 09:00): 14 and 20 today, then three a day.
    assert _count(database, Visit, Visit.care_request_id == request_id) == 8
    page = kim.get(f"/patients/{pid}/care-requests")
    assert "Accepterad" in page.text


def test_plan_urgent_visit_and_what_moved(world, database, as_user, d, clock):
    for i in range(6):
        d.visit(i, f"{9 + i:02d}:00", f"{10 + i:02d}:00", minutes=30)
    kim = as_user("kim")
    csrf = world.csrf[id(kim)]
    page = kim.get("/planning")
    assert page.status_code == 200 and "Inte planerad än" in page.text
    r = kim.post("/planning/solve", data={"csrf_token": csrf, "day": d.day.isoformat()},
                 follow_redirects=False)
    assert r.status_code == 303
    page = kim.get("/planning")
    assert "Dagen per medarbetare" in page.text and "<svg class=\"timeline\"" in page.text
    assert "P0" in page.text
    svg = kim.get("/planning/routes.svg")
    assert svg.headers["content-type"].startswith("image/svg+xml") and b"<svg" in svg.content
    plans = _count(database, VisitPlan)
    # An urgent visit with a window that ends before it starts: nothing saved, field named.
    form = {"csrf_token": csrf, "patient_id": str(d.patients[7]), "kind": "assessment",
            "earliest": "11:00", "latest": "10:00", "duration_minutes": 30, "staff_count": 1,
            "notes": "<script>alert('x')</script>"}
    bad = kim.post("/planning/urgent", data=form)
    assert bad.status_code == 422 and "Senaste start är före den tidigaste" in bad.text
    assert _count(database, Visit, Visit.urgent) == 0 and _count(database, VisitPlan) == plans
    r = kim.post("/planning/urgent", data=form | {"latest": "12:00"}, follow_redirects=False)
    assert r.status_code == 303
    page = kim.get("/planning")
    assert "Vad senaste omplaneringen ändrade" in page.text and "Ny" in page.text
    with database.session() as s:
        urgent = s.scalar(select(Visit).where(Visit.urgent))
    assert f'data-visit="{urgent.id}"' in page.text
    # JSON: the same plan, the change listed.
    plan = kim.get(f"/api/v1/planning/{d.day.isoformat()}").json()
    assert [c["kind"] for c in plan["changes"] if c["visit_id"] == str(urgent.id)] == ["added"]
    # The API adds an urgent visit with the same one action: the visit, the plan that has it,
    # and its log entry, together.
    r = kim.post("/api/v1/planning/today/urgent-visits", json={
        "patient_id": str(d.patients[6]), "kind": "assessment", "earliest": "11:00",
        "latest": "13:00", "duration_minutes": 30})
    assert r.status_code == 201
    with database.session() as s:
        logged = list(s.execute(select(AuditEntry.patient_id, AuditEntry.action).where(
            AuditEntry.action.contains("visit.add_urgent"))))
        assert sorted(str(p) for p, _a in logged) == sorted([str(d.patients[7]),
                                                             str(d.patients[6])])
        reasons = list(s.scalars(select(VisitPlan.reason).order_by(VisitPlan.version)))
        assert reasons == ["planned", "urgent visit", "urgent visit"]


def test_my_route_start_done_with_values_and_not_done(world, database, as_user, d, clock):
    a = d.visit(0, "09:30", "10:30", minutes=20)
    b = d.visit(1, "10:00", "11:00", minutes=20)
    with database.session() as s:
        v = s.get(Visit, a)
        v.notes = "<img src=x onerror=alert(1)>Nyckel i nyckelgömman"
    d.plan("09:00")
    # Whoever got the visits reports them; find who.
    rows = d.assignments()
    owner = {k: v.shift_id for k, v in rows.items()}
    who = {d.shifts[name]: name for name in d.shifts}
    user = who[owner[(a, 0)]]
    client = as_user(user)
    csrf = world.csrf[id(client)]
    page = client.get("/my-route")
    assert page.status_code == 200 and "P0" in page.text
    assert "<img src=x" not in page.text and "&lt;img src=x" in page.text
    assert client.get("/my-route/version").json()["plan_id"]
    pid = d.patients[0]
    r = client.post(f"/patients/{pid}/visits/{a}/report",
                    data={"csrf_token": csrf, "status": "started"}, follow_redirects=False)
    assert r.status_code == 303
    bad = client.post(f"/patients/{pid}/visits/{a}/report",
                      data={"csrf_token": csrf, "status": "done", "spo2": "300"})
    assert bad.status_code == 422 and _count(database, Observation) == 0
    with database.session() as s:
        assert s.get(Visit, a).status == "started"
    r = client.post(f"/patients/{pid}/visits/{a}/report",
                    data={"csrf_token": csrf, "status": "done", "spo2": "94", "pulse": "88",
                          "temperature": "38.1"}, follow_redirects=False)
    assert r.status_code == 303
    with database.session() as s:
        assert s.get(Visit, a).status == "done"
        obs = s.scalar(select(Observation).where(Observation.patient_id == pid))
        assert (obs.spo2, obs.pulse, obs.source) == (94, 88, "visit")
    owner_b = who[owner[(b, 0)]]
    other = client if owner_b == user else as_user(owner_b)
    # Not done: the form asks why from the list, nothing chosen beforehand.
    page = other.get("/my-route").text
    choices = page.split(f'id="reason-code-{b}"')[1].split("</select>")[0]
    assert '<option value="">Välj …</option>' in choices and "selected" not in choices
    assert "Patienten var inte hemma" in choices and "Väglag eller resa" in choices
    form = {"csrf_token": world.csrf[id(other)], "status": "not_done"}
    r = other.post(f"/patients/{d.patients[1]}/visits/{b}/report",
                   data=form | {"reason": "Ingen hemma"})
    assert r.status_code == 422 and "Välj varför besöket inte blev av" in r.text
    r = other.post(f"/patients/{d.patients[1]}/visits/{b}/report",
                   data=form | {"reason_code": "other"})
    assert r.status_code == 422 and "Ange varför besöket inte blev av" in r.text
    r = other.post(f"/patients/{d.patients[1]}/visits/{b}/report",
                   data=form | {"reason_code": "nobody"})
    assert r.status_code == 422 and "Välj ett av alternativen" in r.text
    with database.session() as s:  # refused: nothing written
        visit = s.get(Visit, b)
        assert (visit.status, visit.not_done_code, visit.not_done_reason) == (
            "planned", None, None)
        assert s.scalar(select(func.count()).select_from(VisitReportRecord)
                        .where(VisitReportRecord.visit_id == b)) == 0
    r = other.post(f"/patients/{d.patients[1]}/visits/{b}/report",
                   data=form | {"reason_code": "patient_not_home"}, follow_redirects=False)
    assert r.status_code == 303
    with database.session() as s:
        visit = s.get(Visit, b)
        assert (visit.status, visit.not_done_code, visit.not_done_reason) == (
            "not_done", "patient_not_home", None)
    # Shown in Swedish words on the route page, the day plan and the patient's visits.
    assert "Patienten var inte hemma" in other.get("/my-route").text.split(f'id="visit-{b}"')[1]
    kim = as_user("kim")
    plan = kim.get(f"/planning?day={local_today().isoformat()}").text
    shown = 'Ej utfört: <span class="not-done-reason">Patienten var inte hemma</span>'
    assert shown in plan
    visits = kim.get(f"/patients/{d.patients[1]}/care-requests").text
    assert shown in visits


def test_shifts_page_names_the_wrong_field(world, database, as_user, clock):
    kim = as_user("kim")
    page = kim.get("/planning/shifts")
    assert page.status_code == 200 and "Lägg till arbetspass" in page.text
    form = {"csrf_token": world.csrf[id(kim)], "staff_id": world.staff["mona"],
            "day": local_today().isoformat(), "start": "16:00", "end": "08:00"}
    bad = kim.post("/planning/shifts", data=form)
    assert bad.status_code == 422 and "Arbetspasset slutar innan det börjar" in bad.text
    # The unit has no office on the map: starting from home needs the home's address.
    bad = kim.post("/planning/shifts", data=form | {"end": "22:00"})
    assert bad.status_code == 422
    ok = kim.post("/planning/shifts", data=form | {"end": "22:00", "start_place": "home",
                                                   "home_address": "Skolgatan 3, 921 34 Lycksele"},
                  follow_redirects=False)
    assert ok.status_code == 303
    assert "Mona" in kim.get("/planning/shifts").text


def test_move_and_lock_by_hand(world, database, as_user, d, clock):
    ids = [d.visit(i, "10:00", "15:00", minutes=30) for i in range(5)]
    kim = as_user("kim")
    csrf = world.csrf[id(kim)]
    kim.post("/planning/solve", data={"csrf_token": csrf, "day": d.day.isoformat()})
    rows = d.assignments()
    target = ids[0]
    other = next(s for s in d.shifts.values() if s != rows[(target, 0)].shift_id)
    r = kim.post(f"/planning/visits/{target}/move",
                 data={"csrf_token": csrf, "shift_id": other, "part": 0}, follow_redirects=False)
    assert r.status_code == 303
    rows = d.assignments()
    assert rows[(target, 0)].shift_id == other and rows[(target, 0)].locked
    # Moving a patient's visit is an action on the patient: checked and logged.
    with database.session() as s:
        patient = s.get(Visit, target).patient_id
        assert s.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.patient_id == patient, AuditEntry.action == "visitplan.move",
            AuditEntry.username == "kim")) == 1
    page = kim.get("/planning")
    assert "Besöket är flyttat och låst" in kim.get(r.headers["location"]).text
    assert "Låst" in page.text and "Lås upp" in page.text
    r = kim.post(f"/planning/visits/{target}/lock", data={"csrf_token": csrf, "locked": "false"},
                 follow_redirects=False)
    assert r.status_code == 303 and not d.assignments()[(target, 0)].locked
    # A staff member who does not work that day: the error is shown by the visit.
    bad = kim.post(f"/planning/visits/{target}/move",
                   data={"csrf_token": csrf, "shift_id": 10**6, "part": 0})
    assert bad.status_code == 422 and "Välj någon som arbetar den dagen" in bad.text
    # Only planners move visits: an assistant nurse's role does not (403, nothing changes).
    plans = _count(database, VisitPlan)
    olle = as_user("pia")
    r = olle.post(f"/planning/visits/{target}/move",
                  data={"csrf_token": world.csrf[id(olle)], "shift_id": other})
    assert r.status_code == 403 and _count(database, VisitPlan) == plans


def test_the_urgent_visit_patient_list_is_logged_as_a_list(world, database, as_user, clock):
    """The planning page's patient choice shows every patient the planner may read: a list
    of patients, each shown one logged, as the home-ward list is."""
    mine = [world.patient(unit="hsv", family=f"Listad{i}") for i in range(3)]
    other = world.patient(unit="med", family="Annanenhet")  # not Hemsjukvården's
    kim = as_user("kim")
    page = kim.get("/planning")
    assert page.status_code == 200
    assert all(f"Listad{i}" in page.text for i in range(3)) and "Annanenhet" not in page.text
    with database.session() as s:
        logged = {pid for pid, action in s.execute(
            select(AuditEntry.patient_id, AuditEntry.action).where(
                AuditEntry.username == "kim")) if "visitplan.list" in action.split("+")}
    assert logged == set(mine) and other not in logged


def test_timeline_tiles_show_the_patient_s_name(world, database, as_user, d, clock):
    """A tile of a short visit is narrow: its name is written up the tile, not cut off."""
    short = d.visit(0, "10:00", "11:00", minutes=15)
    long = d.visit(1, "10:00", "14:00", minutes=120)
    with database.session() as s:
        s.get(Patient, d.patients[0]).family_name = "Abrahamsson"
        s.get(Patient, d.patients[1]).family_name = "Ek"
    kim = as_user("kim")
    kim.post(f"/api/v1/planning/{d.day.isoformat()}/solve")
    page = kim.get("/planning").text

    def tile(visit):
        return re.search(rf'<svg class="tl-visit"[^>]*data-visit="{visit}">(.*?)</svg>', page,
                         re.S).group(1)

    assert re.search(r'<text transform="rotate\(-90\)"[^>]*>Abrahamsson</text>', tile(short))
    assert re.search(r'<text x="3"[^>]*>Ek</text>', tile(long))
