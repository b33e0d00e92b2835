"""Recording values: exactly once per client id (also under concurrency), plausibility
limits, times, and NEWS2 combined across a window."""

from __future__ import annotations

import random
import threading
from datetime import timedelta, timezone

import pytest
from sqlalchemy import func, select

from hemma.kit.time import utcnow
from hemma.models import Alert, MonitoringPlan, Observation, OutboxMessage
from hemma.monitoring import news2
from hemma.monitoring.service import NEWS2_FIELDS


def _admitted(world):
    pid = world.patient(unit="med")
    world.episode(pid, state="admitted")
    return pid


def _send(client, pid, client_id, at=None, **values):
    return client.post(f"/api/v1/patients/{pid}/observations", json={
        "client_id": client_id, "measured_at": (at or utcnow()).isoformat(), **values})


def _count(database, model, **where):
    with database.session() as s:
        stmt = select(func.count()).select_from(model)
        for key, value in where.items():
            stmt = stmt.where(getattr(model, key) == value)
        return s.scalar(stmt)


def test_resending_changes_nothing(world, database, as_user):
    pid = _admitted(world)
    sara = as_user("sara")
    first = _send(sara, pid, "tap-000001", respiration_rate=26, spo2=90, pulse=120)
    assert first.status_code == 201 and not first.json()["duplicate"]
    again = _send(sara, pid, "tap-000001", respiration_rate=26, spo2=90, pulse=120)
    assert again.status_code == 201 and again.json()["duplicate"]
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["alert_id"] == first.json()["alert_id"] is not None
    assert _count(database, Observation, patient_id=pid) == 1
    assert _count(database, Alert, patient_id=pid) == 1


def test_the_same_submission_ten_times_at_once_is_one_row_and_one_alert(world, database,
                                                                        as_user):
    pid = _admitted(world)
    clients = [as_user("sara") for _ in range(10)]
    barrier = threading.Barrier(len(clients))
    statuses = []
    at = utcnow()

    def send(client):
        barrier.wait()
        r = _send(client, pid, "double-tap-42", at=at, respiration_rate=26, spo2=90, pulse=131,
                  systolic_bp=88, consciousness="V")
        statuses.append((r.status_code, r.json()["duplicate"]))

    threads = [threading.Thread(target=send, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [(201, False)] + [(201, True)] * 9
    assert _count(database, Observation, patient_id=pid) == 1
    assert _count(database, Alert, patient_id=pid) == 1
    assert _count(database, OutboxMessage, topic="alert.notify") == 1


@pytest.mark.parametrize("field,value", [
    ("spo2", 101), ("spo2", 30), ("pulse", 400), ("pulse", 5), ("temperature", 73.0),
    ("temperature", 3.7), ("respiration_rate", 0), ("systolic_bp", 1200), ("pain", 11),
    ("consciousness", "X"), ("weight", 800),
])
def test_impossible_values_are_refused_naming_the_field(field, value, world, database, as_user):
    pid = _admitted(world)
    r = _send(as_user("sara"), pid, "bad-value-01", **{field: value})
    assert r.status_code == 422
    assert field in {e["field"] for e in r.json()["errors"]}
    assert _count(database, Observation) == 0


def test_times(world, database, as_user):
    pid = _admitted(world)
    sara = as_user("sara")
    r = _send(sara, pid, "future-0001", at=utcnow() + timedelta(hours=1), pulse=70)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "measured_at"
    r = sara.post(f"/api/v1/patients/{pid}/observations", json={
        "client_id": "naive-00001", "measured_at": "2026-11-30T08:00:00", "pulse": 70})
    assert r.status_code == 422 and "measured_at" in r.json()["errors"][0]["field"]
    r = sara.post(f"/api/v1/patients/{pid}/observations", json={
        "client_id": "empty-00001", "measured_at": utcnow().isoformat()})
    assert r.status_code == 422
    # Late and out of order is fine; the offset the device sent is kept.
    cet = timezone(timedelta(hours=1))
    late = (utcnow() - timedelta(hours=5)).astimezone(cet)
    r = sara.post(f"/api/v1/patients/{pid}/observations", json={
        "client_id": "late-000001", "measured_at": late.isoformat(), "pulse": 72})
    assert r.status_code == 201
    with database.session() as s:
        row = s.scalar(select(Observation).where(Observation.client_id == "late-000001"))
        assert row.measured_offset_minutes == 60
        assert abs((row.measured_at - late).total_seconds()) < 1
        assert row.received_at > row.measured_at


def test_news2_combines_values_measured_within_the_window(world, database, as_user):
    pid = _admitted(world)
    sara = as_user("sara")
    t0 = utcnow() - timedelta(hours=2)
    _send(sara, pid, "comb-00001", at=t0, respiration_rate=22, spo2=95, on_oxygen=False)
    second = _send(sara, pid, "comb-00002", at=t0 + timedelta(minutes=35), systolic_bp=105,
                   pulse=95, temperature=38.4, consciousness="A").json()
    # 22/min 2 + SpO2 95 1 + air 0 + BP 105 1 + pulse 95 1 + A 0 + 38.4 1 = 6
    assert (second["news2_total"], second["news2_band"], second["news2_partial"]) == \
        (6, "medium", False)
    # An hour later the breathing values have left the window: partial again.
    third = _send(sara, pid, "comb-00003", at=t0 + timedelta(minutes=100), pulse=80).json()
    assert third["news2_partial"] and third["news2_band"] is None
    # A value that arrives late joins the score of what was measured just after it.
    _send(sara, pid, "comb-00004", at=t0 + timedelta(minutes=90), respiration_rate=26,
          spo2=97, on_oxygen=False, systolic_bp=120, temperature=37.0, consciousness="A")
    with database.session() as s:
        later = s.scalar(select(Observation).where(Observation.client_id == "comb-00003"))
        assert later.news2_partial is False and later.news2_total == 3


def test_spo2_scale_2_follows_the_physicians_plan(world, database, as_user):
    pid = _admitted(world)
    lisa = as_user("lisa")
    values = dict(respiration_rate=16, spo2=89, on_oxygen=False, systolic_bp=130, pulse=70,
                  temperature=37.0, consciousness="A")
    assert _send(lisa, pid, "scale-0001", **values).json()["news2_total"] == 3
    r = lisa.put(f"/api/v1/patients/{pid}/monitoring-plan", json={"spo2_scale": 2})
    assert r.status_code == 200 and r.json()["spo2_scale"] == 2
    assert _send(lisa, pid, "scale-0002", **values).json()["news2_total"] == 0
    with database.session() as s:
        plan = s.scalar(select(MonitoringPlan))
        assert plan.spo2_scale_set_by_id == world.staff["lisa"]
    # Only a physician prescribes scale 2.
    r = as_user("sara").put(f"/api/v1/patients/{pid}/monitoring-plan", json={"spo2_scale": 1})
    assert r.status_code == 404


def test_batch_is_all_or_nothing(world, database, as_user):
    pid = _admitted(world)
    other = world.patient(unit="hsv", registered_by="hsv")
    sara = as_user("sara")
    now = utcnow().isoformat()
    good = [{"patient_id": str(pid), "client_id": f"dev-{i:06d}", "measured_at": now,
             "pulse": 70 + i} for i in range(3)]
    r = sara.post("/api/v1/observations/batch",
                  json={"observations": good + [{**good[0], "client_id": "dev-x", "spo2": 9}]})
    assert r.status_code == 422
    r = sara.post("/api/v1/observations/batch", json={"observations": good + [
        {"patient_id": str(other), "client_id": "dev-000099", "measured_at": now, "pulse": 60}]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "observations.3.patient_id"
    assert _count(database, Observation) == 0
    r = sara.post("/api/v1/observations/batch", json={"observations": good})
    assert r.status_code == 200 and len(r.json()) == 3
    assert _count(database, Observation) == 3


def test_staff_form_and_charts(world, database, as_user):
    pid = _admitted(world)
    sara = as_user("sara")
    page = sara.get(f"/patients/{pid}/observations/new")
    assert page.status_code == 200
    import re

    client_id = re.search(r'name="client_id" value="([^"]+)"', page.text).group(1)
    r = sara.post(f"/patients/{pid}/observations/new", follow_redirects=False, data={
        "client_id": client_id, "respiration_rate": "18", "spo2": "95", "on_oxygen": "false",
        "pulse": "88", "temperature": "37,9".replace(",", "."), "consciousness": "A",
        "systolic_bp": "128", "diastolic_bp": "80"})
    assert r.status_code == 303
    assert _count(database, Observation) == 1
    svg = sara.get(f"/patients/{pid}/charts/vitals.svg")
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert b"<svg" in svg.content
    values = sara.get(f"/patients/{pid}/observations").text
    assert "88" in values and "37,9" in values  # written the Swedish way
    # Reading the overview shows the latest NEWS2.
    assert "Senaste NEWS2" in sara.get(f"/patients/{pid}").text


def test_a_batch_scores_together_and_knows_its_resends(world, database, as_user):
    pid = _admitted(world)
    sara = as_user("sara")
    t0 = utcnow() - timedelta(hours=1)
    _send(sara, pid, "gw-before-1", at=t0, pulse=70)
    items = [
        {"client_id": "gw-000001", "measured_at": (t0 + timedelta(minutes=5)).isoformat(),
         "respiration_rate": 22, "spo2": 95, "on_oxygen": False},
        {"client_id": "gw-000002", "measured_at": (t0 + timedelta(minutes=30)).isoformat(),
         "systolic_bp": 105, "pulse": 95, "temperature": 38.4, "consciousness": "A"},
        {"client_id": "gw-000002", "measured_at": (t0 + timedelta(minutes=30)).isoformat(),
         "pulse": 95},
        {"client_id": "gw-before-1", "measured_at": t0.isoformat(), "pulse": 70},
    ]
    r = sara.post("/api/v1/observations/batch", json={"observations": [
        {"patient_id": str(pid), **item} for item in items]})
    assert r.status_code == 200, r.text
    out = r.json()
    assert [o["duplicate"] for o in out] == [False, False, True, True]
    assert out[2]["id"] == out[1]["id"]
    assert (out[1]["news2_total"], out[1]["news2_band"], out[1]["news2_partial"]) == \
        (6, "medium", False)
    assert _count(database, Observation, patient_id=pid) == 3


def _reference_news2(rows, at, window=timedelta(minutes=60)):
    """NEWS2 at `at` from every stored row, the slow obvious way: for each parameter the
    newest value measured within the window (later receipt wins a tie)."""
    latest = {}
    for o in sorted(rows, key=lambda o: (o.measured_at, o.received_at)):
        if at - window <= o.measured_at <= at:
            for name in NEWS2_FIELDS:
                if getattr(o, name) is not None:
                    latest[name] = getattr(o, name)
    return news2.score(spo2_scale=1, **{name: latest.get(name) for name in NEWS2_FIELDS})


def test_scores_do_not_depend_on_arrival_order_or_batching(world, database, as_user):
    """Values arrive late, out of order, one by one and in batches of a few: every stored
    score equals the score computed from the whole history afterwards (the database picks
    the rows a score needs; this holds it to the obvious definition)."""
    rng = random.Random(20261130)
    sara = as_user("sara")
    choices = {"respiration_rate": [8, 12, 16, 22, 26], "spo2": [90, 93, 95, 98],
               "on_oxygen": [False, True], "temperature": [35.0, 36.5, 38.5, 39.5],
               "systolic_bp": [88, 100, 120, 225], "pulse": [40, 60, 95, 115, 135],
               "consciousness": ["A", "C"]}
    for _round in range(3):
        pid = _admitted(world)
        start = utcnow() - timedelta(hours=6)
        minutes = sorted(rng.sample(range(0, 350), 40))
        items = []
        for k, minute in enumerate(minutes):
            fields = rng.sample(NEWS2_FIELDS, rng.randint(1, 4))
            items.append({"patient_id": str(pid), "client_id": f"order-{k:04d}",
                          "measured_at": (start + timedelta(minutes=minute)).isoformat(),
                          **{f: rng.choice(choices[f]) for f in fields}})
        rng.shuffle(items)
        while items:
            size = rng.randint(1, 6)
            chunk, items = items[:size], items[size:]
            r = sara.post("/api/v1/observations/batch", json={"observations": chunk})
            assert r.status_code == 200, r.text
        with database.session() as s:
            rows = list(s.scalars(select(Observation).where(Observation.patient_id == pid)))
        assert len(rows) == 40
        for o in rows:
            expected = _reference_news2(rows, o.measured_at)
            assert (o.news2_total, o.news2_band, o.news2_partial) == \
                (expected.total, expected.band, expected.partial), o.client_id
