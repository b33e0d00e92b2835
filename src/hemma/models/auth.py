"""Server-side login sessions, failed-login counting, API tokens, and the system clients
(SMART Backend Services) with their access tokens."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from hemma.models.base import Base


class WebSession(Base):
    __tablename__ = "web_sessions"
    __table_args__ = (
        CheckConstraint("(staff_id IS NULL) <> (patient_id IS NULL)", name="staff_xor_patient"),
    )

    # SHA-256 of the cookie value: a stolen database does not hand out live sessions.
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    # A staff member's session, or a patient's (their own page): exactly one of the two.
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), index=True)
    patient_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("patients.id"), index=True)
    # A relative on the patient's page: the session is the patient's page, limited to what
    # the patient lets this relative see.
    relative_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("relatives.id"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    auth_method: Mapped[str] = mapped_column(String(20))
    language: Mapped[str | None] = mapped_column(String(5))
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    client_addr: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))


class LoginAttempt(Base):
    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_user_at", "username", "at"),
        Index("ix_login_attempts_addr_at", "client_addr", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    client_addr: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[datetime]
    success: Mapped[bool] = mapped_column(Boolean)


class ApiToken(Base):
    """Bearer tokens for systems and scripts acting as a staff account (no CSRF needed)."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class SystemClient(Base):
    """A registered SMART Backend Services client (a device gateway, a journal system): it
    proves who it is with a JWT signed by one of its own keys, and acts as one staff account
    of profession "system" in a unit, so the per-patient access check is the account's."""

    __tablename__ = "system_clients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    # The most it may ever be granted: SMART v2 scopes, space-separated as OAuth writes them.
    scope: Mapped[str] = mapped_column(Text)
    # Its public keys as a JWKS, kept here: Hemma fetches no keys from the internet.
    jwks: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime]
    disabled_at: Mapped[datetime | None]


class ClientToken(Base):
    """A short-lived access token issued to a system client (only its SHA-256 is kept)."""

    __tablename__ = "client_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("system_clients.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scope: Mapped[str] = mapped_column(Text)  # what was granted
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)


class ClientAssertion(Base):
    """The `jti` of every client assertion seen, kept until it expires: an assertion is
    good once, in every process (a copied one is refused)."""

    __tablename__ = "client_assertions"

    client_id: Mapped[int] = mapped_column(ForeignKey("system_clients.id"), primary_key=True)
    jti: Mapped[str] = mapped_column(String(255), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class OidcLogin(Base):
    """A login through the region's identity provider, from the moment the browser is sent
    there until it comes back (at most ten minutes): what the callback must match. Kept in
    the database, not in a cookie, so that it is good once in every app process: the row is
    claimed by a conditional update, and a second use of the same `state` finds it used."""

    __tablename__ = "oidc_logins"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # SHA-256 of the `state` sent to the provider, and of the random token in the browser's
    # cookie that started the login: the callback must come back to that browser.
    state_hash: Mapped[str] = mapped_column(String(64), unique=True)
    browser_hash: Mapped[str] = mapped_column(String(64))
    nonce: Mapped[str] = mapped_column(String(100))
    code_verifier: Mapped[str] = mapped_column(String(128))
    next_path: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    used_at: Mapped[datetime | None]


class LoginStep(Base):
    """A password that was right, waiting for the second factor (a code from the user's
    authenticator app, or its enrolment when a code is required and the user has none yet):
    no session exists until the step is done. Good once, for a few minutes, in the browser
    whose cookie holds the token (only its SHA-256 is kept)."""

    __tablename__ = "login_steps"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    # "totp": type the code; "enrol": set up the app first, confirmed by its first code.
    kind: Mapped[str] = mapped_column(String(10))
    csrf_token: Mapped[str] = mapped_column(String(64))
    next_path: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]


class TotpCredential(Base):
    """A staff member's authenticator app (TOTP, RFC 6238): its secret encrypted with a key
    derived from the installation's secret, never shown again once confirmed. `last_step`
    is the time step of the newest code accepted: a code is good once (a conditional update
    refuses the same or an older step, in every process)."""

    __tablename__ = "totp_credentials"

    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), primary_key=True)
    secret_encrypted: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    confirmed_at: Mapped[datetime | None]
    last_step: Mapped[int | None] = mapped_column(BigInteger)


class InstallationSetting(Base):
    """A setting the administrators change on the admin pages, for the whole installation
    and at once in every process (an environment variable gives its default)."""

    __tablename__ = "installation_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict] = mapped_column(JSON)
    changed_at: Mapped[datetime]
    changed_by: Mapped[str] = mapped_column(String(64))
