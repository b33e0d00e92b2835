"""The worker: delivers the outbox (alerts to staff, notices to patients and relatives),
escalates alerts that nobody acknowledged, patients' messages nobody answered in time and
tasks past their due time, raises alerts for missed measurements, writes signed
checkpoints of the end of the audit log, and keeps the follow-up figures of the last days
materialised.
Run it as `hemma worker`, or inside `hemma serve`; several can run at once (claims and
escalation steps are conditional updates; checkpoints are appended lines).

`tick(now)` does one round of everything and is what tests call with a controlled clock."""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import update

import hemma.fhir.subscriptions  # (registers the rest-hook delivery)
import hemma.followup.service
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
from hemma.models import OutboxMessage

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
    followup_days: int | None = None  # follow-up rows stored this round (None: not its time)


class Worker:
    def __init__(self, database: Database, *, name: str | None = None,
                 missed_every: timedelta = timedelta(seconds=60),
                 checkpoint_file: Path | None = None,
                 checkpoint_every: timedelta | None = None,
                 followup_every: timedelta = timedelta(minutes=15)):
        settings = get_settings()
        self.database = database
        self.host = socket.gethostname()[:255]
        self.name = (name or f"{self.host}:{os.getpid()}:{id(self):x}")[:200]
        self.missed_every = missed_every
        self.checkpoint_file = checkpoint_file or settings.resolved_checkpoint_file()
        self.checkpoint_every = checkpoint_every or timedelta(
            seconds=settings.audit_checkpoint_seconds)
        self.followup_every = followup_every
        self._last_missed: datetime | None = None
        self._last_followup: datetime | None = None
        self._last_checkpoint: tuple[datetime, tuple, tuple] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def deliver_pending(self, now: datetime) -> tuple[int, int]:
        delivered = failed = 0
        while True:
            with self.database.session() as s:
                claimed = outbox.claim(s, self.name, now)
            if not claimed:
                return delivered, failed
            for message_id in claimed:
                # What is logged while delivering carries the message's id as its request id.
                with bound(f"outbox-{message_id}"):
                    try:
                        # One transaction per message: its notifications and its "delivered"
                        # mark commit together, or neither does.
                        with self.database.session() as s:
                            delivered += outbox.deliver(s, message_id, self.name, now)
                    except Exception as exc:
                        failed += 1
                        log.exception("delivering outbox message %s failed", message_id,
                                      extra={"outbox_id": message_id})
                        with self.database.session() as s:
                            s.execute(update(OutboxMessage).where(OutboxMessage.id == message_id)
                                      .values(last_error=str(exc)[:500]))
            if failed:
                return delivered, failed

    def tick(self, now: datetime | None = None, *, check_missed: bool | None = None) -> TickReport:
        """One round of everything; the worker's heartbeat is beaten when it is done."""
        now = now or utcnow()
        with bound(f"tick-{uuid.uuid4().hex[:12]}"):
            report = self._round(now, check_missed)
        with self.database.session() as s:
            heartbeat.beat(s, self.name, self.host, os.getpid(), now)
        return report

    def _round(self, now: datetime, check_missed: bool | None) -> TickReport:
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
        report.delivered, report.failed = self.deliver_pending(now)
        if check_missed is None:
            check_missed = self._last_missed is None or now - self._last_missed >= self.missed_every
        if check_missed:
            with self.database.session() as s:
                report.missed = alerts.check_missed(s, now)
            self._last_missed = now
            if report.missed:
                delivered, failed = self.deliver_pending(now)
                report.delivered += delivered
                report.failed += failed
        report.checkpoint = self.checkpoint(now)
        if self._last_followup is None or now - self._last_followup >= self.followup_every:
            report.followup_days = self.keep_followup_current(now)
        return report

    def keep_followup_current(self, now: datetime) -> int | None:
        """The follow-up measures of the last days, materialised (hemma.followup.service).
        Last: alerts and escalations never wait for it, and a failure only delays figures."""
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
                if not force and last is not None and \
                        (current.entries, current.reviews) == last[1:]:
                    self._last_checkpoint = (now, *last[1:])  # still the end: look again later
                    return False
                written = audit.write_checkpoint(s, self.checkpoint_file, now)
        except Exception:
            log.exception("writing the audit checkpoint to %s failed", self.checkpoint_file)
            return False
        self._last_checkpoint = (now, written.entries, written.reviews)
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
