"""The route page without coverage, on the server's side: a visit report carries the client id
the phone made for it, so a resend (the phone queued it, sent it, never heard back, sent it
again) records nothing twice and answers like the first; a report sent later keeps the time
it was made; the values measured at the visit are recorded with the report in one step.
The route page says whose and which day it is (only today's, only to a browser session),
the service worker and the manifest hold no data, and logout tells the browser to empty
the phone."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from hemma.access.auth import create_api_token
from hemma.kit.time import at_local, frozen_clock, local_today, utcnow
from hemma.models import AuditEntry, Observation, Staff, Visit, VisitReportRecord
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


def _url(d, patient: int, visit) -> str:
    return f"/api/v1/patients/{d.patients[patient]}/visits/{visit}/report"


def test_a_resent_report_is_recorded_once_and_answered_like_the_first(world, database,
                                                                      as_user, d):
    v = d.visit(0, "08:00", "15:00", minutes=20)
    kim = as_user("kim")
    body = {"status": "done", "client_id": str(uuid.uuid4()),
            "at": at_local(d.day, "08:40").isoformat(),
            "values": {"pulse": "88", "temperature": "37,8", "on_oxygen": False}}
    first = kim.post(_url(d, 0, v), json=body)
    assert first.status_code == 200, first.text
    again = kim.post(_url(d, 0, v), json=body)
    assert again.status_code == 200 and again.json() == first.json()
    assert first.json()["status"] == "done"
    assert _count(database, VisitReportRecord, VisitReportRecord.visit_id == v) == 1
    assert _count(database, Observation, Observation.patient_id == d.patients[0]) == 1
    with database.session() as s:
        values = s.scalar(select(Observation).where(Observation.patient_id == d.patients[0]))
        assert (values.pulse, values.temperature, values.on_oxygen) == (88, 37.8, False)
        assert (values.source, values.performer, values.client_id) == (
            "visit", "staff", f"visit-{v}")
        assert values.measured_at == at_local(d.day, "08:40")
        report = s.scalar(select(VisitReportRecord))
        assert (report.status, report.client_id, report.observation_id) == (
            "done", body["client_id"], values.id)
        assert report.staff_id == world.staff["kim"]
        # Each request logged once: the report, then the resend that changed nothing.
        actions = list(s.scalars(select(AuditEntry.action).where(
            AuditEntry.patient_id == d.patients[0]).order_by(AuditEntry.id)))
        assert actions == ["visit.done", "visit.resend"]
    # The same client id from someone else is not theirs to claim or probe.
    mona = as_user("mona")
    taken = mona.post(_url(d, 0, v), json=body)
    assert taken.status_code == 409 and taken.json()["errors"][0]["field"] == "client_id"
    # A new report of a visit already reported is a conflict, as before.
    late = kim.post(_url(d, 0, v), json=body | {"client_id": str(uuid.uuid4())})
    assert late.status_code == 409 and late.json()["errors"][0]["field"] == "status"
    assert _count(database, VisitReportRecord) == 1


def test_the_same_report_sent_twice_at_once_is_recorded_once(world, database, as_user, d):
    """Two tabs, or the online event and a tap on "Skicka nu", at the same moment."""
    v = d.visit(0, "08:00", "15:00", minutes=20)
    phones = [as_user("kim"), as_user("mona")]
    # The same session in both (one phone, two senders).
    phones[1].cookies = phones[0].cookies
    phones[1].headers["X-CSRF-Token"] = phones[0].headers["X-CSRF-Token"]
    body = {"status": "done", "client_id": str(uuid.uuid4()), "values": {"pulse": 76}}
    start = threading.Barrier(len(phones))
    answers = []

    def send(phone):
        start.wait()
        answers.append(phone.post(_url(d, 0, v), json=body).status_code)

    threads = [threading.Thread(target=send, args=(p,)) for p in phones]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answers == [200, 200]
    assert _count(database, VisitReportRecord) == 1 and _count(database, Observation) == 1


def test_started_and_done_queued_on_the_phone_arrive_in_order_with_their_times(
        world, database, as_user, d, clock):
    v = d.visit(0, "08:00", "15:00", minutes=20)
    kim = as_user("kim")
    started = {"status": "started", "client_id": "phone-0001-started",
               "at": at_local(d.day, "08:05").isoformat()}
    done = {"status": "done", "client_id": "phone-0001-done",
            "at": at_local(d.day, "08:31").isoformat(), "note": "Såret läker fint"}
    # Sent when the phone is back, at 09:00: each keeps the time it was made.
    for body in (started, done, started, done):
        assert kim.post(_url(d, 0, v), json=body).status_code == 200
    with database.session() as s:
        visit = s.get(Visit, v)
        assert (visit.status, visit.started_at, visit.done_at) == (
            "done", at_local(d.day, "08:05"), at_local(d.day, "08:31"))
        assert visit.notes == "Såret läker fint"
        rows = list(s.execute(select(VisitReportRecord.status, VisitReportRecord.reported_at,
                                     VisitReportRecord.received_at)
                              .order_by(VisitReportRecord.reported_at)))
        assert rows == [("started", at_local(d.day, "08:05"), utcnow()),
                        ("done", at_local(d.day, "08:31"), utcnow())]


def test_a_phone_clock_ahead_or_a_day_behind(world, database, as_user, d, clock):
    a = d.visit(0, "08:00", "15:00", minutes=20)
    kim = as_user("kim")
    # Ahead: a report cannot have been made after it reached us.
    r = kim.post(_url(d, 0, a), json={"status": "started", "client_id": "phone-ahead-1",
                                      "at": (utcnow() + timedelta(hours=3)).isoformat()})
    assert r.status_code == 200
    with database.session() as s:
        assert s.get(Visit, a).started_at == utcnow()
    # Before the visit's day: not a report of this visit; nothing changes.
    r = kim.post(_url(d, 0, a), json={"status": "done", "client_id": "phone-behind-1",
                                      "at": at_local(d.day - timedelta(days=1), "23:00")
                                      .isoformat()})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "at"
    assert "före besöksdagen" in r.json()["errors"][0]["message"]
    with database.session() as s:
        assert s.get(Visit, a).status == "started"
    assert _count(database, VisitReportRecord) == 1


def test_values_go_with_done_only_and_a_bad_one_saves_nothing(world, database, as_user, d):
    v = d.visit(0, "08:00", "15:00", minutes=20)
    kim = as_user("kim")
    r = kim.post(_url(d, 0, v), json={"status": "started", "values": {"pulse": 80}})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "values"
    r = kim.post(_url(d, 0, v), json={"status": "done", "client_id": "phone-bad-temp",
                                      "values": {"pulse": 80, "temperature": "3778"}})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "values.temperature"
    with database.session() as s:
        assert s.get(Visit, v).status == "planned"
    assert _count(database, VisitReportRecord) == 0 and _count(database, Observation) == 0
    # The same client id with the value corrected: it was never recorded, so it is now.
    r = kim.post(_url(d, 0, v), json={"status": "done", "client_id": "phone-bad-temp",
                                      "values": {"pulse": 80, "temperature": "37,8"}})
    assert r.status_code == 200
    assert _count(database, VisitReportRecord) == 1 and _count(database, Observation) == 1


def test_the_route_pages_form_takes_a_client_id_too(world, database, as_user, d):
    v = d.visit(0, "08:00", "15:00", minutes=20)
    d.plan()
    owner = {a.shift_id for (visit, _p), a in d.assignments().items() if visit == v}.pop()
    user = next(name for name, shift in d.shifts.items() if shift == owner)
    client = as_user(user)
    form = {"csrf_token": world.csrf[id(client)], "status": "done", "client_id": "form-0000-1",
            "pulse": "92", "temperature": "38,1"}
    for _ in range(2):  # a double tap, or the back button and the form sent again
        r = client.post(f"/patients/{d.patients[0]}/visits/{v}/report", data=form,
                        follow_redirects=False)
        assert r.status_code == 303
    assert _count(database, VisitReportRecord) == 1 and _count(database, Observation) == 1
    bad = client.post(f"/patients/{d.patients[0]}/visits/{v}/report",
                      data=form | {"client_id": "x"})
    assert bad.status_code == 422


def test_todays_route_page_says_whose_and_which_day(world, database, as_user, d, client):
    d.visit(0, "08:00", "15:00", minutes=20)
    d.plan()
    kim = as_user("kim")
    today = kim.get("/my-route")
    assert today.status_code == 200
    assert today.headers["x-hemma-offline"] == f"{world.staff['kim']}/{d.day.isoformat()}"
    assert today.headers["cache-control"] == "no-store"
    assert f'data-staff="{world.staff["kim"]}"' in today.text
    assert 'rel="manifest" href="/my-route/manifest.webmanifest"' in today.text
    # Another day is never kept on the phone.
    for day in (d.day - timedelta(days=1), d.day + timedelta(days=1)):
        other = kim.get(f"/my-route?day={day.isoformat()}")
        assert other.status_code == 200 and "x-hemma-offline" not in other.headers
    assert "x-hemma-offline" not in kim.get("/my-route/version").headers
    # Nor is it for a system calling with a token (no browser, no phone).
    with database.session() as s:
        token = create_api_token(s, s.get(Staff, world.staff["kim"]), "test")
    other = client.get("/my-route", headers={"Authorization": f"Bearer {token}"})
    assert other.status_code == 200 and "x-hemma-offline" not in other.headers
    # Nobody signed in: the login page, nothing to keep.
    client.headers.pop("Authorization", None)
    out = client.get("/my-route", follow_redirects=False)
    assert out.status_code == 303 and "x-hemma-offline" not in out.headers


def test_the_service_worker_manifest_and_offline_page_hold_no_data(world, client):
    sw = client.get("/my-route/sw.js")
    assert sw.status_code == 200 and sw.headers["content-type"].startswith("text/javascript")
    assert sw.headers["service-worker-allowed"] == "/my-route"
    assert "X-Hemma-Offline" in sw.text and "caches" in sw.text
    manifest = client.get("/my-route/manifest.webmanifest")
    assert manifest.headers["content-type"].startswith("application/manifest+json")
    data = manifest.json()
    assert data["name"] == "Hemma – Min rutt" and data["short_name"] == "Min rutt"
    assert (data["start_url"], data["scope"], data["display"]) == (
        "/my-route", "/my-route", "standalone")
    assert all(client.get(icon["src"]).status_code == 200 for icon in data["icons"])
    offline = client.get("/my-route/offline")
    assert offline.status_code == 200 and "dagens rutt är inte sparad" in offline.text
    assert "csrf_token" not in offline.text and 'action="/logout"' not in offline.text
    # Signed in or not, the same page (it is kept on the phone for everyone).
    world.login(client, world.database, "kim")
    assert client.get("/my-route/offline").text == offline.text


def test_logout_tells_the_browser_to_empty_the_phone(world, as_user):
    kim = as_user("kim")
    r = kim.post("/logout", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["clear-site-data"] == '"cache", "storage"'
