"""The access log: one entry per patient per request, hash-chained, append-only.

Routes and services `record()` what they touch on the session's trail; the entries are
written by `flush()` right before the transaction commits, so an action and its log entry
commit together or not at all. Entries are chained with HMAC-SHA256 (keyed by the
installation's secret) in `seq` order, and so are the log reviews, in a chain of their own;
signed checkpoints of where both chains end go to a file outside the database. `verify()`
recomputes both chains and holds them to the checkpoints: it reports the first rows that were
changed, removed or inserted behind the application's back, and a chain cut off at its end.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import event, insert, select, update
from sqlalchemy.orm import Session

from hemma.config import get_settings
from hemma.kit.time import utcnow
from hemma.models import AuditEntry, AuditHead, AuditReview

GENESIS = "0" * 64
log = logging.getLogger("hemma.audit")
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
    # A system client acting as the account ("client gw-1 (Gateway X)"): written into each
    # entry's detail, so the log says which device or system it was.
    via: str | None = None


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


# The length of audit_entries.action (hemma.models.audit).
ACTION_LENGTH = 64


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
                combined = f"{existing.action}+{action}"
                spilled = any(d.startswith("+") for d in existing.details)
                if len(combined) <= ACTION_LENGTH and not spilled:
                    existing.action = combined
                elif f"+{action}" not in existing.details:
                    # The column holds so much; a request that did more for one patient
                    # keeps the rest in the entry's detail, never loses it.
                    existing.details.append(f"+{action}")
        existing.emergency = existing.emergency or emergency
        if outcome == "denied":
            # Refused further in (the patient, but not this alert): the request was refused,
            # and the refusal is what the log must keep.
            existing.outcome = "denied"
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


# The rows of `audit_head`: the end of each chain.
ENTRIES, REVIEWS = 1, 2


def _key(purpose: bytes) -> bytes:
    secret = get_settings().resolved_secret_key().encode()
    return hmac.new(secret, purpose, hashlib.sha256).digest()


def _chain_key() -> bytes:
    return _key(b"hemma audit chain v1")


def _review_key() -> bytes:
    return _key(b"hemma audit reviews v1")


def _checkpoint_key() -> bytes:
    return _key(b"hemma audit checkpoint v1")


def _mac(key: bytes, fields: list) -> str:
    message = json.dumps(fields, separators=(",", ":"), ensure_ascii=False).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


ENTRY_FIELDS = ("seq", "at", "user_id", "username", "unit_id", "organisation_id", "patient_id",
                "action", "basis", "emergency", "outcome", "client_addr", "detail", "prev_hash")
REVIEW_FIELDS = ("seq", "entry_id", "reviewer_id", "reviewed_at", "outcome", "note",
                 "prev_hash")


def _digest(key: bytes, row: dict) -> str:
    return _mac(key, [
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
    ])


def _review_digest(key: bytes, row: dict) -> str:
    return _mac(key, [row["seq"], row["entry_id"], row["reviewer_id"],
                      row["reviewed_at"].isoformat(), row["outcome"], row["note"],
                      row["prev_hash"]])


def _lock_head(session: Session, chain: int) -> tuple[int, str]:
    """The end of a chain, locked until commit: appenders queue, so the chain is one line."""
    head = session.execute(
        select(AuditHead.last_seq, AuditHead.last_hash).where(AuditHead.id == chain)
        .with_for_update()).one()
    return head.last_seq, head.last_hash


@event.listens_for(Session, "before_commit")
def _flush_before_commit(session: Session) -> None:
    """An action and its log entries commit together: whoever commits a session (a request,
    a job, a command, the planner's unit of work) writes its trail first. A savepoint's
    release is not the commit: its accesses are written with the transaction's."""
    if not session.in_nested_transaction():
        flush(session)


def flush(session: Session, at: datetime | None = None) -> int:
    """Write the trail's entries at the end of the chain. Call right before commit."""
    current = session.info.get(_TRAIL_KEY)
    if current is None or not current.entries:
        return 0
    at = at or utcnow()
    # Lock the head row: concurrent requests append one after the other, so the chain is
    # one line. The lock is held only from here to commit.
    seq, prev = _lock_head(session, ENTRIES)
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
            "detail": "; ".join(([actor.via] if actor.via else []) + pending.details) or None,
            "prev_hash": prev,
        }
        row["hash"] = prev = _digest(key, row)
        rows.append(row)
    session.execute(insert(AuditEntry), rows)
    session.execute(update(AuditHead).where(AuditHead.id == ENTRIES)
                    .values(last_seq=seq, last_hash=prev))
    current.clear()
    return len(rows)


def append_reviews(session: Session, reviews: list[dict]) -> list[AuditReview]:
    """Add log-review records (entry_id, reviewer_id, reviewed_at, outcome, note) at the end
    of the reviews' chain, in the caller's transaction."""
    seq, prev = _lock_head(session, REVIEWS)
    key = _review_key()
    rows = []
    for review in reviews:
        seq += 1
        row = {**review, "seq": seq, "prev_hash": prev}
        row["hash"] = prev = _review_digest(key, row)
        rows.append(AuditReview(**row))
    session.add_all(rows)
    session.execute(update(AuditHead).where(AuditHead.id == REVIEWS)
                    .values(last_seq=seq, last_hash=prev))
    return rows


# --- Checkpoints ---------------------------------------------------------------------------
#
# The chains prove that nothing inside them was changed, removed or inserted; they cannot
# prove where they end: someone who can write to the database can cut entries off the end
# and set the head back. So the ends of both chains are written, signed, to a second place
# the database cannot reach (an append-only file; a copy goes to the process log), and
# `verify` holds the chains to every checkpoint.


@dataclass(frozen=True)
class Checkpoint:
    at: datetime
    entries: tuple[int, str]  # seq and hash of the last access-log entry
    reviews: tuple[int, str]  # the same for the log reviews

    def body(self) -> dict:
        return {"at": self.at.isoformat(), "entries": list(self.entries),
                "reviews": list(self.reviews)}


def _sign(body: dict) -> str:
    return _mac(_checkpoint_key(), [body["at"], body["entries"], body["reviews"]])


def current_checkpoint(session: Session, now: datetime | None = None) -> Checkpoint:
    """Where both chains end now (committed rows only: a head moves in the transaction that
    appends, so it never points past what is there)."""
    heads = {row.id: (row.last_seq, row.last_hash) for row in session.execute(
        select(AuditHead.id, AuditHead.last_seq, AuditHead.last_hash))}
    return Checkpoint(now or utcnow(), heads.get(ENTRIES, (0, GENESIS)),
                      heads.get(REVIEWS, (0, GENESIS)))


def write_checkpoint(session: Session, path: Path, now: datetime | None = None) -> Checkpoint:
    """Append a signed checkpoint to the file (one JSON line; created if missing). A single
    write to a file opened for appending, so processes writing at once never mix lines."""
    checkpoint = current_checkpoint(session, now)
    body = checkpoint.body()
    line = json.dumps({**body, "sig": _sign(body)}, separators=(",", ":")) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    log.info("audit checkpoint %s", line.strip())
    return checkpoint


def read_checkpoints(path: Path) -> tuple[list[tuple[int, Checkpoint]], list[str]]:
    """The file's checkpoints with their line numbers, and a problem for every line that is
    not a checkpoint signed by this installation."""
    found, problems = [], []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                body = {"at": data["at"], "entries": data["entries"], "reviews": data["reviews"]}
                signed = hmac.compare_digest(_sign(body), str(data["sig"]))
                checkpoint = Checkpoint(datetime.fromisoformat(body["at"]),
                                        (int(body["entries"][0]), str(body["entries"][1])),
                                        (int(body["reviews"][0]), str(body["reviews"][1])))
            except (ValueError, KeyError, IndexError, TypeError):
                problems.append(f"checkpoint line {number}: unreadable")
                continue
            if not signed:
                problems.append(f"checkpoint line {number}: the signature does not match "
                                "(not written by this installation, or changed)")
                continue
            found.append((number, checkpoint))
    return found, problems


# --- Verifying ----------------------------------------------------------------------------


@dataclass
class VerifyReport:
    ok: bool
    checked: int
    problems: list[str]
    reviews_checked: int = 0
    checkpoints_checked: int = 0
    newest_checkpoint: Checkpoint | None = None


@dataclass
class _Chain:
    """One chain as `verify` walks it."""

    name: str  # how problems name its rows ("seq 12", "review seq 3")
    model: type
    fields: tuple[str, ...]
    digest: Callable[[bytes, dict], str]
    key: bytes
    head: int
    wanted: set[int] = field(default_factory=set)  # seqs that checkpoints name
    seen: dict[int, str] = field(default_factory=dict)  # their hashes, as found
    checked: int = 0
    last_seq: int = 0
    last_hash: str = GENESIS
    complete: bool = False  # walked to its end (not stopped at too many problems)


def _rows(session: Session, model, batch: int = 5000) -> Iterator:
    last = 0
    while True:
        chunk = session.scalars(
            select(model).where(model.seq > last).order_by(model.seq).limit(batch)).all()
        if not chunk:
            return
        yield from chunk
        last = chunk[-1].seq
        session.expunge_all()


def _walk(session: Session, chain: _Chain, problems: list[str], max_problems: int) -> None:
    expected_seq, prev = 1, GENESIS
    for row in _rows(session, chain.model):
        chain.checked += 1
        values = {c: getattr(row, c) for c in chain.fields}
        if row.seq != expected_seq:
            problems.append(f"{chain.name} {expected_seq}: missing (next present is {row.seq})")
        if row.prev_hash != prev:
            problems.append(f"{chain.name} {row.seq}: does not link to the one before it")
        if not hmac.compare_digest(chain.digest(chain.key, values), row.hash):
            problems.append(f"{chain.name} {row.seq}: contents do not match its hash")
        if row.seq in chain.wanted:
            chain.seen[row.seq] = row.hash
        expected_seq, prev = row.seq + 1, row.hash
        if len(problems) >= max_problems:
            return
    chain.complete = True
    chain.last_seq, chain.last_hash = expected_seq - 1, prev
    head = session.execute(select(AuditHead.last_seq, AuditHead.last_hash)
                           .where(AuditHead.id == chain.head)).one_or_none()
    if head is None:
        problems.append(f"the head of the {chain.name.rsplit(' ', 1)[0]} chain is missing")
    elif len(problems) < max_problems:
        if head.last_seq != chain.last_seq or head.last_hash != prev:
            problems.append(
                f"the {chain.name.rsplit(' ', 1)[0]} chain ends at {chain.name} "
                f"{chain.last_seq} but its head says {head.last_seq}"
                " (removed from the end, or the head was changed)")


def _held_to(chain: _Chain, number: int, checkpoint: Checkpoint, seq: int, digest: str,
             problems: list[str]) -> None:
    """A chain against one checkpoint: it must reach the checkpointed row, and that row must
    be the one that was there."""
    if seq == 0 or not chain.complete:
        return
    written = f"checkpoint line {number} ({checkpoint.at.isoformat(timespec='seconds')})"
    if seq > chain.last_seq:
        problems.append(f"{written} records {chain.name} {seq}, but the chain ends at "
                        f"{chain.last_seq}: the end of the chain was cut off")
    elif seq not in chain.seen:
        problems.append(f"{written}: {chain.name} {seq} is missing")
    elif not hmac.compare_digest(chain.seen[seq], digest):
        problems.append(f"{written}: {chain.name} {seq} is not the one that was checkpointed")


def verify(session: Session, checkpoints: Path | None = None,
           max_problems: int = 20) -> VerifyReport:
    """Recompute both chains (the access log and the log reviews) and hold them to the
    signed checkpoints: any row edited, deleted, reordered or forged breaks a chain, and a
    chain cut off at the end falls short of a checkpoint. Without `checkpoints` (the file,
    `hemma audit verify` passes `HEMMA_AUDIT_CHECKPOINT_FILE`) only the chains are checked."""
    problems: list[str] = []
    found: list[tuple[int, Checkpoint]] = []
    if checkpoints is not None and checkpoints.exists():
        found, problems = read_checkpoints(checkpoints)
    entries = _Chain("seq", AuditEntry, ENTRY_FIELDS, _digest, _chain_key(), ENTRIES,
                     wanted={c.entries[0] for _n, c in found})
    reviews = _Chain("review seq", AuditReview, REVIEW_FIELDS, _review_digest, _review_key(),
                     REVIEWS, wanted={c.reviews[0] for _n, c in found})
    _walk(session, entries, problems, max_problems)
    _walk(session, reviews, problems, max_problems)
    for number, checkpoint in found:
        _held_to(entries, number, checkpoint, *checkpoint.entries, problems)
        _held_to(reviews, number, checkpoint, *checkpoint.reviews, problems)
    if checkpoints is not None and not found and (entries.checked or reviews.checked):
        problems.append(
            f"no checkpoint in {checkpoints}: the end of the chain cannot be checked (the worker "
            "writes them; `hemma audit checkpoint` writes one now)")
    newest = max((c for _n, c in found), key=lambda c: (c.entries[0], c.at), default=None)
    return VerifyReport(ok=not problems, checked=entries.checked, problems=problems[:max_problems],
                        reviews_checked=reviews.checked, checkpoints_checked=len(found),
                        newest_checkpoint=newest)
