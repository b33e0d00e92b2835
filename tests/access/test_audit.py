"""The access log: every route that touches patient data writes exactly one entry per
patient, with every field; lists log every patient shown; the application cannot change the
log, and `hemma audit verify` notices anyone who does."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from hemma.access import audit
from hemma.cli import main as cli
from hemma.config import configure
from hemma.jobs.worker import Worker
from hemma.kit.time import at_local, local_today, utcnow
from hemma.models import AuditEntry, AuditHead
from hemma.web.deps import PatientAccess, access_declarations, api_routes
from tests.conftest import BACKEND
from tests.factories import PEOPLE

# (method, path, the episode state the patient needs, body). Bodies are valid: each call
# succeeds, so each must log.
EXAMPLES = [
    ("GET", "/patients/{patient_id}", "admitted", None),
    ("GET", "/patients/{patient_id}/edit", None, None),
    ("POST", "/patients/{patient_id}/edit", None,
     {"given_name": "Gunnel", "family_name": "Lind", "language": "sv",
      "digital_ability": "none", "phone": "070-174 06 10"}),
    ("POST", "/patients/{patient_id}/position", None, {"method": "lookup"}),
    ("POST", "/patients/{patient_id}/relatives", None, {"name": "Mats", "relation": "son"}),
    ("POST", "/patients/{patient_id}/relatives/{relative_id}/remove", None, {}),
    ("POST", "/patients/{patient_id}/relatives/{relative_id}/shares", None,
     {"shares": ["messages", "visits"]}),
    ("POST", "/patients/{patient_id}/relatives/{relative_id}/access-codes", "admitted", {}),
    ("GET", "/patients/{patient_id}/episodes/new", None, None),
    ("POST", "/patients/{patient_id}/episodes/new", None,
     lambda w: {"pathway_id": w.pathways["opat"], "responsible_unit_id": w.units["med"]}),
    ("GET", "/patients/{patient_id}/episodes/{episode_id}/assessment", "assessing", None),
    ("GET", "/patients/{patient_id}/episodes/{episode_id}/assessment/versions/{version}",
     "assessing", None),
    ("POST", "/patients/{patient_id}/episodes/{episode_id}/assessment", "assessing",
     {"adl.status": "met", "information.consent_home": "true"}),
    ("POST", "/patients/{patient_id}/episodes/{episode_id}/assessment/decision", "undecided",
     ("lisa", {"decision": "admit", "version": "1"})),
    ("GET", "/api/v1/patients/{patient_id}/episodes/{episode_id}/assessments", "assessing",
     None),
    ("POST", "/api/v1/patients/{patient_id}/episodes/{episode_id}/assessments", "assessing",
     {"adl": {"status": "met"}}),
    ("POST", "/api/v1/patients/{patient_id}/episodes/{episode_id}/assessments/decision",
     "undecided", ("lisa", {"decision": "not_admit", "version": 1, "reason": "Vill inte."})),
    ("GET", "/patients/{patient_id}/episodes/{episode_id}/careplan", "admitted", None),
    ("GET", "/patients/{patient_id}/episodes/{episode_id}/careplan/versions", "admitted", None),
    ("POST", "/patients/{patient_id}/episodes/{episode_id}/careplan/goals", "admitted",
     ("carl", {"goals": "Klara mig själv hemma"})),
    ("POST", "/patients/{patient_id}/episodes/{episode_id}/careplan/activities", "admitted",
     lambda w: {"unit_id": w.units["med"], "what": "Videobesök", "kind": "ongoing",
                "starts_on": local_today().isoformat()}),
    ("POST", "/patients/{patient_id}/episodes/{episode_id}/careplan/activities/{activity_id}/status",
     "admitted", {"status": "done"}),
    ("POST", "/patients/{patient_id}/episodes/{episode_id}/careplan/sip/start", "admitted", {}),
    ("POST", "/patients/{patient_id}/episodes/{episode_id}/careplan/sip", "sip",
     {"participants": "Patienten"}),
    ("GET", "/api/v1/patients/{patient_id}/episodes/{episode_id}/careplan", "admitted", None),
    ("PUT", "/api/v1/patients/{patient_id}/episodes/{episode_id}/careplan/goals", "admitted",
     ("carl", {"goals": "Klara mig själv hemma"})),
    ("POST", "/api/v1/patients/{patient_id}/episodes/{episode_id}/careplan/activities",
     "admitted", lambda w: {"unit_id": w.units["med"], "what": "Videobesök", "kind": "ongoing",
                            "starts_on": local_today().isoformat()}),
    ("POST",
     "/api/v1/patients/{patient_id}/episodes/{episode_id}/careplan/activities/{activity_id}/status",
     "admitted", {"status": "done"}),
    ("POST", "/api/v1/patients/{patient_id}/episodes/{episode_id}/careplan/sip/start",
     "admitted", {}),
    ("PUT", "/api/v1/patients/{patient_id}/episodes/{episode_id}/careplan/sip", "sip",
     {"participants": ["Patienten"]}),
    ("GET", "/patients/{patient_id}/episodes/{episode_id}/summary", "discharged", None),
    ("POST", "/patients/{patient_id}/episodes/{episode_id}/summary/draft", "discharged", {}),
    ("POST", "/patients/{patient_id}/episodes/{episode_id}/summary", "summary",
     {"text": "Klar", "next_steps": "Hälsocentralen ringer"}),
    ("POST", "/patients/{patient_id}/episodes/{episode_id}/summary/sign", "summary",
     ("lisa", lambda w: {"receivers": str(w.units["hc"])})),
    ("POST", "/patients/{patient_id}/episodes/{episode_id}/summary/acknowledge", "summary_sent",
     ("hugo", {})),
    ("GET", "/patients/{patient_id}/episodes/{episode_id}/summary.pdf", "summary", None),
    ("GET", "/api/v1/patients/{patient_id}/episodes/{episode_id}/summary", "summary", None),
    ("POST", "/api/v1/patients/{patient_id}/episodes/{episode_id}/summary", "discharged", {}),
    ("PUT", "/api/v1/patients/{patient_id}/episodes/{episode_id}/summary", "summary",
     {"text": "Klar"}),
    ("POST", "/api/v1/patients/{patient_id}/episodes/{episode_id}/summary/sign", "summary",
     ("lisa", lambda w: {"receivers": [w.units["hc"]]})),
    ("POST", "/api/v1/patients/{patient_id}/episodes/{episode_id}/summary/acknowledge",
     "summary_sent", ("hugo", {})),
    ("GET", "/patients/{patient_id}/episodes/{episode_id}/admit", "assessing", None),
    ("POST", "/patients/{patient_id}/episodes/{episode_id}/admit", "assessing",
     lambda w: {"responsible_physician_id": w.staff["lisa"]}),
    ("GET", "/patients/{patient_id}/episodes/{episode_id}/discharge", "admitted", None),
    ("POST", "/patients/{patient_id}/episodes/{episode_id}/discharge", "admitted",
     {"note": "Klar.", "outcome": "completed"}),
    ("GET", "/patients/{patient_id}/episodes/{episode_id}/return", "admitted", None),
    ("POST", "/patients/{patient_id}/episodes/{episode_id}/return", "admitted",
     {"note": "Sämre.", "reason": "deterioration", "ambulance_informed": "true"}),
    ("GET", "/patients/{patient_id}/episodes/{episode_id}/close", "assessing", None),
    ("POST", "/patients/{patient_id}/episodes/{episode_id}/close", "assessing",
     {"note": "Vill inte."}),
    ("GET", "/patients/{patient_id}/team", "admitted", None),
    ("POST", "/patients/{patient_id}/team", None, lambda w: {"unit_id": w.units["hc"]}),
    ("POST", "/patients/{patient_id}/team/{relation_id}/end", None, {}),
    ("POST", "/patients/{patient_id}/consents", None,
     lambda w: {"organisation_id": w.orgs["region"]}),
    ("POST", "/patients/{patient_id}/consents/{consent_id}/withdraw", None, {}),
    ("POST", "/patients/{patient_id}/blocks", None, lambda w: {"unit_id": w.units["med"]}),
    ("POST", "/patients/{patient_id}/blocks/{block_id}/lift", None, {}),
    ("GET", "/api/v1/patients/{patient_id}", None, None),
    ("PUT", "/api/v1/patients/{patient_id}", None,
     {"given_name": "Gunnel", "family_name": "Lind", "language": "sv"}),
    ("POST", "/api/v1/patients/{patient_id}/position", None,
     {"method": "device", "latitude": 64.6, "longitude": 18.7, "accuracy_m": 9}),
    ("POST", "/api/v1/patients/{patient_id}/relatives", None, {"name": "Mats", "relation": "son"}),
    ("DELETE", "/api/v1/patients/{patient_id}/relatives/{relative_id}", None, None),
    ("PUT", "/api/v1/patients/{patient_id}/relatives/{relative_id}/shares", None,
     {"shares": ["agreement"]}),
    ("GET", "/api/v1/patients/{patient_id}/episodes", "admitted", None),
    ("POST", "/api/v1/patients/{patient_id}/episodes", None,
     lambda w: {"pathway_id": w.pathways["opat"]}),
    ("POST", "/api/v1/patients/{patient_id}/episodes/{episode_id}/admit", "assessing",
     lambda w: {"responsible_physician_id": w.staff["lisa"], "coordinator_id": w.staff["kim"],
                "sharing": "consent"}),
    ("POST", "/api/v1/patients/{patient_id}/episodes/{episode_id}/discharge", "admitted",
     {"note": "Klar.", "outcome": "completed"}),
    ("POST", "/api/v1/patients/{patient_id}/episodes/{episode_id}/return", "admitted",
     {"note": "Sämre.", "reason": "deterioration"}),
    ("POST", "/api/v1/patients/{patient_id}/episodes/{episode_id}/close", "assessing",
     {"note": "Vill inte."}),
    ("GET", "/api/v1/patients/{patient_id}/care-team", "admitted", None),
    ("POST", "/api/v1/patients/{patient_id}/care-team", None,
     lambda w: {"staff_id": w.staff["kim"], "role": "Fast vårdkontakt", "sharing": "consent"}),
    ("POST", "/api/v1/patients/{patient_id}/care-team/{relation_id}/end", None, None),
    ("GET", "/api/v1/patients/{patient_id}/consents", None, None),
    ("POST", "/api/v1/patients/{patient_id}/consents", None,
     lambda w: {"organisation_id": w.orgs["region"], "method": "written"}),
    ("POST", "/api/v1/patients/{patient_id}/consents/{consent_id}/withdraw", None, None),
    ("POST", "/api/v1/patients/{patient_id}/blocks", None,
     lambda w: {"unit_id": w.units["med"]}),
    ("POST", "/api/v1/patients/{patient_id}/blocks/{block_id}/lift", None, None),
    # Monitoring and rounds (Step 2).
    ("GET", "/patients/{patient_id}/observations/new", "admitted", None),
    ("POST", "/patients/{patient_id}/observations/new", "admitted",
     {"client_id": "staff-form-0001", "pulse": "82", "temperature": "37.8"}),
    ("GET", "/patients/{patient_id}/observations", "admitted", None),
    ("GET", "/patients/{patient_id}/charts/vitals.svg", "admitted", None),
    ("GET", "/patients/{patient_id}/plan", "admitted", "lisa"),
    ("POST", "/patients/{patient_id}/plan", "admitted",
     ("lisa", {"spo2_scale": "2", "schedule": "08:00, 20:00"})),
    ("POST", "/patients/{patient_id}/access-codes", "admitted", {}),
    ("POST", "/patients/{patient_id}/access-codes/{code_id}/revoke", "admitted", {}),
    ("POST", "/patients/{patient_id}/alerts/{alert_id}/acknowledge", "admitted", {}),
    ("POST", "/patients/{patient_id}/alerts/{alert_id}/snooze", "admitted",
     {"reason": "Ringer upp patienten", "minutes": "20"}),
    ("POST", "/patients/{patient_id}/alerts/{alert_id}/resolve", "admitted",
     {"note": "Ringt, mår bra"}),
    ("GET", "/patients/{patient_id}/round", "admitted", "lisa"),
    ("POST", "/patients/{patient_id}/round", "admitted",
     ("lisa", {"decision": "continue", "note": "Stabil, fortsätt"})),
    ("POST", "/api/v1/patients/{patient_id}/observations", "admitted",
     lambda w: {"client_id": "api-0000-0001", "measured_at": utcnow().isoformat(),
                "pulse": 120, "respiration_rate": 24}),
    ("GET", "/api/v1/patients/{patient_id}/observations", "admitted", None),
    ("POST", "/api/v1/patients/{patient_id}/alerts/{alert_id}/acknowledge", "admitted", {}),
    ("POST", "/api/v1/patients/{patient_id}/alerts/{alert_id}/snooze", "admitted",
     {"reason": "Ringer upp", "minutes": 30}),
    ("POST", "/api/v1/patients/{patient_id}/alerts/{alert_id}/resolve", "admitted",
     {"note": "Ringt, mår bra"}),
    ("GET", "/api/v1/patients/{patient_id}/monitoring-plan", "admitted", None),
    ("PUT", "/api/v1/patients/{patient_id}/monitoring-plan", "admitted",
     ("lisa", {"spo2_scale": 2, "schedule": ["08:00", "20:00"]})),
    ("POST", "/api/v1/patients/{patient_id}/round", "admitted",
     ("lisa", {"decision": "continue", "note": "Stabil"})),
    # Care requests and visits (Step 3).
    ("GET", "/patients/{patient_id}/care-requests", None, None),
    ("POST", "/patients/{patient_id}/care-requests", None, lambda w: _care_request(w, "08:00")),
    ("POST", "/patients/{patient_id}/care-requests/{request_id}/decision", None,
     {"accept": "true"}),
    ("POST", "/patients/{patient_id}/visits/{visit_id}/report", None, {"status": "started"}),
    ("GET", "/api/v1/patients/{patient_id}/care-requests", None, None),
    ("POST", "/api/v1/patients/{patient_id}/care-requests", None,
     lambda w: _care_request(w, ["08:00", "20:00"])),
    ("POST", "/api/v1/patients/{patient_id}/care-requests/{request_id}/decision", None,
     {"accept": False, "reason": "Ingen kapacitet den veckan"}),
    ("POST", "/api/v1/patients/{patient_id}/visits/{visit_id}/report", None,
     {"status": "not_done", "reason_code": "patient_not_home", "reason": "Ingen hemma"}),
    # The agreement with the patient.
    ("GET", "/patients/{patient_id}/episodes/{episode_id}/agreement", "admitted", None),
    ("POST", "/patients/{patient_id}/episodes/{episode_id}/agreement", "admitted",
     {"symptom_0": "Feber", "action_0": "call_team", "planned_days": "7",
      "end_criteria": "Klar", "change_note": "Kortare"}),
    ("POST", "/patients/{patient_id}/episodes/{episode_id}/agreement/draft", "assessing", {}),
    ("POST", "/patients/{patient_id}/episodes/{episode_id}/agreement/confirm-paper", "admitted",
     {"version": "1"}),
    ("GET", "/patients/{patient_id}/episodes/{episode_id}/agreement/versions/{version}",
     "admitted", None),
    ("GET", "/patients/{patient_id}/episodes/{episode_id}/agreement/print", "admitted", None),
    ("GET", "/patients/{patient_id}/episodes/{episode_id}/agreement.pdf", "admitted", None),
    ("GET", "/api/v1/patients/{patient_id}/episodes/{episode_id}/agreement", "admitted", None),
    ("POST", "/api/v1/patients/{patient_id}/episodes/{episode_id}/agreement", "admitted",
     {"content": {"if_worse": [{"symptom": "Feber", "action": "call_112"}], "planned_days": 7,
                  "end_criteria": "Klar"}, "change_note": "Kortare"}),
    ("POST", "/api/v1/patients/{patient_id}/episodes/{episode_id}/agreement/paper-confirmation",
     "admitted", {"version": 1}),
    # The road home: the logistics checklist, the homecoming call, treatments given at home.
    ("GET", "/patients/{patient_id}/episodes/{episode_id}/logistics", "admitted", None),
    ("POST", "/patients/{patient_id}/episodes/{episode_id}/checklist", "assessing",
     {"homecoming_at": "2031-03-10T14:00"}),
    ("POST", "/patients/{patient_id}/episodes/{episode_id}/checklist/items", "admitted",
     lambda w: {"category": "aids", "what": "Rullator", "provider_unit_id": w.units["med"],
                "due_at": "2031-03-10T10:00"}),
    ("POST", "/patients/{patient_id}/checklist/{item_id}/done", "admitted", {}),
    ("POST", "/patients/{patient_id}/checklist/{item_id}/remove", "admitted", {}),
    ("GET", "/patients/{patient_id}/tasks/{task_id}/call", "admitted", None),
    ("POST", "/patients/{patient_id}/tasks/{task_id}/call", "admitted",
     {"answers.arrived_well.answer": "yes", "answers.arrived_well.note": "Allt väl"}),
    ("GET", "/api/v1/patients/{patient_id}/episodes/{episode_id}/logistics", "admitted", None),
    ("POST", "/api/v1/patients/{patient_id}/episodes/{episode_id}/checklist", "assessing",
     {"homecoming_at": "2031-03-10T14:00:00+01:00"}),
    ("POST", "/api/v1/patients/{patient_id}/episodes/{episode_id}/checklist/items", "admitted",
     lambda w: {"category": "key", "what": "Nyckelgömma", "provider_unit_id": w.units["hsv"],
                "due_at": "2031-03-10T10:00:00+01:00"}),
    ("POST", "/api/v1/patients/{patient_id}/checklist/{item_id}/done", "admitted", {}),
    ("DELETE", "/api/v1/patients/{patient_id}/checklist/{item_id}", "admitted", None),
    ("POST", "/api/v1/patients/{patient_id}/tasks/{task_id}/answers", "admitted",
     {"answers": {"arrived_well": {"answer": "yes"}}, "done": True}),
    # Coordination: tasks and hand-overs.
    ("GET", "/patients/{patient_id}/tasks", "admitted", None),
    ("POST", "/patients/{patient_id}/tasks", "admitted",
     lambda w: {"title": "Ta prover", "unit_id": w.units["med"], "due_at": "2031-03-10T10:00"}),
    ("POST", "/patients/{patient_id}/tasks/{task_id}/done", "task_open", {}),
    ("POST", "/patients/{patient_id}/tasks/{task_id}/undo", "task_done", {"reason": "Fel"}),
    ("GET", "/api/v1/patients/{patient_id}/tasks", "admitted", None),
    ("POST", "/api/v1/patients/{patient_id}/tasks", "admitted",
     lambda w: {"title": "Ring", "unit_id": w.units["med"],
                "due_at": "2031-03-10T10:00:00+01:00", "priority": "high"}),
    ("POST", "/api/v1/patients/{patient_id}/tasks/{task_id}/done", "task_open", None),
    ("POST", "/api/v1/patients/{patient_id}/tasks/{task_id}/undo", "task_done",
     {"reason": "Inte klart"}),
    ("GET", "/patients/{patient_id}/handovers", "admitted", None),
    ("POST", "/patients/{patient_id}/handovers", "task_open",
     lambda w: {"to_unit_id": w.units["hsv"], "situation": "S", "background": "B",
                "assessment": "A", "recommendation": "R"}),
    ("POST", "/patients/{patient_id}/handovers/{handover_id}/receive", "handover", {}),
    ("GET", "/api/v1/patients/{patient_id}/handovers", "admitted", None),
    ("POST", "/api/v1/patients/{patient_id}/handovers", "task_open",
     lambda w: {"to_unit_id": w.units["med"], "situation": "S", "background": "B",
                "assessment": "A", "recommendation": "R"}),
    ("POST", "/api/v1/patients/{patient_id}/handovers/{handover_id}/receive", "handover", None),
    ("GET", "/patients/{patient_id}/episodes/{episode_id}/treatments", "admitted", None),
    ("POST", "/patients/{patient_id}/episodes/{episode_id}/treatments", "admitted",
     ("lisa", lambda w: _treatment(w, "08:00"))),
    ("POST", "/patients/{patient_id}/treatments/{order_id}/stop", "admitted", ("lisa", {})),
    ("POST", "/patients/{patient_id}/treatments/{order_id}/doses", "admitted",
     lambda w: {"planned_at": at_local(local_today(), "00:00").isoformat(), "given": "true"}),
    ("GET", "/api/v1/patients/{patient_id}/episodes/{episode_id}/treatments", "admitted", None),
    ("POST", "/api/v1/patients/{patient_id}/episodes/{episode_id}/treatments", "admitted",
     ("lisa", lambda w: _treatment(w, ["08:00", "20:00"]))),
    ("POST", "/api/v1/patients/{patient_id}/treatments/{order_id}/stop", "admitted",
     ("lisa", None)),
    ("POST", "/api/v1/patients/{patient_id}/treatments/{order_id}/doses", "admitted",
     lambda w: {"planned_at": at_local(local_today(), "00:00").isoformat(), "given": False,
                "reason": "Patienten var inte hemma"}),
    # Messages: the patient's thread with the home ward (a message with a photo, unread),
    # and between staff.
    ("GET", "/patients/{patient_id}/messages", "admitted", None),
    ("POST", "/patients/{patient_id}/messages", "admitted", {"body": "Vi ringer dig strax."}),
    ("GET", "/patients/{patient_id}/messages/{message_id}/photo", "admitted", None),
    ("GET", "/api/v1/patients/{patient_id}/messages", "admitted", None),
    ("GET", "/api/v1/patients/{patient_id}/messages/{thread_id}", "admitted", None),
    ("POST", "/api/v1/patients/{patient_id}/messages", "admitted",
     {"body": "Förbandet byts i kväll", "to": "staff"}),
    ("POST", "/api/v1/patients/{patient_id}/messages/{thread_id}/read", "admitted", {}),
    # The patient's experience of the stay (PREM), typed in from paper.
    ("GET", "/patients/{patient_id}/episodes/{episode_id}/prem", "discharged", None),
    ("POST", "/patients/{patient_id}/episodes/{episode_id}/prem", "discharged",
     lambda w: {"answered_on": local_today().isoformat(), "answers.safe": "5"}),
    ("GET", "/api/v1/patients/{patient_id}/episodes/{episode_id}/prem", "discharged", None),
    ("POST", "/api/v1/patients/{patient_id}/episodes/{episode_id}/prem", "discharged",
     lambda w: {"answers": {"safe": 4, "again": 5}, "answered_on": local_today().isoformat()}),
]


def _treatment(w, times) -> dict:
    return {"drug": "Ceftriaxon", "atc_code": "J01DD04", "dose": "2 g", "route": "iv",
            "times": times, "starts_on": local_today().isoformat(),
            "stops_on": (local_today() + timedelta(days=4)).isoformat(),
            "giving_unit_id": w.units["med"]}


def _care_request(w, times) -> dict:
    first = local_today() + timedelta(days=1)
    return {"to_unit_id": w.units["hsv"], "kind": "iv_antibiotic", "times": times,
            "first_date": first.isoformat(), "last_date": (first + timedelta(days=2)).isoformat(),
            "duration_minutes": 30, "sharing": "consent"}


def test_every_patient_route_has_an_example(app):
    routes = {
        (method, route.path)
        for route in api_routes(app)
        if isinstance(access_declarations(route)[0], PatientAccess)
        for method in route.methods - {"HEAD"}
    }
    assert routes == {(m, p) for m, p, _s, _b in EXAMPLES}


_FACTS = {"pathway": "OPAT", "reason": "", "admitted": "", "ended": "", "days_at_home": 3,
          "end_note": "", "criteria_override": False, "trends": [], "news2_max": None,
          "news2_last": None, "hidden_values": 0, "alerts": [], "rounds": [], "treatments": [],
          "hidden_treatments": 0, "continuing": [], "hidden_activities": 0, "follow_ups": []}


def _prepare(world, state):
    pid = world.patient(unit="med")
    ids = {"patient_id": pid}
    if state in ("task_open", "task_done", "handover"):
        ids["episode_id"] = world.episode(pid, state="admitted")
        world.relation(pid, unit="hsv")
    elif state == "undecided":  # assessed, waiting for the physician's decision
        ids["episode_id"] = world.episode(pid, state="assessing", assessed=False,
                                          pathway="snabbspar")
        world.assessed(pid, ids["episode_id"], decision=None)
    elif state == "sip":  # admitted, the need of the municipality recorded
        ids["episode_id"] = world.episode(pid, state="admitted", pathway="snabbspar")
        from hemma.kit import time as clock
        from hemma.models import SipMeeting

        with world.database.session() as s:
            s.add(SipMeeting(episode_id=ids["episode_id"], patient_id=pid,
                             needed_from=clock.utcnow() - timedelta(hours=1), participants=[],
                             documented_by_unit_id=world.units["med"],
                             updated_at=clock.utcnow(), updated_by_id=world.staff["sara"]))
    elif state in ("summary", "summary_sent"):  # discharged, the summary drafted (and sent)
        ids["episode_id"] = world.episode(pid, state="discharged", pathway="snabbspar")
        from hemma.kit import time as clock
        from hemma.models import CareRelation, DischargeSummary, SummaryReceipt

        with world.database.session() as s:
            now = clock.utcnow()
            summary = DischargeSummary(
                episode_id=ids["episode_id"], patient_id=pid, facts=_FACTS, text="Klar.",
                documented_by_unit_id=world.units["med"], created_at=now,
                created_by_id=world.staff["sara"], updated_at=now)
            s.add(summary)
            s.flush()
            if state == "summary_sent":
                summary.signed_at, summary.signed_by_id = now, world.staff["lisa"]
                s.add(SummaryReceipt(summary_id=summary.id, unit_id=world.units["hc"],
                                     sent_at=now))
                s.add(CareRelation(patient_id=pid, unit_id=world.units["hc"], starts_at=now,
                                   created_by_id=world.staff["lisa"],
                                   documented_by_unit_id=world.units["med"]))
    elif state:
        # The pathway with an agreement template (the agreement is written from it).
        ids["episode_id"] = world.episode(pid, state=state, pathway="snabbspar")
    ids["version"] = 1
    if state == "admitted":
        from hemma.kit import time as kit_time
        from hemma.models.careplans import Agreement
        from tests.access.test_matrix import _activity

        with world.database.session() as s:
            s.add(Agreement(episode_id=ids["episode_id"], patient_id=pid, version=1,
                            content={"if_worse": [{"symptom": "Feber", "action": "call_team"}],
                                     "planned_days": 5, "end_criteria": "Klar"},
                            documented_by_unit_id=world.units["med"],
                            created_at=kit_time.utcnow(), created_by_id=world.staff["sara"]))
        ids["activity_id"] = _activity(type("S", (), {"world": world,
                                                      "database": world.database})(), pid)
        from tests.access.test_matrix import message_in_thread

        ids.update(message_in_thread(world.database, world, pid))
    ids["relation_id"] = world.relation(pid, unit="hsv", documented_by="med")
    if state == "admitted":
        ids["alert_id"] = world.alert(pid)
    ids["code_id"] = world.code(pid)
    ids["consent_id"] = world.consent(pid, "kommun")
    ids["block_id"] = world.block(pid, "hc")
    from hemma.kit.time import local_today, utcnow
    from hemma.models import CareRequest, Relative, Visit

    with world.database.session() as s:
        rel = Relative(patient_id=pid, name="Berit", relation="maka", shares=["messages"],
                       documented_by_unit_id=world.units["med"], created_at=utcnow())
        s.add(rel)
        # Asked of Medicinkliniken (the user's unit), and one of its visits today.
        now = utcnow()
        request = CareRequest(patient_id=pid, from_unit_id=world.units["hc"],
                              to_unit_id=world.units["med"], kind="wound_care",
                              window_start="09:00", window_end="12:00",
                              first_date=local_today() + timedelta(days=1),
                              last_date=local_today() + timedelta(days=1), duration_minutes=30,
                              created_by_id=world.staff["hugo"], created_at=now)
        visit = Visit(patient_id=pid, unit_id=world.units["med"], day=local_today(),
                      kind="wound_care", earliest=now, latest=now + timedelta(hours=1),
                      duration_minutes=30, created_at=now)
        s.add_all([request, visit])
        s.flush()
        ids["relative_id"] = rel.id
        ids["request_id"], ids["visit_id"] = request.id, visit.id
    if state == "admitted":
        ids.update(_road_home(world, pid, ids["episode_id"]))
    if state in ("task_open", "task_done"):
        ids["task_id"] = _task(world, pid, done=state == "task_done")
    if state == "handover":
        from hemma.models import Handover

        with world.database.session() as s:
            h = Handover(patient_id=pid, from_unit_id=world.units["hsv"],
                         to_unit_id=world.units["med"], situation="S", background="B",
                         assessment="A", recommendation="R", created_at=utcnow(),
                         created_by_id=world.staff["kim"])
            s.add(h)
            s.flush()
            ids["handover_id"] = h.id
    return ids


def _task(world, pid, *, done: bool):
    """A task the home ward gave itself (open, or done)."""
    from hemma.models import Task

    now = utcnow()
    with world.database.session() as s:
        task = Task(patient_id=pid, kind="manual", title="Ta prover", unit_id=world.units["med"],
                    due_at=now + timedelta(hours=2), questions=[], answers={},
                    documented_by_unit_id=world.units["med"], created_at=now,
                    created_by_id=world.staff["sara"], done_at=now if done else None,
                    done_by_id=world.staff["sara"] if done else None)
        s.add(task)
        s.flush()
        return task.id


def _road_home(world, pid, episode_id) -> dict:
    """A checklist item, a homecoming call and a treatment order of the episode, all the
    home ward's own."""
    from hemma.models import ChecklistItem, Task, TreatmentOrder

    now = utcnow()
    common = dict(episode_id=episode_id, patient_id=pid, created_at=now,
                  documented_by_unit_id=world.units["med"], created_by_id=world.staff["sara"])
    with world.database.session() as s:
        item = ChecklistItem(category="devices", what="Pulsoximeter",
                             provider_unit_id=world.units["med"],
                             due_at=now + timedelta(hours=2), **common)
        task = Task(kind="homecoming_call", title="Hemkomstsamtal", unit_id=world.units["med"],
                    due_at=now + timedelta(hours=4), answers={},
                    questions=[{"key": "arrived_well", "text": "Kom du hem utan problem?"}],
                    **common)
        order = TreatmentOrder(drug="Ceftriaxon", dose="2 g", route="iv", times=["00:00"],
                               starts_on=local_today(), stops_on=local_today(),
                               prescriber_id=world.staff["lisa"],
                               giving_unit_id=world.units["med"], **common)
        s.add_all([item, task, order])
        s.flush()
        return {"item_id": item.id, "task_id": task.id, "order_id": order.id}


@pytest.mark.parametrize("method,path,state,body", EXAMPLES,
                         ids=[f"{m} {p}" for m, p, _s, _b in EXAMPLES])
def test_each_patient_route_logs_exactly_one_entry(method, path, state, body, world, database,
                                                   as_user):
    ids = _prepare(world, state)
    username = "sara"
    if isinstance(body, str):
        username, body = body, None
    elif isinstance(body, tuple):
        username, body = body
    sara = as_user(username)
    data = body(world) if callable(body) else body
    with database.session() as s:
        before = s.scalar(select(func.max(AuditEntry.id))) or 0
    url = path.format(**ids)
    if path.startswith("/api/"):
        r = sara.request(method, url, json=data if method in ("POST", "PUT") else None)
    elif method == "GET":
        r = sara.get(url)
    else:
        r = sara.post(url, data=data, follow_redirects=False)
    assert r.status_code in (200, 201, 204, 303), (r.status_code, r.text[:2000])
    with database.session() as s:
        new = s.scalars(select(AuditEntry).where(AuditEntry.id > before)
                        .order_by(AuditEntry.id)).all()
    assert len(new) == 1, [(e.action, e.patient_id) for e in new]
    entry = new[0]
    assert entry.patient_id == ids["patient_id"]
    assert entry.user_id == world.staff[username] and entry.username == username
    assert entry.unit_id == world.units[PEOPLE[username][3]]
    assert entry.organisation_id == world.orgs["region"]
    assert entry.client_addr == "testclient"
    assert entry.at is not None and entry.at.tzinfo is not None
    assert entry.action and entry.outcome == "allowed" and entry.basis == "unit"
    assert entry.emergency is False
    if method != "GET":
        assert entry.action not in ("patient.read",), "a write is logged as what it did"


def test_a_list_of_n_patients_logs_n_patient_identities(world, database, as_user):
    pids = [world.patient(unit="med", name=f"P{i}") for i in range(7)]
    for pid in pids:
        world.episode(pid, state="admitted")
    sara = as_user("sara")
    with database.session() as s:
        before = s.scalar(select(func.max(AuditEntry.id))) or 0
    r = sara.get("/home-ward")
    assert r.status_code == 200
    with database.session() as s:
        new = s.scalars(select(AuditEntry).where(AuditEntry.id > before)).all()
    assert sorted(str(e.patient_id) for e in new) == sorted(str(p) for p in pids)
    assert {e.action for e in new} == {"homeward.list"}


def test_emergency_access_is_logged_and_flagged(world, database, as_user):
    pid = world.patient(unit="hsv", registered_by="hsv")
    with database.session() as s:
        from hemma.models import Patient

        number = s.get(Patient, pid).personnummer
    lisa = as_user("lisa")
    assert lisa.get(f"/patients/{pid}").status_code == 404
    r = lisa.post("/emergency", data={"personnummer": number, "reason": "kort"})
    assert r.status_code == 422 and "reason" in r.text  # a reason worth the name
    r = lisa.post("/emergency", data={"personnummer": number,
                                      "reason": "Medvetslös på akuten, behöver läkemedelslista"},
                  follow_redirects=False)
    assert r.status_code == 303
    assert lisa.get(f"/patients/{pid}").status_code == 200
    # Read only: no changes under emergency access.
    assert lisa.get(f"/patients/{pid}/edit").status_code == 404
    with database.session() as s:
        entries = s.scalars(select(AuditEntry).where(AuditEntry.patient_id == pid)
                            .order_by(AuditEntry.id)).all()
    assert [e.outcome for e in entries] == ["denied", "allowed", "allowed", "denied"]
    opened, read = entries[1], entries[2]
    assert opened.action == "emergency.open" and opened.emergency
    assert "Medvetslös" in opened.detail
    assert read.emergency and read.basis == "emergency"


def _entries(database):
    with database.session() as s:
        return s.scalar(select(func.count()).select_from(AuditEntry))


def _cli(settings, *args: str):
    """`hemma audit …` against the test's database, with the test's own checkpoint file."""
    configure(None)
    try:
        result = CliRunner().invoke(cli, ["audit", *args], env={
            "HEMMA_DATABASE_URL": settings.database_url,
            "HEMMA_AUDIT_CHECKPOINT_FILE": str(_checkpoints(settings))})
    finally:
        configure(None)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def _checkpoints(settings):
    return settings.data_dir / "audit-checkpoints.jsonl"


def _verify(settings):
    return _cli(settings, "verify")


def _tamper(database, sql: str, table: str = "audit_entries"):
    """What someone with database superuser rights could do behind the app's back."""
    with database.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
            conn.execute(text(sql))
            conn.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER USER"))
        else:
            conn.execute(text(f"DROP TRIGGER {table}_no_update"))
            conn.execute(text(f"DROP TRIGGER {table}_no_delete"))
            conn.execute(text(sql))


def _chain_of(database, table: str, username: str) -> tuple[int, int]:
    """The chain `username`'s organisation writes in `table`, and where it ends."""
    column = "username" if table == "audit_entries" else "reviewer_id"
    with database.engine.connect() as conn:
        if table == "audit_reviews":
            username = conn.execute(text("SELECT id FROM staff WHERE username = :u"),
                                    {"u": username}).scalar()
        return tuple(conn.execute(text(
            f"SELECT chain_id, max(seq) FROM {table} WHERE {column} = :u GROUP BY chain_id"),
            {"u": username}).one())


def _cut_off_the_end(database, table: str, chain: int, keep: int):
    """The attack a hash chain alone cannot see: drop the append-only triggers, delete the
    newest rows of a chain, and set the chain's head back to the row that is now last."""
    with database.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text(f"DROP TRIGGER {table}_append_only ON {table}"))
            conn.execute(text(f"DROP TRIGGER {table}_no_truncate ON {table}"))
        else:
            conn.execute(text(f"DROP TRIGGER {table}_no_update"))
            conn.execute(text(f"DROP TRIGGER {table}_no_delete"))
        conn.execute(text(f"DELETE FROM {table} WHERE chain_id = :chain AND seq > :keep"),
                     {"keep": keep, "chain": chain})
        conn.execute(text(
            f"UPDATE audit_head SET last_seq = :keep, last_hash = "
            f"(SELECT hash FROM {table} WHERE chain_id = :chain AND seq = :keep) "
            f"WHERE id = :chain"), {"keep": keep, "chain": chain})


def _some_activity(world, as_user):
    pid = world.patient(unit="med")
    world.episode(pid, state="admitted")
    sara = as_user("sara")
    for _ in range(3):
        sara.get(f"/patients/{pid}")
    sara.get("/home-ward")
    return pid


def _review(as_user, database, n: int = 3):
    """Rita reviews the newest n of Sara's entries."""
    with database.session() as s:
        ids = s.scalars(select(AuditEntry.id).where(AuditEntry.username == "sara")
                        .order_by(AuditEntry.id.desc()).limit(n)).all()
    rita = as_user("rita")
    for entry_id in ids:
        r = rita.post("/api/v1/audit/reviews", json={"entry_ids": [entry_id],
                                                     "outcome": "justified"})
        assert r.status_code == 201, r.text


@pytest.mark.parametrize("sql", [
    "UPDATE audit_entries SET username = 'someone' WHERE seq = 2",
    "UPDATE audit_entries SET action = 'patient.list' WHERE seq = 3",
    "UPDATE audit_entries SET emergency = NOT emergency WHERE seq = 1",
    "DELETE FROM audit_entries WHERE seq = 2",
    "DELETE FROM audit_entries WHERE seq = (SELECT max(seq) FROM audit_entries)",
])
def test_tampering_makes_verify_fail(sql, settings, world, database, as_user):
    _some_activity(world, as_user)
    assert _cli(settings, "checkpoint")[0] == 0
    code, output = _verify(settings)
    assert code == 0, output
    assert "intact" in output
    _tamper(database, sql)
    code, output = _verify(settings)
    assert code == 1
    assert "TAMPERED" in output


def test_cutting_off_the_end_of_the_log_fails_verify_against_the_workers_checkpoint(
        settings, world, database, as_user):
    pid = _some_activity(world, as_user)
    # The worker writes a checkpoint of where the chain ends, to a file outside the database.
    worker = Worker(database, checkpoint_file=_checkpoints(settings))
    assert worker.tick().checkpoint
    chain, end = _chain_of(database, "audit_entries", "sara")
    assert _verify(settings)[0] == 0
    _cut_off_the_end(database, "audit_entries", chain, keep=end - 3)
    code, output = _verify(settings)
    assert code == 1, output
    assert "checkpoint line 1" in output and f"records seq {end} of the access log of " \
        f"organisation {world.orgs['region']} (chain {chain})" in output
    assert f"the chain ends at {end - 3}" in output
    # The application goes on writing over the cut: the chain grows past the checkpoint
    # again, but with other entries than the checkpointed one.
    sara = as_user("sara")
    for _ in range(4):
        sara.get(f"/patients/{pid}")
    code, output = _verify(settings)
    assert code == 1, output
    assert f"seq {end} of the access log of organisation {world.orgs['region']} (chain {chain}) " \
        "is not the one that was checkpointed" in output


def test_the_worker_writes_checkpoints_regularly_while_the_log_grows(settings, world, database,
                                                                     as_user):
    path = _checkpoints(settings)
    worker = Worker(database, checkpoint_file=path, checkpoint_every=timedelta(minutes=1))
    t0 = utcnow()
    _some_activity(world, as_user)
    assert worker.tick(t0).checkpoint
    assert not worker.tick(t0 + timedelta(seconds=30)).checkpoint  # not yet due
    assert not worker.tick(t0 + timedelta(minutes=2)).checkpoint  # due, but nothing new
    as_user("sara").get("/home-ward")
    assert worker.tick(t0 + timedelta(minutes=3)).checkpoint
    with database.session() as s:
        found, problems = audit.read_checkpoints(path)
        assert problems == [] and len(found) == 2
        assert found[-1][1].chains == audit.current_checkpoint(s).chains


def test_a_checkpoint_not_signed_by_the_installation_fails_verify(settings, world, database,
                                                                  as_user):
    _some_activity(world, as_user)
    assert _cli(settings, "checkpoint")[0] == 0
    line = json.loads(_checkpoints(settings).read_text())
    chain = next(iter(line["chains"]))
    line["chains"][chain][0] = 1  # someone moves the checkpoint back to hide a cut
    with _checkpoints(settings).open("a") as f:
        f.write(json.dumps(line) + "\n")
    code, output = _verify(settings)
    assert code == 1 and "checkpoint line 2: the signature does not match" in output


def test_without_a_checkpoint_the_end_of_the_chain_is_reported_unchecked(settings, world,
                                                                         database, as_user):
    _some_activity(world, as_user)
    code, output = _verify(settings)
    assert code == 1 and "no checkpoint in" in output


@pytest.mark.parametrize("sql", [
    "UPDATE audit_reviews SET outcome = 'incident' WHERE seq = 2",
    "UPDATE audit_reviews SET note = 'Ingen anmärkning' WHERE seq = 1",
    "DELETE FROM audit_reviews WHERE seq = 2",
    "UPDATE audit_reviews SET reviewer_id = reviewer_id + 1 WHERE seq = 3",
])
def test_a_review_changed_or_removed_behind_the_apps_back_fails_verify(
        sql, settings, world, database, as_user):
    _some_activity(world, as_user)
    _review(as_user, database)
    assert _cli(settings, "checkpoint")[0] == 0
    code, output = _verify(settings)
    assert code == 0 and "and 3 reviews in" in output, output
    _tamper(database, sql, "audit_reviews")
    code, output = _verify(settings)
    assert code == 1 and "the log reviews of organisation" in output, output


def test_cutting_off_the_newest_reviews_fails_verify(settings, world, database, as_user):
    _some_activity(world, as_user)
    _review(as_user, database)
    assert _cli(settings, "checkpoint")[0] == 0
    chain, end = _chain_of(database, "audit_reviews", "rita")
    assert end == 3
    _cut_off_the_end(database, "audit_reviews", chain, keep=1)
    code, output = _verify(settings)
    assert code == 1 and "records seq 3 of the log reviews of organisation" in output \
        and "but the chain ends at 1" in output, output


# --- One chain per organisation ------------------------------------------------------------


def test_each_organisation_writes_its_own_chain_and_the_patients_own_pages_the_installations(
        settings, world, database, as_user):
    pid = _some_activity(world, as_user)  # Sara, the region
    world.relation(pid, unit="hsv")
    world.consent(pid, "kommun")
    as_user("kim").get(f"/patients/{pid}")  # the municipality
    with database.session() as s:  # no organisation acting (a patient's own page, a refusal)
        audit.record(s, pid, "portal.read", basis="patient")
    with database.session() as s:
        heads = {h.chain_key: h for h in s.scalars(select(AuditHead))}
        assert set(heads) == {f"entries:org:{world.orgs['region']}",
                              f"entries:org:{world.orgs['kommun']}", "entries:installation"}
        for head in heads.values():
            rows = s.execute(select(AuditEntry.seq, AuditEntry.organisation_id)
                             .where(AuditEntry.chain_id == head.id)
                             .order_by(AuditEntry.seq)).all()
            assert [r.seq for r in rows] == list(range(1, head.last_seq + 1))
            assert {r.organisation_id for r in rows} == {head.organisation_id}
            assert head.digest_version == 2 and not head.closed
    assert _cli(settings, "checkpoint")[0] == 0
    code, output = _verify(settings)
    assert code == 0 and "in 3 chain(s) verified" in output, output


def test_a_row_moved_to_another_organisations_chain_fails_verify(settings, world, database,
                                                                 as_user):
    pid = _some_activity(world, as_user)
    world.relation(pid, unit="hsv")
    as_user("kim").get(f"/patients/{pid}")
    assert _cli(settings, "checkpoint")[0] == 0
    region, _ = _chain_of(database, "audit_entries", "sara")
    kommun, end = _chain_of(database, "audit_entries", "kim")
    # Renumbered to fit the region's chain's end: its hash still names the kommun's chain.
    _tamper(database, f"UPDATE audit_entries SET chain_id = {region}, seq = "
                      f"(SELECT last_seq + 1 FROM audit_head WHERE id = {region}) "
                      f"WHERE chain_id = {kommun} AND seq = {end}")
    code, output = _verify(settings)
    assert code == 1, output
    assert f"(chain {kommun}) ends at seq {end - 1} but its head says {end}" in output \
        or f"records seq {end} of the access log of organisation " \
           f"{world.orgs['kommun']} (chain {kommun}), but the chain ends at {end - 1}" in output


def test_rows_of_a_chain_whose_head_was_removed_fail_verify(settings, world, database,
                                                            as_user):
    _some_activity(world, as_user)
    assert _cli(settings, "checkpoint")[0] == 0
    chain, end = _chain_of(database, "audit_entries", "sara")
    with database.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_head WHERE id = :id"), {"id": chain})
    code, output = _verify(settings)
    assert code == 1, output
    assert f"audit_entries row(s) name chain {chain}, which has no head" in output
    assert f"records chain {chain} up to seq {end}, but the database has no such chain" \
        in output


@pytest.mark.skipif(BACKEND != "postgres", reason="SQLite has one writer at a time")
def test_no_one_waits_for_the_log_while_a_line_of_it_is_free(world, database, monkeypatch):
    """Two of the region's transactions each hold a line of its chain until they commit: the
    second made a new line instead of waiting, the municipality commits on its own chain
    meanwhile; with every line the region may have held, the next region request waits."""
    monkeypatch.setattr(audit, "LINES", 2)

    def actor(username):
        unit = PEOPLE[username][3]
        return audit.Actor(user_id=world.staff[username], username=username,
                           unit_id=world.units[unit],
                           organisation_id=world.orgs["kommun" if unit in ("hsv", "kdag")
                                                      else "region"])

    for username in ("sara", "kim"):  # each organisation's first line, as after a first login
        with database.session() as s:
            audit.trail(s).actor = actor(username)
            audit.record(s, None, "auth.login", basis="role")
    holding = [database.sessionmaker() for _ in range(2)]
    try:
        for session, username in zip(holding, ("sara", "lisa"), strict=True):
            session.execute(text("SET LOCAL lock_timeout = '5s'"))  # a wait fails, not hangs
            audit.trail(session).actor = actor(username)
            audit.record(session, None, "auth.login", basis="role")
            audit.flush(session)  # a line of the region's chain is held until it ends
        with database.session() as other:
            other.execute(text("SET LOCAL lock_timeout = '5s'"))
            audit.trail(other).actor = actor("kim")
            audit.record(other, None, "auth.login", basis="role")
        with pytest.raises(DBAPIError, match="lock timeout"):
            with database.session() as same:
                same.execute(text("SET LOCAL lock_timeout = '200ms'"))
                audit.trail(same).actor = actor("olle")
                audit.record(same, None, "auth.login", basis="role")
        for session in holding:
            session.commit()
    finally:
        for session in holding:
            session.close()
    region = world.orgs["region"]
    with database.session() as s:
        lines = {h.chain_key: h.last_seq for h in s.scalars(
            select(AuditHead).where(AuditHead.organisation_id == region,
                                    AuditHead.kind == "entries"))}
        assert lines == {f"entries:org:{region}": 2, f"entries:org:{region}:1": 1}
        assert audit.verify(s).ok
    # Quiet again: the first line is taken first, the second only when the first is held.
    with database.session() as s:
        audit.trail(s).actor = actor("olle")
        audit.record(s, None, "auth.login", basis="role")
    with database.session() as s:
        assert s.scalar(select(AuditHead.last_seq).where(
            AuditHead.chain_key == f"entries:org:{region}")) == 3


def test_the_application_cannot_change_or_remove_log_entries(settings, world, database,
                                                             as_user):
    _some_activity(world, as_user)
    _review(as_user, database, 1)
    for sql in ("UPDATE audit_entries SET action = 'x'", "DELETE FROM audit_entries",
                "UPDATE audit_reviews SET outcome = 'x'", "DELETE FROM audit_reviews"):
        with pytest.raises(DBAPIError):
            with database.engine.begin() as conn:
                conn.execute(text(sql))
    with database.session() as s:
        audit.write_checkpoint(s, _checkpoints(settings))
        assert audit.verify(s, _checkpoints(settings)).ok


def test_refused_attempts_are_logged_without_revealing_anything(world, database, as_user):
    pid = world.patient(unit="hsv", registered_by="hsv")
    sara = as_user("sara")
    missing = sara.get(f"/patients/{uuid.uuid4()}")
    refused = sara.get(f"/patients/{pid}")
    assert refused.status_code == missing.status_code == 404
    with database.session() as s:
        entries = s.scalars(select(AuditEntry).where(AuditEntry.patient_id == pid)).all()
    assert [(e.outcome, e.username) for e in entries] == [("denied", "sara")]


# --- Monitoring actions log themselves, under one name each -------------------------------

ALERT_ACTIONS = [
    ("acknowledge", {}, {}),
    ("snooze", {"reason": "Ringer upp patienten", "minutes": "20"},
     {"reason": "Ringer upp patienten", "minutes": 20}),
    ("resolve", {"note": "Ringt, mår bra"}, {"note": "Ringt, mår bra"}),
]


def _new_entries(database, before: int) -> list[AuditEntry]:
    with database.session() as s:
        return s.scalars(select(AuditEntry).where(AuditEntry.id > before)
                         .order_by(AuditEntry.id)).all()


def _last_seq(database) -> int:
    with database.session() as s:
        return s.scalar(select(func.max(AuditEntry.id))) or 0


@pytest.mark.parametrize("verb,form,body", ALERT_ACTIONS, ids=[a[0] for a in ALERT_ACTIONS])
def test_an_alert_action_is_logged_under_the_same_name_from_the_page_and_the_api(
        verb, form, body, world, database, as_user):
    pid = world.patient(unit="med")
    world.episode(pid, state="admitted")
    by_page, by_api = world.alert(pid), world.alert(pid)
    sara = as_user("sara")
    before = _last_seq(database)
    r = sara.post(f"/patients/{pid}/alerts/{by_page}/{verb}", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text
    r = sara.post(f"/api/v1/patients/{pid}/alerts/{by_api}/{verb}", json=body)
    assert r.status_code == 200, r.text
    assert [e.action for e in _new_entries(database, before)] == [f"alert.{verb}"] * 2


def test_monitoring_actions_write_their_own_log_entries(world, database):
    """Called as services, the way the page, the API and any later caller do: each action
    checks access and writes its entry under its one name, with no route's help."""
    from hemma.access.service import subject_for
    from hemma.models import Staff
    from hemma.monitoring import alerts, service
    from hemma.monitoring.schemas import Acknowledge, ObservationCreate, PlanUpdate, Resolve
    from hemma.portal import service as portal

    pid = world.patient(unit="med")
    world.episode(pid, state="admitted")
    first, second = world.alert(pid), world.alert(pid)
    codes = []
    actions = [
        ("sara", "alert.acknowledge",
         lambda s, who: alerts.acknowledge_alert(s, who, pid, first, Acknowledge())),
        ("sara", "alert.resolve",
         lambda s, who: alerts.resolve_alert(s, who, pid, second, Resolve(note="Ringt"))),
        ("sara", "observation.record", lambda s, who: service.enter_observation(
            s, who, pid, ObservationCreate(client_id="staff-own-entry-1", measured_at=utcnow(),
                                           pulse=80))),
        ("lisa", "plan.update",
         lambda s, who: service.update_plan(s, who, pid, PlanUpdate(spo2_scale=1))),
        ("sara", "patientcode.create",
         lambda s, who: codes.append(portal.issue_code(s, who, pid)[1].id)),
        ("sara", "patientcode.revoke",
         lambda s, who: portal.revoke_code(s, who, pid, codes[0])),
    ]
    for username, name, act in actions:
        before = _last_seq(database)
        with database.session() as s:
            staff = s.get(Staff, world.staff[username])
            audit.trail(s).actor = audit.Actor(user_id=staff.id, username=staff.username,
                                               unit_id=staff.unit_id)
            act(s, subject_for(s, staff))
            audit.flush(s)
        assert [(e.username, e.patient_id, e.action, e.basis) for e in
                _new_entries(database, before)] == [(username, pid, name, "unit")], name


def test_an_alert_the_user_may_not_handle_is_refused_and_logged_as_refused(world, database,
                                                                           as_user):
    """Kim (the municipality) shares the care of a region patient who has not consented to
    sharing: the region's alert does not exist for her, and her attempt is logged."""
    pid = world.patient(unit="med")
    world.relation(pid, unit="hsv", documented_by="med")
    world.episode(pid, state="admitted")
    alert_id = world.alert(pid)
    kim = as_user("kim")
    before = _last_seq(database)
    assert kim.post(f"/patients/{pid}/alerts/{alert_id}/acknowledge", data={},
                    follow_redirects=False).status_code == 404
    assert kim.post(f"/api/v1/patients/{pid}/alerts/{alert_id}/acknowledge",
                    json={}).status_code == 404
    assert [(e.username, e.outcome) for e in _new_entries(database, before)] == [
        ("kim", "denied"), ("kim", "denied")]


def test_a_request_that_does_many_things_for_one_patient_keeps_them_all(world, database):
    """One entry per patient and request; when its actions no longer fit the action column
    (64 characters, enforced by PostgreSQL), the rest go to the entry's detail."""
    pid = world.patient(unit="med")
    actions = ["patient.relative_shares", "relative.message", "message.send",
               "message.read", "relative.messages", "patient.message", "task.done"]
    with database.session() as s:
        audit.trail(s).actor = audit.Actor(username="system")
        for action in actions:
            audit.record(s, pid, action, basis="unit")
    with database.session() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.patient_id == pid)).one()
    kept = entry.action.split("+") + [d.removeprefix("+") for d in
                                      (entry.detail or "").split("; ") if d.startswith("+")]
    assert len(entry.action) <= 64 and kept == actions
