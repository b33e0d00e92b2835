"""Follow-up tests' shared data: April 2026 at Medicinkliniken, worked out by hand."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import update

from hemma.kit.time import from_local
from hemma.models import Alert, Episode


def t(text: str) -> datetime:
    return from_local(datetime.fromisoformat(text))


@pytest.fixture
def april(world, database):
    """A's 6 nights (5 in March), B's return after 3 nights, C a readmission of A that ends in
    an expected death after 9 nights; two acknowledged alerts (40 and 10 minutes)."""
    p1, p2 = world.patient(name="Aina"), world.patient(name="Bo")
    a = world.episode(p1, state="discharged")
    b = world.episode(p2, state="returned")
    c = world.episode(p1, state="discharged")
    dates = {
        a: ("2026-03-26T15:00", "2026-03-27T10:00", "2026-04-02T14:00", "completed", False),
        b: ("2026-04-05T08:00", "2026-04-05T09:00", "2026-04-08T11:00", "deterioration", True),
        c: ("2026-04-20T09:00", "2026-04-21T09:00", "2026-04-30T20:00", "death_expected", False),
    }
    with database.session() as s:
        for eid, (assessed, admitted, ended, reason, override) in dates.items():
            s.execute(update(Episode).where(Episode.id == eid).values(
                assessed_at=t(assessed), admitted_at=t(admitted), ended_at=t(ended),
                end_reason=reason, criteria_override=override, bed_number=None))
        for created, acked in (("2026-03-29T01:30", "2026-03-29T03:10"),
                               ("2026-04-06T08:00", "2026-04-06T08:10")):
            s.add(Alert(patient_id=p1, episode_id=a, unit_id=world.units["med"], kind="vitals",
                        severity="high", status="acknowledged", dedupe_key=created,
                        created_at=t(created), acknowledged_at=t(acked),
                        acknowledged_by_id=world.staff["sara"]))
    return {"a": a, "b": b, "c": c, "patients": (p1, p2)}


