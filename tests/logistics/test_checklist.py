"""The road home's logistics: the checklist from the pathway's template (the region's
supplies and devices, the municipality's key box), ticked by the organisation that provides
each item, overdue items on the home-ward list and the overview, and the homecoming call."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from hemma.access.service import decisions_for, subject_for
from hemma.kit.errors import Forbidden, NotFound
from hemma.kit.time import at_local, local_date, utcnow
from hemma.logistics import service
from hemma.logistics.schemas import ChecklistDone, HomecomingAnswers
from hemma.models import ChecklistItem, Staff, Task


def _subject(s, world, who):
    return subject_for(s, s.get(Staff, world.staff[who]))


def _patient(world, *, kommun=True, consent=True):
    pid = world.patient(unit="med")
    eid = world.episode(pid, state="assessing", pathway="snabbspar")
    if kommun:
        world.relation(pid, unit="hsv")
    if consent:
        world.consent(pid, "kommun")
        world.consent(pid, "region")
    return pid, eid


def _items(database, eid):
    with database.session() as s:
        return list(s.scalars(select(ChecklistItem).where(ChecklistItem.episode_id == eid)
                              .order_by(ChecklistItem.position)))


def _count(database, model, **where):
    with database.session() as s:
        stmt = select(func.count()).select_from(model)
        for k, v in where.items():
            stmt = stmt.where(getattr(model, k) == v)
        return s.scalar(stmt)


def test_checklist_from_the_template_through_the_page(world, database, as_user):
    pid, eid = _patient(world)
    sara = as_user("sara")
    csrf = world.csrf[id(sara)]
    r = sara.post(f"/patients/{pid}/episodes/{eid}/checklist",
                  data={"csrf_token": csrf, "homecoming_at": "2031-03-10T14:00"},
                  follow_redirects=False)
    assert r.status_code == 303, r.text[:2000]
    items = _items(database, eid)
    assert [i.category for i in items] == ["medicines", "supplies", "devices", "devices", "key"]
    homecoming = at_local(datetime(2031, 3, 10).date(), "14:00")
    assert items[0].due_at == homecoming - timedelta(hours=24)
    assert items[2].due_at == homecoming
    # The region's items are the responsible unit's; the key box is the municipality's home
    # health unit in the care team.
    assert {i.provider_unit_id for i in items[:4]} == {world.units["med"]}
    assert items[4].provider_unit_id == world.units["hsv"]
    with database.session() as s:
        call = s.scalar(select(Task).where(Task.episode_id == eid))
    assert call.kind == "homecoming_call" and call.unit_id == world.units["med"]
    assert call.due_at == at_local(datetime(2031, 3, 10).date(), "19:00")
    assert [q["key"] for q in call.questions][0] == "arrived_well"
    page = sara.get(f"/patients/{pid}/episodes/{eid}/logistics")
    assert page.status_code == 200 and "Nyckel i nyckelgömma" in page.text
    # A second checklist is refused, nothing added.
    r = sara.post(f"/patients/{pid}/episodes/{eid}/checklist",
                  data={"csrf_token": csrf, "homecoming_at": "2031-03-11T14:00"})
    assert r.status_code == 409 and len(_items(database, eid)) == 5


def test_kommun_provider_without_one_in_the_team_is_the_first_home_health_unit(world, database):
    pid, eid = _patient(world, kommun=False)
    with database.session() as s:
        service.create_checklist(s, _subject(s, world, "lisa"), pid, eid,
                                 datetime(2031, 3, 10, 12, tzinfo=UTC))
    assert _items(database, eid)[-1].provider_unit_id == world.units["hsv"]


def test_bad_input_names_the_field_and_saves_nothing(world, database, as_user):
    pid, eid = _patient(world)
    sara = as_user("sara")
    csrf = world.csrf[id(sara)]
    r = sara.post(f"/patients/{pid}/episodes/{eid}/checklist",
                  data={"csrf_token": csrf, "homecoming_at": "tomorrow"})
    assert r.status_code == 422 and 'id="homecoming_at-error"' in r.text
    r = sara.post(f"/patients/{pid}/episodes/{eid}/checklist/items",
                  data={"csrf_token": csrf, "category": "pets", "what": "Rullator",
                        "provider_unit_id": str(world.units["med"]),
                        "due_at": "2031-03-10T10:00"})
    assert r.status_code == 422 and 'id="category-error"' in r.text
    api = sara.post(f"/api/v1/patients/{pid}/episodes/{eid}/checklist/items",
                    json={"category": "aids", "what": "Rullator", "provider_unit_id": 999999,
                          "due_at": "2031-03-10T10:00:00+01:00"})
    assert api.status_code == 422
    assert [e["field"] for e in api.json()["errors"]] == ["provider_unit_id"]
    api = sara.post(f"/api/v1/patients/{pid}/episodes/{eid}/checklist",
                    json={"homecoming_at": "2031-03-10T10:00:00"})  # no offset
    assert api.status_code == 422 and api.json()["errors"][0]["field"] == "homecoming_at"
    assert _count(database, ChecklistItem, episode_id=eid) == 0
    assert _count(database, Task, episode_id=eid) == 0


def test_add_tick_and_remove_through_the_api(world, database, as_user):
    pid, eid = _patient(world)
    sara = as_user("sara")
    r = sara.post(f"/api/v1/patients/{pid}/episodes/{eid}/checklist/items",
                  json={"category": "aids", "what": "Säng med höj- och sänkbar rygg",
                        "provider_unit_id": world.units["med"], "deliverer": "Hjälpmedelscentralen",
                        "due_at": "2031-03-10T10:00:00+01:00"})
    assert r.status_code == 201, r.text
    item = r.json()["items"][0]
    assert item["deliverer"] == "Hjälpmedelscentralen" and item["done_at"] is None
    olle = as_user("olle")  # assistant nurses tick items done too
    r = olle.post(f"/api/v1/patients/{pid}/checklist/{item['id']}/done", json={})
    assert r.status_code == 200, r.text
    assert r.json()["items"][0]["done_by"] == "Olle Undersköterska"
    assert olle.post(f"/api/v1/patients/{pid}/checklist/{item['id']}/done",
                     json={}).status_code == 409
    assert olle.delete(f"/api/v1/patients/{pid}/checklist/{item['id']}").status_code == 404
    assert sara.delete(f"/api/v1/patients/{pid}/checklist/{item['id']}").status_code == 204
    assert _count(database, ChecklistItem, episode_id=eid) == 0


def test_each_organisation_ticks_what_it_provides(world, database, as_user):
    pid, eid = _patient(world)
    with database.session() as s:
        service.create_checklist(s, _subject(s, world, "sara"), pid, eid,
                                 utcnow() + timedelta(days=1))
    items = _items(database, eid)
    key, tablet = items[-1], items[0]
    kim = as_user("kim")
    csrf = world.csrf[id(kim)]
    # The municipality's home health nurse ticks the key box it provides …
    r = kim.post(f"/patients/{pid}/checklist/{key.id}/done",
                 data={"csrf_token": csrf, "deliverer": "Kim"}, follow_redirects=False)
    assert r.status_code == 303
    # … but not the region's items, nor removes the region's list (may_change).
    assert kim.post(f"/patients/{pid}/checklist/{tablet.id}/done",
                    data={"csrf_token": csrf}).status_code == 403
    assert kim.post(f"/patients/{pid}/checklist/{key.id}/remove",
                    data={"csrf_token": csrf}).status_code == 403
    with database.session() as s, pytest.raises(Forbidden):
        service.tick_done(s, _subject(s, world, "kim"), pid, tablet.id, ChecklistDone())
    done = {i.id: i for i in _items(database, eid)}
    assert done[key.id].done_by_id == world.staff["kim"] and done[key.id].deliverer == "Kim"
    assert done[tablet.id].done_at is None
    # The responsible unit's organisation may tick any item (the patient's safety is its).
    with database.session() as s:
        service.tick_done(s, _subject(s, world, "sara"), pid, items[1].id, ChecklistDone())


def test_without_consent_the_kommun_nurse_does_not_see_the_regions_checklist(world, database,
                                                                            as_user):
    pid, eid = _patient(world, consent=False)
    with database.session() as s:
        service.create_checklist(s, _subject(s, world, "sara"), pid, eid,
                                 utcnow() + timedelta(days=1))
    key = _items(database, eid)[-1]
    kim = as_user("kim")
    assert kim.get(f"/patients/{pid}").status_code == 200
    assert kim.get(f"/patients/{pid}/episodes/{eid}/logistics").status_code == 404
    assert kim.get(f"/api/v1/patients/{pid}/episodes/{eid}/logistics").status_code == 404
    assert kim.post(f"/api/v1/patients/{pid}/checklist/{key.id}/done", json={}).status_code == 404
    assert "Nyckel i nyckelgömma" not in kim.get(f"/patients/{pid}").text
    with database.session() as s, pytest.raises(NotFound):
        service.tick_done(s, _subject(s, world, "kim"), pid, key.id, ChecklistDone())
    assert _items(database, eid)[-1].done_at is None


def test_overdue_items_show_on_the_home_ward_list_and_the_overview(world, database, as_user):
    pid, eid = _patient(world)
    with database.session() as s:
        service.create_checklist(s, _subject(s, world, "sara"), pid, eid,
                                 utcnow() + timedelta(hours=12))
    # The medicines and the supplies were due 24 hours before: already overdue.
    sara = as_user("sara")
    ward = sara.get("/home-ward")
    assert f"/patients/{pid}/episodes/{eid}/logistics" in ward.text
    overview = sara.get(f"/patients/{pid}")
    assert 'id="overdue-logistics"' in overview.text
    assert "Antibiotika för tre dygn" in overview.text
    with database.session() as s:
        counts = service.overdue_by_episode(
            s, decisions_for(s, _subject(s, world, "sara"), [pid]), {eid: pid})
    assert counts == {eid: 2}


def test_homecoming_call_answers_are_saved(world, database, as_user):
    pid, eid = _patient(world)
    homecoming = datetime(2031, 3, 10, 21, 30, tzinfo=UTC)  # 22:30 Swedish time
    with database.session() as s:
        service.create_checklist(s, _subject(s, world, "sara"), pid, eid, homecoming)
        task = s.scalar(select(Task).where(Task.episode_id == eid))
        task_id, keys = task.id, [q["key"] for q in task.questions]
        # Home after the evening's hour: called an hour after arriving.
        assert task.due_at == homecoming + timedelta(hours=1)
    assert local_date(homecoming).isoformat() == "2031-03-10"
    olle = as_user("olle")
    csrf = world.csrf[id(olle)]
    assert olle.get(f"/patients/{pid}/tasks/{task_id}/call").status_code == 200
    # Marked done with a question unanswered: refused, nothing saved.
    r = olle.post(f"/patients/{pid}/tasks/{task_id}/call",
                  data={"csrf_token": csrf, f"answers.{keys[0]}.answer": "yes", "done": "true"})
    assert r.status_code == 422 and f'id="answers.{keys[1]}.answer-error"' in r.text
    with database.session() as s:
        assert s.get(Task, task_id).answers == {} and s.get(Task, task_id).done_at is None
    form = {"csrf_token": csrf, "done": "true"}
    for k in keys:
        form[f"answers.{k}.answer"] = "yes"
    form[f"answers.{keys[2]}.answer"] = "no"
    form[f"answers.{keys[2]}.note"] = "Rodnad kring PICC, sköterska åker ut"
    r = olle.post(f"/patients/{pid}/tasks/{task_id}/call", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text[:3000]
    with database.session() as s:
        task = s.get(Task, task_id)
        assert task.done_at is not None and task.done_by_id == world.staff["olle"]
        assert task.answers[keys[2]] == {"answer": "no",
                                         "note": "Rodnad kring PICC, sköterska åker ut"}
    # The API refuses an unknown question and a bad answer, naming the field.
    sara = as_user("sara")
    r = sara.post(f"/api/v1/patients/{pid}/tasks/{task_id}/answers",
                  json={"answers": {keys[0]: {"answer": "maybe"}}})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == f"answers.{keys[0]}.answer"


def test_homecoming_call_through_the_api_and_the_kommun_may_not_make_it(world, database,
                                                                         as_user):
    pid, eid = _patient(world)
    with database.session() as s:
        service.create_checklist(s, _subject(s, world, "sara"), pid, eid,
                                 datetime(2031, 3, 10, 9, tzinfo=UTC))
        task_id = s.scalar(select(Task.id).where(Task.episode_id == eid))
    sara = as_user("sara")
    r = sara.post(f"/api/v1/patients/{pid}/tasks/{task_id}/answers",
                  json={"answers": {"nonsense": {"answer": "yes"}}})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "answers.nonsense"
    r = sara.post(f"/api/v1/patients/{pid}/tasks/{task_id}/answers",
                  json={"answers": {"arrived_well": {"answer": "yes"}}})
    assert r.status_code == 200 and r.json()["answers"] == {"arrived_well": {"answer": "yes"}}
    assert r.json()["done_at"] is None
    kim = as_user("kim")
    r = kim.post(f"/api/v1/patients/{pid}/tasks/{task_id}/answers",
                 json={"answers": {"arrived_well": {"answer": "no"}}})
    assert r.status_code == 403
    with database.session() as s, pytest.raises(Forbidden):
        service.answer_call(s, _subject(s, world, "kim"), pid, task_id, HomecomingAnswers())
    got = sara.get(f"/api/v1/patients/{pid}/episodes/{eid}/logistics").json()
    assert got["homecoming_call"]["answers"] == {"arrived_well": {"answer": "yes"}}
    assert got["homecoming_call"]["due_at"].startswith("2031-03-10T18:00")


def test_emergency_access_reads_and_changes_nothing(world, database, as_user):
    pid, eid = _patient(world)
    with database.session() as s:
        service.create_checklist(s, _subject(s, world, "sara"), pid, eid,
                                 utcnow() + timedelta(days=1))
    world.emergency(pid, "hugo")
    hugo = as_user("hugo")
    page = hugo.get(f"/patients/{pid}/episodes/{eid}/logistics")
    assert page.status_code == 200 and "/done" not in page.text
    item = _items(database, eid)[0]
    assert hugo.post(f"/api/v1/patients/{pid}/checklist/{item.id}/done",
                     json={}).status_code == 404
