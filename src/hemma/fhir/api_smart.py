"""SMART Backend Services over HTTP: the token endpoint (`POST /fhir/auth/token`) and the
discovery document (`GET /fhir/.well-known/smart-configuration`). Both are open to everyone
(the token endpoint is where a client proves who it is); their answers are OAuth's JSON, not
FHIR's OperationOutcomes (RFC 6749 5.2)."""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from hemma.fhir import smart
from hemma.fhir.http import base
from hemma.web.deps import DbSession, Public, client_addr

router = APIRouter(prefix="/fhir", tags=["FHIR R4"])

TOKEN_PATH = "auth/token"
MAX_FORM = 16_000  # bytes: an assertion and a few scopes
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def token_url(request: Request) -> str:
    """The token endpoint's own URL: what a client's assertion must name as its `aud`."""
    return base(request) + TOKEN_PATH


def _oauth_error(error: str, description: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description},
                        status_code=status, headers=NO_STORE)


@router.post("/" + TOKEN_PATH, dependencies=[Depends(Public())])
async def token(request: Request, db: DbSession):
    """OAuth2 client_credentials with a signed JWT (`private_key_jwt`): a short-lived bearer
    token for the FHIR API, for the scopes asked for that the client is registered for."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        return _oauth_error("invalid_request",
                            "send application/x-www-form-urlencoded (RFC 6749 4.4)")
    raw = await request.body()
    if len(raw) > MAX_FORM:
        return _oauth_error("invalid_request", f"the request is larger than {MAX_FORM} bytes")
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False,
                          max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        return _oauth_error("invalid_request", "the form cannot be read")
    names = [name for name, _ in pairs]
    if len(names) != len(set(names)):
        # RFC 6749 3.2: parameters must not be repeated.
        return _oauth_error("invalid_request", "a parameter is repeated")
    answer = smart.issue_token(db, dict(pairs), token_url=token_url(request),
                               client_addr=client_addr(request))
    return JSONResponse(answer.body, status_code=answer.status, headers=NO_STORE)


@router.get("/.well-known/smart-configuration", dependencies=[Depends(Public())])
def smart_configuration(request: Request):
    """How a backend client gets a token (SMART App Launch 2: discovery)."""
    return JSONResponse({
        "token_endpoint": token_url(request),
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": list(smart.ALGORITHMS),
        "grant_types_supported": [smart.GRANT_TYPE],
        # Examples: any system/ or user/ scope of a type Hemma serves, v2 or v1.
        "scopes_supported": ["system/*.rs", "system/*.cru", "system/Observation.c",
                             "system/Observation.rs", "system/Patient.rs", "user/*.rs"],
        "capabilities": ["client-confidential-asymmetric", "permission-v1", "permission-v2"],
    })
