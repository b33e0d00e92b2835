"""Treatments given at home: the physician orders IV antibiotics, the giving unit is asked
for its visits (a care request; the physician's own unit gets its visits at once), each dose
is recorded given or not given with a reason, and the record follows the access rules."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from hemma.access.policy import Action
from hemma.access.service import can, subject_for
from hemma.kit.errors import Forbidden, Invalid, NotFound
from hemma.kit.time import at_local, local_today, utcnow
from hemma.models import CareRequest, Staff, TreatmentDose, TreatmentOrder, Visit
from hemma.planning import service as planning
from hemma.planning.schemas import CareRequestDecision
from hemma.treatments import service
from hemma.treatments.schemas import DoseRecord, OrderCreate


def _subject(s, world, who):
    return subject_for(s, s.get(Staff, world.staff[who]))


def _patient(world, *, consent=True):
    pid = world.patient(unit="med")
    eid = world.episode(pid, state="admitted", pathway="snabbspar")
    if consent:
        world.consent(pid, "kommun")
        world.consent(pid, "region")
    return pid, eid


def _order(world, **kw) -> dict:
    today = local_today()
    return {"drug": "Ceftriaxon", "atc_code": "J01DD04", "dose": "2 g", "route": "iv",
            "times": ["08:00", "20:00"], "starts_on": today.isoformat(),
            "stops_on": (today + timedelta(days=4)).isoformat(),
            "giving_unit_id": world.units["med"], "duration_minutes": 30} | kw


def _count(database, model, **where):
    with database.session() as s:
        stmt = select(func.count()).select_from(model)
        for k, v in where.items():
            stmt = stmt.where(getattr(model, k) == v)
        return s.scalar(stmt)


def test_the_physician_orders_through_the_page_and_the_own_unit_gets_its_visits(
        world, database, as_user):
    pid, eid = _patient(world)
    lisa = as_user("lisa")
    csrf = world.csrf[id(lisa)]
    page = lisa.get(f"/patients/{pid}/episodes/{eid}/treatments")
    assert page.status_code == 200 and 'id="not-ehr"' in page.text
    form = {k: v for k, v in _order(world).items() if k != "times"}
    r = lisa.post(f"/patients/{pid}/episodes/{eid}/treatments",
                  data={"csrf_token": csrf, **form, "times": "08:00, 20:00"},
                  follow_redirects=False)
    assert r.status_code == 303, r.text[:3000]
    with database.session() as s:
        order = s.scalar(select(TreatmentOrder).where(TreatmentOrder.episode_id == eid))
        request = s.get(CareRequest, order.care_request_id)
        assert order.prescriber_id == world.staff["lisa"] and order.times == ["08:00", "20:00"]
        assert request.status == "accepted" and request.to_unit_id == world.units["med"]
        assert request.kind == "iv_antibiotic"
        visits = s.scalar(select(func.count()).select_from(Visit)
                          .where(Visit.care_request_id == request.id))
    # Five days at 08:00 and 20:00, less today's times already past.
    assert 8 <= visits <= 10
    overview = lisa.get(f"/patients/{pid}")
    assert "Ceftriaxon" in overview.text and f"/episodes/{eid}/treatments" in overview.text


def test_another_unit_is_sent_a_care_request_and_its_visits_come_when_it_accepts(
        world, database, as_user):
    pid, eid = _patient(world, consent=False)
    lisa = as_user("lisa")
    r = lisa.post(f"/api/v1/patients/{pid}/episodes/{eid}/treatments",
                  json=_order(world, giving_unit_id=world.units["hsv"]))
    # The municipality joins the patient's care: consent, or why none is needed.
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "sharing"
    assert _count(database, TreatmentOrder, episode_id=eid) == 0
    r = lisa.post(f"/api/v1/patients/{pid}/episodes/{eid}/treatments",
                  json=_order(world, giving_unit_id=world.units["hsv"], sharing="consent",
                              starts_on=(local_today() + timedelta(days=1)).isoformat()))
    assert r.status_code == 201, r.text
    body = r.json()
    request_id = uuid.UUID(body["care_request_id"])
    with database.session() as s:
        request = s.get(CareRequest, request_id)
        assert request.status == "requested" and request.to_unit_id == world.units["hsv"]
        assert request.times == ["08:00", "20:00"] and "Ceftriaxon" in request.notes
        planning.decide(s, _subject(s, world, "kim"), pid, request.id,
                        CareRequestDecision(accept=True))
    assert _count(database, Visit, care_request_id=request.id) == 8
    # Kim gives the first dose at the visit: the dose is linked to it.
    first = at_local(local_today() + timedelta(days=1), "08:00")
    with database.session() as s:
        with pytest.raises(Invalid) as exc:  # tomorrow's dose is not due yet
            service.record_dose(s, _subject(s, world, "kim"), pid, uuid.UUID(body["id"]),
                                DoseRecord(planned_at=first, given=True))
        assert exc.value.field == "planned_at"


def test_doses_given_and_not_given_through_page_and_api(world, database, as_user):
    pid, eid = _patient(world)
    with database.session() as s:
        order = service.order_treatment(s, _subject(s, world, "lisa"), pid, eid,
                                        OrderCreate(**_order(world, times=["00:00", "00:01"])))
        order_id = order.id
    planned = at_local(local_today(), "00:00")
    olle = as_user("olle")
    csrf = world.csrf[id(olle)]
    # Not given without a reason: refused, naming the field, nothing saved.
    r = olle.post(f"/patients/{pid}/treatments/{order_id}/doses",
                  data={"csrf_token": csrf, "planned_at": planned.isoformat(), "given": "false"})
    assert r.status_code == 422 and 'id="reason-' in r.text and "field-error" in r.text
    assert _count(database, TreatmentDose, order_id=order_id) == 0
    r = olle.post(f"/patients/{pid}/treatments/{order_id}/doses",
                  data={"csrf_token": csrf, "planned_at": "yesterday", "given": "true"})
    assert r.status_code == 422
    r = olle.post(f"/patients/{pid}/treatments/{order_id}/doses",
                  data={"csrf_token": csrf, "planned_at": planned.isoformat(), "given": "true"},
                  follow_redirects=False)
    assert r.status_code == 303, r.text[:3000]
    sara = as_user("sara")
    second = at_local(local_today(), "00:01")
    r = sara.post(f"/api/v1/patients/{pid}/treatments/{order_id}/doses",
                  json={"planned_at": second.isoformat(), "given": False,
                        "reason": "Patienten sov, ges vid nästa besök"})
    assert r.status_code == 201, r.text
    doses = r.json()["doses"]
    assert [(d["given"], d["reason"]) for d in doses] == [
        (True, None), (False, "Patienten sov, ges vid nästa besök")]
    # The same dose twice, and a time the order does not plan, are refused.
    r = sara.post(f"/api/v1/patients/{pid}/treatments/{order_id}/doses",
                  json={"planned_at": second.isoformat(), "given": True})
    assert r.status_code == 409
    r = sara.post(f"/api/v1/patients/{pid}/treatments/{order_id}/doses",
                  json={"planned_at": (second + timedelta(minutes=7)).isoformat(), "given": True})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "planned_at"
    with database.session() as s:
        record = service.treatment_record(
            s, can(s, _subject(s, world, "sara"), Action.READ, pid), eid)
    assert len(record.orders) == 1 and len(record.orders[0].doses) == 2
    assert record.missed == 1  # the one not given


def test_order_bad_input_names_the_field(world, database, as_user):
    pid, eid = _patient(world)
    lisa = as_user("lisa")
    url = f"/api/v1/patients/{pid}/episodes/{eid}/treatments"
    for change, field in (({"atc_code": "J01-DD"}, "atc_code"), ({"route": "rectal"}, "route"),
                          ({"times": ["8"]}, "times.0"), ({"times": []}, "times"),
                          ({"drug": ""}, "drug"),
                          ({"stops_on": (local_today() - timedelta(days=1)).isoformat()},
                           "stops_on"),
                          ({"times": ["08:00", "08:00"]}, "times"),
                          ({"giving_unit_id": 999999}, "giving_unit_id")):
        r = lisa.post(url, json=_order(world, **change))
        assert r.status_code == 422, (change, r.text)
        assert r.json()["errors"][0]["field"] == field, (change, r.json())
    # A lower-case code is the same code.
    r = lisa.post(url, json=_order(world, atc_code="j01dd04"))
    assert r.status_code == 201 and r.json()["atc_code"] == "J01DD04"
    # The page too: the error beside the field, nothing saved.
    r = lisa.post(f"/patients/{pid}/episodes/{eid}/treatments",
                  data={"csrf_token": world.csrf[id(lisa)], **{
                      k: v for k, v in _order(world, atc_code="ceftriaxon").items()
                      if k != "times"}, "times": "08:00"})
    assert r.status_code == 422 and 'id="atc_code-error"' in r.text
    assert _count(database, TreatmentOrder, episode_id=eid) == 1


def test_only_a_physician_orders_and_stops(world, database, as_user):
    pid, eid = _patient(world)
    sara = as_user("sara")
    r = sara.post(f"/api/v1/patients/{pid}/episodes/{eid}/treatments", json=_order(world))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "prescriber"
    assert _count(database, TreatmentOrder, episode_id=eid) == 0
    with database.session() as s:
        order_id = service.order_treatment(s, _subject(s, world, "lisa"), pid, eid,
                                           OrderCreate(**_order(world))).id
    assert sara.post(f"/api/v1/patients/{pid}/treatments/{order_id}/stop").status_code == 422
    lisa = as_user("lisa")
    r = lisa.post(f"/patients/{pid}/treatments/{order_id}/stop",
                  data={"csrf_token": world.csrf[id(lisa)]}, follow_redirects=False)
    assert r.status_code == 303
    with database.session() as s:
        order = s.get(TreatmentOrder, order_id)
        assert order.stopped_by_id == world.staff["lisa"]
        left = s.scalar(select(func.count()).select_from(Visit).where(
            Visit.care_request_id == order.care_request_id, Visit.status == "planned"))
    assert left == 0
    assert lisa.post(f"/api/v1/patients/{pid}/treatments/{order_id}/stop").status_code == 409


def test_access_consent_and_may_change(world, database, as_user):
    pid, eid = _patient(world, consent=False)
    world.relation(pid, unit="hsv")
    with database.session() as s:
        order_id = service.order_treatment(s, _subject(s, world, "lisa"), pid, eid,
                                           OrderCreate(**_order(world))).id
    kim = as_user("kim")
    # Without the patient's consent the municipality sees neither the order nor its doses.
    assert kim.get(f"/patients/{pid}/episodes/{eid}/treatments").status_code == 404
    assert kim.get(f"/api/v1/patients/{pid}/episodes/{eid}/treatments").status_code == 404
    assert "Ceftriaxon" not in kim.get(f"/patients/{pid}").text
    with database.session() as s, pytest.raises(NotFound):
        service.get_order(s, can(s, _subject(s, world, "kim"), Action.READ, pid), pid, order_id)
    # With consent it reads them, but changes nothing of the region's record.
    world.consent(pid, "kommun")
    assert kim.get(f"/api/v1/patients/{pid}/episodes/{eid}/treatments").status_code == 200
    assert kim.post(f"/patients/{pid}/treatments/{order_id}/stop",
                    data={"csrf_token": world.csrf[id(kim)]}).status_code == 403
    with database.session() as s, pytest.raises(Forbidden):
        service.record_dose(s, _subject(s, world, "kim"), pid, order_id, DoseRecord(
            planned_at=at_local(local_today(), "08:00"), given=True))
    assert _count(database, TreatmentDose, order_id=order_id) == 0


def test_planned_times_keep_swedish_wall_clock_and_stop(world, database):
    pid, eid = _patient(world)
    with database.session() as s:
        order = service.order_treatment(s, _subject(s, world, "lisa"), pid, eid,
                                        OrderCreate(**_order(world)))
        times = service.planned_times(order)
        assert len(times) == 10 and times[0] == at_local(local_today(), "08:00")
        order.stopped_at = utcnow()
        assert all(t < order.stopped_at for t in service.planned_times(order))
