"""The board's stream answers with the board's sections (as the user may see them)."""

from __future__ import annotations

import json
import re

import httpx


def test_the_stream_sends_the_sections(world, as_user):
    pid = world.patient(unit="hsv", family="Strömsson")
    world.episode(pid, unit="hsv")
    kim = as_user("kim")
    r = kim.get("/board/stream?once=true")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = [block for block in r.text.split("\n\n") if block.startswith("event: board")]
    assert len(events) == 1, r.text[:500]
    data = json.loads(events[0].split("data: ", 1)[1])
    assert "Strömsson" in data["html"] and data["counts"]["patients"] == 1


def test_a_page_load_shows_the_open_boards_latest_look_and_logs_it(settings, world,
                                                                     database):
    """With the same board open in the process (a group of the stream), loading the page
    shows that group's latest look, with the page's own form token, instead of reading
    and rendering the board again; the patients on it are logged as shown to the user.
    Proof that it is the group's look: a patient added without a wake-up is not on the
    page until the group looks again."""
    from sqlalchemy import select

    from hemma.access.auth import start_session
    from hemma.app import create_app
    from hemma.models import AuditEntry, Staff
    from hemma.web.deps import SESSION_COOKIE
    from tests.live import Stream, serving

    pid = world.patient(unit="med", family="Strömsson")
    world.episode(pid, unit="med", state="admitted")
    with database.session() as s:
        cookie = start_session(s, s.get(Staff, world.staff["sara"]), "password",
                               client_addr="127.0.0.1", user_agent="test")
    with serving(create_app(settings, database)) as base:
        stream = Stream(f"{base}/board/stream", {SESSION_COOKIE: cookie})
        try:
            while (event := stream.next())[0] != "board":
                assert event[0] not in ("end", "error"), event
            html = event[1]["html"]
            assert "Strömsson" in html
            later = world.patient(unit="med", family="Efterberg")  # no wake-up: not looked at
            world.episode(later, unit="med", state="admitted")
            page = httpx.get(f"{base}/board", cookies={SESSION_COOKIE: cookie}, timeout=30)
        finally:
            stream.close()
    assert page.status_code == 200
    assert "Strömsson" in page.text and "Efterberg" not in page.text
    token = re.search(r'data-csrf="([^"]+)"', page.text).group(1)
    assert html.replace("__csrf__", token) in page.text
    with database.session() as s:
        logged = s.scalars(select(AuditEntry.patient_id).where(
            AuditEntry.action == "board.view", AuditEntry.user_id == world.staff["sara"])).all()
    assert pid in logged
