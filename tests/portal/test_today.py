"""The patient's page, complete: who comes today (and it follows the plan live), the goals in
their own words, their values with a simple trend; and only their own."""

from __future__ import annotations

import json
import time
from datetime import timedelta

from sqlalchemy import event

from hemma.app import create_app
from hemma.coordination import live
from hemma.kit.time import local_today, utcnow
from hemma.models import CarePlan, Episode, Observation, Visit
from hemma.portal.pages import TODAY_LOOK_SECONDS
from hemma.portal.today import Trend, sparkline
from hemma.web.deps import PATIENT_SESSION_COOKIE
from tests.live import Stream, serving
from tests.monitoring.test_patient_page import _code_for, _patient_login


def _visit(database, world, pid, *, hours: int, status="planned"):
    now = utcnow()
    with database.session() as s:
        v = Visit(patient_id=pid, unit_id=world.units["hsv"], day=local_today(),
                  kind="wound_care", earliest=now + timedelta(hours=hours),
                  latest=now + timedelta(hours=hours + 1), duration_minutes=30, created_at=now,
                  status=status)
        s.add(v)
        s.flush()
        return v.id


def _values(database, world, pid, temps):
    now = utcnow()
    with database.session() as s:
        for i, t in enumerate(temps):
            s.add(Observation(patient_id=pid, measured_at=now - timedelta(hours=len(temps) - i),
                              received_at=now, temperature=t, performer="patient",
                              source="patient_page", client_id=f"t{i}",
                              documented_by_unit_id=world.units["med"]))


def test_the_page_shows_the_day_the_goals_and_the_trend(app, world, database, as_user):
    pid = world.patient(unit="med", name="Gunnel")
    eid = world.episode(pid, state="admitted")
    world.relation(pid, unit="hsv")
    other = world.patient(unit="med", name="Annan")
    world.episode(other, state="admitted")
    _visit(database, world, pid, hours=2)
    _visit(database, world, other, hours=1)
    _values(database, world, pid, [37.2, 38.4])
    with database.session() as s:
        episode = s.get(Episode, eid)
        s.add(CarePlan(episode_id=eid, patient_id=pid, version=1, goals="Kunna gå till <b>brevlådan</b>",
                       documented_by_unit_id=world.units["med"], updated_at=utcnow(),
                       updated_by_id=world.staff["sara"]))
        del episode
    phone = _patient_login(app, _code_for(as_user("sara"), pid))
    home = phone.get("/p")
    assert home.status_code == 200
    assert "Vem kommer i dag" in home.text and "Mellan" in home.text
    assert home.text.count('data-visit="') == 1  # only her own visit
    assert "Kunna gå till &lt;b&gt;brevlådan&lt;/b&gt;" in home.text
    assert "38,4" in home.text and "högre än förra gången" in home.text
    r = phone.get("/p/today?once=true")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    block = next(b for b in r.text.split("\n\n") if b.startswith("event: today"))
    html = json.loads(block.split("data: ", 1)[1])["html"]
    assert html.count('data-visit="') == 1


def test_a_trend_and_its_small_chart():
    assert Trend("temperature", 37.3, utcnow(), 37.2, []).direction == "same"
    assert Trend("temperature", 37.6, utcnow(), 37.2, []).direction == "up"
    assert Trend("pulse", 70, utcnow(), 80, []).direction == "down"
    assert Trend("pulse", 70, utcnow(), None, []).direction == "same"
    assert sparkline([1.0]) == ""
    points = sparkline([1.0, 2.0, 3.0], width=100, height=20)
    assert points == "0.0,18.0 50.0,10.0 100.0,2.0"
    assert sparkline([5.0, 5.0])  # a flat line, no division by zero


def test_the_open_day_is_not_read_again_for_every_change_elsewhere(app, settings, world,
                                                                    database, as_user):
    """Every alert, task and message anywhere wakes the live pages; none changes a patient's
    visits. The patient's open day looks at them on its own clock, not at each wake-up (a
    morning's thousand open phones each reading on each alert of the region was the
    busiest thing in it)."""
    pid = world.patient(unit="med", name="Gunnel")
    world.episode(pid, state="admitted")
    world.relation(pid, unit="hsv")
    _visit(database, world, pid, hours=2)
    phone = _patient_login(app, _code_for(as_user("sara"), pid))
    cookie = phone.cookies.get(PATIENT_SESSION_COOKIE)
    reads: list[str] = []

    def count(conn, cursor, statement, *args):
        if "FROM visits" in statement:
            reads.append(statement)

    event.listen(database.engine, "before_cursor_execute", count)
    with serving(create_app(settings, database)) as base:
        day = Stream(f"{base}/p/today", {PATIENT_SESSION_COOKIE: cookie})
        try:
            kind, data = day.next()
            assert kind == "today" and 'data-visit="' in data["html"], (kind, data)
            first = len(reads)
            for _ in range(10):  # changes elsewhere, each announced as the services do
                with database.session() as s:
                    live.announce(s)
                time.sleep(0.1)
            time.sleep(0.5)
            # None read the day again (one look of its own clock, on a very slow machine).
            assert len(reads) - first <= 1, len(reads) - first
        finally:
            day.close()
    event.remove(database.engine, "before_cursor_execute", count)


def test_the_open_day_says_here_now_as_soon_as_the_nurse_starts_the_visit(
        app, settings, world, database, as_user):
    """A visit reported started (the named action, as the nurse's phone does) is announced
    as a change of visits: the patient's open day reads again at once, not on its clock."""
    pid = world.patient(unit="med", name="Gunnel")
    world.episode(pid, state="admitted")
    world.relation(pid, unit="hsv")
    vid = _visit(database, world, pid, hours=1)
    phone = _patient_login(app, _code_for(as_user("sara"), pid))
    cookie = phone.cookies.get(PATIENT_SESSION_COOKIE)
    kim = as_user("kim")
    with serving(create_app(settings, database)) as base:
        day = Stream(f"{base}/p/today", {PATIENT_SESSION_COOKIE: cookie})
        try:
            kind, data = day.next()
            assert kind == "today" and "Här nu" not in data["html"], (kind, data)
            started = time.monotonic()
            r = kim.post(f"/api/v1/patients/{pid}/visits/{vid}/report", json={"status": "started"})
            assert r.status_code == 200, r.text
            kind, data = day.next()
            while kind == "keep-alive":
                kind, data = day.next()
            assert kind == "today" and "Här nu" in data["html"], (kind, data)
            assert time.monotonic() - started < TODAY_LOOK_SECONDS / 2
        finally:
            day.close()
