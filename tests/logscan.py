"""The whole test run's log, scanned for patients (a pytest plugin; tests/conftest.py loads it).

Every log record of the run, from every logger at every level, is written to a file as
production writes it (hemma.kit.logs: the same formatter and library logger levels) but
without the formatter's personnummer mask: that mask is a last net in production, and here
a line that would need it must be found at its source. When the run ends the file is
scanned, and the run fails (exit status 1, the lines named in the summary) if any line holds:

- a personnummer or samordningsnummer, in any of its written forms (19400517-1234,
  194005171234, 400517-1234, 4005171234, 400517+1234): anything of that shape with a real date
  and a right check digit (hemma.patients.personnummer.parse decides, not the production
  mask's own check), so every patient any test or the demo made is covered;
- the full name of a patient or relative any test created through the ORM (the names are
  collected as the rows are inserted), of the demo's patients and relatives, or of the
  follow-up demo's patients (written with Core inserts: any of its given names followed by
  any of its family names).

Each backend's leg of `make test` is its own pytest run, so each scans its own log.
tests/test_logscan.py plants a line in a run of its own to show the scan fails it.
HEMMA_LOGSCAN_KEEP=1 keeps the file of a clean run too (its path is printed)."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
from datetime import date
from pathlib import Path

import pytest

from hemma.kit.logs import JsonFormatter, configure_loggers

HANDLER_NAME = "hemma-logscan"
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_CANDIDATE = re.compile(r"(?<![0-9A-Za-z])(?:[0-9]{6}|[0-9]{8})[-+]?[0-9]{4}(?![0-9A-Za-z])")
_WORD = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")


def _words(text: str) -> tuple[str, ...]:
    return tuple(_WORD.findall(text))


class LogScan:
    def __init__(self, path: Path):
        self.path = path
        self.handler = logging.FileHandler(path, encoding="utf-8")
        self.handler.set_name(HANDLER_NAME)
        self.handler.setLevel(logging.DEBUG)
        self.handler.setFormatter(JsonFormatter(redact=False))
        self.names: set[tuple[str, ...]] = set()
        self.findings: list[str] = []

    # --- what is written --------------------------------------------------------------------

    def install(self) -> None:
        """On the root logger, at DEBUG, with production's library logger levels (again
        before every test: a command a test runs sets up logging as `hemma` does)."""
        root = logging.getLogger()
        if self.handler not in root.handlers:
            root.addHandler(self.handler)
        root.setLevel(logging.DEBUG)
        configure_loggers()

    def remove(self) -> None:
        logging.getLogger().removeHandler(self.handler)
        self.handler.close()

    def add_name(self, *parts: str | None) -> None:
        words = _words(" ".join(p for p in parts if p))
        if len(words) >= 2:
            self.names.add(words)

    def watch_inserts(self) -> None:
        """Collect the name of every patient and relative the run creates through the ORM."""
        from sqlalchemy import event

        from hemma.models import Patient, Relative

        def patient(_mapper, _connection, target) -> None:
            self.add_name(target.given_name, target.family_name)

        def relative(_mapper, _connection, target) -> None:
            self.add_name(target.name)

        for kind in ("after_insert", "after_update"):
            event.listen(Patient, kind, patient)
            event.listen(Relative, kind, relative)

    # --- what is looked for -------------------------------------------------------------------

    def _demo(self) -> tuple[set[str], set[str], set[str]]:
        """The demo's exact numbers (every written form), and the follow-up demo's given and
        family names."""
        from hemma import demo
        from hemma.followup import demo as followup_demo
        from hemma.patients.personnummer import make

        numbers = set()
        for i, (given, family, born, *_rest) in enumerate(demo.PATIENTS + demo.MOBILE_PATIENTS):
            self.add_name(given, family)
            number = make(born, 980 + i % 20)
            numbers |= {number, f"{number[:8]}-{number[8:]}", f"{number[2:8]}-{number[8:]}"}
            for _relation, first in demo.RELATIVES:
                self.add_name(first, family)
        return (numbers, set(followup_demo.WOMEN) | set(followup_demo.MEN),
                set(followup_demo.FAMILIES))

    @staticmethod
    def personnummer_in(text: str) -> list[str]:
        from hemma.patients.personnummer import InvalidPersonnummer, parse

        found = []
        for m in _CANDIDATE.finditer(_UUID.sub(" ", text)):
            try:
                parse(m.group(0), today=date(2100, 1, 1))
            except InvalidPersonnummer:
                continue
            found.append(m.group(0))
        return found

    def scan(self) -> list[str]:
        """Every line that names a patient, with what it names."""
        self.handler.flush()
        numbers, given_names, family_names = self._demo()
        longest = max((len(n) for n in self.names), default=2)
        findings = []
        with self.path.open(encoding="utf-8") as lines:
            for line in lines:
                try:
                    fields = json.loads(line)
                    text = "\n".join(str(v) for v in fields.values())
                except ValueError:
                    text = line
                found = [f"personnummer {n}" for n in self.personnummer_in(text)]
                found += [f"demo personnummer {n}" for n in numbers if n in text]
                words = _words(text)
                for size in range(2, longest + 1):
                    for i in range(len(words) - size + 1):
                        if words[i:i + size] in self.names:
                            found.append(f"name {' '.join(words[i:i + size])}")
                found += [f"name {a} {b}" for a, b in zip(words, words[1:], strict=False)
                          if a in given_names and b in family_names]
                if found:
                    findings.append(f"{'; '.join(sorted(set(found)))}: {line.strip()[:500]}")
        return findings


_scan: LogScan | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _scan
    directory = Path(tempfile.mkdtemp(prefix="hemma-logscan-"))
    _scan = LogScan(directory / "run.jsonl")
    _scan.watch_inserts()
    _scan.install()


@pytest.fixture(autouse=True)
def _log_scanned():
    """Every test logs into the scanned file."""
    if _scan is not None:
        _scan.install()
    yield


@pytest.fixture
def log_scan() -> LogScan:
    """The run's scanner (tests/test_logscan.py looks at it)."""
    assert _scan is not None
    return _scan


def pytest_sessionfinish(session: pytest.Session, exitstatus) -> None:
    if _scan is None:
        return
    _scan.findings = _scan.scan()
    if _scan.findings and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if _scan is None:
        return
    if _scan.findings:
        terminalreporter.section("patient data in the log", sep="=", red=True, bold=True)
        for finding in _scan.findings[:50]:
            terminalreporter.write_line(finding)
        terminalreporter.write_line(f"{len(_scan.findings)} line(s); the whole log of the run: "
                                    f"{_scan.path}")
    else:
        lines = sum(1 for _ in _scan.path.open(encoding="utf-8"))
        terminalreporter.write_line(f"log scan: {lines} log lines of the run, no personnummer or "
                                    f"patient's name"
                                    + (f" ({_scan.path})" if os.environ.get("HEMMA_LOGSCAN_KEEP")
                                       else ""))


def pytest_unconfigure(config: pytest.Config) -> None:
    global _scan
    if _scan is None:
        return
    _scan.remove()
    if not _scan.findings and not os.environ.get("HEMMA_LOGSCAN_KEEP"):
        shutil.rmtree(_scan.path.parent, ignore_errors=True)
    _scan = None
