"""FHIR routes for the care around the patient (hemma.fhir.care_service): EpisodeOfCare,
CareTeam, CarePlan (with `_include=CarePlan:activity-reference`), Goal, ServiceRequest, Task
(and a task's status changed with PUT and If-Match), and the directory: Practitioner,
PractitionerRole, Organization. Each type registers what it supports in the capability
statement; every route declares its access with FhirAccess."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from hemma.access.policy import Action
from hemma.fhir import capability, care, resources, search, subscriptions
from hemma.fhir import care_service as service
from hemma.fhir.capability import Kind
from hemma.fhir.http import (
    FhirAccess,
    FhirResponse,
    base,
    check,
    fhir_body,
    patient_param,
    self_url,
    serve_reads,
    values,
    versioned,
)
from hemma.fhir.search import SearchError
from hemma.fhir.vitals import NotUnderstood
from hemma.kit.errors import NotFound
from hemma.kit.text import N_
from hemma.web.deps import DbSession, Principal
from hemma.web.routing import JsonRoute

router = APIRouter(prefix="/fhir", route_class=JsonRoute, tags=["FHIR R4"])

READ = ("read", "vread", "search-type")
PATIENT_SEARCH = (("patient", "reference"), ("status", "token"), ("_lastUpdated", "date"),
                  ("_id", "token"))
EPISODE = capability.register(Kind("EpisodeOfCare", READ, PATIENT_SEARCH))
CARE_TEAM = capability.register(Kind("CareTeam", READ, PATIENT_SEARCH))
CARE_PLAN = capability.register(Kind("CarePlan", READ, PATIENT_SEARCH,
                                     includes=("CarePlan:activity-reference",)))
GOAL = capability.register(Kind("Goal", READ, PATIENT_SEARCH))
SERVICE_REQUEST = capability.register(Kind("ServiceRequest", READ, PATIENT_SEARCH))
TASK = capability.register(Kind(
    "Task", (*READ, "update"), PATIENT_SEARCH,
    documentation="A task's status is changed with PUT and If-Match: completed, or ready "
                  "again with statusReason.text; nothing else of a task changes through "
                  "FHIR."))
DATED_SEARCH = (*PATIENT_SEARCH, ("date", "date"))
APPOINTMENT = capability.register(Kind("Appointment", READ, DATED_SEARCH))
ENCOUNTER = capability.register(Kind(
    "Encounter", READ, DATED_SEARCH,
    documentation="A visit at home that took place (class HH) or a decision at the remote "
                  "round (class VR)."))
DOCUMENT = capability.register(Kind(
    "DocumentReference", READ, PATIENT_SEARCH,
    documentation="The agreement (overenskommelse) and the discharge summary, each with its "
                  "PDF as a Binary attachment."))
BINARY = capability.register(Kind(
    "Binary", ("read",),
    documentation="A document's PDF: application/pdf when asked for with Accept, else a "
                  "Binary resource."))
PROVENANCE = capability.register(Kind(
    "Provenance", READ, (("target", "reference"),),
    documentation="Who documented an Observation, QuestionnaireResponse, Task, CarePlan or "
                  "ServiceRequest, when, and for which organisation: search by target."))
SUBSCRIPTION = capability.register(Kind(
    "Subscription", ("read", "search-type", "create", "update"),
    documentation="Rest-hooks on new alerts (criteria Flag?status=active) and new care "
                  "requests (ServiceRequest?status=active), to endpoints the administrator "
                  "allowed; each notification names the new resource and carries no patient "
                  "data. PUT with status off ends one. An account sees its own."))
DIRECTORY = (("identifier", "token"), ("_id", "token"))
PRACTITIONER = capability.register(Kind("Practitioner", READ, DIRECTORY))
PRACTITIONER_ROLE = capability.register(Kind("PractitionerRole", READ, DIRECTORY))
ORGANIZATION = capability.register(Kind("Organization", READ,
                                        (*DIRECTORY, ("name", "string"))))


def _access(kind: Kind, interaction: str, action: Action = Action.READ):
    return Annotated[Principal, Depends(FhirAccess(kind.type, interaction, action))]


def _filter(request: Request, found: list[dict], status_of: Callable[[dict], str | None]
            ) -> list[dict]:
    """The common filters of a patient's resources: `_id`, `status` and `_lastUpdated`."""
    ids = set(values(request, "_id"))
    if ids:
        found = [r for r in found if r["id"] in ids]
    statuses = {search.token(v)[1] for v in values(request, "status")}
    if statuses:
        found = [r for r in found if status_of(r) in statuses]
    updated = values(request, "_lastUpdated")
    if updated:
        when = search.date_range(updated, parameter="_lastUpdated")
        found = [r for r in found if r["meta"].get("lastUpdated")
                 and when.holds(datetime.fromisoformat(r["meta"]["lastUpdated"]))]
    return found


def _searchset(request: Request, found: list[dict], included: list[dict] | None = None
               ) -> FhirResponse:
    count = search.count(request.query_params.getlist("_count"))
    page = found[:count]
    entries = [{"resource": r} for r in page] + [
        {"resource": r, "mode": "include"} for r in included or []]
    return FhirResponse(resources.bundle("searchset", entries, self_url=self_url(request),
                                         total=len(found), base=base(request)))


def _patient_search(request: Request, kind: Kind, searcher: Callable[[uuid.UUID], list[dict]],
                    status_of: Callable[[dict], str | None] = lambda r: r.get("status")
                    ) -> FhirResponse:
    check(request, kind.parameters())
    patient_id = patient_param(request)
    found = searcher(patient_id) if patient_id is not None else []
    return _searchset(request, _filter(request, found, status_of))


# --- Reads: each type's read and vread, through its service's own check --------------------


def _subject_of(read):
    return lambda db, principal, id_, _request: read(db, principal.subject, id_)


def _staff_id(value: str) -> int:
    if not value.isdigit() or not 0 < int(value) <= MAX_ID:
        raise NotFound()
    return int(value)


MAX_ID = 2**31 - 1
for _kind, _param, _type, _read, _doc in (
        (EPISODE, "episode_id", uuid.UUID, _subject_of(service.read_episode),
         "A home-ward episode."),
        (CARE_TEAM, "episode_id", uuid.UUID, _subject_of(service.read_care_team),
         "The care team of an episode, across organisations (its id is the episode's)."),
        (CARE_PLAN, "plan_id", uuid.UUID,
         lambda db, p, id_, _r: service.read_care_plan(db, p.subject, id_).plan,
         "The shared plan of an episode, with the activities the reader may see."),
        (GOAL, "plan_id", uuid.UUID, _subject_of(service.read_goal),
         "The patient's goals in their own words (its id is the plan's)."),
        (SERVICE_REQUEST, "request_id", uuid.UUID, _subject_of(service.read_service_request),
         "A care request from one unit to another."),
        (TASK, "task_id", uuid.UUID, _subject_of(service.read_task),
         "A task: owner, due time, priority, status."),
        (APPOINTMENT, "visit_id", uuid.UUID, _subject_of(service.read_appointment),
         "A planned visit: when, and who comes."),
        (ENCOUNTER, "encounter_id", uuid.UUID, _subject_of(service.read_encounter),
         "A visit that took place, or a decision at the remote round."),
        (DOCUMENT, "document_id", str,
         lambda db, p, id_, r: service.read_document(db, p.subject, id_, base(r)),
         "The agreement (`agreement-<episode>`) or the discharge summary "
         "(`summary-<episode>`)."),
        (PROVENANCE, "provenance_id", str, _subject_of(service.read_provenance),
         "`<type>-<id>`: the provenance of that resource, if the caller may read it."),
        (PRACTITIONER, "staff_id", str,
         lambda db, p, id_, _r: service.read_practitioner(db, _staff_id(id_)),
         "A staff member (their HSA-id, name, work phone, profession)."),
        (PRACTITIONER_ROLE, "staff_id", str,
         lambda db, p, id_, _r: service.read_practitioner_role(db, _staff_id(id_)),
         "A staff member's post: their unit and profession."),
        (ORGANIZATION, "organization_id", str,
         lambda db, p, id_, _r: service.read_organization(db, id_),
         "An organisation (`org-<id>`) or one of its units (`unit-<id>`)."),
):
    serve_reads(router, _kind.type, _param, _type, _read, _doc)


# --- EpisodeOfCare and CareTeam -------------------------------------------------------------

EpisodeSearcher = _access(EPISODE, "s")


@router.get("/EpisodeOfCare", response_class=FhirResponse)
def search_episodes(request: Request, db: DbSession, principal: EpisodeSearcher):
    """A patient's home-ward episodes (`patient`, `status`: planned, active, finished,
    cancelled)."""
    return _patient_search(request, EPISODE,
                           lambda pid: service.search_episodes(db, principal.subject, pid))


TeamSearcher = _access(CARE_TEAM, "s")


@router.get("/CareTeam", response_class=FhirResponse)
def search_care_teams(request: Request, db: DbSession, principal: TeamSearcher):
    """A patient's care teams, one per episode."""
    return _patient_search(request, CARE_TEAM,
                           lambda pid: service.search_care_teams(db, principal.subject, pid))


# --- CarePlan and Goal ----------------------------------------------------------------------

PlanSearcher = _access(CARE_PLAN, "s")


@router.get("/CarePlan", response_class=FhirResponse)
def search_care_plans(request: Request, db: DbSession, principal: PlanSearcher):
    """A patient's shared plans; `_include=CarePlan:activity-reference` adds the care
    requests and tasks their activities refer to (those the reader may see)."""
    check(request, CARE_PLAN.parameters())
    includes = set(values(request, "_include"))
    if includes - set(CARE_PLAN.includes):
        raise SearchError(N_("_include can be %(allowed)s"), "_include",
                          allowed=" | ".join(CARE_PLAN.includes))
    patient_id = patient_param(request)
    found = service.search_care_plans(db, principal.subject, patient_id) \
        if patient_id is not None else []
    by_id = {f.plan["id"]: f for f in found}
    plans = _filter(request, [f.plan for f in found], lambda r: r.get("status"))
    included: list[dict] = []
    if includes and plans:
        refs = [ref for p in plans for ref in by_id[p["id"]].references]
        wanted = {kind: {uuid.UUID(r.split("/", 1)[1]) for r in refs if r.startswith(kind)}
                  for kind in ("ServiceRequest", "Task")}
        if wanted["ServiceRequest"]:
            included += service.search_service_requests(
                db, principal.subject, patient_id, wanted["ServiceRequest"])
        if wanted["Task"]:
            included += service.search_tasks(db, principal.subject, patient_id,
                                             wanted["Task"])
    return _searchset(request, plans, included)


GoalSearcher = _access(GOAL, "s")


@router.get("/Goal", response_class=FhirResponse)
def search_goals(request: Request, db: DbSession, principal: GoalSearcher):
    """A patient's goals (`status` is the goal's lifecycleStatus)."""
    return _patient_search(
        request, GOAL,
        lambda pid: [f.goal for f in service.search_care_plans(db, principal.subject, pid)
                     if f.goal is not None],
        lambda r: r.get("lifecycleStatus"))


# --- ServiceRequest and Task ----------------------------------------------------------------

RequestSearcher = _access(SERVICE_REQUEST, "s")


@router.get("/ServiceRequest", response_class=FhirResponse)
def search_service_requests(request: Request, db: DbSession, principal: RequestSearcher):
    """A patient's care requests, newest first."""
    return _patient_search(
        request, SERVICE_REQUEST,
        lambda pid: service.search_service_requests(db, principal.subject, pid))


TaskReader = _access(TASK, "r")
TaskSearcher = _access(TASK, "s")
TaskWriter = _access(TASK, "u", Action.COORDINATE)


@router.get("/Task", response_class=FhirResponse)
def search_tasks(request: Request, db: DbSession, principal: TaskSearcher):
    """A patient's tasks (`status`: ready or completed)."""
    return _patient_search(request, TASK,
                           lambda pid: service.search_tasks(db, principal.subject, pid))


def _if_match(request: Request) -> str | None:
    header = request.headers.get("if-match")
    if header is None:
        return None
    return header.strip().removeprefix("W/").strip('"')


def _refuse(message: str, path: str) -> Exception:
    return NotUnderstood(message, path)


@router.put("/Task/{task_id}", response_class=FhirResponse)
def update_task(task_id: uuid.UUID, request: Request,
                body: Annotated[dict, Depends(fhir_body)], db: DbSession,
                principal: TaskWriter):
    """Change a task's status: `completed`, or `ready` again with `statusReason.text`.
    Send `If-Match` with the version read: if the task changed since, 412."""
    return versioned(service.update_task(db, principal.subject, task_id, body,
                                         _if_match(request), _refuse))


# --- Appointment and Encounter -------------------------------------------------------------

AppointmentSearcher = _access(APPOINTMENT, "s")
EncounterSearcher = _access(ENCOUNTER, "s")


@router.get("/Appointment", response_class=FhirResponse)
def search_appointments(request: Request, db: DbSession, principal: AppointmentSearcher):
    """A patient's visits (`date` on the start of their window, `status`)."""
    when = search.date_range(values(request, "date"))
    return _patient_search(
        request, APPOINTMENT,
        lambda pid: service.search_appointments(db, principal.subject, pid, when))


@router.get("/Encounter", response_class=FhirResponse)
def search_encounters(request: Request, db: DbSession, principal: EncounterSearcher):
    """A patient's visits made and round decisions, in time order."""
    when = search.date_range(values(request, "date"))
    return _patient_search(
        request, ENCOUNTER,
        lambda pid: service.search_encounters(db, principal.subject, pid, when))


# --- Documents -----------------------------------------------------------------------------

DocumentSearcher = _access(DOCUMENT, "s")
BinaryReader = _access(BINARY, "r")


@router.get("/DocumentReference", response_class=FhirResponse)
def search_documents(request: Request, db: DbSession, principal: DocumentSearcher):
    """A patient's documents: discharge summaries and agreements."""
    return _patient_search(request, DOCUMENT,
                           lambda pid: service.search_documents(db, principal.subject, pid,
                                                                base(request)))


@router.get("/Binary/{binary_id}", response_class=FhirResponse)
def read_binary(binary_id: str, request: Request, db: DbSession, principal: BinaryReader):
    """A document's PDF: the bytes when the client accepts application/pdf, else a Binary
    resource with them in base64. Never cached: it is a patient's record."""
    data = service.read_binary(db, principal.subject, binary_id)
    if "application/pdf" in request.headers.get("accept", ""):
        return Response(data, media_type="application/pdf",
                        headers={"Cache-Control": "no-store",
                                 "Content-Disposition": "inline"})
    return FhirResponse(care.binary(binary_id, data, binary_id),
                        headers={"Cache-Control": "no-store"})


# --- Provenance ----------------------------------------------------------------------------

ProvenanceSearcher = _access(PROVENANCE, "s")


@router.get("/Provenance", response_class=FhirResponse)
def search_provenance(request: Request, db: DbSession, principal: ProvenanceSearcher):
    """`target=<type>/<id>` (one or more): the provenance of each the caller may read."""
    check(request, PROVENANCE.parameters())
    targets = values(request, "target")
    if not targets:
        raise SearchError(N_("Say of what: target=<type>/<id>"), "target")
    found = []
    for target in targets[:100]:
        try:
            found.append(service.provenance(db, principal.subject,
                                            target.removeprefix(base(request))))
        except NotFound:
            continue  # absent, as what the caller may not read is
    return _searchset(request, found)


# --- Subscriptions -------------------------------------------------------------------------

SubscriptionReader = _access(SUBSCRIPTION, "r")
SubscriptionSearcher = _access(SUBSCRIPTION, "s")
SubscriptionWriter = _access(SUBSCRIPTION, "c")
SubscriptionChanger = _access(SUBSCRIPTION, "u")


@router.post("/Subscription", status_code=201, response_class=FhirResponse)
def create_subscription(request: Request, body: Annotated[dict, Depends(fhir_body)],
                        db: DbSession, principal: SubscriptionWriter):
    """Subscribe a rest-hook to new alerts or new care requests."""
    sub = subscriptions.create(db, principal.subject, body)
    made = subscriptions.resource(sub)
    return versioned(made, 201, {"Location": f"{base(request)}Subscription/{sub.id}"})


@router.get("/Subscription/{subscription_id}", response_class=FhirResponse)
def read_subscription(subscription_id: uuid.UUID, db: DbSession,
                      principal: SubscriptionReader):
    """One of the caller's own subscriptions (with `error` if its endpoint stopped
    answering)."""
    return versioned(subscriptions.resource(
        subscriptions.read(db, principal.subject, subscription_id)))


@router.get("/Subscription", response_class=FhirResponse)
def search_subscriptions(request: Request, db: DbSession, principal: SubscriptionSearcher):
    """The caller's own subscriptions."""
    check(request, set())
    return _searchset(request, [subscriptions.resource(s)
                                for s in subscriptions.search(db, principal.subject)])


@router.put("/Subscription/{subscription_id}", response_class=FhirResponse)
def update_subscription(subscription_id: uuid.UUID, request: Request,
                        body: Annotated[dict, Depends(fhir_body)], db: DbSession,
                        principal: SubscriptionChanger):
    """End a subscription: the same resource with `status: off`. Nothing else changes.
    Send `If-Match` with the version read: if the subscription changed since, 412."""
    if body.get("resourceType") != "Subscription" or body.get("status") != "off":
        raise NotUnderstood(N_("A subscription is ended with status off; nothing else of it "
                               "changes"), "Subscription.status")
    return versioned(subscriptions.resource(
        subscriptions.turn_off(db, principal.subject, subscription_id, _if_match(request))))


# --- The directory --------------------------------------------------------------------------

PractitionerSearcher = _access(PRACTITIONER, "s")
RoleSearcher = _access(PRACTITIONER_ROLE, "s")
OrganizationSearcher = _access(ORGANIZATION, "s")
def _directory_filter(request: Request) -> tuple[str | None, list[int] | None]:
    hsa = None
    identifiers = values(request, "identifier")
    if identifiers:
        system, hsa = search.token(identifiers[-1])
        if system not in (None, resources.HSA_ID):
            hsa = "\x00"  # a system Hemma does not keep: nobody has it
    ids = None
    if "_id" in request.query_params:
        ids = [int(v) for v in values(request, "_id") if v.isdigit() and int(v) <= MAX_ID]
    return hsa, ids


def _staff_search(request: Request, db, kind: Kind, as_resources) -> FhirResponse:
    check(request, kind.parameters())
    hsa, ids = _directory_filter(request)
    rows = service.search_practitioners(db, hsa_id=hsa, ids=ids, count=search.count(
        request.query_params.getlist("_count")))
    return _searchset(request, as_resources(db, rows))


@router.get("/Practitioner", response_class=FhirResponse)
def search_practitioners(request: Request, db: DbSession, principal: PractitionerSearcher):
    """Staff by HSA-id (`identifier=urn:oid:1.2.752.29.4.19|<hsa-id>`) or id."""
    return _staff_search(request, db, PRACTITIONER, service.practitioners)


@router.get("/PractitionerRole", response_class=FhirResponse)
def search_practitioner_roles(request: Request, db: DbSession, principal: RoleSearcher):
    """Staff members' posts, by HSA-id or id."""
    return _staff_search(request, db, PRACTITIONER_ROLE, service.practitioner_roles)


@router.get("/Organization", response_class=FhirResponse)
def search_organizations(request: Request, db: DbSession, principal: OrganizationSearcher):
    """Organisations and units by HSA-id or name."""
    check(request, ORGANIZATION.parameters())
    hsa, _ids = _directory_filter(request)
    names = values(request, "name")
    found = service.search_organizations(
        db, hsa_id=hsa, name=names[-1] if names else None,
        count=search.count(request.query_params.getlist("_count")))
    ids = set(values(request, "_id"))
    if ids:
        found = [r for r in found if r["id"] in ids]
    return _searchset(request, found)
