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
from hemma.fhir import capability, care, resources, search
from hemma.fhir import care_service as service
from hemma.fhir.capability import Kind
from hemma.fhir.http import (
    FhirAccess,
    FhirResponse,
    base,
    check,
    fhir_body,
    self_url,
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
DIRECTORY = (("identifier", "token"), ("_id", "token"))
PRACTITIONER = capability.register(Kind("Practitioner", READ, DIRECTORY))
PRACTITIONER_ROLE = capability.register(Kind("PractitionerRole", READ, DIRECTORY))
ORGANIZATION = capability.register(Kind("Organization", READ,
                                        (*DIRECTORY, ("name", "string"))))


def _access(kind: Kind, interaction: str, action: Action = Action.READ):
    return Annotated[Principal, Depends(FhirAccess(kind.type, interaction, action))]


def _same_version(resource: dict, version_id: str) -> dict:
    """Hemma serves the current version of each resource; another is not found."""
    if resource["meta"]["versionId"] != version_id:
        raise NotFound()
    return resource


def _patient(request: Request) -> uuid.UUID | None:
    refs = values(request, "patient")
    if not refs:
        raise SearchError(N_("Say whose: patient=<id>"), "patient")
    ref = refs[-1].removeprefix(base(request)).removeprefix("Patient/")
    try:
        return uuid.UUID(ref)
    except ValueError:
        return None  # no patient has that id


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
    patient_id = _patient(request)
    found = searcher(patient_id) if patient_id is not None else []
    return _searchset(request, _filter(request, found, status_of))


# --- EpisodeOfCare and CareTeam -------------------------------------------------------------

EpisodeReader = _access(EPISODE, "r")
EpisodeSearcher = _access(EPISODE, "s")


@router.get("/EpisodeOfCare/{episode_id}", response_class=FhirResponse)
def read_episode(episode_id: uuid.UUID, db: DbSession, principal: EpisodeReader):
    """A home-ward episode."""
    return versioned(service.read_episode(db, principal.subject, episode_id))


@router.get("/EpisodeOfCare/{episode_id}/_history/{version_id}", response_class=FhirResponse)
def vread_episode(episode_id: uuid.UUID, version_id: str, db: DbSession,
                  principal: EpisodeReader):
    return versioned(_same_version(service.read_episode(db, principal.subject, episode_id),
                                   version_id))


@router.get("/EpisodeOfCare", response_class=FhirResponse)
def search_episodes(request: Request, db: DbSession, principal: EpisodeSearcher):
    """A patient's home-ward episodes (`patient`, `status`: planned, active, finished,
    cancelled)."""
    return _patient_search(request, EPISODE,
                           lambda pid: service.search_episodes(db, principal.subject, pid))


TeamReader = _access(CARE_TEAM, "r")
TeamSearcher = _access(CARE_TEAM, "s")


@router.get("/CareTeam/{episode_id}", response_class=FhirResponse)
def read_care_team(episode_id: uuid.UUID, db: DbSession, principal: TeamReader):
    """The care team of an episode, across organisations (its id is the episode's)."""
    return versioned(service.read_care_team(db, principal.subject, episode_id))


@router.get("/CareTeam/{episode_id}/_history/{version_id}", response_class=FhirResponse)
def vread_care_team(episode_id: uuid.UUID, version_id: str, db: DbSession,
                    principal: TeamReader):
    return versioned(_same_version(service.read_care_team(db, principal.subject, episode_id),
                                   version_id))


@router.get("/CareTeam", response_class=FhirResponse)
def search_care_teams(request: Request, db: DbSession, principal: TeamSearcher):
    """A patient's care teams, one per episode."""
    return _patient_search(request, CARE_TEAM,
                           lambda pid: service.search_care_teams(db, principal.subject, pid))


# --- CarePlan and Goal ----------------------------------------------------------------------

PlanReader = _access(CARE_PLAN, "r")
PlanSearcher = _access(CARE_PLAN, "s")


@router.get("/CarePlan/{plan_id}", response_class=FhirResponse)
def read_care_plan(plan_id: uuid.UUID, db: DbSession, principal: PlanReader):
    """The shared plan of an episode, with the activities the reader may see."""
    return versioned(service.read_care_plan(db, principal.subject, plan_id).plan)


@router.get("/CarePlan/{plan_id}/_history/{version_id}", response_class=FhirResponse)
def vread_care_plan(plan_id: uuid.UUID, version_id: str, db: DbSession, principal: PlanReader):
    return versioned(_same_version(service.read_care_plan(db, principal.subject, plan_id).plan,
                                   version_id))


@router.get("/CarePlan", response_class=FhirResponse)
def search_care_plans(request: Request, db: DbSession, principal: PlanSearcher):
    """A patient's shared plans; `_include=CarePlan:activity-reference` adds the care
    requests and tasks their activities refer to (those the reader may see)."""
    check(request, CARE_PLAN.parameters())
    includes = set(values(request, "_include"))
    if includes - set(CARE_PLAN.includes):
        raise SearchError(N_("_include can be %(allowed)s"), "_include",
                          allowed=" | ".join(CARE_PLAN.includes))
    patient_id = _patient(request)
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


GoalReader = _access(GOAL, "r")
GoalSearcher = _access(GOAL, "s")


@router.get("/Goal/{plan_id}", response_class=FhirResponse)
def read_goal(plan_id: uuid.UUID, db: DbSession, principal: GoalReader):
    """The patient's goals in their own words (its id is the plan's)."""
    return versioned(service.read_goal(db, principal.subject, plan_id))


@router.get("/Goal/{plan_id}/_history/{version_id}", response_class=FhirResponse)
def vread_goal(plan_id: uuid.UUID, version_id: str, db: DbSession, principal: GoalReader):
    return versioned(_same_version(service.read_goal(db, principal.subject, plan_id),
                                   version_id))


@router.get("/Goal", response_class=FhirResponse)
def search_goals(request: Request, db: DbSession, principal: GoalSearcher):
    """A patient's goals (`status` is the goal's lifecycleStatus)."""
    return _patient_search(
        request, GOAL,
        lambda pid: [f.goal for f in service.search_care_plans(db, principal.subject, pid)
                     if f.goal is not None],
        lambda r: r.get("lifecycleStatus"))


# --- ServiceRequest and Task ----------------------------------------------------------------

RequestReader = _access(SERVICE_REQUEST, "r")
RequestSearcher = _access(SERVICE_REQUEST, "s")


@router.get("/ServiceRequest/{request_id}", response_class=FhirResponse)
def read_service_request(request_id: uuid.UUID, db: DbSession, principal: RequestReader):
    """A care request from one unit to another."""
    return versioned(service.read_service_request(db, principal.subject, request_id))


@router.get("/ServiceRequest/{request_id}/_history/{version_id}", response_class=FhirResponse)
def vread_service_request(request_id: uuid.UUID, version_id: str, db: DbSession,
                          principal: RequestReader):
    return versioned(_same_version(
        service.read_service_request(db, principal.subject, request_id), version_id))


@router.get("/ServiceRequest", response_class=FhirResponse)
def search_service_requests(request: Request, db: DbSession, principal: RequestSearcher):
    """A patient's care requests, newest first."""
    return _patient_search(
        request, SERVICE_REQUEST,
        lambda pid: service.search_service_requests(db, principal.subject, pid))


TaskReader = _access(TASK, "r")
TaskSearcher = _access(TASK, "s")
TaskWriter = _access(TASK, "u", Action.COORDINATE)


@router.get("/Task/{task_id}", response_class=FhirResponse)
def read_task(task_id: uuid.UUID, db: DbSession, principal: TaskReader):
    """A task: owner, due time, priority, status."""
    return versioned(service.read_task(db, principal.subject, task_id))


@router.get("/Task/{task_id}/_history/{version_id}", response_class=FhirResponse)
def vread_task(task_id: uuid.UUID, version_id: str, db: DbSession, principal: TaskReader):
    return versioned(_same_version(service.read_task(db, principal.subject, task_id),
                                   version_id))


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

AppointmentReader = _access(APPOINTMENT, "r")
AppointmentSearcher = _access(APPOINTMENT, "s")
EncounterReader = _access(ENCOUNTER, "r")
EncounterSearcher = _access(ENCOUNTER, "s")


@router.get("/Appointment/{visit_id}", response_class=FhirResponse)
def read_appointment(visit_id: uuid.UUID, db: DbSession, principal: AppointmentReader):
    """A planned visit: when, and who comes."""
    return versioned(service.read_appointment(db, principal.subject, visit_id))


@router.get("/Appointment/{visit_id}/_history/{version_id}", response_class=FhirResponse)
def vread_appointment(visit_id: uuid.UUID, version_id: str, db: DbSession,
                      principal: AppointmentReader):
    return versioned(_same_version(service.read_appointment(db, principal.subject, visit_id),
                                   version_id))


@router.get("/Appointment", response_class=FhirResponse)
def search_appointments(request: Request, db: DbSession, principal: AppointmentSearcher):
    """A patient's visits (`date` on the start of their window, `status`)."""
    when = search.date_range(values(request, "date"))
    return _patient_search(
        request, APPOINTMENT,
        lambda pid: service.search_appointments(db, principal.subject, pid, when))


@router.get("/Encounter/{encounter_id}", response_class=FhirResponse)
def read_encounter(encounter_id: uuid.UUID, db: DbSession, principal: EncounterReader):
    """A visit that took place, or a decision at the remote round."""
    return versioned(service.read_encounter(db, principal.subject, encounter_id))


@router.get("/Encounter/{encounter_id}/_history/{version_id}", response_class=FhirResponse)
def vread_encounter(encounter_id: uuid.UUID, version_id: str, db: DbSession,
                    principal: EncounterReader):
    return versioned(_same_version(service.read_encounter(db, principal.subject,
                                                          encounter_id), version_id))


@router.get("/Encounter", response_class=FhirResponse)
def search_encounters(request: Request, db: DbSession, principal: EncounterSearcher):
    """A patient's visits made and round decisions, in time order."""
    when = search.date_range(values(request, "date"))
    return _patient_search(
        request, ENCOUNTER,
        lambda pid: service.search_encounters(db, principal.subject, pid, when))


# --- Documents -----------------------------------------------------------------------------

DocumentReader = _access(DOCUMENT, "r")
DocumentSearcher = _access(DOCUMENT, "s")
BinaryReader = _access(BINARY, "r")


@router.get("/DocumentReference/{document_id}", response_class=FhirResponse)
def read_document(document_id: str, db: DbSession, principal: DocumentReader):
    """The agreement (`agreement-<episode>`) or the discharge summary (`summary-<episode>`)."""
    return versioned(service.read_document(db, principal.subject, document_id))


@router.get("/DocumentReference/{document_id}/_history/{version_id}",
            response_class=FhirResponse)
def vread_document(document_id: str, version_id: str, db: DbSession,
                   principal: DocumentReader):
    return versioned(_same_version(service.read_document(db, principal.subject, document_id),
                                   version_id))


@router.get("/DocumentReference", response_class=FhirResponse)
def search_documents(request: Request, db: DbSession, principal: DocumentSearcher):
    """A patient's documents: discharge summaries and agreements."""
    return _patient_search(request, DOCUMENT,
                           lambda pid: service.search_documents(db, principal.subject, pid))


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

ProvenanceReader = _access(PROVENANCE, "r")
ProvenanceSearcher = _access(PROVENANCE, "s")


@router.get("/Provenance/{provenance_id}", response_class=FhirResponse)
def read_provenance(provenance_id: str, db: DbSession, principal: ProvenanceReader):
    """`<type>-<id>`: the provenance of that resource, if the caller may read it."""
    return versioned(service.read_provenance(db, principal.subject, provenance_id))


@router.get("/Provenance/{provenance_id}/_history/{version_id}", response_class=FhirResponse)
def vread_provenance(provenance_id: str, version_id: str, db: DbSession,
                     principal: ProvenanceReader):
    return versioned(_same_version(service.read_provenance(db, principal.subject,
                                                           provenance_id), version_id))


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


# --- The directory --------------------------------------------------------------------------

PractitionerReader = _access(PRACTITIONER, "r")
PractitionerSearcher = _access(PRACTITIONER, "s")
RoleReader = _access(PRACTITIONER_ROLE, "r")
RoleSearcher = _access(PRACTITIONER_ROLE, "s")
OrganizationReader = _access(ORGANIZATION, "r")
OrganizationSearcher = _access(ORGANIZATION, "s")
MAX_ID = 2**31 - 1


def _staff_id(value: str) -> int:
    if not value.isdigit() or not 0 < int(value) <= MAX_ID:
        raise NotFound()
    return int(value)


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


@router.get("/Practitioner/{staff_id}", response_class=FhirResponse)
def read_practitioner(staff_id: str, db: DbSession, principal: PractitionerReader):
    """A staff member (their HSA-id, name, work phone, profession)."""
    return versioned(service.read_practitioner(db, _staff_id(staff_id)))


@router.get("/Practitioner/{staff_id}/_history/{version_id}", response_class=FhirResponse)
def vread_practitioner(staff_id: str, version_id: str, db: DbSession,
                       principal: PractitionerReader):
    return versioned(_same_version(service.read_practitioner(db, _staff_id(staff_id)),
                                   version_id))


@router.get("/Practitioner", response_class=FhirResponse)
def search_practitioners(request: Request, db: DbSession, principal: PractitionerSearcher):
    """Staff by HSA-id (`identifier=urn:oid:1.2.752.29.4.19|<hsa-id>`) or id."""
    check(request, PRACTITIONER.parameters())
    hsa, ids = _directory_filter(request)
    rows = service.search_practitioners(db, hsa_id=hsa, ids=ids, count=search.count(
        request.query_params.getlist("_count")))
    return _searchset(request, service.practitioners(db, rows))


@router.get("/PractitionerRole/{staff_id}", response_class=FhirResponse)
def read_practitioner_role(staff_id: str, db: DbSession, principal: RoleReader):
    """A staff member's post: their unit and profession."""
    return versioned(service.read_practitioner_role(db, _staff_id(staff_id)))


@router.get("/PractitionerRole/{staff_id}/_history/{version_id}", response_class=FhirResponse)
def vread_practitioner_role(staff_id: str, version_id: str, db: DbSession,
                            principal: RoleReader):
    return versioned(_same_version(service.read_practitioner_role(db, _staff_id(staff_id)),
                                   version_id))


@router.get("/PractitionerRole", response_class=FhirResponse)
def search_practitioner_roles(request: Request, db: DbSession, principal: RoleSearcher):
    check(request, PRACTITIONER_ROLE.parameters())
    hsa, ids = _directory_filter(request)
    rows = service.search_practitioners(db, hsa_id=hsa, ids=ids, count=search.count(
        request.query_params.getlist("_count")))
    return _searchset(request, service.practitioner_roles(db, rows))


@router.get("/Organization/{organization_id}", response_class=FhirResponse)
def read_organization(organization_id: str, db: DbSession, principal: OrganizationReader):
    """An organisation (`org-<id>`) or one of its units (`unit-<id>`)."""
    return versioned(service.read_organization(db, organization_id))


@router.get("/Organization/{organization_id}/_history/{version_id}",
            response_class=FhirResponse)
def vread_organization(organization_id: str, version_id: str, db: DbSession,
                       principal: OrganizationReader):
    return versioned(_same_version(service.read_organization(db, organization_id),
                                   version_id))


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
