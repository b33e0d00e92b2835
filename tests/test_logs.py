"""Structured logs: JSON lines with the request's id, an access line per request that names
the route's template and the user's id number, nothing of a patient in an error's text."""

from __future__ import annotations

import io
import json
import logging
import sys
import uuid
from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import IntegrityError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from hemma.jobs import outbox
from hemma.jobs.worker import Worker
from hemma.kit.logs import (
    HANDLER_NAME,
    JsonFormatter,
    bound,
    mask_personnummer,
    sane_request_id,
    setup_logging,
)
from hemma.models import Patient
from hemma.patients.personnummer import make
from hemma.web.middleware import RequestLog


class Lines(logging.Handler):
    """The records of one logger, formatted as production formats them."""

    def __init__(self, redact: bool = True):
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter(redact=redact))
        self.lines: list[dict] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


@pytest.fixture
def lines():
    """What the `hemma` loggers write during the test, as parsed JSON lines."""
    handler = Lines()
    logger = logging.getLogger("hemma")
    logger.addHandler(handler)
    yield handler.lines
    logger.removeHandler(handler)


@pytest.fixture
def isolated():
    """A logger of its own, not reaching the root logger: for lines that hold a personnummer
    on purpose, which the run's log scan (tests/logscan.py) must not see."""
    handler = Lines()
    logger = logging.getLogger("hemma.test.isolated")
    logger.propagate = False
    logger.addHandler(handler)
    yield logger, handler.lines
    logger.removeHandler(handler)


def _number() -> str:
    return make(date(1940, 5, 17), 123)


# --- the formatter ------------------------------------------------------------------------


def test_a_line_is_one_json_object_with_the_request_id_and_extra_fields(lines):
    log = logging.getLogger("hemma.test")
    log.info("plain")
    with bound("req-1"):
        log.warning("counted %s things", 3, extra={"outbox_id": 7})
    first, second = lines
    assert first["message"] == "plain" and "request_id" not in first
    assert set(first) == {"time", "level", "logger", "message", "pid"}
    assert first["time"].endswith("Z") and first["logger"] == "hemma.test"
    assert second["message"] == "counted 3 things" and second["level"] == "WARNING"
    assert (second["request_id"], second["outbox_id"]) == ("req-1", 7)


def test_exceptions_keep_their_trace_but_lose_the_databases_detail(isolated):
    log, lines = isolated
    number = _number()
    try:
        raise RuntimeError('(psycopg.errors.UniqueViolation) duplicate key value violates '
                           'unique constraint "uq_patients_personnummer"\n'
                           f'DETAIL:  Key (personnummer)=({number}) already exists.\n'
                           '[SQL: INSERT INTO patients (personnummer) VALUES (%(p)s)]\n'
                           f"[parameters: {{'p': '{number}'}}]")
    except RuntimeError:
        log.exception("saving failed")
    (line,) = lines
    assert "Traceback" in line["exception"] and "uq_patients_personnummer" in line["exception"]
    assert "DETAIL: (left out of the log)" in line["exception"]
    assert "[parameters: (left out of the log)]" in line["exception"]
    assert number not in json.dumps(line)


def test_personnummer_are_masked_in_production_and_left_for_the_test_scan(isolated):
    log, lines = isolated
    number = _number()
    short = f"{number[2:8]}-{number[8:]}"
    log.info("found %s, %s, %s and %s-%s", number, short,
                                         number[2:], number[:8], number[8:])
    (line,) = lines
    assert line["message"] == "found [personnummer], [personnummer], [personnummer] and " \
                              "[personnummer]"
    # Not a personnummer: a wrong check digit, no such date, part of a longer number or word.
    others = (f"{number[:-1]}{(int(number[-1]) + 1) % 10} 19401317-1234 "
              f"1{number} {number}7 x{number} 2026-12-05T08:00:00")
    assert mask_personnummer(others) == others
    unmasked = Lines(redact=False)
    record = logging.LogRecord("hemma.test.isolated", logging.INFO, __file__, 1, "found %s",
                               (number,), None)
    unmasked.emit(record)
    assert unmasked.lines[0]["message"] == f"found {number}"


@pytest.mark.parametrize("value, kept", [
    ("5f0c2a7e9b8d4c1fa3e2d1c0b9a87654", True),
    (str(uuid.UUID(int=42)), True),
    ("Root=1-67891233-abcdef012345678912345678", True),
    ("", False), ("with space", False), ("a" * 129, False), ("x\ny", False),
    ("<script>", False), ("194005170123", False), ("400517-0123", False),
])
def test_a_request_id_from_the_load_balancer_is_kept_only_when_sane(value, kept):
    number = _number() if value in ("194005170123", "400517-0123") else None
    if number:  # a personnummer is no request id, whatever else it looks like
        value = number if len(value) == 12 else f"{number[2:8]}-{number[8:]}"
    assert (sane_request_id(value) == value) is kept


def test_setup_logging_writes_json_to_stderr_and_routes_uvicorn_through_it(monkeypatch):
    root = logging.getLogger()
    # Others' handlers (the test run's); ours may be there already, from a command an
    # earlier test ran, and is the one that is replaced.
    level = root.level
    before = [h for h in root.handlers if h.get_name() != HANDLER_NAME]
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    try:
        setup_logging("INFO")
        setup_logging("INFO")  # again: still one handler of ours, and the others kept
        ours = [h for h in root.handlers if h.get_name() == HANDLER_NAME]
        assert len(ours) == 1 and all(h in root.handlers for h in before)
        uvicorn = logging.getLogger("uvicorn.error")
        assert uvicorn.propagate and not uvicorn.handlers
        uvicorn.info("Started server process [%d]", 42)
        logging.getLogger("httpx").info("HTTP Request: GET https://geo.example/search?street=x")
        (line,) = [json.loads(x) for x in stream.getvalue().splitlines()
                   if '"logger": "uvicorn.error"' in x or '"logger": "httpx"' in x]
        assert (line["logger"], line["message"]) == ("uvicorn.error", "Started server process [42]")
    finally:
        for h in [h for h in root.handlers if h.get_name() == HANDLER_NAME]:
            root.removeHandler(h)
        root.setLevel(level)


# --- requests -------------------------------------------------------------------------------


def _app():
    log = logging.getLogger("hemma.test")

    def work() -> str:
        log.info("in a worker thread")
        return "done"

    async def endpoint(request):
        log.info("in the route")
        return PlainTextResponse(await run_in_threadpool(work))

    return RequestLog(Starlette(routes=[Route("/things/{thing_id}", endpoint)]))


def test_every_line_of_a_request_carries_its_id_and_the_answer_says_it(lines):
    with TestClient(_app()) as c:
        r = c.get("/things/secret-123")
        given = c.get("/things/1", headers={"X-Request-ID": "lb-0001"})
        refused = c.get("/things/2", headers={"X-Request-ID": "no spaces please"})
    rid = r.headers["x-request-id"]
    assert len(rid) == 32 and given.headers["x-request-id"] == "lb-0001"
    assert refused.headers["x-request-id"] not in ("", "no spaces please")
    mine = [x for x in lines if x.get("request_id") == rid]
    assert [x["message"] for x in mine] == ["in the route", "in a worker thread",
                                            "GET /things/{thing_id} 200"]
    access = mine[-1]
    assert (access["logger"], access["method"], access["route"], access["status"]) == (
        "hemma.http", "GET", "/things/{thing_id}", 200)
    assert access["duration_ms"] >= 0 and access["user_id"] is None
    assert "secret-123" not in json.dumps(lines)  # the filled path is never logged
    assert [x["request_id"] for x in lines if x["logger"] == "hemma.http"][1] == "lb-0001"


def test_the_access_line_names_the_route_and_the_users_id_number(lines, world, as_user):
    pid = world.patient(name="Greta", family="Accesslogg")
    sara = as_user("sara")
    r = sara.get(f"/patients/{pid}?tab=values")
    assert r.status_code == 200
    (access,) = [x for x in lines if x["logger"] == "hemma.http"
                 and x["route"] == "/patients/{patient_id}"]
    assert access["user_id"] == world.staff["sara"] and access["status"] == 200
    assert access["request_id"] == r.headers["x-request-id"]
    text = json.dumps(lines, ensure_ascii=False)
    assert str(pid) not in text and "values" not in text
    assert "Sköterska" not in text and "Accesslogg" not in text


def test_an_unhandled_error_is_logged_with_the_route_not_the_path(lines, settings, database):
    from fastapi import Depends

    from hemma.app import create_app
    from hemma.web.deps import Public

    app = create_app(settings, database)

    @app.get("/boom/{patient_id}", dependencies=[Depends(Public())])
    def boom(patient_id: str):
        raise RuntimeError("kaboom")

    pid = str(uuid.uuid4())
    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get(f"/boom/{pid}")
    assert r.status_code == 500
    (error,) = [x for x in lines if x["level"] == "ERROR"]
    assert error["message"] == "unhandled error on GET /boom/{patient_id}"
    assert "kaboom" in error["exception"] and error["request_id"] == r.headers["x-request-id"]
    assert pid not in json.dumps(lines)


# --- the worker and the database ----------------------------------------------------------------


def test_a_failed_delivery_is_logged_under_the_outbox_messages_id(lines, database):
    with database.session() as s:
        message = outbox.enqueue(s, "no.such.topic", {"patient_id": "x"})
        s.flush()
        message_id = message.id
    assert Worker(database).tick().failed == 1
    (line,) = [x for x in lines if x["level"] == "ERROR"]
    assert line["request_id"] == f"outbox-{message_id}" and line["outbox_id"] == message_id
    assert "no handler for outbox topic" in line["exception"]


def test_a_database_error_names_no_value(database, world):
    """The engine hides the statement's parameters, the formatter the database's DETAIL:
    even unmasked, the line has neither the personnummer nor the name."""
    pid = world.patient(name="Dubbel", family="Dubblettsson")
    with database.session() as s:
        number = s.get(Patient, pid).personnummer
    handler = Lines(redact=False)
    log = logging.getLogger("hemma.test")
    log.addHandler(handler)
    try:
        with pytest.raises(IntegrityError) as caught, database.session() as s:
            s.add(Patient(personnummer=number, birth_date=date(1940, 5, 17), given_name="Dubbel",
                          family_name="Dubblettsson", registered_by_unit_id=world.units["med"],
                          created_at=world_now(), updated_at=world_now()))
            s.flush()
        log.error("saving failed", exc_info=caught.value)
    finally:
        log.removeHandler(handler)
    (line,) = handler.lines
    assert "IntegrityError" in line["exception"]
    text = json.dumps(line, ensure_ascii=False)
    assert number not in text and number[2:] not in text and "Dubblettsson" not in text


def world_now():
    from hemma.kit.time import utcnow

    return utcnow()
