"""The planner thinks with no transaction open: while the search runs (seconds, plus the
routing service), nobody's write waits on the unit's row lock — on SQLite, on the whole
database's write lock. The day is read in one short unit of work and the plan written in
another, after checking the day is still the day that was read; a day that changed meanwhile
is planned again, and one that keeps changing is not saved but said."""

from __future__ import annotations

import sqlite3
import uuid

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from hemma.kit.errors import Conflict
from hemma.kit.time import at_local, frozen_clock, local_today
from hemma.models import AuditEntry, Visit, VisitPlan
from hemma.planning import day as planner
from hemma.planning import service
from hemma.planning.schemas import UrgentVisitCreate, VisitReport
from hemma.planning.solver import plan as solver_core
from tests.planning.test_day import BUDGET, Day, work_as


@pytest.fixture
def clock():
    with frozen_clock(at_local(local_today(), "07:00")) as advance:
        yield advance


@pytest.fixture
def d(world, database, clock):
    day = Day(world, database, local_today())
    for i in range(6):
        day.visit(i, f"{9 + i:02d}:00", f"{10 + i:02d}:00", minutes=30)
    return day


def writers_waiting_on(database) -> str | None:
    """Is any transaction holding what a writer would wait for? SQLite: can a new
    connection take the write lock at once? PostgreSQL: is any other session in the
    middle of a transaction?"""
    url = make_url(database.url)
    if url.get_backend_name() == "sqlite":
        conn = sqlite3.connect(url.database, timeout=0, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
            return None
        except sqlite3.OperationalError as exc:
            return str(exc)
        finally:
            conn.close()
    engine = create_engine(database.url)
    try:
        with engine.connect() as conn:
            busy = conn.scalar(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'"))
            return f"{busy} sessions in a transaction" if busy else None
    finally:
        engine.dispose()


@pytest.fixture
def probed(monkeypatch, database):
    """Look at the database each time the solver's search starts."""
    seen: list[str | None] = []
    real = solver_core.solve

    def probe(*args, **kw):
        seen.append(writers_waiting_on(database))
        return real(*args, **kw)

    monkeypatch.setattr(solver_core, "solve", probe)
    return seen


def test_the_search_runs_with_no_transaction_open(world, database, as_user, d, probed):
    kim = as_user("kim")
    csrf = world.csrf[id(kim)]
    day = d.day.isoformat()
    assert kim.post("/planning/solve", data={"csrf_token": csrf, "day": day},
                    follow_redirects=False).status_code == 303
    assert kim.post(f"/api/v1/planning/{day}/solve").status_code == 200
    urgent = {"patient_id": str(d.patients[7]), "kind": "assessment", "earliest": "09:00",
              "latest": "12:00", "duration_minutes": 30}
    assert kim.post("/planning/urgent", data={"csrf_token": csrf, **urgent, "staff_count": 1},
                    follow_redirects=False).status_code == 303
    assert kim.post("/api/v1/planning/today/urgent-visits", json=urgent).status_code == 201
    rows = d.assignments()
    (visit, _part), a = next(iter(rows.items()))
    other = next(s for s in d.shifts.values() if s != a.shift_id)
    r = kim.post(f"/api/v1/planning/visits/{visit}/move", json={"shift_id": other})
    assert r.status_code == 200, r.text
    assert len(probed) == 5
    assert probed == [None] * 5


def _report_started(database, world, visit_id, patient_id, at):
    _work, kim = work_as(database, world, "kim")
    with database.session() as s:
        service.report_visit(s, kim, patient_id, visit_id, VisitReport(status="started"), at)


def test_a_day_that_changed_while_it_was_solved_is_planned_again(world, database, d):
    work, kim = d.work("kim")
    first = service.plan_day(work, kim, d.day, budget=BUDGET, now=d.now())
    rows = d.assignments(first.id)
    visit = min(rows.values(), key=lambda a: a.planned_start)
    with database.session() as s:
        patient = s.get(Visit, visit.visit_id).patient_id
    started_at = at_local(d.day, "09:20")
    calls = []

    def solver(day_input, budget, osrm_url):
        calls.append(day_input.stamp)
        if len(calls) == 1:
            # While the planner thinks, the nurse starts the first visit (late).
            _report_started(database, world, visit.visit_id, patient, started_at)
        return planner.solve(day_input, budget, osrm_url)

    urgent, plan = service.add_urgent_visit(
        work, kim, UrgentVisitCreate(patient_id=d.patients[7], kind="assessment",
                                     earliest="10:00", latest="12:00", duration_minutes=30),
        d.day, at_local(d.day, "09:30"), budget=BUDGET, solver=solver)
    assert len(calls) == 2 and calls[0] != calls[1]
    assert plan.version == 2
    after = d.assignments(plan.id)
    # The plan saved is made from the day as it is now: the started visit at its start.
    assert after[(visit.visit_id, 0)].planned_start == started_at
    assert (urgent.id, 0) in after
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(Visit).where(Visit.urgent)) == 1
        assert s.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "visit.add_urgent")) == 1


def test_a_day_that_keeps_changing_is_not_saved_but_said(world, database, d):
    work, kim = d.work("kim")
    service.plan_day(work, kim, d.day, budget=BUDGET, now=d.now())
    calls = []

    def solver(day_input, budget, osrm_url):
        calls.append(1)
        # Every time the planner thinks, someone else saves a plan of the day first.
        with database.session() as s:
            planner.plan_in(s, None, d.unit, d.day, budget=BUDGET, now=d.now())
        return planner.solve(day_input, budget, osrm_url)

    with database.session() as s:
        plans = s.scalar(select(func.count()).select_from(VisitPlan))
    with pytest.raises(Conflict) as err:
        service.plan_day(work, kim, d.day, budget=BUDGET, now=d.now(), solver=solver)
    assert err.value.field == "day" and len(calls) == service.ATTEMPTS
    with database.session() as s:
        # Only the other planner's plans were saved.
        assert s.scalar(select(func.count()).select_from(VisitPlan)) == plans + len(calls)
        assert s.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "visitplan.plan")) == 1


def test_an_action_refused_before_it_begins_still_logs_the_access(world, database, as_user,
                                                                  clock):
    """The route's access check is logged even when the action never opens a unit of work
    (its input was refused), and the page that says so is rendered without waiting on a
    lock held by the request itself."""
    pid = world.patient(unit="med")
    world.relation(pid, unit="hsv")
    kim = as_user("kim")
    request_id = uuid.uuid4()
    r = kim.post(f"/patients/{pid}/care-requests/{request_id}/decision",
                 data={"csrf_token": world.csrf[id(kim)]})
    assert r.status_code == 422
    with database.session() as s:
        actions = list(s.scalars(select(AuditEntry.action).where(
            AuditEntry.patient_id == pid, AuditEntry.username == "kim")))
    assert actions == ["carerequest.manage"]
