"""`make test`: the whole suite on SQLite, then on PostgreSQL when HEMMA_TEST_DATABASE_URL
is set. CI sets HEMMA_REQUIRE_POSTGRES=1 so that a missing server fails instead of skipping."""

from __future__ import annotations

import os
import subprocess
import sys
import time


def run(backend: str, extra: list[str]) -> int:
    env = dict(os.environ, HEMMA_TEST_BACKEND=backend)
    print(f"\n=== test suite on {backend} ===", flush=True)
    start = time.monotonic()
    code = subprocess.call([sys.executable, "-m", "pytest", "-q", *extra], env=env)
    print(f"=== {backend}: {'passed' if code == 0 else 'FAILED'} in "
          f"{time.monotonic() - start:.0f} s ===", flush=True)
    return code


def main() -> int:
    extra = sys.argv[1:]
    print("=== ruff ===", flush=True)
    if subprocess.call([sys.executable, "-m", "ruff", "check", "src", "tests", "bench"]) != 0:
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
    failed = [b for b in backends if run(b, extra) != 0]
    if failed:
        print(f"FAILED on: {', '.join(failed)}", file=sys.stderr)
        return 1
    print(f"all passed on: {', '.join(backends)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
