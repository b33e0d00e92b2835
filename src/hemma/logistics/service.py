"""Named actions of the road home's logistics: the checklist of what must be in the home
before the patient (supplies, medicines and pumps, aids, devices, the key), and the
homecoming call (hemkomstsamtal) on the first evening.

A checklist item is documented by the unit that made the checklist (the home ward): that is
its origin for reading, so another organisation sees it with the patient's consent. Who
provides an item is another matter: the municipality's home health nurse ticks the key box
the municipality provides, the region ticks its own; the responsible unit's organisation may
tick any item, since it answers for the patient being safe at home."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hemma.access import audit
from hemma.access.policy import Action, Decision, Origin, Subject
from hemma.access.service import origin, relation_active, require
from hemma.kit.errors import Conflict, Invalid, NotFound
from hemma.kit.time import at_local, local_date, utcnow
from hemma.logistics.schemas import ChecklistDone, ChecklistItemCreate, HomecomingAnswers
from hemma.models import (
    ACTIVE_STATES,
    CareRelation,
    ChecklistItem,
    Episode,
    Organisation,
    Pathway,
    Staff,
    Task,
    Unit,
)
from hemma.patients.service import episode_of

HOMECOMING_CALL = "homecoming_call"
# The call is made on the first evening, when the patient has had a few hours at home to find
# what is missing, and before the night when nobody would notice.
CALL_CLOCK = "19:00"
# A patient who comes home after the evening call's hour is called an hour after arriving.
LATE_ARRIVAL_CALL_AFTER = timedelta(hours=1)



def _refuse(db: Session, patient_id: uuid.UUID, action: str) -> NotFound:
    """Information the user may not see does not exist for them, and the attempt is logged."""
    audit.record(db, patient_id, action, outcome="denied")
    return NotFound()


def _require_visible(db: Session, decision: Decision, patient_id: uuid.UUID, unit_id: int,
                     action: str) -> None:
    if not decision.sees(origin(db, unit_id)):
        raise _refuse(db, patient_id, action)


# --- The checklist ---------------------------------------------------------------------------


def _kommun_provider(db: Session, patient_id: uuid.UUID, unit_kind: str | None,
                     fallback: int) -> int:
    """The municipality's unit that provides an item: the one already in the care team
    (it knows the patient and has the key box), else the first active unit of that kind."""
    kind_ok = Unit.kind == unit_kind if unit_kind else True
    in_team = db.scalar(
        select(Unit.id).join(Organisation, Organisation.id == Unit.organisation_id)
        .join(CareRelation, CareRelation.unit_id == Unit.id)
        .where(CareRelation.patient_id == patient_id, relation_active(utcnow()),
               Organisation.kind == "kommun", Unit.active.is_(True), kind_ok)
        .order_by(Unit.name).limit(1))
    if in_team is not None:
        return in_team
    first = db.scalar(
        select(Unit.id).join(Organisation, Organisation.id == Unit.organisation_id)
        .where(Organisation.kind == "kommun", Unit.active.is_(True), kind_ok)
        .order_by(Unit.name).limit(1))
    # No municipality in the directory at all: the home ward provides it itself rather than
    # leaving the item without anyone to see to it.
    return first if first is not None else fallback


def call_due(homecoming_at: datetime) -> datetime:
    evening = at_local(local_date(homecoming_at), CALL_CLOCK)
    return evening if evening > homecoming_at else homecoming_at + LATE_ARRIVAL_CALL_AFTER


def create_checklist(db: Session, subject: Subject, patient_id: uuid.UUID,
                     episode_id: uuid.UUID, homecoming_at: datetime) -> list[ChecklistItem]:
    """The episode's checklist from its pathway version's template, each item due its hours
    before homecoming, and the homecoming call on the evening of that day."""
    episode = episode_of(db, patient_id, episode_id)
    require(db, subject, Action.EPISODE, patient_id, on=origin(db, episode.responsible_unit_id))
    if episode.state not in ACTIVE_STATES:
        raise Conflict("The episode has ended", field="homecoming_at")
    if homecoming_at.tzinfo is None:
        raise Invalid("Give the time with its UTC offset", field="homecoming_at")
    if db.scalar(select(func.count()).select_from(ChecklistItem)
                 .where(ChecklistItem.episode_id == episode.id)):
        raise Conflict("The episode already has a checklist: add items by hand",
                       field="homecoming_at")
    pathway = db.get(Pathway, episode.pathway_id)
    now = utcnow()
    items = []
    for position, entry in enumerate(pathway.checklist_template or []):
        if entry.get("provider") == "kommun":
            provider = _kommun_provider(db, patient_id, entry.get("unit_kind"),
                                        episode.responsible_unit_id)
        else:
            provider = episode.responsible_unit_id
        items.append(ChecklistItem(
            episode_id=episode.id, patient_id=patient_id, position=position,
            category=entry["category"], what=entry["what"], provider_unit_id=provider,
            due_at=homecoming_at - timedelta(hours=int(entry.get("hours_before") or 0)),
            documented_by_unit_id=subject.unit_id, created_at=now,
            created_by_id=subject.staff_id))
    db.add_all(items)
    questions = list(pathway.homecoming_questions or [])
    has_call = db.scalar(select(Task.id).where(Task.episode_id == episode.id,
                                               Task.kind == HOMECOMING_CALL).limit(1))
    if questions and has_call is None:
        db.add(Task(patient_id=patient_id, episode_id=episode.id, kind=HOMECOMING_CALL,
                    title="Hemkomstsamtal", unit_id=episode.responsible_unit_id,
                    due_at=call_due(homecoming_at), questions=questions, answers={},
                    documented_by_unit_id=subject.unit_id, created_at=now,
                    created_by_id=subject.staff_id))
    db.flush()
    audit.record(db, patient_id, "checklist.create")
    return items


def add_item(db: Session, subject: Subject, patient_id: uuid.UUID, episode_id: uuid.UUID,
             data: ChecklistItemCreate) -> ChecklistItem:
    """An item the template did not foresee (an oxygen concentrator, a commode)."""
    episode = episode_of(db, patient_id, episode_id)
    require(db, subject, Action.EPISODE, patient_id, on=origin(db, episode.responsible_unit_id))
    if episode.state not in ACTIVE_STATES:
        raise Conflict("The episode has ended", field="what")
    unit = db.get(Unit, data.provider_unit_id)
    if unit is None or not unit.active:
        raise Invalid("Unknown unit", field="provider_unit_id")
    last = db.scalar(select(func.max(ChecklistItem.position))
                     .where(ChecklistItem.episode_id == episode.id))
    item = ChecklistItem(
        episode_id=episode.id, patient_id=patient_id, position=(last or 0) + 1,
        category=data.category, what=data.what, provider_unit_id=unit.id,
        deliverer=data.deliverer, due_at=data.due_at, documented_by_unit_id=subject.unit_id,
        created_at=utcnow(), created_by_id=subject.staff_id)
    db.add(item)
    db.flush()
    audit.record(db, patient_id, "checklist.add")
    return item


def get_item(db: Session, decision: Decision, patient_id: uuid.UUID,
             item_id: uuid.UUID) -> ChecklistItem:
    item = db.get(ChecklistItem, item_id)
    if item is None or item.patient_id != patient_id:
        raise NotFound()
    _require_visible(db, decision, patient_id, item.documented_by_unit_id, "checklist.read")
    return item


def _ticker_origin(db: Session, subject: Subject, item: ChecklistItem) -> Origin:
    """Whose record a tick goes in: the providing organisation's when the user is of it,
    else the responsible unit's (which `require` then holds to the user's organisation)."""
    provider = origin(db, item.provider_unit_id)
    if provider.organisation_id == subject.organisation_id:
        return provider
    return origin(db, db.get(Episode, item.episode_id).responsible_unit_id)


def tick_done(db: Session, subject: Subject, patient_id: uuid.UUID, item_id: uuid.UUID,
              data: ChecklistDone) -> ChecklistItem:
    """The item is in the home: who saw to it, and when."""
    item = db.get(ChecklistItem, item_id, with_for_update=True)
    if item is None or item.patient_id != patient_id:
        raise NotFound()
    decision = require(db, subject, Action.VISIT, patient_id,
                       on=_ticker_origin(db, subject, item))
    _require_visible(db, decision, patient_id, item.documented_by_unit_id, "checklist.done")
    if item.done_at is not None:
        raise Conflict("The item is already done", field="done")
    item.done_at = utcnow()
    item.done_by_id = subject.staff_id
    if data.deliverer:
        item.deliverer = data.deliverer
    audit.record(db, patient_id, "checklist.done")
    return item


def remove_item(db: Session, subject: Subject, patient_id: uuid.UUID,
                item_id: uuid.UUID) -> None:
    """An item that is not needed after all: only the organisation that listed it removes it."""
    item = db.get(ChecklistItem, item_id, with_for_update=True)
    if item is None or item.patient_id != patient_id:
        raise NotFound()
    require(db, subject, Action.EPISODE, patient_id, on=origin(db, item.documented_by_unit_id))
    db.delete(item)
    db.flush()
    audit.record(db, patient_id, "checklist.remove")


# --- The homecoming call ---------------------------------------------------------------------


def get_call(db: Session, decision: Decision, patient_id: uuid.UUID, task_id: uuid.UUID) -> Task:
    task = db.get(Task, task_id)
    if task is None or task.patient_id != patient_id or task.kind != HOMECOMING_CALL:
        raise NotFound()
    _require_visible(db, decision, patient_id, task.documented_by_unit_id, "homecoming.read")
    return task


def answer_call(db: Session, subject: Subject, patient_id: uuid.UUID, task_id: uuid.UUID,
                data: HomecomingAnswers) -> Task:
    """Save the answers of the homecoming call; `done` when the call has been made."""
    task = db.get(Task, task_id, with_for_update=True)
    if task is None or task.patient_id != patient_id or task.kind != HOMECOMING_CALL:
        raise NotFound()
    # The call is the responsible unit's: its organisation makes it and keeps its record.
    require(db, subject, Action.VISIT, patient_id, on=origin(db, task.unit_id))
    if task.done_at is not None:
        raise Conflict("The call has already been marked done", field="done")
    keys = [q["key"] for q in task.questions]
    for key in data.answers:
        if key not in keys:
            raise Invalid("Not a question of this call", field=f"answers.{key}")
    answers = {key: a.model_dump(exclude_none=True) for key, a in data.answers.items()
               if a.answer or a.note}
    if data.done:
        for key in keys:
            if key not in answers:
                # A question the patient could not answer gets a note saying so.
                raise Invalid("Answer yes or no, or write a note", field=f"answers.{key}.answer")
    task.answers = answers
    if data.done:
        task.done_at = utcnow()
        task.done_by_id = subject.staff_id
    audit.record(db, patient_id, "homecoming.done" if data.done else "homecoming.answer")
    return task


# --- Reading ---------------------------------------------------------------------------------


@dataclass
class ItemView:
    item: ChecklistItem
    provider_name: str
    provider_organisation: str
    done_by: str | None
    overdue: bool
    may_tick: bool


@dataclass
class Logistics:
    episode: Episode
    items: list[ItemView] = field(default_factory=list)
    hidden_items: int = 0
    call: Task | None = None
    may_change: bool = False  # make the checklist, add and remove items
    may_call: bool = False

    @property
    def overdue(self) -> int:
        return sum(1 for x in self.items if x.overdue)

    @property
    def open(self) -> int:
        return sum(1 for x in self.items if x.item.done_at is None)


def is_overdue(item: ChecklistItem, now: datetime) -> bool:
    return item.done_at is None and item.due_at < now


def _writes(decision: Decision, action: Action) -> bool:
    """Emergency access reads; it changes nothing."""
    return decision.subject.role_allows(action) and decision.basis != "emergency"


def logistics(db: Session, decision: Decision, patient_id: uuid.UUID,
              episode_id: uuid.UUID) -> Logistics:
    """The episode's checklist and homecoming call, as far as the reader may see them."""
    episode = episode_of(db, patient_id, episode_id)
    home = origin(db, episode.responsible_unit_id)
    if not decision.sees(home):
        raise NotFound()
    now = utcnow()
    rows = db.execute(
        select(ChecklistItem, Unit, Organisation)
        .join(Unit, Unit.id == ChecklistItem.provider_unit_id)
        .join(Organisation, Organisation.id == Unit.organisation_id)
        .where(ChecklistItem.episode_id == episode.id)
        .order_by(ChecklistItem.due_at, ChecklistItem.position)).all()
    done_by = {i.done_by_id for i, _, _ in rows if i.done_by_id}
    names = {s.id: s.full_name for s in db.scalars(select(Staff).where(Staff.id.in_(done_by)))
             } if done_by else {}
    out = Logistics(episode=episode)
    active = episode.state in ACTIVE_STATES
    for item, unit, org in rows:
        if not decision.sees(origin(db, item.documented_by_unit_id)):
            out.hidden_items += 1
            continue
        may_tick = active and item.done_at is None and _writes(decision, Action.VISIT) and (
            decision.may_change(origin(db, unit.id)) or decision.may_change(home))
        out.items.append(ItemView(item, unit.name, org.name, names.get(item.done_by_id),
                                  is_overdue(item, now), may_tick))
    call = db.scalar(select(Task).where(Task.episode_id == episode.id,
                                        Task.kind == HOMECOMING_CALL).limit(1))
    if call is not None and decision.sees(origin(db, call.documented_by_unit_id)):
        out.call = call
        out.may_call = active and call.done_at is None and _writes(decision, Action.VISIT) \
            and decision.may_change(origin(db, call.unit_id))
    out.may_change = active and _writes(decision, Action.EPISODE) and decision.may_change(home)
    return out


def overdue_by_episode(db: Session, decisions: dict[uuid.UUID, Decision],
                       episodes: dict[uuid.UUID, uuid.UUID]) -> dict[uuid.UUID, int]:
    """How many checklist items are overdue per episode ({episode_id: patient_id}), counting
    only items the reader may see: one query for any list."""
    if not episodes:
        return {}
    out: dict[uuid.UUID, int] = {}
    for episode_id, unit_id, count in db.execute(
            select(ChecklistItem.episode_id, ChecklistItem.documented_by_unit_id, func.count())
            .where(ChecklistItem.episode_id.in_(list(episodes)),
                   ChecklistItem.done_at.is_(None), ChecklistItem.due_at < utcnow())
            .group_by(ChecklistItem.episode_id, ChecklistItem.documented_by_unit_id)):
        if decisions[episodes[episode_id]].sees(origin(db, unit_id)):
            out[episode_id] = out.get(episode_id, 0) + count
    return out
