"""FHIR R4 over HTTP (`/fhir`): the capability statement, and reading and searching patients
and their vital signs, beside the JSON API and through the same access check. Answers are
`application/fhir+json`; every error is an OperationOutcome (app.py), in Swedish unless
`Accept-Language` asks for English."""

from __future__ import annotations

import uuid
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from hemma.access.policy import Action
from hemma.fhir import resources, search, service, vitals
from hemma.fhir.search import SearchError
from hemma.kit.errors import Invalid, TooLarge, Unsupported
from hemma.kit.text import N_
from hemma.kit.validation import has_control_characters, load_json
from hemma.web.deps import DbSession, Principal, Public, StaffAccess
from hemma.web.routing import JsonRoute

router = APIRouter(prefix="/fhir", route_class=JsonRoute, tags=["FHIR R4"])
Reader = Annotated[Principal, Depends(StaffAccess(Action.READ))]
FHIR_JSON = "application/fhir+json"


class FhirResponse(JSONResponse):
    media_type = FHIR_JSON


# The search parameters each type takes; any other is refused by name (a typo must not
# quietly widen a search).
COMMON = {"_count", "_format", "_cursor"}
PATIENT_PARAMETERS = COMMON | {"identifier", "_id"}
OBSERVATION_PARAMETERS = COMMON | {"patient", "subject", "date", "code", "category", "_sort",
                                   "_include"}
INCLUDES = {"Observation:patient", "Observation:subject"}
MAX_VALUE = 300  # characters in one search value


def _base(request: Request) -> str:
    return str(request.base_url) + "fhir/"


def _check(request: Request, allowed: set[str]) -> None:
    for name in request.query_params:
        if name not in allowed:
            raise SearchError(N_("Unknown search parameter: %(name)s"), name, name=name)
    fmt = request.query_params.get("_format")
    if fmt and "json" not in fmt:
        raise SearchError(N_("Only JSON is served (_format=json)"), "_format")


def _values(request: Request, name: str) -> list[str]:
    values = [v for item in request.query_params.getlist(name) for v in item.split(",") if v]
    if any(has_control_characters(v) or len(v) > MAX_VALUE for v in values):
        raise SearchError(N_("Contains characters that are not allowed"), name)
    return values


def _self_url(request: Request) -> str:
    return str(request.url)


def _next_url(request: Request, cursor: str) -> str:
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "_cursor"]
    params.append(("_cursor", cursor))
    return f"{request.base_url}{request.url.path.lstrip('/')}?{urlencode(params)}"


@router.get("/metadata", dependencies=[Depends(Public())], response_class=FhirResponse)
def metadata(request: Request):
    """The CapabilityStatement: what this server does, and nothing it does not."""
    return FhirResponse(capability_statement(_base(request)))


@router.get("/Patient/{patient_id}", response_class=FhirResponse)
def read_patient(patient_id: uuid.UUID, db: DbSession, principal: Reader):
    """Read a patient (404 for one the caller may not read, as for one that does not exist)."""
    return FhirResponse(service.read_patient(db, principal.subject, patient_id))


@router.get("/Patient", response_class=FhirResponse)
def search_patients(request: Request, db: DbSession, principal: Reader):
    """Search patients by personnummer or samordningsnummer (`identifier=system|value`) or
    id: only those the caller may read."""
    _check(request, PATIENT_PARAMETERS)
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
        "searchset", [{"resource": r} for r in found], self_url=_self_url(request),
        total=len(found), base=_base(request)))


@router.get("/Observation/{observation_id}", response_class=FhirResponse)
def read_observation(observation_id: str, db: DbSession, principal: Reader):
    """Read one value (an id Hemma made: the submission and the parameter)."""
    return FhirResponse(service.read_observation(db, principal.subject, observation_id))


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
    refs = _values(request, "patient") + _values(request, "subject")
    if not refs:
        raise SearchError(N_("Say whose values: patient=<id>"), "patient")
    ref = refs[-1].removeprefix(_base(request)).removeprefix("Patient/")
    try:
        return uuid.UUID(ref)
    except ValueError:
        return None  # no patient has that id


@router.get("/Observation", response_class=FhirResponse)
def search_observations(request: Request, db: DbSession, principal: Reader):
    """A patient's values, each its own Observation, newest first by default, a page at a
    time with `next` links; `_include=Observation:patient` adds the Patient."""
    _check(request, OBSERVATION_PARAMETERS)
    patient_id = _patient_of(request)
    includes = set(_values(request, "_include"))
    if includes - INCLUDES:
        raise SearchError(N_("_include can be %(allowed)s"), "_include",
                          allowed=" | ".join(sorted(INCLUDES)))
    count = search.count(request.query_params.getlist("_count"))
    order = search.sort(request.query_params.getlist("_sort"), ("-date", "date"))
    when = search.date_range(_values(request, "date"))
    page = service.Page([], None, [])
    if patient_id is not None:
        page = service.search_observations(
            db, principal.subject, patient_id=patient_id, when=when, parameters=_codes(request),
            newest_first=order == "-date", count=count,
            cursor=request.query_params.get("_cursor"))
    entries = [{"resource": r} for r in page.resources]
    if includes and page.resources:
        entries.append({"resource": service.read_patient(db, principal.subject, patient_id),
                        "mode": "include"})
    return FhirResponse(resources.bundle(
        "searchset", entries, self_url=_self_url(request),
        next_url=_next_url(request, page.next_cursor) if page.next_cursor else None,
        base=_base(request)))


# --- Writes ---------------------------------------------------------------------------------

Writer = Annotated[Principal, Depends(StaffAccess(Action.OBSERVE))]
MAX_BODY = 1_000_000  # bytes of one resource or Bundle
MAX_DEPTH = 12  # a FHIR Observation nests 5 deep; a Bundle of them 8


async def fhir_body(request: Request) -> dict:
    """The request's resource: JSON only (XML is refused with 415, never parsed: no XML
    parser, no DTDs), within a size and a depth."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in (FHIR_JSON, "application/json"):
        raise Unsupported(N_("Send FHIR JSON (Content-Type: application/fhir+json)"),
                          field="Content-Type")
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise TooLarge(N_("The resource is too large: at most %(max)s bytes"), field="body",
                       max=MAX_BODY)
    body = load_json(raw)
    if _depth(body) > MAX_DEPTH:
        raise Invalid(N_("The resource is nested too deeply"), field="body")
    if not isinstance(body, dict):
        raise Invalid(N_("Send one resource (a JSON object)"), field="body")
    return body


def _depth(value, level: int = 0) -> int:
    if level > MAX_DEPTH:
        return level
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level + 1)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level + 1)
    return level


Resource = Annotated[dict, Depends(fhir_body)]


def _condition(request: Request) -> tuple[str | None, str] | None:
    header = request.headers.get("if-none-exist")
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
    return FhirResponse(resource, status_code=201 if made.created else 200,
                        headers={"Location": location,
                                 "ETag": f'W/"{resource["meta"]["versionId"]}"'})


MAX_ENTRIES = 1000  # entries of one transaction Bundle


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


def capability_statement(base: str) -> dict:
    """What the server supports, as it is: read and search of Patient and Observation, JSON
    only, with the search parameters above."""

    def params(*pairs):
        return [{"name": n, "type": t} for n, t in pairs]

    return {
        "resourceType": "CapabilityStatement", "id": "hemma", "status": "active",
        "date": "2026-12-04", "kind": "instance", "fhirVersion": resources.FHIR_VERSION,
        "format": [FHIR_JSON, "json"], "publisher": "Hemma",
        "software": {"name": "Hemma"},
        "implementation": {"description": "Hemma: hospital-level care at home", "url": base},
        "rest": [{
            "mode": "server",
            "interaction": [{"code": "transaction"}],
            "security": {"description": "A bearer token of a Hemma user or system account; "
                                        "every read goes through the same access check as "
                                        "Hemma's pages."},
            "resource": [
                {"type": "Patient", "profile": resources.SE_BASE_PATIENT,
                 "interaction": [{"code": "read"}, {"code": "search-type"}],
                 "searchParam": params(("identifier", "token"), ("_id", "token"))},
                {"type": "Observation", "profile": vitals.VITALS_PROFILE,
                 "interaction": [{"code": "read"}, {"code": "search-type"},
                                 {"code": "create"}],
                 "conditionalCreate": True,
                 "searchInclude": sorted(INCLUDES),
                 "searchParam": params(("patient", "reference"), ("subject", "reference"),
                                       ("date", "date"), ("code", "token"),
                                       ("category", "token"))},
            ]}],
    }
