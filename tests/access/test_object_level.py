"""Object-level access: staff of Region Norr try every patient of Kommunen (and every
episode, relative, care relationship, consent and block of theirs) on every route and
method. Every answer must be exactly the answer for an id that does not exist."""

from __future__ import annotations

import os
import re
import uuid
from datetime import timedelta

from hemma.kit.time import local_today, utcnow
from hemma.models import CareRequest, Relative, Visit
from hemma.web.deps import PatientAccess, access_declarations, api_routes

CSRF_VALUE = re.compile(r'(name="csrf_token" value=")[^"]*(")')
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _normalise(text: str) -> str:
    """Pages echo the requested path (the language links): ids are not what we compare."""
    text = re.sub(r'next=[^"]*"', 'next=<path>"', text)
    return UUID.sub("<id>", CSRF_VALUE.sub(r"\1-\2", text))


def _kommun_patient(world, database) -> dict:
    """A patient known only to Kommunen, with one of everything."""
    pid = world.patient(unit="hsv", registered_by="hsv", name="Kerstin", family="Kommunsdotter")
    world.consent(pid, "kommun")
    with database.session() as s:
        now = utcnow()
        rel = Relative(patient_id=pid, name="Nils", relation="son",
                       documented_by_unit_id=world.units["hsv"], created_at=now)
        # Kommunen's own visit today, and a request it made (rows only: no one else joins).
        visit = Visit(patient_id=pid, unit_id=world.units["hsv"], day=local_today(),
                      kind="wound_care", earliest=now, latest=now + timedelta(hours=2),
                      duration_minutes=30, created_at=now)
        request = CareRequest(patient_id=pid, from_unit_id=world.units["hsv"],
                              to_unit_id=world.units["hsv"], kind="wound_care",
                              window_start="09:00", window_end="12:00", first_date=local_today(),
                              last_date=local_today(), duration_minutes=30,
                              created_by_id=world.staff["kim"], created_at=now)
        s.add_all([rel, visit, request])
        s.flush()
        relative_id, visit_id, request_id = rel.id, visit.id, request.id
    episode_id = world.episode(pid, state="admitted", unit="med")
    road_home = _road_home(world, database, pid, episode_id)
    return {
        **road_home,
        "patient_id": pid,
        "episode_id": episode_id,
        "alert_id": world.alert(pid, unit="med"),
        "code_id": world.code(pid),
        "relation_id": world.relation(pid, unit="hsv"),
        "consent_id": world.consent(pid, "region"),
        "block_id": world.block(pid, "hsv"),
        "relative_id": relative_id,
        "visit_id": visit_id,
        "request_id": request_id,
        "version": 1,
    }


def _road_home(world, database, pid, episode_id) -> dict:
    """Kommunen's own checklist item, homecoming call and treatment order."""
    from hemma.models import ChecklistItem, Task, TreatmentOrder

    now = utcnow()
    common = dict(episode_id=episode_id, patient_id=pid, created_at=now,
                  documented_by_unit_id=world.units["hsv"], created_by_id=world.staff["kim"])
    with database.session() as s:
        item = ChecklistItem(category="key", what="Nyckelgömma",
                             provider_unit_id=world.units["hsv"], due_at=now, **common)
        task = Task(kind="homecoming_call", title="Hemkomstsamtal", unit_id=world.units["hsv"],
                    due_at=now, questions=[], answers={}, **common)
        order = TreatmentOrder(drug="Fragmin", dose="5000 E", route="sc", times=["08:00"],
                               starts_on=local_today(), stops_on=local_today(),
                               prescriber_id=world.staff["lisa"],
                               giving_unit_id=world.units["hsv"], **common)
        s.add_all([item, task, order])
        s.flush()
        from hemma.models import Handover

        handover = Handover(patient_id=pid, from_unit_id=world.units["hsv"],
                            to_unit_id=world.units["hsv"], situation="S", background="B",
                            assessment="A", recommendation="R", created_at=now,
                            created_by_id=world.staff["kim"])
        s.add(handover)
        s.flush()
        ids = {"item_id": item.id, "task_id": task.id, "order_id": order.id,
               "handover_id": handover.id}
    # An activity of the episode's shared plan, and the assessment's first version.
    from tests.access.test_matrix import _activity

    ids["activity_id"] = _activity(type("S", (), {"world": world, "database": database})(), pid)
    # Kommunen's thread with the patient, and a photo in it.
    from tests.access.test_matrix import message_in_thread

    ids.update(message_in_thread(database, world, pid, unit="hsv"))
    world.assessed(pid, episode_id)
    return ids


def _call(client, method, path, csrf):
    if method == "GET":
        return client.get(path, follow_redirects=False)
    if path.startswith("/api/"):
        return client.request(method, path, json={}, follow_redirects=False)
    return client.request(method, path, data={"csrf_token": csrf}, follow_redirects=False)


def test_region_staff_cannot_tell_kommun_patients_from_nobody(app, world, database, as_user):
    targets = [_kommun_patient(world, database) for _ in range(2)]
    patient_routes = [
        (method, route.path)
        for route in api_routes(app)
        if isinstance(access_declarations(route)[0], PatientAccess)
        for method in sorted(route.methods - {"HEAD"})
    ]
    assert len(patient_routes) > 30
    checked = 0
    # Every region role on SQLite; on PostgreSQL (the same rules, decided in Python, over the
    # same queries) a physician, a nurse of the home ward and one of the health centre.
    people = (("lisa", "sara", "hugo") if os.environ.get("HEMMA_TEST_BACKEND") == "postgres"
              else ("lisa", "sara", "carl", "olle", "hugo", "rita", "adam"))
    for username in people:
        client = as_user(username)
        csrf = world.csrf[id(client)]
        for method, path in patient_routes:
            nobody = {k: uuid.uuid4() for k in targets[0]}
            nobody["code_id"] = 10_000_000
            nobody["version"] = 1
            baseline = _call(client, method, path.format(**nobody), csrf)
            assert baseline.status_code in (404, 422), (method, path, baseline.status_code)
            for ids in targets:
                # Real ids of Kommunen's patient, and mixed: a real patient with made-up
                # sub-resources, and made-up patients with real sub-resources.
                variants = [ids, {**nobody, "patient_id": ids["patient_id"]},
                            {**ids, "patient_id": nobody["patient_id"]}]
                for variant in variants:
                    r = _call(client, method, path.format(**variant), csrf)
                    assert r.status_code == baseline.status_code, (username, method, path)
                    assert _normalise(r.text) == _normalise(baseline.text), (username, method,
                                                                             path)
                    checked += 1
        # Nor do they turn up in searches or lists.
        if username in ("lisa", "sara", "carl", "olle", "hugo"):  # the clinical ones
            assert client.get("/api/v1/patients", params={"q": "Kommunsdotter"}).json() == []
            for page in (client.get("/patients/search?q=Kommunsdotter").text,
                         client.get("/home-ward?scope=team").text,
                         client.get("/api/v1/home-ward?scope=team").text):
                assert not any(str(t["patient_id"]) in page for t in targets)
                assert "Kerstin" not in page
    assert checked > 1000
    # Kommunen's own nurse does see the patient: the ids above were real.
    kim = as_user("kim")
    assert kim.get(f"/patients/{targets[0]['patient_id']}").status_code == 200
