"""Tasks: given to a unit of the care team in any organisation (or a person in it), done with
who and when, opened again with a reason, overdue ones reported to the owner's unit exactly
once through the outbox; tasks from the round's decision; what another organisation sees."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from hemma.access.service import decisions_for, subject_for
from hemma.jobs.worker import Worker
from hemma.kit.errors import Forbidden, NotFound
from hemma.kit.time import local, utcnow
from hemma.models import AuditEntry, Notification, OutboxMessage, Staff, Task, TaskEvent
from hemma.tasks import service
from hemma.tasks.schemas import TaskCreate


def _subject(s, world, who):
    return subject_for(s, s.get(Staff, world.staff[who]))


def _shared(world, *, consent=True):
    pid = world.patient(unit="med")
    world.episode(pid)
    world.relation(pid, unit="hsv")
    if consent:
        world.consent(pid, "kommun")
        world.consent(pid, "region")
    return pid


def _give(database, world, pid, who="sara", unit="hsv", **kw):
    with database.session() as s:
        data = TaskCreate(title=kw.pop("title", "Ta blodprover"), unit_id=world.units[unit],
                          due_at=kw.pop("due_at", utcnow() + timedelta(hours=2)), **kw)
        return service.add_task(s, _subject(s, world, who), pid, data).id


def _local(dt):
    return local(dt).strftime("%Y-%m-%dT%H:%M")


def test_a_task_for_the_municipality_through_the_page(world, database, as_user):
    pid = _shared(world)
    sara = as_user("sara")
    page = sara.get(f"/patients/{pid}/tasks")
    assert page.status_code == 200 and 'id="task-form"' in page.text
    r = sara.post(f"/patients/{pid}/tasks", data={
        "title": "Byt förband", "description": "PICC-line, <script>alert(1)</script>",
        "unit_id": world.units["hsv"], "due_at": _local(utcnow() + timedelta(hours=3)),
        "priority": "high", "csrf_token": world.csrf[id(sara)]}, follow_redirects=False)
    assert r.status_code == 303, r.text
    kim = as_user("kim")
    page = kim.get(f"/patients/{pid}/tasks")
    assert "Byt förband" in page.text
    assert "<script>alert(1)</script>" not in page.text and "&lt;script&gt;" in page.text
    with database.session() as s:
        task = s.scalar(select(Task).where(Task.patient_id == pid))
        assert task.priority == "high" and task.unit_id == world.units["hsv"]
        assert task.documented_by_unit_id == world.units["med"]
        assert s.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "task.create", AuditEntry.patient_id == pid)) == 1
    # The municipality's nurse does it; the region sees who and when.
    r = kim.post(f"/patients/{pid}/tasks/{task.id}/done",
                 data={"csrf_token": world.csrf[id(kim)]}, follow_redirects=False)
    assert r.status_code == 303
    with database.session() as s:
        task = s.get(Task, task.id)
        assert task.done_by_id == world.staff["kim"] and task.done_at is not None
    # Undone needs a reason; without one, nothing changes.
    r = kim.post(f"/patients/{pid}/tasks/{task.id}/undo",
                 data={"csrf_token": world.csrf[id(kim)]}, follow_redirects=False)
    assert r.status_code == 422
    with database.session() as s:
        assert s.get(Task, task.id).done_at is not None
    r = kim.post(f"/patients/{pid}/tasks/{task.id}/undo",
                 data={"reason": "Fel patient", "csrf_token": world.csrf[id(kim)]},
                 follow_redirects=False)
    assert r.status_code == 303
    with database.session() as s:
        assert s.get(Task, task.id).done_at is None
        kinds = [(e.kind, e.reason) for e in s.scalars(
            select(TaskEvent).where(TaskEvent.task_id == task.id).order_by(TaskEvent.at))]
        assert kinds == [("created", None), ("done", None), ("undone", "Fel patient")]


@pytest.mark.parametrize("field, value, message", [
    ("title", "", "title"), ("unit_id", "hc", "unit_id"), ("due_at", "past", "due_at"),
    ("priority", "asap", "priority"), ("staff_id", "kim", "staff_id")])
def test_bad_input_names_the_field_and_saves_nothing(world, database, as_user, field, value,
                                                     message):
    pid = _shared(world)
    sara = as_user("sara")
    body = {"title": "Ring", "unit_id": world.units["med"],
            "due_at": (utcnow() + timedelta(hours=1)).isoformat(), "priority": "normal"}
    if value == "hc":
        body[field] = world.units["hc"]  # not in the care team
    elif value == "past":
        body[field] = (utcnow() - timedelta(hours=3)).isoformat()
    elif value == "kim":
        body[field] = world.staff["kim"]  # not of the chosen unit
    else:
        body[field] = value
    r = sara.post(f"/api/v1/patients/{pid}/tasks", json=body)
    assert r.status_code == 422, r.text
    assert any(e["field"] == message for e in r.json()["errors"]), r.json()
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(Task)) == 0


def test_another_organisation_sees_a_task_only_with_consent_or_when_it_is_theirs(world, database):
    pid = _shared(world, consent=False)
    to_kommun = _give(database, world, pid, unit="hsv", title="Till kommunen")
    own = _give(database, world, pid, unit="med", title="Regionens egen")
    with database.session() as s:
        kim = _subject(s, world, "kim")
        decision = decisions_for(s, kim, [pid])[pid]
        views, hidden = service.patient_tasks(s, decision, pid)
        assert [v.task.id for v in views] == [to_kommun] and hidden == 1
        with pytest.raises(NotFound):
            service.get_task(s, decision, pid, own)
        with pytest.raises(NotFound):
            service.complete(s, kim, pid, own)
    world.consent(pid, "kommun")
    with database.session() as s:
        kim = _subject(s, world, "kim")
        decision = decisions_for(s, kim, [pid])[pid]
        views, hidden = service.patient_tasks(s, decision, pid)
        assert {v.task.id for v in views} == {to_kommun, own} and hidden == 0
        # Seen, but the region's own task is the region's to tick.
        with pytest.raises(Forbidden):
            service.complete(s, kim, pid, own)


def test_a_unit_outside_the_care_team_gets_nothing(world, database, as_user):
    pid = _shared(world)
    task = _give(database, world, pid)
    hugo = as_user("hugo")  # primary care, not in the team
    assert hugo.get(f"/patients/{pid}/tasks").status_code == 404
    assert hugo.post(f"/api/v1/patients/{pid}/tasks/{task}/done").status_code == 404
    other = world.patient(unit="hsv")
    kim = as_user("kim")
    # Another patient's task id under a patient Kim may read: not found.
    assert kim.post(f"/api/v1/patients/{other}/tasks/{task}/done").status_code == 404


def test_overdue_tasks_escalate_to_the_owners_unit_exactly_once(world, database):
    pid = _shared(world)
    task = _give(database, world, pid, unit="hsv")
    with database.session() as s:
        s.get(Task, task).due_at = utcnow() - timedelta(minutes=5)
    worker = Worker(database)
    first = worker.tick(check_missed=False)
    second = worker.tick(check_missed=False)
    assert first.tasks_escalated == 1 and second.tasks_escalated == 0
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.topic == "task.overdue")) == 1
        told = set(s.scalars(select(Notification.staff_id).where(
            Notification.kind == "task.overdue")))
        assert told and all(s.get(Staff, i).unit_id == world.units["hsv"] for i in told)
        assert s.get(Task, task).escalated_at is not None
    # Done and opened again later: still told only once.
    with database.session() as s:
        service.complete(s, _subject(s, world, "kim"), pid, task)
    with database.session() as s:
        service.undo(s, _subject(s, world, "kim"), pid, task, "Inte klart")
    assert worker.tick(check_missed=False).tasks_escalated == 0
    # A task done in time is never escalated.
    done = _give(database, world, pid, unit="med")
    with database.session() as s:
        service.complete(s, _subject(s, world, "sara"), pid, done)
        s.get(Task, done).due_at = utcnow() - timedelta(minutes=5)
    assert worker.tick(check_missed=False).tasks_escalated == 0


def test_the_round_decision_creates_its_tasks(world, database, as_user):
    pid = _shared(world)
    lisa = as_user("lisa")
    due = _local(utcnow() + timedelta(hours=4))
    r = lisa.post(f"/patients/{pid}/round", data={
        "decision": "continue", "note": "Stabil.", "csrf_token": world.csrf[id(lisa)],
        "tasks.0.title": "Ta prover: CRP", "tasks.0.unit_id": world.units["hsv"],
        "tasks.0.due_at": due, "tasks.0.priority": "high",
        "tasks.1.title": "", "tasks.1.unit_id": world.units["med"]}, follow_redirects=False)
    assert r.status_code == 303, r.text
    with database.session() as s:
        tasks = list(s.scalars(select(Task).where(Task.patient_id == pid)))
        assert [(t.title, t.kind, t.unit_id, t.priority) for t in tasks] == [
            ("Ta prover: CRP", "round", world.units["hsv"], "high")]
        assert tasks[0].round_note_id is not None
    # A bad row names its field, and neither the decision nor any task is saved.
    r = lisa.post(f"/patients/{pid}/round", data={
        "decision": "continue", "note": "Igen.", "csrf_token": world.csrf[id(lisa)],
        "tasks.0.title": "Boka besök", "tasks.0.unit_id": world.units["hc"],
        "tasks.0.due_at": due})
    assert r.status_code == 422 and 'id="tasks.0.unit_id-error"' in r.text
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(Task)) == 1
        from hemma.models import RoundNote
        assert s.scalar(select(func.count()).select_from(RoundNote)) == 1
