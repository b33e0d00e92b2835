"""The worker: delivers the outbox (alerts to staff, notices to patients and relatives),
escalates alerts that nobody acknowledged, patients' messages nobody answered in time and
tasks past their due time, raises alerts for missed measurements, writes signed
checkpoints of the end of the audit log, keeps the follow-up figures of the last days
materialised, makes the coming months' partitions (PostgreSQL) and once a day purges what has
passed its retention (hemma.jobs.retention).
Run it as `hemma worker`, or inside `hemma serve`; several can run at once, in any number of
processes and machines on one PostgreSQL: claims and escalation steps are conditional
updates, a missed window's alert is unique, checkpoints are appended lines, and the
follow-up days are refreshed by one worker at a time (an advisory lock). Asked to stop
(`stop()`, SIGTERM for `hemma worker`), it finishes the message it is delivering and hands
back the rest of its claim.

`tick(now)` does one round of everything and is what tests call with a controlled clock."""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy import update

import hemma.fhir.subscriptions  # (registers the rest-hook delivery)
import hemma.followup.service
import hemma.jobs.retention
import hemma.messaging.service  # noqa: F401  (registers the message escalation's delivery)
import hemma.monitoring.alerts  # noqa: F401  (registers the alert delivery handlers)
import hemma.notifications.service  # noqa: F401  (registers the notice delivery handler)
import hemma.tasks.service  # (registers the overdue task handler)
from hemma.access import audit
from hemma.config import get_settings
from hemma.db import Database
from hemma.jobs import heartbeat, outbox
from hemma.kit.logs import bound
from hemma.kit.time import utcnow
from hemma.models import OutboxMessage, partitions

log = logging.getLogger("hemma.worker")


@dataclass
class TickReport:
    delivered: int = 0
    failed: int = 0
    escalated: int = 0
    tasks_escalated: int = 0
    messages_escalated: int = 0  # threads whose patient's messages passed the answer goal
    notifications: int = 0  # FHIR subscription notifications queued
    missed: int = 0
    checkpoint: bool = False
    # follow-up rows stored this round (None: not its time, or another worker's turn)
    followup_days: int | None = None
    partitions: list[str] | None = None  # monthly partitions made (None: not its time)
    retention: list | None = None  # each data class's purge (None: not its time)


class Worker:
    def __init__(self, database: Database, *, name: str | None = None,
                 missed_every: timedelta = timedelta(seconds=60),
                 checkpoint_file: Path | None = None,
                 checkpoint_every: timedelta | None = None,
                 followup_every: timedelta = timedelta(minutes=15),
                 retention_every: timedelta = timedelta(days=1)):
        settings = get_settings()
        self.database = database
        self.host = socket.gethostname()[:255]
        self.name = (name or f"{self.host}:{os.getpid()}:{id(self):x}")[:200]
        self.missed_every = missed_every
        self.checkpoint_file = checkpoint_file or settings.resolved_checkpoint_file()
        self.checkpoint_every = checkpoint_every or timedelta(
            seconds=settings.audit_checkpoint_seconds)
        self.followup_every = followup_every
        self.retention_every = retention_every
        self._last_retention: datetime | None = None
        self._last_missed: datetime | None = None
        self._last_followup: datetime | None = None
        self._partitions_on: date | None = None
        self._last_checkpoint: tuple[datetime, dict] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def deliver_pending(self, now: datetime | None = None) -> tuple[int, int]:
        """Claim and deliver due messages until none are left, one failed, or the worker is
        asked to stop (it hands back what it claimed and did not deliver). With `now` None
        the clock is read at each claim and each delivery: a long backlog's later claims get
        their whole lease, and a delivery its own time."""
        delivered = failed = 0
        while not self._stop.is_set():
            with self.database.session() as s:
                claimed = outbox.claim(s, self.name, now or utcnow())
            if not claimed:
                break
            for i, message_id in enumerate(claimed):
                if self._stop.is_set():
                    self._release(claimed[i:])
                    break
                # What is logged while delivering carries the message's id as its request id.
                with bound(f"outbox-{message_id}"):
                    try:
                        # One transaction per message: its notifications and its "delivered"
                        # mark commit together, or neither does.
                        with self.database.session() as s:
                            delivered += outbox.deliver(s, message_id, self.name,
                                                        now or utcnow())
                    except Exception as exc:
                        failed += 1
                        log.exception("delivering outbox message %s failed", message_id,
                                      extra={"outbox_id": message_id})
                        with self.database.session() as s:
                            s.execute(update(OutboxMessage)
                                      .where(OutboxMessage.id == message_id)
                                      .values(last_error=str(exc)[:500]))
            if failed:
                break
        return delivered, failed

    def _release(self, message_ids: list[int]) -> None:
        """Stopping: the claimed messages not delivered go back at once (a failure to say so
        only makes them wait for the lease)."""
        try:
            with self.database.session() as s:
                released = outbox.release(s, self.name, message_ids)
            log.info("worker %s stopping: handed back %s claimed message(s)", self.name,
                     released)
        except Exception:
            log.exception("handing back %s claimed message(s) failed; they wait for the lease",
                          len(message_ids))

    def tick(self, now: datetime | None = None, *, check_missed: bool | None = None) -> TickReport:
        """One round of everything at `now` (None: the clock; deliveries then read it anew);
        the worker's heartbeat is beaten when it is done."""
        clock = now
        now = now or utcnow()
        with bound(f"tick-{uuid.uuid4().hex[:12]}"):
            report = self._round(now, clock, check_missed)
        with self.database.session() as s:
            heartbeat.beat(s, self.name, self.host, os.getpid(), now)
        return report

    def _round(self, now: datetime, clock: datetime | None,
               check_missed: bool | None) -> TickReport:
        alerts = hemma.monitoring.alerts
        report = TickReport()
        with self.database.session() as s:
            report.escalated = alerts.escalate_due(s, now)
        with self.database.session() as s:
            report.tasks_escalated = hemma.tasks.service.escalate_due(s, now)
        with self.database.session() as s:
            report.messages_escalated = hemma.messaging.service.escalate_due(s, now)
        with self.database.session() as s:
            report.notifications = hemma.fhir.subscriptions.sweep(s, now)
        # Deliver first: an alert waiting in the outbox must not wait for the slower sweep
        # for missed measurements.
        report.delivered, report.failed = self.deliver_pending(clock)
        if self._stop.is_set():
            return report  # asked to stop: the rest waits for the next worker's round
        if check_missed is None:
            check_missed = self._last_missed is None or now - self._last_missed >= self.missed_every
        if check_missed:
            with self.database.session() as s:
                report.missed = alerts.check_missed(s, now)
            self._last_missed = now
            if report.missed:
                delivered, failed = self.deliver_pending(clock)
                report.delivered += delivered
                report.failed += failed
        report.checkpoint = self.checkpoint(now)
        if self._last_followup is None or now - self._last_followup >= self.followup_every:
            report.followup_days = self.keep_followup_current(now)
        if self._partitions_on != now.date():
            report.partitions = self.make_partitions(now)
        if self._last_retention is None or now - self._last_retention >= self.retention_every:
            report.retention = self.purge_expired(now)
        return report

    def make_partitions(self, now: datetime) -> list[str] | None:
        """Once a day, the coming months' partitions of observations and the access log
        (PostgreSQL; hemma.models.partitions), made well before a row needs them."""
        self._partitions_on = now.date()
        try:
            with self.database.session() as s:
                made = partitions.ensure_ahead(s, now.date())
        except Exception:
            log.exception("making the coming months' partitions failed")
            return None
        if made:
            log.info("partitions made: %s", ", ".join(made))
        return made

    def purge_expired(self, now: datetime) -> list | None:
        """Once a day: each data class past its retention (hemma.jobs.retention). Last of all,
        and a failure is logged and tried again the next day."""
        self._last_retention = now
        try:
            return hemma.jobs.retention.run(self.database, now)
        except Exception:
            log.exception("the retention purge failed")
            return None

    def keep_followup_current(self, now: datetime) -> int | None:
        """The follow-up measures of the last days, materialised (hemma.followup.service).
        Last: alerts and escalations never wait for it, and a failure only delays figures.
        None when another worker is refreshing them right now (one at a time)."""
        self._last_followup = now
        try:
            with self.database.session() as s:
                return hemma.followup.service.keep_current(s, now)
        except Exception:
            log.exception("keeping the follow-up figures current failed")
            return None

    def checkpoint(self, now: datetime, *, force: bool = False) -> bool:
        """Every `checkpoint_every`, if the audit log grew since this worker's last one, append
        a signed checkpoint of its end to the checkpoint file. A failure to write is logged and
        tried again next time: it must not stop alerts being delivered."""
        last = self._last_checkpoint
        if not force and last is not None and now - last[0] < self.checkpoint_every:
            return False
        try:
            with self.database.session() as s:
                current = audit.current_checkpoint(s, now)
                if not force and last is not None and current.chains == last[1]:
                    self._last_checkpoint = (now, last[1])  # still the end: look again later
                    return False
                written = audit.write_checkpoint(s, self.checkpoint_file, now)
        except Exception:
            log.exception("writing the audit checkpoint to %s failed", self.checkpoint_file)
            return False
        self._last_checkpoint = (now, written.chains)
        return True

    def run(self, idle_seconds: float = 1.0) -> None:
        log.info("worker %s started", self.name)
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:
                log.exception("worker tick failed")
            outbox.ready.wait(idle_seconds)
            outbox.ready.clear()
        try:
            with self.database.session() as s:
                heartbeat.forget(s, self.name)
        except Exception:
            log.exception("removing the heartbeat of worker %s failed", self.name)
        log.info("worker %s stopped", self.name)

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="hemma-worker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        outbox.ready.set()
        if self._thread:
            self._thread.join(timeout=10)
