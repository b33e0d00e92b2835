"""The shared plan across organisations: a visit activity becomes a care request the
municipality accepts (its status follows), each organisation changes only its own
activities, others read them with consent, the coordinator edits the goals, the SIP timers,
and bad input that saves nothing."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import func, select

from hemma.kit.time import local_today, utcnow
from hemma.models import CarePlanVersion, CareRequest, PlanActivity, SipMeeting, Task, Visit


def _setup(world, consent=True):
    pid = world.patient(unit="med")
    eid = world.episode(pid, state="admitted", pathway="snabbspar")
    world.relation(pid, unit="hsv")
    if consent:
        world.consent(pid, "region")
        world.consent(pid, "kommun")
    return pid, eid


def _url(pid, eid):
    return f"/api/v1/patients/{pid}/episodes/{eid}/careplan"


def _iv(world, **kw):
    today = local_today()
    return {"unit_id": world.units["hsv"], "what": "Intravenös antibiotika", "kind": "visit",
            "times": ["08:00", "14:00", "20:00"], "duration_minutes": 30,
            "care_kind": "iv_antibiotic", "skills": ["iv"], "starts_on": today.isoformat(),
            "ends_on": (today + timedelta(days=3)).isoformat(), **kw}


def test_a_visit_activity_becomes_a_care_request_and_follows_its_answer(world, as_user, database):
    pid, eid = _setup(world)
    sara, kim = as_user("sara"), as_user("kim")
    form = sara.get(f"/patients/{pid}/episodes/{eid}/careplan?template=iv_antibiotic")
    assert form.status_code == 200
    assert 'value="08:00 14:00 20:00"' in form.text
    assert f'<option value="{world.units["hsv"]}" selected' in form.text
    r = sara.post(_url(pid, eid) + "/activities", json=_iv(world))
    assert r.status_code == 201, r.text
    activity = r.json()["activities"][0]
    assert activity["status"] == "requested" and activity["organisation"] == "Kommunen"
    request_id = uuid.UUID(activity["care_request_id"])
    r = kim.post(f"/api/v1/patients/{pid}/care-requests/{request_id}/decision",
                 json={"accept": True})
    assert r.status_code == 200, r.text
    plan = kim.get(_url(pid, eid)).json()
    assert plan["activities"][0]["status"] == "ongoing"
    assert plan["activities"][0]["visits_planned"] >= 9
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(Visit)
                        .where(Visit.care_request_id == request_id)) >= 9
    # The municipality, responsible for it, stops it; its planned visits go.
    r = kim.post(_url(pid, eid) + f"/activities/{activity['id']}/status",
                 json={"status": "stopped"})
    assert r.status_code == 200 and r.json()["activities"][0]["status"] == "stopped"
    with database.session() as s:
        assert s.get(CareRequest, request_id).status == "cancelled"


def test_each_organisation_changes_only_its_own_activities(world, as_user):
    pid, eid = _setup(world)
    sara, kim = as_user("sara"), as_user("kim")
    visit = sara.post(_url(pid, eid) + "/activities", json=_iv(world)).json()["activities"][0]
    own = sara.post(_url(pid, eid) + "/activities", json={
        "unit_id": world.units["med"], "what": "Läkarbedömning via video", "kind": "ongoing",
        "starts_on": local_today().isoformat()}).json()
    region = next(a for a in own["activities"] if a["organisation"] == "Region Norr")
    # The region cannot stop the municipality's visits, nor the municipality the region's.
    assert sara.post(_url(pid, eid) + f"/activities/{visit['id']}/status",
                     json={"status": "stopped"}).status_code == 403
    assert kim.post(_url(pid, eid) + f"/activities/{region['id']}/status",
                    json={"status": "done"}).status_code == 403
    page = kim.get(f"/patients/{pid}/episodes/{eid}/careplan").text
    assert page.count('/status"') == 1  # only its own activity has buttons
    assert sara.post(_url(pid, eid) + f"/activities/{region['id']}/status",
                     json={"status": "done"}).json()["activities"][0]["status"] in ("done",
                                                                                   "requested")


def test_without_consent_the_other_organisations_activities_are_hidden(world, as_user):
    pid, eid = _setup(world, consent=False)
    sara, kim = as_user("sara"), as_user("kim")
    sara.post(_url(pid, eid) + "/activities", json={
        "unit_id": world.units["med"], "what": "Hemligt läkemedelsbyte", "kind": "ongoing",
        "starts_on": local_today().isoformat()})
    # The municipality may not see the region's episode: the plan does not exist for it.
    assert kim.get(_url(pid, eid)).status_code == 404
    world.consent(pid, "kommun")  # consent for the municipality's reading only
    plan = kim.get(_url(pid, eid))
    assert plan.status_code == 200
    assert "Hemligt" in plan.text  # now shared
    history = kim.get(f"/patients/{pid}/episodes/{eid}/careplan/versions")
    assert history.status_code == 200


def test_the_coordinator_edits_the_goals(world, as_user, database):
    pid, eid = _setup(world)  # the factory names carl the coordinator
    sara, carl = as_user("sara"), as_user("carl")
    body = {"goals": "Jag vill kunna gå till brevlådan själv.", "needs": "Hjälp med dusch",
            "follow_ups": [{"on": (local_today() + timedelta(days=14)).isoformat(),
                            "what": "Återbesök hälsocentralen"}]}
    assert sara.put(_url(pid, eid) + "/goals", json=body).status_code == 403
    r = carl.put(_url(pid, eid) + "/goals", json=body)
    assert r.status_code == 200 and r.json()["goals"].startswith("Jag vill")
    r = carl.post(f"/patients/{pid}/episodes/{eid}/careplan/goals", data={
        "goals": "Gå till brevlådan", "follow_ups": "inte-ett-datum Något"})
    assert r.status_code == 422
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(CarePlanVersion)) == 1


def test_a_one_off_becomes_a_task(world, as_user, database):
    pid, eid = _setup(world)
    sara = as_user("sara")
    due = (utcnow() + timedelta(days=1)).isoformat()
    r = sara.post(_url(pid, eid) + "/activities", json={
        "unit_id": world.units["hsv"], "what": "Ordna nyckelgömma", "kind": "once",
        "due_at": due, "starts_on": local_today().isoformat(), "sharing": "consent"})
    assert r.status_code == 201, r.text
    with database.session() as s:
        task = s.scalar(select(Task))
        assert (task.title, task.unit_id, task.kind) == ("Ordna nyckelgömma",
                                                         world.units["hsv"], "activity")


def test_bad_activities_name_the_field_and_save_nothing(world, as_user, database):
    pid, eid = _setup(world)
    sara = as_user("sara")
    cases = [(_iv(world, times=[]), "times"), (_iv(world, times=["25:00"]), "times.0"),
             (_iv(world, duration_minutes=None), "duration_minutes"),
             (_iv(world, ends_on=None), "ends_on"),
             (_iv(world, unit_id=99999), "unit_id"),
             (_iv(world, starts_on=(local_today() - timedelta(days=2)).isoformat()), "starts_on"),
             ({**_iv(world), "kind": "once"}, "due_at"),
             (_iv(world, what=""), "what")]
    for body, field in cases:
        r = sara.post(_url(pid, eid) + "/activities", json=body)
        assert r.status_code == 422, (body, r.text)
        assert field in {e["field"] for e in r.json()["errors"]}, (field, r.json())
    page = sara.post(f"/patients/{pid}/episodes/{eid}/careplan/activities",
                     data={"unit_id": str(world.units["hsv"]), "kind": "visit", "what": "IV",
                           "starts_on": local_today().isoformat()})
    assert page.status_code == 422 and 'id="activity-form"' in page.text
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(PlanActivity)) == 0
        assert s.scalar(select(func.count()).select_from(CareRequest)) == 0


def test_sip_timers_start_and_steps_in_the_wrong_order_are_refused(world, as_user, database):
    pid, eid = _setup(world)
    sara = as_user("sara")
    r = sara.post(_url(pid, eid) + "/sip/start", json={})
    assert r.status_code == 200
    timers = {t["key"]: t["state"] for t in r.json()["sip"]["timers"]}
    assert timers == {"notice": "open", "call": "waiting"}
    now = utcnow()
    r = sara.put(_url(pid, eid) + "/sip", json={"called_at": now.isoformat()})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "called_at"
    r = sara.put(_url(pid, eid) + "/sip", json={
        "notice_sent_at": now.isoformat(), "participants": ["Patienten", "Dotter"]})
    assert r.status_code == 200
    timers = {t["key"]: t["state"] for t in r.json()["sip"]["timers"]}
    assert timers == {"notice": "done", "call": "open"}
    page = sara.get(f"/patients/{pid}/episodes/{eid}/careplan")
    assert 'id="timer-call"' in page.text
    with database.session() as s:
        assert s.scalar(select(SipMeeting.participants)) == ["Patienten", "Dotter"]
