"""Trend charts are drawn from threaded routes (FastAPI runs plain routes in a thread pool):
each drawing must be its own, whatever else is being drawn at the same moment."""

from __future__ import annotations

import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from hemma.monitoring.charts import vitals_svg

NOW = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)


def _patient(seed: int) -> list:
    """A patient's 72 hours, different for every seed (so a mixed-up drawing shows)."""
    return [SimpleNamespace(
        id=k, measured_at=NOW - timedelta(hours=3 * k), news2_total=(seed + k) % 9,
        news2_band=("high", "medium", "low-medium", "low")[(seed + k) % 4],
        spo2=88 + (seed + k) % 12, pulse=60 + 7 * seed + k, respiration_rate=12 + seed % 10,
        temperature=36.0 + (seed % 5) / 2, systolic_bp=100 + 5 * seed,
        news2_partial=k % 5 == 0) for k in range(24)]


def test_charts_drawn_from_several_threads_at_once_are_each_their_own():
    cases = [(_patient(seed), compact) for seed in range(2) for compact in (False, True)]
    expected = [vitals_svg(data, NOW, 72, compact) for data, compact in cases]
    assert len(set(expected)) == len(cases)  # every case draws a different picture
    threads = 8
    start = threading.Barrier(threads)

    def draw(job: int) -> tuple[int, bytes]:
        start.wait()  # every thread starts drawing at the same moment
        index = job % len(cases)
        data, compact = cases[index]
        return index, vitals_svg(data, NOW, 72, compact)

    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(draw, range(threads)))
    for index, svg in results:
        assert svg == expected[index], f"case {index} was drawn differently under load"


def test_the_charts_do_not_use_pyplot():
    """pyplot keeps one process-wide list of figures: drawing through it from several
    threads lets one request's figure end up in another's picture."""
    script = ("import sys, hemma.monitoring.charts, hemma.planning.charts;"
              "sys.exit('matplotlib.pyplot' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", script], timeout=120).returncode == 0
