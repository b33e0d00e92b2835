"""The coordination board: what it shows of whom, as the user may see it, and that an open
board gets the change over server-sent events without a reload."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from hemma.access.service import subject_for
from hemma.board import service
from hemma.kit.time import utcnow
from hemma.models import AuditEntry, Staff
from hemma.tasks import service as tasks
from hemma.tasks.schemas import TaskCreate


def _subject(s, world, who):
    return subject_for(s, s.get(Staff, world.staff[who]))


def test_the_board_shows_the_units_patients_as_the_user_may_see_them(world, database, as_user):
    shared = world.patient(unit="med", family="Delad")
    world.episode(shared)
    world.relation(shared, unit="hsv")
    secret = world.patient(unit="med", family="Utansamtycke")
    world.episode(secret)
    world.relation(secret, unit="hsv")
    world.consent(shared, "kommun")
    elsewhere = world.patient(unit="hc", family="Annanstans")
    world.episode(elsewhere, unit="hc")
    with database.session() as s:
        tasks.add_task(s, _subject(s, world, "sara"), shared, TaskCreate(
            title="Prover", unit_id=world.units["hsv"], due_at=utcnow() + timedelta(hours=1)))
    with database.session() as s:
        kim = _subject(s, world, "kim")
        b = service.board(s, kim, service.scope_of(s, kim, None))
        by_name = {x.patient.family_name: x for x in b.patients}
        assert set(by_name) == {"Delad", "Utansamtycke"}
        assert by_name["Delad"].view.visible and not by_name["Utansamtycke"].view.visible
        assert [t.task.title for t in b.tasks] == ["Prover"]
        # A board of a unit the user is not in lists only patients they may read.
        hc = next(x for x in service.scopes(s, kim) if x.kind == "organisation")
        assert hc.id == world.orgs["kommun"]
    kim = as_user("kim")
    with database.session() as s:
        before = s.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "board.view", AuditEntry.patient_id == shared))
    page = kim.get("/board")
    assert page.status_code == 200 and "Delad" in page.text and "Annanstans" not in page.text
    assert kim.get("/board?scope=unit:999999").status_code == 404
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "board.view", AuditEntry.patient_id == shared)) == before + 1
