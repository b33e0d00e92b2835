"""What every FHIR route shares: the media type, the access declaration (`FhirAccess`: the
role's action, and the SMART scope of the resource type and interaction), the search
parameter checks, paging links and reading a posted resource (JSON only, within a size and
a depth)."""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from hemma.access import audit
from hemma.access.policy import Action
from hemma.fhir import scopes
from hemma.fhir.search import SearchError
from hemma.kit.errors import Forbidden, Invalid, NotFound, TooLarge, Unsupported
from hemma.kit.text import N_
from hemma.kit.validation import has_control_characters, load_json
from hemma.web.deps import CurrentPrincipal, DbSession, Principal, StaffAccess

FHIR_JSON = "application/fhir+json"
# The search parameters every type takes besides its own.
COMMON = {"_count", "_format", "_cursor"}
MAX_VALUE = 300  # characters in one search value
MAX_BODY = 1_000_000  # bytes of one resource or Bundle
MAX_DEPTH = 12  # a FHIR Observation nests 5 deep; a Bundle of them 8
# SMART interactions: read, search, create, update (as in the v2 scopes `.rscud`).
INTERACTIONS = frozenset("rscu")


class FhirResponse(JSONResponse):
    media_type = FHIR_JSON


class FhirAccess(StaffAccess):
    """The access declaration of a FHIR route: a signed-in user or system client whose role
    allows `action`, on `resource_type` with `interaction` (r, s, c or u), and for a system
    client's token, whose SMART scopes allow that interaction on that type. The per-patient
    check is the service's, through the same `can()` as the pages."""

    def __init__(self, resource_type: str, interaction: str, action: Action = Action.READ):
        assert interaction in INTERACTIONS, interaction
        super().__init__(action)
        self.resource_type = resource_type
        self.interaction = interaction

    def __call__(self, principal: CurrentPrincipal, db: DbSession) -> Principal:
        if principal.scope is not None and not scopes.allows(
                scopes.parse(principal.scope), self.resource_type, self.interaction):
            # A system client asked for more than its token's scopes: refused before any
            # data is read, and logged like any refusal.
            audit.record(db, None, "fhir.scope_denied", outcome="denied",
                         detail=f"{self.resource_type}.{self.interaction} not in "
                                f"{principal.scope!r}")
            raise Forbidden(N_("The token's scopes do not allow this (%(type)s.%(interaction)s)"),
                            type=self.resource_type, interaction=self.interaction)
        return super().__call__(principal, db)


def base(request: Request) -> str:
    return str(request.base_url) + "fhir/"


def check(request: Request, allowed: set[str]) -> None:
    """Refuse a search parameter the type does not take, by name: a typo must not quietly
    widen a search."""
    for name in request.query_params:
        if name not in allowed and name not in COMMON:
            raise SearchError(N_("Unknown search parameter: %(name)s"), name, name=name)
    fmt = request.query_params.get("_format")
    if fmt and "json" not in fmt:
        raise SearchError(N_("Only JSON is served (_format=json)"), "_format")


def values(request: Request, name: str) -> list[str]:
    """A parameter's values (repeated, or comma-separated), checked for length and control
    characters."""
    out = [v for item in request.query_params.getlist(name) for v in item.split(",") if v]
    if any(has_control_characters(v) or len(v) > MAX_VALUE for v in out):
        raise SearchError(N_("Contains characters that are not allowed"), name)
    return out


def patient_param(request: Request, *names: str) -> uuid.UUID | None:
    """Whose resources a search asks for (`patient=<id>` or `Patient/<id>`, or one of
    `names`): required, since a search across patients is no one's need; None for an id no
    patient has."""
    refs = [v for name in names or ("patient",) for v in values(request, name)]
    if not refs:
        raise SearchError(N_("Say whose: patient=<id>"), "patient")
    ref = refs[-1].removeprefix(base(request)).removeprefix("Patient/")
    try:
        return uuid.UUID(ref)
    except ValueError:
        return None  # no patient has that id


def self_url(request: Request) -> str:
    return str(request.url)


def next_url(request: Request, cursor: str) -> str:
    from urllib.parse import urlencode

    params = [(k, v) for k, v in request.query_params.multi_items() if k != "_cursor"]
    params.append(("_cursor", cursor))
    return f"{request.base_url}{request.url.path.lstrip('/')}?{urlencode(params)}"


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


def versioned(resource: dict, status_code: int = 200, headers: dict | None = None
              ) -> FhirResponse:
    """A resource with its version as a weak ETag and its Last-Modified."""
    out = dict(headers or {})
    meta = resource.get("meta") or {}
    if meta.get("versionId"):
        out["ETag"] = f'W/"{meta["versionId"]}"'
    return FhirResponse(resource, status_code=status_code, headers=out)


def same_version(resource: dict, version_id: str) -> dict:
    """vread: Hemma keeps the current version of each resource; another is not found."""
    if (resource.get("meta") or {}).get("versionId") != version_id:
        raise NotFound()
    return resource


MAX_ROW_ID = 2**63 - 1


def _id_parser(id_type: object) -> Callable[[str], object]:
    """A FHIR id as the row's id. Any FHIR id Hemma did not make (`Patient/example`) names
    nothing here: 404, as the specification asks, not a 422 about its form."""
    if id_type is str:
        return lambda value: value

    def parse(value: str):
        try:
            if id_type is uuid.UUID:
                return uuid.UUID(value)
            number = int(value)
            if value.isdigit() and 0 < number <= MAX_ROW_ID:
                return number
        except ValueError:
            pass
        raise NotFound()

    return parse


def serve_reads(router, resource_type: str, param: str, id_type: object,
                read: Callable[[Session, Principal, object, Request], dict], doc: str,
                action: Action = Action.READ) -> None:
    """The read (`GET <type>/<id>`) and vread (`GET <type>/<id>/_history/<version>`) of a
    type, both through `read(db, principal, id, request)` (which checks access and logs) and
    both declaring `FhirAccess(type, "r", action)`. `param` names the id in the path (the
    access matrix fills each by its name)."""
    reader = Annotated[Principal, Depends(FhirAccess(resource_type, "r", action))]
    keyword = inspect.Parameter.KEYWORD_ONLY
    parse = _id_parser(id_type)

    def read_one(**kw):
        return versioned(read(kw["db"], kw["principal"], parse(kw[param]), kw["request"]))

    def vread_one(**kw):
        return versioned(same_version(read(kw["db"], kw["principal"], parse(kw[param]),
                                           kw["request"]), kw["version_id"]))

    common = [inspect.Parameter("request", keyword, annotation=Request),
              inspect.Parameter("db", keyword, annotation=DbSession),
              inspect.Parameter("principal", keyword, annotation=reader)]
    read_one.__signature__ = inspect.Signature(
        [inspect.Parameter(param, keyword, annotation=str), *common])
    vread_one.__signature__ = inspect.Signature(
        [inspect.Parameter(param, keyword, annotation=str),
         inspect.Parameter("version_id", keyword, annotation=str), *common])
    name = resource_type[0].lower() + resource_type[1:]
    read_one.__name__, vread_one.__name__ = f"read_{name}", f"vread_{name}"
    read_one.__doc__ = doc
    vread_one.__doc__ = f"The current version of a {resource_type}, by its version id."
    router.add_api_route(f"/{resource_type}/{{{param}}}", read_one, methods=["GET"],
                         response_class=FhirResponse)
    router.add_api_route(f"/{resource_type}/{{{param}}}/_history/{{version_id}}", vread_one,
                         methods=["GET"], response_class=FhirResponse)
