"""Every resource Hemma returns is checked twice against FHIR R4 (4.0.1): by fhir.resources'
R4 models (pydantic models with the datatypes' patterns: ids, codes, instants; no unknown
element) and by fhirclient's models, generated from R4 itself, which also refuse any element
R4 does not have. fhir.resources' R4 models are those of its release 6.1 and need pydantic 1,
which cannot share a process with the app's pydantic 2: `make install-test` puts them in a
folder of their own (.venv/fhir-r4, from requirements/fhir-r4.txt) and they run here in one
process per test process (tests/fhir/r4_models.py), asked one resource at a time."""

from __future__ import annotations

import atexit
import json
import subprocess
import sys
import threading
from pathlib import Path

from fastapi.testclient import TestClient
from fhirclient.models import fhirelementfactory

from hemma.access.auth import create_api_token
from hemma.models import Staff

R4_MODELS = Path(sys.prefix) / "fhir-r4"


class _R4Models:
    """fhir.resources' R4 models in a process of their own, started on first use."""

    def __init__(self) -> None:
        self._process: subprocess.Popen | None = None
        self._lock = threading.Lock()

    def check(self, resource: dict) -> str | None:
        """What the R4 models say is wrong with the resource; None: it is valid R4."""
        with self._lock:
            if self._process is None or self._process.poll() is not None:
                self._process = self._start()
            self._process.stdin.write(json.dumps(resource) + "\n")
            self._process.stdin.flush()
            line = self._process.stdout.readline()
        if not line:
            raise RuntimeError("the FHIR R4 models' process ended without an answer")
        return json.loads(line).get("error")

    def _start(self) -> subprocess.Popen:
        if not (R4_MODELS / "fhir" / "resources").is_dir():
            raise RuntimeError(f"FHIR R4's models are not installed in {R4_MODELS}: "
                               "run `make install-test`")
        process = subprocess.Popen(
            [sys.executable, "-S", str(Path(__file__).with_name("r4_models.py"))],
            env={"PYTHONPATH": str(R4_MODELS), "PYTHONIOENCODING": "utf-8"},
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, encoding="utf-8")
        atexit.register(process.kill)
        return process


_r4 = _R4Models()


def r4_error(resource: dict) -> str | None:
    """fhir.resources' R4 models' verdict: None when the resource is valid R4."""
    return _r4.check(resource)


def assert_r4(resource: dict) -> None:
    kind = resource["resourceType"]
    error = _r4.check(resource)
    assert error is None, f"not a valid FHIR R4 {kind} (fhir.resources): {error}"
    # strict: an unknown element or a wrong type raises FHIRValidationError.
    fhirelementfactory.FHIRElementFactory.instantiate(kind, resource)


def fhir_client(app, database, world, who: str) -> TestClient:
    """A FHIR client acting as `who` with a bearer token of theirs."""
    with database.session() as s:
        token = create_api_token(s, s.get(Staff, world.staff[who]), "fhir-test")
    c = TestClient(app, base_url="https://testserver")
    c.headers["Authorization"] = f"Bearer {token}"
    return c
