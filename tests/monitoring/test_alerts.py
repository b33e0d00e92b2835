"""Alerts that are never lost: raised once, delivered through the outbox to the people on
duty, escalated on time exactly once per step, snoozed only with a reason, resolved with a
note; missed measurements; and a worker killed mid-delivery."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from datetime import datetime, time, timedelta
from pathlib import Path

from sqlalchemy import func, select

import hemma
from hemma.jobs.outbox import lease
from hemma.jobs.worker import Worker
from hemma.kit.time import STOCKHOLM, format_local, frozen_clock, utcnow
from hemma.models import (
    Alert,
    AlertEvent,
    AuditEntry,
    DutyShift,
    Episode,
    Notification,
    OutboxMessage,
    Pathway,
)

CRITICAL = dict(respiration_rate=26, spo2=90, pulse=131, systolic_bp=95, temperature=38.5,
                consciousness="A", on_oxygen=False)  # NEWS2 3+3+3+2+1 = 12


def _admitted(world):
    pid = world.patient(unit="med")
    world.episode(pid, state="admitted")
    return pid


def _on_duty(world, database, username, role, hours=12):
    with database.session() as s:
        now = utcnow()
        s.add(DutyShift(unit_id=world.units["med"], staff_id=world.staff[username], role=role,
                        starts_at=now - timedelta(hours=1), ends_at=now + timedelta(hours=hours)))


def _send(client, pid, client_id, at=None, **values):
    r = client.post(f"/api/v1/patients/{pid}/observations", json={
        "client_id": client_id, "measured_at": (at or utcnow()).isoformat(), **values})
    assert r.status_code == 201, r.text
    return r.json()


def _notified(database, alert_id=None):
    with database.session() as s:
        stmt = select(Notification.staff_id, Notification.kind).order_by(Notification.id)
        if alert_id:
            stmt = stmt.where(Notification.alert_id == uuid.UUID(str(alert_id)))
        return [tuple(r) for r in s.execute(stmt)]


def test_a_critical_news2_reaches_the_nurse_on_duty_and_escalates_on_time(world, database,
                                                                          as_user):
    pid = _admitted(world)
    _on_duty(world, database, "sara", "nurse")
    _on_duty(world, database, "lisa", "physician_on_call")
    t0 = utcnow()
    olle = as_user("olle")
    with frozen_clock(t0):
        body = _send(olle, pid, "crit-0001", at=t0, **CRITICAL)
    assert body["news2_total"] == 12 and body["news2_band"] == "high"
    alert_id = body["alert_id"]
    worker = Worker(database)
    with frozen_clock(t0 + timedelta(seconds=1)):
        assert worker.tick().delivered == 1
    sara, lisa = world.staff["sara"], world.staff["lisa"]
    assert _notified(database, alert_id) == [(sara, "alert.created")]
    with database.session() as s:
        alert = s.get(Alert, uuid.UUID(alert_id))
        assert (alert.severity, alert.status, alert.escalation_level) == ("critical", "open", 0)

    # Critical: 5 minutes to the physician on call, 10 more to the whole unit.
    with frozen_clock(t0 + timedelta(minutes=4, seconds=59)):
        assert worker.tick().escalated == 0
    with frozen_clock(t0 + timedelta(minutes=5)):
        assert worker.tick().escalated == 1
        assert worker.tick().escalated == 0  # exactly once per step
        assert Worker(database).tick().escalated == 0  # whatever the number of workers
    assert _notified(database, alert_id)[-1] == (lisa, "alert.escalated")
    with frozen_clock(t0 + timedelta(minutes=15)):
        assert worker.tick().escalated == 1
    everyone = {world.staff[u] for u in ("sara", "lisa")}  # every physician and nurse of med
    assert {s for s, k in _notified(database, alert_id) if k == "alert.escalated"} >= everyone
    with frozen_clock(t0 + timedelta(hours=3)):
        assert worker.tick().escalated == 0  # no steps left
    with database.session() as s:
        levels = s.scalars(select(AlertEvent.level).where(AlertEvent.kind == "escalated")).all()
        assert sorted(levels) == [1, 2]


def test_acknowledging_stops_escalation_and_resolving_needs_a_note(world, database, as_user):
    pid = _admitted(world)
    t0 = utcnow()
    alert_id = _send(as_user("sara"), pid, "ack-0001", at=t0, **CRITICAL)["alert_id"]
    worker = Worker(database)
    worker.tick(t0)
    sara = as_user("sara")
    r = sara.post(f"/api/v1/patients/{pid}/alerts/{alert_id}/acknowledge", json={})
    assert r.status_code == 200 and r.json()["status"] == "acknowledged"
    assert sara.post(f"/api/v1/patients/{pid}/alerts/{alert_id}/acknowledge",
                     json={}).status_code == 409
    assert worker.tick(t0 + timedelta(hours=1)).escalated == 0
    r = sara.post(f"/api/v1/patients/{pid}/alerts/{alert_id}/resolve", json={"note": ""})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "note"
    r = sara.post(f"/api/v1/patients/{pid}/alerts/{alert_id}/resolve",
                  json={"note": "Ringt, syrgas höjd, ny kontroll 14:00"})
    assert r.json()["status"] == "resolved"
    assert sara.get("/api/v1/alerts").json() == []
    # Open inboxes hear that it changed: the live feed carries its latest state.
    worker.tick(t0 + timedelta(hours=1, seconds=1))
    feed = sara.get("/alerts/stream?once=true").text
    assert '"status": "resolved"' in feed


def test_snooze_needs_a_reason_and_comes_back(world, database, as_user):
    pid = _admitted(world)
    t0 = utcnow()
    sara = as_user("sara")
    with frozen_clock(t0):
        alert_id = _send(sara, pid, "snz-0001", at=t0, **CRITICAL)["alert_id"]
    worker = Worker(database)
    worker.tick(t0)
    sara = as_user("sara")
    r = sara.post(f"/api/v1/patients/{pid}/alerts/{alert_id}/snooze", json={"minutes": 30})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "reason"
    r = sara.post(f"/api/v1/patients/{pid}/alerts/{alert_id}/snooze",
                  json={"reason": "Väntar på provsvar", "minutes": 5000})
    assert r.status_code == 422
    with frozen_clock(t0 + timedelta(seconds=10)):
        r = sara.post(f"/api/v1/patients/{pid}/alerts/{alert_id}/snooze",
                      json={"reason": "Väntar på provsvar", "minutes": 30})
        assert r.status_code == 200
    # Not escalated while snoozed, although the 5-minute step has passed.
    assert worker.tick(t0 + timedelta(minutes=20)).escalated == 0
    assert worker.tick(t0 + timedelta(minutes=31)).escalated == 1  # back, to the same people
    with database.session() as s:
        kinds = s.scalars(select(AlertEvent.kind).where(AlertEvent.kind.in_(
            ("snoozed", "snooze_over")))).all()
        assert sorted(kinds) == ["snooze_over", "snoozed"]
        alert = s.scalar(select(Alert))
        assert alert.escalation_level == 0 and alert.snoozed_until is None


def test_new_worrying_values_join_the_open_alert(world, database, as_user):
    pid = _admitted(world)
    sara = as_user("sara")
    first = _send(sara, pid, "join-0001", respiration_rate=8)  # a 3: low-medium
    second = _send(sara, pid, "join-0002", respiration_rate=8)
    assert first["alert_id"] == second["alert_id"]
    third = _send(sara, pid, "join-0003", **CRITICAL)
    assert third["alert_id"] == first["alert_id"]
    with database.session() as s:
        alert = s.scalar(select(Alert))
        # One line per problem, the latest: the NEWS2 of the third replaces the first two's.
        assert alert.severity == "critical"
        assert [(r["topic"], r["params"].get("total")) for r in alert.reasons] == \
            [("news2", 12)]
        assert s.scalar(select(func.count()).select_from(OutboxMessage)) == 2  # created, raised
    # Feeling worse is its own alert.
    worse = sara.post(f"/api/v1/patients/{pid}/observations", json={
        "client_id": "worse-0001", "measured_at": utcnow().isoformat(), "feeling_worse": True})
    assert worse.json()["alert_id"] not in (None, first["alert_id"])


def test_missed_measurements_raise_one_alert_per_window(world, database):
    pid = world.patient(unit="med")
    with database.session() as s:
        pathway = s.get(Pathway, world.pathways["opat"])
        pathway.schedule = ["08:00", "14:00", "20:00"]
        pathway.tolerance_minutes = 60
    world.episode(pid, state="admitted")  # admitted two days ago
    worker = Worker(database)
    # Checked at 23:30 Swedish time, whenever the test runs: the day's three windows have
    # all closed, and the 24 hours looked back over hold exactly those.
    today = utcnow().astimezone(STOCKHOLM).date()
    now = datetime.combine(today, time(23, 30), tzinfo=STOCKHOLM)
    first = worker.tick(now, check_missed=True)
    assert first.missed == 3  # the last 24 hours: three windows without values
    assert worker.tick(now + timedelta(seconds=30), check_missed=True).missed == 0
    with database.session() as s:
        alerts = s.scalars(select(Alert).where(Alert.kind == "missed")).all()
        assert len(alerts) == 3 and {a.severity for a in alerts} == {"medium"}
        assert len({a.dedupe_key for a in alerts}) == 3


def test_a_worker_killed_mid_delivery_loses_nothing_and_delivers_once(world, database, settings,
                                                                      as_user):
    pid = _admitted(world)
    _on_duty(world, database, "sara", "nurse")
    t0 = utcnow()
    alert_id = _send(as_user("olle"), pid, "kill-0001", at=t0, **CRITICAL)["alert_id"]
    # A real worker process claims the message and dies in the middle of delivering it,
    # after writing notifications and before its commit.
    script = textwrap.dedent(f"""
        import os
        from hemma.db import Database
        from hemma.jobs import outbox
        from hemma.jobs.worker import Worker

        original = outbox.HANDLERS["alert.notify"]
        def die_midway(session, message, now):
            original(session, message, now)
            session.flush()
            os._exit(9)
        outbox.HANDLERS["alert.notify"] = die_midway
        Worker(Database({settings.database_url!r}), name="doomed").tick()
    """)
    env = dict(os.environ, HEMMA_SECRET_KEY=os.environ["HEMMA_SECRET_KEY"])
    result = subprocess.run([sys.executable, "-c", script], env=env, timeout=60)
    assert result.returncode == 9
    assert _notified(database, alert_id) == []  # the half-done delivery rolled back
    with database.session() as s:
        message = s.scalar(select(OutboxMessage))
        assert message.claimed_by == "doomed" and message.delivered_at is None
        # When the dead worker's lease ends (read, not assumed: the process may have
        # started slowly on a busy machine).
        lease_end = message.claimed_until
    assert lease_end <= utcnow() + lease()
    # The restarted worker waits for the dead one's lease, then delivers, once.
    restarted = Worker(database, name="restarted")
    assert restarted.tick(lease_end - timedelta(seconds=1)).delivered == 0
    assert restarted.tick(lease_end + timedelta(seconds=5)).delivered == 1
    assert restarted.tick(lease_end + timedelta(seconds=10)).delivered == 0
    assert _notified(database, alert_id) == [(world.staff["sara"], "alert.created")]


def test_nobody_on_duty_still_reaches_someone(world, database, as_user):
    pid = _admitted(world)
    alert_id = _send(as_user("sara"), pid, "empty-0001", **CRITICAL)["alert_id"]
    Worker(database).tick()
    nurses = {world.staff["sara"]}  # the unit's nurses when no one is rostered
    assert {s for s, _k in _notified(database, alert_id)} == nurses


def test_patient_text_is_escaped_in_the_inbox_and_the_stream(world, database, as_user):
    pid = _admitted(world)
    evil = '<img src=x onerror="alert(1)"><script>alert(2)</script>'
    sara = as_user("sara")
    r = sara.post(f"/api/v1/patients/{pid}/observations", json={
        "client_id": "xss-000001", "measured_at": utcnow().isoformat(), "feeling_worse": True,
        "note": evil})
    assert r.status_code == 201
    Worker(database).tick()
    for page in (sara.get("/alerts").text, sara.get(f"/patients/{pid}/observations").text):
        assert "<script>alert(2)" not in page and "<img src=x" not in page
    events = sara.get("/alerts/stream?once=true")
    assert events.headers["content-type"].startswith("text/event-stream")
    data = [json.loads(line[len("data: "):]) for line in events.text.splitlines()
            if line.startswith("data: ")]
    assert [e["patient_id"] for e in data] == [str(pid)]  # data (JSON), not markup
    # The inbox builds its rows from that data as text, never as HTML.
    inbox_js = (Path(hemma.__file__).parent / "web" / "static" / "inbox.js").read_text()
    assert "innerHTML" not in inbox_js and "insertAdjacentHTML" not in inbox_js


def test_the_live_inbox_logs_who_was_shown_the_alert(world, database, as_user):
    pid = _admitted(world)
    sara = as_user("sara")
    r = sara.post(f"/api/v1/patients/{pid}/observations", json={
        "client_id": "live-00001", "measured_at": utcnow().isoformat(), "feeling_worse": True})
    assert r.status_code == 201
    Worker(database).tick()
    with database.session() as s:
        before = s.scalar(select(func.max(AuditEntry.id)))
    assert str(pid) in sara.get("/alerts/stream?once=true").text
    with database.session() as s:
        shown = s.scalars(select(AuditEntry).where(AuditEntry.id > before,
                                                   AuditEntry.action == "alert.live")).all()
    assert [(e.patient_id, e.username, e.organisation_id, e.user_id) for e in shown] == [
        (pid, "sara", world.orgs["region"], world.staff["sara"])]


def test_merged_reasons_keep_one_line_per_topic_newest_first():
    from hemma.monitoring.alerts import MAX_REASONS, merge_reasons

    old = [{"message": "NEWS2 %(total)s (%(band)s)", "params": {"total": 5}, "topic": "news2"},
           {"message": "%(parameter)s %(value)s", "params": {"value": "38.6"},
            "topic": "rule:fever"},
           {"message": "stored before topics existed", "params": {}}]
    new = [{"message": "NEWS2 %(total)s (%(band)s)", "params": {"total": 7}, "topic": "news2"}]
    merged = merge_reasons(old, new)
    assert [(r.get("topic"), r["params"].get("total")) for r in merged] == \
        [("news2", 7), ("rule:fever", None), (None, None)]
    many = [{"message": f"m{k}", "params": {}, "topic": f"t{k}"} for k in range(20)]
    assert len(merge_reasons(many, new)) == MAX_REASONS


def test_a_batch_joins_open_alerts_like_single_submissions_do(world, database, as_user):
    """Worrying values in one batch: per patient one alert, joined by the later values and
    by an alert that was already open; nobody paged twice for the same deterioration."""
    ann, bo = _admitted(world), _admitted(world)
    sara = as_user("sara")
    before = _send(sara, ann, "open-0001", respiration_rate=8)
    now = utcnow()
    items = [{"patient_id": str(pid), "client_id": f"gw-{k:06d}",
              "measured_at": (now - timedelta(minutes=10 - k)).isoformat(), **values}
             for k, (pid, values) in enumerate([
                 (ann, {"respiration_rate": 8}), (bo, {"respiration_rate": 8}),
                 (ann, CRITICAL), (bo, {"pulse": 60})])]
    r = sara.post("/api/v1/observations/batch", json={"observations": items})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out[0]["alert_id"] == out[2]["alert_id"] == before["alert_id"]
    # Bo's pulse is fine, but scored with his breathing of minutes before it still worries.
    assert out[1]["alert_id"] not in (None, before["alert_id"])
    assert out[3]["alert_id"] == out[1]["alert_id"]
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(Alert)) == 2
        joined = s.get(Alert, uuid.UUID(before["alert_id"]))
        assert joined.severity == "critical"
        kinds = s.scalars(select(AlertEvent.kind).where(AlertEvent.alert_id == joined.id)
                          .order_by(AlertEvent.id)).all()
        assert kinds == ["created", "retriggered", "retriggered", "severity_raised"]


# --- What an alert says -------------------------------------------------------------------

NEWS2_5 = dict(respiration_rate=22, spo2=95, on_oxygen=False, temperature=38.5, systolic_bp=120,
               pulse=95, consciousness="A")  # 2+1+0+1+0+1+0: NEWS2 5, medium risk


def test_values_joining_an_open_alert_show_its_newest_time_and_keep_its_highest_priority(
        world, database, as_user):
    ann, bo, cy = _admitted(world), _admitted(world), _admitted(world)
    t0 = utcnow()
    sent = {}
    for pid, hours in ((ann, 3), (bo, 2), (cy, 1)):
        at = t0 - timedelta(hours=hours)
        with frozen_clock(at):
            sent[pid] = _send(as_user("sara"), pid, f"old-{hours:04d}", at=at,
                              **CRITICAL)["alert_id"]
    # Ann's breathing alone, five minutes ago: milder (a 3: low-medium risk), and new.
    joined = _send(as_user("sara"), ann, "new-0001", at=t0 - timedelta(minutes=5),
                   respiration_rate=8)
    assert joined["alert_id"] == sent[ann]
    sara = as_user("sara")
    inbox = sara.get("/api/v1/alerts").json()
    # The same priority for all three: the newest values first.
    assert [a["id"] for a in inbox] == [sent[ann], sent[cy], sent[bo]]
    first = inbox[0]
    assert first["severity"] == "critical"  # the highest of its values, not the newest
    assert abs(datetime.fromisoformat(first["latest_value_at"])
               - (t0 - timedelta(minutes=5))) < timedelta(seconds=1)
    # What the priority rests on comes first, and each reason says when.
    at_3h = format_local(t0 - timedelta(hours=3), "%H:%M")
    at_5m = format_local(t0 - timedelta(minutes=5), "%H:%M")
    assert first["reasons"] == [f"NEWS2 12 (hög risk) · {at_3h}",
                                f"NEWS2 minst 3 (låg–medelrisk, ofullständig) · {at_5m}"]
    row = sara.get("/alerts").text.split(f'data-alert="{sent[ann]}"')[1].split("</tr>")[0]
    assert format_local(t0 - timedelta(minutes=5), "%d/%m %H:%M") in row
    assert "Prioritet: kritisk" in row and "NEWS2 12 (hög risk)" in row


def test_the_priority_badge_and_the_news2_risk_say_different_things_in_different_words(
        world, database, as_user):
    pid = _admitted(world)
    alert_id = _send(as_user("sara"), pid, "five-0001", **NEWS2_5)["alert_id"]
    with database.session() as s:
        assert s.get(Alert, uuid.UUID(alert_id)).severity == "high"
    pages = {"inbox": as_user("sara").get("/alerts").text,
             "overview": as_user("sara").get(f"/patients/{pid}").text,
             "round": as_user("lisa").get(f"/patients/{pid}/round").text}
    for name, page in pages.items():
        assert ">Prioritet: hög<" in page, name
        assert "NEWS2 5 (medelrisk)" in page, name
        assert ">Hög<" not in page and "(medel)" not in page, name
    assert "Prioriteten säger hur snabbt larmet ska besvaras" in pages["inbox"]


def test_discharge_and_return_to_hospital_close_the_episodes_open_alerts(world, database,
                                                                         as_user):
    home, hospital = _admitted(world), _admitted(world)
    open_alert = world.alert(home)
    acknowledged = world.alert(home, status="acknowledged")
    returned_alert = world.alert(hospital)
    sara = as_user("sara")
    with database.session() as s:
        episodes = {pid: s.scalar(select(Episode.id).where(Episode.patient_id == pid))
                    for pid in (home, hospital)}
    # Seen before confirming.
    form = sara.get(f"/patients/{home}/episodes/{episodes[home]}/discharge").text
    assert "2 öppna larm avslutas" in form and "NEWS2 7 (hög risk)" in form
    form = sara.get(f"/patients/{hospital}/episodes/{episodes[hospital]}/return").text
    assert "1 öppet larm avslutas" in form and "mottagande avdelningen" in form
    r = sara.post(f"/patients/{home}/episodes/{episodes[home]}/discharge",
                  data={"outcome": "completed", "note": "Feberfri, klar."},
                  follow_redirects=False)
    assert r.status_code == 303
    r = sara.post(f"/api/v1/patients/{hospital}/episodes/{episodes[hospital]}/return",
                  json={"note": "Sämre, åter till avdelning 7.", "reason": "deterioration"})
    assert r.status_code == 200, r.text
    with database.session() as s:
        closed = {a.id: a for a in s.scalars(select(Alert))}
        assert {(closed[a].status, closed[a].resolved_reason, closed[a].resolved_by_id)
                for a in (open_alert, acknowledged)} == {
            ("resolved", "episode_discharged", world.staff["sara"])}
        assert closed[returned_alert].resolved_reason == "episode_returned"
        # The alert's history says why.
        assert s.scalars(select(AlertEvent.detail).where(
            AlertEvent.alert_id == open_alert, AlertEvent.kind == "resolved")).all() == [
            "episode_discharged"]
    # Nothing left to escalate to a team that no longer has the patient at home.
    assert Worker(database).tick(utcnow() + timedelta(hours=5)).escalated == 0
    assert sara.get("/api/v1/alerts").json() == []


def test_an_alert_reaches_the_responsible_unit_without_showing_values_it_may_not_read(
        world, database, as_user):
    """Kim, the municipality's nurse, measures a fever at a visit to the region's home-ward
    patient, who has not consented to the region reading the municipality's notes."""
    pid = _admitted(world)
    world.relation(pid, unit="hsv", documented_by="med")
    with database.session() as s:
        s.get(Pathway, world.pathways["opat"]).rules = [
            {"key": "fever", "parameter": "temperature", "op": ">=", "value": 38.5,
             "severity": "high"}]
    alert_id = _send(as_user("kim"), pid, "visit-0001", temperature=39.4)["alert_id"]
    assert alert_id is not None

    def seen_by_sara() -> dict[str, str]:
        sara = as_user("sara")
        return {"inbox": sara.get("/alerts").text,
                "api": sara.get("/api/v1/alerts").text,
                "overview": sara.get(f"/patients/{pid}").text,
                "stream": " ".join(  # the live inbox's events, as the page reads them
                    json.dumps(json.loads(line[6:]), ensure_ascii=False) for line in
                    sara.get("/alerts/stream?once=true").text.splitlines()
                    if line.startswith("data: "))}

    # Safety first: the region's nurse gets the alert, with its priority, but not the value.
    for name, page in seen_by_sara().items():
        assert alert_id in page or name in ("overview",), name
        assert "39.4" not in page and "39,4" not in page, name
        assert "Värde från en annan organisation" in page, name
    # With the patient's consent, she reads it.
    world.consent(pid, "region")
    assert "Temperatur 39,4\u00a0°C" in seen_by_sara()["inbox"]
    # A block on the municipality's unit hides it again, saying so.
    world.block(pid, "hsv")
    page = seen_by_sara()["inbox"]
    assert "39.4" not in page and "39,4" not in page and "spärrade för dig" in page
