"""FHIR's view of the record around the values, on a real database: the access log as
BALP-shaped AuditEvents (for log reviewers only, their own organisation's entries, and
reading it logged), consents to share as Consents, alerts as Flags (with the Observations
that raised them) and messages as Communications (read, searched, and written to the patient
as from the page). A patient the caller may not read does not exist: 404 on read, absent
from searches; what another organisation documented needs the patient's consent."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select

from hemma.fhir import vitals
from hemma.kit.time import utcnow
from hemma.models import Alert, AuditEntry, Message, Observation, OutboxMessage
from tests.access.test_matrix import message_in_thread
from tests.fhir.validate import assert_r4, fhir_client


def _bundle(body: dict) -> list[dict]:
    assert body["resourceType"] == "Bundle" and body["type"] == "searchset"
    assert_r4(body)
    out = [e["resource"] for e in body.get("entry", [])]
    for r in out:
        assert_r4(r)
    return out


def _next(body: dict) -> str | None:
    return next((link["url"] for link in body["link"] if link["relation"] == "next"), None)


def _actions(database, username: str) -> list[str]:
    with database.session() as s:
        return list(s.scalars(select(AuditEntry.action).where(AuditEntry.username == username)
                              .order_by(AuditEntry.id)))


# --- AuditEvent ------------------------------------------------------------------------------


def test_a_log_reviewer_reads_the_access_log_as_balp_audit_events(app, world, database):
    pid = world.patient(unit="med")
    sara = fhir_client(app, database, world, "sara")
    assert sara.get(f"/fhir/Patient/{pid}").status_code == 200
    assert sara.get("/fhir/Consent", params={"patient": pid}).status_code == 200
    rita = fhir_client(app, database, world, "rita")
    r = rita.get("/fhir/AuditEvent", params={"agent": "sara", "patient": pid})
    assert r.status_code == 200, r.text
    events = _bundle(r.json())
    assert [e["type"]["code"] for e in events] == ["rest", "rest"]
    newest, first = events
    assert [s["code"] for s in first["subtype"]] == ["read"]
    assert [s["code"] for s in newest["subtype"]] == ["search-type"]
    assert first["action"] == "R" and first["outcome"] == "0"
    user = first["agent"][0]
    assert user["who"]["reference"] == f"Practitioner/{world.staff['sara']}"
    assert user["requestor"] is True and user["altId"] == "sara"
    assert user["purposeOfUse"][0]["coding"][0]["code"] == "TREAT"
    assert first["agent"][1]["who"]["reference"] == f"Organization/unit-{world.units['med']}"
    assert first["entity"][0]["what"]["reference"] == f"Patient/{pid}"
    assert first["entity"][0]["role"]["code"] == "1"
    # The same entry by its id and its one version, with an ETag.
    one = rita.get(f"/fhir/AuditEvent/{first['id']}")
    assert one.status_code == 200 and one.json() == first
    assert one.headers["ETag"] == 'W/"1"'
    assert rita.get(f"/fhir/AuditEvent/{first['id']}/_history/1").json() == first
    assert rita.get(f"/fhir/AuditEvent/{first['id']}/_history/2").status_code == 404
    # By Practitioner id as well as by username.
    by_id = rita.get("/fhir/AuditEvent", params={
        "agent": f"Practitioner/{world.staff['sara']}", "patient": f"Patient/{pid}"}).json()
    assert [e["id"] for e in _bundle(by_id)] == [e["id"] for e in events]
    # Reading the log is itself logged, as a review of the log.
    assert "log.fhir" in _actions(database, "rita")


def test_a_refused_access_is_an_audit_event_with_a_failure_outcome(app, world, database):
    pid = world.patient(unit="med")
    sara = fhir_client(app, database, world, "sara")
    with database.session() as s:
        from hemma.models import CareRelation
        for rel in s.scalars(select(CareRelation).where(CareRelation.patient_id == pid)):
            rel.ends_at = utcnow() - timedelta(minutes=1)
    assert sara.get(f"/fhir/Patient/{pid}").status_code == 404
    rita = fhir_client(app, database, world, "rita")
    (event,) = _bundle(rita.get("/fhir/AuditEvent", params={"patient": pid}).json())
    assert event["outcome"] == "4" and event["outcomeDesc"]


def test_the_log_pages_with_next_links_newest_first(app, world, database):
    pid = world.patient(unit="med")
    sara = fhir_client(app, database, world, "sara")
    for _ in range(5):
        assert sara.get(f"/fhir/Patient/{pid}").status_code == 200
    rita = fhir_client(app, database, world, "rita")
    url, seen = f"/fhir/AuditEvent?patient={pid}&_count=2", []
    while url:
        body = rita.get(url).json()
        page = _bundle(body)
        assert len(page) <= 2
        seen += [e["id"] for e in page]
        url = _next(body)
    assert len(seen) == 5 and len(set(seen)) == 5
    assert seen == sorted(seen, key=int, reverse=True)
    assert rita.get(f"/fhir/AuditEvent?patient={pid}&_cursor=bm90IGpzb24").status_code == 400


def test_only_log_reviewers_of_the_same_organisation_read_the_log(app, world, database):
    pid = world.patient(unit="med")
    sara = fhir_client(app, database, world, "sara")
    assert sara.get(f"/fhir/Patient/{pid}").status_code == 200
    rita = fhir_client(app, database, world, "rita")
    (event,) = _bundle(rita.get("/fhir/AuditEvent", params={"patient": pid,
                                                             "agent": "sara"}).json())
    # Sara may read the patient, but not review the log.
    for url in (f"/fhir/AuditEvent/{event['id']}", "/fhir/AuditEvent",
                f"/fhir/AuditEvent?patient={pid}"):
        r = sara.get(url)
        assert r.status_code == 403 and r.json()["resourceType"] == "OperationOutcome"
    # Mona reviews Kommunen's log: the region's entries do not exist for her.
    mona = fhir_client(app, database, world, "mona")
    assert mona.get(f"/fhir/AuditEvent/{event['id']}").status_code == 404
    assert _bundle(mona.get("/fhir/AuditEvent", params={"patient": pid}).json()) == []
    # A typo in a parameter is refused by name rather than widening the search.
    r = rita.get("/fhir/AuditEvent", params={"patinet": pid})
    assert r.status_code == 400 and r.json()["issue"][0]["expression"] == ["patinet"]


# --- Consent ---------------------------------------------------------------------------------


def test_consents_to_share_are_read_and_searched_by_the_patients_readers(app, world, database):
    pid = world.patient(unit="med")
    given = world.consent(pid, "kommun")
    withdrawn = world.consent(pid, "region", withdrawn=True)
    sara = fhir_client(app, database, world, "sara")
    r = sara.get(f"/fhir/Consent/{given}")
    assert r.status_code == 200, r.text
    c = r.json()
    assert_r4(c)
    assert c["status"] == "active" and c["scope"]["coding"][0]["code"] == "patient-privacy"
    assert c["patient"]["reference"] == f"Patient/{pid}"
    actor = c["provision"]["actor"][0]["reference"]
    assert actor["reference"] == f"Organization/org-{world.orgs['kommun']}"
    assert "end" not in c["provision"]["period"]
    assert r.headers["ETag"] == 'W/"1"'
    assert sara.get(f"/fhir/Consent/{given}/_history/1").json() == c
    old = sara.get(f"/fhir/Consent/{withdrawn}").json()
    assert old["status"] == "inactive" and old["meta"]["versionId"] == "2"
    assert old["provision"]["period"]["end"]
    everything = _bundle(sara.get("/fhir/Consent", params={"patient": pid}).json())
    assert {x["id"] for x in everything} == {str(given), str(withdrawn)}
    active = _bundle(sara.get("/fhir/Consent", params={"patient": pid,
                                                       "status": "active"}).json())
    assert [x["id"] for x in active] == [str(given)]
    assert sara.get("/fhir/Consent", params={"patient": pid, "status": "draft"}
                    ).status_code == 400
    actions = _actions(database, "sara")
    assert "fhir.read" in actions and "fhir.search" in actions


def test_a_user_who_may_not_read_the_patient_sees_no_consent(app, world, database):
    pid = world.patient(unit="med")
    given = world.consent(pid, "kommun")
    kim = fhir_client(app, database, world, "kim")  # Kommunen, not in the care team
    assert kim.get(f"/fhir/Consent/{given}").status_code == 404
    assert _bundle(kim.get("/fhir/Consent", params={"patient": pid}).json()) == []


# --- Flag (alerts) ---------------------------------------------------------------------------


def _raised_by(database, world, pid, alert_id, *, unit: str) -> uuid.UUID:
    """A temperature documented by `unit` that raised the alert."""
    now = utcnow()
    with database.session() as s:
        row = Observation(patient_id=pid, measured_at=now, received_at=now,
                          client_id=f"f-{uuid.uuid4()}", performer="device", source="api",
                          documented_by_unit_id=world.units[unit], temperature=39.6)
        s.add(row)
        s.flush()
        alert = s.get(Alert, alert_id)
        alert.observation_id = row.id
        alert.reasons = [{"message": "%(parameter)s %(value)s (limit %(op)s %(limit)s)",
                          "params": {"parameter": "temperature", "value": "39.6", "op": ">=",
                                     "limit": "39.1"}, "severity": "high",
                          "unit_id": world.units[unit], "at": now.isoformat()}]
        return row.id


def test_open_alerts_are_flags_with_priority_and_the_observations_that_raised_them(
        app, world, database):
    pid = world.patient(unit="med")
    world.episode(pid, state="admitted")
    alert_id = world.alert(pid, unit="med", severity="high")
    row_id = _raised_by(database, world, pid, alert_id, unit="med")
    closed = world.alert(pid, unit="med", status="resolved")
    sara = fhir_client(app, database, world, "sara")
    r = sara.get(f"/fhir/Flag/{alert_id}")
    assert r.status_code == 200, r.text
    flag = r.json()
    assert_r4(flag)
    assert flag["status"] == "active" and flag["subject"]["reference"] == f"Patient/{pid}"
    extensions = {e["url"]: e for e in flag["extension"]}
    priority = extensions["http://hl7.org/fhir/StructureDefinition/flag-priority"]
    assert priority["valueCodeableConcept"]["coding"][0]["code"] == "PH"
    detail = extensions["http://hl7.org/fhir/StructureDefinition/flag-detail"]
    observation = detail["valueReference"]["reference"]
    assert observation == f"Observation/{vitals.resource_id(row_id, 'temperature')}"
    # The reference leads to the value.
    value = sara.get(f"/fhir/{observation}").json()
    assert value["valueQuantity"]["value"] == 39.6
    assert sara.get(f"/fhir/Flag/{alert_id}/_history/{flag['meta']['versionId']}").json() \
        == flag
    # A search gives the open ones; status=inactive the resolved.
    found = _bundle(sara.get("/fhir/Flag", params={"patient": pid}).json())
    assert [f["id"] for f in found] == [str(alert_id)]
    found = _bundle(sara.get("/fhir/Flag", params={"patient": pid, "status": "inactive"}).json())
    assert [f["id"] for f in found] == [str(closed)] and found[0]["status"] == "inactive"
    both = _bundle(sara.get("/fhir/Flag?patient={}&status=active,inactive".format(pid)).json())
    assert len(both) == 2
    actions = _actions(database, "sara")
    assert "fhir.read" in actions and "fhir.search" in actions


def test_an_acknowledged_alert_says_who_acknowledged_it(app, world, database):
    pid = world.patient(unit="med")
    world.episode(pid, state="admitted")
    alert_id = world.alert(pid, unit="med")
    lisa = fhir_client(app, database, world, "lisa")
    before = lisa.get(f"/fhir/Flag/{alert_id}").json()
    page = world.login(lisa, database, "lisa")
    r = lisa.post(f"/api/v1/patients/{pid}/alerts/{alert_id}/acknowledge", json={},
                  headers={"X-CSRF-Token": page})
    assert r.status_code in (200, 201, 204), r.text
    flag = lisa.get(f"/fhir/Flag/{alert_id}").json()
    assert_r4(flag)
    handled = [e for e in flag["extension"] if e["url"] == "urn:hemma:fhir:alert-handled"]
    parts = {p["url"]: p for p in handled[0]["extension"]}
    assert parts["what"]["valueCode"] == "acknowledged"
    assert parts["by"]["valueReference"]["reference"] == f"Practitioner/{world.staff['lisa']}"
    assert flag["status"] == "active"
    assert int(flag["meta"]["versionId"]) > int(before["meta"]["versionId"])


def test_another_organisations_alert_needs_consent(app, world, database):
    pid = world.patient(unit="med")
    world.relation(pid, unit="hsv")
    world.episode(pid, state="admitted")
    alert_id = world.alert(pid, unit="med")
    kim = fhir_client(app, database, world, "kim")
    assert kim.get(f"/fhir/Flag/{alert_id}").status_code == 404
    assert _bundle(kim.get("/fhir/Flag", params={"patient": pid}).json()) == []
    world.consent(pid, "kommun")
    assert kim.get(f"/fhir/Flag/{alert_id}").status_code == 200
    assert len(_bundle(kim.get("/fhir/Flag", params={"patient": pid}).json())) == 1


def test_a_value_of_another_organisation_behind_an_alert_is_not_referenced_without_consent(
        app, world, database):
    pid = world.patient(unit="med")
    world.relation(pid, unit="hsv")
    world.episode(pid, state="admitted")
    alert_id = world.alert(pid, unit="med")
    _raised_by(database, world, pid, alert_id, unit="hsv")  # Kommunen's nurse measured it
    sara = fhir_client(app, database, world, "sara")
    flag = sara.get(f"/fhir/Flag/{alert_id}").json()
    assert_r4(flag)
    assert not [e for e in flag["extension"] if e["url"].endswith("flag-detail")]
    assert "39" not in flag["code"]["text"]  # the reason, without the value
    world.consent(pid, "region")
    flag = sara.get(f"/fhir/Flag/{alert_id}").json()
    assert [e for e in flag["extension"] if e["url"].endswith("flag-detail")]


# --- Communication (messages) ----------------------------------------------------------------


def test_messages_are_communications_read_and_searched_a_page_at_a_time(app, world, database):
    pid = world.patient(unit="med")
    world.episode(pid, state="admitted")
    ids = [message_in_thread(database, world, pid)["message_id"] for _ in range(3)]
    sara = fhir_client(app, database, world, "sara")
    r = sara.get(f"/fhir/Communication/{ids[0]}")
    assert r.status_code == 200, r.text
    c = r.json()
    assert_r4(c)
    assert c["sender"]["reference"] == f"Patient/{pid}"
    assert c["recipient"] == [{"reference": f"Organization/unit-{world.units['med']}"}]
    assert c["payload"][0]["contentString"] == "Så här ser såret ut"
    photo = c["payload"][1]["contentAttachment"]
    assert photo["url"].endswith(f"/fhir/Communication/{ids[0]}/photo")
    assert "data" not in photo
    got = sara.get(photo["url"])
    assert got.status_code == 200 and got.headers["content-type"].startswith("image/")
    assert sara.get(f"/fhir/Communication/{ids[0]}/_history/1").json() == c
    url, seen = f"/fhir/Communication?patient={pid}&_count=2", []
    while url:
        body = sara.get(url).json()
        seen += [x["id"] for x in _bundle(body)]
        url = _next(body)
    assert sorted(seen) == sorted(str(i) for i in ids)
    # Sent dates: none of them before yesterday.
    since = (utcnow() - timedelta(days=1)).date().isoformat()
    assert len(_bundle(sara.get("/fhir/Communication", params={
        "patient": pid, "sent": f"lt{since}"}).json())) == 0
    assert len(_bundle(sara.get("/fhir/Communication", params={
        "patient": pid, "sent": f"ge{since}"}).json())) == 3
    # Not read yet by the unit: nothing was received.
    assert _bundle(sara.get("/fhir/Communication", params={
        "patient": pid, "received": f"ge{since}"}).json()) == []
    assert "fhir.search" in _actions(database, "sara")


def test_another_organisations_thread_needs_consent(app, world, database):
    pid = world.patient(unit="med")
    world.relation(pid, unit="hsv")
    world.episode(pid, state="admitted")
    mid = message_in_thread(database, world, pid)["message_id"]
    kim = fhir_client(app, database, world, "kim")
    assert kim.get(f"/fhir/Communication/{mid}").status_code == 404
    assert kim.get(f"/fhir/Communication/{mid}/photo").status_code == 404
    assert _bundle(kim.get("/fhir/Communication", params={"patient": pid}).json()) == []
    world.consent(pid, "kommun")
    assert kim.get(f"/fhir/Communication/{mid}").status_code == 200
    outsider = world.patient(unit="med")
    other = message_in_thread(database, world, outsider)["message_id"]
    assert kim.get(f"/fhir/Communication/{other}").status_code == 404


def test_a_patients_text_comes_out_as_data(app, world, database):
    pid = world.patient(unit="med")
    world.episode(pid, state="admitted")
    mid = message_in_thread(database, world, pid)["message_id"]
    text = '<script>alert("x")</script> & </p>'
    with database.session() as s:
        s.get(Message, mid).body = text
    sara = fhir_client(app, database, world, "sara")
    r = sara.get(f"/fhir/Communication/{mid}")
    assert r.headers["content-type"].startswith("application/fhir+json")
    assert r.json()["payload"][0]["contentString"] == text


def test_staff_write_to_the_patient_as_from_the_page(app, world, database):
    pid = world.patient(unit="med")
    world.episode(pid, state="admitted")
    sara = fhir_client(app, database, world, "sara")
    body = {"resourceType": "Communication", "status": "completed",
            "subject": {"reference": f"Patient/{pid}"},
            "sender": {"reference": f"Organization/unit-{world.units['med']}"},
            "recipient": [{"reference": f"Patient/{pid}"}],
            "payload": [{"contentString": "Vi kommer klockan 14."}]}
    r = sara.post("/fhir/Communication", json=body,
                  headers={"Content-Type": "application/fhir+json"})
    assert r.status_code == 201, r.text
    made = r.json()
    assert_r4(made)
    assert made["sender"] == {"reference": f"Organization/unit-{world.units['med']}"}
    (author,) = made["extension"]
    assert author["valueReference"]["reference"] == f"Practitioner/{world.staff['sara']}"
    assert made["recipient"] == [{"reference": f"Patient/{pid}"}]
    assert r.headers["Location"].endswith(f"/fhir/Communication/{made['id']}/_history/1")
    assert sara.get(f"/fhir/Communication/{made['id']}").json() == made
    with database.session() as s:
        message = s.get(Message, uuid.UUID(made["id"]))
        assert message.body == "Vi kommer klockan 14." and message.documented_by_unit_id == \
            world.units["med"]
        notices = s.scalars(select(OutboxMessage).where(
            OutboxMessage.topic == "notice.new_message")).all()
        assert any(n.payload["patient_id"] == str(pid) for n in notices)
    assert "message.send" in _actions(database, "sara")


def test_a_message_hemma_cannot_take_is_refused_by_name(app, world, database):
    pid = world.patient(unit="med")
    world.episode(pid, state="admitted")
    sara = fhir_client(app, database, world, "sara")
    good = {"resourceType": "Communication", "recipient": [{"reference": f"Patient/{pid}"}],
            "payload": [{"contentString": "Hej"}]}
    cases = [({**good, "priority": "urgent"}, "Communication.priority"),
             ({**good, "recipient": [{"reference": "Organization/unit-1"}]},
              "Communication.recipient[0]"),
             ({**good, "payload": [{"contentAttachment": {"url": "http://x"}}]},
              "Communication.payload"),
             ({**good, "payload": [{"contentString": "   "}]},
              "Communication.payload[0].contentString"),
             ({**good, "status": "in-progress"}, "Communication.status"),
             ({**good, "sender": {"reference": f"Organization/unit-{world.units['hc']}"}},
              "Communication.sender"),
             ({**good, "subject": {"reference": f"Patient/{uuid.uuid4()}"}},
              "Communication.subject")]
    for body, where in cases:
        r = sara.post("/fhir/Communication", json=body,
                      headers={"Content-Type": "application/fhir+json"})
        assert r.status_code == 422, (where, r.text)
        assert r.json()["issue"][0]["expression"] == [where], r.json()
    with database.session() as s:
        assert s.scalars(select(Message).where(Message.patient_id == pid)).all() == []
    # A patient the writer may not reach does not exist.
    stranger = world.patient(unit="hsv")
    r = sara.post("/fhir/Communication", json={
        **good, "recipient": [{"reference": f"Patient/{stranger}"}]},
        headers={"Content-Type": "application/fhir+json"})
    assert r.status_code == 404
    # Who may not write messages at all (a log reviewer) is refused by role.
    rita = fhir_client(app, database, world, "rita")
    r = rita.post("/fhir/Communication", json=good,
                  headers={"Content-Type": "application/fhir+json"})
    assert r.status_code == 403


# --- Device ----------------------------------------------------------------------------------


def _sent_by(database, world, pid, device: str, *, unit: str = "med") -> None:
    now = utcnow()
    with database.session() as s:
        s.add(Observation(patient_id=pid, measured_at=now, received_at=now,
                          client_id=f"d-{uuid.uuid4()}", performer="device", source="api",
                          documented_by_unit_id=world.units[unit], device_id=device, pulse=70))


def test_the_devices_that_sent_a_patients_values(app, world, database):
    pid = world.patient(unit="med")
    world.relation(pid, unit="hsv")
    _sent_by(database, world, pid, "Oximeter 7F-22")
    _sent_by(database, world, pid, "Oximeter 7F-22")
    _sent_by(database, world, pid, "Våg K-1", unit="hsv")  # Kommunen's scale
    sara = fhir_client(app, database, world, "sara")
    found = _bundle(sara.get("/fhir/Device", params={"patient": pid}).json())
    # Kommunen's scale is not hers to see without the patient's consent.
    assert [d["identifier"][0]["value"] for d in found] == ["Oximeter 7F-22"]
    device = found[0]
    assert device["patient"]["reference"] == f"Patient/{pid}"
    r = sara.get(f"/fhir/Device/{device['id']}")
    assert r.status_code == 200 and r.json() == device and r.headers["ETag"] == 'W/"1"'
    assert sara.get(f"/fhir/Device/{device['id']}/_history/1").json() == device
    assert _bundle(sara.get("/fhir/Device", params={
        "patient": pid, "identifier": "urn:hemma:device-id|Oximeter 7F-22"}).json()) == found
    assert _bundle(sara.get("/fhir/Device", params={
        "patient": pid, "identifier": "Ingen"}).json()) == []
    kim = fhir_client(app, database, world, "kim")
    scale = _bundle(kim.get("/fhir/Device", params={"patient": pid}).json())
    assert [d["identifier"][0]["value"] for d in scale] == ["Våg K-1"]
    assert kim.get(f"/fhir/Device/{device['id']}").status_code == 404
    world.consent(pid, "region")
    assert len(_bundle(sara.get("/fhir/Device", params={"patient": pid}).json())) == 2
    # Whoever may not read the patient sees no device.
    hugo = fhir_client(app, database, world, "hugo")
    assert hugo.get(f"/fhir/Device/{device['id']}").status_code == 404
    assert _bundle(hugo.get("/fhir/Device", params={"patient": pid}).json()) == []
    assert sara.get("/fhir/Device/not-a-device").status_code == 404


def test_every_shape_of_log_entry_is_a_valid_audit_event():
    """The pure mapping: a refused access, a request that did two things, an entry without a
    user (the worker) or a patient, emergency access."""
    from types import SimpleNamespace

    from hemma.fhir import record
    from hemma.i18n.labels import AUDIT_ACTIONS

    now = utcnow()
    base = dict(id=5, chain_id=4, seq=9, at=now, user_id=3, username="sara", unit_id=1, organisation_id=1,
                patient_id=uuid.uuid4(), basis="unit", emergency=False, outcome="allowed",
                client_addr="10.0.0.1", detail=None)
    cases = [
        (dict(action="message.send"), "C", "message.send"),
        (dict(action="patient.read+alert.acknowledge", outcome="denied"), "R", "patient.read"),
        (dict(action="fhir.create"), "C", "rest"),
        (dict(action="log.fhir", user_id=None, patient_id=None, unit_id=None, basis="role"),
         "R", "log.fhir"),
        (dict(action="patient.read", basis="emergency", emergency=True, detail="a reason"),
         "R", "patient.read"),
    ]
    for fields, action, kind in cases:
        event = record.audit_event(SimpleNamespace(**{**base, **fields}), AUDIT_ACTIONS)
        assert_r4(event)
        assert event["action"] == action and event["type"]["code"] == kind
        assert event["outcome"] == ("4" if fields.get("outcome") == "denied" else "0")
    assert event["agent"][0]["purposeOfUse"][0]["coding"][0]["code"] == "ETREAT"
