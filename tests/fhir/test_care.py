"""The care around the patient through FHIR, on a real database: the shared plan read with
the care requests and tasks its activities became (`_include=CarePlan:activity-reference`),
the patient's goals in their own words, the episode and its care team across organisations;
a task's status changed with PUT and If-Match through the tasks' own named actions; and the
directory. The access rules are the pages': without the patient's consent the municipality
sees only what was sent to it, a unit without a care relation sees nothing."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from hemma.fhir import care, resources
from hemma.kit.time import local_today, utcnow
from hemma.models import (
    AuditEntry,
    CarePlan,
    Consent,
    Observation,
    RoundNote,
    Staff,
    StaffShift,
    Task,
    Unit,
    Visit,
    VisitAssignment,
    VisitPlan,
)
from tests.fhir.validate import assert_r4, fhir_client

FHIR = {"Content-Type": "application/fhir+json"}


def _plan(world, as_user, *, consent=True):
    """A home-ward episode of the region's ward, the municipality in its team, and a plan
    with goals, a visit (a care request to the municipality) and a one-off (a task)."""
    pid = world.patient(unit="med")
    eid = world.episode(pid, state="admitted", pathway="snabbspar")
    world.relation(pid, unit="hsv")
    if consent:
        world.consent(pid, "region")
        world.consent(pid, "kommun")
    url = f"/api/v1/patients/{pid}/episodes/{eid}/careplan"
    today = local_today()
    carl, sara = as_user("carl"), as_user("sara")
    assert carl.put(url + "/goals", json={
        "goals": "Jag vill kunna gå till brevlådan själv.", "needs": "Hjälp med dusch",
        "follow_ups": [{"on": (today + timedelta(days=14)).isoformat(),
                        "what": "Återbesök"}]}).status_code == 200
    r = sara.post(url + "/activities", json={
        "unit_id": world.units["hsv"], "what": "Intravenös antibiotika", "kind": "visit",
        "times": ["08:00", "20:00"], "duration_minutes": 30, "care_kind": "iv_antibiotic",
        "skills": ["iv"], "starts_on": today.isoformat(),
        "ends_on": (today + timedelta(days=3)).isoformat(), "sharing": "consent"})
    assert r.status_code == 201, r.text
    r = sara.post(url + "/activities", json={
        "unit_id": world.units["hsv"], "what": "Ordna nyckelgömma", "kind": "once",
        "due_at": (utcnow() + timedelta(days=1)).isoformat(),
        "starts_on": today.isoformat(), "sharing": "consent"})
    assert r.status_code == 201, r.text
    return pid, eid


def _entries(bundle: dict, mode: str = "match") -> list[dict]:
    return [e["resource"] for e in bundle.get("entry", []) if e["search"]["mode"] == mode]


def test_the_plan_is_read_with_its_activities_requests_tasks_and_goals(
        app, world, database, as_user):
    pid, eid = _plan(world, as_user)
    sara = fhir_client(app, database, world, "sara")
    r = sara.get("/fhir/CarePlan", params={"patient": pid,
                                           "_include": "CarePlan:activity-reference"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert_r4(body)
    (plan,) = _entries(body)
    assert plan["status"] == "active" and plan["intent"] == "plan"
    assert plan["subject"] == {"reference": f"Patient/{pid}"}
    assert plan["careTeam"] == [{"reference": f"CareTeam/{eid}"}]
    refs = sorted(a["reference"]["reference"].split("/")[0] for a in plan["activity"])
    assert refs == ["ServiceRequest", "Task"]
    included = {r["resourceType"]: r for r in _entries(body, "include")}
    assert set(included) == {"ServiceRequest", "Task"}
    request = included["ServiceRequest"]
    assert request["occurrenceTiming"]["repeat"]["timeOfDay"] == ["08:00:00", "20:00:00"]
    assert request["performer"] == [resources.unit_ref(world.units["hsv"], request[
        "performer"][0]["display"])]
    assert included["Task"]["description"] == "Ordna nyckelgömma"
    assert included["Task"]["status"] == "ready"
    # Each resource read on its own is the same, with its version as ETag.
    for resource in [plan, *included.values()]:
        one = sara.get(f"/fhir/{resource['resourceType']}/{resource['id']}")
        assert one.status_code == 200 and one.json() == resource
        assert one.headers["ETag"] == f'W/"{resource["meta"]["versionId"]}"'
        assert_r4(one.json())
    goal = sara.get(f"/fhir/{plan['goal'][0]['reference']}")
    assert goal.status_code == 200
    assert_r4(goal.json())
    assert goal.json()["description"]["text"] == "Jag vill kunna gå till brevlådan själv."
    assert goal.json()["expressedBy"] == {"reference": f"Patient/{pid}"}
    # The episode, and its team across organisations.
    episodes = sara.get("/fhir/EpisodeOfCare", params={"patient": pid, "status": "active"})
    assert_r4(episodes.json())
    assert [e["id"] for e in _entries(episodes.json())] == [str(eid)]
    team = sara.get(f"/fhir/CareTeam/{eid}").json()
    assert_r4(team)
    members = {p["member"]["reference"] for p in team["participant"]}
    assert f"Organization/unit-{world.units['hsv']}" in members
    assert sara.get("/fhir/EpisodeOfCare", params={"patient": pid, "status": "finished"}
                    ).json()["total"] == 0


def test_without_consent_the_municipality_sees_only_what_was_sent_to_it(
        app, world, database, as_user):
    pid, eid = _plan(world, as_user)
    with database.session() as s:
        plan_id = s.scalar(select(CarePlan.id).where(CarePlan.patient_id == pid))
        for c in s.scalars(select(Consent).where(Consent.patient_id == pid)):
            c.withdrawn_at = utcnow()  # the patient withdrew their consent to share
    kim, hugo = (fhir_client(app, database, world, who) for who in ("kim", "hugo"))
    # The plan is the region's: not without consent.
    assert kim.get(f"/fhir/CarePlan/{plan_id}").status_code == 404
    assert kim.get("/fhir/CarePlan", params={"patient": pid}).json()["total"] == 0
    assert kim.get(f"/fhir/Goal/{plan_id}").status_code == 404
    assert kim.get(f"/fhir/CareTeam/{eid}").status_code == 404
    # What was sent to her unit she sees, as on her pages.
    requests = kim.get("/fhir/ServiceRequest", params={"patient": pid}).json()
    assert requests["total"] == 1
    tasks = kim.get("/fhir/Task", params={"patient": pid}).json()
    assert [t["description"] for t in _entries(tasks)] == ["Ordna nyckelgömma"]
    tomorrow = (local_today() + timedelta(days=1)).isoformat()
    assert kim.get("/fhir/Task", params={"patient": pid, "_lastUpdated": f"ge{tomorrow}"}
                   ).json()["total"] == 0
    assert kim.get("/fhir/Task", params={"patient": pid, "_lastUpdated": "ge2026-01-01",
                                         "status": "ready"}).json()["total"] == 1
    # A unit with no care relation: the patient does not exist for it.
    for path in ("CarePlan", "ServiceRequest", "Task", "EpisodeOfCare", "CareTeam", "Goal"):
        r = hugo.get(f"/fhir/{path}", params={"patient": pid})
        assert r.status_code == 200 and r.json()["total"] == 0, path
    for path in (f"CarePlan/{plan_id}", f"Task/{_entries(tasks)[0]['id']}",
                 f"EpisodeOfCare/{eid}"):
        assert hugo.get(f"/fhir/{path}").status_code == 404, path


def test_a_tasks_status_is_changed_with_put_and_if_match_and_nothing_else(
        app, world, database, as_user):
    pid, _eid = _plan(world, as_user)
    kim = fhir_client(app, database, world, "kim")  # the owner's unit
    with database.session() as s:
        task_id = s.scalar(select(Task.id).where(Task.patient_id == pid))
    url = f"/fhir/Task/{task_id}"
    task = kim.get(url).json()
    assert task["meta"]["versionId"] == "1"
    done = {**task, "status": "completed"}
    r = kim.put(url, json=done, headers={**FHIR, "If-Match": 'W/"7"'})
    assert r.status_code == 412 and r.json()["issue"][0]["expression"] == ["If-Match"]
    r = kim.put(url, json={**done, "description": "Något annat"},
                headers={**FHIR, "If-Match": 'W/"1"'})
    assert r.status_code == 422 and r.json()["issue"][0]["expression"] == ["Task.description"]
    with database.session() as s:
        assert s.get(Task, task_id).done_at is None
    r = kim.put(url, json=done, headers={**FHIR, "If-Match": 'W/"1"'})
    assert r.status_code == 200, r.text
    assert_r4(r.json())
    assert r.json()["status"] == "completed" and r.headers["ETag"] == 'W/"2"'
    # Opened again: only with a reason.
    again = {**r.json(), "status": "ready"}
    again.pop("executionPeriod", None)
    r = kim.put(url, json=again, headers={**FHIR, "If-Match": 'W/"2"'})
    assert r.status_code == 422
    assert r.json()["issue"][0]["expression"] == ["Task.statusReason"]
    r = kim.put(url, json={**again, "statusReason": {"text": "Nyckeln saknades"}},
                headers={**FHIR, "If-Match": 'W/"2"'})
    assert r.status_code == 200 and r.json()["status"] == "ready"
    assert r.json()["statusReason"] == {"text": "Nyckeln saknades"}
    assert r.json()["meta"]["versionId"] == "3"
    # Through the tasks' own actions: their audit entries are there.
    with database.session() as s:
        actions = set(s.scalars(select(AuditEntry.action).where(
            AuditEntry.patient_id == pid)))
        assert {"task.done", "task.undo"} <= {a for x in actions for a in x.split("+")}
    # A unit that does not own it and did not write it: not allowed to change it.
    hugo = fhir_client(app, database, world, "hugo")
    r = hugo.put(url, json={**r.json(), "status": "completed"}, headers=FHIR)
    assert r.status_code == 404


def test_the_directory_staff_units_and_organisations(app, world, database):
    sara = fhir_client(app, database, world, "sara")
    with database.session() as s:
        staff = s.get(Staff, world.staff["sara"])
        staff.hsa_id = "SE2321000016-1003"
        unit = s.get(Unit, world.units["med"])
        org_id = unit.organisation_id
    r = sara.get(f"/fhir/Practitioner/{world.staff['sara']}")
    assert r.status_code == 200
    assert_r4(r.json())
    assert r.json()["identifier"] == [{"system": resources.HSA_ID,
                                       "value": "SE2321000016-1003"}]
    r = sara.get("/fhir/Practitioner",
                 params={"identifier": f"{resources.HSA_ID}|SE2321000016-1003"})
    assert [p["id"] for p in _entries(r.json())] == [str(world.staff["sara"])]
    role = sara.get(f"/fhir/PractitionerRole/{world.staff['sara']}").json()
    assert_r4(role)
    assert role["organization"]["reference"] == f"Organization/unit-{world.units['med']}"
    unit = sara.get(f"/fhir/Organization/unit-{world.units['med']}").json()
    assert_r4(unit)
    assert unit["partOf"]["reference"] == f"Organization/org-{org_id}"
    assert_r4(sara.get(f"/fhir/Organization/org-{org_id}").json())
    for missing in ("Organization/unit-999999", "Organization/x-1", "Practitioner/abc",
                    "Practitioner/99999999999"):
        assert sara.get(f"/fhir/{missing}").status_code == 404, missing


def test_searches_say_whose_and_refuse_unknown_parameters(app, world, database):
    sara = fhir_client(app, database, world, "sara")
    r = sara.get("/fhir/Task")
    assert r.status_code == 400 and r.json()["issue"][0]["expression"] == ["patient"]
    pid = world.patient(unit="med")
    r = sara.get("/fhir/CarePlan", params={"patient": pid, "categry": "x"})
    assert r.status_code == 400 and r.json()["issue"][0]["expression"] == ["categry"]
    r = sara.get("/fhir/CarePlan", params={"patient": pid, "_include": "CarePlan:goal"})
    assert r.status_code == 400 and r.json()["issue"][0]["expression"] == ["_include"]


def test_a_plans_version_follows_its_content(world):
    class Row:
        id, patient_id, documented_by_unit_id, goals, needs = "p", "x", 1, "Gå", None
        follow_ups, updated_at = [], utcnow()

    class Episode:
        id, state, admitted_at, assessed_at, ended_at = "e", "admitted", None, utcnow(), None

    one = care.care_plan(Row, Episode, [], hidden=0, hidden_note=None, follow_up_note=None,
                         title="Plan")
    Row.needs = "Hjälp med dusch"  # the description: what the plan says changed
    two = care.care_plan(Row, Episode, [], hidden=0, hidden_note=None, follow_up_note=None,
                         title="Plan")
    assert one["meta"]["versionId"] != two["meta"]["versionId"]


def _visit(database, world, pid, *, unit: str, hours: int, status="planned", by=None):
    now = utcnow()
    with database.session() as s:
        v = Visit(patient_id=pid, unit_id=world.units[unit], day=local_today(),
                  kind="wound_care", earliest=now + timedelta(hours=hours),
                  latest=now + timedelta(hours=hours + 1), duration_minutes=30, created_at=now,
                  status=status, updated_by_id=world.staff[by] if by else None,
                  started_at=now + timedelta(hours=hours) if status == "done" else None,
                  done_at=now + timedelta(hours=hours, minutes=25) if status == "done" else None)
        s.add(v)
        s.flush()
        return v.id


def test_visits_are_appointments_and_encounters_and_the_round_is_virtual(
        app, world, database):
    pid = world.patient(unit="med")
    eid = world.episode(pid, state="admitted")
    world.relation(pid, unit="hsv")
    world.consent(pid, "region")
    world.consent(pid, "kommun")
    home_ward = _visit(database, world, pid, unit="med", hours=-3, status="done", by="sara")
    municipal = _visit(database, world, pid, unit="hsv", hours=2)
    with database.session() as s:
        note = RoundNote(patient_id=pid, episode_id=eid, staff_id=world.staff["lisa"],
                         documented_by_unit_id=world.units["med"], at=utcnow(),
                         decision="continue", note="Stabil.")
        s.add(note)
        s.flush()
        note_id = note.id
        # The home ward's day was planned twice: the newest plan says who comes, and when.
        now = utcnow()
        shift = StaffShift(staff_id=world.staff["olle"], unit_id=world.units["med"],
                           day=local_today(), starts_at=now - timedelta(hours=5),
                           ends_at=now + timedelta(hours=3), start_latitude=63.8,
                           start_longitude=20.3, end_latitude=63.8, end_longitude=20.3)
        s.add(shift)
        s.flush()
        for version, minutes in ((1, 0), (2, 10)):
            plan = VisitPlan(unit_id=world.units["med"], day=local_today(), version=version,
                             created_at=now, reason="planned")
            s.add(plan)
            s.flush()
            s.add(VisitAssignment(plan_id=plan.id, visit_id=home_ward, part=0,
                                  shift_id=shift.id, position=0,
                                  planned_start=now - timedelta(hours=3, minutes=-minutes),
                                  planned_end=now - timedelta(hours=2, minutes=30 - minutes)))
        planned_start = now - timedelta(hours=3, minutes=-10)
    sara = fhir_client(app, database, world, "sara")
    r = sara.get("/fhir/Appointment", params={"patient": pid})
    assert_r4(r.json())
    found = {a["id"]: a for a in _entries(r.json())}
    olle = found[str(home_ward)]["participant"][1]
    assert olle["actor"]["reference"] == f"Practitioner/{world.staff['olle']}"
    assert datetime.fromisoformat(found[str(home_ward)]["start"]) == planned_start
    assert set(found) == {str(home_ward), str(municipal)}
    assert found[str(municipal)]["status"] == "booked"
    assert found[str(home_ward)]["status"] == "fulfilled"
    # Not yet planned: the unit that comes, as a participant still to be named.
    assert found[str(municipal)]["participant"][1]["status"] == "needs-action"
    today = local_today().isoformat()
    r = sara.get("/fhir/Appointment", params={"patient": pid, "date": f"ge{today}",
                                              "status": "booked"})
    assert [a["id"] for a in _entries(r.json())] == [str(municipal)]
    r = sara.get("/fhir/Encounter", params={"patient": pid})
    assert_r4(r.json())
    encounters = _entries(r.json())
    assert [(e["id"], e["class"]["code"]) for e in encounters] == [
        (str(home_ward), "HH"), (str(note_id), "VR")]
    assert encounters[1]["episodeOfCare"] == [{"reference": f"EpisodeOfCare/{eid}"}]
    for resource in [*found.values(), *encounters]:
        one = sara.get(f"/fhir/{resource['resourceType']}/{resource['id']}")
        assert one.status_code == 200 and one.json() == resource
    # A planned visit is no encounter (yet).
    assert sara.get(f"/fhir/Encounter/{municipal}").status_code == 404
    # Without consent each organisation sees its own visits only; no relation, nothing.
    with database.session() as s:
        for c in s.scalars(select(Consent).where(Consent.patient_id == pid)):
            c.withdrawn_at = utcnow()
    r = sara.get("/fhir/Appointment", params={"patient": pid})
    assert [a["id"] for a in _entries(r.json())] == [str(home_ward)]
    kim, hugo = (fhir_client(app, database, world, who) for who in ("kim", "hugo"))
    r = kim.get("/fhir/Appointment", params={"patient": pid})
    assert [a["id"] for a in _entries(r.json())] == [str(municipal)]
    assert kim.get("/fhir/Encounter", params={"patient": pid}).json()["total"] == 0
    assert kim.get(f"/fhir/Encounter/{note_id}").status_code == 404
    assert hugo.get("/fhir/Appointment", params={"patient": pid}).json()["total"] == 0
    assert hugo.get(f"/fhir/Appointment/{municipal}").status_code == 404


def test_a_visit_not_done_says_why_on_its_appointment(app, world, database):
    """R4's Encounter has no status reason: why a visit was not done is its Appointment's
    cancelationReason, in Hemma's code system with the words, and the staff's own words."""
    pid = world.patient(unit="med")
    world.episode(pid, state="admitted")
    missed = _visit(database, world, pid, unit="med", hours=-2, status="not_done", by="sara")
    with database.session() as s:
        v = s.get(Visit, missed)
        v.not_done_code, v.not_done_reason = "travel", "Vägen avstängd"
        v.done_at = utcnow() - timedelta(hours=1)
    sara = fhir_client(app, database, world, "sara")
    appointment = sara.get(f"/fhir/Appointment/{missed}").json()
    assert_r4(appointment)
    assert appointment["status"] == "noshow"
    assert appointment["cancelationReason"] == {
        "coding": [{"system": "urn:hemma:visit-not-done", "code": "travel",
                    "display": "Väglag eller resa"}], "text": "Väglag eller resa"}
    assert appointment["comment"] == "Vägen avstängd"
    encounter = sara.get(f"/fhir/Encounter/{missed}").json()
    assert_r4(encounter)
    assert encounter["status"] == "cancelled"
    assert encounter["appointment"] == [{"reference": f"Appointment/{missed}"}]
    # A visit done has no such reason.
    done = _visit(database, world, pid, unit="med", hours=-4, status="done", by="sara")
    assert "cancelationReason" not in sara.get(f"/fhir/Appointment/{done}").json()


def test_provenance_says_who_documented_what_for_which_organisation(
        app, world, database, as_user):
    pid, _eid = _plan(world, as_user)
    with database.session() as s:
        task_id, task_unit = s.execute(select(Task.id, Task.documented_by_unit_id).where(
            Task.patient_id == pid)).one()
        row = Observation(patient_id=pid, measured_at=utcnow(), received_at=utcnow(),
                          client_id="p-provenance-1", performer="patient",
                          source="patient_page", documented_by_unit_id=world.units["med"],
                          temperature=37.9)
        s.add(row)
        s.flush()
        observation = f"Observation/{row.id}-temp"
    sara = fhir_client(app, database, world, "sara")
    r = sara.get("/fhir/Provenance", params={"target": f"Task/{task_id},{observation}"})
    assert r.status_code == 200
    assert_r4(r.json())
    task, value = (e["resource"] for e in r.json()["entry"])
    assert task["target"] == [{"reference": f"Task/{task_id}"}]
    assert task["agent"][0]["who"]["reference"] == f"Practitioner/{world.staff['sara']}"
    # A one-off of the plan is its doing unit's record (the municipality's, here).
    assert task["agent"][0]["onBehalfOf"]["reference"] == f"Organization/unit-{task_unit}"
    assert value["agent"][0]["who"] == {"reference": f"Patient/{pid}"}
    assert sara.get(f"/fhir/Provenance/{task['id']}").json() == task
    # What the caller may not read has no provenance either.
    hugo = fhir_client(app, database, world, "hugo")
    assert hugo.get("/fhir/Provenance", params={"target": f"Task/{task_id}"}
                    ).json()["total"] == 0
    assert hugo.get(f"/fhir/Provenance/{task['id']}").status_code == 404
    assert sara.get("/fhir/Provenance").status_code == 400
    assert sara.get("/fhir/Provenance/Patient-x").status_code == 404


def test_an_id_hemma_did_not_make_is_not_found_for_every_type(app, world, database):
    """`Patient/example` and its like name nothing here: 404 (an OperationOutcome), never a
    422 about the id's form."""
    sara = fhir_client(app, database, world, "sara")
    for kind in ("Patient", "CarePlan", "Task", "EpisodeOfCare", "Flag", "Consent",
                 "Communication", "QuestionnaireResponse", "Appointment"):
        for path in (f"/fhir/{kind}/example", f"/fhir/{kind}/example/_history/1"):
            r = sara.get(path)
            assert r.status_code == 404, (path, r.status_code)
            assert r.json()["resourceType"] == "OperationOutcome"
    rita = fhir_client(app, database, world, "rita")  # a log reviewer
    assert rita.get("/fhir/AuditEvent/example").status_code == 404
