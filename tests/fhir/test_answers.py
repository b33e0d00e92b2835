"""The patient's answers to their pathway's symptom questions as QuestionnaireResponses: a
patient's app posts them (exactly once per identifier), they are checked like answers on the
patient's own page ("Jag mår sämre" raises its alert in the unit's inbox), they read back
and are found; a question the pathway does not ask, or an element Hemma does not read, is
refused by its path with nothing saved; and the access rules are the values'."""

from __future__ import annotations

from sqlalchemy import func, select

from hemma.kit.time import utcnow
from hemma.models import Alert, Episode, Observation, Pathway
from tests.fhir.validate import assert_r4, fhir_client

SYSTEM = "urn:hemma:test-app"
FHIR = {"Content-Type": "application/fhir+json"}
QUESTION = {"key": "andfadd", "text": "Är du mer andfådd än i går?", "alert": "high"}


def _answers(pid, *, identifier=None, items=None, **extra) -> dict:
    resource = {
        "resourceType": "QuestionnaireResponse", "status": "completed",
        "subject": {"reference": f"Patient/{pid}"}, "authored": utcnow().isoformat(),
        "item": items if items is not None else [
            {"linkId": "andfadd", "answer": [{"valueBoolean": True}]},
            {"linkId": "feeling-worse", "answer": [{"valueBoolean": True}]},
            {"linkId": "note", "answer": [{"valueString": "<script>alert(1)</script> trött"}]}],
        **extra}
    if identifier:
        resource["identifier"] = {"system": SYSTEM, "value": identifier}
    return resource


def _patient(world, database):
    pid = world.patient(unit="med")
    eid = world.episode(pid, state="admitted")
    with database.session() as s:
        pathway = s.get(Pathway, s.get(Episode, eid).pathway_id)
        pathway.symptom_questions = [QUESTION]
    return pid


def _count(database, model, pid) -> int:
    with database.session() as s:
        return s.scalar(select(func.count()).select_from(model).where(model.patient_id == pid))


def test_answers_are_recorded_once_raise_their_alert_and_read_back(app, world, database):
    pid = _patient(world, database)
    sara = fhir_client(app, database, world, "sara")
    condition = {**FHIR, "If-None-Exist": f"identifier={SYSTEM}|app-0001-000001"}
    body = _answers(pid, identifier="app-0001-000001")
    first = sara.post("/fhir/QuestionnaireResponse", json=body, headers=condition)
    assert first.status_code == 201, first.text
    assert_r4(first.json())
    items = {i["linkId"]: i for i in first.json()["item"]}
    assert items["andfadd"]["text"] == QUESTION["text"]
    assert items["andfadd"]["answer"] == [{"valueBoolean": True}]
    # The patient's words come back as data, exactly as written (never as markup).
    assert items["note"]["answer"] == [{"valueString": "<script>alert(1)</script> trött"}]
    again = sara.post("/fhir/QuestionnaireResponse", json=body, headers=condition)
    assert again.status_code == 200 and again.json() == first.json()
    assert _count(database, Observation, pid) == 1
    # "I feel worse" is its own alert, as from the patient's page.
    with database.session() as s:
        kinds = set(s.scalars(select(Alert.kind).where(Alert.patient_id == pid)))
    assert "worse" in kinds
    read = sara.get(f"/fhir/QuestionnaireResponse/{first.json()['id']}")
    assert read.status_code == 200 and read.json() == first.json()
    found = sara.get("/fhir/QuestionnaireResponse", params={"patient": pid}).json()
    assert_r4(found)
    assert [e["resource"]["id"] for e in found["entry"]] == [first.json()["id"]]
    # Values without answers are no QuestionnaireResponse.
    kim = fhir_client(app, database, world, "kim")
    assert kim.get(f"/fhir/QuestionnaireResponse/{first.json()['id']}").status_code == 404
    assert kim.get("/fhir/QuestionnaireResponse", params={"patient": pid}).json()["total"] == 0


def test_what_hemma_would_not_read_is_refused_by_its_path(app, world, database):
    pid = _patient(world, database)
    sara = fhir_client(app, database, world, "sara")
    cases = [
        (_answers(pid, items=[{"linkId": "hosta", "answer": [{"valueBoolean": True}]}]),
         "QuestionnaireResponse.item[0].linkId"),
        (_answers(pid, encounter={"reference": "Encounter/1"}),
         "QuestionnaireResponse.encounter"),
        (_answers(pid, items=[{"linkId": "andfadd", "answer": [{"valueDate": "2026-12-01"}]}]),
         "QuestionnaireResponse.item[0].answer[0]"),
        (_answers(pid, items=[{"linkId": "andfadd", "answer": [{"valueBoolean": True}],
                               "item": []}]), "QuestionnaireResponse.item[0].item"),
        (_answers(pid, items=[]), "QuestionnaireResponse.item"),
        (_answers(pid, status="in-progress"), "QuestionnaireResponse.status"),
        (_answers(pid, authored="2026-12-01T10:00:00"), "QuestionnaireResponse.authored"),
        (_answers(pid, subject={"reference": "Group/1"}), "QuestionnaireResponse.subject"),
    ]
    for body, path in cases:
        r = sara.post("/fhir/QuestionnaireResponse", json=body, headers=FHIR)
        assert r.status_code == 422, (path, r.text)
        assert r.json()["issue"][0]["expression"] == [path], r.json()
    r = sara.post("/fhir/QuestionnaireResponse", content=b"<QuestionnaireResponse/>",
                  headers={"Content-Type": "application/fhir+xml"})
    assert r.status_code == 415
    assert _count(database, Observation, pid) == 0
    # A patient the sender may not record for does not exist for them.
    hugo = fhir_client(app, database, world, "hugo")
    r = hugo.post("/fhir/QuestionnaireResponse", json=_answers(pid), headers=FHIR)
    assert r.status_code == 404
    assert _count(database, Observation, pid) == 0


def test_the_assessment_is_a_questionnaire_response_of_its_parts_and_decision(
        app, world, database):
    pid = world.patient(unit="med")
    world.episode(pid, state="assessing")  # assessed, and the physician decided to admit
    world.relation(pid, unit="hsv")
    sara = fhir_client(app, database, world, "sara")
    found = sara.get("/fhir/QuestionnaireResponse", params={"patient": pid}).json()
    assert_r4(found)
    (assessment,) = [e["resource"] for e in found["entry"]]
    assert assessment["questionnaire"] == "urn:hemma:questionnaire:assessment"
    links = [i["linkId"] for i in assessment["item"]]
    assert "medical_stability" in links and "decision" in links
    decision = next(i for i in assessment["item"] if i["linkId"] == "decision")
    assert decision["answer"][0]["valueCoding"]["code"] == "admit"
    assert sara.get(f"/fhir/QuestionnaireResponse/{assessment['id']}").json() == assessment
    # The municipality, without the patient's consent, does not see the region's assessment.
    kim = fhir_client(app, database, world, "kim")
    assert kim.get("/fhir/QuestionnaireResponse", params={"patient": pid}).json()["total"] == 0
    assert kim.get(f"/fhir/QuestionnaireResponse/{assessment['id']}").status_code == 404
