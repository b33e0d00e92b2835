"""`make test`: ruff, pip-audit on the locked dependencies (tests/dependency_audit.py), then
the whole suite on SQLite and, side by side, on PostgreSQL when
HEMMA_TEST_DATABASE_URL is set (the PostgreSQL leg runs the tests that use a database; see
tests/conftest.py). CI sets HEMMA_REQUIRE_POSTGRES=1 so that a missing server fails instead of
skipping."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from tests import dependency_audit


class Leg:
    """One backend's run of pytest: the first prints as it goes, the others into a file
    printed when they are done."""

    def __init__(self, backend: str, extra: list[str], log: Path | None):
        self.backend, self.log = backend, log
        if log is None:
            print(f"\n=== test suite on {backend} ===", flush=True)
        out = log.open("w") if log else None
        self.started = time.monotonic()
        self.proc = subprocess.Popen([sys.executable, "-m", "pytest", "-q", *extra],
                                     env=dict(os.environ, HEMMA_TEST_BACKEND=backend),
                                     stdout=out, stderr=subprocess.STDOUT if out else None)
        self.seconds = 0.0
        self.waiter = threading.Thread(target=self._wait)
        self.waiter.start()

    def _wait(self) -> None:
        self.proc.wait()
        self.seconds = time.monotonic() - self.started

    def finish(self) -> bool:
        self.waiter.join()
        if self.log is not None:
            print(f"\n=== test suite on {self.backend} ===", flush=True)
            print(self.log.read_text(), flush=True)
        ok = self.proc.returncode == 0
        print(f"=== {self.backend}: {'passed' if ok else 'FAILED'} in {self.seconds:.0f} s ===",
              flush=True)
        return ok


def main() -> int:
    extra = sys.argv[1:]
    print("=== ruff ===", flush=True)
    if subprocess.call([sys.executable, "-m", "ruff", "check", "src", "tests", "bench"]) != 0:
        return 1
    # Known vulnerabilities in the locked set (requirements/test.txt): before the suite.
    print("=== pip-audit ===", flush=True)
    if dependency_audit.main() != 0:
        return 1
    backends = ["sqlite"]
    if os.environ.get("HEMMA_TEST_DATABASE_URL"):
        backends.append("postgres")
    elif os.environ.get("HEMMA_REQUIRE_POSTGRES") == "1":
        print("HEMMA_REQUIRE_POSTGRES=1 but HEMMA_TEST_DATABASE_URL is not set", file=sys.stderr)
        return 2
    else:
        print("NOTE: PostgreSQL not configured (set HEMMA_TEST_DATABASE_URL, or run .ci/run); "
              "running on SQLite only.", flush=True)
    # The legs run side by side (each has its own databases and its own server ports): the
    # SQLite leg prints as it goes, the PostgreSQL leg's output follows when it is done.
    with tempfile.TemporaryDirectory() as tmp:
        legs = [Leg(b, extra, Path(tmp) / f"{b}.log" if i else None)
                for i, b in enumerate(backends)]
        failed = [leg.backend for leg in legs if not leg.finish()]
    if failed:
        print(f"FAILED on: {', '.join(failed)}", file=sys.stderr)
        return 1
    print(f"all passed on: {', '.join(backends)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
