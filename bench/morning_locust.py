"""The locust users of bench/morning.py: 08:00 in a region. Not run by itself: morning.py
writes the plan (who, which patients, when) to a JSON file named by $MORNING_PLAN and runs
`locust --headless -f bench/morning_locust.py` against the app processes on 127.0.0.1.

  PhoneUser     takes the next patient whose time has come and sends their morning values,
                one POST /api/v1/patients/{id}/observations (a pool of users, closed loop)
  GatewayUser   the same for the patients whose values come from a home gateway: a batch of
                several patients, POST /api/v1/observations/batch
  StaffUser     one per staff member: the board (/board, then /board/stream held open for a
                while, again) and, in a greenlet beside it, the inbox (/alerts, then
                /alerts/stream held open, reconnecting with Last-Event-ID), each reloaded
                every 2 to 8 minutes; every `event:
                alert` about a worrying value this process sent is timed from the POST's
                answer ("SSE alert: POST answered → inbox")
  PlannerUser   reads its unit's plan of the planned day and re-plans it every 1 to 3 minutes
  PhysicianUser the round: /rounds, opens three patients 10-30 s apart, records a cheap
                decision for some

--speed compresses only the patients' submissions: the staff keep a human pace.

morning.py runs two locust processes (MORNING_ROLE): the patients' senders in one and the
staff in the other, so that the staff's hundreds of streams (HTML boards parsed in Python)
do not delay the senders' own clock; a sender notes each worrying value's answer in a file
(PLAN["posted_file"]) that the staff's process reads when an alert comes in, and writes
PLAN["drained_file"] when every submission is answered. MORNING_ROLE=all: one process.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections import deque
from datetime import UTC, datetime

import gevent
from locust import HttpUser, between, constant, events, task

PLAN = json.loads(open(os.environ["MORNING_PLAN"], encoding="utf-8").read())
START = PLAN["start_at"]  # epoch seconds: 08:00 of the compressed morning
SPEED = PLAN["speed"]
PHONES = deque(PLAN["phone_items"])  # [offset s, patient id, worrying, values, token index]
GATEWAYS = deque(PLAN["gateway_items"])  # [offset s, [[patient id, worrying, values], ...],
#                                           the gateway's token index]
POSTED: dict[str, float] = {}  # patient id -> time.time() when a worrying POST was answered
SEEN: set[str] = set()
INFLIGHT = [0]  # submissions taken from the queues and not yet answered
rng = random.Random(PLAN["seed"])
# Where the submissions go: the app's own address, or app processes of their own for them
# (morning.py --ingest-processes), as the proxy routes them in production.
INGEST = PLAN["ingest_base"]
ROLE = os.environ.get("MORNING_ROLE", "all")  # "submissions", "staff" or "all"
_posted_at = [0]  # how far the staff's process has read PLAN["posted_file"]


def note_posted(pid: str, answered: float) -> None:
    """A worrying value's POST was answered: for the inbox's timing, in whichever process
    the staff are."""
    if pid in POSTED:
        return
    POSTED[pid] = answered
    if ROLE == "submissions":
        with open(PLAN["posted_file"], "a", encoding="utf-8") as f:
            f.write(f"{pid} {answered}\n")


def _read_posted() -> None:
    try:
        with open(PLAN["posted_file"], encoding="utf-8") as f:
            f.seek(_posted_at[0])
            chunk = f.read()
    except FileNotFoundError:
        return
    done = chunk.rfind("\n") + 1  # a line being written is read next time
    _posted_at[0] += len(chunk[:done].encode())
    for line in chunk[:done].splitlines():
        pid, at = line.split()
        POSTED.setdefault(pid, float(at))
    # An alert can reach the inbox a moment before its sender's process has written the
    # answer down: timed from when it came in.
    for pid, arrived in list(EARLY.items()):
        if pid in POSTED and pid not in SEEN:
            SEEN.add(pid)
            del EARLY[pid]
            fire("SSE alert: POST answered → inbox", max(0.0, arrived - POSTED[pid]) * 1000)


EARLY: dict[str, float] = {}  # staff's process: alerts in before their sender's note


@events.test_start.add_listener
def _end_when_done(environment, **_kw):
    """The morning ends when every submission is answered and the staff have stayed on for
    `tail` seconds more (the run time given to locust is only a limit)."""
    def watch():
        gevent.sleep(max(0.0, START - time.time()))
        if ROLE == "staff":
            while not os.path.exists(PLAN["drained_file"]):
                gevent.sleep(0.5)
        else:
            while PHONES or GATEWAYS or INFLIGHT[0]:
                gevent.sleep(0.5)
            if ROLE == "submissions":
                with open(PLAN["drained_file"], "w", encoding="utf-8") as f:
                    f.write(str(time.time()))
        PLAN["drained_at"] = time.time()
        gevent.sleep(PLAN["tail"])
        environment.runner.quit()

    def read_notes():
        while True:
            gevent.sleep(1.0)
            _read_posted()
    gevent.spawn(watch)
    if ROLE == "staff":
        gevent.spawn(read_notes)


def iso_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def fire(name: str, ms: float, kind: str = "SSE") -> None:
    events.request.fire(request_type=kind, name=name, response_time=ms, response_length=0,
                        exception=None, context={})


def _wait_until(at: float) -> None:
    delay = at - time.time()
    if delay > 0:
        gevent.sleep(delay)


class PhoneUser(HttpUser):
    fixed_count = PLAN["phone_users"]
    wait_time = constant(0)

    @task
    def morning_values(self):
        if not PHONES:
            gevent.sleep(1)
            return
        offset, pid, worrying, values, k = PHONES.popleft()
        INFLIGHT[0] += 1
        try:
            self._send(offset, pid, worrying, values, k)
        finally:
            INFLIGHT[0] -= 1

    def _send(self, offset, pid, worrying, values, k):
        _wait_until(START + offset)
        late = time.time() - (START + offset)
        fire("phone: sent late by (queue behind the closed loop)", max(0.0, late) * 1000,
             "LATE")
        body = {"client_id": f"morning-{pid}", "measured_at": iso_now(), **values}
        # A phone opens its own connection (and a pooled one idle past the server's
        # keep-alive would race its close: "Remote end closed connection").
        headers = {"Authorization": f"Bearer {PLAN['nurse_tokens'][k]}", "Connection": "close"}
        with self.client.post(f"{INGEST}/api/v1/patients/{pid}/observations", json=body,
                              headers=headers, name="POST observation (phone)",
                              catch_response=True) as r:
            if r.status_code != 201:
                r.failure(f"{r.status_code} {r.text[:120]}")
            elif worrying and r.json().get("alert_id"):
                note_posted(pid, time.time())


class GatewayUser(HttpUser):
    fixed_count = PLAN["gateway_users"]
    wait_time = constant(0)

    @task
    def batch(self):
        if not GATEWAYS:
            gevent.sleep(1)
            return
        offset, items, token = GATEWAYS.popleft()
        INFLIGHT[0] += 1
        try:
            self._send(offset, items, token)
        finally:
            INFLIGHT[0] -= 1

    def _send(self, offset, items, token):
        _wait_until(START + offset)
        now = iso_now()
        body = {"observations": [{"patient_id": pid, "client_id": f"morning-gw-{pid}",
                                  "measured_at": now, "device_id": "gateway-morning", **values}
                                 for pid, _worrying, values in items]}
        headers = {"Authorization": f"Bearer {PLAN['gateway_tokens'][token]}",
                   "Connection": "close"}
        with self.client.post(f"{INGEST}/api/v1/observations/batch", json=body, headers=headers,
                              name="POST observations/batch (gateway)",
                              catch_response=True) as r:
            if r.status_code not in (200, 201):
                r.failure(f"{r.status_code} {r.text[:120]}")
            else:
                answered = time.time()
                for pid, worrying, _values in items:
                    if worrying:
                        note_posted(pid, answered)


def _hold(client, path: str, name: str, seconds: float, headers: dict, on_event=None) -> str:
    """Open an SSE stream, read it for `seconds` (or until it ends), close it. Returns the
    last event id seen."""
    last_id = ""
    deadline = time.time() + seconds
    with client.get(path, name=name, stream=True, headers=headers, catch_response=True,
                    timeout=(10, 60)) as r:
        if r.status_code != 200:
            r.failure(f"{r.status_code}")
            return last_id
        r.success()  # the time to the headers; holding it is not a response time
        event = None
        try:
            for raw in r.iter_lines(decode_unicode=True):
                if raw is None:
                    continue
                line = raw
                if line.startswith("id:"):
                    last_id = line[3:].strip()
                elif line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:") and on_event is not None:
                    on_event(event, line[5:])
                elif not line:
                    event = None
                if time.time() > deadline:
                    break
        except Exception as exc:  # a stream cut off by the server is an error
            events.request.fire(request_type="SSE", name=f"{name} (read)", response_time=0,
                                response_length=0, exception=exc, context={})
    return last_id


def _alert_arrived(event, data: str) -> None:
    if event != "alert":
        return
    try:
        pid = json.loads(data).get("patient_id")
    except ValueError:
        return
    if pid not in POSTED and ROLE == "staff":
        EARLY.setdefault(pid, time.time())
        _read_posted()
        return
    if pid in POSTED and pid not in SEEN:
        SEEN.add(pid)
        fire("SSE alert: POST answered → inbox", (time.time() - POSTED[pid]) * 1000)


class StaffUser(HttpUser):
    fixed_count = len(PLAN["staff_cookies"]) if PLAN["staff"] else 0
    wait_time = between(1, 5)
    _next = 0

    def on_start(self):
        k = StaffUser._next
        StaffUser._next += 1
        self.client.cookies.set(PLAN["cookie_name"], PLAN["staff_cookies"][k])
        self.client.headers["Accept-Language"] = "sv"
        self.client.headers["Connection"] = "close"  # people come back after minutes
        self.inbox = gevent.spawn(self._inbox)

    def on_stop(self):
        self.inbox.kill(block=False)

    def _inbox(self):
        last = ""
        while True:
            self.client.get("/alerts", name="GET /alerts")
            headers = {"Accept": "text/event-stream"}
            if last:
                headers["Last-Event-ID"] = last
            path = "/alerts/stream" if last else f"/alerts/stream?after={PLAN['inbox_after']}"
            last = _hold(self.client, path, "GET /alerts/stream", rng.uniform(120, 480), headers,
                         _alert_arrived) or last

    @task
    def board(self):
        self.client.get("/board", name="GET /board")
        _hold(self.client, "/board/stream", "GET /board/stream", rng.uniform(120, 480),
              {"Accept": "text/event-stream"})


class PlannerUser(HttpUser):
    fixed_count = len(PLAN["planner_tokens"]) if PLAN["staff"] else 0
    wait_time = between(60, 180)  # people keep their own pace: --speed compresses the patients
    _next = 0

    def on_start(self):
        k = PlannerUser._next
        PlannerUser._next += 1
        self.client.headers["Authorization"] = f"Bearer {PLAN['planner_tokens'][k]}"
        self.client.headers["Connection"] = "close"
        gevent.sleep(rng.uniform(0, 60))

    @task
    def replan(self):
        day = PLAN["planning_day"]
        self.client.get(f"/api/v1/planning/{day}", name="GET /api/v1/planning/[day]")
        self.client.post(f"/api/v1/planning/{day}/solve", name="POST /api/v1/planning/[day]/solve")


class PhysicianUser(HttpUser):
    fixed_count = len(PLAN["physicians"]) if PLAN["staff"] else 0
    wait_time = between(10, 30)
    _next = 0

    def on_start(self):
        me = PLAN["physicians"][PhysicianUser._next]
        PhysicianUser._next += 1
        self.client.cookies.set(PLAN["cookie_name"], me["cookie"])
        self.client.headers["Accept-Language"] = "sv"
        self.client.headers["Connection"] = "close"
        self.token = {"Authorization": f"Bearer {me['token']}"}
        self.patients: list[str] = []

    @task
    def round(self):
        self.client.get("/rounds", name="GET /rounds")
        if not self.patients:
            r = self.client.get("/api/v1/rounds", name="GET /api/v1/rounds", headers=self.token)
            if r.status_code == 200:
                self.patients = [row["patient_id"] for row in r.json()]
        for pid in rng.sample(self.patients, min(3, len(self.patients))):
            self.client.get(f"/patients/{pid}", name="GET /patients/[id]")
            gevent.sleep(rng.uniform(10, 30))  # reads the chart, decides
            if rng.random() < 0.3:
                self.client.post(f"/api/v1/patients/{pid}/round", headers=self.token,
                                 json={"decision": "continue", "note": "Stabil, fortsätt enligt plan."},
                                 name="POST /api/v1/patients/[id]/round")
