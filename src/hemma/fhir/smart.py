"""SMART Backend Services: system clients (device gateways, journal systems) registered with
their public keys, and the token endpoint's one grant: OAuth2 client credentials with a JWT
the client signs with its private key (`private_key_jwt`, RFC 7523).

A client acts as one staff account of profession "system" in a unit, so every FHIR read,
search and write it makes goes through the same `can()` as that account's would; the scopes
granted only narrow it (`hemma.fhir.scopes`, enforced by `FhirAccess`). Verifying the
assertion is PyJWT's, with the algorithms named (asymmetric only: `none` and HS* never
verify); the `jti` of every assertion is kept in the database until it expires, so a copied
assertion is refused in every process."""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hemma.access import audit
from hemma.access.auth import actor_for, create_client_token
from hemma.fhir import scopes
from hemma.kit.time import utcnow
from hemma.kit.validation import has_control_characters
from hemma.models import ClientAssertion, Profession, Staff, SystemClient

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
GRANT_TYPE = "client_credentials"
# What SMART requires servers to support; both asymmetric. A shared-secret algorithm would
# let anyone holding the public key sign.
ALGORITHMS = ("RS384", "ES384")
TOKEN_SECONDS = 300  # SMART: an access token lives at most five minutes
MAX_AHEAD = timedelta(minutes=5)  # an assertion's exp at most this far ahead
LEEWAY = 30  # seconds of clock difference tolerated between a device and Hemma
MAX_ASSERTION = 8000  # characters
CLIENT_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class ClientError(ValueError):
    """A registration Hemma will not make; the message says why."""


# --- Registration (the `hemma clients` command) --------------------------------------------

def public_jwks(jwks: dict) -> dict:
    """A JWKS of public signing keys Hemma can verify (EC P-384 or RSA); refuses private
    keys (a JWK with `d`): the private key stays with the device."""
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(keys, list) or not keys:
        raise ClientError('a JWKS is {"keys": [...]} with at least one key')
    for key in keys:
        if not isinstance(key, dict) or key.get("kty") not in ("EC", "RSA"):
            raise ClientError("each key must be an EC or RSA JWK")
        if "d" in key or "p" in key:
            raise ClientError("a private key was given: register the public key only")
        if key.get("alg") is not None and key["alg"] not in ALGORITHMS:
            raise ClientError(f"alg must be one of {', '.join(ALGORITHMS)}")
        try:
            jwt.PyJWK(key, key.get("alg") or ("ES384" if key["kty"] == "EC" else "RS384"))
        except (jwt.PyJWTError, ValueError, TypeError, KeyError) as exc:
            raise ClientError(f"a key cannot be read: {exc}") from None
    return {"keys": keys}


def register_client(session: Session, *, client_id: str, name: str, staff: Staff, scope: str,
                    jwks: dict) -> SystemClient:
    """Register a client acting as `staff` (a system account), allowed at most `scope`."""
    if not CLIENT_ID.fullmatch(client_id):
        raise ClientError("client_id: letters, digits, . _ - (at most 64)")
    if staff.profession != Profession.SYSTEM:
        raise ClientError(f"{staff.username} is not a system account (profession system)")
    try:
        granted = scopes.parse(scope)
    except scopes.ScopeError as exc:
        raise ClientError(str(exc)) from None
    if not granted:
        raise ClientError("give at least one scope, e.g. system/Observation.c")
    if session.scalar(select(SystemClient.id).where(SystemClient.client_id == client_id)):
        raise ClientError(f"client {client_id} is already registered")
    client = SystemClient(client_id=client_id, name=name.strip()[:100], staff_id=staff.id,
                          scope=scopes.render(granted), jwks=public_jwks(jwks),
                          created_at=utcnow())
    session.add(client)
    session.flush()
    audit.record(session, None, "smart.client_registered", basis="role",
                 detail=f"client {client_id} as {staff.username}: {client.scope}")
    return client


def disable_client(session: Session, client: SystemClient) -> None:
    """The client gets no more tokens, and the ones it has stop working at once."""
    if client.disabled_at is None:
        client.disabled_at = utcnow()
        audit.record(session, None, "smart.client_disabled", basis="role",
                     detail=f"client {client.client_id}")


def keygen(alg: str = "ES384") -> tuple[dict, dict]:
    """A new key pair for a device: (private JWK, public JWKS), with a random key id."""
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    if alg == "ES384":
        private = ec.generate_private_key(ec.SECP384R1())
        algorithm = jwt.algorithms.ECAlgorithm
    elif alg == "RS384":
        private = rsa.generate_private_key(public_exponent=65537, key_size=3072)
        algorithm = jwt.algorithms.RSAAlgorithm
    else:
        raise ClientError(f"alg must be one of {', '.join(ALGORITHMS)}")
    kid = secrets.token_urlsafe(12)
    extra = {"kid": kid, "alg": alg, "use": "sig"}
    private_jwk = {**json.loads(algorithm.to_jwk(private)), **extra}
    public_jwk = {**json.loads(algorithm.to_jwk(private.public_key())), **extra}
    return private_jwk, {"keys": [public_jwk]}


# --- The token endpoint ---------------------------------------------------------------------

@dataclass
class TokenAnswer:
    """The token endpoint's answer: RFC 6749 JSON and its status."""

    status: int
    body: dict


class _Refused(Exception):
    def __init__(self, error: str, description: str, status: int = 400):
        super().__init__(description)
        self.error, self.description, self.status = error, description, status


def _client_refused(description: str) -> _Refused:
    # RFC 6749 5.2: a client that could not be authenticated is `invalid_client`, 401.
    return _Refused("invalid_client", description, 401)


def _printable(value, limit: int = 64) -> str:
    return re.sub(r"[^\x20-\x7e]", "?", str(value))[:limit]


def issue_token(session: Session, form: dict[str, str], *, token_url: str,
                client_addr: str | None) -> TokenAnswer:
    """client_credentials with a `private_key_jwt` assertion: a bearer token for the scopes
    asked for and registered, or the RFC 6749 error. Issuing and refusing are both logged."""
    client: SystemClient | None = None
    claimed = None
    try:
        if form.get("grant_type") != GRANT_TYPE:
            raise _Refused("unsupported_grant_type" if form.get("grant_type")
                           else "invalid_request", "grant_type must be client_credentials")
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            raise _client_refused(f"client_assertion_type must be {ASSERTION_TYPE}")
        assertion = form.get("client_assertion") or ""
        if not assertion or len(assertion) > MAX_ASSERTION:
            raise _client_refused("client_assertion is missing or too long")
        try:
            header = jwt.get_unverified_header(assertion)
            unverified = jwt.decode(assertion, options={"verify_signature": False})
        except (jwt.PyJWTError, ValueError, TypeError):
            raise _client_refused("client_assertion is not a JWT") from None
        claimed = unverified.get("iss")
        if header.get("alg") not in ALGORITHMS:
            raise _client_refused(f"the assertion must be signed with {' or '.join(ALGORITHMS)}")
        if not isinstance(claimed, str) or claimed != unverified.get("sub"):
            raise _client_refused("iss and sub must both be the client_id")
        if not CLIENT_ID.fullmatch(claimed):
            raise _client_refused("unknown or disabled client")
        if form.get("client_id") not in (None, claimed):
            raise _client_refused("client_id differs from the assertion's iss")
        client = session.scalar(select(SystemClient).where(SystemClient.client_id == claimed))
        if client is None or client.disabled_at is not None:
            raise _client_refused("unknown or disabled client")
        claims = _verify(assertion, header, client, token_url)
        granted = _granted(form.get("scope") or "", client)
        _spend(session, client, claims)
    except _Refused as refused:
        _log(session, client, claimed, client_addr, outcome="denied",
             detail=f"{refused.error}: {refused.description}")
        return TokenAnswer(refused.status, {"error": refused.error,
                                            "error_description": refused.description})
    token = create_client_token(session, client, scopes.render(granted), TOKEN_SECONDS)
    _log(session, client, claimed, client_addr, outcome="allowed",
         detail=f"scope {scopes.render(granted)}")
    return TokenAnswer(200, {"access_token": token, "token_type": "bearer",
                             "expires_in": TOKEN_SECONDS, "scope": scopes.render(granted)})


def _verify(assertion: str, header: dict, client: SystemClient, token_url: str) -> dict:
    """The assertion signed by one of the client's keys, for this token endpoint, unexpired
    and not too long-lived, with a jti."""
    keys = []
    for key in (client.jwks or {}).get("keys", []):
        if header.get("kid") is not None and key.get("kid") != header["kid"]:
            continue
        try:
            keys.append(jwt.PyJWK(key, header["alg"]).key)
        except (jwt.PyJWTError, ValueError, TypeError, KeyError):
            continue  # a key of another type than the algorithm's
    claims = None
    for key in keys:
        try:
            claims = jwt.decode(
                assertion, key, algorithms=[header["alg"]], audience=token_url,
                issuer=client.client_id, leeway=LEEWAY,
                options={"require": ["iss", "sub", "aud", "exp", "jti"]})
            break
        except jwt.InvalidSignatureError:
            continue
        except jwt.ExpiredSignatureError:
            raise _client_refused("the assertion has expired") from None
        except jwt.InvalidAudienceError:
            raise _client_refused(f"aud must be the token endpoint, {token_url}") from None
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise _client_refused(f"the assertion is not valid: {exc}") from None
    if claims is None:
        raise _client_refused("the assertion's signature does not match the client's keys")
    # Compared as numbers: an exp centuries ahead is no date Python can hold.
    if claims["exp"] > (utcnow() + MAX_AHEAD).timestamp() + LEEWAY:
        raise _client_refused("exp must be at most five minutes ahead")
    jti = claims["jti"]
    if not isinstance(jti, str) or not 0 < len(jti) <= 255 or has_control_characters(jti):
        raise _client_refused("jti must be a string of at most 255 characters")
    return claims


def _granted(requested: str, client: SystemClient) -> tuple[scopes.Scope, ...]:
    try:
        asked = scopes.parse(requested)
    except scopes.ScopeError as exc:
        raise _Refused("invalid_scope", str(exc)) from None
    if not asked:
        raise _Refused("invalid_scope", "scope is required, e.g. system/Observation.c")
    granted = scopes.grant(asked, scopes.parse(client.scope))
    if not granted:
        raise _Refused("invalid_scope", "none of the scopes asked for is registered for "
                                        "this client")
    return granted


def _spend(session: Session, client: SystemClient, claims: dict) -> None:
    """Note the assertion's jti; one seen before (in any process) is refused. Kept until
    the assertion could no longer be accepted anyway."""
    now = utcnow()
    session.execute(delete(ClientAssertion).where(
        ClientAssertion.expires_at < now - timedelta(seconds=LEEWAY)))
    keep = datetime.fromtimestamp(claims["exp"], UTC) + timedelta(seconds=LEEWAY)
    seen = session.get(ClientAssertion, (client.id, claims["jti"]))
    if seen is not None:
        raise _client_refused("this assertion (jti) was used before")
    try:
        with session.begin_nested():
            session.add(ClientAssertion(client_id=client.id, jti=claims["jti"],
                                        expires_at=keep))
    except IntegrityError:
        # Another process took it a moment ago.
        raise _client_refused("this assertion (jti) was used before") from None


def _log(session: Session, client: SystemClient | None, claimed, client_addr: str | None, *,
         outcome: str, detail: str) -> None:
    trail = audit.trail(session)
    if client is not None:
        staff = session.get(Staff, client.staff_id)
        trail.actor = actor_for(session, staff, client_addr)
        trail.actor.via = f"client {client.client_id} ({client.name})"
    else:
        trail.actor = audit.Actor(username="(smart client)", client_addr=client_addr)
        if claimed is not None:
            detail = f"client {_printable(claimed)!r}; {detail}"
    audit.record(session, None, "smart.token", basis="role" if outcome == "allowed" else "none",
                 outcome=outcome, detail=detail[:500])
