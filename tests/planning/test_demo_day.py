"""The demo's Lycksele day (`hemma.demo`, `hemma.planning.demo_day`), at nine in the morning,
as Hanna Lundström plans it in the browser: what went wrong when a new user tried it.

The demo is loaded once per module and every test gets its own copy of that database."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from hemma.access.auth import start_session
from hemma.db import Database
from hemma.demo import load_demo
from hemma.kit.time import at_local, frozen_clock, local, local_today
from hemma.models import Patient, Staff, StaffShift, Unit, Visit, VisitAssignment, VisitPlan
from hemma.planning import day as planner
from hemma.web.deps import SESSION_COOKIE
from tests.conftest import BACKEND

NINE = at_local(local_today(), "09:00")


@pytest.fixture(scope="module")
def demo_url(templates):
    url = templates.new()
    database = Database(url)
    with frozen_clock(NINE):
        load_demo(database)
    database.dispose()
    yield url
    templates.drop(url)


@pytest.fixture
def db_url(demo_url, templates):
    """This module's tests run on a copy of the loaded demo."""
    n = next(templates.counter)
    if BACKEND == "postgres":
        name = f"{templates.prefix}_{n}"
        with templates.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE '
                              f'"{make_url(demo_url).database}"'))
        url = templates._pg_url(name)
    else:
        path = templates.workdir / f"demo{n}.sqlite3"
        shutil.copy(Path(make_url(demo_url).database), path)
        url = f"sqlite:///{path}"
    yield url
    templates.drop(url)


@pytest.fixture
def clock(db_url):
    with frozen_clock(NINE) as advance:
        yield advance


@pytest.fixture
def login(app, database, clock):
    clients = []

    def make(username: str):
        from fastapi.testclient import TestClient

        c = TestClient(app, base_url="https://testserver")
        c.__enter__()
        clients.append(c)
        with database.session() as s:
            staff = s.scalar(select(Staff).where(Staff.username == username))
            token = start_session(s, staff, "password", client_addr="testclient",
                                  user_agent="t")
        c.cookies.set(SESSION_COOKIE, token)
        page = c.get("/planning")
        c.headers["X-CSRF-Token"] = re.search(r'name="csrf_token" value="([^"]+)"',
                                              page.text).group(1)
        return c

    yield make
    for c in clients:
        c.__exit__(None, None, None)


class Today:
    """The demo's day as the database has it."""

    def __init__(self, database):
        self.database = database
        with database.session() as s:
            self.unit = s.scalar(select(Unit.id).where(
                Unit.name == "Hemsjukvården Lycksele kommun"))
            self.shift_of = {username: shift_id for username, shift_id in s.execute(
                select(Staff.username, StaffShift.id).join(StaffShift,
                                                           StaffShift.staff_id == Staff.id)
                .where(StaffShift.day == local_today(), StaffShift.unit_id == self.unit))}

    def plans(self) -> int:
        with self.database.session() as s:
            return s.scalar(select(func.count()).select_from(VisitPlan).where(
                VisitPlan.unit_id == self.unit, VisitPlan.day == local_today()))

    def doses(self) -> list[dict]:
        """Today's IV antibiotic doses in the current plan: who, when, locked, or left out."""
        with self.database.session() as s:
            plan = planner.current_plan(s, self.unit, local_today())
            rows = {a.visit_id: a for a in s.scalars(
                select(VisitAssignment).where(VisitAssignment.plan_id == plan.id))}
            by_shift = {v: k for k, v in self.shift_of.items()}
            out = []
            for visit, family in s.execute(
                    select(Visit, Patient.family_name).join(Patient)
                    .where(Visit.day == local_today(), Visit.kind == "iv_antibiotic")
                    .order_by(Visit.earliest, Patient.family_name)):
                a = rows.get(visit.id)
                out.append({"id": visit.id, "patient": family,
                            "due": local(visit.earliest + (visit.latest - visit.earliest) / 2)
                            .strftime("%H:%M"), "status": visit.status,
                            "who": by_shift.get(a.shift_id) if a else None,
                            "locked": a.locked if a else False,
                            "unplanned": [u["reason"] for u in plan.unplanned
                                          if u["visit_id"] == str(visit.id)]})
            return out


def test_a_dose_moved_by_hand_stays_where_it_was_put_or_is_refused_before_saving(
        database, login):
    """What a new user saw: moving an IV dose to Hanna said "Besöket är flyttat och låst",
    the change table said "Inte längre planerad", and the next re-plan gave the dose back
    to Per. A moved dose stays with the one it was moved to, through re-plans and urgent
    visits; a move that cannot hold is refused, saying why, with nothing saved."""
    today = Today(database)
    hanna = login("hanna.lundstrom")
    doses = today.doses()
    assert all(d["who"] for d in doses if d["status"] == "planned"), doses

    # The evening dose to Hanna, who works 07-16: refused, nothing saved, the reason beside
    # the dose.
    evening = next(d for d in doses if d["due"] == "20:00" and d["who"] != "hanna.lundstrom")
    plans = today.plans()
    r = hanna.post(f"/planning/visits/{evening['id']}/move",
                   data={"shift_id": today.shift_of["hanna.lundstrom"], "part": 0})
    assert r.status_code == 422
    assert "Hanna Lundström arbetar 07:00–16:00" in r.text and "19:30" in r.text
    assert today.plans() == plans
    assert [d["who"] for d in today.doses()] == [d["who"] for d in doses]
    api = hanna.post(f"/api/v1/planning/visits/{evening['id']}/move",
                     json={"shift_id": today.shift_of["hanna.lundstrom"]})
    assert api.status_code == 422 and api.json()["errors"][0]["field"] == "shift_id"

    # The afternoon dose to Maja, who starts her day in Björksele: she cannot make it in
    # its window with her route. Refused the same way.
    afternoon = [d for d in doses if d["due"] == "14:00" and d["status"] == "planned"]
    to_maja = next(d for d in afternoon if d["who"] != "maja.lindqvist")
    r = hanna.post(f"/planning/visits/{to_maja['id']}/move",
                   data={"shift_id": today.shift_of["maja.lindqvist"], "part": 0})
    assert r.status_code == 409 and "Maja Lindqvist" in r.text
    assert today.plans() == plans

    # An afternoon dose of Per's to Hanna: it fits, and it stays.
    moved = next(d for d in afternoon if d["who"] not in ("hanna.lundstrom", None))
    r = hanna.post(f"/planning/visits/{moved['id']}/move",
                   data={"shift_id": today.shift_of["hanna.lundstrom"], "part": 0},
                   follow_redirects=False)
    assert r.status_code == 303
    after = {d["id"]: d for d in today.doses()}
    assert after[moved["id"]]["who"] == "hanna.lundstrom" and after[moved["id"]]["locked"]
    assert not any(d["unplanned"] for d in after.values()), after
    page = hanna.get(r.headers["location"])
    assert "Besöket är flyttat och låst" in page.text
    row = re.search(rf'<tr data-visit="{moved["id"]}" data-change="(\w+)"', page.text)
    assert row and row.group(1) == "moved"

    # Re-planning the day keeps it with Hanna; so does an urgent visit.
    assert hanna.post(f"/api/v1/planning/{local_today().isoformat()}/solve").status_code == 200
    assert {d["id"]: d["who"] for d in today.doses()}[moved["id"]] == "hanna.lundstrom"
    with database.session() as s:
        patient = s.scalar(select(Patient.id).where(Patient.family_name == "Wallin"))
    r = hanna.post("/api/v1/planning/today/urgent-visits", json={
        "patient_id": str(patient), "kind": "assessment", "earliest": "13:00",
        "latest": "15:00", "duration_minutes": 30})
    assert r.status_code == 201, r.text
    assert {d["id"]: d["who"] for d in today.doses()}[moved["id"]] == "hanna.lundstrom"
