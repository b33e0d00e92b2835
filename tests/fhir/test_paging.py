"""Paging a month of values: every Observation once, in order, whichever way it is sorted,
however sparse the values asked for (a weekly weight among 15-minute heart rates), with
values measured at the same instant and gaps of days; and each page reads the values around
it, not the whole month (a month of a gateway's 15-minute values is 2,880 rows)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import event

from hemma.fhir import vitals
from hemma.fhir.search import decode_cursor, encode_cursor
from hemma.kit.time import utcnow
from hemma.models import Observation
from tests.fhir.validate import fhir_client


def _add(s, world, pid, at, **values):
    s.add(Observation(patient_id=pid, measured_at=at, received_at=utcnow(),
                      client_id=f"p-{uuid.uuid4()}", performer="device", source="api",
                      documented_by_unit_id=world.units["med"], news2_partial=True, **values))


@pytest.fixture
def month(world, database):
    """Two weeks of 15-minute heart rates, a gap of five days, a week more; a weight every
    third day; three submissions at the very same instant (a gateway's burst)."""
    pid = world.patient(unit="med")
    world.episode(pid, state="admitted")
    now = utcnow().replace(second=0, microsecond=0)
    with database.session() as s:
        for k in range(21 * 96):
            at = now - timedelta(days=26) + timedelta(minutes=15 * k)
            if now - timedelta(days=12) <= at < now - timedelta(days=7):
                continue  # the gap
            _add(s, world, pid, at, pulse=60 + k % 30)
        for d in range(0, 26, 3):
            _add(s, world, pid, now - timedelta(days=d, hours=5), weight=80.0 + d / 10)
        for value in (71, 72, 73):
            _add(s, world, pid, now - timedelta(days=3, minutes=7), pulse=value)
    return pid


def _walk(client, url: str) -> tuple[list[dict], int]:
    seen, pages = [], 0
    while url:
        r = client.get(url)
        assert r.status_code == 200, r.text
        pages += 1
        seen += [e["resource"] for e in r.json().get("entry", [])]
        nxt = [link["url"] for link in r.json()["link"] if link["relation"] == "next"]
        url = nxt[0].removeprefix("https://testserver") if nxt else None
    return seen, pages


@pytest.mark.parametrize("sort", ["-date", "date"])
@pytest.mark.parametrize("code, expected", [
    (None, (21 - 5) * 96 + 3 + 9), (f"{vitals.LOINC}|29463-7", 9)])
def test_every_observation_once_in_order(app, world, database, month, sort, code, expected):
    sara = fhir_client(app, database, world, "sara")
    since = (utcnow() - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    url = f"/fhir/Observation?patient={month}&date=ge{since}&_count=37&_sort={sort}"
    if code:
        url += f"&code={code}"
    seen, pages = _walk(sara, url)
    ids = [o["id"] for o in seen]
    assert len(ids) == expected and len(set(ids)) == expected
    assert pages == -(-expected // 37)  # no empty last page
    times = [o["effectiveDateTime"] for o in seen]
    assert times == sorted(times, reverse=sort == "-date")


def test_a_page_reads_the_values_around_it_not_the_whole_month(app, world, database, month):
    sara = fhir_client(app, database, world, "sara")
    loaded = []

    def count(target, context):
        loaded.append(target.id)

    event.listen(Observation, "load", count)
    try:
        url = f"/fhir/Observation?patient={month}&_count=50"
        for _ in range(10):
            loaded.clear()
            r = sara.get(url)
            assert r.status_code == 200
            # 50 heart rates are 50 submissions: read with their hour of NEWS2 context and
            # the window's slack, never the month's ~1,500 rows.
            assert len(loaded) < 200, len(loaded)
            url = next(link["url"] for link in r.json()["link"]
                       if link["relation"] == "next").removeprefix("https://testserver")
    finally:
        event.remove(Observation, "load", count)


def test_a_page_link_without_its_time_still_pages_and_a_damaged_time_is_refused(
        app, world, database, month):
    sara = fhir_client(app, database, world, "sara")
    first = sara.get(f"/fhir/Observation?patient={month}&_count=5").json()
    ids = [e["resource"]["id"] for e in first["entry"]]
    nxt = next(link["url"] for link in first["link"] if link["relation"] == "next")
    # A link made before pages kept their row's time: the next row by its id alone.
    position = decode_cursor(nxt.split("_cursor=")[1])
    old = encode_cursor({"row": position["row"], "skip": position["skip"]})
    r = sara.get(f"/fhir/Observation?patient={month}&_count=5&_cursor={old}")
    assert r.status_code == 200
    later = [e["resource"]["id"] for e in r.json()["entry"]]
    assert len(later) == 5 and not set(later) & set(ids)
    damaged = encode_cursor({**position, "at": "yesterday"})
    r = sara.get(f"/fhir/Observation?patient={month}&_count=5&_cursor={damaged}")
    assert r.status_code == 400
    assert r.json()["issue"][0]["expression"] == ["_cursor"]
