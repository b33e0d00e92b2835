"""Every operation of /api/openapi.json, fuzzed by schemathesis as a user allowed to use it:
no input may give a server error (5xx), and the JSON API's answers match what it documents.

Each operation gets a fresh database with the `world` and a realistic day around one admitted
patient of the home ward (an open alert, consent, a block, a relative, a care request accepted
by Hemsjukvården with visits today, shifts, a login code), so that most generated requests
carry ids that exist and reach the code behind the access check rather than stopping at 404.
The number of examples is bounded (HEMMA_FUZZ_EXAMPLES, default below) so that the test
stays within minutes on a small machine; set it higher to search harder."""

from __future__ import annotations

import functools
import hashlib
import os
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta

import pytest
import schemathesis
from fastapi.routing import APIRoute
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance
from sqlalchemy import select

from hemma.access.auth import create_api_token, create_patient_code, patient_login, start_session
from hemma.access.policy import Action
from hemma.access.service import subject_for
from hemma.app import create_app
from hemma.config import Settings
from hemma.kit.time import at_local, local_today, utcnow
from hemma.models import (
    CareRelation,
    Relative,
    Staff,
    StaffShift,
    Unit,
    Visit,
    WebSession,
)
from hemma.web.deps import (
    PATIENT_SESSION_COOKIE,
    SESSION_COOKIE,
    PatientOwnPage,
    Public,
    access_declarations,
    api_routes,
)
from tests.factories import World

EXAMPLES = int(os.environ.get("HEMMA_FUZZ_EXAMPLES", "12"))


# The document and the routes do not depend on the database: read them once, from an app
# that is never started.
_APP = create_app(Settings(database_url="sqlite://", secret_key="openapi-only-" + "x" * 32))
ROUTES: dict[tuple[str, str], APIRoute] = {
    (method, route.path): route for route in api_routes(_APP) for method in route.methods}


# Values at the edges of what the database, the clock and the parsers hold, mixed into every
# integer, number and string schemathesis draws: ids beyond 32 and 64 bits, days and times
# without a UTC equivalent, text PostgreSQL refuses (NUL). A fixed seed: the same requests on
# every run (HEMMA_FUZZ_SEED to look elsewhere).
CONFIG = schemathesis.Config.from_dict({
    "seed": int(os.environ.get("HEMMA_FUZZ_SEED", "20261203")),
    "max-stream-events": 4,
    "dictionaries": {
        "integers": {"values": [0, -1, 2**31 - 1, 2**31, 2**63 - 1, 2**63, -(2**63) - 1,
                                10**30]},
        "numbers": {"values": [1e9, -1e9, 1e308, 2**63, 0.1]},
        "strings": {"values": ["\x00", "a\x00b", "0001-01-01", "9999-12-31",
                               "0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00",
                               "2147483648", "9223372036854775808", "1e9", "NaN", "\u202e"]},
    },
    "generation": {"dictionaries": {
        "integer": {"dictionary": "integers", "probability": 0.1},
        "number": {"dictionary": "numbers", "probability": 0.1},
        "string": {"dictionary": "strings", "probability": 0.1},
    }},
})
schema = schemathesis.openapi.from_dict(_APP.openapi(), config=CONFIG)


@dataclass(eq=False)
class FuzzWorld:
    """Real ids to put in generated requests, and the credentials of who sends them (made
    when first needed: an operation has one user)."""

    world: World
    ids: dict[str, list] = field(default_factory=dict)
    patient_id: uuid.UUID | None = None

    @functools.cache  # noqa: B019 (one FuzzWorld per test)
    def token(self, who: str) -> str:
        with self.world.database.session() as s:
            return create_api_token(s, s.get(Staff, self.world.staff[who]), "schemathesis")

    @functools.cache  # noqa: B019
    def session(self, who: str) -> tuple[str, str]:
        """A signed-in browser: the session cookie and its CSRF token."""
        with self.world.database.session() as s:
            staff = s.get(Staff, self.world.staff[who])
            cookie = start_session(s, staff, "password", client_addr="testclient", user_agent="t")
            s.flush()
            csrf = s.scalar(select(WebSession.csrf_token).where(
                WebSession.id == hashlib.sha256(cookie.encode()).hexdigest()))
        return cookie, csrf

    @functools.cache  # noqa: B019
    def patient_session(self) -> str:
        """The patient's own phone, logged in with a code."""
        with self.world.database.session() as s:
            code, _row = create_patient_code(s, self.patient_id, self.world.staff["sara"])
            cookie, _ = patient_login(s, code, client_addr="testclient", user_agent="t")
        return cookie


def _build(world, database) -> FuzzWorld:
    from hemma.planning import service as planning
    from hemma.planning.schemas import CareRequestCreate, CareRequestDecision

    pid = world.patient(unit="med")
    eid = world.episode(pid, state="admitted")
    aid = world.alert(pid)
    consent = world.consent(pid, "kommun")
    block = world.block(pid, "hc")
    code = world.code(pid)  # a second code: the one below logs the patient in
    today = local_today()
    with database.session() as s:
        relation = s.scalar(select(CareRelation.id).where(CareRelation.patient_id == pid))
        relative = Relative(patient_id=pid, name="Karin Patientsson", relation="dotter",
                            phone="070-111 22 33", documented_by_unit_id=world.units["med"],
                            created_at=utcnow())
        s.add(relative)
        unit = s.get(Unit, world.units["hsv"])
        unit.latitude, unit.longitude = 64.59, 18.67
        s.get(Staff, world.staff["kim"]).skills = ["iv"]
        s.flush()
        relative_id = relative.id
    with database.session() as s:
        sara = subject_for(s, s.get(Staff, world.staff["sara"]))
        request = planning.request_care(s, sara, pid, CareRequestCreate(
            to_unit_id=world.units["hsv"], kind="iv_antibiotic", times=["08:00", "14:00", "20:00"],
            tolerance_minutes=60, first_date=today, last_date=today + timedelta(days=2),
            duration_minutes=30, skills=["iv"], sharing="consent"))
        request_id = request.id
    with database.session() as s:
        kim = subject_for(s, s.get(Staff, world.staff["kim"]))
        planning.decide(s, kim, pid, request_id, CareRequestDecision(accept=True))
    shifts = []
    with database.session() as s:
        for who in ("kim", "mona"):
            shift = StaffShift(staff_id=world.staff[who], unit_id=world.units["hsv"], day=today,
                               starts_at=at_local(today, "07:00"), ends_at=at_local(today, "22:00"),
                               start_latitude=64.59, start_longitude=18.67, end_latitude=64.59,
                               end_longitude=18.67, breaks=[])
            s.add(shift)
            s.flush()
            shifts.append(shift.id)
        visits = list(s.scalars(select(Visit.id).where(Visit.patient_id == pid)))
    with database.session() as s:
        # The road home: the checklist and homecoming call, a treatment given by the ward.
        from hemma.logistics import service as logistics
        from hemma.logistics.schemas import ChecklistItemCreate
        from hemma.models import ChecklistItem, Task
        from hemma.treatments import service as treatments
        from hemma.treatments.schemas import OrderCreate

        sara = subject_for(s, s.get(Staff, world.staff["sara"]))
        logistics.add_item(s, sara, pid, eid, ChecklistItemCreate(
            category="key", what="Nyckelgömma", provider_unit_id=world.units["hsv"],
            due_at=utcnow() + timedelta(hours=6)))
        s.add(Task(patient_id=pid, episode_id=eid, kind="homecoming_call", title="Hemkomstsamtal",
                   unit_id=world.units["med"], due_at=utcnow() + timedelta(hours=8),
                   questions=[{"key": "arrived_well", "text": "Kom du hem utan problem?"}],
                   answers={}, documented_by_unit_id=world.units["med"], created_at=utcnow(),
                   created_by_id=world.staff["sara"]))
        s.flush()
        order = treatments.order_treatment(
            s, subject_for(s, s.get(Staff, world.staff["lisa"])), pid, eid, OrderCreate(
                drug="Ceftriaxon", atc_code="J01DD04", dose="2 g", route="iv",
                times=["00:00", "12:00"], starts_on=today, stops_on=today + timedelta(days=2),
                giving_unit_id=world.units["med"]))
        road_home = {"item_id": list(s.scalars(select(ChecklistItem.id)
                                               .where(ChecklistItem.episode_id == eid))),
                     "task_id": list(s.scalars(select(Task.id).where(Task.episode_id == eid))),
                     "order_id": [order.id]}
    # The shared plan: an activity of the region's (the fuzzed user's own organisation).
    from tests.access.test_matrix import _activity

    road_home["activity_id"] = [_activity(type("S", (), {"world": world,
                                                         "database": database})(), pid)]
    road_home["version"] = [1]
    # A message of the patient to the home ward, with a photo.
    from tests.access.test_matrix import message_in_thread

    messages = message_in_thread(database, world, pid)
    road_home["thread_id"] = [messages["thread_id"]]
    road_home["message_id"] = [messages["message_id"]]
    world.assessed(pid, eid)
    fw = FuzzWorld(world, patient_id=pid)
    fw.ids = {
        "patient_id": [pid], "episode_id": [eid], "alert_id": [aid], "consent_id": [consent],
        "block_id": [block], "code_id": [code], "relation_id": [relation],
        "relative_id": [relative_id], "request_id": [request_id], "visit_id": visits,
        "shift_id": shifts, "unit_id": list(world.units.values()),
        "staff_id": list(world.staff.values()), "organisation_id": list(world.orgs.values()),
        "pathway_id": list(world.pathways.values()), "day": [today],
        "to_unit_id": [world.units["hsv"]], "responsible_physician_id": [world.staff["lisa"]],
        "responsible_unit_id": [world.units["med"]], **road_home,
    }
    return fw


PLANNING_ACTIONS = {Action.VISIT_PLAN, Action.VISIT}


def _who(route: APIRoute) -> str | None:
    """The user allowed to use the operation: None for public routes, "patient" for the
    patient's own page, else a staff member whose role permits the declared action."""
    (declaration,) = access_declarations(route)
    if isinstance(declaration, Public):
        return None
    if isinstance(declaration, PatientOwnPage):
        return "patient"
    action = declaration.action
    if action in (Action.PLAN, Action.ROUND):
        return "lisa"  # physicians prescribe the monitoring plan and take the round
    if action == Action.ADMIN:
        return "adam"
    if action == Action.PATHWAY:
        return "lisa"  # the medical lead
    if route.path.endswith(("/decision", "/sign")) and route.endpoint.__module__.startswith(
            ("hemma.assessments", "hemma.summaries")):
        return "lisa"  # a physician decides on admission and signs the summary
    if action == Action.LOG_REVIEW:
        return "rita"
    module = route.endpoint.__module__
    if module.startswith("hemma.planning") and (
            action in PLANNING_ACTIONS or "decision" in route.path
            or not route.path.startswith(("/patients", "/api/v1/patients"))):
        return "kim"  # Hemsjukvården plans and makes the visits, and answers the request
    return "sara"


def _well_formed(sample, value) -> bool:
    """Whether a generated value could name a real row (else it tests the 4xx: kept)."""
    if isinstance(sample, int):
        return isinstance(value, int) and not isinstance(value, bool) and 1 <= value < 2**31
    if not isinstance(value, str):
        return False
    try:
        if isinstance(sample, uuid.UUID):
            uuid.UUID(value)
            return True
        return 1900 <= date.fromisoformat(value).year <= 2199  # a day
    except ValueError:
        return False


def _pick(name: str, generated, fw: FuzzWorld, salt: str):
    """A real id in most requests, the generated one otherwise. The choice is a hash of the
    whole request, so that a failing example replays the same. Patients are always real: the
    access check would stop a random one before anything else is read."""
    real = fw.ids.get(name)
    if not real or not _well_formed(real[0], generated):
        return generated
    digest = hashlib.sha256(f"{salt}|{name}|{generated!r}".encode()).digest()
    if name != "patient_id" and digest[0] % 4 == 0:
        return generated
    choice = real[digest[1] % len(real)]
    return choice if isinstance(choice, int) else str(choice)


def _with_real_ids(case, fw: FuzzWorld) -> None:
    salt = repr((case.method, case.path, case.path_parameters, case.query, case.body))
    for container in (case.path_parameters, case.query, case.body):
        if isinstance(container, dict):
            for name in list(container):
                container[name] = _pick(name, container[name], fw, salt)


@pytest.fixture
def fuzz_world(world, database) -> FuzzWorld:
    return _build(world, database)


@pytest.fixture
def fuzz_app(app):
    yield app
    from schemathesis.python.asgi import shutdown_lifespans

    shutdown_lifespans()


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_no_server_errors(case, fuzz_app, fuzz_world):
    route = ROUTES[(case.operation.method.upper(), case.path)]
    who = _who(route)
    _with_real_ids(case, fuzz_world)
    if case.path in ("/alerts/stream", "/board/stream"):
        # An open stream waits for events; `once` answers what is there and closes, after the
        # same parsing and the same first read.
        case.query = {**(case.query or {}), "once": True}
    headers, cookies = {}, {}
    if who == "patient":
        cookies[PATIENT_SESSION_COOKIE] = fuzz_world.patient_session()
    elif who is not None and case.path.startswith("/api/"):
        headers["Authorization"] = f"Bearer {fuzz_world.token(who)}"
    elif who is not None:
        cookie, csrf = fuzz_world.session(who)
        cookies[SESSION_COOKIE] = cookie
        headers["X-CSRF-Token"] = csrf
    response = case.call(app=fuzz_app, base_url="https://testserver", headers=headers,
                         cookies=cookies)
    checks = [not_a_server_error]
    if case.path.startswith("/api/"):
        checks.append(response_schema_conformance)
    case.validate_response(response, checks=checks)
