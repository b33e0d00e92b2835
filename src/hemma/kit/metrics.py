"""Prometheus metrics (prometheus-client) that processes observe in memory: request latency
and alert delivery latency. Figures kept in the database (outbox depth, worker heartbeats)
are read when /metrics is scraped instead (hemma.web.ops), so every process answers the same
for them, wherever the workers run.

Several processes: `hemma serve --workers N` runs N uvicorn processes, a scrape reaches one
of them, and `hemma worker` (which delivers alerts) serves no HTTP at all. So `hemma serve`
and `hemma worker` put prometheus-client in its multiprocess mode before it is imported
(`PROMETHEUS_MULTIPROC_DIR`, by default <data dir>/metrics): each process writes its
figures to files there and a scrape adds up the files of the host. `prepare_directory()`
removes the files of processes that no longer run when a command starts (never those of a
running process: a `hemma worker` may have started first). Without the variable (tests, a
single process) the figures live in the process and the default registry serves them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry, Histogram, values
from prometheus_client.metrics_core import Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.samples import Sample

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

REQUEST_SECONDS = Histogram(
    "hemma_http_request_duration_seconds",
    "Time from a request's arrival to the end of its answer, by method, route template and "
    "status class.",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0))

ALERT_DELIVERY_SECONDS = Histogram(
    "hemma_alert_delivery_seconds",
    "Time from an alert being raised (reason created), made more severe (raised) or "
    "escalated (escalated) to its notifications being delivered to staff (committed).",
    ["reason"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0))


def status_class(status: int) -> str:
    return f"{status // 100}xx"


def multiprocess() -> bool:
    return values.ValueClass is not values.MutexValue


_PID = re.compile(r"_(\d+)\.db$")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _pids(directory: Path) -> set[int]:
    return {int(m.group(1)) for f in directory.glob("*.db") if (m := _PID.search(f.name))}


def prepare_directory() -> Path | None:
    """Create the multiprocess directory and remove the files of processes that are gone.
    Needs PROMETHEUS_MULTIPROC_DIR set before this module was first imported."""
    path = os.environ.get(MULTIPROC_ENV)
    if not path:
        return None
    if not multiprocess():
        raise RuntimeError(f"{MULTIPROC_ENV} was set after prometheus_client was imported")
    directory = Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    for pid in _pids(directory):
        if pid != os.getpid() and not _alive(pid):
            for f in directory.glob(f"*_{pid}.db"):
                f.unlink(missing_ok=True)
    return directory


class _Processes:
    """The default process metrics (CPU, memory, open files) of every live process that
    writes to the multiprocess directory, each with its pid: in multiprocess mode the
    scraped process can only speak for itself otherwise."""

    def __init__(self, directory: Path):
        self.directory = directory

    def collect(self) -> Iterable[Metric]:
        merged: dict[str, Metric] = {}
        for pid in sorted(p for p in _pids(self.directory) if _alive(p)):
            for metric in ProcessCollector(pid=lambda pid=pid: pid, registry=None).collect():
                into = merged.setdefault(metric.name, Metric(metric.name, metric.documentation,
                                                             metric.type))
                into.samples.extend(Sample(s.name, {**s.labels, "pid": str(pid)}, s.value)
                                    for s in metric.samples)
        return list(merged.values())


class _Together:
    def __init__(self, *collectors):
        self.collectors = collectors

    def collect(self) -> Iterable[Metric]:
        for collector in self.collectors:
            yield from collector.collect()


def exposition(*more) -> bytes:
    """The text exposition of every figure: this host's processes (multiprocess mode) or this
    process, with the collectors given (the database's figures)."""
    from prometheus_client import generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector

    if multiprocess():
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        source = _Together(registry, _Processes(Path(os.environ[MULTIPROC_ENV])), *more)
    else:
        source = _Together(REGISTRY, *more)
    return generate_latest(source)
