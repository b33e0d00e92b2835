"""Login, sessions and API tokens.

An identity provider only answers "which staff account is this?"; everything after that
(a fresh server-side session, its CSRF token, idle timeout, logout) is shared. Passwords are
the built-in provider, allowed where the installation allows them (`passwords_allowed`) and
followed by a code from the user's authenticator app where one is set up or required
(`hemma.access.totp`: the session starts only when the second step is done). The region's
identity provider (SITHS eID over OpenID Connect, `hemma.access.oidc`) resolves the account
from its HSA-id (`Staff.hsa_id`) and calls `start_session` (see ARCHITECTURE.md).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from hemma.access import audit, totp
from hemma.access.service import origin
from hemma.config import get_settings
from hemma.kit.errors import Forbidden, Unauthenticated
from hemma.kit.time import utcnow
from hemma.kit.validation import has_control_characters
from hemma.models import (
    ApiToken,
    ClientToken,
    InstallationSetting,
    LoginAttempt,
    LoginStep,
    PatientAccessCode,
    Relative,
    Staff,
    SystemClient,
    WebSession,
)

_hasher = PasswordHasher()
# Verified against when the username is unknown, so that a wrong username takes as long as a
# wrong password and the response time does not reveal which accounts exist.
_DUMMY_HASH = _hasher.hash("not a real password")

MIN_PASSWORD_LENGTH = 10


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class IdentityProvider(Protocol):
    name: str

    def authenticate(self, session: Session, credentials: dict) -> Staff | None: ...


class PasswordProvider:
    name = "password"

    def authenticate(self, session: Session, credentials: dict) -> Staff | None:
        username = (credentials.get("username") or "").strip().lower()
        password = credentials.get("password") or ""
        staff = session.scalar(select(Staff).where(func.lower(Staff.username) == username))
        stored = staff.password_hash if staff is not None and staff.password_hash else _DUMMY_HASH
        try:
            _hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        if staff is None or not staff.active or not staff.password_hash:
            return None
        if _hasher.check_needs_rehash(staff.password_hash):
            staff.password_hash = hash_password(password)
        return staff


@dataclass
class LoginResult:
    staff: Staff | None
    token: str | None = None
    throttled: bool = False
    # The password was right and a second step follows (the code from the user's app, or
    # setting the app up): the browser gets this token in a cookie, not a session.
    step: str | None = None
    # Refused before the password was looked at: passwords are off in this installation.
    passwords_off: bool = False


# --- Where passwords are allowed -------------------------------------------------------------

PASSWORD_LOGIN = "password_login"


def passwords_allowed(session: Session) -> bool:
    """May staff log in with a password here? The administrators' choice (stored, so it holds
    at once in every process), else HEMMA_PASSWORD_LOGIN; always, while no identity provider
    is configured: an installation can never lock every user out."""
    settings = get_settings()
    if not settings.oidc_enabled:
        return True
    row = session.get(InstallationSetting, PASSWORD_LOGIN)
    if row is None:
        return settings.password_login
    return bool(row.value.get("allowed", True))


def password_login_choice(session: Session) -> bool | None:
    """What the administrators chose (None: nobody has, the environment's default holds)."""
    row = session.get(InstallationSetting, PASSWORD_LOGIN)
    return None if row is None else bool(row.value.get("allowed", True))


def store_password_login(session: Session, allowed: bool, *, by: str) -> None:
    """Record the choice (callers check who may and write the audit entry)."""
    row = session.get(InstallationSetting, PASSWORD_LOGIN)
    if row is None:
        row = InstallationSetting(key=PASSWORD_LOGIN, value={}, changed_at=utcnow(),
                                  changed_by=by)
        session.add(row)
    row.value = {"allowed": allowed}
    row.changed_at, row.changed_by = utcnow(), by[:64]
    session.flush()


# Patient-code attempts are logged under this name, which no staff username can have (they
# are lower-case letters, digits and ._-). Each kind of login has its own per-address counter:
# a patient mistyping codes on a shared network must not lock the nurses out, nor the other
# way round.
PATIENT_CODE_LOGIN = "(patient code)"


def _recent_failures(session: Session, column, value: str, since: datetime, *where) -> int:
    return session.scalar(
        select(func.count()).select_from(LoginAttempt).where(
            column == value, LoginAttempt.at >= since, LoginAttempt.success.is_(False), *where
        )
    ) or 0


def _throttled(session: Session, username: str, client_addr: str | None, now: datetime) -> bool:
    """Too many failures lately, for this username or from this address (a wrong password
    and a wrong code from the authenticator app count alike)."""
    settings = get_settings()
    since = now - timedelta(minutes=settings.login_failure_window_minutes)
    return (
        _recent_failures(session, LoginAttempt.username, username, since)
        >= settings.login_max_failures_per_user
        or (
            client_addr is not None
            and _recent_failures(session, LoginAttempt.client_addr, client_addr, since,
                                 LoginAttempt.username != PATIENT_CODE_LOGIN)
            >= settings.login_max_failures_per_address
        )
    )


def login(
    session: Session,
    provider: IdentityProvider,
    credentials: dict,
    *,
    client_addr: str | None,
    user_agent: str | None,
    next_path: str = "/",
) -> LoginResult:
    """Check throttling, authenticate, and start a session, or the second step when the
    user must type a code from their authenticator app (or set one up) first. The caller
    shows one generic message for every failure, throttled or not."""
    now = utcnow()
    typed = (credentials.get("username") or "").strip().lower()[:64]
    # No account is named with control characters: such a login fails like any other, and
    # is counted under the name without them (the database keeps no NUL in text).
    garbled = has_control_characters(typed)
    username = re.sub(r"[\x00-\x1f\x7f]", "", typed)
    trail = audit.trail(session)
    if provider.name == PasswordProvider.name and not passwords_allowed(session):
        trail.actor = audit.Actor(username=username or None, client_addr=client_addr)
        audit.record(session, None, "auth.login", outcome="denied", detail="password_off")
        return LoginResult(None, passwords_off=True)
    throttled = _throttled(session, username, client_addr, now)
    staff = None if throttled or garbled else provider.authenticate(session, credentials)
    session.add(LoginAttempt(username=username, client_addr=client_addr, at=now,
                             success=staff is not None))
    if staff is None:
        trail.actor = audit.Actor(username=username or None, client_addr=client_addr)
        audit.record(session, None, "auth.login", outcome="denied",
                     detail="throttled" if throttled else None)
        return LoginResult(None, throttled=throttled)
    if provider.name == PasswordProvider.name:
        kind = second_step(session, staff)
        if kind is not None:
            # Nothing is logged yet: the login is logged when its second step ends it.
            return LoginResult(staff, step=_begin_step(session, staff, kind, next_path, now))
    token = start_session(session, staff, provider.name, client_addr=client_addr,
                          user_agent=user_agent)
    trail.actor = actor_for(session, staff, client_addr)
    audit.record(session, None, "auth.login", basis="role", detail=provider.name)
    return LoginResult(staff, token)


# --- The second step of a password login ---------------------------------------------------

# Time enough to type a code, or to install an authenticator app and scan its QR code.
STEP_MINUTES = 10


def second_step(session: Session, staff: Staff) -> str | None:
    """What a right password still needs: "totp" (a code from the app the user set up; asked
    of everyone who has one), "enrol" (codes are required and the user has no app yet), or
    nothing."""
    if totp.is_enrolled(session, staff.id):
        return "totp"
    if get_settings().totp_required:
        return "enrol"
    return None


def _begin_step(session: Session, staff: Staff, kind: str, next_path: str,
                now: datetime) -> str:
    token = secrets.token_urlsafe(32)
    session.add(LoginStep(id=_token_hash(token), staff_id=staff.id, kind=kind,
                          csrf_token=secrets.token_urlsafe(32), next_path=next_path[:500],
                          created_at=now, expires_at=now + timedelta(minutes=STEP_MINUTES)))
    return token


def pending_step(session: Session, token: str | None) -> tuple[LoginStep, Staff] | None:
    """The browser's unfinished login (its cookie's token), while it is good."""
    if not token:
        return None
    row = session.execute(
        select(LoginStep, Staff).join(Staff, Staff.id == LoginStep.staff_id)
        .where(LoginStep.id == _token_hash(token))).one_or_none()
    if row is None:
        return None
    step, staff = row
    if step.ended_at is not None or step.expires_at <= utcnow() or not staff.active:
        return None
    return step, staff


@dataclass
class StepResult:
    token: str | None = None  # the new session's, when the login is done
    next_path: str = "/"
    # Why not: "expired" (start again), "wrong_code" (type it again), "throttled",
    # "passwords_off".
    problem: str | None = None


def complete_step(session: Session, token: str | None, code: str | None, *,
                  client_addr: str | None, user_agent: str | None) -> StepResult:
    """The code from the user's authenticator app: right and new, the login is done and the
    session starts (setting the app up is confirmed by the same code). Wrong codes count as
    failed logins, under the same limits as wrong passwords."""
    now = utcnow()
    found = pending_step(session, token)
    trail = audit.trail(session)
    trail.actor = audit.Actor(client_addr=client_addr)
    if found is None:
        return StepResult(problem="expired")
    step, staff = found
    trail.actor = actor_for(session, staff, client_addr)
    username = staff.username
    if not passwords_allowed(session):
        step.ended_at = now
        audit.record(session, None, "auth.login", outcome="denied", detail="password_off")
        return StepResult(problem="passwords_off")
    if _throttled(session, username, client_addr, now):
        step.ended_at = now
        session.add(LoginAttempt(username=username, client_addr=client_addr, at=now,
                                 success=False))
        audit.record(session, None, "auth.login", outcome="denied", detail="throttled")
        return StepResult(problem="throttled")
    enrolling = step.kind == "enrol"
    if not totp.accept_code(session, staff.id, code, confirming=enrolling):
        session.add(LoginAttempt(username=username, client_addr=client_addr, at=now,
                                 success=False))
        audit.record(session, None, "auth.login", outcome="denied", detail="totp")
        return StepResult(problem="wrong_code", next_path=step.next_path)
    # Good once: the step ends with the login it completes.
    step.ended_at = now
    session.add(LoginAttempt(username=username, client_addr=client_addr, at=now, success=True))
    if enrolling:
        audit.record(session, None, "auth.totp.enrol", basis="role")
    method = "password+totp"
    session_token = start_session(session, staff, method, client_addr=client_addr,
                                  user_agent=user_agent)
    audit.record(session, None, "auth.login", basis="role", detail=method)
    return StepResult(token=session_token, next_path=step.next_path)


def end_steps(session: Session, staff_id: int) -> None:
    """Unfinished logins of the user end (their app was reset, the account turned off)."""
    session.execute(update(LoginStep).where(LoginStep.staff_id == staff_id,
                                            LoginStep.ended_at.is_(None))
                    .values(ended_at=utcnow()))


def start_session(
    session: Session, staff: Staff, method: str, *, client_addr: str | None, user_agent: str | None
) -> str:
    """A fresh, random session id at every login (no session fixation)."""
    settings = get_settings()
    now = utcnow()
    token = secrets.token_urlsafe(32)
    session.add(
        WebSession(
            id=_token_hash(token),
            staff_id=staff.id,
            csrf_token=secrets.token_urlsafe(32),
            auth_method=method,
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(hours=settings.session_absolute_hours),
            client_addr=client_addr,
            user_agent=(user_agent or "")[:300] or None,
        )
    )
    return token


# Writing last_seen on every request would make every page view a write; a minute of slack
# in the idle timeout is harmless.
_TOUCH_EVERY = timedelta(seconds=60)


def _touch(session: Session, web: WebSession, now) -> None:
    """Note that the session is in use, at most once a minute, and never wait for it: the
    row stays locked until the request that touched it ends, and a person's other requests
    of that minute (the board, the inbox, a page of hundreds of patients) would each queue
    behind it to write the same minute. The one that gets the row writes it; the others
    leave it (on SQLite, which has no row locks, each writes)."""
    if now - web.last_seen_at < _TOUCH_EVERY:
        return
    free = session.scalar(select(WebSession.id).where(WebSession.id == web.id)
                          .with_for_update(skip_locked=True, key_share=True))
    if free is not None:
        web.last_seen_at = now


def resolve_session(session: Session, token: str | None) -> tuple[WebSession, Staff] | None:
    if not token:
        return None
    now = utcnow()
    row = session.execute(
        select(WebSession, Staff)
        .join(Staff, Staff.id == WebSession.staff_id)
        .where(WebSession.id == _token_hash(token))
    ).one_or_none()
    if row is None:
        return None
    web, staff = row
    idle = timedelta(minutes=get_settings().session_idle_minutes)
    if web.ended_at is not None or web.expires_at <= now or web.last_seen_at + idle <= now:
        return None
    if not staff.active:
        return None
    _touch(session, web, now)
    return web, staff


def end_session(session: Session, token: str | None) -> None:
    if token:
        session.execute(
            update(WebSession)
            .where(WebSession.id == _token_hash(token), WebSession.ended_at.is_(None))
            .values(ended_at=utcnow())
        )


def end_all_sessions(session: Session, staff_id: int) -> None:
    session.execute(
        update(WebSession)
        .where(WebSession.staff_id == staff_id, WebSession.ended_at.is_(None))
        .values(ended_at=utcnow())
    )


def create_api_token(session: Session, staff: Staff, name: str, days: int | None = 365) -> str:
    token = "hemma_" + secrets.token_urlsafe(32)
    now = utcnow()
    session.add(
        ApiToken(
            staff_id=staff.id,
            name=name,
            token_hash=_token_hash(token),
            created_at=now,
            expires_at=now + timedelta(days=days) if days else None,
        )
    )
    return token


@dataclass(frozen=True)
class Caller:
    """Who sent a request, as it came: an API token, or a browser session with the CSRF token
    the page sent; resolved later, together with other requests' (monitoring.ingest)."""

    token: str | None
    session: str | None
    csrf: str | None
    client_addr: str | None


def authenticate(session: Session, caller: Caller, *,
                 unsafe: bool) -> tuple[Staff, WebSession | None]:
    """The staff member behind a request: by API token, or by browser session, which for an
    unsafe method must also send the session's CSRF token (cookies ride along with
    cross-site requests; the token does not). Raises Unauthenticated or Forbidden."""
    if caller.token is not None:
        staff = resolve_api_token(session, caller.token)
        if staff is None:
            raise Unauthenticated()
        return staff, None
    resolved = resolve_session(session, caller.session)
    if resolved is None:
        raise Unauthenticated()
    web, staff = resolved
    if unsafe and not (caller.csrf and hmac.compare_digest(caller.csrf, web.csrf_token)):
        raise Forbidden("The form has expired. Reload the page and try again.")
    return staff, web


def resolve_api_token(session: Session, token: str) -> Staff | None:
    now = utcnow()
    row = session.execute(
        select(ApiToken, Staff)
        .join(Staff, Staff.id == ApiToken.staff_id)
        .where(ApiToken.token_hash == _token_hash(token))
    ).one_or_none()
    if row is None:
        return None
    api_token, staff = row
    if api_token.revoked_at is not None or (api_token.expires_at and api_token.expires_at <= now):
        return None
    return staff if staff.active else None


def create_client_token(session: Session, client: SystemClient, scope: str,
                        seconds: int) -> str:
    """A system client's access token for the FHIR API (shown once, stored as its hash)."""
    token = "hemmac_" + secrets.token_urlsafe(32)
    now = utcnow()
    # Expired tokens of the client are of no use to anyone: they go as new ones come.
    session.execute(delete(ClientToken).where(ClientToken.client_id == client.id,
                                              ClientToken.expires_at <= now))
    session.add(ClientToken(client_id=client.id, token_hash=_token_hash(token), scope=scope,
                            created_at=now, expires_at=now + timedelta(seconds=seconds)))
    return token


def resolve_client_token(session: Session, token: str
                         ) -> tuple[ClientToken, SystemClient, Staff] | None:
    """A system client's access token (SMART Backend Services, issued by `hemma.fhir.smart`):
    good only while unexpired, its client enabled and the account it acts as active. Only
    the FHIR API asks for these; everywhere else such a token opens nothing."""
    row = session.execute(
        select(ClientToken, SystemClient, Staff)
        .join(SystemClient, SystemClient.id == ClientToken.client_id)
        .join(Staff, Staff.id == SystemClient.staff_id)
        .where(ClientToken.token_hash == _token_hash(token))
    ).one_or_none()
    if row is None:
        return None
    client_token, client, staff = row
    if client_token.expires_at <= utcnow() or client.disabled_at is not None or not staff.active:
        return None
    return client_token, client, staff


def actor_for(session: Session, staff: Staff, client_addr: str | None) -> audit.Actor:
    return audit.Actor(
        user_id=staff.id,
        username=staff.username,
        unit_id=staff.unit_id,
        organisation_id=origin(session, staff.unit_id).organisation_id,
        client_addr=client_addr,
        family_name=staff.family_name,
    )


# --- Patients ------------------------------------------------------------------------------

PATIENT_CODE_DIGITS = 10


def _code_hash(code: str) -> str:
    """Codes are short, so a plain hash could be reversed by trying them all: key it."""
    secret = get_settings().resolved_secret_key().encode()
    digits = "".join(ch for ch in code if ch.isdigit())
    return hmac.new(secret, b"patient-code:" + digits.encode(), hashlib.sha256).hexdigest()


def format_code(code: str) -> str:
    return f"{code[:3]} {code[3:6]} {code[6:]}"


def create_patient_code(session: Session, patient_id, staff_id: int,
                        relative_id=None) -> tuple[str, object]:
    """A new code for the patient's own page (or, with `relative_id`, for that relative of
    theirs); shown once, stored only as a keyed hash."""
    code = "".join(secrets.choice("0123456789") for _ in range(PATIENT_CODE_DIGITS))
    now = utcnow()
    row = PatientAccessCode(patient_id=patient_id, relative_id=relative_id,
                            code_hash=_code_hash(code), created_at=now, created_by_id=staff_id,
                            expires_at=now + timedelta(days=get_settings().patient_code_days))
    session.add(row)
    session.flush()
    return code, row


def patient_login(session: Session, code: str, *, client_addr: str | None,
                  user_agent: str | None):
    """Returns (session token, patient id), or None. Failures are throttled per address."""
    settings = get_settings()
    now = utcnow()
    since = now - timedelta(minutes=settings.login_failure_window_minutes)
    throttled = client_addr is not None and _recent_failures(
        session, LoginAttempt.client_addr, client_addr, since,
        LoginAttempt.username == PATIENT_CODE_LOGIN) >= settings.login_max_failures_per_address
    row = None
    digits = "".join(ch for ch in code or "" if ch.isdigit())
    if not throttled and len(digits) == PATIENT_CODE_DIGITS:
        row = session.scalar(select(PatientAccessCode).where(
            PatientAccessCode.code_hash == _code_hash(digits),
            PatientAccessCode.revoked_at.is_(None), PatientAccessCode.expires_at > now))
    session.add(LoginAttempt(username=PATIENT_CODE_LOGIN, client_addr=client_addr, at=now,
                             success=row is not None))
    relative = session.get(Relative, row.relative_id) if row is not None and row.relative_id \
        else None
    if relative is not None and not relative_may_log_in(relative):
        # The patient took the permission back (or the relative was removed) after the code
        # was handed out: the code opens nothing.
        row = None
    trail = audit.trail(session)
    trail.actor = audit.Actor(username=RELATIVE_ACTOR if relative is not None else "(patient)",
                              client_addr=client_addr)
    if row is None:
        audit.record(session, None, "patient.login", outcome="denied",
                     detail="throttled" if throttled else None)
        return None
    row.last_used_at = now
    token = secrets.token_urlsafe(32)
    session.add(WebSession(
        id=_token_hash(token), staff_id=None, patient_id=row.patient_id,
        relative_id=row.relative_id,
        csrf_token=secrets.token_urlsafe(32),
        auth_method="relative_code" if row.relative_id else "patient_code", created_at=now,
        last_seen_at=now, expires_at=now + timedelta(days=settings.patient_session_days),
        client_addr=client_addr, user_agent=(user_agent or "")[:300] or None))
    # Who handed out the code: if a code is misused, the log review can trace it.
    giver = session.get(Staff, row.created_by_id) if row.created_by_id else None
    who = f"relative {relative.id}, " if relative is not None else ""
    audit.record(session, row.patient_id,
                 "relative.login" if relative is not None else "patient.login",
                 basis="relative" if relative is not None else "self",
                 detail=f"{who}code {row.id} given by {giver.username if giver else 'unknown'}")
    return token, row.patient_id


def resolve_patient_session(session: Session, token: str | None):
    """The patient's own session, or None (ended, expired, or its code revoked)."""
    if not token:
        return None
    now = utcnow()
    web = session.scalar(select(WebSession).where(WebSession.id == _token_hash(token),
                                                  WebSession.patient_id.is_not(None)))
    if web is None or web.ended_at is not None or web.expires_at <= now:
        return None
    _touch(session, web, now)
    return web


def revoke_patient_code(session: Session, code_row) -> None:
    """Revoking a code also logs out the sessions it opened (the phone was lost): the
    patient's own, or that relative's, never the other's."""
    now = utcnow()
    code_row.revoked_at = now
    owner = (WebSession.relative_id == code_row.relative_id if code_row.relative_id
             else WebSession.relative_id.is_(None))
    session.execute(update(WebSession).where(
        WebSession.patient_id == code_row.patient_id, WebSession.ended_at.is_(None),
        WebSession.auth_method.in_(("patient_code", "relative_code")), owner)
        .values(ended_at=now))


# The audit trail's name for a relative on the patient's page (the entry's detail says which).
RELATIVE_ACTOR = "(relative)"


def relative_may_log_in(relative: Relative) -> bool:
    """A relative opens the patient's page only while the patient lets them see something."""
    return relative.removed_at is None and bool(relative.shares)


def close_relative_access(session: Session, relative: Relative) -> int:
    """The relative's codes are revoked and their sessions end at once (the patient took the
    permission back, or the relative was removed). The number of codes revoked."""
    now = utcnow()
    count = session.execute(update(PatientAccessCode).where(
        PatientAccessCode.relative_id == relative.id, PatientAccessCode.revoked_at.is_(None))
        .values(revoked_at=now).execution_options(synchronize_session=False)).rowcount
    session.execute(update(WebSession).where(
        WebSession.relative_id == relative.id, WebSession.ended_at.is_(None))
        .values(ended_at=now).execution_options(synchronize_session=False))
    return count
