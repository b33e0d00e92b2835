"""Single observations from devices, systems and staff over the JSON API, recorded together.

One submission at a time is the common case for a device gateway or a monitoring system, and
hundreds arrive each second. Each on its own would cost a transaction: resolving the caller,
the access facts, reading the values nearby, writing the row, the alert checks, the audit
entry at the end of the hash chain (whose head every commit locks), and the commit. Here the
route only reads the request and hands it to the process's `Ingest` thread, which takes every
submission waiting at that moment and records them in one transaction (group commit): one
lookup of the callers, one access decision per caller and patient (the same `decide()` as
everywhere), `service.record_many` per caller, one audit flush with one entry per
submission, each with its own caller, and one commit. Under light load a batch is one
submission and nothing waits; under heavy load the batches grow and the cost per submission
falls.

Each submission still gets its own answer: a refused patient is a 404, a bad value names its
field, and neither changes anything for the others. If the shared transaction fails, each
submission is tried again alone, so one cannot take the others down with it. Every
submission is answered, whatever happens: if recording fails even alone, or takes longer
than the timeout, the request gets a 503 that says to send it again (a resend with the same
client id is never recorded twice), and the thread goes on with the next batch.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import uuid
from collections import defaultdict
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass

from sqlalchemy.orm import Session

from hemma.access import audit
from hemma.access.auth import Caller, actor_for, authenticate
from hemma.access.policy import Action
from hemma.access.service import decisions_for, subject_for
from hemma.db import Database
from hemma.kit.errors import HemmaError, NotFound, Unavailable
from hemma.kit.text import N_
from hemma.kit.time import utcnow
from hemma.kit.validation import load_json, parse
from hemma.monitoring import service, visible
from hemma.monitoring.schemas import ObservationCreate, ObservationRead

log = logging.getLogger("hemma.ingest")
MAX_BATCH = 200  # submissions in one transaction at most
FAILED = N_("The values could not be recorded just now. Send them again with the same "
            "client_id: a resend is never recorded twice.")
TOO_SLOW = N_("Recording the values took too long. Send them again with the same client_id: "
              "a resend is never recorded twice.")


@dataclass
class _Item:
    caller: Caller
    patient_id: uuid.UUID
    body: bytes
    future: Future


class Ingest:
    """The process's group-commit thread for single observations."""

    def __init__(self, database: Database, timeout: float = 10.0):
        self.database = database
        self.timeout = timeout  # seconds a request waits for its answer at most
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    async def submit(self, caller: Caller, patient_id: uuid.UUID, body: bytes) -> ObservationRead:
        """Record one submission; raises what a route would (NotFound, Invalid, ...), and
        Unavailable (503) if it could not be recorded or the answer took too long."""
        self._start()
        future: Future = Future()
        self._queue.put(_Item(caller, patient_id, body, future))
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), self.timeout)
        except TimeoutError:
            # The submission may still be recorded when its turn comes; its answer is then
            # dropped (the future is cancelled), and a resend finds the stored row.
            raise Unavailable(TOO_SLOW) from None

    def _start(self) -> None:
        thread = self._thread
        if thread is not None and thread.is_alive():
            return
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="hemma-ingest",
                                                daemon=True)
                self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            while len(batch) < MAX_BATCH:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)  # stop after this batch
                    break
                batch.append(more)
            try:
                self._process(batch)
            except BaseException:  # never let the thread die: every later request would wait
                log.exception("ingest: a batch of %s could not be recorded", len(batch))
            finally:
                for item in batch:  # whatever happened, nobody waits for ever
                    _answer(item, Unavailable(FAILED))

    def _process(self, batch: list[_Item]) -> None:
        try:
            with self.database.session() as session:
                outcomes = record_batch(session, batch)
        except Exception as exc:  # the shared transaction failed: each on its own
            if len(batch) > 1:
                log.warning("a batch of %s failed (%s); recording one by one", len(batch), exc)
                for item in batch:
                    self._process([item])
                return
            log.exception("ingest: a submission could not be recorded")
            outcomes = [Unavailable(FAILED)]
        for item, outcome in zip(batch, outcomes, strict=True):
            _answer(item, outcome)


def _answer(item: _Item, outcome) -> None:
    """Give the waiting request its answer, unless it has one or went away (cancelled: what
    was recorded stays)."""
    if item.future.done():
        return
    try:
        if isinstance(outcome, BaseException):
            item.future.set_exception(outcome)
        else:
            item.future.set_result(outcome)
    except InvalidStateError:  # cancelled just now
        pass


def _resolve(session: Session, callers: set[Caller]) -> dict[Caller, tuple | HemmaError]:
    """Each distinct caller: (staff, subject) or the error to answer with."""
    out: dict[Caller, tuple | HemmaError] = {}
    for caller in callers:
        try:
            staff, _web = authenticate(session, caller, unsafe=True)
        except HemmaError as exc:
            out[caller] = exc
            continue
        out[caller] = (staff, subject_for(session, staff))
    return out


def record_batch(session: Session, batch: list[_Item]) -> list[ObservationRead | HemmaError]:
    """Record the submissions in the session's transaction; an answer for each."""
    outcomes: list[ObservationRead | HemmaError | None] = [None] * len(batch)
    callers = _resolve(session, {item.caller for item in batch})
    trail = audit.trail(session)
    # Decisions per caller, for all its patients at once.
    patients: dict[Caller, set[uuid.UUID]] = defaultdict(set)
    for item in batch:
        if isinstance(callers[item.caller], tuple):
            patients[item.caller].add(item.patient_id)
    decisions = {caller: decisions_for(session, callers[caller][1], pids, Action.OBSERVE)
                 for caller, pids in patients.items()}
    actors: dict[tuple, audit.Actor] = {}
    now = utcnow()
    groups: dict[tuple, list[tuple[int, ObservationCreate]]] = defaultdict(list)
    for i, item in enumerate(batch):
        resolved = callers[item.caller]
        if isinstance(resolved, HemmaError):
            outcomes[i] = resolved
            continue
        staff, subject = resolved
        key = (staff.id, item.caller.client_addr)
        if key not in actors:
            actors[key] = actor_for(session, staff, item.caller.client_addr)
        decision = decisions[item.caller][item.patient_id]
        if not decision:
            # As require(): a refusal about a patient that exists is logged.
            if decision.facts is not None and decision.facts.exists:
                trail.record_for(actors[key], item.patient_id, "observation.record",
                                 outcome="denied")
            outcomes[i] = NotFound()
            continue
        try:
            data = parse(ObservationCreate, load_json(item.body or b"null"))
            service.check_time(data, now)
        except HemmaError as exc:
            outcomes[i] = exc
            continue
        trail.record_for(actors[key], item.patient_id, "observation.record",
                         basis=str(decision.basis), emergency=decision.emergency)
        performer = "device" if subject.profession == "system" else "staff"
        groups[(performer, subject.staff_id, subject.unit_id)].append((i, data))
    for (performer, staff_id, unit_id), entries in groups.items():
        recorded = service.record_many(
            session, [(batch[i].patient_id, data) for i, data in entries], performer=performer,
            source="api", documented_by_unit_id=unit_id, staff_id=staff_id)
        for (i, _data), r in zip(entries, recorded, strict=True):
            decision = decisions[batch[i].caller][batch[i].patient_id]
            outcomes[i] = ObservationRead.of(
                visible.answer(session, decision, r.observation, r.news2_units),
                duplicate=not r.created, alert=r.alert)
    return outcomes
