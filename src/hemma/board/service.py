"""The coordination board (samordning i realtid): one picture for everyone on duty of a home
ward, a unit or an organisation — today's patients with their state and latest NEWS2, open
alerts and their age, today's visits (done, late, next), open and overdue tasks, overdue
logistics, arrivals home and planned discharges, unread hand-overs, unanswered patient
messages, and who is on duty in each organisation with their phone numbers.

Every row goes through the same access rules as the rest of Hemma: the board lists patients
the user may read, and shows what another organisation documented only with consent (an
episode the user may not see is a name and "not shown", nothing more). The board is read
often (every open board looks again when anything changes): it reads with a fixed number of
queries, plus one per patient some of whose information is hidden from the user."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from hemma.access.policy import Action, Decision, Subject
from hemma.access.service import (
    accessible_patients,
    decisions_for,
    log_listed,
    origin,
    relation_active,
    require,
)
from hemma.episodes.service import HomeWardEntry, ward_entries
from hemma.handovers import service as handovers
from hemma.kit.errors import NotFound
from hemma.kit.time import at_local, local_date, local_today, utcnow
from hemma.messaging import service as messaging
from hemma.models import (
    ACTIVE_STATES,
    Alert,
    CareRelation,
    ChecklistItem,
    DutyShift,
    Episode,
    EpisodeState,
    Organisation,
    Pathway,
    Patient,
    Staff,
    Task,
    Unit,
    Visit,
    VisitStatus,
)
from hemma.monitoring.alerts import UNRESOLVED
from hemma.monitoring.rules import SEVERITIES
from hemma.planning.views import planned_staff
from hemma.tasks import service as tasks


@dataclass(frozen=True)
class Scope:
    """Whose board: one unit's (a home ward's, a home health team's) or a whole
    organisation's. Its `key` is what the page's filter and the address carry."""

    kind: str  # "unit" / "organisation"
    id: int
    name: str

    @property
    def key(self) -> str:
        return f"{'unit' if self.kind == 'unit' else 'org'}:{self.id}"


def scopes(db: Session, subject: Subject) -> list[Scope]:
    """The boards a user can choose: their own unit first, the other units of their
    organisation, the home wards of every organisation (a municipal nurse follows the home
    ward's board for the patients they share), and their whole organisation."""
    own_org = db.get(Organisation, subject.organisation_id)
    out = [Scope("unit", subject.unit_id, db.get(Unit, subject.unit_id).name)]
    for unit, _org in db.execute(select(Unit, Organisation).join(Organisation)
                                 .where(Unit.active.is_(True))
                                 .order_by(Organisation.name, Unit.name)):
        if unit.id != subject.unit_id and (unit.organisation_id == subject.organisation_id
                                           or unit.virtual_beds > 0):
            out.append(Scope("unit", unit.id, unit.name))
    out.append(Scope("organisation", own_org.id, own_org.name))
    return out


def scope_of(db: Session, subject: Subject, key: str | None) -> Scope:
    options = scopes(db, subject)
    if not key:
        return options[0]
    for s in options:
        if s.key == key:
            return s
    raise NotFound()


def _scope_units(db: Session, scope: Scope) -> list[int]:
    if scope.kind == "unit":
        return [scope.id]
    return list(db.scalars(select(Unit.id).where(Unit.organisation_id == scope.id,
                                                 Unit.active.is_(True))))


@dataclass
class AlertRow:
    alert: Alert
    patient: Patient
    age_minutes: int


@dataclass
class VisitRow:
    visit: Visit
    patient: Patient | None  # None: a patient the user may not read (the visit only)
    unit_name: str
    planned_start: datetime | None
    staff_names: list[str]
    late: bool


@dataclass
class LogisticsRow:
    item: ChecklistItem
    patient: Patient


@dataclass
class OnDuty:
    organisation: str
    unit: str
    role: str
    name: str
    phone: str | None
    until: datetime


@dataclass
class Board:
    scope: Scope
    now: datetime
    patients: list[HomeWardEntry] = field(default_factory=list)
    alerts: list[AlertRow] = field(default_factory=list)
    visits: list[VisitRow] = field(default_factory=list)
    tasks: list[tasks.TaskView] = field(default_factory=list)
    logistics: list[LogisticsRow] = field(default_factory=list)
    arrivals: list[HomeWardEntry] = field(default_factory=list)
    discharges: list[tuple[HomeWardEntry, datetime]] = field(default_factory=list)
    handovers: list[handovers.HandoverView] = field(default_factory=list)
    messages: list = field(default_factory=list)
    on_duty: list[OnDuty] = field(default_factory=list)
    patient_names: dict[uuid.UUID, Patient] = field(default_factory=dict)
    decisions: dict[uuid.UUID, Decision] = field(default_factory=dict)

    @property
    def visits_done(self) -> int:
        return sum(1 for v in self.visits if v.visit.status == VisitStatus.DONE)

    @property
    def visits_late(self) -> int:
        return sum(1 for v in self.visits if v.late)

    @property
    def next_visit(self) -> VisitRow | None:
        upcoming = [v for v in self.visits if v.visit.status == VisitStatus.PLANNED
                    and not v.late and v.planned_start and v.planned_start >= self.now]
        return min(upcoming, key=lambda v: v.planned_start, default=None)

    @property
    def overdue_tasks(self) -> int:
        return sum(1 for t in self.tasks if t.overdue)

    def counts(self) -> dict[str, int]:
        return {"patients": len(self.patients), "alerts": len(self.alerts),
                "visits_late": self.visits_late, "tasks_overdue": self.overdue_tasks,
                "handovers": len(self.handovers), "messages": len(self.messages),
                "logistics": len(self.logistics)}


def personal(db: Session, subject: Subject, now: datetime | None = None) -> bool:
    """Does the user see more than anyone of their unit and role would: a patient they care
    for by name whom their unit does not, or an open emergency access? Otherwise every such
    colleague sees the same board, and one look serves them all."""
    from hemma.models import EmergencyAccess

    now = now or utcnow()
    by_unit = select(CareRelation.patient_id).where(
        CareRelation.unit_id == subject.unit_id, relation_active(now))
    return db.scalar(select(CareRelation.id).where(
        CareRelation.staff_id == subject.staff_id, relation_active(now),
        CareRelation.patient_id.not_in(by_unit)).limit(1)) is not None \
        or db.scalar(select(EmergencyAccess.id).where(
            EmergencyAccess.staff_id == subject.staff_id,
            EmergencyAccess.expires_at > now).limit(1)) is not None


def role_signature(subject: Subject) -> tuple[bool, ...]:
    """What of the user's role the board depends on: reading, and confirming hand-overs."""
    return (subject.role_allows(Action.READ), subject.role_allows(Action.COORDINATE))


def board(db: Session, subject: Subject, scope: Scope, *, now: datetime | None = None,
          log: bool = True) -> Board:
    """The board of `scope` as `subject` may see it. What it shows depends only on the
    user's unit, organisation and profession, unless `personal()`: the live stream shares one
    look between such colleagues."""
    require(db, subject, Action.READ)  # role
    now = now or utcnow()
    today = local_today()
    units = _scope_units(db, scope)
    out = Board(scope, now)
    readable = accessible_patients(subject, now)
    in_scope = or_(Episode.responsible_unit_id.in_(units), Episode.patient_id.in_(
        select(CareRelation.patient_id).where(CareRelation.unit_id.in_(units),
                                              relation_active(now))))
    start_of_day = at_local(today, "00:00")
    stmt = (select(Episode, Patient).join(Patient, Patient.id == Episode.patient_id)
            .where(in_scope, Episode.patient_id.in_(readable),
                   or_(Episode.state.in_(ACTIVE_STATES), Episode.ended_at >= start_of_day)))
    entries, decisions = ward_entries(db, subject, stmt)
    out.patients = entries
    visible = {x.patient.id: x for x in entries if x.view.visible}
    out.patient_names = {x.patient.id: x.patient for x in entries}
    _alerts(db, out, decisions, visible, now)
    _visits(db, out, subject, units, today, now)
    out.tasks = tasks.open_tasks(db, subject, units, now=now, log=None, mine=False)
    out.handovers = handovers.unread(db, subject, units, now=now, log=None)
    out.messages = messaging.unanswered(db, subject, units, now, log=False)
    _logistics(db, out, decisions, visible, now)
    _arrivals_and_discharges(db, out, visible, today)
    out.on_duty = on_duty(db, subject, units, {x.patient.id for x in entries}, now)
    for pid in ([t.task.patient_id for t in out.tasks]
                + [h.handover.patient_id for h in out.handovers]
                + [m.patient_id for m in out.messages]):
        out.patient_names.setdefault(pid, None)
    missing = {pid for pid, p in out.patient_names.items() if p is None}
    if missing:
        out.patient_names.update(tasks.patients_of(db, missing))
    # The decision for every patient the board names (those on it only through a task, a
    # hand-over or a message too): what the stream logs each viewer's newly shown under.
    out.decisions = {pid: decisions[pid] for pid in out.patient_names if pid in decisions}
    lacking = [pid for pid in out.patient_names if pid not in decisions]
    if lacking:
        out.decisions.update(decisions_for(db, subject, lacking))
    if log:
        log_shown(db, out)
    return out


def log_shown(db: Session, b: Board) -> None:
    """The patients a board names, logged as shown to the request's user."""
    log_listed(db, b.decisions, "board.view")


def _alerts(db: Session, out: Board, decisions: dict[uuid.UUID, Decision],
            visible: dict[uuid.UUID, HomeWardEntry], now: datetime) -> None:
    if not visible:
        return
    for alert in db.scalars(select(Alert).where(Alert.patient_id.in_(list(visible)),
                                                Alert.status.in_(UNRESOLVED))):
        if decisions[alert.patient_id].sees(origin(db, alert.unit_id)):
            out.alerts.append(AlertRow(alert, visible[alert.patient_id].patient,
                                       int((now - alert.created_at).total_seconds() // 60)))
    out.alerts.sort(key=lambda a: (a.alert.status != "open",
                                   -SEVERITIES.index(a.alert.severity), -a.age_minutes))


def _visits(db: Session, out: Board, subject: Subject, units: list[int], today, now) -> None:
    """Today's visits made by the scope's units, and visits to its patients by others, that
    the user may see. A visit to a patient the user may not read is shown ("a visit", no
    patient) only when it is the user's own unit's: their own day's work."""
    patient_ids = list(out.patient_names)
    rows = list(db.execute(
        select(Visit, Unit.name).join(Unit, Unit.id == Visit.unit_id)
        .where(Visit.day == today, Visit.status != VisitStatus.CANCELLED,
               or_(Visit.unit_id.in_(units), Visit.patient_id.in_(patient_ids)))))
    if not rows:
        return
    decisions = decisions_for(db, subject, {v.patient_id for v, _ in rows})
    shown = []
    for visit, unit_name in rows:
        d = decisions.get(visit.patient_id)
        seen = d is not None and d.allowed and d.sees(origin(db, visit.unit_id))
        if seen or visit.unit_id == subject.unit_id:
            shown.append((visit, unit_name, seen))
    planned = planned_staff(db, [v for v, _, _ in shown])
    patients = out.patient_names
    missing = {v.patient_id for v, _, seen in shown if seen and v.patient_id not in patients}
    if missing:
        patients.update(tasks.patients_of(db, missing))
    for visit, unit_name, seen in shown:
        who = planned.get(visit.id, [])
        late = visit.status == VisitStatus.PLANNED and now > visit.latest
        out.visits.append(VisitRow(
            visit, patients.get(visit.patient_id) if seen else None, unit_name,
            min((at for _, at in who), default=None), [st.full_name for st, _ in who], late))
    out.visits.sort(key=lambda v: v.planned_start or v.visit.earliest)


def _logistics(db: Session, out: Board, decisions, visible, now) -> None:
    episodes = {x.view.episode.id: x.patient for x in visible.values()}
    if not episodes:
        return
    for item in db.scalars(select(ChecklistItem).where(
            ChecklistItem.episode_id.in_(list(episodes)), ChecklistItem.done_at.is_(None),
            ChecklistItem.due_at < now).order_by(ChecklistItem.due_at)):
        if decisions[item.patient_id].sees(origin(db, item.documented_by_unit_id)):
            out.logistics.append(LogisticsRow(item, episodes[item.episode_id]))


def _arrivals_and_discharges(db: Session, out: Board, visible: dict[uuid.UUID, HomeWardEntry],
                             today) -> None:
    """Who comes home today (admitted today, or their homecoming call is today's) and who is
    to be discharged today or tomorrow (the pathway's expected length) or was today: a fixed
    number of queries for any board."""
    if not visible:
        return
    episodes = [x.view.episode for x in visible.values()]
    calls_today = set(db.scalars(select(Task.episode_id).where(
        Task.episode_id.in_([e.id for e in episodes]), Task.kind == tasks.HOMECOMING_CALL,
        Task.due_at >= at_local(today, "00:00"),
        Task.due_at < at_local(today + timedelta(days=1), "00:00"))))
    expected_days = dict(db.execute(select(Pathway.id, Pathway.expected_days).where(
        Pathway.id.in_({e.pathway_id for e in episodes}))).all())
    for x in visible.values():
        e = x.view.episode
        if (e.admitted_at and local_date(e.admitted_at) == today) or (
                e.state == EpisodeState.ASSESSING and e.id in calls_today):
            out.arrivals.append(x)
        days = expected_days.get(e.pathway_id)
        if e.state == EpisodeState.ADMITTED and e.admitted_at and days:
            expected = e.admitted_at + timedelta(days=days)
            if local_date(expected) <= today + timedelta(days=1):
                out.discharges.append((x, expected))
        elif e.state == EpisodeState.DISCHARGED and e.ended_at and \
                local_date(e.ended_at) == today:
            out.discharges.append((x, e.ended_at))


def on_duty(db: Session, subject: Subject, units: list[int], patient_ids: set[uuid.UUID],
            now: datetime) -> list[OnDuty]:
    """Who is on duty now in every organisation of these patients' care teams (and the
    scope's), with the phone number to reach them: their own, else their unit's."""
    team_units = set(units)
    if patient_ids:
        team_units |= set(db.scalars(select(CareRelation.unit_id).where(
            CareRelation.patient_id.in_(list(patient_ids)), relation_active(now),
            CareRelation.unit_id.is_not(None))))
    rows = db.execute(
        select(DutyShift, Staff, Unit, Organisation)
        .join(Staff, Staff.id == DutyShift.staff_id).join(Unit, Unit.id == DutyShift.unit_id)
        .join(Organisation, Organisation.id == Unit.organisation_id)
        .where(DutyShift.unit_id.in_(list(team_units)), DutyShift.starts_at <= now,
               DutyShift.ends_at > now, Staff.active.is_(True))
        .order_by(Organisation.name, Unit.name, DutyShift.role, Staff.family_name))
    return [OnDuty(org.name, unit.name, shift.role, staff.full_name, staff.phone or unit.phone,
                   shift.ends_at) for shift, staff, unit, org in rows]
