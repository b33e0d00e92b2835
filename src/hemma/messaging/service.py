"""Messages about one patient.

Two kinds of thread:
- **With the patient** (and, later, their relatives): one thread per unit of the care team
  the patient writes to — their home ward's (the active episode's responsible unit) unless
  they answer another unit's thread. The unit documents the whole thread (its origin for the
  access rules), so its staff, and the staff of its organisation, read it; another
  organisation only with the patient's consent. Only the unit itself writes in it: a staff
  member writing to the patient writes in their own unit's thread. A patient's message
  counts as answered when a staff member of that unit writes after it; until then it waits,
  with an answer goal in daytime minutes (`deadlines.answer_due`), and one that passes its
  goal is escalated once (`escalate_due`, from the worker) to the unit's staff on duty.
  The patient sees when their message was read and by which unit.
- **Between staff** ("personal emellan"): one per patient, for the whole care team across
  organisations. Each message is documented by its writer's unit; a reader sees another
  organisation's messages only with the patient's consent (counted, not shown, otherwise).

Every state change is a named action here, with its own access check and audit entry;
posting wakes open pages (`coordination.live.announce`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import BinaryIO, Protocol

from sqlalchemy import and_, func, select, update
from sqlalchemy.orm import Session

from hemma.access import audit
from hemma.access.policy import Action, Decision, Origin, Subject
from hemma.access.service import (
    accessible_patients,
    decisions_for,
    log_listed,
    origin,
    relation_active,
    require,
)
from hemma.config import get_settings
from hemma.coordination import live
from hemma.db import any_of, insert_ignoring_conflict
from hemma.jobs import outbox
from hemma.kit.errors import Forbidden, Invalid, NotFound
from hemma.kit.text import N_
from hemma.kit.time import parse_clock, utcnow
from hemma.messaging import deadlines, photos
from hemma.messaging.schemas import MessageCreate, PatientMessageCreate
from hemma.models import (
    AuthorKind,
    CareRelation,
    DutyShift,
    Message,
    MessageThread,
    Notification,
    Organisation,
    OutboxMessage,
    Patient,
    Profession,
    Relative,
    Staff,
    ThreadKind,
    Unit,
)
from hemma.monitoring.service import active_episode
from hemma.notifications.service import notify_new_message

ESCALATED = "message.escalated"
STAFF_KEY = "staff"


def _waiting():
    """SQL: a message of the patient (or a relative) that waits for its unit's answer. Only
    those have an answer goal (`due_at`), so the index on (answered_at, due_at) finds them."""
    return and_(Message.answered_at.is_(None), Message.due_at.is_not(None))


class PatientOnOwnPage(Protocol):
    """The patient on their own page, or a relative they let read and write their messages
    (web.deps.PatientSelf)."""

    patient_id: uuid.UUID
    relative_id: uuid.UUID | None

    @property
    def basis(self) -> str: ...

    def action(self, name: str) -> str: ...


def _key(kind: str, unit_id: int | None) -> str:
    return STAFF_KEY if kind == ThreadKind.STAFF else f"patient:{unit_id}"


def _thread(db: Session, patient_id: uuid.UUID, kind: str, unit_id: int | None,
            now: datetime) -> MessageThread:
    """The patient's thread of this kind (and unit), made on its first message. Two first
    messages at once make one thread."""
    key = _key(kind, unit_id)
    insert_ignoring_conflict(db, MessageThread, [{
        "id": uuid.uuid4(), "patient_id": patient_id, "kind": kind,
        "unit_id": unit_id if kind == ThreadKind.PATIENT else None, "key": key,
        "created_at": now, "last_message_at": now}], ["patient_id", "key"], report=False)
    return db.scalar(select(MessageThread).where(MessageThread.patient_id == patient_id,
                                                 MessageThread.key == key))


def _body(text: str, has_photo: bool) -> str:
    body = (text or "").strip()
    if not body and not has_photo:
        raise Invalid(N_("Write a message"), field="body")
    limit = get_settings().message_max_chars
    if len(body) > limit:
        raise Invalid(N_("The message is too long: at most %(max)s characters"), field="body",
                      max=limit)
    return body


def _photo(upload: BinaryIO | None) -> photos.Photo | None:
    if upload is None:
        return None
    return photos.validate(photos.read_limited(upload, get_settings().message_photo_max_bytes))


def due_at(sent_at: datetime) -> datetime:
    s = get_settings()
    return deadlines.answer_due(sent_at, goal_minutes=s.message_answer_minutes,
                                start=parse_clock(s.message_day_start),
                                end=parse_clock(s.message_day_end), weekends=s.message_weekends)


def _add(db: Session, thread: MessageThread, *, author_kind: str, unit_id: int, body: str,
         photo: photos.Photo | None, now: datetime, staff_id: int | None = None,
         relative_id: uuid.UUID | None = None) -> Message:
    message = Message(thread_id=thread.id, patient_id=thread.patient_id,
                      author_kind=author_kind, author_staff_id=staff_id,
                      relative_id=relative_id, documented_by_unit_id=unit_id, body=body,
                      created_at=now)
    if author_kind != AuthorKind.STAFF and thread.kind == ThreadKind.PATIENT:
        message.due_at = due_at(now)
    if photo is not None:
        # Last: every check is behind us (a rollback removes the file again).
        message.photo_key = photos.store(db, photo)
        message.photo_type, message.photo_bytes = photo.content_type, len(photo.data)
    db.add(message)
    thread.last_message_at = now
    db.flush()
    live.announce(db)
    return message


# --- Staff --------------------------------------------------------------------------------


def send(db: Session, subject: Subject, patient_id: uuid.UUID, data: MessageCreate,
         photo: BinaryIO | None = None) -> Message:
    """A staff member writes, as their unit: to the patient (in the unit's own thread with
    them, which answers what the patient wrote to the unit), or to the care team."""
    require(db, subject, Action.MESSAGE, patient_id, on=origin(db, subject.unit_id),
            audit_action="message.send")
    picture = _photo(photo)
    body = _body(data.body, picture is not None)
    now = utcnow()
    if data.to == ThreadKind.PATIENT:
        thread = _thread(db, patient_id, ThreadKind.PATIENT, subject.unit_id, now)
        db.execute(update(Message).where(
            Message.thread_id == thread.id, Message.author_kind != AuthorKind.STAFF,
            Message.answered_at.is_(None)).values(answered_at=now, answered_by_id=subject.staff_id)
            .execution_options(synchronize_session=False))
        _mark_read(db, subject, thread, now)
    else:
        thread = _thread(db, patient_id, ThreadKind.STAFF, None, now)
    message = _add(db, thread, author_kind=AuthorKind.STAFF, unit_id=subject.unit_id,
                   body=body, photo=picture, now=now, staff_id=subject.staff_id)
    if thread.kind == ThreadKind.PATIENT:
        _notify_patient(db, patient_id=patient_id, from_unit_id=subject.unit_id)
    audit.record(db, patient_id, "message.send", detail=str(thread.kind))
    return message


def _notify_patient(db: Session, *, patient_id: uuid.UUID, from_unit_id: int,
                    relative_id: uuid.UUID | None = None) -> None:
    """Tell the patient there is a new message (a generic text through the outbox, never
    its content), and each relative the patient lets read their messages."""
    notify_new_message(db, patient_id=patient_id, from_unit_id=from_unit_id,
                       relative_id=relative_id)
    if relative_id is None:
        for r in db.scalars(select(Relative).where(Relative.patient_id == patient_id,
                                                   Relative.removed_at.is_(None))):
            if "messages" in (r.shares or ()):
                notify_new_message(db, patient_id=patient_id, from_unit_id=from_unit_id,
                                   relative_id=r.id)


def _mark_read(db: Session, subject: Subject, thread: MessageThread, now: datetime) -> int:
    return db.execute(update(Message).where(
        Message.thread_id == thread.id, Message.author_kind != AuthorKind.STAFF,
        Message.read_at.is_(None)).values(
        read_at=now, read_by_staff_id=subject.staff_id, read_by_unit_id=subject.unit_id)
        .execution_options(synchronize_session=False)).rowcount


def get_thread(db: Session, patient_id: uuid.UUID, thread_id: uuid.UUID) -> MessageThread:
    thread = db.get(MessageThread, thread_id)
    if thread is None or thread.patient_id != patient_id:
        raise NotFound()
    return thread


def mark_read(db: Session, subject: Subject, patient_id: uuid.UUID,
              thread_id: uuid.UUID) -> int:
    """The unit the patient wrote to has read what they wrote ("Läst av … 14:05"). Only
    that unit's staff mark it read; the number of messages newly read."""
    thread = get_thread(db, patient_id, thread_id)
    if thread.kind != ThreadKind.PATIENT:
        raise NotFound()
    require(db, subject, Action.MESSAGE, patient_id, on=origin(db, thread.unit_id),
            audit_action="message.read")
    if thread.unit_id != subject.unit_id:
        raise Forbidden(N_("Only the unit the patient wrote to marks the messages read"))
    count = _mark_read(db, subject, thread, utcnow())
    if count:
        live.announce(db)
    audit.record(db, patient_id, "message.read")
    return count


# --- Reading, as staff ----------------------------------------------------------------------


@dataclass
class MessageView:
    message: Message
    author: str  # the staff member, the patient or the relative
    unit_name: str  # the documenting unit
    organisation_name: str
    read_by_unit: str | None = None

    @property
    def from_outside(self) -> bool:
        return self.message.from_outside


@dataclass
class ThreadView:
    thread: MessageThread
    unit_name: str | None  # a patient thread's unit
    messages: list[MessageView]
    hidden: int = 0  # messages of another organisation not shown (consent, block)
    own: bool = False  # the reader's unit's thread with the patient

    @property
    def unanswered(self) -> list[Message]:
        return [m.message for m in self.messages
                if m.from_outside and m.message.answered_at is None]

    @property
    def unread(self) -> int:
        return sum(1 for m in self.messages if m.from_outside and m.message.read_at is None)


@dataclass
class PatientMessages:
    """A patient's messages as one reader may see them."""

    patient: Patient
    threads: list[ThreadView]  # with the patient, the reader's unit's first
    staff: ThreadView | None  # between staff
    hidden_threads: int  # messages of threads with the patient the reader may not see
    may_write: bool
    own_unit_name: str

    @property
    def own(self) -> ThreadView | None:
        return next((t for t in self.threads if t.own), None)


def _names(db: Session, messages: list[Message]) -> tuple[dict, dict, dict]:
    staff_ids = {m.author_staff_id for m in messages if m.author_staff_id}
    unit_ids = {m.documented_by_unit_id for m in messages} | {
        m.read_by_unit_id for m in messages if m.read_by_unit_id}
    relative_ids = {m.relative_id for m in messages if m.relative_id}
    people = {s.id: s.full_name for s in db.scalars(select(Staff).where(
        Staff.id.in_(staff_ids)))} if staff_ids else {}
    units = {u.id: (u.name, o.name) for u, o in db.execute(
        select(Unit, Organisation).join(Organisation, Organisation.id == Unit.organisation_id)
        .where(Unit.id.in_(unit_ids)))} if unit_ids else {}
    # A relative is named with their relation ("Lena Nordlund (dotter)"): staff must see at
    # once that the patient did not write it.
    relatives = {r.id: f"{r.name} ({r.relation})" for r in db.scalars(select(Relative).where(
        Relative.id.in_(relative_ids)))} if relative_ids else {}
    return people, units, relatives


def _views(db: Session, patient: Patient, messages: list[Message]) -> list[MessageView]:
    people, units, relatives = _names(db, messages)
    out = []
    for m in messages:
        if m.author_kind == AuthorKind.STAFF:
            author = people.get(m.author_staff_id, "")
        elif m.author_kind == AuthorKind.RELATIVE:
            author = relatives.get(m.relative_id, "")
        else:
            author = patient.full_name
        unit, org = units[m.documented_by_unit_id]
        out.append(MessageView(m, author, unit, org, units.get(m.read_by_unit_id, (None,))[0]))
    return out


def patient_messages(db: Session, decision: Decision, patient_id: uuid.UUID) -> PatientMessages:
    """Every thread of the patient, as the reader may see it: a thread with the patient is
    shown whole or not at all (its unit documents it); the staff thread message by message.
    What the reader may not see is counted."""
    subject = decision.subject
    patient = db.get(Patient, patient_id)
    threads = list(db.scalars(select(MessageThread).where(
        MessageThread.patient_id == patient_id).order_by(MessageThread.created_at)))
    messages = list(db.scalars(select(Message).where(Message.patient_id == patient_id)
                               .order_by(Message.created_at, Message.id))) if threads else []
    by_thread: dict[uuid.UUID, list[Message]] = {}
    for m in messages:
        by_thread.setdefault(m.thread_id, []).append(m)
    shown: list[ThreadView] = []
    staff_view, hidden_threads = None, 0
    unit_names = {u.id: u.name for u in db.scalars(select(Unit).where(
        Unit.id.in_({t.unit_id for t in threads if t.unit_id} | {subject.unit_id})))}
    for t in threads:
        rows = by_thread.get(t.id, [])
        if t.kind == ThreadKind.STAFF:
            visible = [m for m in rows if decision.sees(origin(db, m.documented_by_unit_id))]
            staff_view = ThreadView(t, None, _views(db, patient, visible),
                                    hidden=len(rows) - len(visible))
        elif decision.sees(origin(db, t.unit_id)):
            shown.append(ThreadView(t, unit_names.get(t.unit_id), _views(db, patient, rows),
                                    own=t.unit_id == subject.unit_id))
        else:
            hidden_threads += len(rows)
    shown.sort(key=lambda v: (not v.own, -v.thread.last_message_at.timestamp()))
    return PatientMessages(
        patient=patient, threads=shown, staff=staff_view, hidden_threads=hidden_threads,
        may_write=bool(decision) and decision.basis != "emergency"
        and subject.role_allows(Action.MESSAGE),
        own_unit_name=unit_names.get(subject.unit_id, ""))


def thread_messages(db: Session, decision: Decision, patient_id: uuid.UUID,
                    thread_id: uuid.UUID) -> ThreadView:
    """One thread as the reader may see it (404 for a thread with the patient they may not
    see)."""
    thread = get_thread(db, patient_id, thread_id)
    if thread.kind == ThreadKind.PATIENT:
        # The unit's thread with the patient, whole or not at all (a refusal is logged).
        require(db, decision.subject, Action.READ, patient_id, on=origin(db, thread.unit_id),
                audit_action="message.thread")
    found = patient_messages(db, decision, patient_id)
    for view in [*found.threads, found.staff]:
        if view is not None and view.thread.id == thread.id:
            return view
    raise NotFound()


@dataclass
class InboxRow:
    patient_id: uuid.UUID
    patient_name: str
    personnummer: str
    language: str
    interpreter_needed: bool
    thread_id: uuid.UUID
    kind: str
    unit_name: str | None
    own: bool  # a thread with the patient addressed to the reader's unit
    last_at: datetime
    unanswered: int = 0
    waiting_since: datetime | None = None
    due_at: datetime | None = None
    escalated: bool = False

    @property
    def waiting(self) -> bool:
        return self.unanswered > 0


def inbox(db: Session, subject: Subject, now: datetime | None = None,
          limit: int = 200) -> list[InboxRow]:
    """Every thread of the patients the user may read, as they may see it: unanswered
    messages first (the longest waiting first), then the newest."""
    now = now or utcnow()
    readable = MessageThread.patient_id.in_(accessible_patients(subject, now))
    # Every thread with a message waiting for an answer, however old, and the newest others.
    waiting_ids = select(Message.thread_id).where(_waiting())
    threads = list(db.scalars(select(MessageThread).where(
        readable, MessageThread.id.in_(waiting_ids))))
    known = {t.id for t in threads}
    threads += [t for t in db.scalars(select(MessageThread).where(readable)
                                      .order_by(MessageThread.last_message_at.desc())
                                      .limit(limit)) if t.id not in known]
    if not threads:
        return []
    decisions = decisions_for(db, subject, {t.patient_id for t in threads})
    ids = [t.id for t in threads]
    # The newest message of each thread per documenting unit, and what waits for an answer.
    latest: dict[uuid.UUID, list[tuple[int, datetime]]] = {}
    for tid, unit_id, at in db.execute(
            select(Message.thread_id, Message.documented_by_unit_id, func.max(Message.created_at))
            .where(any_of(db, Message.thread_id, ids))
            .group_by(Message.thread_id, Message.documented_by_unit_id)):
        latest.setdefault(tid, []).append((unit_id, at))
    waiting = {tid: (n, since, due, esc) for tid, n, since, due, esc in db.execute(
        select(Message.thread_id, func.count(), func.min(Message.created_at),
               func.min(Message.due_at), func.max(Message.escalated_at))
        .where(any_of(db, Message.thread_id, ids), _waiting())
        .group_by(Message.thread_id))}
    patients = {p.id: p for p in db.scalars(select(Patient).where(
        Patient.id.in_({t.patient_id for t in threads})))}
    units = {u.id: u.name for u in db.scalars(select(Unit).where(
        Unit.id.in_({t.unit_id for t in threads if t.unit_id})))}
    rows, shown = [], {}
    for t in threads:
        decision = decisions.get(t.patient_id)
        if not decision:
            continue
        if t.kind == ThreadKind.PATIENT:
            if not decision.sees(origin(db, t.unit_id)):
                continue
            last = max(at for _, at in latest.get(t.id, [(0, t.last_message_at)]))
        else:
            seen = [at for unit_id, at in latest.get(t.id, [])
                    if decision.sees(origin(db, unit_id))]
            if not seen:
                continue
            last = max(seen)
        p = patients[t.patient_id]
        row = InboxRow(p.id, p.full_name, p.personnummer, p.language, p.interpreter_needed,
                       t.id, t.kind, units.get(t.unit_id), t.unit_id == subject.unit_id, last)
        if t.kind == ThreadKind.PATIENT and t.id in waiting:
            n, since, due, escalated = waiting[t.id]
            row.unanswered, row.waiting_since, row.due_at = n, since, due
            row.escalated = escalated is not None
        rows.append(row)
        shown[p.id] = decision
    log_listed(db, shown, "message.inbox")
    rows.sort(key=lambda r: -r.last_at.timestamp())
    rows.sort(key=lambda r: (not r.waiting, r.waiting_since or r.last_at) if r.waiting
              else (True, now))
    return rows


@dataclass
class Unanswered:
    """A thread with the patient in which the patient's messages wait for the unit's
    answer: for the coordination board."""

    patient_id: uuid.UUID
    patient_name: str
    unit_id: int
    unit_name: str
    thread_id: uuid.UUID
    count: int
    since: datetime  # the oldest unanswered message
    due_at: datetime | None
    escalated: bool
    now: datetime = field(repr=False, default=None)

    @property
    def age(self) -> timedelta:
        return self.now - self.since

    @property
    def overdue(self) -> bool:
        return self.due_at is not None and self.now > self.due_at


def unanswered(db: Session, subject: Subject, unit_ids, now: datetime | None = None, *,
               log: bool = True) -> list[Unanswered]:
    """The threads with unanswered messages from patients addressed to `unit_ids`, of the
    patients `subject` may read and whose thread they may see (consent, blocks): the oldest
    first. Logs the patients it returns (a board shows them)."""
    now = now or utcnow()
    unit_ids = list(unit_ids)
    if not unit_ids or not subject.role_allows(Action.READ):
        return []
    rows = db.execute(
        select(MessageThread.id, MessageThread.patient_id, MessageThread.unit_id, func.count(),
               func.min(Message.created_at), func.min(Message.due_at),
               func.max(Message.escalated_at))
        .join(Message, Message.thread_id == MessageThread.id)
        .where(MessageThread.kind == ThreadKind.PATIENT,
               any_of(db, MessageThread.unit_id, unit_ids),
               MessageThread.patient_id.in_(accessible_patients(subject, now)), _waiting())
        .group_by(MessageThread.id, MessageThread.patient_id, MessageThread.unit_id)).all()
    if not rows:
        return []
    decisions = decisions_for(db, subject, {r[1] for r in rows})
    names = {p.id: p.full_name for p in db.scalars(select(Patient).where(
        Patient.id.in_({r[1] for r in rows})))}
    units = {u.id: u.name for u in db.scalars(select(Unit).where(Unit.id.in_(unit_ids)))}
    out, shown = [], {}
    for tid, pid, unit_id, n, since, due, escalated in rows:
        decision = decisions.get(pid)
        if not decision or not decision.sees(origin(db, unit_id)):
            continue
        out.append(Unanswered(pid, names[pid], unit_id, units.get(unit_id, ""), tid, n, since,
                              due, escalated is not None, now))
        shown[pid] = decision
    if log:
        log_listed(db, shown, "message.unanswered")
    out.sort(key=lambda u: u.since)
    return out


def unanswered_count(db: Session, unit_id: int) -> int:
    """How many patients' messages wait for the unit's answer (the menu's count: a number,
    no patient)."""
    return db.scalar(select(func.count()).select_from(Message).where(
        _waiting(), Message.documented_by_unit_id == unit_id)) or 0


def photo_for_staff(db: Session, decision: Decision, patient_id: uuid.UUID,
                    message_id: uuid.UUID) -> Message:
    """A message's photo, if the reader may see the message."""
    message = db.get(Message, message_id)
    if message is None or message.patient_id != patient_id or message.photo_key is None:
        raise NotFound()
    require(db, decision.subject, Action.READ, patient_id,
            on=origin(db, message.documented_by_unit_id), audit_action="message.photo")
    return message


# --- The patient's side ---------------------------------------------------------------------


@dataclass
class PatientThread:
    thread: MessageThread
    unit_name: str
    messages: list[MessageView]


def _writable_units(db: Session, patient_id: uuid.UUID, now: datetime) -> list[int]:
    """The units the patient may write to: their care team's units (an active care
    relationship) that are their home ward's or have written to them."""
    related = set(db.scalars(select(CareRelation.unit_id).where(
        CareRelation.patient_id == patient_id, CareRelation.unit_id.is_not(None),
        relation_active(now))))
    episode = active_episode(db, patient_id)
    order = [episode.responsible_unit_id] if episode is not None else []
    order += [t.unit_id for t in db.scalars(select(MessageThread).where(
        MessageThread.patient_id == patient_id, MessageThread.kind == ThreadKind.PATIENT)
        .order_by(MessageThread.last_message_at.desc()))]
    return [u for u in dict.fromkeys(order) if u in related]


@dataclass
class PatientPage:
    threads: list[PatientThread]
    units: list[tuple[int, str]]  # where a new message can go, the home ward first
    patient_name: str = ""  # the given name, for a relative's page


def patient_page(db: Session, me: PatientOnOwnPage) -> PatientPage:
    """The patient's threads with their care team (never the staff's own thread)."""
    patient = db.get(Patient, me.patient_id)
    threads = list(db.scalars(select(MessageThread).where(
        MessageThread.patient_id == me.patient_id, MessageThread.kind == ThreadKind.PATIENT)
        .order_by(MessageThread.last_message_at.desc())))
    messages = list(db.scalars(select(Message).where(
        any_of(db, Message.thread_id, [t.id for t in threads]))
        .order_by(Message.created_at, Message.id))) if threads else []
    writable = _writable_units(db, me.patient_id, utcnow())
    units = {u.id: u.name for u in db.scalars(select(Unit).where(
        Unit.id.in_({t.unit_id for t in threads} | set(writable))))}
    views = _views(db, patient, messages)
    out = [PatientThread(t, units.get(t.unit_id, ""),
                         [v for v in views if v.message.thread_id == t.id]) for t in threads]
    return PatientPage(out, [(u, units[u]) for u in writable], patient.given_name)


def patient_seen(db: Session, me: PatientOnOwnPage) -> int:
    """The patient opened their messages: the team's answers are read. A relative reading
    them is logged, but the answers stay unread for the patient."""
    if me.relative_id is not None:
        audit.record(db, me.patient_id, "relative.messages", basis="relative",
                     detail=f"relative {me.relative_id}")
        return 0
    now = utcnow()
    count = db.execute(update(Message).where(
        Message.patient_id == me.patient_id, Message.author_kind == AuthorKind.STAFF,
        Message.seen_at.is_(None), Message.thread_id.in_(select(MessageThread.id).where(
            MessageThread.patient_id == me.patient_id,
            MessageThread.kind == ThreadKind.PATIENT))).values(seen_at=now)
        .execution_options(synchronize_session=False)).rowcount
    audit.record(db, me.patient_id, "patient.messages", basis="self")
    return count


def patient_unread(db: Session, patient_id: uuid.UUID) -> int:
    """The team's messages the patient has not opened yet (the count on /p)."""
    return db.scalar(select(func.count()).select_from(Message)
                     .join(MessageThread, MessageThread.id == Message.thread_id)
                     .where(Message.patient_id == patient_id,
                            MessageThread.kind == ThreadKind.PATIENT,
                            Message.author_kind == AuthorKind.STAFF,
                            Message.seen_at.is_(None))) or 0


def patient_send(db: Session, me: PatientOnOwnPage, data: PatientMessageCreate,
                 photo: BinaryIO | None = None) -> Message:
    """The patient writes to a unit of their care team (their session is the access: they
    only ever write about themselves); or a relative the patient lets write, in their own
    name."""
    now = utcnow()
    units = _writable_units(db, me.patient_id, now)
    unit_id = data.unit_id if data.unit_id is not None else (units[0] if units else None)
    if unit_id is None:
        raise Invalid(N_("There is no care team to write to here. Call your care team."),
                      field="unit_id")
    if unit_id not in units:
        raise Invalid(N_("Choose whom to write to"), field="unit_id")
    picture = _photo(photo)
    body = _body(data.body, picture is not None)
    thread = _thread(db, me.patient_id, ThreadKind.PATIENT, unit_id, now)
    relative = me.relative_id is not None
    message = _add(db, thread, author_kind=AuthorKind.RELATIVE if relative else AuthorKind.PATIENT,
                   unit_id=unit_id, body=body, photo=picture, now=now,
                   relative_id=me.relative_id)
    audit.record(db, me.patient_id, me.action("message"), basis=me.basis,
                 detail=f"relative {me.relative_id}" if relative else None)
    return message


def photo_for_patient(db: Session, me: PatientOnOwnPage, message_id: uuid.UUID) -> Message:
    """A photo of the patient's own threads with their care team."""
    row = db.execute(select(Message, MessageThread.kind)
                     .join(MessageThread, MessageThread.id == Message.thread_id)
                     .where(Message.id == message_id)).first()
    if row is None:
        raise NotFound()
    message, kind = row
    if message.patient_id != me.patient_id or kind != ThreadKind.PATIENT \
            or message.photo_key is None:
        raise NotFound()
    audit.record(db, me.patient_id, me.action("message_photo"), basis=me.basis,
                 detail=f"relative {me.relative_id}" if me.relative_id else None)
    return message


# --- Escalation -----------------------------------------------------------------------------


def escalate_due(db: Session, now: datetime) -> int:
    """Every thread whose patient's messages passed their answer goal unanswered: those
    messages are marked escalated (a conditional update: once, whatever the number of
    workers) and one event per thread goes to the unit's staff on duty."""
    due = list(db.scalars(select(Message.thread_id).where(
        Message.answered_at.is_(None), Message.escalated_at.is_(None),
        Message.due_at <= now).distinct()))
    count = 0
    for thread_id in due:
        result = db.execute(update(Message).where(
            Message.thread_id == thread_id, Message.answered_at.is_(None),
            Message.escalated_at.is_(None), Message.due_at <= now)
            .values(escalated_at=now).execution_options(synchronize_session=False))
        if result.rowcount:
            outbox.enqueue(db, ESCALATED, {"thread_id": str(thread_id),
                                           "messages": result.rowcount})
            count += 1
    return count


def recipients(db: Session, unit_id: int, now: datetime) -> list[int]:
    """The unit's nurses on duty; with nobody rostered, its nurses; with none, everyone of
    the unit who may answer. Someone always gets it."""
    on_duty = list(db.scalars(
        select(DutyShift.staff_id).join(Staff, Staff.id == DutyShift.staff_id)
        .where(DutyShift.unit_id == unit_id, DutyShift.role == "nurse",
               DutyShift.starts_at <= now, DutyShift.ends_at > now, Staff.active.is_(True))))
    if on_duty:
        return sorted(set(on_duty))
    staff = list(db.scalars(select(Staff).where(Staff.unit_id == unit_id,
                                                 Staff.active.is_(True))))
    nurses = [s.id for s in staff if s.profession == Profession.NURSE]
    if nurses:
        return sorted(nurses)
    return sorted(s.id for s in staff if s.profession in (
        Profession.PHYSICIAN, Profession.COORDINATOR, Profession.ASSISTANT_NURSE))


@outbox.handler(ESCALATED)
def _deliver_escalation(db: Session, message: OutboxMessage, now: datetime) -> None:
    thread = db.get(MessageThread, uuid.UUID(message.payload["thread_id"]))
    if thread is None or thread.unit_id is None:
        return
    if not db.scalar(select(func.count()).select_from(Message).where(
            Message.thread_id == thread.id, _waiting())):
        return  # answered before delivery: nothing to tell anyone
    insert_ignoring_conflict(db, Notification, [
        {"outbox_id": message.id, "staff_id": staff_id, "alert_id": None,
         "patient_id": thread.patient_id, "kind": ESCALATED, "created_at": now}
        for staff_id in recipients(db, thread.unit_id, now)], ["outbox_id", "staff_id"],
        report=False)
    live.announce(db)


def origin_of(db: Session, message: Message) -> Origin:
    return origin(db, message.documented_by_unit_id)
