"""What the load balancer and the monitoring ask: /health (the process answers), /ready (it
can do its work: the database answers, its schema is the code's, a worker delivers the
outbox) and /metrics (Prometheus, behind its own bearer token).

/health and /ready are public and cheap (no session, no audit entry, no patient data; /ready
runs three small queries on one connection); /health does not even wait for a place among
the requests admitted at once (web.middleware.Admission). Their answers name which check
failed and nothing else: no error text, no address of the database."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import cache

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError

from hemma.config import get_settings
from hemma.db import Database
from hemma.jobs import outbox
from hemma.kit.metrics import exposition
from hemma.kit.time import utcnow
from hemma.models import OutboxMessage, WorkerHeartbeat
from hemma.web.deps import MetricsToken, Public

log = logging.getLogger("hemma.ops")
router = APIRouter()

# What each check says: "ok", or why not.
OK = "ok"


@cache
def migration_heads() -> frozenset[str]:
    """The newest revision(s) of the migrations this code carries."""
    from alembic.script import ScriptDirectory

    from hemma.migrations.runner import alembic_config

    return frozenset(ScriptDirectory.from_config(alembic_config()).get_heads())


def readiness(database: Database, now: datetime, fresh: timedelta) -> dict[str, str]:
    """database: ok / unreachable; migrations: ok / behind (or ahead: another version's
    schema) / missing; worker: ok / stale / none (no worker has ever beaten)."""
    checks = {"database": "unreachable", "migrations": "not checked", "worker": "not checked"}
    try:
        with database.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            checks["database"] = OK
            try:
                current = set(conn.execute(text("SELECT version_num FROM alembic_version"))
                              .scalars())
            except SQLAlchemyError:
                conn.rollback()
                current = set()
            checks["migrations"] = (OK if current == migration_heads()
                                    else "missing" if not current else "behind")
            try:
                newest = conn.execute(select(func.max(WorkerHeartbeat.beat_at))).scalar()
            except SQLAlchemyError:  # no such table yet: the migrations said so already
                conn.rollback()
                newest = None
            checks["worker"] = ("none" if newest is None
                                else OK if now - newest <= fresh else "stale")
            conn.rollback()
    except SQLAlchemyError as exc:
        # The kind of error only: its text may carry the database's address.
        log.warning("readiness: the database did not answer (%s)", type(exc).__name__)
    return checks


@router.get("/health", dependencies=[Depends(Public())], include_in_schema=False)
async def health():
    """Alive: the process answers. Touches nothing else."""
    return JSONResponse({"status": OK})


@router.get("/ready", dependencies=[Depends(Public())], include_in_schema=False)
def ready(request: Request):
    """200 when every check is ok, else 503 naming the checks that are not."""
    checks = readiness(request.app.state.db, utcnow(),
                       timedelta(seconds=get_settings().worker_fresh_seconds))
    failed = [name for name, state in checks.items() if state != OK]
    return JSONResponse({"status": "unavailable" if failed else "ready", "checks": checks,
                         "failed": failed}, status_code=503 if failed else 200)


class DatabaseFigures:
    """Figures kept in the database, read when Prometheus scrapes: the same from whichever
    process it asks, and they include workers on other hosts."""

    def __init__(self, database: Database):
        self.database = database

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily("hemma_database_up",
                               "1 if the database answered this scrape's queries, else 0.")
        depth = GaugeMetricFamily("hemma_outbox_depth",
                                  "Outbox messages not yet delivered, by topic.",
                                  labels=["topic"])
        oldest = GaugeMetricFamily(
            "hemma_outbox_oldest_due_seconds",
            "Age of the oldest undelivered outbox message that is due, by topic (0: none).",
            labels=["topic"])
        ages = GaugeMetricFamily(
            "hemma_worker_heartbeat_age_seconds",
            "Seconds since each worker last completed a round (its heartbeat).",
            labels=["worker", "host"])
        try:
            with self.database.engine.connect() as conn:
                counts = {topic: (n, due) for topic, n, due in conn.execute(
                    select(OutboxMessage.topic, func.count(),
                           func.min(OutboxMessage.available_at))
                    .where(OutboxMessage.delivered_at.is_(None))
                    .group_by(OutboxMessage.topic))}
                beats = list(conn.execute(select(WorkerHeartbeat.name, WorkerHeartbeat.host,
                                                 WorkerHeartbeat.beat_at)
                                          .order_by(WorkerHeartbeat.name)))
                conn.rollback()
            now = utcnow()  # after reading: a beat written meanwhile is not "in the future"
        except SQLAlchemyError as exc:
            log.warning("metrics: the database did not answer (%s)", type(exc).__name__)
            up.add_metric([], 0)
            return [up]
        up.add_metric([], 1)
        for topic in sorted(set(outbox.HANDLERS) | set(counts)):
            n, due = counts.get(topic, (0, None))
            depth.add_metric([topic], n)
            waited = (now - due).total_seconds() if due is not None else 0.0
            oldest.add_metric([topic], max(0.0, waited))
        for name, host, beat_at in beats:
            ages.add_metric([name, host], max(0.0, (now - beat_at).total_seconds()))
        return [up, depth, oldest, ages]


@router.get("/metrics", dependencies=[Depends(MetricsToken())], include_in_schema=False)
def metrics(request: Request):
    """Prometheus's text format: this host's processes' request and alert delivery latency,
    process figures, and the database's outbox depth and worker heartbeats."""
    body = exposition(DatabaseFigures(request.app.state.db))
    return Response(body, media_type=CONTENT_TYPE_PLAIN_0_0_4)
