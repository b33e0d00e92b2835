"""FHIR benchmark: how fast devices' values come in through FHIR compared with Hemma's own JSON
API, and how fast a month of 15-minute values pages out — through real HTTP against the app
started as production starts it (uvicorn, two worker processes) on PostgreSQL.

    .venv/bin/python bench/fhir.py                        # PostgreSQL (the default URL)
    .venv/bin/python bench/fhir.py --duration 5 --keep

It drops, recreates and migrates `hemma_bench_fhir`, bulk-loads with bench/monitoring.py's
generator a home ward (the ingest load's patients, each with two days of values at their
pathway's times) and one patient of a round unit with 30 days of 15-minute values (2,880
submissions of seven values each: ~20,000 FHIR Observations), then measures:

  ingest   the same one-value submissions (a heart rate, a fresh identifier each), closed
           loop at the same concurrency, for the same time, by the same asyncio client:
             json     POST /api/v1/patients/{id}/observations
             fhir     POST /fhir/Observation with If-None-Exist: identifier=…
           and a gateway's batch of --batch-size values:
             json     POST /api/v1/observations/batch
             fhir     POST /fhir, a transaction Bundle, each entry with ifNoneExist
           Runs alternate (json, fhir, fhir, json) so a table that grows favours neither.
           Target: FHIR's rate at least 50% of the JSON API's.
  search   GET /fhir/Observation?patient=<id>&date=ge<30 days ago>&_count=N, following
           `next` links to the end, as a physician of the round unit; every page timed, the
           walk repeated --walks times; the Observations counted (no gap, no duplicate).
           Target: p95 < 200 ms a page.

This prints figures; it is not a test. It exits 0 whatever the figures are (1 if it crashed).
The database is dropped at the end unless --keep.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # monitoring.py, beside this file

import httpx  # noqa: E402
from homeward import (  # noqa: E402
    SECRET_KEY,
    Result,
    backend_description,
    create_database,
    drop_database,
    is_sqlite,
    safe_url,
)
from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

import monitoring  # noqa: E402  (puts src/ on sys.path, through homeward.py)
from hemma.access.auth import create_api_token  # noqa: E402
from hemma.db import Database  # noqa: E402
from hemma.migrations.runner import upgrade  # noqa: E402
from hemma.models import Observation, Staff  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://hemma:hemma@127.0.0.1:5432/hemma_bench_fhir"
DATABASE_NAME = "hemma_bench_fhir"
TARGET_RATIO = 0.5
TARGET_PAGE_P95_MS = 200.0
SYSTEM = "urn:hemma:bench-gateway"
LOINC, UCUM = "http://loinc.org", "http://unitsofmeasure.org"
FHIR_JSON = "application/fhir+json"


def iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="milliseconds")


def heart_rate(pid: str, value: int, identifier: str, at: datetime) -> dict:
    return {
        "resourceType": "Observation", "status": "final",
        "identifier": [{"system": SYSTEM, "value": identifier}],
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                            "observation-category", "code": "vital-signs"}]}],
        "code": {"coding": [{"system": LOINC, "code": "8867-4", "display": "Heart rate"}]},
        "subject": {"reference": f"Patient/{pid}"}, "effectiveDateTime": iso(at),
        "valueQuantity": {"value": value, "unit": "beats/minute", "system": UCUM,
                          "code": "/min"}}


# --- Ingest ----------------------------------------------------------------------------------


@dataclass
class Run:
    api: str  # json | fhir
    kind: str  # single | batch
    concurrency: int
    seconds: float
    requests: int
    values: int
    errors: int
    times_ms: list[float]
    first_error: str | None

    @property
    def rate(self) -> float:
        return self.values / self.seconds


def _request(api: str, kind: str, ids: list[str], rng: random.Random, tag: str,
             size: int) -> tuple[str, dict, dict, int]:
    """(path, body, headers, values) of one request: the same values either way."""
    now = datetime.now(UTC)
    if kind == "single":
        pid, value = rng.choice(ids), rng.randint(55, 88)
        if api == "json":
            return (f"/api/v1/patients/{pid}/observations",
                    {"client_id": tag, "measured_at": iso(now), "pulse": value}, {}, 1)
        return ("/fhir/Observation", heart_rate(pid, value, tag, now),
                {"Content-Type": FHIR_JSON, "If-None-Exist": f"identifier={SYSTEM}|{tag}"}, 1)
    picks = [(rng.choice(ids), rng.randint(55, 88), f"{tag}-{k:04d}",
              now - timedelta(milliseconds=size - k)) for k in range(size)]
    if api == "json":
        return ("/api/v1/observations/batch", {"observations": [
            {"patient_id": pid, "client_id": ident, "measured_at": iso(at), "pulse": value,
             "device_id": "gateway-bench"} for pid, value, ident, at in picks]}, {}, size)
    return ("/fhir", {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": heart_rate(pid, value, ident, at),
         "request": {"method": "POST", "url": "Observation",
                     "ifNoneExist": f"identifier={SYSTEM}|{ident}"}}
        for pid, value, ident, at in picks]}, {"Content-Type": FHIR_JSON}, size)


def load(base: str, token: str, ids: list[str], api: str, kind: str, concurrency: int,
         seconds: float, size: int, seed: int) -> Run:
    """`concurrency` loops, each posting its next request when the last one answered, for
    `seconds`. Every 20th request closes its connection: the uvicorn workers share one
    listening socket and only balance when they accept."""
    times: list[float] = []
    state = {"requests": 0, "values": 0, "errors": 0, "first_error": None}
    ok = {("json", "single"): 201, ("fhir", "single"): 201, ("json", "batch"): 200,
          ("fhir", "batch"): 200}[(api, kind)]
    run_tag = uuid.uuid4().hex[:8]

    async def main() -> float:
        limits = httpx.Limits(max_connections=concurrency,
                              max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=300,
                                     headers={"Authorization": f"Bearer {token}"}) as client:
            start = time.perf_counter()
            deadline = start + seconds

            async def loop(n: int) -> None:
                rng = random.Random(seed * 1000 + n)
                k = 0
                while time.perf_counter() < deadline:
                    k += 1
                    path, body, headers, values = _request(
                        api, kind, ids, rng, f"b-{run_tag}-{n}-{k}", size)
                    if k % 20 == 0 or kind == "batch":
                        headers = {**headers, "Connection": "close"}
                    t0 = time.perf_counter()
                    try:
                        r = await client.post(path, json=body, headers=headers)
                    except httpx.HTTPError as exc:
                        state["errors"] += 1
                        state["first_error"] = state["first_error"] or repr(exc)
                        continue
                    state["requests"] += 1
                    if r.status_code == ok:
                        times.append((time.perf_counter() - t0) * 1000)
                        state["values"] += values
                    else:
                        state["errors"] += 1
                        state["first_error"] = state["first_error"] or \
                            f"{r.status_code} {r.text[:300]}"

            await asyncio.gather(*(loop(n) for n in range(concurrency)))
            return time.perf_counter() - start

    elapsed = asyncio.run(main())
    return Run(api, kind, concurrency, elapsed, state["requests"], state["values"],
               state["errors"], times or [0.0], state["first_error"])


def _age_values(url: str, since: datetime) -> None:
    """Between runs: what a run stored moved ten days back, so each run scores NEWS2 and
    checks the rules over the density of values of a real ward, not over the last run's."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(
                "UPDATE observations SET measured_at = measured_at - interval '10 days', "
                "received_at = received_at - interval '10 days' WHERE received_at >= :since"),
                {"since": since})
    finally:
        engine.dispose()


def measure_ingest(base: str, url: str, token: str, ids: list[str], kind: str,
                   concurrency: int, seconds: float, size: int, seed: int) -> list[Run]:
    runs = []
    for i, api in enumerate(("json", "fhir", "fhir", "json")):
        since = datetime.now(UTC)
        runs.append(load(base, token, ids, api, kind, concurrency, seconds, size, seed + i))
        print(f"  {kind:<6} {api:<4} {runs[-1].rate:>8.1f} values/s "
              f"({runs[-1].errors} errors)", flush=True)
        _age_values(url, since)
    return runs


# --- Search ----------------------------------------------------------------------------------


def measure_search(base: str, token: str, pid: str, since: datetime, count: int,
                   walks: int) -> tuple[list[float], list[int], list[int]]:
    """Walk the month's pages with `next` links to the end, `walks` times: each page's time
    in ms, and per walk the Observations seen and the distinct ones."""
    times, seen, distinct = [], [], []
    url = (f"{base}/fhir/Observation?patient={pid}&date=ge{since.strftime('%Y-%m-%dT%H:%M:%SZ')}"
           f"&_count={count}")
    with httpx.Client(timeout=60, headers={"Authorization": f"Bearer {token}",
                                           "Accept": FHIR_JSON}) as client:
        for _ in range(walks):
            ids: list[str] = []
            nxt: str | None = url
            while nxt:
                t0 = time.perf_counter()
                r = client.get(nxt)
                times.append((time.perf_counter() - t0) * 1000)
                if r.status_code != 200:
                    raise RuntimeError(f"GET {nxt} answered {r.status_code}: {r.text[:500]}")
                body = r.json()
                ids += [e["resource"]["id"] for e in body.get("entry") or []]
                nxt = next((link["url"] for link in body["link"]
                            if link["relation"] == "next"), None)
            seen.append(len(ids))
            distinct.append(len(set(ids)))
    return times, seen, distinct


def expected_resources(url: str, pid: uuid.UUID, since: datetime) -> int:
    """The FHIR Observations the month should page out: one per value of each submission (the
    blood pressure a panel of both) and its NEWS2."""
    from hemma.fhir import vitals

    database = Database(url)
    try:
        with database.session() as s:
            rows = s.query(Observation).filter(Observation.patient_id == pid,
                                               Observation.measured_at >= since).all()
            return sum(len(vitals.observations(o, vitals.Context("Patient/x", "", "", [])))
                       for o in rows)
    finally:
        database.dispose()


def tokens(url: str, data) -> tuple[str, str]:
    database = Database(url)
    try:
        with database.session() as s:
            return (create_api_token(s, s.get(Staff, data.api_nurse), "bench fhir ingest"),
                    create_api_token(s, s.get(Staff, data.round_physician), "bench fhir search"))
    finally:
        database.dispose()


# --- Report ----------------------------------------------------------------------------------


def _rate(runs: list[Run], api: str) -> float:
    mine = [r for r in runs if r.api == api]
    return sum(r.values for r in mine) / sum(r.seconds for r in mine)


def report(backend: str, args, singles: list[Run], batches: list[Run], pages: list[float],
           seen: list[int], distinct: list[int], expected: int) -> None:
    print()
    print("Hemma FHIR benchmark")
    print(f"  backend        {backend}")
    print(f"  server         uvicorn hemma.app:serve_app --factory --workers {args.workers}")
    print(f"  client         asyncio httpx, {args.concurrency} connections, {args.duration:g} s a "
          f"run, runs in the order json, fhir, fhir, json; {os.cpu_count()} CPUs shared by "
          f"server, database and client")
    verdicts = []
    for name, runs, unit in (("single", singles, "one value a request"),
                             ("batch", batches, f"{args.batch_size} values a request")):
        print()
        print(f"Ingest, {name} ({unit}):")
        print(f"  {'api':<5}{'values/s':>10}{'requests':>10}{'p50 ms':>9}{'p95 ms':>9}"
              f"{'errors':>8}")
        for r in runs:
            t = Result("", r.times_ms, "")
            print(f"  {r.api:<5}{r.rate:>10.1f}{r.requests:>10}{t.percentile(50):>9.1f}"
                  f"{t.percentile(95):>9.1f}{r.errors:>8}")
            if r.first_error:
                print(f"       first error: {r.first_error[:200]}")
        json_rate, fhir_rate = _rate(runs, "json"), _rate(runs, "fhir")
        ratio = fhir_rate / json_rate if json_rate else 0.0
        errors = sum(r.errors for r in runs)
        print(f"  JSON API {json_rate:.1f} values/s, FHIR {fhir_rate:.1f} values/s: FHIR at "
              f"{ratio:.0%} of the JSON API's rate")
        verdicts.append(f"RESULT ingest {name}: FHIR {ratio:.0%} of the JSON API "
                        f"({fhir_rate:.0f} vs {json_rate:.0f} values/s, {errors} errors) "
                        f"target >= {TARGET_RATIO:.0%} "
                        f"{'PASS' if ratio >= TARGET_RATIO and errors == 0 else 'FAIL'}")
    t = Result("", pages, "")
    print()
    print(f"Search: Observation?patient=…&date=ge<{args.days} days ago>&_count={args.count}, "
          f"`next` links to the end, {args.walks} walks, sequential")
    print(f"  {len(pages)} pages; Observations per walk {seen} (distinct {distinct}; "
          f"stored {expected})")
    print(f"  page ms: p50 {t.percentile(50):.1f}  p95 {t.percentile(95):.1f}  "
          f"max {max(pages):.1f}  mean {t.mean:.1f}")
    complete = all(s == expected for s in seen) and seen == distinct
    verdicts.append(f"RESULT search: p95 {t.percentile(95):.0f} ms a page "
                    f"({'every Observation once' if complete else 'GAPS OR DUPLICATES'}) "
                    f"target p95 < {TARGET_PAGE_P95_MS:.0f} ms "
                    f"{'PASS' if complete and t.percentile(95) < TARGET_PAGE_P95_MS else 'FAIL'}")
    print()
    for v in verdicts:
        print(v)


# --- Main ------------------------------------------------------------------------------------


def _default_url() -> str:
    env = os.environ.get("HEMMA_BENCH_DATABASE_URL")
    if not env:
        return DEFAULT_URL
    return env if is_sqlite(env) else make_url(env).set(database=DATABASE_NAME) \
        .render_as_string(hide_password=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=_default_url(),
                        help=f"dropped and recreated on every run (default: "
                             f"$HEMMA_BENCH_DATABASE_URL with database {DATABASE_NAME}, "
                             f"else {DEFAULT_URL})")
    parser.add_argument("--patients", type=int, default=500, help="the ingest load's patients")
    parser.add_argument("--days", type=int, default=30, help="days of 15-minute values")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds a run")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--batch-concurrency", type=int, default=2)
    parser.add_argument("--count", type=int, default=50, help="_count of the search")
    parser.add_argument("--walks", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--seed", type=int, default=20261204)
    args = parser.parse_args(argv)
    if args.duration < 2 or args.patients < 10 or args.days < 1 or args.concurrency < 1:
        parser.error("need --duration >= 2, --patients >= 10, --days >= 1, --concurrency >= 1")
    if not 1 <= args.batch_size <= 1000:
        parser.error("--batch-size is 1 to 1000 (the APIs' limit)")
    url = args.database_url
    workdir = Path(tempfile.mkdtemp(prefix="hemma-bench-fhir-"))
    os.environ["HEMMA_SECRET_KEY"] = SECRET_KEY
    os.environ["HEMMA_DATA_DIR"] = str(workdir)
    print(f"preparing {safe_url(url)} …", flush=True)
    try:
        create_database(url)
        try:
            upgrade(url)
            data = monitoring.generate(url, n_load=args.patients, n_probe=0, n_batch=0,
                                       n_round=1, days=args.days, seed=args.seed)
            print(f"generated {data.counts['observations']:,} observations in "
                  f"{data.seconds:.1f} s", flush=True)
            ingest_token, search_token = tokens(url, data)
            ids = [str(p) for p in data.load_patients]
            pid = data.round_patients[0]
            since = datetime.now(UTC) - timedelta(days=args.days)
            expected = expected_resources(url, pid, since)
            with monitoring.running_server(url, workdir, args.workers) as server:
                print("measuring the search …", flush=True)
                pages, seen, distinct = measure_search(server.base, search_token, str(pid),
                                                       since, args.count, args.walks)
                print("measuring single ingest …", flush=True)
                singles = measure_ingest(server.base, url, ingest_token, ids, "single",
                                         args.concurrency, args.duration, 1, args.seed)
                print("measuring batch ingest …", flush=True)
                batches = measure_ingest(server.base, url, ingest_token, ids, "batch",
                                         args.batch_concurrency, args.duration,
                                         args.batch_size, args.seed)
            report(backend_description(url), args, singles, batches, pages, seen, distinct,
                   expected)
        finally:
            if args.keep:
                print(f"kept the database: {safe_url(url)} (server log in {workdir})")
            else:
                drop_database(url)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
