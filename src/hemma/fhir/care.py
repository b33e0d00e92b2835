"""The care around the patient as FHIR R4 resources (pure: rows and names in, dicts out): the
home-ward episode (EpisodeOfCare) and its care team (CareTeam), the shared plan (CarePlan)
and the patient's goals (Goal), care requests between units (ServiceRequest), tasks (Task),
and the directory: staff (Practitioner, PractitionerRole) and organisations and their units
(Organization).

Hemma's own codes (a care request's kind, a task's kind, a profession) are sent as codings of
`urn:hemma:<name>` systems with their Swedish (or the reader's) display, and as text."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from hemma.fhir.resources import (
    HSA_ID,
    meta,
    organization_ref,
    patient_ref,
    practitioner_ref,
    reference,
    unit_ref,
)

CARE_KIND_SYSTEM = "urn:hemma:care-kind"
TASK_KIND_SYSTEM = "urn:hemma:task-kind"
PROFESSION_SYSTEM = "urn:hemma:profession"
UNIT_KIND_SYSTEM = "urn:hemma:unit-kind"
ORGANIZATION_TYPE = "http://terminology.hl7.org/CodeSystem/organization-type"
# The home ward's episode (vård på sjukhusnivå i hemmet).
EPISODE_TYPE = {"coding": [{"system": "urn:hemma:episode-type", "code": "home-ward"}]}

# Hemma's states as FHIR's.
EPISODE_STATUS = {"assessing": "planned", "admitted": "active", "discharged": "finished",
                  "returned": "finished", "not_admitted": "cancelled"}
REQUEST_STATUS = {"requested": "active", "accepted": "active", "declined": "revoked",
                  "cancelled": "revoked"}
ACTIVITY_STATUS = {"planned": "not-started", "requested": "scheduled", "ongoing": "in-progress",
                   "done": "completed", "declined": "cancelled", "stopped": "stopped"}
TASK_PRIORITY = {"normal": "routine", "high": "urgent", "akut": "stat"}
OPEN_TASK = "ready"  # FHIR's "ready to be performed, no action taken yet"
DONE_TASK = "completed"


def content_version(resource: dict) -> str:
    """The version of a resource Hemma derives from several rows (a plan, a care team): a
    digest of what it says, so its ETag changes exactly when its content does."""
    body = {k: v for k, v in resource.items() if k != "meta"}
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:16]


def with_version(resource: dict, last_updated: str | None, *profiles: str) -> dict:
    resource["meta"] = meta(content_version(resource), last_updated, *profiles)
    return resource


def _instant(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _day(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _period(start: datetime | date | None, end: datetime | date | None) -> dict | None:
    out = {}
    if start is not None:
        out["start"] = start.isoformat()
    if end is not None:
        out["end"] = end.isoformat()
    return out or None


def coded(system: str, code: str, display: str | None) -> dict:
    coding: dict[str, Any] = {"system": system, "code": code}
    if display:
        coding["display"] = display
    out: dict[str, Any] = {"coding": [coding]}
    if display:
        out["text"] = display
    return out


def _clean(resource: dict) -> dict:
    """Leave out empty elements (FHIR forbids empty strings, lists and objects)."""
    return {k: v for k, v in resource.items() if v not in (None, "", [], {})}


# --- The directory --------------------------------------------------------------------------


def practitioner(staff: Any, profession: str | None) -> dict:
    """A staff member: the HSA-id, the name, a work phone and the profession."""
    resource = _clean({
        "resourceType": "Practitioner", "id": str(staff.id),
        "identifier": [{"system": HSA_ID, "value": staff.hsa_id}] if staff.hsa_id else None,
        "active": bool(staff.active),
        "name": [{"use": "official", "family": staff.family_name,
                  "given": staff.given_name.split(), "text": staff.full_name}],
        "telecom": [{"system": "phone", "value": staff.phone, "use": "work"}]
        if staff.phone else None,
        "qualification": [{"code": coded(PROFESSION_SYSTEM, staff.profession, profession)}],
    })
    return with_version(resource, None)


def practitioner_role(staff: Any, unit: Any, profession: str | None) -> dict:
    """A staff member's post: their unit, and what they are there."""
    resource = _clean({
        "resourceType": "PractitionerRole", "id": str(staff.id),
        "active": bool(staff.active),
        "practitioner": practitioner_ref(staff.id, staff.full_name),
        "organization": unit_ref(unit.id, unit.name),
        "code": [coded(PROFESSION_SYSTEM, staff.profession, profession)],
        "telecom": [{"system": "phone", "value": staff.phone, "use": "work"}]
        if staff.phone else None,
    })
    return with_version(resource, None)


def organization(org: Any, kind: str | None) -> dict:
    """A region or municipality (`org-<id>`)."""
    resource = _clean({
        "resourceType": "Organization", "id": f"org-{org.id}", "active": True,
        "identifier": [{"system": HSA_ID, "value": org.hsa_id}] if org.hsa_id else None,
        "type": [{"coding": [{"system": ORGANIZATION_TYPE, "code": "govt"}], "text": kind}],
        "name": org.name,
    })
    return with_version(resource, None)


def unit_organization(unit: Any, org: Any, kind: str | None) -> dict:
    """A unit of an organisation (`unit-<id>`): a home ward, a home-health team."""
    resource = _clean({
        "resourceType": "Organization", "id": f"unit-{unit.id}", "active": bool(unit.active),
        "identifier": [{"system": HSA_ID, "value": unit.hsa_id}] if unit.hsa_id else None,
        "type": [coded(UNIT_KIND_SYSTEM, unit.kind, kind)],
        "name": unit.name,
        "telecom": [{"system": "phone", "value": unit.phone, "use": "work"}]
        if unit.phone else None,
        "partOf": organization_ref(org.id, org.name),
    })
    return with_version(resource, None)


# --- The episode and its team ---------------------------------------------------------------


def episode_of_care(e: Any, *, unit_name: str, coordinator: str | None, state: str | None
                    ) -> dict:
    """A home-ward episode: its state, the unit with medical responsibility, the fast
    care contact (fast vårdkontakt) and the care team."""
    start = e.admitted_at or e.assessed_at
    resource = _clean({
        "resourceType": "EpisodeOfCare", "id": str(e.id),
        "status": EPISODE_STATUS[e.state],
        "type": [{**EPISODE_TYPE, "text": state}] if state else [EPISODE_TYPE],
        "patient": patient_ref(e.patient_id),
        "managingOrganization": unit_ref(e.responsible_unit_id, unit_name),
        "period": _period(start, e.ended_at),
        "careManager": practitioner_ref(e.coordinator_id, coordinator)
        if e.coordinator_id else None,
        "team": [reference("CareTeam", e.id)],
    })
    return with_version(resource, _instant(e.ended_at or e.admitted_at or e.assessed_at))


def care_team(e: Any, members: Iterable[tuple[Any, str]], *, unit_name: str) -> dict:
    """The care team across organisations: each unit and person with a care relation of
    the episode, their role and since when (`members`: relation, display name)."""
    participants = []
    for r, name in members:
        member = practitioner_ref(r.staff_id, name) if r.staff_id else unit_ref(r.unit_id, name)
        participants.append(_clean({
            "role": [{"text": r.role}] if r.role else None,
            "member": member, "period": _period(r.starts_at, r.ends_at)}))
    resource = _clean({
        "resourceType": "CareTeam", "id": str(e.id),
        "status": "active" if e.state in ("assessing", "admitted") else "inactive",
        "subject": patient_ref(e.patient_id),
        "period": _period(e.admitted_at or e.assessed_at, e.ended_at),
        "participant": participants,
        "managingOrganization": [unit_ref(e.responsible_unit_id, unit_name)],
    })
    return with_version(resource, None)


# --- The plan -------------------------------------------------------------------------------


def goal(plan: Any, episode: Any) -> dict:
    """The patient's goals in their own words, as the plan holds them."""
    resource = {
        "resourceType": "Goal", "id": str(plan.id),
        "lifecycleStatus": "active" if episode.state in ("assessing", "admitted")
        else "completed",
        "description": {"text": plan.goals},
        "subject": patient_ref(plan.patient_id),
        "expressedBy": patient_ref(plan.patient_id),
    }
    return with_version(resource, _instant(plan.updated_at))


def care_plan(plan: Any, episode: Any, activities: Iterable[Any], *, hidden: int,
              hidden_note: str | None, follow_up_note: str | None, title: str) -> dict:
    """The one shared plan of an episode. Each activity the reader may see refers to the
    care request (ServiceRequest) or task (Task) it became, or, if neither, holds its detail;
    the activities of organisations the reader may not see are counted in a note."""
    out_activities = []
    for a in activities:
        row = a.activity
        if row.care_request_id:
            out_activities.append({"reference": reference("ServiceRequest",
                                                          row.care_request_id, row.what)})
        elif row.task_id:
            out_activities.append({"reference": reference("Task", row.task_id, row.what)})
        else:
            out_activities.append({"detail": _clean({
                "status": ACTIVITY_STATUS.get(a.status, "unknown"),
                "description": row.what,
                "performer": [practitioner_ref(row.staff_id, a.person) if row.staff_id
                              else unit_ref(row.unit_id, a.unit_name)],
                "scheduledPeriod": _period(row.starts_on, row.ends_on),
            })})
    notes = [{"text": n} for n in (follow_up_note, hidden_note) if n]
    resource = _clean({
        "resourceType": "CarePlan", "id": str(plan.id),
        "status": "active" if episode.state in ("assessing", "admitted") else "completed",
        "intent": "plan", "title": title,
        "description": plan.needs,
        "subject": patient_ref(plan.patient_id),
        "period": _period(episode.admitted_at or episode.assessed_at, episode.ended_at),
        "author": unit_ref(plan.documented_by_unit_id),
        "careTeam": [reference("CareTeam", episode.id)],
        "goal": [reference("Goal", plan.id)] if plan.goals else None,
        "activity": out_activities,
        "note": notes,
    })
    return with_version(resource, _instant(plan.updated_at))


def follow_ups_text(follow_ups: Iterable[dict], label: str) -> str | None:
    lines = [f"{f.get('on', '')}: {f.get('what', '')}".strip(": ") for f in follow_ups or []]
    return f"{label}: " + "; ".join(lines) if lines else None


# --- Requests and tasks ---------------------------------------------------------------------


def service_request(r: Any, *, kind: str | None, from_name: str, to_name: str) -> dict:
    """A care request from one unit to another: what (its kind), when (fixed times each day
    or a window, from a first to a last day), how long, and its answer."""
    repeat: dict[str, Any] = {
        "boundsPeriod": _period(r.first_date, r.last_date),
        "duration": r.duration_minutes, "durationUnit": "min", "frequency": 1,
        "period": 1, "periodUnit": "d"}
    if r.times:
        repeat["timeOfDay"] = [f"{t}:00" if len(t) == 5 else t for t in r.times]
        repeat["frequency"] = len(r.times)
    notes = [{"text": r.notes}] if r.notes else []
    if r.window_start and r.window_end:
        notes.append({"text": f"{r.window_start}–{r.window_end}"})
    if r.decline_reason:
        notes.append({"text": r.decline_reason})
    resource = _clean({
        "resourceType": "ServiceRequest", "id": str(r.id),
        "status": REQUEST_STATUS.get(r.status, "unknown"),
        "intent": "order",
        "code": coded(CARE_KIND_SYSTEM, r.kind, kind),
        "subject": patient_ref(r.patient_id),
        "occurrenceTiming": {"repeat": repeat},
        "authoredOn": _instant(r.created_at),
        "requester": unit_ref(r.from_unit_id, from_name),
        "performer": [unit_ref(r.to_unit_id, to_name)],
        "note": notes,
    })
    return with_version(resource, _instant(r.decided_at or r.created_at))


def task(t: Any, *, kind: str | None, unit_name: str, person: str | None, version: int,
         last_modified: datetime, reopened_because: str | None) -> dict:
    """A task: what, for whom, owned by a unit (or a person in it), due when, its priority
    and whether it is done. Its version counts its changes of status."""
    resource = _clean({
        "resourceType": "Task", "id": str(t.id),
        "status": DONE_TASK if t.done_at else OPEN_TASK,
        "statusReason": {"text": reopened_because} if reopened_because and not t.done_at
        else None,
        "intent": "order",
        "priority": TASK_PRIORITY.get(t.priority, "routine"),
        "code": coded(TASK_KIND_SYSTEM, t.kind, kind),
        "description": t.title,
        "for": patient_ref(t.patient_id),
        "authoredOn": _instant(t.created_at),
        "lastModified": _instant(last_modified),
        "requester": unit_ref(t.documented_by_unit_id),
        "owner": practitioner_ref(t.staff_id, person) if t.staff_id
        else unit_ref(t.unit_id, unit_name),
        "restriction": {"period": {"end": _instant(t.due_at)}},
        "note": [{"text": t.description}] if t.description else None,
        "executionPeriod": {"end": _instant(t.done_at)} if t.done_at else None,
    })
    resource["meta"] = meta(str(version), _instant(last_modified))
    return resource


# --- Visits and rounds ----------------------------------------------------------------------

# Why a visit was not done, as the visiting staff chose it (labels.NOT_DONE_CODES). R4's
# Encounter has no status reason, so it is the Appointment's cancelationReason.
NOT_DONE_SYSTEM = "urn:hemma:visit-not-done"
APPOINTMENT_STATUS = {"planned": "booked", "started": "arrived", "done": "fulfilled",
                      "not_done": "noshow", "cancelled": "cancelled"}
ENCOUNTER_STATUS = {"started": "in-progress", "done": "finished", "not_done": "cancelled"}
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
HOME_HEALTH = {"system": ACT_CODE, "code": "HH", "display": "home health"}
VIRTUAL = {"system": ACT_CODE, "code": "VR", "display": "virtual"}
PRIMARY_PERFORMER = {"coding": [{
    "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "PPRF"}]}


def appointment(v: Any, *, kind: str | None, unit_name: str,
                staff: list[tuple[int, str, datetime, datetime]],
                not_done: str | None = None) -> dict:
    """A planned visit: when (the planned time if the day is planned, else its window) and
    who comes (the staff of the day's plan, or the unit until it is planned); a visit not
    done says why (`not_done`: the words of its code)."""
    from datetime import timedelta

    window_end = v.latest + timedelta(minutes=v.duration_minutes)
    start = min((s[2] for s in staff), default=v.earliest)
    end = max((s[3] for s in staff), default=window_end)
    participants: list[dict] = [{"actor": patient_ref(v.patient_id), "required": "required",
                                 "status": "accepted"}]
    if staff:
        participants += [{"actor": practitioner_ref(sid, name), "required": "required",
                          "status": "accepted"} for sid, name, _s, _e in staff]
    else:
        participants.append({"type": [{"text": unit_name}], "required": "required",
                             "status": "needs-action"})
    resource = _clean({
        "resourceType": "Appointment", "id": str(v.id),
        "status": APPOINTMENT_STATUS.get(v.status, "booked"),
        "serviceType": [coded(CARE_KIND_SYSTEM, v.kind, kind)],
        "priority": 1 if v.urgent else None,
        "description": f"{kind or v.kind}, {unit_name}",
        "start": _instant(start), "end": _instant(end),
        "minutesDuration": v.duration_minutes,
        "requestedPeriod": [{"start": _instant(v.earliest), "end": _instant(window_end)}],
        "created": _instant(v.created_at),
        "cancelationReason": coded(NOT_DONE_SYSTEM, v.not_done_code, not_done)
        if v.not_done_code else None,
        "comment": v.not_done_reason,
        "basedOn": [reference("ServiceRequest", v.care_request_id)]
        if v.care_request_id else None,
        "participant": participants,
    })
    return with_version(resource, _instant(v.done_at or v.started_at or v.created_at))


def visit_encounter(v: Any, *, kind: str | None, unit_name: str,
                    performer: tuple[int, str] | None) -> dict:
    """A visit that took place (or was tried): at home, by the unit, when."""
    resource = _clean({
        "resourceType": "Encounter", "id": str(v.id),
        "status": ENCOUNTER_STATUS[v.status],
        "class": HOME_HEALTH,
        "type": [coded(CARE_KIND_SYSTEM, v.kind, kind)],
        "subject": patient_ref(v.patient_id),
        "basedOn": [reference("ServiceRequest", v.care_request_id)]
        if v.care_request_id else None,
        "appointment": [reference("Appointment", v.id)],
        "participant": [{"type": [PRIMARY_PERFORMER],
                         "individual": practitioner_ref(*performer)}] if performer else None,
        "period": _period(v.started_at or v.earliest, v.done_at),
        "serviceProvider": unit_ref(v.unit_id, unit_name),
    })
    return with_version(resource, _instant(v.done_at or v.started_at or v.created_at))


def round_encounter(n: Any, *, physician: str, unit_name: str, decision: str | None,
                    title: str) -> dict:
    """A decision at the remote round (distansrond): a virtual encounter."""
    resource = _clean({
        "resourceType": "Encounter", "id": str(n.id), "status": "finished",
        "class": VIRTUAL,
        "type": [{"text": title}, coded("urn:hemma:round-decision", n.decision, decision)],
        "subject": patient_ref(n.patient_id),
        "episodeOfCare": [reference("EpisodeOfCare", n.episode_id)],
        "participant": [{"type": [PRIMARY_PERFORMER],
                         "individual": practitioner_ref(n.staff_id, physician)}],
        "period": {"start": _instant(n.at), "end": _instant(n.at)},
        "serviceProvider": unit_ref(n.documented_by_unit_id, unit_name),
    })
    return with_version(resource, _instant(n.at))


# --- Documents ------------------------------------------------------------------------------

LOINC = "http://loinc.org"
DISCHARGE_SUMMARY = {"system": LOINC, "code": "18842-5", "display": "Discharge summary"}
PLAN_OF_CARE = {"system": LOINC, "code": "18776-5", "display": "Plan of care note"}
PDF = "application/pdf"


def document_reference(*, id_: str, patient_id: Any, kind: dict, title: str, final: bool,
                       when: datetime, unit_id: int, unit_name: str, period: dict | None,
                       binary_url: str, size: int, digest: str,
                       authenticator: tuple[int, str] | None, version: str) -> dict:
    """A document Hemma hands over (the agreement, the discharge summary), its PDF as the
    attachment (a Binary, read through the same access check; its address absolute, as R4's
    `url` is)."""
    resource = _clean({
        "resourceType": "DocumentReference", "id": id_,
        "status": "current", "docStatus": "final" if final else "preliminary",
        "type": {"coding": [kind], "text": title},
        "subject": patient_ref(patient_id),
        "date": _instant(when),
        "author": [unit_ref(unit_id, unit_name)],
        "authenticator": practitioner_ref(*authenticator) if authenticator else None,
        "custodian": unit_ref(unit_id, unit_name),
        "description": title,
        "content": [{"attachment": {"contentType": PDF, "language": "sv",
                                    "url": binary_url, "size": size,
                                    "hash": digest, "title": title,
                                    "creation": _instant(when)}}],
        "context": {"period": period} if period else None,
    })
    resource["meta"] = meta(version, _instant(when))
    return resource


def binary(id_: str, data: bytes, document_id: str) -> dict:
    import base64

    return {"resourceType": "Binary", "id": id_, "meta": meta("1", None),
            "contentType": PDF,
            "securityContext": reference("DocumentReference", document_id),
            "data": base64.b64encode(data).decode()}


# --- Provenance -----------------------------------------------------------------------------

PARTICIPANT_TYPE = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
DATA_OPERATION = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"


def provenance(target: dict, *, recorded: datetime, who: dict, role: str, unit_id: int,
               unit_name: str | None, operation: str = "CREATE") -> dict:
    """Who documented a resource, when, and for which organisation (the unit on whose behalf
    it was written: the origin the access rules follow)."""
    kind, rid = target["resourceType"], target["id"]
    resource = {
        "resourceType": "Provenance", "id": f"{kind}-{rid}",
        "target": [reference(kind, rid)],
        "recorded": _instant(recorded),
        "activity": {"coding": [{"system": DATA_OPERATION, "code": operation}]},
        "agent": [{"type": {"coding": [{"system": PARTICIPANT_TYPE, "code": role}]},
                   "who": who, "onBehalfOf": unit_ref(unit_id, unit_name)},
                  {"type": {"coding": [{"system": PARTICIPANT_TYPE, "code": "custodian"}]},
                   "who": unit_ref(unit_id, unit_name)}],
    }
    return with_version(resource, _instant(recorded))


def logistics_task(item: Any, *, category: str | None, provider: str, title: str) -> dict:
    """A thing that must be in the home before the patient (a checklist item of the road
    home): what, who provides it, by when, and whether it is there."""
    resource = _clean({
        "resourceType": "Task", "id": str(item.id),
        "status": DONE_TASK if item.done_at else OPEN_TASK,
        "intent": "order", "priority": "routine",
        "code": coded(TASK_KIND_SYSTEM, "logistics", title),
        "description": item.what,
        "for": patient_ref(item.patient_id),
        "authoredOn": _instant(item.created_at),
        "lastModified": _instant(item.done_at or item.created_at),
        "requester": unit_ref(item.documented_by_unit_id),
        "owner": unit_ref(item.provider_unit_id, provider),
        "restriction": {"period": {"end": _instant(item.due_at)}},
        "note": [{"text": n} for n in (category, item.deliverer) if n],
        "executionPeriod": {"end": _instant(item.done_at)} if item.done_at else None,
    })
    resource["meta"] = meta("2" if item.done_at else "1", _instant(item.done_at
                                                                   or item.created_at))
    return resource
