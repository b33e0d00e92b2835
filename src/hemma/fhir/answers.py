"""The patient's answers to the symptom questions of their pathway, with "I feel worse" and
their own words, as a FHIR QuestionnaireResponse (pure): out from a stored submission, and
in from a patient's app or a device, back into the values Hemma records (and checks against
the alert rules, as from the patient's own page).

The questions are the pathway's (`symptom_questions`: key, text); each is an item whose
`linkId` is the question's key. Two items are Hemma's own: `feeling-worse` ("Jag mår sämre")
and `note` (the patient's words)."""

from __future__ import annotations

from typing import Any

from hemma.fhir.resources import meta, patient_ref
from hemma.fhir.vitals import NotUnderstood
from hemma.kit.text import N_

QUESTIONNAIRE = "urn:hemma:questionnaire:symptoms"
FEELING_WORSE = "feeling-worse"
NOTE = "note"
# What a patient's app sends that Hemma reads; any other element is refused by name.
ELEMENTS = {"resourceType", "id", "meta", "text", "identifier", "questionnaire", "status",
            "subject", "authored", "author", "source", "item"}
ITEM_ELEMENTS = {"linkId", "text", "answer"}
ANSWER_TYPES = ("valueBoolean", "valueString", "valueInteger")
MAX_ITEMS = 32


def has_answers(row: Any) -> bool:
    return bool(row.symptoms or row.feeling_worse or row.note)


def response(row: Any, questions: list[dict], *, worse_text: str, note_text: str) -> dict:
    """The answers of one submission, each question with the text it was asked with."""
    texts = {q["key"]: q.get("text") for q in questions}
    items: list[dict] = []
    for key, value in (row.symptoms or {}).items():
        answer = {"valueBoolean": value} if isinstance(value, bool) else (
            {"valueInteger": value} if isinstance(value, int) else {"valueString": str(value)})
        item: dict[str, Any] = {"linkId": key, "answer": [answer]}
        if texts.get(key):
            item["text"] = texts[key]
        items.append(item)
    if row.feeling_worse:
        items.append({"linkId": FEELING_WORSE, "text": worse_text,
                      "answer": [{"valueBoolean": True}]})
    if row.note:
        items.append({"linkId": NOTE, "text": note_text, "answer": [{"valueString": row.note}]})
    by_patient = row.performer == "patient"
    resource: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse", "id": str(row.id),
        "meta": meta("1", row.received_at.isoformat()),
        "questionnaire": QUESTIONNAIRE, "status": "completed",
        "subject": patient_ref(row.patient_id),
        "authored": row.measured_at.isoformat(),
        "item": items,
    }
    if by_patient:
        resource["author"] = patient_ref(row.patient_id)
        resource["source"] = patient_ref(row.patient_id)
    return resource


def values_from(resource: dict, questions: list[dict]) -> dict:
    """A QuestionnaireResponse as Hemma's values: `symptoms` (answers to the pathway's
    questions), `feeling_worse`, `note`. Anything Hemma would not read is refused by its
    path, so nothing sent is silently dropped."""
    where = "QuestionnaireResponse"
    unknown = sorted(set(resource) - ELEMENTS)
    if unknown:
        raise NotUnderstood(N_("Hemma does not read %(element)s"), f"{where}.{unknown[0]}",
                            element=f"{where}.{unknown[0]}")
    if resource.get("status") not in ("completed", "amended"):
        raise NotUnderstood(N_("Only completed answers are recorded (status completed)"),
                            f"{where}.status")
    items = resource.get("item")
    if not isinstance(items, list) or not items:
        raise NotUnderstood(N_("Send at least one answer"), f"{where}.item")
    if len(items) > MAX_ITEMS:
        raise NotUnderstood(N_("At most %(max)s answers"), f"{where}.item", max=MAX_ITEMS)
    keys = {q["key"] for q in questions}
    symptoms: dict[str, Any] = {}
    worse, note = False, None
    for i, item in enumerate(items):
        at = f"{where}.item[{i}]"
        if not isinstance(item, dict):
            raise NotUnderstood(N_("Each answer is an item with linkId and answer"), at)
        extra = sorted(set(item) - ITEM_ELEMENTS)
        if extra:
            raise NotUnderstood(N_("Hemma does not read %(element)s"), f"{at}.{extra[0]}",
                                element=f"{at}.{extra[0]}")
        link = item.get("linkId")
        answer = item.get("answer")
        if not isinstance(answer, list) or len(answer) != 1 or not isinstance(answer[0], dict):
            raise NotUnderstood(N_("Each item has exactly one answer"), f"{at}.answer")
        kinds = [k for k in answer[0] if k in ANSWER_TYPES]
        if len(kinds) != 1 or set(answer[0]) - set(ANSWER_TYPES):
            raise NotUnderstood(N_("An answer is valueBoolean, valueInteger or valueString"),
                                f"{at}.answer[0]")
        value = answer[0][kinds[0]]
        if link == FEELING_WORSE:
            if kinds[0] != "valueBoolean":
                raise NotUnderstood(N_("An answer is valueBoolean, valueInteger or "
                                       "valueString"), f"{at}.answer[0]")
            worse = bool(value)
        elif link == NOTE:
            if kinds[0] != "valueString":
                raise NotUnderstood(N_("An answer is valueBoolean, valueInteger or "
                                       "valueString"), f"{at}.answer[0]")
            note = value
        elif link in keys:
            symptoms[link] = value
        else:
            raise NotUnderstood(N_("The patient's pathway has no question %(link)s"),
                                f"{at}.linkId", link=str(link)[:60])
    return {"symptoms": symptoms, "feeling_worse": worse, "note": note}


# --- The structured assessment before admission ----------------------------------------------

ASSESSMENT = "urn:hemma:questionnaire:assessment"
PART_STATUS_SYSTEM = "urn:hemma:assessment-part-status"
DECISION_SYSTEM = "urn:hemma:assessment-decision"


def assessment(row: Any, *, parts: dict[str, str], statuses: dict[str, str],
               decisions: dict[str, str], author: tuple[int, str] | None) -> dict:
    """One version of the snabbspår assessment: each part (medical stability, ADL, mobility,
    the home, medication, diagnosis) met, not met or not assessed, with its note; and the
    physician's decision with its reason, once taken."""
    from hemma.fhir.resources import practitioner_ref

    items: list[dict] = []
    for key, part in (row.parts or {}).items():
        status = part.get("status") if isinstance(part, dict) else None
        item: dict[str, Any] = {"linkId": key, "text": parts.get(key, key)}
        if status:
            item["answer"] = [{"valueCoding": {"system": PART_STATUS_SYSTEM, "code": status,
                                               "display": statuses.get(status, status)}}]
        items.append(item)
        note = part.get("note") if isinstance(part, dict) else None
        if note:
            items.append({"linkId": f"{key}.note", "answer": [{"valueString": note}]})
    if row.decision:
        items.append({"linkId": "decision", "answer": [{"valueCoding": {
            "system": DECISION_SYSTEM, "code": row.decision,
            "display": decisions.get(row.decision, row.decision)}}]})
        if row.decision_reason:
            items.append({"linkId": "decision.reason",
                          "answer": [{"valueString": row.decision_reason}]})
    resource: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse", "id": str(row.id),
        "meta": meta("2" if row.decided_at else "1",
                     (row.decided_at or row.created_at).isoformat()),
        "questionnaire": ASSESSMENT, "status": "completed",
        "subject": patient_ref(row.patient_id),
        "authored": row.created_at.isoformat(),
        "item": items,
    }
    if author:
        resource["author"] = practitioner_ref(*author)
    return resource
