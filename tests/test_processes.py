"""The production mode, as real processes: two app processes (`hemma serve --no-worker`, as a
load balancer would have them) and two workers (`hemma worker`) on one PostgreSQL.

Every alert is delivered exactly once, whichever app process received the values and whichever
worker delivered them; a change made through one app process reaches the live pages open on
the other; a worker that dies in the middle of a delivery loses nothing, and nothing is
delivered twice. And `hemma serve --workers 2` stops on SIGTERM although live streams are open.

Every process runs in its own process group and is killed when the test ends, however it
ends. Nothing here asserts on speed: the waits are bounded only so that a broken build fails
instead of hanging."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

import hemma
from hemma.access import audit
from hemma.access.auth import create_api_token, start_session
from hemma.kit.time import utcnow
from hemma.models import AlertEvent, DutyShift, Notification, OutboxMessage, Staff
from hemma.web.deps import SESSION_COOKIE
from tests.conftest import PG_URL, TEST_SECRET
from tests.live import Stream, free_port

SRC = Path(hemma.__file__).resolve().parent.parent
WAIT = 120.0  # seconds: only a broken build waits this long
CRITICAL = dict(respiration_rate=26, spo2=90, pulse=131, systolic_bp=95, temperature=38.5,
                consciousness="A", on_oxygen=False)  # NEWS2 12: one alert per patient
LEASE_SECONDS = 3

# A test harness around the real `hemma worker`: its alert delivery ends the process with
# os._exit in the middle of the third message (notifications written, not committed).
DOOMED = textwrap.dedent("""
    import os
    import sys

    from hemma.cli import _metrics_directory

    _metrics_directory()  # before prometheus-client is imported, as `hemma worker` does
    import hemma.jobs.worker  # registers the delivery handlers
    from hemma.jobs import outbox

    original = outbox.HANDLERS["alert.notify"]
    calls = []

    def die_in_the_third(session, message, now):
        original(session, message, now)
        calls.append(message.id)
        if len(calls) == 3:
            session.flush()
            os._exit(9)

    outbox.HANDLERS["alert.notify"] = die_in_the_third
    from hemma.cli import main

    sys.stdin.readline()  # started early (starting is slow), set going when its turn comes
    main(["worker"], prog_name="hemma")
""")


def require_postgres(database) -> None:
    if database.engine.dialect.name == "postgresql":
        return
    if os.environ.get("HEMMA_REQUIRE_POSTGRES") == "1" and not PG_URL:
        pytest.fail("HEMMA_REQUIRE_POSTGRES=1 but no PostgreSQL to run several processes on "
                    "(HEMMA_TEST_DATABASE_URL)")
    pytest.skip("several processes on one database is PostgreSQL's (LISTEN/NOTIFY, row "
                "locks); the PostgreSQL leg runs it")


class Proc:
    """One process of ours, in its own process group, its output in a file."""

    def __init__(self, name: str, argv: list[str], env: dict, logs: Path, stdin: bool):
        self.name = name
        self.log = logs / f"{name}.log"
        with open(self.log, "wb") as out:
            self.popen = subprocess.Popen(
                argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                stdin=subprocess.PIPE if stdin else subprocess.DEVNULL)
        self.pid = self.popen.pid

    def go(self) -> None:
        self.popen.stdin.write(b"go\n")
        self.popen.stdin.flush()

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def tail(self) -> str:
        return f"--- {self.name} (pid {self.pid}) ---\n{self.text()[-4000:]}"

    def alive(self) -> bool:
        return self.popen.poll() is None

    def wait_for_line(self, needle: str) -> str:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            for line in self.text().splitlines():
                if needle in line:
                    return line
            if not self.alive():
                break
            time.sleep(0.1)
        raise AssertionError(f"{self.name} never said {needle!r}\n{self.tail()}")

    def pause(self) -> None:
        """SIGSTOP, and wait until it is stopped."""
        os.kill(self.pid, signal.SIGSTOP)
        deadline = time.monotonic() + WAIT
        while _state(self.pid) != "T":
            assert time.monotonic() < deadline, f"{self.name} did not stop"
            time.sleep(0.05)

    def terminate(self) -> int:
        """SIGTERM, and the exit code (it must stop by itself)."""
        self.popen.send_signal(signal.SIGTERM)
        try:
            return self.popen.wait(WAIT)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.name} did not stop on SIGTERM\n{self.tail()}") from None

    def group_gone(self) -> bool:
        try:
            os.killpg(self.pid, 0)
        except ProcessLookupError:
            return True
        return False

    def kill_group(self) -> None:
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            self.popen.wait(10)
        except subprocess.TimeoutExpired:
            pass


@pytest.fixture
def processes(db_url, tmp_path):
    """Start `hemma …` processes on the test's database; every one is killed at the end."""
    started: list[Proc] = []
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEMMA_")}
    env.update(HEMMA_DATABASE_URL=db_url, HEMMA_SECRET_KEY=TEST_SECRET,
               HEMMA_DATA_DIR=str(tmp_path / "data"), HEMMA_COOKIE_SECURE="false",
               HEMMA_OUTBOX_LEASE_SECONDS=str(LEASE_SECONDS),
               HEMMA_AUDIT_CHECKPOINT_FILE=str(tmp_path / "checkpoints.jsonl"),
               PYTHONPATH=os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")])),
               PYTHONUNBUFFERED="1")

    def start(name: str, *args: str, script: str | None = None) -> Proc:
        argv = [sys.executable, "-c", script] if script else [sys.executable, "-m", "hemma",
                                                               *args]
        proc = Proc(name, argv, env, tmp_path, stdin=script is not None)
        started.append(proc)
        return proc

    start.checkpoints = tmp_path / "checkpoints.jsonl"
    start.started = started
    try:
        yield start
    finally:
        for proc in started:
            proc.kill_group()


def serve(start, name: str, *extra: str) -> tuple[Proc, str]:
    port = free_port()
    proc = start(name, "serve", "--host", "127.0.0.1", "--port", str(port), *extra)
    return proc, f"http://127.0.0.1:{port}"


def wait_healthy(proc: Proc, base: str) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if not proc.alive():
            raise AssertionError(f"{proc.name} exited\n{proc.tail()}")
        try:
            if httpx.get(f"{base}/api/v1/health", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{proc.name} did not answer\n{proc.tail()}")


def assert_server_stops(proc: Proc) -> None:
    """SIGTERM: the server stops by itself, its open live streams ended at once rather than
    cut off by the graceful timeout, and the app's shutdown done. (uvicorn raises the signal
    again once it has stopped: a death by SIGTERM is its clean exit, as systemd counts it.)"""
    code = proc.terminate()
    text = proc.text()
    assert code in (0, -signal.SIGTERM), proc.tail()
    assert "Application shutdown complete" in text, proc.tail()
    assert "timeout graceful shutdown exceeded" not in text, proc.tail()
    assert "Traceback" not in text, proc.tail()


def worker_name(proc: Proc) -> str:
    """The name the worker claims messages by, as it logs it when it starts."""
    line = proc.wait_for_line(" started")
    return re.search(r"worker (\S+) started", line).group(1)


def settle(database, predicate, what: str, procs: list[Proc]):
    """Look at the database until `predicate(session)` is true."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        with database.session() as s:
            result = predicate(s)
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"never: {what}\n" + "\n".join(p.tail() for p in procs))


def all_delivered(s) -> bool:
    return s.scalar(select(func.count()).select_from(OutboxMessage)
                    .where(OutboxMessage.delivered_at.is_(None))) == 0


def assert_each_alert_delivered_once(database, alert_ids: set, nurses: set) -> None:
    """Each alert: one message, delivered once (one 'delivered' event: a second delivery
    would add another), one notification per nurse on duty, no one else."""
    with database.session() as s:
        messages = Counter(m.payload["alert_id"] for m in s.scalars(
            select(OutboxMessage).where(OutboxMessage.topic == "alert.notify")))
        delivered = Counter(str(a) for a in s.scalars(
            select(AlertEvent.alert_id).where(AlertEvent.kind == "delivered")))
        notified = Counter((str(a), staff, kind) for a, staff, kind in s.execute(
            select(Notification.alert_id, Notification.staff_id, Notification.kind)))
    assert messages == Counter({a: 1 for a in alert_ids})
    assert delivered == Counter({a: 1 for a in alert_ids})
    assert notified == Counter({(a, n, "alert.created"): 1 for a in alert_ids for n in nurses})


def test_two_app_processes_and_two_workers_on_one_postgresql(world, database, processes):
    require_postgres(database)
    # Starting is the slow part: the processes start first, the data is made meanwhile.
    a, base_a = serve(processes, "app-a", "--no-worker")
    b, base_b = serve(processes, "app-b", "--no-worker")
    w1 = processes("worker-1", "worker")
    w2 = processes("worker-2", "worker")
    doomed = processes("worker-doomed", script=DOOMED)  # waits for its turn (part 3)
    everyone = [a, b, w1, w2, doomed]
    med = world.units["med"]
    with database.session() as s:
        nina = Staff(username="nina", given_name="Nina", family_name="Nattsköterska",
                     profession="nurse", unit_id=med, skills=[], created_at=utcnow())
        s.add(nina)
        s.flush()
        world.staff["nina"] = nina.id
        now = utcnow()
        for who in ("sara", "nina"):
            s.add(DutyShift(unit_id=med, staff_id=world.staff[who], role="nurse",
                            starts_at=now - timedelta(hours=1), ends_at=now + timedelta(hours=8)))
        device = create_api_token(s, s.get(Staff, world.staff["olle"]), "gateway")
        coordinator = create_api_token(s, s.get(Staff, world.staff["sara"]), "tasks")
        session_cookie = start_session(s, s.get(Staff, world.staff["sara"]), "password",
                                       client_addr="127.0.0.1", user_agent="test")
    nurses = {world.staff["sara"], world.staff["nina"]}
    patients = []
    for i in range(42):
        pid = world.patient(name=f"Patient{i}")
        world.episode(pid, state="admitted", bed=i + 1)
        patients.append(pid)
    first, morning, later = patients[0], patients[1:30], patients[30:]
    wait_healthy(a, base_a)
    wait_healthy(b, base_b)
    names = {worker_name(w1), worker_name(w2)}

    def send(base: str, pid, client_id: str) -> str:
        r = httpx.post(f"{base}/api/v1/patients/{pid}/observations", timeout=WAIT,
                       headers={"Authorization": f"Bearer {device}"},
                       json={"client_id": client_id, "measured_at": utcnow().isoformat(),
                             **CRITICAL})
        assert r.status_code == 201, r.text
        return r.json()["alert_id"]

    # 1. Live pages open on A; the changes go through B.
    cookies = {SESSION_COOKIE: session_cookie}
    board = Stream(f"{base_a}/board/stream", cookies)
    inbox = Stream(f"{base_a}/alerts/stream", cookies)
    try:
        while board.next()[0] != "board":  # the board as it is
            pass
        assert board.status == 200 and inbox.status == 200
        # A board looks again by itself only after a quiet half minute, and says so with a
        # keep-alive first: an event showing the change with no keep-alive before it was
        # woken by B's commit, through PostgreSQL. (A keep-alive that happened to fall in
        # between proves nothing either way: make another change.)
        for attempt in range(6):
            title = f"Ring tillbaka {attempt} {uuid.uuid4().hex[:6]}"
            r = httpx.post(f"{base_b}/api/v1/patients/{first}/tasks", timeout=WAIT,
                           headers={"Authorization": f"Bearer {coordinator}"},
                           json={"title": title, "unit_id": med,
                                 "due_at": (utcnow() + timedelta(hours=2)).isoformat()})
            assert r.status_code == 201, r.text
            idle = False
            while True:
                kind, data = board.next()
                assert kind not in ("end", "error"), data
                if kind == "keep-alive":
                    idle = True
                elif kind == "board" and title in data["html"]:
                    break
            if not idle:
                break
        else:
            raise AssertionError("the board on A only showed B's change after looking by itself")
        # An alert from values sent through B, delivered to Sara by a worker, in her inbox
        # on A.
        alert_id = send(base_b, first, "first-0001")
        while True:
            kind, data = inbox.next()
            assert kind not in ("end", "error"), data
            if kind == "alert" and data["id"] == alert_id and data["paged"]:
                break

        # 2. A morning: values from 29 patients through both app processes at once, each
        # raising an alert; both workers deliver. Each alert exactly once, to each nurse.
        with ThreadPoolExecutor(8) as pool:
            alerts = set(pool.map(lambda i: send((base_a, base_b)[i % 2], morning[i],
                                                 f"morning-{i:04d}"), range(len(morning))))
        assert len(alerts) == len(morning)
        settle(database, all_delivered, "every message delivered", everyone)
        assert_each_alert_delivered_once(database, alerts | {alert_id}, nurses)

        # 3. Both workers paused (SIGSTOP: a frozen machine), 12 more patients' alerts
        # wait; a third worker claims them all and dies in the middle of delivering the
        # third (os._exit, mid-transaction).
        for w in (w1, w2):
            w.pause()
        with ThreadPoolExecutor(4) as pool:
            waiting = set(pool.map(lambda i: send((base_a, base_b)[i % 2], later[i],
                                                  f"later-{i:04d}"), range(len(later))))
        doomed.go()
        doomed_name = worker_name(doomed)
        try:
            assert doomed.popen.wait(WAIT) == 9
        except subprocess.TimeoutExpired:
            raise AssertionError(doomed.tail()) from None
        with database.session() as s:
            left = {m.payload["alert_id"]: m for m in s.scalars(select(OutboxMessage).where(
                OutboxMessage.topic == "alert.notify", OutboxMessage.delivered_at.is_(None)))}
            done_by_doomed = s.scalar(select(func.count()).select_from(OutboxMessage).where(
                OutboxMessage.claimed_by == doomed_name,
                OutboxMessage.delivered_at.is_not(None)))
            half_done = s.scalar(select(func.count()).select_from(Notification).where(
                Notification.alert_id.in_([uuid.UUID(a) for a in left])))
        assert done_by_doomed == 2 and set(left) <= waiting and len(left) == len(later) - 2
        assert {m.claimed_by for m in left.values()} == {doomed_name}  # claimed, not delivered
        assert half_done == 0  # the third's notifications rolled back with it

        # The two workers go on: when the dead one's claims run out, one of them delivers
        # each, once.
        for w in (w1, w2):
            os.kill(w.pid, signal.SIGCONT)
        settle(database, all_delivered, "the dead worker's messages delivered", everyone)
        assert_each_alert_delivered_once(database, alerts | waiting | {alert_id}, nurses)
        with database.session() as s:
            taken_over = list(s.scalars(select(OutboxMessage).where(
                OutboxMessage.id.in_([m.id for m in left.values()]))))
        assert {m.claimed_by for m in taken_over} <= names
        assert {m.attempts for m in taken_over} == {2}  # the dead worker's claim, then one

        # Every worker appended its checkpoints of the audit log to the one file: all of
        # them hold.
        with database.session() as s:
            report = audit.verify(s, processes.checkpoints)
        assert report.ok, report.problems
        assert report.checkpoints_checked >= 2  # one from each worker at its start, at least

        # The workers stop when asked; the app processes too, though live streams are
        # open on A: the streams end (browsers reconnect elsewhere).
        assert w1.terminate() == 0 and w2.terminate() == 0
        assert "stopped" in w1.text() and "stopped" in w2.text()
        assert_server_stops(a)
        assert_server_stops(b)
        assert board.ended() and inbox.ended()
        for proc in everyone:
            assert "Traceback" not in proc.text(), proc.tail()
    finally:
        board.close()
        inbox.close()


def test_serve_with_two_processes_stops_on_sigterm_with_streams_open(world, database,
                                                                    processes):
    """`hemma serve --workers 2`: uvicorn's two app processes answer on one port, and SIGTERM
    stops all of them, though a live stream is open (the graceful timeout closes it)."""
    if database.engine.dialect.name == "postgresql":
        pytest.skip("the server's own behaviour, the same on SQLite")
    with database.session() as s:
        cookie = start_session(s, s.get(Staff, world.staff["sara"]), "password",
                               client_addr="127.0.0.1", user_agent="test")
    server, base = serve(processes, "serve-2", "--workers", "2", "--no-worker")
    wait_healthy(server, base)
    stream = Stream(f"{base}/alerts/stream", {SESSION_COOKIE: cookie})
    try:
        assert stream.next() == ("keep-alive", None) and stream.status == 200
        children = [p for p in Path("/proc").iterdir() if p.name.isdigit()
                    and _parent(p) == server.pid]
        assert len(children) >= 2, server.tail()
        assert_server_stops(server)
        assert stream.ended()
        deadline = time.monotonic() + WAIT
        while not server.group_gone():  # its app processes stopped with it
            assert time.monotonic() < deadline, server.tail()
            time.sleep(0.1)
    finally:
        stream.close()


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def _parent(proc: Path) -> int | None:
    try:
        stat = (proc / "stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])
