"""Single observations recorded together (group commit): in one transaction, each submission
still gets its own answer, its own access decision and its own audit entry with its own
caller; a refused, unauthenticated or invalid one changes nothing for the others."""

from __future__ import annotations

import json
import threading
from concurrent.futures import Future

from sqlalchemy import func, select

from hemma.access.audit import verify
from hemma.access.auth import Caller, create_api_token
from hemma.kit.errors import Invalid, NotFound, Unauthenticated
from hemma.kit.time import utcnow
from hemma.models import AuditEntry, Observation, Staff
from hemma.monitoring.ingest import _Item, record_batch
from hemma.monitoring.schemas import ObservationRead


def _admitted(world, unit="med"):
    pid = world.patient(unit=unit)
    world.episode(pid, state="admitted")
    return pid


def _token(database, world, username):
    with database.session() as s:
        return create_api_token(s, s.get(Staff, world.staff[username]), "test")


def _body(client_id, **values):
    return json.dumps({"client_id": client_id, "measured_at": utcnow().isoformat(),
                       **values}).encode()


def test_one_transaction_many_callers_each_its_own_answer_and_log_entry(world, database):
    mine, other = _admitted(world), _admitted(world, unit="hsv")
    sara, olle = _token(database, world, "sara"), _token(database, world, "olle")

    def item(token, pid, body):
        return _Item(Caller(token, None, None, "10.0.0.7"), pid, body, Future())

    batch = [
        item(sara, mine, _body("sara-0001", pulse=80)),
        item(olle, mine, _body("olle-0001", pulse=85, spo2=96)),
        item(sara, other, _body("sara-0002", pulse=90)),  # not Medicinkliniken's patient
        item("hemma_nonsense", mine, _body("nobody-01", pulse=70)),
        item(sara, mine, _body("sara-0003", spo2=300)),  # impossible
        item(sara, mine, b"{not json"),
        item(olle, mine, _body("sara-0001", pulse=80)),  # the same client id again
    ]
    with database.session() as s:
        before = s.scalar(select(func.max(AuditEntry.id))) or 0
    with database.session() as s:
        outcomes = record_batch(s, batch)
    ok, olle_ok, refused, anonymous, impossible, garbage, again = outcomes
    assert isinstance(ok, ObservationRead) and not ok.duplicate and ok.performer == "staff"
    assert isinstance(olle_ok, ObservationRead) and olle_ok.values["spo2"] == 96
    assert isinstance(refused, NotFound)
    assert isinstance(anonymous, Unauthenticated)
    assert isinstance(impossible, Invalid) and impossible.errors[0].field == "spo2"
    assert isinstance(garbage, Invalid)
    assert isinstance(again, ObservationRead) and again.duplicate and again.id == ok.id
    with database.session() as s:
        stored = s.scalars(select(Observation.client_id)).all()
        entries = s.scalars(select(AuditEntry).where(AuditEntry.id > before)
                            .order_by(AuditEntry.id)).all()
        assert verify(s).ok
    assert sorted(stored) == ["olle-0001", "sara-0001"]
    logged = [(e.username, e.patient_id, e.outcome, e.client_addr) for e in entries]
    assert logged == [
        ("sara", mine, "allowed", "10.0.0.7"), ("olle", mine, "allowed", "10.0.0.7"),
        ("sara", other, "denied", "10.0.0.7"), ("olle", mine, "allowed", "10.0.0.7")]


def test_many_at_once_over_http(world, database, as_user):
    """Twenty nurses' submissions at the same moment, one of them for a patient she may not
    record for: nineteen rows, one 404, one log entry each."""
    pids = [_admitted(world) for _ in range(19)] + [_admitted(world, unit="hsv")]
    clients = [as_user("sara") for _ in pids]
    barrier = threading.Barrier(len(clients))
    statuses = {}

    def send(i, client, pid):
        barrier.wait()
        r = client.post(f"/api/v1/patients/{pid}/observations",
                        json={"client_id": f"at-once-{i:03d}", "measured_at":
                              utcnow().isoformat(), "pulse": 70 + i})
        statuses[i] = r.status_code

    threads = [threading.Thread(target=send, args=(i, c, p))
               for i, (c, p) in enumerate(zip(clients, pids, strict=True))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [statuses[i] for i in range(20)] == [201] * 19 + [404]
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(Observation)) == 19
        logged = s.scalars(select(AuditEntry.patient_id).where(
            AuditEntry.action == "observation.record", AuditEntry.outcome == "allowed")).all()
        assert sorted(map(str, logged)) == sorted(map(str, pids[:19]))
        assert verify(s).ok


def test_a_caller_who_goes_away_does_not_stop_the_others(world, database):
    """A request cancelled while its submission waits (the client hung up): the submission is
    still recorded, and the ingest thread goes on answering the next ones."""
    import asyncio

    from hemma.monitoring.ingest import Ingest

    pid = _admitted(world)
    token = _token(database, world, "sara")
    ingest = Ingest(database)

    async def scenario():
        gone = asyncio.ensure_future(ingest.submit(Caller(token, None, None, None), pid,
                                                   _body("gone-0001", pulse=70)))
        await asyncio.sleep(0)
        gone.cancel()
        await asyncio.sleep(0.2)
        return await ingest.submit(Caller(token, None, None, None), pid,
                                   _body("next-0001", pulse=71))

    try:
        answer = asyncio.run(scenario())
    finally:
        ingest.stop()
    assert isinstance(answer, ObservationRead) and answer.client_id == "next-0001"
    with database.session() as s:
        assert sorted(s.scalars(select(Observation.client_id))) == ["gone-0001", "next-0001"]


def test_an_answer_nobody_waits_for_is_dropped_and_the_rest_still_answered(world, database):
    """Deterministically: the first submission's request was cancelled before its batch ran.
    It is recorded, and the next one in the same batch still gets its answer."""
    from hemma.monitoring.ingest import Ingest

    pid = _admitted(world)
    token = _token(database, world, "sara")
    gone, waiting = Future(), Future()
    gone.cancel()
    Ingest(database)._process([
        _Item(Caller(token, None, None, None), pid, _body("gone-0002", pulse=70), gone),
        _Item(Caller(token, None, None, None), pid, _body("next-0002", pulse=71), waiting)])
    assert waiting.result(timeout=0).client_id == "next-0002"
    with database.session() as s:
        assert sorted(s.scalars(select(Observation.client_id))) == ["gone-0002", "next-0002"]


def test_every_submission_is_answered_when_recording_fails(world, database, tmp_path):
    """The database cannot be reached (here: a SQLite file in a folder that does not exist):
    the shared transaction fails, and so does each submission alone. Each request still gets
    an answer, a 503 that says to send again, and the thread lives on."""
    import asyncio

    from hemma.db import Database
    from hemma.kit.errors import Unavailable
    from hemma.monitoring.ingest import Ingest

    pid = _admitted(world)
    token = _token(database, world, "sara")
    gone = Database(f"sqlite:///{tmp_path / 'no-such-folder' / 'hemma.sqlite3'}")
    ingest = Ingest(gone, timeout=30)

    async def scenario():
        return await asyncio.gather(*(
            ingest.submit(Caller(token, None, None, None), pid, _body(f"down-{i:04d}", pulse=70))
            for i in range(3)), return_exceptions=True)

    try:
        answers = asyncio.run(scenario())
        assert all(isinstance(a, Unavailable) and a.status_code == 503 for a in answers), answers
        assert "client_id" in answers[0].message
        assert ingest._thread.is_alive()
    finally:
        ingest.stop()
        gone.dispose()


def test_an_answer_that_takes_too_long_is_a_503(world, database, app, as_user):
    """Other transactions hold every line of the region's audit chain (on SQLite, the write
    lock) longer than the ingest timeout: the request gets a 503 saying to send again. Once
    the locks are released the submission is recorded, and a resend with the same client id
    finds it."""
    from sqlalchemy import text

    from hemma.access import audit
    from hemma.models import AuditHead

    pid = _admitted(world)
    sara = as_user("sara")
    assert sara.get(f"/patients/{pid}").status_code == 200  # the region's chain is there
    with database.session() as s:  # all its lines made, as after a busy morning
        region = world.orgs["region"]
        made = set(s.scalars(select(AuditHead.chain_key)))
        for line in range(audit.LINES):
            if audit.chain_key("entries", region, line) not in made:
                s.add(AuditHead(chain_key=audit.chain_key("entries", region, line),
                                kind="entries", organisation_id=region, digest_version=2,
                                closed=False, first_seq=1, first_prev_hash=audit.GENESIS,
                                last_seq=0, last_hash=audit.GENESIS))
    app.state.ingest.timeout = 0.5
    body = {"client_id": "slow-00001", "measured_at": utcnow().isoformat(), "pulse": 72}
    with database.engine.connect() as blocker:
        if database.engine.dialect.name == "postgresql":
            blocker.execute(select(AuditHead).with_for_update())
        else:
            blocker.execute(text("UPDATE audit_head SET last_seq = last_seq"))
        r = sara.post(f"/api/v1/patients/{pid}/observations", json=body)
        assert r.status_code == 503 and r.headers["retry-after"]
        assert "client_id" in r.json()["detail"]
        blocker.rollback()
    app.state.ingest.timeout = 30
    again = sara.post(f"/api/v1/patients/{pid}/observations", json=body)
    assert again.status_code == 201
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(Observation)) == 1
