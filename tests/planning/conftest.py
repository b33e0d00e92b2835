"""Planning tests that read the literature's instances: skip without them, fail in CI."""

from __future__ import annotations

from tests.planning import benchmarks


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "benchmarks(*folders): reads ../shared/benchmarks/<folder>; skips when it "
        "is missing, fails in CI (CI=true)")


def pytest_runtest_setup(item):
    for mark in item.iter_markers("benchmarks"):
        for name in mark.args:
            benchmarks.require(benchmarks.ROOT / name)
