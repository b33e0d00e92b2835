"""Two workers at the same moment, in the same database (PostgreSQL: SQLite's writers queue
on its own lock): a message is claimed by one, an escalation step taken by one."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from hemma.jobs import outbox
from hemma.kit.time import utcnow
from hemma.models import Alert, AlertEvent
from hemma.monitoring import alerts


@pytest.fixture
def postgres(database):
    if database.engine.dialect.name != "postgresql":
        pytest.skip("SQLite's writers queue on its own database lock (BEGIN IMMEDIATE)")
    return database


def _in_thread(fn):
    """Run fn in another thread (another worker); its result or its error."""
    out = {}

    def run():
        try:
            out["result"] = fn()
        except Exception as exc:
            out["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread, out


def test_a_claim_in_progress_is_passed_over_not_waited_for(postgres):
    database = postgres
    with database.session() as s:
        messages = [outbox.enqueue(s, "test.claims", {}) for _ in range(3)]
        s.flush()
        ids = [m.id for m in messages]
    now = utcnow() + timedelta(seconds=1)

    def other():
        with database.session() as s:
            return outbox.claim(s, "b", now)

    with database.session() as s:
        assert outbox.claim(s, "a", now) == ids
        # Before a's claim commits: b does not wait for it, and takes none of a's.
        thread, out = _in_thread(other)
        thread.join(60)
        assert out == {"result": []}
    thread, out = _in_thread(other)  # after: still a's, for its lease
    thread.join(60)
    assert out == {"result": []}


def test_an_escalation_step_is_taken_once_by_two_workers_at_once(postgres, world):
    database = postgres
    pid = world.patient()
    world.episode(pid, state="admitted")
    alert_id = world.alert(pid, severity="critical")
    now = utcnow()
    with database.session() as s:
        s.get(Alert, alert_id).next_escalation_at = now - timedelta(minutes=1)

    def other():
        with database.session() as s:
            return alerts.escalate_due(s, now)

    with database.session() as s:
        assert alerts.escalate_due(s, now) == 1
        thread, out = _in_thread(other)  # waits for this transaction's row lock
        thread.join(0.5)
    thread.join(60)
    assert out == {"result": 0}  # the step was taken: the conditional update finds no row
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(AlertEvent).where(
            AlertEvent.alert_id == alert_id, AlertEvent.kind == "escalated")) == 1
        assert s.get(Alert, alert_id).escalation_level == 1
