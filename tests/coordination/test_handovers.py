"""Hand-overs (SBAR): written to a unit of the care team, confirmed as received by someone
of that unit with name and time, unread ones on the receiving unit's board and menu."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from hemma.access.service import decisions_for, subject_for
from hemma.handovers import service
from hemma.handovers.schemas import HandoverCreate
from hemma.kit.errors import Forbidden, NotFound
from hemma.models import AuditEntry, Handover, Staff

SBAR = {"situation": "Andfådd i kväll", "background": "Hjärtsvikt",
        "assessment": "Stabil i vila", "recommendation": "Väg i morgon"}


def _subject(s, world, who):
    return subject_for(s, s.get(Staff, world.staff[who]))


def _shared(world, *, consent=True):
    pid = world.patient(unit="med")
    world.episode(pid)
    world.relation(pid, unit="hsv")
    if consent:
        world.consent(pid, "kommun")
        world.consent(pid, "region")
    return pid


def test_the_evening_report_is_sent_and_confirmed(world, database, as_user):
    pid = _shared(world)
    sara = as_user("sara")
    r = sara.post(f"/patients/{pid}/handovers", data={
        **SBAR, "situation": "<b>Andfådd</b>", "to_unit_id": world.units["hsv"],
        "csrf_token": world.csrf[id(sara)]}, follow_redirects=False)
    assert r.status_code == 303, r.text
    kim = as_user("kim")
    board = kim.get("/board")
    assert board.status_code == 200 and "&lt;b&gt;Andfådd&lt;/b&gt;" in board.text
    assert "<b>Andfådd</b>" not in board.text
    with database.session() as s:
        h = s.scalar(select(Handover).where(Handover.patient_id == pid))
    # Not the sender's to confirm.
    assert sara.post(f"/api/v1/patients/{pid}/handovers/{h.id}/receive").status_code == 403
    r = kim.post(f"/api/v1/patients/{pid}/handovers/{h.id}/receive")
    assert r.status_code == 200 and r.json()["received_by"] == "Kim Kommunsköterska"
    assert kim.post(f"/api/v1/patients/{pid}/handovers/{h.id}/receive").status_code == 409
    page = sara.get(f"/patients/{pid}/handovers")
    assert "Kim Kommunsköterska" in page.text
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "handover.receive", AuditEntry.outcome == "allowed")) == 1


@pytest.mark.parametrize("field", ["situation", "background", "assessment", "recommendation"])
def test_every_part_of_sbar_is_needed(world, database, as_user, field):
    pid = _shared(world)
    sara = as_user("sara")
    r = sara.post(f"/api/v1/patients/{pid}/handovers",
                  json={**SBAR, field: " ", "to_unit_id": world.units["hsv"]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == field
    r = sara.post(f"/api/v1/patients/{pid}/handovers",
                  json={**SBAR, "to_unit_id": world.units["hc"]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "to_unit_id"
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(Handover)) == 0


def test_consent_and_the_receiving_unit(world, database):
    pid = _shared(world, consent=False)
    with database.session() as s:
        sara = _subject(s, world, "sara")
        to_kommun = service.write(s, sara, pid, HandoverCreate(
            **SBAR, to_unit_id=world.units["hsv"])).id
        own = service.write(s, sara, pid, HandoverCreate(
            **SBAR, to_unit_id=world.units["med"])).id
    with database.session() as s:
        kim = _subject(s, world, "kim")
        d = decisions_for(s, kim, [pid])[pid]
        views, hidden = service.patient_handovers(s, d, pid)
        assert [v.handover.id for v in views] == [to_kommun] and hidden == 1
        assert [v.handover.id for v in service.unread(s, kim, [world.units["hsv"]])] == [to_kommun]
        with pytest.raises(NotFound):
            service.receive(s, kim, pid, own)
    with database.session() as s:
        pia = _subject(s, world, "pia")  # a physiotherapist of the receiving unit confirms
        service.receive(s, pia, pid, to_kommun)
    with database.session() as s:
        lisa = _subject(s, world, "lisa")
        with pytest.raises(Forbidden):
            service.receive(s, lisa, pid, to_kommun)
