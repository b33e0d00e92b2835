"""Waking open pages: within a process, and across processes on PostgreSQL."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from hemma.coordination import live


def test_the_broadcaster_wakes_a_waiting_stream_from_another_thread():
    async def scenario():
        waiter = asyncio.create_task(live.broadcaster.wait(5))
        await asyncio.sleep(0.05)
        threading.Thread(target=live.broadcaster.notify).start()
        return await waiter

    assert asyncio.run(scenario()) is True  # woken, not timed out
    # And a wait with nothing to wake it times out (a stream then looks again anyway).
    assert asyncio.run(live.broadcaster.wait(0.05)) is False


def test_another_process_commit_wakes_this_one(database):
    if database.engine.dialect.name != "postgresql":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's; SQLite deployments run one process")
    woke = threading.Event()
    listener = live.PostgresListener(database.url, {live.CHANNEL: woke.set})
    listener.start()
    try:
        time.sleep(0.5)  # let it LISTEN
        with database.session() as s:
            live.announce(s)
            assert not woke.wait(0.3)  # nothing before the commit
        assert woke.wait(5)
    finally:
        listener.stop()


def test_closing_wakes_every_open_stream_and_keeps_them_awake():
    """The process is stopping (SIGTERM): every waiting stream wakes and sees `closing`,
    and no later wait blocks, so each stream ends instead of holding the server up."""
    b = live.Broadcaster()

    async def scenario():
        subscription = b.subscribe()
        waiting = [asyncio.create_task(b.wait(60)), asyncio.create_task(subscription.wait(60))]
        await asyncio.sleep(0.05)
        threading.Thread(target=b.close).start()
        woke = await asyncio.gather(*waiting)
        subscription.clear()
        later = await asyncio.gather(b.wait(60), subscription.wait(60))
        subscription.close()
        return woke, later

    assert asyncio.run(asyncio.wait_for(scenario(), 30)) == ([True, True], [True, True])
    assert b.closing and not live.broadcaster.closing  # the process's own is untouched


def test_a_visit_change_is_counted_on_commit_only(database):
    before = live.visit_changes.count
    with database.session() as s:
        live.announce(s)  # not about visits
    assert live.visit_changes.count == before
    try:
        with database.session() as s:
            live.announce(s, visits=True)
            raise RuntimeError("rolled back")
    except RuntimeError:
        pass
    assert live.visit_changes.count == before
    with database.session() as s:
        live.announce(s, visits=True)
    assert live.visit_changes.count == before + 1


def test_the_apps_listener_hears_another_process_change_visits(settings, database):
    """Another process's visit change reaches this one's count through its listener (the
    patient's open day reads again on it)."""
    if database.engine.dialect.name != "postgresql":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's; SQLite deployments run one process")
    import psycopg
    from fastapi.testclient import TestClient
    from sqlalchemy.engine import make_url

    from hemma.app import create_app

    dsn = make_url(database.url).set(drivername="postgresql").render_as_string(
        hide_password=False)
    with TestClient(create_app(settings, database, background=True)):
        before = live.visit_changes.count
        deadline = time.monotonic() + 10
        while live.visit_changes.count == before and time.monotonic() < deadline:
            # As another process's commit does (no session of this one's involved); again
            # until the listener has started listening.
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute("SELECT pg_notify(%s, '')", (live.VISITS_CHANNEL,))
            time.sleep(0.2)
        assert live.visit_changes.count > before
