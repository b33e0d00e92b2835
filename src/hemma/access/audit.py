"""The access log: one entry per patient per request, hash-chained, append-only.

Routes and services `record()` what they touch on the session's trail; the entries are
written by `flush()` right before the transaction commits, so an action and its log entry
commit together or not at all. Each organisation (vårdgivare) is responsible for its own
log, so each has its own chain: an entry goes to the chain of the organisation whose staff
acted (accesses without one — the patients' and relatives' own pages, refused logins — to
the installation's chain), chained with HMAC-SHA256 (keyed by the installation's secret) in
`seq` order; the log reviews are chained the same way, per the reviewer's organisation.
Appending locks only the chain's own head, so organisations never wait for each other.
Signed checkpoints of where every chain ends go to a file outside the database. `verify()`
recomputes every chain and holds them to the checkpoints: it reports the first rows that
were changed, removed or inserted behind the application's back, and a chain cut off at its
end. The one chain of each kind that everyone shared before Step 9 is kept as it was,
closed (`AuditHead.closed`, digest version 1), and verified like the others.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import random
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import event, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
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


# The kinds of chain, and the rows of `audit_head` of the chains everyone shared before
# Step 9 (closed: kept and verified, never appended to).
ENTRIES, REVIEWS = "entries", "reviews"
SHARED_ENTRIES, SHARED_REVIEWS = 1, 2


# The most lines an organisation's access log (and the installation's) runs in at once. A
# transaction appends to a line no one else holds (PostgreSQL's SKIP LOCKED) and a new line
# is made only when every line is held: a quiet organisation has one, a busy morning's as
# many as its requests needed at once, and none waits for another's log while one is free.
# Log reviews are few: one line each.
LINES = 8


# A transaction that waited this long for a line is logged (a warning, naming the chain).
LINE_WAIT_WARNING = 1.0


def chain_key(kind: str, organisation_id: int | None, line: int = 0) -> str:
    """Line `line` of the chain of `kind` for an organisation (None: the installation's
    own). Line 0 is the organisation's first and keeps the name it had before lines."""
    base = f"{kind}:org:{organisation_id}" if organisation_id is not None \
        else f"{kind}:installation"
    return base if line == 0 else f"{base}:{line}"


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


ENTRY_FIELDS = ("chain_id", "seq", "at", "user_id", "username", "unit_id", "organisation_id",
                "patient_id", "action", "basis", "emergency", "outcome", "client_addr", "detail",
                "prev_hash")
REVIEW_FIELDS = ("chain_id", "seq", "entry_id", "reviewer_id", "reviewed_at", "outcome",
                 "note", "prev_hash")


def _digest(key: bytes, row: dict, version: int = 2) -> str:
    # Version 2 puts the chain into the hash: a row moved to another chain does not verify.
    return _mac(key, ([row["chain_id"]] if version >= 2 else []) + [
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


def _review_digest(key: bytes, row: dict, version: int = 2) -> str:
    return _mac(key, ([row["chain_id"]] if version >= 2 else []) + [
        row["seq"], row["entry_id"], row["reviewer_id"], row["reviewed_at"].isoformat(),
        row["outcome"], row["note"], row["prev_hash"]])


@dataclass
class _Head:
    id: int
    last_seq: int
    last_hash: str


def _lock_heads(session: Session, kind: str,
                organisations: list[int | None]) -> dict[int | None, _Head]:
    """For each organisation, the end of a line of its chain of `kind`, locked until commit:
    appenders to one line queue, so each line is one line. A transaction takes a line no
    one else holds (the first free one: lines beyond the first are used only when needed)
    and makes a new one, up to LINES, when every line is held; only when all of them are
    held does it wait, for one of them. Organisations are taken in order (the installation
    first), and a transaction waits only for the organisation it is taking, never for one
    before it: two transactions never wait for each other in a circle. On SQLite (one
    writer at a time) the first line is always free."""
    lines = LINES if kind == ENTRIES else 1
    return {org: _lock_line(session, kind, org, lines)
            for org in sorted(set(organisations), key=lambda o: -1 if o is None else o)}


def _lock_line(session: Session, kind: str, organisation_id: int | None, lines: int) -> _Head:
    keys = [chain_key(kind, organisation_id, n) for n in range(lines)]
    columns = (AuditHead.id, AuditHead.last_seq, AuditHead.last_hash)

    def head(row) -> _Head:
        return _Head(row.id, row.last_seq, row.last_hash)

    for _ in range(lines + 1):
        row = session.execute(select(*columns).where(AuditHead.chain_key.in_(keys))
                              .order_by(AuditHead.id).limit(1)
                              .with_for_update(skip_locked=True)).first()
        if row is not None:
            return head(row)
        made = set(session.scalars(select(AuditHead.chain_key)
                                   .where(AuditHead.chain_key.in_(keys))))
        missing = [k for k in keys if k not in made]
        if not missing:
            break
        # A new line: the first, or any of those not made yet, so that a burst making lines
        # spreads over them (two transactions making the same one at once make one: the
        # second waits for the first to commit, then looks again).
        dialect = session.get_bind().dialect.name
        make = postgresql.insert if dialect == "postgresql" else sqlite.insert
        session.execute(make(AuditHead).values(
            chain_key=keys[0] if not made else random.choice(missing), kind=kind,
            organisation_id=organisation_id, digest_version=2, closed=False, first_seq=1,
            first_prev_hash=GENESIS, last_seq=0, last_hash=GENESIS,
        ).on_conflict_do_nothing(index_elements=["chain_key"]))
    # Every line is held: wait for one of them (any: the waiters spread over the lines).
    made = sorted(session.scalars(select(AuditHead.chain_key)
                                  .where(AuditHead.chain_key.in_(keys))))
    started = time.monotonic()
    found = head(session.execute(select(*columns).where(
        AuditHead.chain_key == random.choice(made)).with_for_update()).one())
    waited = time.monotonic() - started
    if waited >= LINE_WAIT_WARNING:  # what holds them is slow: worth an operator's look
        log.warning("every line of the access log %s was held: waited %.1f s for one",
                    chain_key(kind, organisation_id), waited)
    return found


@event.listens_for(Session, "before_commit")
def _flush_before_commit(session: Session) -> None:
    """An action and its log entries commit together: whoever commits a session (a request,
    a job, a command, the planner's unit of work) writes its trail first. A savepoint's
    release is not the commit: its accesses are written with the transaction's."""
    if not session.in_nested_transaction():
        # The transaction's own rows go first (commit would flush them after this hook,
        # with the chain's head locked): the head is held only for the log's own rows.
        if session.info.get(_TRAIL_KEY) is not None and session.info[_TRAIL_KEY].entries:
            session.flush()
        flush(session)


def flush(session: Session, at: datetime | None = None) -> int:
    """Write the trail's entries at the end of the chain. Call right before commit."""
    current = session.info.get(_TRAIL_KEY)
    if current is None or not current.entries:
        return 0
    at = at or utcnow()
    # Lock the heads of the chains these entries go to: concurrent requests of one
    # organisation append one after the other, so its chain is one line. The locks are held
    # only from here to commit.
    heads = _lock_heads(session, ENTRIES, sorted(
        {(p.actor or current.actor).organisation_id for p in current.entries},
        key=lambda o: -1 if o is None else o))
    key = _chain_key()
    rows = []
    for pending in current.entries:
        actor = pending.actor or current.actor
        head = heads[actor.organisation_id]
        head.last_seq += 1
        row = {
            "chain_id": head.id,
            "seq": head.last_seq,
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
            "prev_hash": head.last_hash,
        }
        row["hash"] = head.last_hash = _digest(key, row)
        rows.append(row)
    session.execute(insert(AuditEntry), rows)
    for head in heads.values():
        session.execute(update(AuditHead).where(AuditHead.id == head.id)
                        .values(last_seq=head.last_seq, last_hash=head.last_hash))
    current.clear()
    return len(rows)


def append_reviews(session: Session, organisation_id: int,
                   reviews: list[dict]) -> list[AuditReview]:
    """Add log-review records (entry_id, reviewer_id, reviewed_at, outcome, note) at the end
    of the reviewing organisation's chain of reviews, in the caller's transaction."""
    head = _lock_heads(session, REVIEWS, [organisation_id])[organisation_id]
    key = _review_key()
    rows = []
    for review in reviews:
        head.last_seq += 1
        row = {**review, "chain_id": head.id, "seq": head.last_seq,
               "prev_hash": head.last_hash}
        row["hash"] = head.last_hash = _review_digest(key, row)
        rows.append(AuditReview(**row))
    session.add_all(rows)
    session.execute(update(AuditHead).where(AuditHead.id == head.id)
                    .values(last_seq=head.last_seq, last_hash=head.last_hash))
    return rows


# --- Archiving --------------------------------------------------------------------------------


@dataclass
class Archived:
    partitions: list[str]
    chains: dict[int, int]  # head id -> the first seq still in the database


def archive_before(session: Session, before: date) -> Archived:
    """Detach the access log's months that end on or before `before` (PostgreSQL, where the
    log is partitioned by month): each month stays a table of its own for the archive, and
    every chain is verified from its first row still here (`first_seq`, `first_prev_hash`
    on its head: the rest of the chain still proves nothing inside it was touched). The
    caller holds the retention time; this records itself. On SQLite nothing is archived."""
    from hemma.models import partitions

    gone = partitions.detach(session, "audit_entries", before)
    moved: dict[int, int] = {}
    if gone:
        for head in session.scalars(select(AuditHead).where(AuditHead.kind == ENTRIES)
                                    .with_for_update()):
            first = session.execute(
                select(AuditEntry.seq, AuditEntry.prev_hash)
                .where(AuditEntry.chain_id == head.id).order_by(AuditEntry.seq).limit(1)).first()
            start = (first.seq, first.prev_hash) if first else (head.last_seq + 1,
                                                               head.last_hash)
            if start != (head.first_seq, head.first_prev_hash):
                head.first_seq, head.first_prev_hash = start
                moved[head.id] = start[0]
        record(session, None, "audit.archive", basis="role",
               detail=f"before {before.isoformat()}: {', '.join(p.name for p in gone)}")
    return Archived([p.name for p in gone], moved)


# --- Checkpoints ---------------------------------------------------------------------------
#
# The chains prove that nothing inside them was changed, removed or inserted; they cannot
# prove where they end: someone who can write to the database can cut entries off the end
# and set the head back. So the ends of every chain are written, signed, to a second place
# the database cannot reach (an append-only file; a copy goes to the process log), and
# `verify` holds the chains to every checkpoint.


@dataclass(frozen=True)
class Checkpoint:
    at: datetime
    chains: dict[int, tuple[int, str]]  # head id -> seq and hash of the chain's last row

    def body(self) -> dict:
        return {"at": self.at.isoformat(),
                "chains": {str(i): list(end) for i, end in sorted(self.chains.items())}}


def _sign(body: dict) -> str:
    if "chains" in body:
        return _mac(_checkpoint_key(), [body["at"], sorted(
            [int(i), end[0], end[1]] for i, end in body["chains"].items())])
    # A line written before Step 9: the two shared chains.
    return _mac(_checkpoint_key(), [body["at"], body["entries"], body["reviews"]])


def current_checkpoint(session: Session, now: datetime | None = None) -> Checkpoint:
    """Where every chain ends now (committed rows only: a head moves in the transaction that
    appends, so it never points past what is there)."""
    return Checkpoint(now or utcnow(), {row.id: (row.last_seq, row.last_hash) for row in
                                        session.execute(select(AuditHead.id, AuditHead.last_seq,
                                                               AuditHead.last_hash))})


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


def _parse_checkpoint(data: dict) -> tuple[dict, Checkpoint]:
    if "chains" in data:
        body = {"at": data["at"], "chains": data["chains"]}
        chains = {int(i): (int(end[0]), str(end[1])) for i, end in data["chains"].items()}
    else:
        body = {"at": data["at"], "entries": data["entries"], "reviews": data["reviews"]}
        chains = {SHARED_ENTRIES: (int(body["entries"][0]), str(body["entries"][1])),
                  SHARED_REVIEWS: (int(body["reviews"][0]), str(body["reviews"][1]))}
    return body, Checkpoint(datetime.fromisoformat(body["at"]), chains)


def read_checkpoints(path: Path) -> tuple[list[tuple[int, Checkpoint]], list[str]]:
    """The file's checkpoints with their line numbers, and a problem for every line that is
    not a checkpoint signed by this installation. Lines written before Step 9 (the two
    shared chains) are read as checkpoints of those chains."""
    found, problems = [], []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                body, checkpoint = _parse_checkpoint(data)
                signed = hmac.compare_digest(_sign(body), str(data["sig"]))
            except (ValueError, KeyError, IndexError, TypeError, AttributeError):
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
    chains: int = 0


@dataclass
class _Chain:
    """One chain as `verify` walks it."""

    name: str  # how problems name it ("the access log of organisation 3")
    model: type
    fields: tuple[str, ...]
    digest: Callable[[bytes, dict], str]
    key: bytes
    head: AuditHead
    wanted: set[int] = field(default_factory=set)  # seqs that checkpoints name
    seen: dict[int, str] = field(default_factory=dict)  # their hashes, as found
    checked: int = 0
    last_seq: int = 0
    last_hash: str = GENESIS
    complete: bool = False  # walked to its end (not stopped at too many problems)


def _chain_name(head: AuditHead) -> str:
    what = "access log" if head.kind == ENTRIES else "log reviews"
    if head.id in (SHARED_ENTRIES, SHARED_REVIEWS) and head.closed:
        return f"the shared {what} (before Step 9, chain {head.id})"
    owner = (f"organisation {head.organisation_id}" if head.organisation_id is not None
             else "the installation")
    return f"the {what} of {owner} (chain {head.id})"


def _rows(session: Session, model, chain_id: int, batch: int = 5000) -> Iterator:
    last = -1
    while True:
        chunk = session.scalars(
            select(model).where(model.chain_id == chain_id, model.seq > last)
            .order_by(model.seq).limit(batch)).all()
        if not chunk:
            return
        yield from chunk
        last = chunk[-1].seq
        session.expunge_all()


def _walk(session: Session, chain: _Chain, problems: list[str], max_problems: int) -> None:
    expected_seq, prev = chain.head.first_seq, chain.head.first_prev_hash
    version = chain.head.digest_version
    for row in _rows(session, chain.model, chain.head.id):
        chain.checked += 1
        values = {c: getattr(row, c) for c in chain.fields}
        if row.seq != expected_seq:
            problems.append(f"{chain.name}: seq {expected_seq} is missing "
                            f"(next present is {row.seq})")
        if row.prev_hash != prev:
            problems.append(f"{chain.name}: seq {row.seq} does not link to the one before it")
        if not hmac.compare_digest(chain.digest(chain.key, values, version), row.hash):
            problems.append(f"{chain.name}: seq {row.seq}'s contents do not match its hash")
        if row.seq in chain.wanted:
            chain.seen[row.seq] = row.hash
        expected_seq, prev = row.seq + 1, row.hash
        if len(problems) >= max_problems:
            return
    chain.complete = True
    chain.last_seq, chain.last_hash = expected_seq - 1, prev
    if len(problems) < max_problems and (chain.head.last_seq != chain.last_seq
                                         or chain.head.last_hash != prev):
        problems.append(f"{chain.name} ends at seq {chain.last_seq} but its head says "
                        f"{chain.head.last_seq} (removed from the end, or the head was changed)")


def _held_to(chain: _Chain, number: int, checkpoint: Checkpoint, seq: int, digest: str,
             problems: list[str]) -> None:
    """A chain against one checkpoint: it must reach the checkpointed row, and that row must
    be the one that was there."""
    if seq < chain.head.first_seq or not chain.complete:
        return  # nothing, or a part archived since (its rows are no longer here to check)
    written = f"checkpoint line {number} ({checkpoint.at.isoformat(timespec='seconds')})"
    if seq > chain.last_seq:
        problems.append(f"{written} records seq {seq} of {chain.name}, but the chain ends at "
                        f"{chain.last_seq}: the end of the chain was cut off")
    elif seq not in chain.seen:
        problems.append(f"{written}: seq {seq} of {chain.name} is missing")
    elif not hmac.compare_digest(chain.seen[seq], digest):
        problems.append(f"{written}: seq {seq} of {chain.name} is not the one that was "
                        "checkpointed")


def verify(session: Session, checkpoints: Path | None = None,
           max_problems: int = 20) -> VerifyReport:
    """Recompute every chain (each organisation's access log and log reviews, the
    installation's, the shared ones from before Step 9) and hold them to the signed
    checkpoints: any row edited, deleted, reordered, moved to another chain or forged breaks
    a chain, a chain cut off at the end falls short of a checkpoint, and a chain that a
    checkpoint names but the database no longer has is reported. Without `checkpoints` (the
    file; `hemma audit verify` passes `HEMMA_AUDIT_CHECKPOINT_FILE`) only the chains are
    checked."""
    problems: list[str] = []
    found: list[tuple[int, Checkpoint]] = []
    if checkpoints is not None and checkpoints.exists():
        found, problems = read_checkpoints(checkpoints)
    heads = list(session.scalars(select(AuditHead).order_by(AuditHead.id)))
    session.expunge_all()
    chains: dict[int, _Chain] = {}
    for head in heads:
        entries = head.kind == ENTRIES
        chains[head.id] = _Chain(
            _chain_name(head), AuditEntry if entries else AuditReview,
            ENTRY_FIELDS if entries else REVIEW_FIELDS,
            _digest if entries else _review_digest,
            _chain_key() if entries else _review_key(), head,
            wanted={c.chains[head.id][0] for _n, c in found if head.id in c.chains})
    for model in (AuditEntry, AuditReview):
        strays = session.execute(
            select(model.chain_id, func.count()).where(model.chain_id.not_in(list(chains)))
            .group_by(model.chain_id)).all() if chains else session.execute(
            select(model.chain_id, func.count()).group_by(model.chain_id)).all()
        for chain_id, count in strays:
            problems.append(f"{count} {model.__tablename__} row(s) name chain {chain_id}, "
                            "which has no head (its head was removed, or the rows were "
                            "inserted behind the application's back)")
    for chain in chains.values():
        if len(problems) >= max_problems:
            break
        _walk(session, chain, problems, max_problems)
    for number, checkpoint in found:
        for chain_id, (seq, digest) in sorted(checkpoint.chains.items()):
            if chain_id in chains:
                _held_to(chains[chain_id], number, checkpoint, seq, digest, problems)
            elif seq:
                problems.append(f"checkpoint line {number} records chain {chain_id} up to seq "
                                f"{seq}, but the database has no such chain (removed)")
    checked = sum(c.checked for c in chains.values() if c.model is AuditEntry)
    reviews_checked = sum(c.checked for c in chains.values() if c.model is AuditReview)
    if checkpoints is not None and not found and (checked or reviews_checked):
        problems.append(
            f"no checkpoint in {checkpoints}: the end of the chain cannot be checked (the worker "
            "writes them; `hemma audit checkpoint` writes one now)")
    newest = max((c for _n, c in found), key=lambda c: c.at, default=None)
    return VerifyReport(ok=not problems, checked=checked, problems=problems[:max_problems],
                        reviews_checked=reviews_checked, checkpoints_checked=len(found),
                        newest_checkpoint=newest, chains=len(chains))


def take(session: Session) -> list[tuple[Actor, _Pending]]:
    """The entries noted in `session` so far, each with its actor, taken out of it (its
    commit writes none of them): for `LiveLog`, which writes them with others'."""
    current = session.info.get(_TRAIL_KEY)
    if current is None:
        return []
    taken = [(p.actor or current.actor, p) for p in current.entries]
    current.clear()
    return taken


class LiveLog:
    """The access-log entries of this process's live pages, written together.

    One change (an alert delivered) wakes every open inbox at once, and each one that shows
    it must log who saw which patient. A transaction each would make a hundred commits queue
    for the lines of one organisation's chain; here every stream hands its entries over and
    waits, the first to arrive gathers what the others bring while the event loop goes round
    once, and one transaction writes them all (each entry with its own person). A stream sends
    nothing before its entries are committed: a failed write fails the streams it was for,
    and nothing is shown unlogged."""

    def __init__(self) -> None:
        self._waiting: dict = {}  # event loop -> [(database, entries, future)]

    async def write(self, database, entries: list[tuple[Actor, _Pending]]) -> None:
        import asyncio

        if not entries:
            return
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        queue = self._waiting.setdefault(loop, [])
        queue.append((database, entries, future))
        if len(queue) == 1:
            loop.create_task(self._write_soon(loop))
        await future

    async def _write_soon(self, loop) -> None:
        import asyncio

        from starlette.concurrency import run_in_threadpool

        await asyncio.sleep(0.005)  # the others woken by the same change join in
        batch = self._waiting.pop(loop, [])
        by_database: dict = {}
        for database, entries, future in batch:
            by_database.setdefault(database, []).append((entries, future))
        for database, items in by_database.items():
            try:
                await run_in_threadpool(self._commit, database,
                                        [e for entries, _ in items for e in entries])
            except Exception as exc:  # noqa: BLE001 (handed to each stream it was for)
                for _, future in items:
                    if not future.done():
                        future.set_exception(exc)
            else:
                for _, future in items:
                    if not future.done():
                        future.set_result(None)

    @staticmethod
    def _commit(database, entries: list[tuple[Actor, _Pending]]) -> None:
        with database.session() as session:
            trail(session).entries.extend(replace(p, actor=actor) for actor, p in entries)


live_log = LiveLog()
