"""The literature's benchmark instances live beside the repository (`../shared/benchmarks`),
not in it. A test that reads them skips on a machine without them, and fails in CI
(`CI=true`, as CI services set it): there a missing folder must not turn the comparison with
the literature into a silent pass.

Mark such a test `@pytest.mark.benchmarks("solomon")`; tests/planning/conftest.py checks the
folders before the test runs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3] / "shared" / "benchmarks"
MANKOWSKA = ROOT / "hhcrsp-mankowska"
SOLOMON = ROOT / "solomon"


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def require(folder: Path) -> Path:
    """The folder, or skip the test (on a developer's machine) or fail it (in CI)."""
    if folder.is_dir():
        return folder
    message = f"benchmark folder {folder} is missing (../shared/benchmarks beside the repository)"
    if in_ci():
        pytest.fail(message + "; in CI the benchmarks must be there", pytrace=False)
    pytest.skip(message)
