"""The access matrix: every route × every role × every relationship, consent, block and
emergency state, through HTTP, compared with the rules (an oracle written from the product
text, not from the code).

A route that no one told this test how to call fails it, so adding a route forces a
decision here too."""

from __future__ import annotations

import itertools
import os
import re
import uuid
from dataclasses import dataclass
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from hemma.access.service import accessible_patients, subject_for
from hemma.kit.time import local_today, utcnow
from hemma.models import CareRequest, Organisation, Relative, Staff, Unit, Visit, WebSession
from hemma.web.deps import (
    MetricsToken,
    PatientAccess,
    PatientOwnPage,
    Public,
    StaffAccess,
    access_declarations,
    api_routes,
)
from tests.access.test_policy import ORACLE_ROLES
from tests.factories import MEDICAL_LEADS, PEOPLE

ORG_OF_UNIT = {"med": "region", "hc": "region", "hsv": "kommun", "lab": "region",
               "xray": "region", "kdag": "kommun"}
RELATIONSHIPS = ["none", "unit", "personal", "ended"]
EMERGENCIES = ["none", "active", "expired"]
# Statuses that mean "the access check let the request through" (the empty bodies the matrix
# sends are then refused by validation, or hit a rule of the action itself).
PASSED = {200, 201, 204, 303, 400, 409, 422}


@dataclass(frozen=True)
class State:
    relationship: str
    emergency: str
    consent: str = "both"  # none / both / withdrawn
    blocked: bool = False


def role_allows(username: str, action: str) -> bool:
    given, family, profession, unit, admin, reviewer = PEOPLE[username]
    if action == "signed_in":
        return True
    if action == "admin.manage":
        return admin
    if action == "log.review":
        return reviewer
    if action == "pathway.manage":
        return username in MEDICAL_LEADS
    if action == "followup.read":
        # Every clinical profession its own unit's figures; the medical lead everyone's.
        return profession != "administrative" or username in MEDICAL_LEADS
    if action == "followup.research_export":
        return False  # nobody in the test world holds the research-export role
    return action in ORACLE_ROLES[profession]


def oracle_patient(username: str, action: str, state: State) -> bool:
    if not role_allows(username, action):
        return False
    if state.relationship in ("unit", "personal"):
        return True
    return state.emergency == "active" and action == "patient.read"


def oracle_sees(username: str, state: State, documented_by: str = "med") -> bool:
    """May the user (who may read the patient) see what `documented_by` documented? In these
    scenarios only Medicinkliniken's information is ever blocked."""
    unit = PEOPLE[username][3]
    if unit == documented_by:
        return True
    if state.blocked and documented_by == "med":
        return False
    if ORG_OF_UNIT[unit] == ORG_OF_UNIT[documented_by]:
        return True
    return state.consent == "both" or state.emergency == "active"


def oracle_sees_episode(username: str, state: State) -> bool:
    """The episode is documented by Medicinkliniken (region)."""
    return oracle_patient(username, "patient.read", state) and oracle_sees(username, state)


def oracle_route(username: str, action: str, state: State, method: str, path: str) -> bool:
    """Patient-level access, and for routes about one episode or care relationship, that
    the user may see it. (JSON routes with a body refuse the empty body before they look.)"""
    if not oracle_patient(username, action, state):
        return False
    api = path.startswith("/api/")
    # JSON routes whose empty body is refused before they look at the episode or alert.
    refuses_empty_body = api and method in ("POST", "PUT") and not path.endswith(
        ("/end", "/acknowledge", "/monitoring-plan"))
    if "/agreement" in path and not refuses_empty_body:
        # The agreement is the home ward's record: read with it, changed only by its own
        # organisation (another one that sees it is refused with a 403, see below).
        sees = oracle_sees(username, state, "med")
        return sees if method == "GET" else sees and ORG_OF_UNIT[PEOPLE[username][3]] == "region"
    if home_record_write(method, path):
        # The home ward's record (every field has a default, so even an empty form reaches
        # the rule): changed only by its own organisation.
        return oracle_sees(username, state, "med") and ORG_OF_UNIT[PEOPLE[username][3]] == "region"
    if path.endswith("/careplan/goals"):
        # The coordinator edits the goals (the factory names carl), if they may see the plan.
        return username == "carl" and oracle_sees(username, state, "med")
    if path.endswith("/messages/{thread_id}/read"):
        # What the patient wrote to the home ward is marked read by the home ward alone
        # (another unit that may read it is refused with a 403, see below).
        return oracle_sees(username, state, "med") and PEOPLE[username][3] == "med"
    if "{thread_id}" in path or "{message_id}" in path:
        # The home ward's thread with the patient, and a photo in it.
        return oracle_sees(username, state, "med")
    if any(k in path for k in ("{item_id}", "{order_id}", "{task_id}")):
        # A checklist item, treatment order or homecoming call documented by
        # Medicinkliniken: seen with its information (JSON bodies are refused first).
        if api and method == "POST" and path.endswith(("/doses", "/undo")):
            return True
        return oracle_sees(username, state, "med")
    if "{episode_id}" in path and not refuses_empty_body:
        return oracle_sees(username, state, "med")
    if "{alert_id}" in path and not refuses_empty_body:
        return oracle_sees(username, state, "med")
    if "{relation_id}" in path:
        return oracle_sees(username, state, "lab")
    if path.endswith("/access-codes"):
        return oracle_sees(username, state, "med")
    if path.endswith(("/monitoring-plan", "/plan")):
        # The plan belongs to the home ward's record: seen with it, changed only by its
        # own organisation.
        if method == "GET" and api:
            return oracle_sees(username, state, "med")
        return oracle_sees(username, state, "med") and ORG_OF_UNIT[PEOPLE[username][3]] == "region"
    return True


def home_record_write(method: str, path: str) -> bool:
    # (A paper questionnaire about the stay, /prem, is the home ward's record too: every
    # field of its JSON body may be left out, so the rule is reached before the input.)
    return method in ("POST", "PUT") and path.endswith(
        ("/assessment", "/assessments", "/careplan/sip", "/careplan/sip/start", "/summary",
         "/summary/draft", "/prem"))


def refused_with(username: str, action: str, state: State, method: str, path: str) -> int:
    """How a refused request is answered: 404 when the patient or the information does not
    exist for the user; 403 when they may read it but it is another organisation's record
    (or the goals, which only the coordinator edits)."""
    sees = oracle_patient(username, action, state) and oracle_sees(username, state, "med")
    if sees and (home_record_write(method, path) or path.endswith(
            ("/careplan/goals", "/messages/{thread_id}/read"))):
        return 403
    return 404


class Scenario:
    """One patient per (user, state), with everything its routes refer to."""

    def __init__(self, world, database):
        self.world = world
        self.database = database
        with database.session() as s:
            # Units no test user belongs to, for sub-resources that requests may change.
            extra = {
                "lab": Unit(organisation_id=world.orgs["region"], name="Laboratoriet",
                            kind="other"),
                "xray": Unit(organisation_id=world.orgs["region"], name="Röntgen", kind="other"),
                "kdag": Unit(organisation_id=world.orgs["kommun"], name="Dagverksamheten",
                             kind="other"),
            }
            third = Organisation(name="Privata vårdgivaren", kind="region")
            s.add_all([*extra.values(), third])
            s.flush()
            world.units.update({k: u.id for k, u in extra.items()})
            world.orgs["third"] = third.id

    def patient(self, username: str, state: State) -> dict:
        w = self.world
        unit = PEOPLE[username][3]
        pid = w.patient(unit=None, name=username.capitalize(), family=f"M{state.relationship}")
        # The home ward's own relationship (the episode's unit), unless that is the user's.
        if unit != "med":
            w.relation(pid, unit="med")
        if state.relationship == "unit":
            w.relation(pid, unit=unit)
        elif state.relationship == "personal":
            w.relation(pid, person=username, documented_by="med")
        elif state.relationship == "ended":
            w.relation(pid, unit=unit, ends_in=timedelta(minutes=-5))
        if state.emergency != "none":
            w.emergency(pid, username, expired=state.emergency == "expired")
        if state.consent in ("both", "withdrawn"):
            for org in ("region", "kommun"):
                w.consent(pid, org, withdrawn=state.consent == "withdrawn")
        if state.blocked:
            w.block(pid, "med")
        episode = w.episode(pid, state="admitted")
        w.assessed(pid, episode)
        return {"patient_id": pid, "episode_id": episode}

    # Sub-resources are made fresh for each request: some routes change them (end, withdraw,
    # lift, remove), and a second route must not find them already gone.
    def fresh(self, param: str, ids: dict, username: str):
        w, pid = self.world, ids["patient_id"]
        if param == "relation_id":
            return w.relation(pid, unit="lab")
        if param == "consent_id":
            return w.consent(pid, "third")
        if param == "block_id":
            # A block on a unit of the user's own organisation (the one that may lift it),
            # on a unit whose information nothing else here depends on.
            own_org = ORG_OF_UNIT[PEOPLE[username][3]]
            return w.block(pid, "xray" if own_org == "region" else "kdag")
        if param == "alert_id":
            return w.alert(pid, unit="med")
        if param == "code_id":
            return w.code(pid)
        if param == "relative_id":
            with self.database.session() as s:
                rel = Relative(patient_id=pid, name="Berit", relation="maka",
                               shares=["messages"], documented_by_unit_id=w.units["med"],
                               created_at=utcnow())
                s.add(rel)
                s.flush()
                return rel.id
        if param == "unit_id":
            return w.units[PEOPLE[username][3]]
        if param == "staff_id":
            return w.staff[username]
        if param == "code":
            return "en"
        if param == "activity_id":
            return _activity(self, pid)
        if param == "pathway_id":
            return w.pathways["snabbspar"]
        if param == "version":
            return self._agreement(ids["episode_id"], pid)
        if param == "day":
            return local_today().isoformat()
        if param == "shift_id":
            return 10**6  # none: the routes look it up in the user's own unit
        if param in ("item_id", "order_id", "task_id"):
            return self._road_home(param, pid, username)
        if param == "handover_id":
            return self._handover(pid, username)
        if param in ("visit_id", "request_id"):
            return self._planning(param, pid, PEOPLE[username][3])
        if param in ("thread_id", "message_id"):
            return message_in_thread(self.database, self.world, pid)[param]
        if param == "observation_id":
            return _fhir_observation(self, pid)
        if param == "subscription_id":
            return "00000000-0000-4000-8000-000000000000"  # another's: not found
        if param == "provenance_id":
            return "Observation-" + _fhir_observation(self, pid)
        if param in ("document_id", "binary_id"):
            self._agreement(ids["episode_id"], pid)
            return f"agreement-{ids['episode_id']}"
        if param == "answers_id":
            return _fhir_observation(self, pid).rsplit("-", 1)[0]
        if param == "encounter_id":
            return self._planning("visit_id", pid, PEOPLE[username][3])
        if param == "plan_id":
            return _care_plan(self, ids["episode_id"], pid)
        if param == "organization_id":
            return f"unit-{w.units[PEOPLE[username][3]]}"
        if param == "version_id":
            return "1"
        if param == "device_id":
            return f"{pid}-0000000000000000"  # no device sent values: 404 when allowed
        if param == "audit_event_id":
            return 1  # an entry of the log; a reviewer of another organisation gets 404
        if param in ids:
            return ids[param]
        raise AssertionError(f"the access matrix does not know how to fill {{{param}}}")


def _care_plan(self, episode_id, pid):
    """The episode's shared plan, written by the home ward."""
    from hemma.models import CarePlan

    with self.database.session() as s:
        found = s.scalar(select(CarePlan.id).where(CarePlan.episode_id == episode_id))
        if found is not None:
            return found
        plan = CarePlan(episode_id=episode_id, patient_id=pid, goals="Hem", follow_ups=[],
                        documented_by_unit_id=self.world.units["med"], updated_at=utcnow(),
                        updated_by_id=self.world.staff["sara"])
        s.add(plan)
        s.flush()
        return plan.id


def _fhir_observation(self, pid) -> str:
    """The FHIR id of a pulse the home ward recorded for the patient."""
    from hemma.fhir.vitals import resource_id
    from hemma.models import Observation

    now = utcnow()
    with self.database.session() as s:
        row = Observation(patient_id=pid, measured_at=now, received_at=now,
                          client_id=f"m-{uuid.uuid4()}", performer="staff", source="api",
                          documented_by_unit_id=self.world.units["med"], pulse=72)
        s.add(row)
        s.flush()
        return resource_id(row.id, "pulse")


def _planning(self, param: str, pid, unit_key: str):
    """A visit of the user's unit to the patient, or a care request to the user's unit."""
    w, now = self.world, utcnow()
    with self.database.session() as s:
        if param == "visit_id":
            row = Visit(patient_id=pid, unit_id=w.units[unit_key], day=local_today(),
                        kind="wound_care", earliest=now + timedelta(hours=1),
                        latest=now + timedelta(hours=2), duration_minutes=30, created_at=now)
        else:
            sender = "hc" if unit_key == "med" else "med"
            row = CareRequest(patient_id=pid, from_unit_id=w.units[sender],
                              to_unit_id=w.units[unit_key], kind="wound_care",
                              window_start="09:00", window_end="12:00",
                              first_date=local_today(), last_date=local_today(),
                              duration_minutes=30, created_by_id=w.staff["sara"],
                              created_at=now)
        s.add(row)
        s.flush()
        return row.id


Scenario._planning = _planning


def _handover(self, pid, username: str):
    """A hand-over from Medicinkliniken to the user's own unit (addressed to them: they see
    it and may confirm it)."""
    from hemma.models import Handover

    w, now = self.world, utcnow()
    with self.database.session() as s:
        row = Handover(patient_id=pid, from_unit_id=w.units["med"],
                       to_unit_id=w.units[PEOPLE[username][3]], situation="S", background="B",
                       assessment="A", recommendation="R", created_at=now,
                       created_by_id=w.staff["sara"])
        s.add(row)
        s.flush()
        return row.id


Scenario._handover = _handover


def _activity(scenario: Scenario, pid):
    """An ongoing activity of Medicinkliniken in the patient's shared plan."""
    from hemma.models import CarePlan, Episode, PlanActivity

    w, now = scenario.world, utcnow()
    with scenario.database.session() as s:
        episode = s.scalar(select(Episode).where(Episode.patient_id == pid))
        plan = s.scalar(select(CarePlan).where(CarePlan.episode_id == episode.id))
        if plan is None:
            plan = CarePlan(episode_id=episode.id, patient_id=pid, version=0,
                            documented_by_unit_id=w.units["med"], updated_at=now,
                            updated_by_id=w.staff["sara"])
            s.add(plan)
            s.flush()
        row = PlanActivity(plan_id=plan.id, episode_id=episode.id, patient_id=pid,
                           unit_id=w.units["med"], what="Läkarbedömning", kind="ongoing",
                           starts_on=local_today(), status="planned",
                           documented_by_unit_id=w.units["med"], created_at=now,
                           created_by_id=w.staff["sara"], updated_at=now,
                           updated_by_id=w.staff["sara"])
        s.add(row)
        s.flush()
        return row.id


def _road_home(self, param: str, pid, username: str):
    """A checklist item, treatment order or homecoming call of the scenario's episode,
    documented by Medicinkliniken; the item is provided and the treatment given by the
    user's own unit (so that whoever may see it may tick it and record a dose)."""
    from hemma.models import ChecklistItem, Episode, Task, TreatmentOrder

    w, now = self.world, utcnow()
    own = w.units[PEOPLE[username][3]]
    with self.database.session() as s:
        episode_id = s.scalar(select(Episode.id).where(Episode.patient_id == pid).limit(1))
        common = dict(episode_id=episode_id, patient_id=pid,
                      documented_by_unit_id=w.units["med"], created_at=now,
                      created_by_id=w.staff["sara"])
        if param == "item_id":
            row = ChecklistItem(category="key", what="Nyckelgömma", provider_unit_id=own,
                                due_at=now + timedelta(hours=3), **common)
        elif param == "order_id":
            row = TreatmentOrder(drug="Ceftriaxon", dose="2 g", route="iv", times=["08:00"],
                                 starts_on=local_today(), stops_on=local_today(),
                                 prescriber_id=w.staff["lisa"], giving_unit_id=own, **common)
        else:
            row = Task(kind="homecoming_call", title="Hemkomstsamtal", unit_id=w.units["med"],
                       due_at=now + timedelta(hours=3),
                       questions=[{"key": "arrived_well", "text": "Kom du hem?"}], answers={},
                       **common)
        s.add(row)
        s.flush()
        return row.id


def _agreement(self, episode_id, pid) -> int:
    """Version 1 of the episode's agreement (written once, whichever route asks first)."""
    from sqlalchemy import select

    from hemma.models.careplans import Agreement

    with self.database.session() as s:
        if s.scalar(select(Agreement.id).where(Agreement.episode_id == episode_id)) is None:
            s.add(Agreement(episode_id=episode_id, patient_id=pid, version=1,
                            content={"if_worse": [], "planned_days": 5, "end_criteria": "Klar"},
                            documented_by_unit_id=self.world.units["med"], created_at=utcnow(),
                            created_by_id=self.world.staff["sara"]))
    return 1


Scenario._agreement = _agreement


def message_in_thread(database, world, pid, unit: str = "med") -> dict:
    """The patient's message, with a photo, in their thread with `unit` (which documents
    it): its thread and message ids."""
    import io

    from PIL import Image

    from hemma.messaging import photos
    from hemma.models import Message, MessageThread

    now = utcnow()
    picture = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(picture, "PNG")
    with database.session() as s:
        key = f"patient:{world.units[unit]}"
        thread = s.scalar(select(MessageThread).where(MessageThread.patient_id == pid,
                                                      MessageThread.key == key))
        if thread is None:
            thread = MessageThread(patient_id=pid, kind="patient", unit_id=world.units[unit],
                                   key=key, created_at=now, last_message_at=now)
            s.add(thread)
            s.flush()
        photo = photos.validate(picture.getvalue())
        message = Message(thread_id=thread.id, patient_id=pid, author_kind="patient",
                          documented_by_unit_id=world.units[unit], body="Så här ser såret ut",
                          created_at=now, due_at=now + timedelta(hours=2),
                          photo_key=photos.store(s, photo), photo_type=photo.content_type,
                          photo_bytes=len(photo.data))
        s.add(message)
        s.flush()
        return {"thread_id": thread.id, "message_id": message.id}
Scenario._road_home = _road_home

# Changes to the home ward's own record by another organisation that may read it: refused
# with a 403 that says so (it may be read, not changed).
OTHER_ORGANISATIONS_RECORD = (
    ("POST", "/patients/{patient_id}/checklist/{item_id}/remove"),
    ("DELETE", "/api/v1/patients/{patient_id}/checklist/{item_id}"),
    ("POST", "/patients/{patient_id}/treatments/{order_id}/stop"),
    ("POST", "/api/v1/patients/{patient_id}/treatments/{order_id}/stop"),
    ("POST", "/patients/{patient_id}/tasks/{task_id}/call"),
    ("POST", "/api/v1/patients/{patient_id}/tasks/{task_id}/answers"),
    # A task (here the homecoming call) is ticked by its owner's unit or the organisation
    # that wrote it.
    ("POST", "/patients/{patient_id}/tasks/{task_id}/done"),
    ("POST", "/api/v1/patients/{patient_id}/tasks/{task_id}/done"),
)


def _request(client: TestClient, method: str, path: str, csrf: str | None):
    if path.startswith(("/alerts/stream", "/board/stream")):
        # The live stream holds the connection; `once` answers and closes.
        return client.get(path + "?once=true", follow_redirects=False)
    if method == "GET":
        return client.get(path, follow_redirects=False)
    if path.startswith("/api/"):
        return client.request(method, path, json={}, follow_redirects=False)
    if path.startswith("/fhir/") or path == "/fhir":
        return client.request(method, path, json={}, follow_redirects=False,
                              headers={"Content-Type": "application/fhir+json"})
    data = {"csrf_token": csrf} if csrf else {}
    return client.request(method, path, data=data, follow_redirects=False)


def _routes(app):
    out = []
    for route in api_routes(app):
        decls = access_declarations(route)
        assert len(decls) == 1, route.path
        for method in sorted(route.methods - {"HEAD"}):
            out.append((method, route.path, decls[0]))
    # Logging out ends the session: last.
    out.sort(key=lambda r: (r[1] == "/logout", r[1], r[0]))
    return out


def _fill(scenario: Scenario, path: str, ids: dict, username: str) -> str:
    def sub(m):
        return str(scenario.fresh(m.group(1), ids, username))

    return re.sub(r"\{(\w+)\}", sub, path)


def test_every_route_declares_exactly_one_access_decision(app):
    routes = api_routes(app)
    assert len(routes) > 60
    for route in routes:
        assert len(access_declarations(route)) == 1, route.path


def test_unauthenticated_requests_reach_nothing(app, world, database, client):
    scenario = Scenario(world, database)
    ids = scenario.patient("sara", State("unit", "none"))
    for method, path, decl in _routes(app):
        url = _fill(scenario, path, ids, "sara")
        r = _request(client, method, url, None)
        if isinstance(decl, Public):
            assert r.status_code not in (401, 403, 404), (method, url, r.status_code)
        elif isinstance(decl, MetricsToken):
            # The scraper's route, with no HEMMA_METRICS_TOKEN set: it does not exist
            # (tests/test_ops.py walks it with a token).
            assert r.status_code == 404, (method, url, r.status_code)
        elif isinstance(decl, PatientOwnPage):
            assert r.status_code == 303 and r.headers["location"] == "/p/login", (method, url)
        elif path.startswith(("/api/", "/fhir/")) or path == "/fhir":
            assert r.status_code == 401, (method, url, r.status_code)
        else:
            assert r.status_code == 303 and "/login" in r.headers["location"], (method, url)
    # The open routes (the login page, its second step, the way to and back from the
    # region's identity provider) gave nobody a session.
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(WebSession)) == 0


# The three positions a clinician can have towards the home ward's information (its own
# unit, another unit of the region, Kommunen) walk every state; every other role walks every
# relationship and emergency state (consent and blocks cannot change what a role without
# the action may do).
RELATIONSHIP_STATES = [State(r, e) for r, e in itertools.product(RELATIONSHIPS, EMERGENCIES)]
# Every consent and block state with every kind of relationship, with and without an open
# emergency access; an ended relationship and an expired emergency access (which open nothing)
# walk the relationship states.
# A block is walked with consent given: without consent, another organisation sees nothing of
# Medicinkliniken's anyway, and the same organisation (or the unit itself) does not need
# consent, so ("none", blocked) shows nothing ("both", blocked) does not.
FULL_STATES = [State(r, e, c, b) for r, e, (c, b) in itertools.product(
    ["none", "unit", "personal"], ["none", "active"],
    [("none", False), ("both", False), ("withdrawn", False), ("both", True)])] + [
    s for s in RELATIONSHIP_STATES
                       if s.relationship == "ended" or s.emergency == "expired"]
# Routes about the patient as a whole (not one episode, alert, relationship or code) are open
# to a relationship or emergency whatever the consent and blocks say: they walk every
# relationship and emergency state, and every consent and block state with and without a
# relationship (so that a block or a withdrawn consent is seen to change nothing there).
PATIENT_LEVEL_STATES = RELATIONSHIP_STATES + [
    State(r, "none", c, b) for r, c, b in itertools.product(
        ["unit", "none"], ["none", "both", "withdrawn"], [False, True]) if (c, b) != ("both", False)]


def follows_consent(path: str) -> bool:
    """Does the route's answer depend on what the user may see (consent, blocks)?"""
    return any(marker in path for marker in ("{episode_id}", "{alert_id}", "{relation_id}",
                                             "{item_id}", "{order_id}", "{task_id}",
                                             "{thread_id}", "{message_id}")) \
        or path.endswith(("/access-codes", "/monitoring-plan", "/plan"))


# The SQLite leg walks every person. What differs between people is their role, which the
# rules decide in Python; the PostgreSQL leg walks the three whose every consent, block and
# emergency state is walked (a nurse of the home ward, of the health centre and of the
# municipality), so that every route's queries meet every state on PostgreSQL too.
MATRIX_PEOPLE = (["hugo", "kim", "sara"] if os.environ.get("HEMMA_TEST_BACKEND") == "postgres"
                 else sorted(PEOPLE))


@pytest.mark.parametrize("username", MATRIX_PEOPLE)
def test_route_matrix(username, app, world, database, as_user):
    """Every route for `username` in every relationship × emergency (× consent × block) state."""
    scenario = Scenario(world, database)
    client = as_user(username)
    csrf = world.csrf[id(client)]
    full = username in ("sara", "hugo", "kim")
    states = FULL_STATES if full else RELATIONSHIP_STATES
    walked = list(dict.fromkeys(states + (PATIENT_LEVEL_STATES if full else [])))
    patients = {state: scenario.patient(username, state) for state in walked}
    failures = []
    for method, path, decl in _routes(app):
        if not isinstance(decl, PatientAccess):
            walk = states[:1]
        elif full and not follows_consent(path):
            walk = PATIENT_LEVEL_STATES
        else:
            walk = states
        for state in walk:
            ids = patients[state]
            url = _fill(scenario, path, ids, username)
            r = _request(client, method, url, csrf)
            if path == "/logout":
                world.login(client, database, username)
                csrf = world.csrf[id(client)]
            if isinstance(decl, PatientAccess):
                allowed = oracle_route(username, decl.action.value, state, method, path)
                ok = r.status_code in PASSED if allowed else r.status_code == refused_with(
                    username, decl.action.value, state, method, path)
                if path.endswith("/access-codes") and not allowed and oracle_patient(
                        username, decl.action.value, state):
                    # A code opens the patient's own page, with the home ward's episode: only
                    # a unit that may read the episode hands one out (a 403 that says why).
                    ok = r.status_code == 403
                if ("/agreement" in path and method != "GET" and not allowed
                        and oracle_patient(username, decl.action.value, state)
                        and oracle_sees(username, state, "med")):
                    # Another organisation's agreement: it may be read, never changed.
                    ok = r.status_code == 403 or (path.startswith("/api/")
                                                  and r.status_code == 422)
                if (method, path) in OTHER_ORGANISATIONS_RECORD and oracle_route(
                        username, decl.action.value, state, method, path) \
                        and ORG_OF_UNIT[PEOPLE[username][3]] != "region":
                    allowed = False
                    ok = r.status_code == 403
                if path.endswith("/summary/acknowledge") and allowed:
                    # Whoever may read the summary reaches the rule; only a unit it was sent
                    # to acknowledges it (403 for the rest).
                    ok = r.status_code in PASSED | {403}
            elif isinstance(decl, StaffAccess):
                allowed = role_allows(username, decl.action.value)
                ok = (r.status_code in PASSED | {404}) if allowed else r.status_code == 403
            elif isinstance(decl, MetricsToken):
                # A staff session is no metrics token (and none is set here: 404).
                allowed = False
                ok = r.status_code == 404
            elif isinstance(decl, PatientOwnPage):
                # A staff session is no patient's session.
                allowed = False
                ok = r.status_code == 303 and r.headers["location"] == "/p/login"
            else:
                allowed, ok = True, r.status_code not in (401, 403)
            if not ok:
                failures.append(f"{method} {path} {state}: expected "
                                f"{'allowed' if allowed else 'refused'}, got {r.status_code}")
    assert not failures, "\n".join(failures[:40])


CONTENT_STATES = [
    State(r, e, c, b)
    for r, e, c, b in itertools.product(["none", "unit", "personal"], ["none", "active"],
                                        ["none", "both", "withdrawn"], [False, True])
]


@pytest.mark.parametrize("username", ["sara", "hugo", "kim", "pia", "olle", "rita"])
def test_content_follows_consent_blocks_and_emergency(username, app, world, database, as_user):
    """What each page and API shows: the episode (documented by Medicinkliniken) only when
    the rules let the user see it; lists hold exactly the patients can() allows."""
    scenario = Scenario(world, database)
    client = as_user(username)
    failures = []
    for state in CONTENT_STATES:
        ids = scenario.patient(username, state)
        pid, eid = ids["patient_id"], ids["episode_id"]
        may_read = oracle_patient(username, "patient.read", state)
        sees = oracle_sees_episode(username, state)
        page = client.get(f"/patients/{pid}")
        api = client.get(f"/api/v1/patients/{pid}/episodes")
        if not may_read:
            if page.status_code != 404 or api.status_code != 404:
                failures.append(f"{state}: readable ({page.status_code}, {api.status_code})")
            continue
        if page.status_code != 200 or api.status_code != 200:
            failures.append(f"{state}: not readable ({page.status_code}, {api.status_code})")
            continue
        shown_page = "Bedömd lämplig." in page.text
        shown_api = any(e["id"] == str(eid) for e in api.json())
        if shown_page != sees or shown_api != sees:
            failures.append(f"{state}: episode shown page={shown_page} api={shown_api}, "
                            f"expected {sees}")
        episode_page = client.get(f"/patients/{pid}/episodes/{eid}/discharge")
        if role_allows(username, "episode.manage") and state.relationship != "none":
            expected = 200 if sees else 404
            if episode_page.status_code != expected:
                failures.append(f"{state}: discharge form {episode_page.status_code}")
    # The list of everyone the user cares for holds exactly the readable patients.
    rows = client.get("/api/v1/home-ward?scope=team")
    if role_allows(username, "patient.read"):
        with database.session() as s:
            subject = subject_for(s, s.get(Staff, world.staff[username]))
            allowed = set(s.scalars(accessible_patients(subject)))
        listed = {uuid.UUID(r["patient_id"]) for r in rows.json()}
        # Every scenario patient has an active episode: listed exactly when readable.
        assert listed == allowed
        for row in rows.json():
            state_hidden = not row["visible"]
            assert state_hidden == (row["state"] is None)
    else:
        assert rows.status_code == 403
    assert not failures, "\n".join(failures)
