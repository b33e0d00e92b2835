"""Server-side login sessions, failed-login counting, API tokens, and the system clients
(SMART Backend Services) with their access tokens."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text
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
