"""Audit-log ingest: how many access-log entries per second do organisations writing at once
get into the hash-chained log, and how long does a commit wait for the chain's head.

    .venv/bin/python bench/audit.py                          # PostgreSQL (the default URL)
    .venv/bin/python bench/audit.py --orgs 3 --writers 4 --duration 10
    .venv/bin/python bench/audit.py --url sqlite:////tmp/audit.sqlite3

It (1) drops, recreates and migrates the database `hemma_bench_audit`, (2) adds `--orgs`
organisations, each with a unit and a nurse, (3) starts one process per organisation with
`--writers` threads each, every thread committing transactions of `--entries` access-log
entries (a list view: one entry per patient shown) as that organisation's nurse, for
`--duration` seconds, closed loop, and (4) prints entries and commits per second, in total
and per organisation, and the commit's latency (p50/p95/p99). The transactions go through the
product's own path: `audit.record()` on the session's trail, written and chained by the
before-commit hook — so the same script measures whichever audit code the checkout has
(before and after per-organisation chains).

This prints figures; it is not a test. The database is dropped at the end unless --keep.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

DEFAULT_URL = os.environ.get(
    "HEMMA_BENCH_DATABASE_URL", "postgresql+psycopg://hemma:hemma@127.0.0.1:5432/hemma_bench_audit")
SECRET = "bench-secret-key-not-for-production-0123456789"


def _prepare(url: str, orgs: int) -> list[dict]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from hemma.config import Settings, configure
    from hemma.db import Database
    from hemma.kit.time import utcnow
    from hemma.migrations.runner import upgrade
    from hemma.models import Organisation, Staff, Unit

    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
        admin.dispose()
    else:
        Path(parsed.database).unlink(missing_ok=True)
    configure(Settings(database_url=url, secret_key=SECRET))
    upgrade(url)
    database = Database(url)
    actors = []
    with database.session() as s:
        for n in range(orgs):
            org = Organisation(name=f"Vårdgivare {n + 1}", kind="region" if n == 0 else "kommun")
            s.add(org)
            s.flush()
            unit = Unit(organisation_id=org.id, name=f"Enhet {n + 1}", kind="home_health")
            s.add(unit)
            s.flush()
            nurse = Staff(username=f"nurse{n + 1}", given_name="Bench", family_name=f"N{n + 1}",
                          profession="nurse", unit_id=unit.id, created_at=utcnow())
            s.add(nurse)
            s.flush()
            actors.append({"user_id": nurse.id, "username": nurse.username,
                           "unit_id": unit.id, "organisation_id": org.id})
    database.dispose()
    return actors


def _writer_process(url: str, actor: dict, writers: int, entries: int, duration: float,
                    ready: mp.Queue, go, out: mp.Queue) -> None:
    from hemma.access import audit
    from hemma.config import Settings, configure
    from hemma.db import Database

    configure(Settings(database_url=url, secret_key=SECRET))
    database = Database(url, pool_size=writers + 2) if url.startswith("postgres") \
        else Database(url)
    patients = [uuid.uuid4() for _ in range(200)]
    latencies: list[list[float]] = [[] for _ in range(writers)]

    with database.session() as s:  # connected and imported before the clock starts
        audit.record(s, None, "bench.warmup", basis="role")
    ready.put(actor["organisation_id"])
    go.wait()
    start_at = time.time()

    def run(i: int) -> None:
        k = i
        end = start_at + duration
        while time.time() < end:
            t = time.perf_counter()
            with database.session() as s:
                trail = audit.trail(s)
                trail.actor = audit.Actor(**actor, client_addr="127.0.0.1")
                for _ in range(entries):
                    k += 1
                    audit.record(s, patients[k % len(patients)], "patient.read", basis="unit")
            latencies[i].append(time.perf_counter() - t)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(writers)]
    cpu = time.process_time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put({"organisation_id": actor["organisation_id"],
             "latencies": [x for xs in latencies for x in xs],
             "cpu": time.process_time() - cpu})
    database.dispose()


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--orgs", type=int, default=3)
    parser.add_argument("--writers", type=int, default=4, help="threads per organisation")
    parser.add_argument("--entries", type=int, default=5, help="entries per transaction")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    actors = _prepare(args.url, args.orgs)
    ctx = mp.get_context("spawn")
    out: mp.Queue = ctx.Queue()
    ready: mp.Queue = ctx.Queue()
    go = ctx.Event()
    procs = [ctx.Process(target=_writer_process,
                         args=(args.url, actor, args.writers, args.entries, args.duration,
                               ready, go, out))
             for actor in actors]
    for p in procs:
        p.start()
    for _ in procs:  # every process imported, connected and waiting
        ready.get()
    go.set()
    results = [out.get() for _ in procs]
    for p in procs:
        p.join()

    total_commits = sum(len(r["latencies"]) for r in results)
    print(f"audit ingest: {args.orgs} organisations × {args.writers} writers, "
          f"{args.entries} entries a commit, {args.duration:.0f} s, "
          f"{'PostgreSQL' if args.url.startswith('postgres') else 'SQLite'}")
    print(f"  total: {total_commits * args.entries / args.duration:,.0f} entries/s, "
          f"{total_commits / args.duration:,.0f} commits/s")
    every = [x for r in results for x in r["latencies"]]
    print(f"  commit latency p50/p95/p99: {_pct(every, 50) * 1000:.1f} / "
          f"{_pct(every, 95) * 1000:.1f} / {_pct(every, 99) * 1000:.1f} ms")
    for r in sorted(results, key=lambda r: r["organisation_id"]):
        n = len(r["latencies"])
        print(f"  organisation {r['organisation_id']}: {n * args.entries / args.duration:,.0f} "
              f"entries/s, p50 {statistics.median(r['latencies']) * 1000:.1f} ms, "
              f"CPU {r['cpu']:.1f} s")

    from hemma.access import audit
    from hemma.config import Settings, configure
    from hemma.db import Database

    configure(Settings(database_url=args.url, secret_key=SECRET))
    database = Database(args.url)
    with database.session() as s:
        report = audit.verify(s)
    print(f"  verify: {'ok' if report.ok else 'FAILED'}, {report.checked:,} entries checked "
          "(with the warm-up's)")
    database.dispose()
    if not args.keep and args.url.startswith("postgres"):
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url

        parsed = make_url(args.url)
        admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
        admin.dispose()
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
