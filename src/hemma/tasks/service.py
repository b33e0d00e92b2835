"""Named actions on tasks: give one to a unit of the care team (or a person in it), mark it
done (who and when), open it again with a reason; and the worker's sweep that tells the
owner's unit, once, that a task is overdue.

Whose is a task? It is documented by the unit that wrote it (its origin for the access
rules: another organisation reads it with the patient's consent), and addressed to its owner:
the owner's unit sees a task given to it, as a unit sees a care request sent to it, whether
or not the patient consented to sharing the rest. The owner's unit and the writing
organisation may mark it done and open it again; nobody else changes it.

Tasks also come from elsewhere: a one-off activity of the shared plan, the homecoming call
(answered through its questions, not ticked here), and the round's decisions."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from hemma.access import audit
from hemma.access.policy import Action, Decision, Subject
from hemma.access.service import (
    accessible_patients,
    decisions_for,
    log_listed,
    origin,
    relation_active,
    require,
)
from hemma.coordination import live
from hemma.db import insert_ignoring_conflict
from hemma.jobs import outbox
from hemma.kit.errors import Conflict, Forbidden, Invalid, NotFound
from hemma.kit.time import utcnow
from hemma.models import (
    ACTIVE_STATES,
    CareRelation,
    DutyShift,
    Episode,
    Notification,
    Organisation,
    OutboxMessage,
    Patient,
    Profession,
    Staff,
    Task,
    TaskEvent,
    Unit,
)
from hemma.tasks.schemas import TaskCreate

OVERDUE_TOPIC = "task.overdue"
HOMECOMING_CALL = "homecoming_call"  # answered through its questions (hemma.logistics)
# A due time this far in the past is a typing mistake, not a task.
PAST_GRACE = timedelta(minutes=10)


def team_units(db: Session, patient_id: uuid.UUID, now: datetime | None = None) -> list[Unit]:
    """The units of the care team right now, in every organisation: who can own a task."""
    return list(db.scalars(
        select(Unit).join(CareRelation, CareRelation.unit_id == Unit.id)
        .where(CareRelation.patient_id == patient_id, relation_active(now or utcnow()),
               Unit.active.is_(True)).distinct().order_by(Unit.name)))


def team_people(db: Session, units: list[Unit]) -> list[tuple[Staff, Unit]]:
    """The active people of these units, who can be a task's owner by name."""
    by_id = {u.id: u for u in units}
    return [(s, by_id[s.unit_id]) for s in db.scalars(
        select(Staff).where(Staff.unit_id.in_(list(by_id)), Staff.active.is_(True),
                            Staff.profession != Profession.SYSTEM)
        .order_by(Staff.family_name, Staff.given_name))] if units else []


def _event(db: Session, task: Task, kind: str, at: datetime, staff_id: int | None,
           reason: str | None = None) -> None:
    db.add(TaskEvent(task_id=task.id, kind=kind, at=at, staff_id=staff_id, reason=reason))


def _current_episode(db: Session, patient_id: uuid.UUID) -> Episode | None:
    return db.scalar(select(Episode).where(Episode.patient_id == patient_id,
                                           Episode.state.in_(ACTIVE_STATES))
                     .order_by(Episode.assessed_at.desc()).limit(1))


def add_task(db: Session, subject: Subject, patient_id: uuid.UUID, data: TaskCreate, *,
             kind: str = "manual", round_note_id: uuid.UUID | None = None,
             episode_id: uuid.UUID | None = None) -> Task:
    """Give a task to a unit of the care team, or to a person in it."""
    require(db, subject, Action.COORDINATE, patient_id)
    now = utcnow()
    units = {u.id: u for u in team_units(db, patient_id, now)}
    if data.unit_id not in units:
        raise Invalid("Choose a unit of the patient's care team", field="unit_id")
    if data.staff_id is not None:
        person = db.get(Staff, data.staff_id)
        if person is None or not person.active or person.unit_id != data.unit_id:
            raise Invalid("Choose a person of that unit", field="staff_id")
    if data.due_at < now - PAST_GRACE:
        raise Invalid("The due time has passed", field="due_at")
    if episode_id is None:
        episode = _current_episode(db, patient_id)
        episode_id = episode.id if episode else None
    task = Task(patient_id=patient_id, episode_id=episode_id, kind=kind, title=data.title,
                description=data.description, unit_id=data.unit_id, staff_id=data.staff_id,
                due_at=data.due_at, priority=data.priority, round_note_id=round_note_id,
                questions=[], answers={}, documented_by_unit_id=subject.unit_id,
                created_at=now, created_by_id=subject.staff_id)
    db.add(task)
    db.flush()
    _event(db, task, "created", now, subject.staff_id)
    audit.record(db, patient_id, "task.create")
    live.announce(db)
    return task


def sees(db: Session, decision: Decision, task: Task) -> bool:
    """May the reader see this task: its writer's information (with consent across
    organisations), or a task addressed to the reader's unit or to the reader."""
    if not decision:
        return False
    subject = decision.subject
    return (decision.sees(origin(db, task.documented_by_unit_id))
            or task.unit_id == subject.unit_id or task.staff_id == subject.staff_id)


def may_change(db: Session, decision: Decision, task: Task) -> bool:
    """The owner's unit, and the organisation that wrote the task, mark it done or open it
    again (emergency access reads; it changes nothing)."""
    subject = decision.subject
    if not decision or decision.basis == "emergency" or not subject.role_allows(
            Action.COORDINATE):
        return False
    return (task.unit_id == subject.unit_id or task.staff_id == subject.staff_id
            or decision.may_change(origin(db, task.documented_by_unit_id)))


def _locked(db: Session, subject: Subject, patient_id: uuid.UUID, task_id: uuid.UUID,
            action: str) -> Task:
    task = db.get(Task, task_id, with_for_update=True)
    if task is None or task.patient_id != patient_id:
        raise NotFound()
    decision = require(db, subject, Action.COORDINATE, patient_id)
    if not sees(db, decision, task):
        audit.record(db, patient_id, action, outcome="denied")
        raise NotFound()
    if not may_change(db, decision, task):
        audit.record(db, patient_id, action, outcome="denied")
        raise Forbidden()
    return task


def complete(db: Session, subject: Subject, patient_id: uuid.UUID, task_id: uuid.UUID) -> Task:
    """Done: who did it and when."""
    task = _locked(db, subject, patient_id, task_id, "task.done")
    if task.kind == HOMECOMING_CALL:
        raise Conflict("The homecoming call is done when its questions are answered",
                       field="done")
    if task.done_at is not None:
        raise Conflict("The task is already done", field="done")
    now = utcnow()
    task.done_at, task.done_by_id = now, subject.staff_id
    _event(db, task, "done", now, subject.staff_id)
    audit.record(db, patient_id, "task.done")
    live.announce(db)
    return task


def undo(db: Session, subject: Subject, patient_id: uuid.UUID, task_id: uuid.UUID,
         reason: str) -> Task:
    """Open a done task again, saying why (marked by mistake, not done after all)."""
    task = _locked(db, subject, patient_id, task_id, "task.undo")
    if task.done_at is None:
        raise Conflict("The task is not done", field="reason")
    now = utcnow()
    task.done_at, task.done_by_id = None, None
    _event(db, task, "undone", now, subject.staff_id, reason)
    audit.record(db, patient_id, "task.undo")
    live.announce(db)
    return task


# --- Overdue: the worker tells the owner's unit, once ----------------------------------------


def _open_overdue(now: datetime):
    return and_(Task.done_at.is_(None), Task.due_at < now, Task.kind != HOMECOMING_CALL)


def escalate_due(db: Session, now: datetime) -> int:
    """Every open task past its due time that nobody was told about: mark it escalated (a
    conditional update, so two workers never both do) and queue the message to its unit.
    A task of an episode that has ended is not escalated: nobody is at home to do it for."""
    candidates = list(db.scalars(
        select(Task.id).outerjoin(Episode, Episode.id == Task.episode_id)
        .where(_open_overdue(now), Task.escalated_at.is_(None),
               or_(Task.episode_id.is_(None), Episode.state.in_(ACTIVE_STATES)))
        .order_by(Task.due_at).limit(200)))
    count = 0
    for task_id in candidates:
        taken = db.execute(update(Task).where(Task.id == task_id, Task.escalated_at.is_(None),
                                              Task.done_at.is_(None))
                           .values(escalated_at=now)).rowcount
        if taken:
            task = db.get(Task, task_id)
            _event(db, task, "escalated", now, None)
            outbox.enqueue(db, OVERDUE_TOPIC, {"task_id": str(task_id)})
            count += 1
    return count


def overdue_recipients(db: Session, task: Task, now: datetime) -> list[int]:
    """The owner, if a person; and the owner's unit: its nurses on duty, else its nurses and
    coordinators, else everyone of it (a municipal unit may have no nurse)."""
    people = {task.staff_id} if task.staff_id else set()
    on_duty = set(db.scalars(
        select(DutyShift.staff_id).join(Staff, Staff.id == DutyShift.staff_id)
        .where(DutyShift.unit_id == task.unit_id, DutyShift.starts_at <= now,
               DutyShift.ends_at > now, Staff.active.is_(True))))
    if not on_duty:
        on_duty = set(db.scalars(select(Staff.id).where(
            Staff.unit_id == task.unit_id, Staff.active.is_(True),
            Staff.profession.in_((Profession.NURSE, Profession.COORDINATOR)))))
    if not on_duty:
        on_duty = set(db.scalars(select(Staff.id).where(
            Staff.unit_id == task.unit_id, Staff.active.is_(True),
            Staff.profession != Profession.SYSTEM)))
    return sorted(people | on_duty)


@outbox.handler(OVERDUE_TOPIC)
def _deliver_overdue(db: Session, message: OutboxMessage, now: datetime) -> None:
    task = db.get(Task, uuid.UUID(message.payload["task_id"]))
    if task is None or task.done_at is not None:
        return  # done before delivery: nothing to tell
    people = overdue_recipients(db, task, now)
    insert_ignoring_conflict(db, Notification, [
        {"outbox_id": message.id, "staff_id": staff_id, "alert_id": None,
         "patient_id": task.patient_id, "kind": OVERDUE_TOPIC, "created_at": now}
        for staff_id in people], ["outbox_id", "staff_id"], report=False)
    live.announce(db)


# --- Reading ---------------------------------------------------------------------------------


@dataclass
class TaskView:
    task: Task
    unit_name: str
    organisation_name: str
    staff_name: str | None
    done_by: str | None
    overdue: bool
    may_change: bool
    history: list[tuple[TaskEvent, str | None]] = field(default_factory=list)


def _names(db: Session, ids: set[int]) -> dict[int, str]:
    ids.discard(None)
    return {s.id: s.full_name for s in db.scalars(select(Staff).where(Staff.id.in_(ids)))} \
        if ids else {}


def _views(db: Session, decisions: dict[uuid.UUID, Decision], tasks: list[Task], now: datetime,
           *, history: bool = False) -> list[TaskView]:
    units = {u.id: (u, o) for u, o in db.execute(
        select(Unit, Organisation).join(Organisation, Organisation.id == Unit.organisation_id)
        .where(Unit.id.in_({t.unit_id for t in tasks})))} if tasks else {}
    events: dict[uuid.UUID, list[TaskEvent]] = {}
    if history and tasks:
        for e in db.scalars(select(TaskEvent).where(TaskEvent.task_id.in_([t.id for t in tasks]))
                            .order_by(TaskEvent.at)):
            events.setdefault(e.task_id, []).append(e)
    names = _names(db, {t.staff_id for t in tasks} | {t.done_by_id for t in tasks}
                   | {e.staff_id for es in events.values() for e in es})
    out = []
    for t in tasks:
        unit, org = units[t.unit_id]
        out.append(TaskView(
            t, unit.name, org.name, names.get(t.staff_id), names.get(t.done_by_id),
            t.done_at is None and t.due_at < now,
            may_change(db, decisions[t.patient_id], t) and t.kind != HOMECOMING_CALL,
            [(e, names.get(e.staff_id)) for e in events.get(t.id, [])]))
    return out


def patient_tasks(db: Session, decision: Decision, patient_id: uuid.UUID, *,
                  include_done: bool = True, limit: int = 200) -> tuple[list[TaskView], int]:
    """The patient's tasks the reader may see (open first, by due time), with their
    history; and how many are hidden (another organisation's, without consent)."""
    tasks = list(db.scalars(select(Task).where(Task.patient_id == patient_id)
                            .order_by(Task.done_at.is_not(None), Task.due_at).limit(limit)))
    if not include_done:
        tasks = [t for t in tasks if t.done_at is None]
    shown = [t for t in tasks if sees(db, decision, t)]
    return _views(db, {patient_id: decision}, shown, utcnow(), history=True), \
        len(tasks) - len(shown)


def get_task(db: Session, decision: Decision, patient_id: uuid.UUID,
             task_id: uuid.UUID) -> TaskView:
    task = db.get(Task, task_id)
    if task is None or task.patient_id != patient_id or not sees(db, decision, task):
        raise NotFound()
    return _views(db, {patient_id: decision}, [task], utcnow(), history=True)[0]


def open_tasks(db: Session, subject: Subject, unit_ids: list[int], *, now: datetime | None = None,
               limit: int = 300, log: str | None = "task.list", mine: bool = True
               ) -> list[TaskView]:
    """Open tasks owned by these units (or, with `mine`, by the user), of patients the user
    may read and tasks they may see: the overdue first, then by due time."""
    now = now or utcnow()
    owner = or_(Task.unit_id.in_(unit_ids), Task.staff_id == subject.staff_id) if mine \
        else Task.unit_id.in_(unit_ids)
    tasks = list(db.scalars(
        select(Task).where(Task.done_at.is_(None), Task.kind != HOMECOMING_CALL, owner,
                           Task.patient_id.in_(accessible_patients(subject, now)))
        .order_by(Task.due_at).limit(limit)))
    decisions = decisions_for(db, subject, {t.patient_id for t in tasks})
    shown = [t for t in tasks if sees(db, decisions[t.patient_id], t)]
    if log:
        log_listed(db, {t.patient_id: decisions[t.patient_id] for t in shown}, log)
    return _views(db, decisions, shown, now)


def patients_of(db: Session, ids: set[uuid.UUID]) -> dict[uuid.UUID, Patient]:
    return {p.id: p for p in db.scalars(select(Patient).where(Patient.id.in_(ids)))} \
        if ids else {}
