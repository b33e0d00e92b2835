"""The access log: one entry per patient per request, hash-chained, append-only.

Routes and services `record()` what they touch on the session's trail; the entries are
written by `flush()` right before the transaction commits, so an action and its log entry
commit together or not at all. Entries are chained with HMAC-SHA256 (keyed by the
installation's secret) in `seq` order; `verify()` recomputes the chain and reports the first
row that was changed, removed or inserted behind the application's back.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from hemma.config import get_settings
from hemma.kit.time import utcnow
from hemma.models import AuditEntry, AuditHead

GENESIS = "0" * 64
_TRAIL_KEY = "hemma.audit.trail"


@dataclass
class Actor:
    """Who is acting, copied into every entry of the request."""

    user_id: int | None = None
    username: str | None = None
    unit_id: int | None = None
    organisation_id: int | None = None
    client_addr: str | None = None
    family_name: str | None = None


@dataclass
class _Pending:
    patient_id: uuid.UUID | None
    action: str
    basis: str
    emergency: bool
    outcome: str
    details: list[str] = field(default_factory=list)
    generic: bool = False
    actor: Actor | None = None  # another than the trail's (requests recorded together)


@dataclass
class Trail:
    actor: Actor = field(default_factory=Actor)
    entries: list[_Pending] = field(default_factory=list)
    _by_patient: dict = field(default_factory=dict)

    def record(
        self,
        patient_id: uuid.UUID | None,
        action: str,
        *,
        basis: str = "none",
        emergency: bool = False,
        outcome: str = "allowed",
        detail: str | None = None,
        generic: bool = False,
    ) -> None:
        """Note an access. The same patient in one request gives one entry: a specific action
        (e.g. episode.admit) replaces the route's generic one (episode.manage)."""
        if patient_id is None:
            self.entries.append(
                _Pending(None, action, basis, emergency, outcome, [detail] if detail else [])
            )
            return
        existing = self._by_patient.get(patient_id)
        if existing is None:
            pending = _Pending(patient_id, action, basis, emergency, outcome, [], generic)
            if detail:
                pending.details.append(detail)
            self._by_patient[patient_id] = pending
            self.entries.append(pending)
            return
        if not generic:
            if existing.generic:
                existing.action = action
                existing.generic = False
            elif action not in existing.action.split("+"):
                existing.action = f"{existing.action}+{action}"
        existing.emergency = existing.emergency or emergency
        if basis != "none" and existing.basis in ("none", "role"):
            existing.basis = basis
        if detail:
            existing.details.append(detail)

    def record_for(self, actor: Actor, patient_id: uuid.UUID | None, action: str, *,
                   basis: str = "none", emergency: bool = False,
                   outcome: str = "allowed") -> None:
        """An entry of another request than this trail's own, with its own actor: requests
        recorded together in one transaction (group commit) still log one entry each, each
        with who asked."""
        self.entries.append(_Pending(patient_id, action, basis, emergency, outcome,
                                     actor=actor))

    def denied_only(self) -> "Trail":
        kept = Trail(actor=self.actor)
        kept.entries = [e for e in self.entries if e.outcome == "denied"]
        return kept

    def clear(self) -> None:
        self.entries.clear()
        self._by_patient.clear()


def trail(session: Session) -> Trail:
    existing = session.info.get(_TRAIL_KEY)
    if existing is None:
        existing = session.info[_TRAIL_KEY] = Trail()
    return existing


def record(session: Session, patient_id: uuid.UUID | None, action: str, **kw) -> None:
    trail(session).record(patient_id, action, **kw)


def _chain_key() -> bytes:
    secret = get_settings().resolved_secret_key().encode()
    return hmac.new(secret, b"hemma audit chain v1", hashlib.sha256).digest()


def _digest(key: bytes, row: dict) -> str:
    fields = [
        row["seq"],
        row["at"].isoformat(),
        row["user_id"],
        row["username"],
        row["unit_id"],
        row["organisation_id"],
        str(row["patient_id"]) if row["patient_id"] is not None else None,
        row["action"],
        row["basis"],
        bool(row["emergency"]),
        row["outcome"],
        row["client_addr"],
        row["detail"],
        row["prev_hash"],
    ]
    message = json.dumps(fields, separators=(",", ":"), ensure_ascii=False).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def flush(session: Session, at: datetime | None = None) -> int:
    """Write the trail's entries at the end of the chain. Call right before commit."""
    current = session.info.get(_TRAIL_KEY)
    if current is None or not current.entries:
        return 0
    at = at or utcnow()
    # Lock the head row: concurrent requests append one after the other, so the chain is
    # one line. The lock is held only from here to commit.
    head = session.execute(
        select(AuditHead.last_seq, AuditHead.last_hash).where(AuditHead.id == 1).with_for_update()
    ).one()
    seq, prev = head.last_seq, head.last_hash
    key = _chain_key()
    rows = []
    for pending in current.entries:
        actor = pending.actor or current.actor
        seq += 1
        row = {
            "seq": seq,
            "at": at,
            "user_id": actor.user_id,
            "username": actor.username,
            "unit_id": actor.unit_id,
            "organisation_id": actor.organisation_id,
            "patient_id": pending.patient_id,
            "action": pending.action,
            "basis": pending.basis,
            "emergency": pending.emergency,
            "outcome": pending.outcome,
            "client_addr": actor.client_addr,
            "detail": "; ".join(pending.details) or None,
            "prev_hash": prev,
        }
        row["hash"] = prev = _digest(key, row)
        rows.append(row)
    session.execute(insert(AuditEntry), rows)
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(last_seq=seq, last_hash=prev))
    current.clear()
    return len(rows)


@dataclass
class VerifyReport:
    ok: bool
    checked: int
    problems: list[str]


def _rows(session: Session, batch: int = 5000) -> Iterator[AuditEntry]:
    last = 0
    while True:
        chunk = session.scalars(
            select(AuditEntry).where(AuditEntry.seq > last).order_by(AuditEntry.seq).limit(batch)
        ).all()
        if not chunk:
            return
        yield from chunk
        last = chunk[-1].seq
        session.expunge_all()


def verify(session: Session, max_problems: int = 20) -> VerifyReport:
    """Recompute the whole chain. Any edited, deleted, reordered or forged row breaks it."""
    key = _chain_key()
    problems: list[str] = []
    expected_seq, prev = 1, GENESIS
    checked = 0
    for entry in _rows(session):
        checked += 1
        row = {c: getattr(entry, c) for c in (
            "seq", "at", "user_id", "username", "unit_id", "organisation_id", "patient_id",
            "action", "basis", "emergency", "outcome", "client_addr", "detail", "prev_hash",
        )}
        if entry.seq != expected_seq:
            problems.append(f"seq {expected_seq}: missing (next present is {entry.seq})")
        if entry.prev_hash != prev:
            problems.append(f"seq {entry.seq}: does not link to the entry before it")
        if not hmac.compare_digest(_digest(key, row), entry.hash):
            problems.append(f"seq {entry.seq}: contents do not match its hash")
        expected_seq, prev = entry.seq + 1, entry.hash
        if len(problems) >= max_problems:
            break
    head = session.execute(select(AuditHead.last_seq, AuditHead.last_hash)).one_or_none()
    if head is None:
        problems.append("the chain head is missing")
    elif len(problems) < max_problems:
        if head.last_seq != expected_seq - 1 or head.last_hash != prev:
            problems.append(
                f"the chain ends at seq {expected_seq - 1} but its head says {head.last_seq}"
                " (entries removed from the end, or the head was changed)"
            )
    return VerifyReport(ok=not problems, checked=checked, problems=problems)

