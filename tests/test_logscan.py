"""The log scan (tests/logscan.py) fails a run whose log names a patient: shown on runs of
their own (pytester, in a subprocess), so the planted lines never reach this run's log."""

from __future__ import annotations

import logging
import textwrap
from pathlib import Path

import pytest

from tests.logscan import HANDLER_NAME, LogScan

ROOT = Path(__file__).resolve().parents[1]

# The planted lines are made inside the inner run, so not even this file's source holds them.
HEAD = '''
import logging
from datetime import date

from hemma import demo
from hemma.patients.personnummer import make

number = make(demo.PATIENTS[0][2], 980)  # the demo's first patient
other = make(date(1987, 10, 3), 457)  # nobody's
'''
TEST = '''

def test_{name}():
    log = logging.getLogger("hemma.planted.{name}")
    {body}
'''

LEAKS = {
    "twelve_digits": "log.info('patient %s', number)",
    "with_dash": "log.info('patient %s-%s', number[:8], number[8:])",
    "ten_digits_with_dash": "log.warning('patient %s-%s', number[2:8], number[8:])",
    "any_valid_number": "log.info('patient %s', make(date(1987, 10, 3), 457))",
    "in_an_exception": """
        try:
            raise ValueError(f"bad {number}")
        except ValueError:
            log.exception("failed")""",
    "in_an_extra_field": "log.info('saved', extra={'who': number})",
    "from_uvicorn": "logging.getLogger('uvicorn.error').error('bad request: %s', number)",
    "demo_name": "log.info('visit to %s %s', *demo.PATIENTS[1][:2])",
    "followup_demo_name": "log.info('%s %s', 'Margareta', 'Andersson')",
    # A patient the run creates, by the name it was given.
    "created_name": """
        from datetime import UTC, datetime

        from sqlalchemy import create_engine
        from sqlalchemy.orm import Session

        from hemma.models import Base, Patient

        engine = create_engine("sqlite://")
        Base.metadata.create_all(engine)
        now = datetime.now(UTC)
        with Session(engine) as s:
            s.add(Patient(personnummer="0", birth_date=date(1950, 1, 1),
                          given_name="Planterad", family_name="Testsson",
                          registered_by_unit_id=1, created_at=now, updated_at=now))
            s.commit()
        log.debug("visit to %s", "Planterad Testsson")""",
}
# Shapes that are not a personnummer (a UUID's last part, a date and time, part of a longer
# number) and names alone.
CLEAN = {"clean": """
    log.info("delivered %s", "a3c5d2e1-0b9f-4c7d-8e6f-" + other)
    log.info("at %s, id %s, %s", "2026-12-05T08:00:00Z", 1234567890, "1" + other)
    log.info("Margareta alone, Andersson alone")"""}


def _run(pytester: pytest.Pytester, monkeypatch, tests: dict[str, str]):
    """One run of its own (a subprocess) with a test per entry, each logging its lines."""
    monkeypatch.setenv("PYTHONPATH", f"{ROOT}:{ROOT / 'src'}")
    source = HEAD + "".join(
        TEST.format(name=name,
                    body=textwrap.indent(textwrap.dedent(body).strip(), "    ").lstrip())
        for name, body in tests.items())
    pytester.makepyfile(test_planted=source)
    return pytester.runpytest_subprocess("-p", "tests.logscan", "-p", "no:cacheprovider",
                                         "-q", timeout=600)


def test_a_run_whose_log_names_a_patient_fails_and_names_each_line(pytester, monkeypatch):
    result = _run(pytester, monkeypatch, LEAKS)
    out = result.stdout.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED, out
    result.stdout.fnmatch_lines(["*patient data in the log*", f"*{len(LEAKS)} passed*"])
    missed = [name for name in LEAKS if f'"logger": "hemma.planted.{name}"' not in out
              and not (name == "from_uvicorn" and '"logger": "uvicorn.error"' in out)]
    assert not missed, out


def test_a_clean_run_passes(pytester, monkeypatch):
    result = _run(pytester, monkeypatch, CLEAN)
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    result.stdout.fnmatch_lines(["*log scan: * no personnummer or patient's name*"])


def test_this_run_is_scanned(log_scan: LogScan):
    """The scanner of this very run listens on the root logger at DEBUG, and what the code
    logs reaches its file."""
    root = logging.getLogger()
    assert any(h.get_name() == HANDLER_NAME for h in root.handlers)
    assert root.getEffectiveLevel() == logging.DEBUG
    logging.getLogger("hemma.anywhere").debug("scanned-%s", "marker")
    log_scan.handler.flush()
    assert "scanned-marker" in log_scan.path.read_text(encoding="utf-8")
