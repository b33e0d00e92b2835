"""A missing benchmark folder skips a test on a developer's machine and fails it in CI."""

from __future__ import annotations

import pytest

from tests.planning import benchmarks


def test_a_missing_benchmark_folder_fails_in_ci_and_skips_elsewhere(tmp_path, monkeypatch):
    missing = tmp_path / "solomon"
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="must be there"):
        benchmarks.require(missing)
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        benchmarks.require(missing)
    missing.mkdir()
    monkeypatch.setenv("CI", "true")
    assert benchmarks.require(missing) == missing


def test_every_test_that_reads_the_benchmarks_is_marked():
    """A test reading ../shared/benchmarks without the marker would error (or skip by
    itself) instead of failing in CI."""
    import inspect

    from tests.planning import test_schedule, test_solver, test_vrptw

    for module in (test_schedule, test_solver, test_vrptw):
        for name, test in inspect.getmembers(module, inspect.isfunction):
            if not name.startswith("test_"):
                continue
            source = inspect.getsource(test)
            if "MANKOWSKA" in source or "SOLOMON" in source:
                marks = [m.name for m in getattr(test, "pytestmark", [])]
                assert "benchmarks" in marks, name
