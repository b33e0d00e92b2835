"""The board's stream answers with the board's sections (as the user may see them)."""

from __future__ import annotations

import json


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
