"""FHIR R4 over HTTP (`/fhir`): the capability statement, and reading and searching patients
and their vital signs, beside the JSON API and through the same access check. Answers are
`application/fhir+json`; every error is an OperationOutcome (app.py), in Swedish unless
`Accept-Language` asks for English."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request

from hemma.access.policy import Action
from hemma.fhir import capability, resources, search, service, vitals
from hemma.fhir.capability import Kind
from hemma.fhir.http import (
    FhirAccess,
    FhirResponse,
    check,
    fhir_body,
    next_url,
    patient_param,
    self_url,
    serve_reads,
    values,
    versioned,
)
from hemma.fhir.http import base as _base
from hemma.fhir.search import SearchError
from hemma.kit.text import N_
from hemma.web.deps import DbSession, Principal, Public
from hemma.web.routing import JsonRoute

router = APIRouter(prefix="/fhir", route_class=JsonRoute, tags=["FHIR R4"])

PATIENT = capability.register(Kind(
    "Patient", ("read", "vread", "search-type"), (("identifier", "token"), ("_id", "token")),
    profile=resources.SE_BASE_PATIENT))
OBSERVATION = capability.register(Kind(
    "Observation", ("read", "vread", "search-type", "create"),
    (("patient", "reference"), ("subject", "reference"), ("date", "date"), ("code", "token"),
     ("category", "token"), ("_sort", "string"), ("status", "token"),
     ("_lastUpdated", "date")),
    profile=vitals.VITALS_PROFILE, includes=("Observation:patient", "Observation:subject"),
    conditional_create=True))
INCLUDES = set(OBSERVATION.includes)


def _check(request: Request, kind: Kind) -> None:
    check(request, kind.parameters())


_values = values


@router.get("/metadata", dependencies=[Depends(Public())], response_class=FhirResponse)
def metadata(request: Request):
    """The CapabilityStatement: what this server does, and nothing it does not."""
    return FhirResponse(capability.statement(_base(request)))


PatientSearcher = Annotated[Principal, Depends(FhirAccess("Patient", "s"))]
serve_reads(router, "Patient", "patient_id", uuid.UUID,
            lambda db, p, id_, _r: service.read_patient(db, p.subject, id_),
            "Read a patient (404 for one the caller may not read, as for one that does not "
            "exist).")


@router.get("/Patient", response_class=FhirResponse)
def search_patients(request: Request, db: DbSession, principal: PatientSearcher):
    """Search patients by personnummer or samordningsnummer (`identifier=system|value`) or
    id: only those the caller may read."""
    _check(request, PATIENT)
    identifiers = _values(request, "identifier")
    ids = None
    if "_id" in request.query_params:
        ids = []
        for value in _values(request, "_id"):
            try:
                ids.append(uuid.UUID(value))
            except ValueError:
                pass  # no patient has it
    found = service.search_patients(
        db, principal.subject, count=search.count(request.query_params.getlist("_count")),
        identifier=search.token(identifiers[-1]) if identifiers else None, ids=ids)
    return FhirResponse(resources.bundle(
        "searchset", [{"resource": r} for r in found], self_url=self_url(request),
        total=len(found), base=_base(request)))


ObservationSearcher = Annotated[Principal, Depends(FhirAccess("Observation", "s"))]
serve_reads(router, "Observation", "observation_id", str,
            lambda db, p, id_, _r: service.read_observation(db, p.subject, id_),
            "Read one value (an id Hemma made: the submission and the parameter). A value has "
            "one version: it is never changed.")


def _codes(request: Request) -> set[str] | None:
    """The parameters a `code` (or `category`) search asks for; None: all of them."""
    wanted: set[str] | None = None
    codes = _values(request, "code")
    if codes:
        wanted = set()
        for value in codes:
            system, code = search.token(value)
            if system in (None, vitals.LOINC) and code in vitals.BY_CODE:
                wanted.add(vitals.BY_CODE[code].field)
            elif system in (None, vitals.LOINC) and code == vitals.BP_PANEL.code:
                wanted.add("blood_pressure")
            elif system in (None, vitals.LOINC) and code in vitals.ALIASES:
                wanted.add(vitals.ALIASES[code])
            elif system in (None, vitals.SNOMED) and code == vitals.NEWS2_CODE:
                wanted.add("news2")
    categories = _values(request, "category")
    if categories:
        by_category: set[str] = set()
        for value in categories:
            _system, code = search.token(value)
            if code == "vital-signs":
                by_category |= {v.field for v in vitals.VITALS if v.vital_sign} | {
                    "blood_pressure"}
            elif code == "survey":
                by_category |= {v.field for v in vitals.VITALS if not v.vital_sign} | {
                    "news2"}
        wanted = by_category if wanted is None else wanted & by_category
    return wanted


def _patient_of(request: Request) -> uuid.UUID | None:
    return patient_param(request, "patient", "subject")


@router.get("/Observation", response_class=FhirResponse)
def search_observations(request: Request, db: DbSession, principal: ObservationSearcher):
    """A patient's values, each its own Observation, newest first by default, a page at a
    time with `next` links; `_include=Observation:patient` adds the Patient."""
    _check(request, OBSERVATION)
    patient_id = _patient_of(request)
    includes = set(_values(request, "_include"))
    if includes - INCLUDES:
        raise SearchError(N_("_include can be %(allowed)s"), "_include",
                          allowed=" | ".join(sorted(INCLUDES)))
    count = search.count(request.query_params.getlist("_count"))
    order = search.sort(request.query_params.getlist("_sort"), ("-date", "date"))
    when = search.date_range(_values(request, "date"))
    page = service.Page([], None, [])
    updated = search.date_range(_values(request, "_lastUpdated"), parameter="_lastUpdated") \
        if "_lastUpdated" in request.query_params else None
    # Every value Hemma keeps is final: a value is never changed, only added.
    statuses = {search.token(v)[1] for v in _values(request, "status")}
    if patient_id is not None and (not statuses or "final" in statuses):
        page = service.search_observations(
            db, principal.subject, patient_id=patient_id, when=when, parameters=_codes(request),
            newest_first=order == "-date", count=count,
            cursor=request.query_params.get("_cursor"), updated=updated)
    entries = [{"resource": r} for r in page.resources]
    if includes and page.resources:
        entries.append({"resource": service.read_patient(db, principal.subject, patient_id),
                        "mode": "include"})
    return FhirResponse(resources.bundle(
        "searchset", entries, self_url=self_url(request),
        next_url=next_url(request, page.next_cursor) if page.next_cursor else None,
        base=_base(request)))


# --- Writes ---------------------------------------------------------------------------------

Writer = Annotated[Principal, Depends(FhirAccess("Observation", "c", Action.OBSERVE))]
Resource = Annotated[dict, Depends(fhir_body)]


def _condition(request: Request) -> tuple[str | None, str] | None:
    """The conditional create's condition: the `If-None-Exist` header, or the same search in
    the POST's query (`POST /Observation?identifier=system|value`, as fhirpy's get_or_create
    sends it). Any other parameter is refused by name: a condition Hemma ignored would make
    a resend a second value."""
    header = request.headers.get("if-none-exist")
    for name in request.query_params:
        if name not in ("identifier", "_format"):
            raise SearchError(N_("If-None-Exist can be identifier=system|value"), name)
    queried = values(request, "identifier")
    if header is None and queried:
        if len(queried) > 1:
            raise SearchError(N_("If-None-Exist can be identifier=system|value"), "identifier")
        header = f"identifier={queried[0]}"
    elif header is not None and queried and header.strip() != f"identifier={queried[0]}":
        raise SearchError(N_("If-None-Exist can be identifier=system|value"), "identifier")
    if header is None:
        return None
    name, _, value = header.partition("=")
    if name.strip() != "identifier" or not value.strip():
        raise SearchError(N_("If-None-Exist can be identifier=system|value"), "If-None-Exist")
    return search.token(value.strip())


def _performer(principal: Principal) -> str:
    return "device" if principal.profession == "system" else "staff"


@router.post("/Observation", status_code=201, response_class=FhirResponse)
def create_observation(request: Request, body: Resource, db: DbSession, principal: Writer):
    """Record a device's (or an app's) vital sign. With `If-None-Exist:
    identifier=system|value` (the Observation's own identifier), a resend answers 200 with
    what was recorded the first time, and nothing changes."""
    item = service.submission(body, _condition(request))
    (made,) = service.create_observations(db, principal.subject, [item],
                                          performer=_performer(principal))
    resource = made.resource
    location = f"{_base(request)}Observation/{resource['id']}/_history/" \
               f"{resource['meta']['versionId']}"
    return versioned(resource, 201 if made.created else 200, {"Location": location})


MAX_ENTRIES = 1000  # entries of one transaction Bundle


# The base with its trailing slash too: fhirclient posts a Bundle to "<base>/", and a
# redirect would answer a gateway's batch with a 307 instead of the transaction's outcome.
@router.post("/", response_class=FhirResponse, include_in_schema=False)
@router.post("", response_class=FhirResponse)
def transaction(request: Request, body: Resource, db: DbSession, principal: Writer):
    """A transaction Bundle of Observations (a home gateway's batch): all or nothing. Each
    entry is `POST Observation`, with `ifNoneExist` for exactly-once; one entry Hemma cannot
    take refuses the Bundle with that entry named, and nothing is saved."""
    if body.get("resourceType") != "Bundle" or body.get("type") != "transaction":
        raise vitals.NotUnderstood(N_("Send a Bundle of type transaction"), "Bundle.type")
    entries = body.get("entry") or []
    if not isinstance(entries, list) or not entries:
        raise vitals.NotUnderstood(N_("The Bundle has no entries"), "Bundle.entry")
    if len(entries) > MAX_ENTRIES:
        raise vitals.NotUnderstood(N_("At most %(max)s entries in one Bundle"), "Bundle.entry",
                                   max=MAX_ENTRIES)
    items = []
    for i, entry in enumerate(entries):
        where = f"Bundle.entry[{i}]"
        req = entry.get("request") if isinstance(entry, dict) else None
        if not isinstance(req, dict) or req.get("method") != "POST" or str(
                req.get("url", "")).strip("/") != "Observation":
            raise vitals.NotUnderstood(N_("Each entry must be POST Observation"),
                                       f"{where}.request")
        condition = None
        if req.get("ifNoneExist"):
            name, _, value = str(req["ifNoneExist"]).partition("=")
            if name != "identifier" or not value:
                raise vitals.NotUnderstood(N_("If-None-Exist can be identifier=system|value"),
                                           f"{where}.request.ifNoneExist")
            condition = search.token(value)
        try:
            items.append(service.submission(entry.get("resource"), condition))
        except vitals.NotUnderstood as e:
            raise vitals.NotUnderstood(e.message, f"{where}.resource."
                                       f"{e.path.removeprefix('Observation.')}", **e.params
                                       ) from None
    made = service.create_observations(db, principal.subject, items,
                                       performer=_performer(principal))
    base = _base(request)
    return FhirResponse({"resourceType": "Bundle", "type": "transaction-response", "entry": [
        {"fullUrl": f"{base}Observation/{m.resource['id']}",
         "resource": m.resource,
         "response": {"status": "201 Created" if m.created else "200 OK",
                      "location": f"Observation/{m.resource['id']}/_history/"
                                  f"{m.resource['meta']['versionId']}"}}
        for m in made]})


# --- The patient's answers ------------------------------------------------------------------

ANSWERS = capability.register(Kind(
    "QuestionnaireResponse", ("read", "vread", "search-type", "create"),
    (("patient", "reference"), ("subject", "reference"), ("authored", "date")),
    conditional_create=True,
    documentation="The patient's answers to their pathway's symptom questions, 'I feel "
                  "worse' (linkId feeling-worse) and their own words (linkId note)."))
AnswersSearcher = Annotated[Principal, Depends(FhirAccess("QuestionnaireResponse", "s"))]
serve_reads(router, "QuestionnaireResponse", "answers_id", uuid.UUID,
            lambda db, p, id_, _r: service.read_answers(db, p.subject, id_),
            "One submission's answers.")
AnswersWriter = Annotated[Principal, Depends(FhirAccess("QuestionnaireResponse", "c",
                                                        Action.OBSERVE))]


@router.get("/QuestionnaireResponse", response_class=FhirResponse)
def search_answers(request: Request, db: DbSession, principal: AnswersSearcher):
    """A patient's answers, newest first (`authored` with prefixes)."""
    _check(request, ANSWERS)
    patient_id = _patient_of(request)
    when = search.date_range(_values(request, "authored"), parameter="authored")
    found = service.search_answers(db, principal.subject, patient_id, when) \
        if patient_id is not None else []
    count = search.count(request.query_params.getlist("_count"))
    return FhirResponse(resources.bundle(
        "searchset", [{"resource": r} for r in found[:count]], self_url=self_url(request),
        total=len(found), base=_base(request)))


@router.post("/QuestionnaireResponse", status_code=201, response_class=FhirResponse)
def create_answers(request: Request, body: Resource, db: DbSession, principal: AnswersWriter):
    """Record a patient app's answers (checked against the alert rules like the patient's
    own page); with `If-None-Exist: identifier=system|value`, a resend changes nothing."""
    made = service.create_answers(db, principal.subject, body, _condition(request),
                                  performer="patient" if principal.profession == "system"
                                  else "staff")
    resource = made.resource
    location = f"{_base(request)}QuestionnaireResponse/{resource['id']}/_history/" \
               f"{resource['meta']['versionId']}"
    return versioned(resource, 201 if made.created else 200, {"Location": location})
