"""FHIR reads of the care around the patient, over Hemma's own services and the same access
check as the pages: the episode and its team, the shared plan and goals, care requests and
tasks; and a task's status changed through the tasks' own named actions.

A patient the caller may not read does not exist (404 on read, nothing in a search); within
a patient, what another organisation documented is shown as the pages show it (`sees()`,
with the patient's consent, or addressed to the reader's unit). Every read is logged as
`fhir.read`, every patient a search returns as `fhir.search`. The directory (staff, units,
organisations) holds no patient data: any signed-in user reads it."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from hemma.access import audit
from hemma.access.policy import Action, Decision, Subject
from hemma.access.service import can, origin, require
from hemma.agreements import service as agreements
from hemma.careplans import service as careplans
from hemma.episodes import service as episodes
from hemma.fhir import care
from hemma.i18n import gettext as _
from hemma.i18n import labels
from hemma.kit.errors import NotFound, PreconditionFailed
from hemma.kit.text import N_
from hemma.logistics import service as logistics
from hemma.logistics.schemas import ChecklistDone
from hemma.models import (
    CarePlan,
    CareRelation,
    CareRequest,
    ChecklistItem,
    Episode,
    Organisation,
    RoundNote,
    Staff,
    StaffShift,
    Task,
    Unit,
    Visit,
    VisitAssignment,
    VisitPlan,
)
from hemma.rounds import service as rounds
from hemma.summaries import service as summaries
from hemma.tasks import service as tasks


def _label(table: dict, code: str | None) -> str | None:
    return _(table[code]) if code in table else code


# --- The directory --------------------------------------------------------------------------


def _staff(db: Session, staff_id: int) -> Staff:
    s = db.get(Staff, staff_id)
    if s is None:
        raise NotFound()
    return s


def read_practitioner(db: Session, staff_id: int) -> dict:
    s = _staff(db, staff_id)
    return care.practitioner(s, _label(labels.PROFESSIONS, s.profession))


def read_practitioner_role(db: Session, staff_id: int) -> dict:
    s = _staff(db, staff_id)
    return care.practitioner_role(s, db.get(Unit, s.unit_id),
                                  _label(labels.PROFESSIONS, s.profession))


def search_practitioners(db: Session, *, hsa_id: str | None, ids: list[int] | None,
                         count: int) -> list[Staff]:
    stmt = select(Staff)
    if hsa_id is not None:
        stmt = stmt.where(Staff.hsa_id == hsa_id)
    if ids is not None:
        stmt = stmt.where(Staff.id.in_(ids))
    return list(db.scalars(stmt.order_by(Staff.family_name, Staff.given_name, Staff.id)
                           .limit(count)))


def practitioners(db: Session, rows: list[Staff]) -> list[dict]:
    return [care.practitioner(s, _label(labels.PROFESSIONS, s.profession)) for s in rows]


def practitioner_roles(db: Session, rows: list[Staff]) -> list[dict]:
    units = {u.id: u for u in db.scalars(select(Unit).where(
        Unit.id.in_({s.unit_id for s in rows})))} if rows else {}
    return [care.practitioner_role(s, units[s.unit_id], _label(labels.PROFESSIONS, s.profession))
            for s in rows]


def read_organization(db: Session, resource_id: str) -> dict:
    """`org-<id>` is an organisation, `unit-<id>` one of its units."""
    kind, _sep, number = resource_id.partition("-")
    if not number.isdigit() or len(number) > 9 or kind not in ("org", "unit"):
        raise NotFound()
    if kind == "org":
        org = db.get(Organisation, int(number))
        if org is None:
            raise NotFound()
        return care.organization(org, _label(labels.ORGANISATION_KINDS, org.kind))
    unit = db.get(Unit, int(number))
    if unit is None:
        raise NotFound()
    org = db.get(Organisation, unit.organisation_id)
    return care.unit_organization(unit, org, _label(labels.UNIT_KINDS, unit.kind))


def search_organizations(db: Session, *, hsa_id: str | None, name: str | None,
                         count: int) -> list[dict]:
    """Organisations first, then units, each filtered alike."""
    out: list[dict] = []
    org_stmt, unit_stmt = select(Organisation), select(Unit, Organisation).join(
        Organisation, Organisation.id == Unit.organisation_id)
    if hsa_id is not None:
        org_stmt = org_stmt.where(Organisation.hsa_id == hsa_id)
        unit_stmt = unit_stmt.where(Unit.hsa_id == hsa_id)
    if name:
        pattern = f"%{name.lower()}%"
        org_stmt = org_stmt.where(func.lower(Organisation.name).like(pattern))
        unit_stmt = unit_stmt.where(func.lower(Unit.name).like(pattern))
    for org in db.scalars(org_stmt.order_by(Organisation.name).limit(count)):
        out.append(care.organization(org, _label(labels.ORGANISATION_KINDS, org.kind)))
    for unit, org in db.execute(unit_stmt.order_by(Unit.name).limit(max(0, count - len(out)))):
        out.append(care.unit_organization(unit, org, _label(labels.UNIT_KINDS, unit.kind)))
    return out[:count]


# --- Per patient ----------------------------------------------------------------------------


def _unit_names(db: Session, ids: set[int]) -> dict[int, str]:
    ids.discard(None)
    return dict(db.execute(select(Unit.id, Unit.name).where(Unit.id.in_(ids))).all()) \
        if ids else {}


def _searched(db: Session, subject: Subject, patient_id: uuid.UUID) -> Decision | None:
    """The reader's decision on a patient whose resources are searched (logged), or None:
    the patient does not exist for them and the search finds nothing."""
    decision = can(db, subject, Action.READ, patient_id)
    if not decision:
        return None
    audit.record(db, patient_id, "fhir.search", basis=str(decision.basis),
                 emergency=decision.emergency)
    return decision


def _read(db: Session, subject: Subject, patient_id: uuid.UUID) -> Decision:
    return require(db, subject, Action.READ, patient_id, audit_action="fhir.read")


def _episode_resource(db: Session, view: episodes.EpisodeView) -> dict:
    e = view.episode
    return care.episode_of_care(
        e, unit_name=view.unit_name,
        coordinator=view.coordinator.full_name if view.coordinator else None,
        state=_label(labels.EPISODE_STATES, e.state))


def read_episode(db: Session, subject: Subject, episode_id: uuid.UUID) -> dict:
    e = db.get(Episode, episode_id)
    if e is None:
        raise NotFound()
    decision = _read(db, subject, e.patient_id)
    return _episode_resource(db, episodes.get_episode_view(db, decision, e.patient_id, e.id))


def search_episodes(db: Session, subject: Subject, patient_id: uuid.UUID) -> list[dict]:
    decision = _searched(db, subject, patient_id)
    if decision is None:
        return []
    return [_episode_resource(db, v) for v in episodes.patient_episodes(db, decision, patient_id)
            if v.visible]


def _team(db: Session, decision: Decision, e: Episode) -> dict:
    """The care team of an episode the reader may see."""
    if not decision.sees(origin(db, e.responsible_unit_id)):
        raise NotFound()
    # The episode's own relations, and the patient's others that overlapped it (a unit
    # joined the team before the episode, or without naming it).
    start = e.admitted_at or e.assessed_at
    stmt = select(CareRelation).where(
        CareRelation.patient_id == e.patient_id,
        or_(CareRelation.episode_id == e.id, and_(
            CareRelation.episode_id.is_(None),
            or_(CareRelation.ends_at.is_(None), CareRelation.ends_at >= start))))
    if e.ended_at is not None:
        stmt = stmt.where(CareRelation.starts_at <= e.ended_at)
    relations = list(db.scalars(stmt.order_by(CareRelation.starts_at, CareRelation.id)))
    units = _unit_names(db, {r.unit_id for r in relations} | {e.responsible_unit_id})
    people = dict(db.execute(select(Staff.id, Staff.given_name + " " + Staff.family_name)
                             .where(Staff.id.in_({r.staff_id for r in relations
                                                  if r.staff_id}))).all())
    members = [(r, people.get(r.staff_id) if r.staff_id else units.get(r.unit_id))
               for r in relations]
    return care.care_team(e, members, unit_name=units.get(e.responsible_unit_id, ""))


def read_care_team(db: Session, subject: Subject, episode_id: uuid.UUID) -> dict:
    e = db.get(Episode, episode_id)
    if e is None:
        raise NotFound()
    return _team(db, _read(db, subject, e.patient_id), e)


def search_care_teams(db: Session, subject: Subject, patient_id: uuid.UUID) -> list[dict]:
    decision = _searched(db, subject, patient_id)
    if decision is None:
        return []
    out = []
    for e in db.scalars(select(Episode).where(Episode.patient_id == patient_id)
                        .order_by(Episode.assessed_at.desc())):
        if decision.sees(origin(db, e.responsible_unit_id)):
            out.append(_team(db, decision, e))
    return out


# --- The shared plan ------------------------------------------------------------------------


@dataclass
class PlanFound:
    plan: dict
    goal: dict | None
    references: list[str]  # "ServiceRequest/<id>", "Task/<id>" its activities refer to


def _plan(db: Session, decision: Decision, plan: CarePlan) -> PlanFound:
    episode = db.get(Episode, plan.episode_id)
    view = careplans.plan_view(db, decision, plan.patient_id, episode.id)
    hidden = None
    if view.hidden_activities:
        hidden = _("%(n)s activities of other organisations are not shown without the "
                   "patient's consent", n=view.hidden_activities)
    resource = care.care_plan(
        plan, episode, view.activities, hidden=view.hidden_activities, hidden_note=hidden,
        follow_up_note=care.follow_ups_text(plan.follow_ups, _("Follow-up")),
        title=_("Shared care plan"))
    refs = [a["reference"]["reference"] for a in resource.get("activity", [])
            if "reference" in a]
    return PlanFound(resource, care.goal(plan, episode) if plan.goals else None, refs)


def _row(db: Session, model, row_id):
    row = db.get(model, row_id)
    if row is None:
        raise NotFound()
    return row


def read_care_plan(db: Session, subject: Subject, plan_id: uuid.UUID) -> PlanFound:
    plan = _row(db, CarePlan, plan_id)
    return _plan(db, _read(db, subject, plan.patient_id), plan)


def read_goal(db: Session, subject: Subject, plan_id: uuid.UUID) -> dict:
    found = read_care_plan(db, subject, plan_id)
    if found.goal is None:
        raise NotFound()
    return found.goal


def search_care_plans(db: Session, subject: Subject, patient_id: uuid.UUID) -> list[PlanFound]:
    decision = _searched(db, subject, patient_id)
    if decision is None:
        return []
    out = []
    for plan in db.scalars(select(CarePlan).where(CarePlan.patient_id == patient_id)):
        try:
            out.append(_plan(db, decision, plan))
        except NotFound:
            continue  # another organisation's episode, without consent
    return out


# --- Care requests --------------------------------------------------------------------------


def _sees_request(db: Session, decision: Decision, r: CareRequest) -> bool:
    """The sender's information (with consent across organisations), or a request sent to
    the reader's unit (as the receiving unit sees it on its pages)."""
    return bool(decision) and (decision.sees(origin(db, r.from_unit_id))
                               or r.to_unit_id == decision.subject.unit_id)


def _requests(db: Session, rows: list[CareRequest]) -> list[dict]:
    names = _unit_names(db, {r.from_unit_id for r in rows} | {r.to_unit_id for r in rows})
    return [care.service_request(r, kind=_label(labels.CARE_KINDS, r.kind),
                                 from_name=names.get(r.from_unit_id, ""),
                                 to_name=names.get(r.to_unit_id, "")) for r in rows]


def read_service_request(db: Session, subject: Subject, request_id: uuid.UUID) -> dict:
    r = db.get(CareRequest, request_id)
    if r is None:
        raise NotFound()
    decision = _read(db, subject, r.patient_id)
    if not _sees_request(db, decision, r):
        raise NotFound()
    return _requests(db, [r])[0]


def search_service_requests(db: Session, subject: Subject, patient_id: uuid.UUID,
                            ids: set[uuid.UUID] | None = None) -> list[dict]:
    decision = _searched(db, subject, patient_id)
    if decision is None:
        return []
    stmt = select(CareRequest).where(CareRequest.patient_id == patient_id)
    if ids is not None:
        stmt = stmt.where(CareRequest.id.in_(ids))
    rows = [r for r in db.scalars(stmt.order_by(CareRequest.created_at.desc()))
            if _sees_request(db, decision, r)]
    return _requests(db, rows)


# --- Tasks ----------------------------------------------------------------------------------


def _task_resources(db: Session, views: list[tasks.TaskView]) -> list[dict]:
    out = []
    for v in views:
        changes = [e for e, _name in v.history if e.kind in ("done", "undone")]
        last = max([v.task.created_at] + [e.at for e in changes])
        reopened = next((e.reason for e in reversed(changes) if e.kind == "undone"), None)
        out.append(care.task(v.task, kind=_label(labels.TASK_KINDS, v.task.kind),
                             unit_name=v.unit_name, person=v.staff_name,
                             version=1 + len(changes), last_modified=last,
                             reopened_because=reopened))
    return out


def _logistics_tasks(db: Session, views) -> list[dict]:
    return [care.logistics_task(v.item, category=_label(labels.CHECKLIST_CATEGORIES,
                                                        v.item.category),
                                provider=v.provider_name, title=_("Before the homecoming"))
            for v in views]


def _checklist(db: Session, decision: Decision, patient_id: uuid.UUID) -> list:
    """The checklist items of the patient's episodes the reader may see (the logistics'
    own view: the home ward's record, each item its writer's)."""
    out = []
    for e in db.scalars(select(Episode).where(Episode.patient_id == patient_id)
                        .order_by(Episode.assessed_at)):
        if decision.sees(origin(db, e.responsible_unit_id)):
            out += logistics.logistics(db, decision, patient_id, e.id).items
    return out


def read_task(db: Session, subject: Subject, task_id: uuid.UUID) -> dict:
    """A task, or a checklist item of the road home (both are FHIR Tasks)."""
    t = db.get(Task, task_id)
    if t is None:
        item = _row(db, ChecklistItem, task_id)
        decision = _read(db, subject, item.patient_id)
        found = [v for v in _checklist(db, decision, item.patient_id) if v.item.id == item.id]
        if not found:
            raise NotFound()
        return _logistics_tasks(db, found)[0]
    decision = _read(db, subject, t.patient_id)
    return _task_resources(db, [tasks.get_task(db, decision, t.patient_id, t.id)])[0]


def search_tasks(db: Session, subject: Subject, patient_id: uuid.UUID,
                 ids: set[uuid.UUID] | None = None) -> list[dict]:
    decision = _searched(db, subject, patient_id)
    if decision is None:
        return []
    views, _hidden = tasks.patient_tasks(db, decision, patient_id, limit=1000)
    items = _checklist(db, decision, patient_id)
    if ids is not None:
        views = [v for v in views if v.task.id in ids]
        items = [v for v in items if v.item.id in ids]
    return _task_resources(db, views) + _logistics_tasks(db, items)


# A task's status through FHIR: done, or open again with a reason; nothing else changes.
CHANGES_ONLY_STATUS = N_("Only a task's status is changed through FHIR (completed, or ready "
                         "again with a statusReason)")
OPEN_STATES = {"ready", "requested", "received", "accepted", "in-progress"}


def update_task(db: Session, subject: Subject, task_id: uuid.UUID, body: dict,
                if_match: str | None, refuse: Callable[[str, str], Exception]) -> dict:
    """A PUT of a Task: compared with the task as it stands, only `status` (and, to open it
    again, `statusReason.text`) may differ; the change is the tasks' own named action (done,
    or undone with the reason), which checks who may change it and writes its audit entry.
    With `If-Match`, a version other than the current one is refused (412): the task
    changed since the client read it."""
    current = read_task(db, subject, task_id)
    if if_match is not None and if_match != current["meta"]["versionId"]:
        raise PreconditionFailed(N_("The task has changed since you read it: read it again"))
    if body.get("resourceType") != "Task":
        raise refuse(N_("Hemma takes a Task here"), "Task.resourceType")
    if body.get("id") != current["id"]:
        raise refuse(N_("The id must be the task's own"), "Task.id")
    ignored = {"meta", "text", "status", "statusReason", "lastModified", "executionPeriod"}
    for element in sorted((set(body) | set(current)) - ignored):
        if body.get(element) != current.get(element):
            raise refuse(CHANGES_ONLY_STATUS, f"Task.{element}")
    status = body.get("status")
    if status == current["status"]:
        return current  # nothing to change
    t = db.get(Task, task_id)
    if t is None:  # a checklist item: it is ticked when it is in the home, never unticked
        item = _row(db, ChecklistItem, task_id)
        if status != care.DONE_TASK:
            raise refuse(N_("A thing in the home is not taken back through FHIR"),
                         "Task.status")
        logistics.tick_done(db, subject, item.patient_id, item.id, ChecklistDone())
    elif status == care.DONE_TASK:
        tasks.complete(db, subject, t.patient_id, t.id)
    elif status in OPEN_STATES and current["status"] == care.DONE_TASK:
        reason = (body.get("statusReason") or {}).get("text") if isinstance(
            body.get("statusReason"), dict) else None
        if not isinstance(reason, str) or not reason.strip():
            raise refuse(N_("Say why the task is opened again (statusReason.text)"),
                         "Task.statusReason")
        tasks.undo(db, subject, t.patient_id, t.id, reason.strip()[:500])
    else:
        raise refuse(CHANGES_ONLY_STATUS, "Task.status")
    db.flush()
    db.expire_all()
    return read_task(db, subject, task_id)





# --- Visits and rounds ----------------------------------------------------------------------


def _sees_unit(db: Session, decision: Decision, unit_id: int) -> bool:
    """Information a unit documented: with the patient's consent across organisations, or
    the reader's own unit's."""
    return bool(decision) and (decision.sees(origin(db, unit_id))
                               or unit_id == decision.subject.unit_id)


def _assigned(db: Session, visits: list[Visit]) -> dict[uuid.UUID, list]:
    """Visit → the staff of its day's current plan: (staff id, name, planned start, end)."""
    if not visits:
        return {}
    newest = (select(VisitPlan.id).where(VisitPlan.unit_id == Visit.unit_id,
                                         VisitPlan.day == Visit.day)
              .order_by(VisitPlan.version.desc()).limit(1).correlate(Visit)
              .scalar_subquery())
    rows = db.execute(
        select(Visit.id, Staff.id, Staff.given_name, Staff.family_name,
               VisitAssignment.planned_start, VisitAssignment.planned_end)
        .select_from(Visit)
        .join(VisitAssignment, (VisitAssignment.visit_id == Visit.id)
              & (VisitAssignment.plan_id == newest))
        .join(StaffShift, StaffShift.id == VisitAssignment.shift_id)
        .join(Staff, Staff.id == StaffShift.staff_id)
        .where(Visit.id.in_([v.id for v in visits]))
        .order_by(VisitAssignment.part)).all()
    out: dict[uuid.UUID, list] = {}
    for visit_id, sid, given, family, start, end in rows:
        out.setdefault(visit_id, []).append((sid, f"{given} {family}", start, end))
    return out


def _appointments(db: Session, visits: list[Visit]) -> list[dict]:
    names = _unit_names(db, {v.unit_id for v in visits})
    staff = _assigned(db, visits)
    return [care.appointment(v, kind=_label(labels.CARE_KINDS, v.kind),
                             unit_name=names.get(v.unit_id, ""), staff=staff.get(v.id, []),
                             not_done=_label(labels.NOT_DONE_CODES, v.not_done_code))
            for v in visits]


def _visit(db: Session, subject: Subject, visit_id: uuid.UUID) -> Visit:
    v = db.get(Visit, visit_id)
    if v is None:
        raise NotFound()
    if not _sees_unit(db, _read(db, subject, v.patient_id), v.unit_id):
        raise NotFound()
    return v


def read_appointment(db: Session, subject: Subject, visit_id: uuid.UUID) -> dict:
    return _appointments(db, [_visit(db, subject, visit_id)])[0]


def _patient_visits(db: Session, decision: Decision, patient_id: uuid.UUID, when,
                    statuses: tuple[str, ...] | None = None) -> list[Visit]:
    stmt = select(Visit).where(Visit.patient_id == patient_id)
    if when.start is not None:
        stmt = stmt.where(Visit.earliest >= when.start)
    if when.end is not None:
        stmt = stmt.where(Visit.earliest < when.end)
    if statuses is not None:
        stmt = stmt.where(Visit.status.in_(statuses))
    return [v for v in db.scalars(stmt.order_by(Visit.earliest).limit(2000))
            if _sees_unit(db, decision, v.unit_id)]


def search_appointments(db: Session, subject: Subject, patient_id: uuid.UUID, when
                        ) -> list[dict]:
    decision = _searched(db, subject, patient_id)
    if decision is None:
        return []
    return _appointments(db, _patient_visits(db, decision, patient_id, when))


REPORTED = ("started", "done", "not_done")


def _visit_encounters(db: Session, visits: list[Visit]) -> list[dict]:
    names = _unit_names(db, {v.unit_id for v in visits})
    people = dict(db.execute(select(Staff.id, Staff.given_name + " " + Staff.family_name)
                             .where(Staff.id.in_({v.updated_by_id for v in visits
                                                  if v.updated_by_id}))).all())
    return [care.visit_encounter(
        v, kind=_label(labels.CARE_KINDS, v.kind), unit_name=names.get(v.unit_id, ""),
        performer=(v.updated_by_id, people.get(v.updated_by_id, ""))
        if v.updated_by_id else None) for v in visits]


def _round_encounters(db: Session, rows: list[tuple[RoundNote, str]]) -> list[dict]:
    names = _unit_names(db, {n.documented_by_unit_id for n, _name in rows})
    return [care.round_encounter(n, physician=name,
                                 unit_name=names.get(n.documented_by_unit_id, ""),
                                 decision=_label(labels.DECISIONS, n.decision),
                                 title=_("Remote round")) for n, name in rows]


def read_encounter(db: Session, subject: Subject, encounter_id: uuid.UUID) -> dict:
    """A visit that took place, or a decision at the round (both have their own ids)."""
    v = db.get(Visit, encounter_id)
    if v is not None:
        if v.status not in REPORTED:
            raise NotFound()
        return _visit_encounters(db, [_visit(db, subject, encounter_id)])[0]
    n = db.get(RoundNote, encounter_id)
    if n is None:
        raise NotFound()
    decision = _read(db, subject, n.patient_id)
    if not decision.sees(origin(db, n.documented_by_unit_id)):
        raise NotFound()
    physician = db.get(Staff, n.staff_id)
    return _round_encounters(db, [(n, physician.full_name)])[0]


def search_encounters(db: Session, subject: Subject, patient_id: uuid.UUID, when
                      ) -> list[dict]:
    """The visits made and the round's decisions, in time order."""
    decision = _searched(db, subject, patient_id)
    if decision is None:
        return []
    visits = _visit_encounters(db, _patient_visits(db, decision, patient_id, when, REPORTED))
    notes = [(n, name) for n, name in rounds.round_notes(db, decision, patient_id, limit=500)
             if when.holds(n.at)]
    out = visits + _round_encounters(db, notes)
    return sorted(out, key=lambda r: r["period"]["start"])


# --- Documents: the agreement and the discharge summary -------------------------------------

AGREEMENT, SUMMARY = "agreement", "summary"


@dataclass
class Document:
    resource: dict
    pdf: bytes


def _sha1(data: bytes) -> str:
    import base64
    import hashlib

    return base64.b64encode(hashlib.sha1(data).digest()).decode()  # FHIR's Attachment.hash


def _agreement(db: Session, decision: Decision, e: Episode, base: str) -> Document | None:
    """The current version of the episode's agreement (the home ward's record: with its
    visibility)."""
    view = agreements.agreement_view(db, decision, e.patient_id, e.id)
    row = view.current
    if row is None:
        return None
    data = agreements.pdf_document(view, row)
    doc_id = f"{AGREEMENT}-{e.id}"
    title = _("Agreement, version %(version)s", version=row.version)
    resource = care.document_reference(
        id_=doc_id, patient_id=e.patient_id, kind=care.PLAN_OF_CARE, title=title,
        final=row.confirmed_at is not None, when=row.confirmed_at or row.created_at,
        unit_id=view.unit.id, unit_name=view.unit.name,
        period=care._period(e.admitted_at or e.assessed_at, e.ended_at),
        binary_url=f"{base}Binary/{doc_id}", size=len(data), digest=_sha1(data),
        authenticator=None,
        version="1")
    return Document(_versioned(resource, row.content), data)


def _versioned(resource: dict, *content) -> dict:
    """A document's version: a digest of what it says (the PDF's bytes carry the day it
    was made, so its size and hash are left out, and its address names the server asked)."""
    attachment = {**resource["content"][0]["attachment"], "hash": "", "size": 0, "url": ""}
    resource["meta"]["versionId"] = care.content_version(
        {**resource, "content": [{"attachment": attachment}], "_of": content})
    return resource


def _summary(db: Session, decision: Decision, e: Episode, base: str) -> Document | None:
    view = summaries.summary_view(db, decision, e.patient_id, e.id)
    row = view.summary
    if row is None:
        return None
    data = summaries.pdf_document(db, view)
    doc_id = f"{SUMMARY}-{e.id}"
    unit = db.get(Unit, row.documented_by_unit_id)
    body = care.document_reference(
        id_=doc_id, patient_id=e.patient_id, kind=care.DISCHARGE_SUMMARY,
        title=_("Discharge summary"), final=row.signed_at is not None,
        when=row.signed_at or row.updated_at, unit_id=unit.id, unit_name=unit.name,
        period=care._period(e.admitted_at or e.assessed_at, e.ended_at),
        binary_url=f"{base}Binary/{doc_id}", size=len(data), digest=_sha1(data),
        authenticator=(row.signed_by_id, view.signed_by or "") if row.signed_by_id else None,
        version="1")
    return Document(_versioned(body, row.text, row.next_steps, row.facts), data)


def _document(db: Session, subject: Subject, document_id: str, base: str = "") -> Document:
    kind, _sep, rest = document_id.partition("-")
    try:
        episode_id = uuid.UUID(rest)
    except ValueError:
        raise NotFound() from None
    e = db.get(Episode, episode_id)
    if e is None or kind not in (AGREEMENT, SUMMARY):
        raise NotFound()
    decision = _read(db, subject, e.patient_id)
    found = (_agreement if kind == AGREEMENT else _summary)(db, decision, e, base)
    if found is None:
        raise NotFound()
    return found


def read_document(db: Session, subject: Subject, document_id: str, base: str) -> dict:
    """A document; `base`: the FHIR server's address, for its PDF's absolute `url`."""
    return _document(db, subject, document_id, base).resource


def read_binary(db: Session, subject: Subject, binary_id: str) -> bytes:
    """The PDF of a document, through the same check as the document."""
    return _document(db, subject, binary_id).pdf


def search_documents(db: Session, subject: Subject, patient_id: uuid.UUID,
                     base: str) -> list[dict]:
    decision = _searched(db, subject, patient_id)
    if decision is None:
        return []
    out = []
    for e in db.scalars(select(Episode).where(Episode.patient_id == patient_id)
                        .order_by(Episode.assessed_at.desc())):
        if not decision.sees(origin(db, e.responsible_unit_id)):
            continue
        for make in (_summary, _agreement):
            found = make(db, decision, e, base)
            if found is not None:
                out.append(found.resource)
    return out


# --- Provenance: who documented what, for which organisation ----------------------------------

PROVENANCE_TYPES = ("Observation", "QuestionnaireResponse", "Task", "CarePlan",
                    "ServiceRequest")


def provenance(db: Session, subject: Subject, reference: str) -> dict:
    """The provenance of one resource the caller may read (read through its own check, so
    what they may not see has no provenance either)."""
    from hemma.fhir import service as observations
    from hemma.fhir import vitals
    from hemma.models import Observation

    kind, _sep, rid = reference.partition("/")
    if kind not in PROVENANCE_TYPES or not rid:
        raise NotFound()
    names = _unit_names
    if kind in ("Observation", "QuestionnaireResponse"):
        if kind == "Observation":
            target = observations.read_observation(db, subject, rid)
            row = db.get(Observation, vitals.split_id(rid)[0])
        else:
            target = observations.read_answers(db, subject, _uuid(rid))
            row = db.get(Observation, _uuid(rid))
        if row.performer == "patient":
            who = {"reference": f"Patient/{row.patient_id}"}
        elif row.performer == "device":
            who = {"display": row.device_id or _("Device")}
        else:
            who = practitioner_ref_of(db, row.staff_id)
        role = "performer" if row.performer == "device" else "author"
        unit = row.documented_by_unit_id
        return care.provenance(target, recorded=row.received_at, who=who, role=role,
                               unit_id=unit, unit_name=names(db, {unit}).get(unit))
    if kind == "Task":
        target = read_task(db, subject, _uuid(rid))
        t = db.get(Task, _uuid(rid))
        by, unit, at = t.created_by_id, t.documented_by_unit_id, t.created_at
    elif kind == "CarePlan":
        target = read_care_plan(db, subject, _uuid(rid)).plan
        p = db.get(CarePlan, _uuid(rid))
        by, unit, at = p.updated_by_id, p.documented_by_unit_id, p.updated_at
    else:
        target = read_service_request(db, subject, _uuid(rid))
        r = db.get(CareRequest, _uuid(rid))
        by, unit, at = r.created_by_id, r.from_unit_id, r.created_at
    return care.provenance(target, recorded=at, who=practitioner_ref_of(db, by),
                           role="author", unit_id=unit, unit_name=names(db, {unit}).get(unit),
                           operation="CREATE" if kind != "CarePlan" else "UPDATE")


def read_provenance(db: Session, subject: Subject, provenance_id: str) -> dict:
    kind, _sep, rid = provenance_id.partition("-")
    return provenance(db, subject, f"{kind}/{rid}")


def practitioner_ref_of(db: Session, staff_id: int | None) -> dict:
    from hemma.fhir.resources import practitioner_ref

    if staff_id is None:
        return {"display": _("Hemma")}
    s = db.get(Staff, staff_id)
    return practitioner_ref(staff_id, s.full_name if s else None)


def _uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound() from None
