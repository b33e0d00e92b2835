"""The things that must be in the home before the patient (the road home's checklist) are
FHIR Tasks beside the team's tasks: found with the patient's tasks, read, and ticked done
with PUT and If-Match through the logistics' own action; never taken back through FHIR."""

from __future__ import annotations

from sqlalchemy import select

from hemma.models import ChecklistItem
from tests.fhir.validate import assert_r4, fhir_client
from tests.logistics.test_checklist import _patient

FHIR = {"Content-Type": "application/fhir+json"}


def test_a_checklist_item_is_a_task_ticked_through_fhir(app, world, database, as_user):
    pid, eid = _patient(world)
    sara = as_user("sara")
    r = sara.post(f"/api/v1/patients/{pid}/episodes/{eid}/checklist/items",
                  json={"category": "aids", "what": "Säng med höj- och sänkbar rygg",
                        "provider_unit_id": world.units["hsv"],
                        "deliverer": "Hjälpmedelscentralen",
                        "due_at": "2031-03-10T10:00:00+01:00"})
    assert r.status_code == 201, r.text
    item_id = r.json()["items"][0]["id"]
    kim = fhir_client(app, database, world, "kim")  # the providing unit
    found = kim.get("/fhir/Task", params={"patient": pid}).json()
    assert_r4(found)
    (task,) = [e["resource"] for e in found["entry"] if e["resource"]["id"] == item_id]
    assert task["description"] == "Säng med höj- och sänkbar rygg"
    assert task["owner"]["reference"] == f"Organization/unit-{world.units['hsv']}"
    assert task["status"] == "ready" and task["meta"]["versionId"] == "1"
    assert kim.get(f"/fhir/Task/{item_id}").json() == task
    r = kim.put(f"/fhir/Task/{item_id}", json={**task, "status": "completed"},
                headers={**FHIR, "If-Match": 'W/"1"'})
    assert r.status_code == 200, r.text
    assert_r4(r.json())
    assert r.json()["status"] == "completed" and r.json()["meta"]["versionId"] == "2"
    with database.session() as s:
        row = s.get(ChecklistItem, s.scalar(select(ChecklistItem.id).where(
            ChecklistItem.patient_id == pid)))
        assert row.done_at is not None and row.done_by_id == world.staff["kim"]
    again = {**r.json(), "status": "ready"}
    again.pop("executionPeriod")
    r = kim.put(f"/fhir/Task/{item_id}", json=again, headers={**FHIR, "If-Match": 'W/"2"'})
    assert r.status_code == 422 and r.json()["issue"][0]["expression"] == ["Task.status"]
    hugo = fhir_client(app, database, world, "hugo")
    assert hugo.get(f"/fhir/Task/{item_id}").status_code == 404
