"""Operations: /health (alive), /ready (database, migrations, a worker's fresh heartbeat) and
/metrics (Prometheus, behind its own bearer token): request latency, outbox depth, alert
delivery latency, worker heartbeats; the multiprocess mode `hemma serve --workers N` uses."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select, text

from hemma.app import create_app
from hemma.db import Database
from hemma.jobs import outbox
from hemma.jobs.worker import Worker
from hemma.kit.time import frozen_clock, utcnow
from hemma.models import WorkerHeartbeat
from tests.live import free_port

TOKEN = "a-long-random-token-for-the-scraper"
SRC = Path(__file__).resolve().parents[1] / "src"

CRITICAL = dict(respiration_rate=26, spo2=90, pulse=131, systolic_bp=95, temperature=38.5,
                consciousness="A", on_oxygen=False)


@pytest.fixture
def scraper(settings, database):
    """An app whose settings carry a metrics token, and a client without a session. (The
    settings are the process's: a test uses this app alone, not `app` or `as_user`.)"""
    app = create_app(settings.model_copy(update={"metrics_token": TOKEN}), database)
    with TestClient(app, base_url="https://testserver") as c:
        yield c


def _staff(scraper, world, database, username: str) -> TestClient:
    c = TestClient(scraper.app, base_url="https://testserver")
    c.__enter__()
    world.login(c, database, username)
    return c


def _scrape(client) -> dict[tuple[str, tuple], float]:
    r = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(r.text) for s in family.samples}


def _value(figures, name, **labels) -> float:
    return figures.get((name, tuple(sorted(labels.items()))), 0.0)


# --- /health and /ready ---------------------------------------------------------------------


def test_health_answers_without_the_database_and_ready_says_it_is_down(settings):
    port = free_port()  # nothing listens there
    down = Database(f"postgresql+psycopg://hemma:secret-pw@127.0.0.1:{port}/hemma")
    try:
        with TestClient(create_app(settings, down), base_url="https://testserver") as c:
            r = c.get("/health")
            assert (r.status_code, r.json()) == (200, {"status": "ok"})
            r = c.get("/ready")
            assert r.status_code == 503
            assert r.json() == {"status": "unavailable", "failed": [
                "database", "migrations", "worker"], "checks": {
                "database": "unreachable", "migrations": "not checked",
                "worker": "not checked"}}
            # Nothing of the database's address or credentials.
            assert str(port) not in r.text and "secret-pw" not in r.text
    finally:
        down.dispose()


def test_ready_wants_a_fresh_worker_heartbeat(settings, database, client):
    r = client.get("/ready")
    assert r.status_code == 503
    assert r.json()["checks"] == {"database": "ok", "migrations": "ok", "worker": "none"}
    assert r.json()["failed"] == ["worker"]

    old = Worker(database, name="old")
    old.tick(utcnow() - timedelta(seconds=settings.worker_fresh_seconds + 1))
    r = client.get("/ready")
    assert (r.status_code, r.json()["checks"]["worker"]) == (503, "stale")

    fresh = Worker(database, name="fresh")
    fresh.tick()
    r = client.get("/ready")
    assert r.status_code == 200
    assert r.json() == {"status": "ready", "failed": [], "checks": {
        "database": "ok", "migrations": "ok", "worker": "ok"}}

    # A worker that stops takes its heartbeat along: only the stale one is left.
    fresh.stop()
    fresh.run()  # stopped already: ends at once, as after SIGTERM
    with database.session() as s:
        assert s.scalars(select(WorkerHeartbeat.name)).all() == ["old"]
    assert client.get("/ready").json()["checks"]["worker"] == "stale"


def test_a_heartbeat_row_names_the_worker_and_keeps_its_start(database):
    worker = Worker(database)
    first = utcnow()
    worker.tick(first)
    worker.tick(first + timedelta(seconds=2))
    with database.session() as s:
        (beat,) = s.scalars(select(WorkerHeartbeat)).all()
        assert beat.name == worker.name and beat.pid == os.getpid()
        assert (beat.started_at, beat.beat_at) == (first, first + timedelta(seconds=2))
        # A worker silent for a day is cleared by another's beat.
    Worker(database, name="other").tick(first + timedelta(days=1, seconds=3))
    with database.session() as s:
        assert s.scalars(select(WorkerHeartbeat.name)).all() == ["other"]


def test_ready_says_when_the_schema_is_behind_the_code(database, client):
    Worker(database).tick()
    with database.session() as s:
        s.execute(text("UPDATE alembic_version SET version_num = '9b4e2a7c1d35'"))
    r = client.get("/ready")
    assert r.status_code == 503
    assert r.json()["checks"]["migrations"] == "behind" and r.json()["failed"] == ["migrations"]


# --- /metrics ---------------------------------------------------------------------------------


def test_without_a_token_configured_there_are_no_metrics(client):
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 404
    assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 404


def test_metrics_need_their_own_token(scraper, world, database):
    r = scraper.get("/metrics")
    assert (r.status_code, r.headers["www-authenticate"]) == (401, "Bearer")
    assert "hemma_" not in r.text
    for wrong in ("Bearer wrong", f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", TOKEN, "Bearer "):
        assert scraper.get("/metrics", headers={"Authorization": wrong}).status_code == 401
    # A staff member's session is no metrics token.
    staff = _staff(scraper, world, database, "sara")
    try:
        assert staff.get("/metrics").status_code == 401
    finally:
        staff.__exit__(None, None, None)
    r = scraper.get("/metrics", headers={"Authorization": f"bearer {TOKEN}"})
    assert r.status_code == 200 and "hemma_outbox_depth" in r.text


def test_metrics_show_request_latency_by_route_template(scraper, world):
    pid = world.patient()
    before = _scrape(scraper)
    scraper.get("/login")
    scraper.get(f"/patients/{pid}", follow_redirects=False)  # not logged in: 303
    after = _scrape(scraper)
    name = "hemma_http_request_duration_seconds_count"
    assert _value(after, name, method="GET", route="/login", status="2xx") == \
        _value(before, name, method="GET", route="/login", status="2xx") + 1
    assert _value(after, name, method="GET", route="/patients/{patient_id}", status="3xx") == \
        _value(before, name, method="GET", route="/patients/{patient_id}", status="3xx") + 1
    # Never a filled path, and the process's own figures are there.
    assert not any(str(pid) in str(labels) for _name, labels in after)
    assert _value(after, "process_cpu_seconds_total") > 0
    assert _value(after, "hemma_database_up") == 1


def test_metrics_show_outbox_depth_alert_delivery_latency_and_heartbeats(scraper, world,
                                                                         database):
    pid = world.patient(unit="med")
    world.episode(pid, state="admitted")
    t0 = utcnow()
    before = _scrape(scraper)
    assert _value(before, "hemma_outbox_depth", topic="alert.notify") == 0
    olle = _staff(scraper, world, database, "olle")
    try:
        with frozen_clock(t0):
            r = olle.post(f"/api/v1/patients/{pid}/observations", json={
                "client_id": "ops-0001", "measured_at": t0.isoformat(), **CRITICAL})
            assert r.status_code == 201 and r.json()["alert_id"]
    finally:
        olle.__exit__(None, None, None)
    queued = _scrape(scraper)
    assert _value(queued, "hemma_outbox_depth", topic="alert.notify") == 1
    assert _value(queued, "hemma_outbox_oldest_due_seconds", topic="alert.notify") > 0

    # The worker delivers it one second after it was raised.
    worker = Worker(database, name="ops-worker")
    with frozen_clock(t0 + timedelta(seconds=1)):
        assert worker.tick().delivered == 1
    after = _scrape(scraper)
    assert _value(after, "hemma_outbox_depth", topic="alert.notify") == 0
    count, total = "hemma_alert_delivery_seconds_count", "hemma_alert_delivery_seconds_sum"
    assert _value(after, count, reason="created") == _value(before, count, reason="created") + 1
    assert _value(after, total, reason="created") == pytest.approx(
        _value(before, total, reason="created") + 1.0)
    bucket = "hemma_alert_delivery_seconds_bucket"
    assert _value(after, bucket, reason="created", le="1.0") == \
        _value(before, bucket, reason="created", le="1.0") + 1
    assert _value(after, bucket, reason="created", le="0.5") == \
        _value(before, bucket, reason="created", le="0.5")
    # Its heartbeat, by name and host.
    ages = {dict(labels)["worker"]: v for (name, labels), v in after.items()
            if name == "hemma_worker_heartbeat_age_seconds"}
    assert list(ages) == ["ops-worker"] and ages["ops-worker"] >= 0


def test_a_delivery_that_rolls_back_is_not_observed(scraper, database):
    """The latency is observed when the delivery commits: a failed one is not a delivery."""
    with database.session() as s:
        outbox.enqueue(s, "no.such.topic", {})
    before = _scrape(scraper)
    report = Worker(database).tick()
    assert (report.delivered, report.failed) == (0, 1)
    after = _scrape(scraper)
    assert _value(after, "hemma_outbox_depth", topic="no.such.topic") == 1
    assert [k for k in after if k[0] == "hemma_alert_delivery_seconds_count"] == \
        [k for k in before if k[0] == "hemma_alert_delivery_seconds_count"]
    assert all(after[k] == before[k] for k in before
               if k[0] == "hemma_alert_delivery_seconds_count")


# --- several processes ------------------------------------------------------------------------

PROCESS = textwrap.dedent("""
    import sys
    from hemma.kit import metrics
    metrics.prepare_directory()
    metrics.ALERT_DELIVERY_SECONDS.labels("created").observe(float(sys.argv[1]))
    if sys.argv[2] == "wait":
        print("observed", flush=True)
        sys.stdin.readline()  # alive until told
    else:
        sys.stdout.write(metrics.exposition().decode())
""")


def test_processes_of_one_host_add_up_and_the_files_of_dead_ones_go(tmp_path):
    """`hemma serve --workers N` and `hemma worker`: each process writes its figures under
    the multiprocess directory; a scrape of any of them adds them all up."""
    directory = tmp_path / "metrics"
    directory.mkdir()
    dead = directory / "histogram_999999999.db"  # a process that no longer runs
    dead.write_bytes(b"")
    env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=str(directory), PYTHONPATH=str(SRC))
    first = subprocess.Popen([sys.executable, "-c", PROCESS, "0.5", "wait"], env=env,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert first.stdout.readline().strip() == "observed"
        assert not dead.exists()
        second = subprocess.run([sys.executable, "-c", PROCESS, "1.5", "print"], env=env,
                                capture_output=True, text=True, timeout=120, check=True)
    finally:
        first.communicate("\n", timeout=60)
    figures = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(second.stdout)
               for s in family.samples}
    assert _value(figures, "hemma_alert_delivery_seconds_count", reason="created") == 2
    assert _value(figures, "hemma_alert_delivery_seconds_sum", reason="created") == 2.0
    # Each live process's own CPU and memory, by pid.
    pids = {dict(labels)["pid"] for name, labels in figures
            if name == "process_resident_memory_bytes"}
    assert str(first.pid) in pids and len(pids) == 2
