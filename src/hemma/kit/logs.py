"""The one logging set-up: JSON lines on standard error, each with the request id of the
request (or the worker's job) it belongs to, and nothing that names a patient.

`setup_logging()` is called by every `hemma` command and by the app `hemma serve` runs (in
each of uvicorn's worker processes); uvicorn's own loggers are made to go through the same
handler. A line is one JSON object:

    {"time": "2026-12-05T07:00:00.123Z", "level": "INFO", "logger": "hemma.http",
     "message": "GET /patients/{patient_id} 200", "request_id": "5f0c…", "pid": 4242,
     "method": "GET", "route": "/patients/{patient_id}", "status": 200,
     "duration_ms": 12.5, "user_id": 17}

Fields given with `extra=` become keys of their own. What protects the log from patient data:
the code logs ids, never names, personnummer or values (tests/logscan.py holds the whole
test run to that); the database engine hides SQL parameters (hemma.db); this formatter drops
the database's own DETAIL lines (PostgreSQL quotes the conflicting row's values in them) and,
as a last net, masks anything shaped like a valid personnummer.

The standard library's logging with this small formatter, not a JSON-logging package: what
needs care here (the request id, what is removed from a message or an exception) is ours to
write either way, and the rest is `json.dumps`.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, date, datetime

# The request (or worker job) a line belongs to: set by the web layer's RequestLog for a
# request, by the worker for a tick and for each outbox message it delivers.
request_id: ContextVar[str | None] = ContextVar("hemma_request_id", default=None)

HANDLER_NAME = "hemma-json"

# A request id from the load balancer is kept if it looks like one (a UUID, hex, the
# load balancer's own format); anything else is replaced by our own.
_SANE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:=+/-]{0,127}")

# Personnummer and samordningsnummer as people write them: YYYYMMDD-NNNN, YYYYMMDDNNNN,
# YYMMDD-NNNN, YYMMDD+NNNN, YYMMDDNNNN; not a part of a longer run of letters or digits.
PERSONNUMMER_SHAPE = re.compile(
    r"(?<![0-9A-Za-z])((?:18|19|20)?[0-9]{2})([0-9]{2})([0-9]{2})([-+]?)([0-9]{4})(?![0-9A-Za-z])")
MASK = "[personnummer]"
# PostgreSQL's error detail quotes the values of the row at fault ("Key (personnummer)=(…)
# already exists."); the error's first line says what went wrong without them.
# SQLAlchemy's "[parameters: …]" line is hidden by the engine (hide_parameters); an engine
# made elsewhere is caught here too.
_DETAIL = re.compile(r"^(DETAIL|HINT|CONTEXT|LINE \d+|\[parameters):.*$", re.MULTILINE)

# The attributes every LogRecord has; anything else came with `extra=`.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message", "asctime", "taskName", "color_message"}


def _luhn_ok(ten: str) -> bool:
    total = 0
    for i, ch in enumerate(ten[:9]):
        product = int(ch) * (2 if i % 2 == 0 else 1)
        total += product - 9 if product > 9 else product
    return (10 - total % 10) % 10 == int(ten[9])


def looks_like_personnummer(match: re.Match) -> bool:
    """A candidate of PERSONNUMMER_SHAPE that is one: a real date of birth (a samordningsnummer
    adds 60 to the day) and a right check digit."""
    year, month, day, _sep, last = match.groups()
    day_of_month = int(day) - 60 if int(day) > 60 else int(day)
    full_year = int(year) if len(year) == 4 else 1900 + int(year)
    try:
        date(full_year, int(month), day_of_month)
    except ValueError:
        return False
    return _luhn_ok(year[-2:] + month + day + last)


def mask_personnummer(text: str) -> str:
    return PERSONNUMMER_SHAPE.sub(
        lambda m: MASK if looks_like_personnummer(m) else m.group(0), text)


def without_database_detail(text: str) -> str:
    return _DETAIL.sub(lambda m: f"{m.group(1)}: (left out of the log)"
                       + ("]" if m.group(1).startswith("[") else ""), text)


def sane_request_id(value: str | None) -> str | None:
    """The incoming X-Request-ID if it is a plausible id (and not a personnummer), else None."""
    if not value or not _SANE_ID.fullmatch(value) or mask_personnummer(value) != value:
        return None
    return value


def new_request_id() -> str:
    return uuid.uuid4().hex


@contextmanager
def bound(value: str | None) -> Iterator[None]:
    """Every line logged in the block carries `value` as its request id."""
    token = request_id.set(value)
    try:
        yield
    finally:
        request_id.reset(token)


class JsonFormatter(logging.Formatter):
    """One JSON object per record (see the module's docstring). With `redact` (always in
    production) personnummer-shaped text is masked; the test run's log scan formats without
    it, so that a line that would carry one is found at its source, not hidden."""

    def __init__(self, *, redact: bool = True):
        super().__init__()
        self.redact = redact

    def _clean(self, text: str) -> str:
        text = without_database_detail(text)
        return mask_personnummer(text) if self.redact else text

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": self._clean(record.getMessage()),
        }
        rid = request_id.get()
        if rid is not None:
            line["request_id"] = rid
        line["pid"] = record.process
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in line:
                line[key] = self._clean(value) if isinstance(value, str) else value
        if record.exc_info:
            line["exception"] = self._clean(self.formatException(record.exc_info))
        elif record.exc_text:
            line["exception"] = self._clean(record.exc_text)
        if record.stack_info:
            line["stack"] = self._clean(self.formatStack(record.stack_info))
        return json.dumps(line, ensure_ascii=False, default=str)


class StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is when a line is written (as logging's last resort
    does): a command run by a test's CliRunner swaps the stream and closes it afterwards."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self):  # noqa: D401
        return sys.stderr


# Libraries whose INFO lines carry what must not be logged or repeat what we log ourselves:
# httpx logs every request's URL (a geocoding query is an address), uvicorn's access log
# the filled path and query (patient ids, search terms; our own access line names the
# route's template instead); Alembic's plugin set-up says the same three lines each time
# /ready compares the schema's revision with the code's.
QUIET = {"httpx": logging.WARNING, "httpcore": logging.WARNING,
         "uvicorn.access": logging.WARNING, "alembic.runtime.plugins": logging.WARNING}


def configure_loggers() -> None:
    """Library loggers as production has them: uvicorn's through the root logger (and so
    through the one formatter, at its level: a server started before may have set its own),
    chatty ones quiet."""
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
        logger.setLevel(logging.NOTSET)
        logger.disabled = False
    for name, level in QUIET.items():
        logging.getLogger(name).setLevel(level)


def setup_logging(level: str | int = "INFO") -> None:
    """JSON lines on standard error at `level` (HEMMA_LOG_LEVEL). Safe to call more than
    once: the handler it adds replaces the one it added before, and handlers others added (a
    test run's) stay."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() == HANDLER_NAME:
            root.removeHandler(handler)
    handler = StderrHandler()
    handler.set_name(HANDLER_NAME)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    configure_loggers()
