"""Staff login through the region's identity provider: OpenID Connect, the way SITHS eID
reaches web applications (Inera's IdP, or the region's own).

The authorization code flow with PKCE (S256), `state` and `nonce`, through Authlib's client
(`OAuth2Session`: the authorization URL, the code challenge, the token request with the
client's authentication); the ID token is checked with joserfc (Authlib's JOSE library):
signature against the provider's published keys (fetched from its discovery document and
cached; fetched again when a token names a key not yet seen, as after a key rotation),
issuer, audience (and `azp` when there are several), `exp` and `iat` with the allowed clock
skew, and the nonce of this browser's own pending login.

The pending login lives in the database (`oidc_logins`), not in a signed cookie: a cookie
can say where a login came from but cannot be used up, and the callback must be good once in
whichever app process it reaches. The row is claimed by one conditional update (state known,
not used, not expired, and started by this very browser: the random token in its cookie), so
a replayed callback — the same `state`, or a token carrying that login's nonce — finds it
used. The browser's token is a cookie of its own on `/login/oidc`, SameSite=Lax (the
provider sends the browser back with a top-level GET from another site).

No database transaction is open while the provider is asked anything: the callback claims
the pending login in one short unit of work, asks the provider for the tokens and checks
them with none open, and starts the session in a second one (on SQLite an open transaction
holds the write lock every other request waits for).

The account is found by the HSA-id in the configured claim, never created: an HSA-id no
account carries is refused and logged. Every refusal has a message a nurse can act on, and
names no secret; it is logged (`auth.login`, refused, with the reason in the detail), and
nothing of it remains but that entry and the used pending login.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta

import requests
from authlib.common.security import generate_token, is_secure_transport
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from authlib.oidc.discovery import OpenIDProviderMetadata
from joserfc import jws, jwt
from joserfc.errors import (
    BadSignatureError,
    ClaimError,
    ExpiredTokenError,
    InvalidKeyIdError,
    JoseError,
)
from joserfc.jwk import KeySet
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from hemma.access import audit
from hemma.access.auth import _token_hash, actor_for, start_session
from hemma.access.work import Work
from hemma.config import Settings, get_settings
from hemma.kit.text import N_
from hemma.kit.time import utcnow
from hemma.models import OidcLogin, Staff

log = logging.getLogger("hemma.oidc")

# Time enough to put the card in and type the PIN; after it the callback is refused.
PENDING_MINUTES = 10
# The provider's discovery document is read again after this long (its keys whenever a
# token names one not seen yet).
METADATA_SECONDS = 3600
# Signature algorithms an ID token may use: asymmetric only (never "none", never a MAC
# keyed by the client secret), and of those, what the provider says it uses.
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384",
              "ES512", "EdDSA")

# What the user is told, by reason (the audit entry's detail keeps the exact check).
MESSAGES = {
    "not_configured": N_("Login with SITHS is not set up here. Log in with your username "
                         "and password, or ask your unit's administrator."),
    "unavailable": N_("The region's login service did not answer. Try again in a few "
                      "minutes. If it still does not work, call your IT support."),
    "expired": N_("The login took too long, or was already used. Start again with "
                  "\"Log in with SITHS\"."),
    "cancelled": N_("The login was cancelled at the login service. Start again with "
                    "\"Log in with SITHS\" when you are ready."),
    "invalid": N_("The login service's answer could not be trusted, so you have not been "
                  "logged in. Try again. If it happens again, call your IT support and "
                  "tell them the time."),
    "no_hsa_id": N_("The login service did not send your HSA-id, so Hemma cannot tell which "
                    "account is yours. Ask your IT support to check that Hemma receives "
                    "the HSA-id."),
    "unknown_hsa_id": N_("Your card works, but no account in Hemma has your HSA-id "
                         "(%(hsa_id)s). Ask your unit's administrator to add it to your "
                         "account."),
    "inactive": N_("Your account in Hemma is turned off. Ask your unit's administrator."),
}


class Refused(Exception):
    """A login the provider or Hemma would not let through: `reason` picks the message,
    `check` says exactly what failed (for the log, never shown)."""

    def __init__(self, reason: str, check: str = "", **params):
        super().__init__(f"{reason}: {check}")
        self.reason = reason
        self.check = check or reason
        self.params = params


# --- The provider: discovery and keys, cached per process ------------------------------------


@dataclass
class _Provider:
    metadata: dict
    read_at: float
    keys: KeySet | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


_providers: dict[str, _Provider] = {}
_providers_lock = threading.Lock()


def _get_json(url: str, what: str, settings: Settings) -> dict:
    try:
        response = requests.get(url, timeout=settings.oidc_timeout_seconds,
                                headers={"Accept": "application/json"})
        response.raise_for_status()
        data = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise Refused("unavailable", f"unavailable {what} {type(exc).__name__}") from None
    if not isinstance(data, dict):
        raise Refused("unavailable", f"unavailable {what} not a JSON object")
    return data


def _provider(settings: Settings) -> _Provider:
    issuer = settings.oidc_issuer
    with _providers_lock:
        cached = _providers.get(issuer)
    if cached is not None and time.monotonic() - cached.read_at < METADATA_SECONDS:
        return cached
    if not is_secure_transport(issuer):
        raise Refused("unavailable", "unavailable discovery the issuer is not https")
    data = _get_json(issuer.rstrip("/") + "/.well-known/openid-configuration", "discovery",
                     settings)
    metadata = OpenIDProviderMetadata(data)
    try:
        metadata.validate()
    except ValueError as exc:
        raise Refused("unavailable", f"unavailable discovery {exc}") from None
    # OpenID Connect Discovery 4.3: the document must name exactly the issuer asked for.
    if metadata["issuer"] != issuer:
        raise Refused("unavailable", "unavailable discovery names another issuer")
    methods = metadata.get("code_challenge_methods_supported")
    if methods is not None and "S256" not in methods:
        raise Refused("unavailable", "unavailable discovery offers no PKCE with S256")
    provider = _Provider(dict(metadata), time.monotonic())
    with _providers_lock:
        _providers[issuer] = provider
    return provider


def _keys(provider: _Provider, settings: Settings, *, refresh: bool) -> KeySet:
    with provider.lock:
        if provider.keys is None or refresh:
            data = _get_json(provider.metadata["jwks_uri"], "jwks", settings)
            try:
                keys = [k for k in data.get("keys", []) if isinstance(k, dict)
                        and k.get("use", "sig") == "sig"]
                provider.keys = KeySet.import_key_set({"keys": keys})
            except (JoseError, ValueError, TypeError) as exc:
                raise Refused("unavailable", f"unavailable jwks {type(exc).__name__}") from None
        return provider.keys


def _algorithms(provider: _Provider) -> list[str]:
    offered = provider.metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
    return [a for a in ALGORITHMS if a in offered]


def _client(settings: Settings, redirect_uri: str, provider: _Provider) -> OAuth2Session:
    secret = settings.oidc_client_secret or None
    if secret is None:
        method = "none"  # a public client: PKCE is what binds the code to this login
    else:
        offered = provider.metadata.get("token_endpoint_auth_methods_supported") or [
            "client_secret_basic"]
        method = "client_secret_basic" if "client_secret_basic" in offered \
            else "client_secret_post"
    return OAuth2Session(settings.oidc_client_id, secret, token_endpoint_auth_method=method,
                         scope=settings.oidc_scopes, redirect_uri=redirect_uri,
                         code_challenge_method="S256")


def forget_providers() -> None:
    """Read the discovery document and keys afresh next time (tests, a new configuration)."""
    with _providers_lock:
        _providers.clear()


# --- Starting a login -----------------------------------------------------------------------

_BROWSER_TOKEN = re.compile(r"^[A-Za-z0-9_\-]{32,64}$")


@dataclass
class Start:
    url: str  # where to send the browser: the provider's authorization endpoint
    browser: str  # the token for the browser's cookie


def begin_login(session: Session, *, next_path: str, browser: str | None, redirect_uri: str,
                client_addr: str | None) -> Start:
    """A new pending login and the provider's address to send the browser to. The provider's
    discovery document is read (or taken from the cache) before the session touches the
    database, so no transaction waits on it. Raises Refused (logged)."""
    settings = get_settings()
    try:
        if not settings.oidc_enabled:
            raise Refused("not_configured")
        provider = _provider(settings)
    except Refused as refused:
        _log_refusal(session, refused, audit.Actor(client_addr=client_addr))
        raise
    # A browser with logins open in two tabs keeps one token: both may come back.
    browser = browser if browser and _BROWSER_TOKEN.match(browser) else secrets.token_urlsafe(32)
    state, nonce, verifier = generate_token(43), generate_token(43), generate_token(64)
    now = utcnow()
    # Logins left unfinished go after a day (kept that long to tell "used" from "unknown").
    session.execute(delete(OidcLogin).where(OidcLogin.expires_at < now - timedelta(days=1)))
    session.add(OidcLogin(state_hash=_token_hash(state), browser_hash=_token_hash(browser),
                          nonce=nonce, code_verifier=verifier, next_path=next_path[:500],
                          created_at=now,
                          expires_at=now + timedelta(minutes=PENDING_MINUTES)))
    extra = {}
    if provider.metadata.get("claims_parameter_supported"):
        # Ask for the HSA-id by name, as essential (Inera's IdP then asks the user to choose
        # among their tjänste-id if they have several, and fails the login without one).
        extra["claims"] = json.dumps({"id_token": {settings.oidc_hsa_claim: {
            "essential": True}}}, separators=(",", ":"))
    url, _ = _client(settings, redirect_uri, provider).create_authorization_url(
        provider.metadata["authorization_endpoint"], state=state, code_verifier=verifier,
        nonce=nonce, **extra)
    return Start(url, browser)


# --- Coming back ----------------------------------------------------------------------------


@dataclass
class Done:
    token: str  # the new session's
    next_path: str
    username: str


def complete_login(work: Work, params: dict, *, browser: str | None, redirect_uri: str,
                   client_addr: str | None, user_agent: str | None) -> Done:
    """The provider sent the browser back with `params` (code and state, or an error).
    Returns the new session, or raises Refused (logged; nothing else written)."""
    settings = get_settings()
    anonymous = audit.Actor(client_addr=client_addr)
    try:
        if not settings.oidc_enabled:
            raise Refused("not_configured")
        state = params.get("state") or ""
        error = params.get("error")
        with work() as s:
            pending = _claim(s, state, browser)
        if error:
            # The user pressed cancel, or the provider would not authenticate them.
            raise Refused("cancelled", "cancelled " + re.sub(r"[^a-z_]", "", str(error))[:40])
        code = params.get("code")
        if not code:
            raise Refused("expired", "no_code")
        provider = _provider(settings)
        claims = _tokens(settings, provider, pending, code, redirect_uri)
        hsa_id = claims.get(settings.oidc_hsa_claim)
        if isinstance(hsa_id, list) and len(hsa_id) == 1:
            hsa_id = hsa_id[0]
        if not isinstance(hsa_id, str) or not re.fullmatch(r"[A-Za-z0-9\-]{1,64}", hsa_id):
            raise Refused("no_hsa_id")
    except Refused as refused:
        with work() as s:
            _log_refusal(s, refused, anonymous)
        raise
    refused = None
    with work() as s:
        # HSA-ids are saved in capitals (hemma.access.directory); the claim may not be.
        staff = s.scalars(select(Staff).where(Staff.hsa_id == hsa_id.upper())).first()
        if staff is None:
            # No account is made on the way in: access is given by an administrator.
            refused = Refused("unknown_hsa_id", f"unknown_hsa_id {hsa_id}", hsa_id=hsa_id)
            _log_refusal(s, refused, anonymous)
        elif not staff.active:
            refused = Refused("inactive")
            _log_refusal(s, refused, actor_for(s, staff, client_addr))
        else:
            token = start_session(s, staff, "oidc", client_addr=client_addr,
                                  user_agent=user_agent)
            audit.trail(s).actor = actor_for(s, staff, client_addr)
            audit.record(s, None, "auth.login", basis="role", detail="oidc")
    # Raised only now: the refusal's entry commits with its unit of work.
    if refused is not None:
        raise refused
    return Done(token, pending.next_path, staff.username)


def _claim(session: Session, state: str, browser: str | None) -> OidcLogin:
    """Use up the pending login `state` names, if this browser started it and it is still
    good; otherwise say why not."""
    now = utcnow()
    state_hash = _token_hash(state)
    browser_hash = _token_hash(browser or "")
    claimed = session.execute(
        update(OidcLogin).where(OidcLogin.state_hash == state_hash,
                                OidcLogin.browser_hash == browser_hash,
                                OidcLogin.used_at.is_(None), OidcLogin.expires_at > now)
        .values(used_at=now).execution_options(synchronize_session=False)).rowcount
    row = session.scalar(select(OidcLogin).where(OidcLogin.state_hash == state_hash)) \
        if state else None
    if claimed and row is not None:
        return row
    if row is None:
        raise Refused("expired", "state_unknown")
    if row.browser_hash != browser_hash:
        raise Refused("expired", "other_browser")
    if row.used_at is not None:
        raise Refused("expired", "state_used")
    raise Refused("expired", "state_expired")


def _tokens(settings: Settings, provider: _Provider, pending: OidcLogin, code: str,
            redirect_uri: str) -> dict:
    """Exchange the code (with the PKCE verifier) and check the ID token: its claims."""
    client = _client(settings, redirect_uri, provider)
    try:
        token = client.fetch_token(provider.metadata["token_endpoint"],
                                   grant_type="authorization_code", code=code,
                                   code_verifier=pending.code_verifier,
                                   timeout=settings.oidc_timeout_seconds)
    except OAuthError as exc:
        # The provider refused the code (used, expired, or the verifier did not match).
        raise Refused("invalid", "token_refused " + re.sub(r"[^a-z_]", "",
                                                           str(exc.error))[:40]) from None
    except (requests.RequestException, ValueError) as exc:
        raise Refused("unavailable", f"unavailable token {type(exc).__name__}") from None
    finally:
        client.close()
    id_token = token.get("id_token")
    if not isinstance(id_token, str):
        raise Refused("invalid", "no_id_token")
    return validate_id_token(
        id_token, keys=lambda refresh: _keys(provider, settings, refresh=refresh),
        algorithms=_algorithms(provider), issuer=settings.oidc_issuer,
        client_id=settings.oidc_client_id, nonce=pending.nonce,
        skew=settings.oidc_clock_skew_seconds, now=int(utcnow().timestamp()))


def validate_id_token(id_token: str, *, keys, algorithms: list[str], issuer: str,
                      client_id: str, nonce: str, skew: int, now: int) -> dict:
    """The ID token's claims, once every check holds; else Refused("invalid", check).
    `keys(refresh)` gives the provider's keys (refresh: fetched again)."""
    try:
        header = jws.extract_compact(id_token.encode()).headers()
    except (JoseError, ValueError):
        raise Refused("invalid", "malformed") from None
    if header.get("alg") not in algorithms:
        raise Refused("invalid", "algorithm")
    keyset = keys(False)
    kid = header.get("kid")
    if kid is not None and not any(k.kid == kid for k in keyset.keys):
        keyset = keys(True)  # the provider rotated its keys: read them again, once
    try:
        claims = jwt.decode(id_token, keyset, algorithms=algorithms).claims
    except (BadSignatureError, InvalidKeyIdError):
        raise Refused("invalid", "signature") from None
    except (JoseError, ValueError):
        raise Refused("invalid", "malformed") from None
    # One check at a time, so the log names the first that failed.
    checks = [
        ("issuer", {"iss": {"essential": True, "value": issuer}}),
        ("audience", {"aud": {"essential": True, "value": client_id}}),
        ("expired", {"exp": {"essential": True}}),
        ("iat", {"iat": {"essential": True}}),
        ("subject", {"sub": {"essential": True}}),
        ("nonce", {"nonce": {"essential": True, "value": nonce}}),
    ]
    for check, options in checks:
        try:
            jwt.JWTClaimsRegistry(now=now, leeway=skew, **options).validate(claims)
        except ExpiredTokenError:
            raise Refused("invalid", "expired") from None
        except ClaimError:
            raise Refused("invalid", check) from None
    audience = claims["aud"]
    if isinstance(audience, list) and len(audience) > 1 and claims.get("azp") != client_id:
        raise Refused("invalid", "audience")
    # A token issued long before this login began cannot be this login's answer.
    if claims["iat"] < now - skew - PENDING_MINUTES * 60:
        raise Refused("invalid", "iat")
    return claims


def _log_refusal(session: Session, refused: Refused, actor: audit.Actor) -> None:
    audit.trail(session).actor = actor
    audit.record(session, None, "auth.login", outcome="denied",
                 detail=f"oidc:{refused.check}"[:300])
    # The reason only: the detail (an HSA-id) is for the audit log, not the process log.
    log.warning("OIDC login refused: %s", refused.check.split(" ")[0])


def message(refused: Refused) -> tuple[str, dict]:
    """The msgid and its values for the page."""
    return MESSAGES[refused.reason], refused.params
