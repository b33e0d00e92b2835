"""Once the unit's care relationship with a patient has ended, the planning day and the
staff member's route show that patient's visit as a visit only: a time, a length, what kind —
not who, where, how to call them, or what the notes say. Through every way the day is read:
the day page, its map, its JSON, and the route on the phone, page and JSON."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from hemma.kit.time import at_local, frozen_clock, local_today, utcnow
from hemma.models import CareRelation, Patient, Visit
from tests.planning.test_day import Day


@pytest.fixture
def clock():
    with frozen_clock(at_local(local_today(), "07:00")) as advance:
        yield advance


SECRETS = ("Tolvan", "Tolvansson", "Hemliga vägen 7", "0950-99 88 77", "Nyckel under mattan",
           "64.6045", "18.6512")


def _secrets(patient_id) -> tuple[str, ...]:
    return (*SECRETS, str(patient_id))


def test_a_former_patient_is_a_visit_only_on_the_day_and_the_route(world, database, as_user,
                                                                  clock):
    d = Day(world, database, local_today())
    former = d.patients[1]
    with database.session() as s:
        p = s.get(Patient, former)
        p.given_name, p.family_name, p.street, p.phone = SECRETS[:4]
    visits = [d.visit(i, "08:00", "15:00", minutes=30) for i in range(6)]
    hidden_visit = visits[1]
    with database.session() as s:
        s.get(Visit, hidden_visit).notes = "Nyckel under mattan"
    kim = as_user("kim")
    kim.post(f"/api/v1/planning/{d.day.isoformat()}/solve")
    before = kim.get(f"/api/v1/planning/{d.day.isoformat()}").text
    assert "Tolvansson" in before and str(former) in before  # while the relationship holds
    # Hemsjukvården's care relationship with the patient ends (the care request ran out).
    with database.session() as s:
        s.execute(update(CareRelation).where(CareRelation.patient_id == former)
                  .values(ends_at=utcnow()))

    plan = kim.get(f"/api/v1/planning/{d.day.isoformat()}")
    assert plan.status_code == 200
    for secret in _secrets(former):
        assert secret not in plan.text, secret
    stop = next(s for r in plan.json()["routes"] for s in r["stops"]
                if s["visit_id"] == str(hidden_visit))
    assert stop["patient_id"] is None and stop["notes"] is None and stop["phone"] is None
    assert (stop["patient_name"], stop["address"], stop["latitude"]) == ("–", "", None)
    assert stop["kind"] == "wound_care"  # still a visit in someone's day
    page = kim.get(f"/planning?day={d.day.isoformat()}")
    assert page.status_code == 200 and f'data-visit="{hidden_visit}"' in page.text
    for secret in _secrets(former):
        assert secret not in page.text, secret
    svg = kim.get(f"/planning/routes.svg?day={d.day.isoformat()}")
    assert svg.status_code == 200
    # The route of whoever makes the visit, on the phone.
    rows = d.assignments()
    who = {shift: name for name, shift in d.shifts.items()}[rows[(hidden_visit, 0)].shift_id]
    nurse = as_user(who)
    for path in ("/my-route", "/api/v1/my-route"):
        r = nurse.get(path)
        assert r.status_code == 200 and str(hidden_visit) in r.text, path
        for secret in _secrets(former):
            assert secret not in r.text, (path, secret)
    # Another patient, still theirs, is shown in full.
    assert "Storgatan 1" in kim.get(f"/api/v1/planning/{d.day.isoformat()}").text
