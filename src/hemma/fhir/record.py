"""The record around the values as FHIR R4 (pure: values in, dicts out): the access log as
AuditEvents shaped after IHE Basic Audit Log Patterns (BALP), the patient's consents to
share between organisations as Consents, alerts as Flags, messages as Communications and
the home devices that sent values as Devices.

Alerts are Flags, not DetectedIssues: a Hemma alert is an open warning about the patient
("look at this patient now") that is open until someone closes it, which is what Flag's
status active/inactive says and what clients show as a banner. DetectedIssue is about a
problem with a proposed or ongoing action (an interaction, a duplicate order), and its status
is an observation's (preliminary, final, ...), which cannot say whether an alert is still
open. Flag's priority and the Observations that raised the alert are FHIR's own extensions
(flag-priority, flag-detail); who acknowledged it is Hemma's."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hemma.fhir.resources import (
    meta,
    organization_ref,
    patient_ref,
    practitioner_ref,
    reference,
    unit_ref,
)


def instant(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


# --- AuditEvent (BALP) ------------------------------------------------------------------------

AUDIT_EVENT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
RESTFUL_INTERACTION = "http://hl7.org/fhir/restful-interaction"
HEMMA_AUDIT_ACTION = "urn:hemma:audit-action"
SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"
ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
PARTICIPATION_TYPE = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
# Hemma's FHIR interactions are BALP's RESTful events (type `rest`, subtype the interaction);
# every other action keeps Hemma's own code.
REST_ACTIONS = {"fhir.read": ("read", "R"), "fhir.search": ("search-type", "E"),
                "fhir.create": ("create", "C")}
# AuditEvent.action (C R U D E) from the last word of Hemma's action code.
_CREATES = {"record", "register", "register_existing", "send", "add", "create", "admit",
            "start", "open"}
_READS = {"read", "list", "search", "view", "review", "extract", "inbox", "thread", "photo",
          "live", "overview", "chart", "export", "fhir"}
_DELETES = {"remove", "delete"}
# Why access was granted, as a purpose of use: care (the care relationship) or emergency care.
PURPOSES = {"unit": ("TREAT", "treatment"), "personal": ("TREAT", "treatment"),
            "emergency": ("ETREAT", "Emergency Treatment")}


def _crude(action: str) -> str:
    first = action.split("+")[0]
    if first in REST_ACTIONS:
        return REST_ACTIONS[first][1]
    verb = first.rsplit(".", 1)[-1]
    if verb in _CREATES:
        return "C"
    if verb in _READS or first == "patient.read":
        return "R"
    if verb in _DELETES:
        return "D"
    return "U" if first.endswith((".update", ".edit", ".change")) else "E"


def audit_event(e: Any, labels: dict[str, str]) -> dict:
    """One access log entry as an AuditEvent: who (the user as a Practitioner, the requestor,
    from which network address), what (Hemma's action; a FHIR interaction as BALP's rest
    event), about whom (the patient as an entity in the role of patient), when, and whether
    it was allowed (0) or refused (4). `labels` names Hemma's action codes."""
    parts = e.action.split("+")
    first = parts[0]
    if first in REST_ACTIONS:
        kind = {"system": AUDIT_EVENT_TYPE, "code": "rest", "display": "Restful Operation"}
        subtype = [{"system": RESTFUL_INTERACTION, "code": REST_ACTIONS[first][0]}]
        subtype += [_hemma_code(p, labels) for p in parts[1:]]
    else:
        kind = _hemma_code(first, labels)
        subtype = [_hemma_code(p, labels) for p in parts[1:]]
    crude = _crude(e.action)
    # The user received the information (a read, a search) or wrote it (BALP's user agent).
    role = ("AUT", "author (originator)") if crude in "CUD" else (
        "IRCP", "information recipient")
    agent: dict[str, Any] = {
        "type": {"coding": [{"system": PARTICIPATION_TYPE, "code": role[0],
                             "display": role[1]}]},
        "requestor": e.user_id is not None}
    if e.user_id is not None:
        agent["who"] = practitioner_ref(e.user_id, e.username)
    else:
        agent["who"] = {"display": e.username or "Hemma"}
    if e.username:
        agent["altId"] = e.username
    if e.client_addr:
        agent["network"] = {"address": e.client_addr, "type": "2"}  # 2: an IP address
    if e.basis in PURPOSES:
        code, display = PURPOSES["emergency" if e.emergency else e.basis]
        agent["purposeOfUse"] = [{"coding": [{"system": ACT_REASON, "code": code,
                                              "display": display}]}]
    agents = [agent]
    if e.unit_id is not None:
        # The unit the user worked for: the organisation accountable for the access.
        agents.append({"type": {"coding": [{"system": PARTICIPATION_TYPE, "code": "PRF",
                                            "display": "performer"}]},
                       "who": unit_ref(e.unit_id), "requestor": False})
    resource: dict[str, Any] = {
        "resourceType": "AuditEvent", "id": str(e.id),
        # An entry is never changed (the hash chain would show it): one version.
        "meta": meta("1", instant(e.at)),
        "type": kind, "action": crude, "recorded": instant(e.at),
        "outcome": "0" if e.outcome == "allowed" else "4",
        "agent": agents,
        "source": {"site": "Hemma", "observer": {"display": "Hemma"},
                   "type": [{"system": SOURCE_TYPE, "code": "4",
                             "display": "Application Server"}]},
    }
    if subtype:
        resource["subtype"] = subtype
    if e.outcome != "allowed":
        resource["outcomeDesc"] = "Access refused"
    entities = []
    if e.patient_id is not None:
        entity: dict[str, Any] = {
            "what": patient_ref(e.patient_id),
            "type": {"system": ENTITY_TYPE, "code": "1", "display": "Person"},
            "role": {"system": OBJECT_ROLE, "code": "1", "display": "Patient"}}
        entities.append(entity)
    if e.detail:
        entities.append({"description": e.detail,
                         "type": {"system": ENTITY_TYPE, "code": "4", "display": "Other"},
                         "detail": [{"type": "hemma-sequence",
                                     "valueString": f"{e.chain_id}:{e.seq}"}]})
    if entities:
        resource["entity"] = entities
    return resource


def _hemma_code(code: str, labels: dict[str, str]) -> dict:
    out = {"system": HEMMA_AUDIT_ACTION, "code": code}
    if code in labels:
        out["display"] = labels[code]
    return out


# --- Consent ----------------------------------------------------------------------------------

CONSENT_SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"
LOINC = "http://loinc.org"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
# Sammanhållen journalföring: the patient's consent lets staff of one organisation see what
# the others documented (Patientdatalagen 2008:355, 6 kap.; Lag 2022:913 between health and
# social care).
PDL_POLICY = "https://www.riksdagen.se/sv/dokument-och-lagar/dokument/svensk-forfattningssamling/patientdatalag-2008355_sfs-2008-355/"


def consent(c: Any, organisation_name: str | None) -> dict:
    """A consent to share: the patient permits staff of an organisation (the actor, as the
    information's recipient) to see what other organisations documented, from when it was
    given until it was withdrawn."""
    active = c.withdrawn_at is None
    period: dict[str, str] = {"start": instant(c.given_at)}
    if not active:
        period["end"] = instant(c.withdrawn_at)
    performer = patient_ref(c.patient_id) if c.given_by == "patient" else {
        "display": "representative"}
    return {
        "resourceType": "Consent", "id": str(c.id),
        # Given, then perhaps withdrawn: nothing else about it ever changes.
        "meta": meta("1" if active else "2", instant(c.withdrawn_at or c.given_at)),
        "status": "active" if active else "inactive",
        "scope": {"coding": [{"system": CONSENT_SCOPE, "code": "patient-privacy",
                              "display": "Privacy Consent"}]},
        "category": [{"coding": [{"system": LOINC, "code": "59284-0",
                                  "display": "Patient Consent"}],
                      "text": f"{c.method} consent"}],
        "patient": patient_ref(c.patient_id),
        "dateTime": instant(c.given_at),
        "performer": [performer],
        "organization": [unit_ref(c.documented_by_unit_id)],
        "policy": [{"uri": PDL_POLICY}],
        "policyRule": {"coding": [{"system": ACT_CODE, "code": "OPTIN", "display": "opt-in"}]},
        "provision": {
            "type": "permit", "period": period,
            "actor": [{"role": {"coding": [{"system": PARTICIPATION_TYPE, "code": "IRCP",
                                            "display": "information recipient"}]},
                       "reference": organization_ref(c.organisation_id, organisation_name)}]},
    }


# --- Flag (alerts) -----------------------------------------------------------------------------

FLAG_CATEGORY = "http://terminology.hl7.org/CodeSystem/flag-category"
FLAG_PRIORITY = "http://hl7.org/fhir/StructureDefinition/flag-priority"
FLAG_PRIORITY_CODES = "http://hl7.org/fhir/flag-priority-code"
FLAG_DETAIL = "http://hl7.org/fhir/StructureDefinition/flag-detail"
ALERT_KIND = "urn:hemma:alert-kind"
ALERT_HANDLED = "urn:hemma:fhir:alert-handled"
# Hemma's severities as flag priorities (high and critical both page at once).
PRIORITIES = {"low": ("PL", "Low priority"), "medium": ("PM", "Medium priority"),
              "high": ("PH", "High priority"), "critical": ("PH", "High priority")}


@dataclass
class AlertShown:
    """An alert as one reader may see it: its reasons in words (those quoting values the
    reader may not see, without the values), the Observations behind it the reader may read,
    and its version (one per event in its history)."""

    alert: Any
    reasons: list[str]
    observations: list[str] = field(default_factory=list)
    version: int = 1
    last_updated: datetime | None = None
    kind_label: str | None = None


def flag(shown: AlertShown) -> dict:
    a = shown.alert
    code, display = PRIORITIES.get(a.severity, ("PN", "No alarm"))
    extensions: list[dict] = [{"url": FLAG_PRIORITY, "valueCodeableConcept": {"coding": [
        {"system": FLAG_PRIORITY_CODES, "code": code, "display": display}],
        "text": a.severity}}]
    extensions += [{"url": FLAG_DETAIL, "valueReference": reference("Observation", oid)}
                   for oid in shown.observations]
    for what, at, by in (("acknowledged", a.acknowledged_at, a.acknowledged_by_id),
                         ("resolved", a.resolved_at, a.resolved_by_id)):
        if at is not None:
            parts: list[dict] = [{"url": "what", "valueCode": what},
                                 {"url": "at", "valueDateTime": instant(at)}]
            if by is not None:
                parts.append({"url": "by", "valueReference": practitioner_ref(by)})
            extensions.append({"url": ALERT_HANDLED, "extension": parts})
    kind: dict[str, Any] = {"system": ALERT_KIND, "code": a.kind}
    if shown.kind_label:
        kind["display"] = shown.kind_label
    period = {"start": instant(a.created_at)}
    if a.resolved_at is not None:
        period["end"] = instant(a.resolved_at)
    return {
        "resourceType": "Flag", "id": str(a.id),
        "meta": meta(str(shown.version), instant(shown.last_updated or a.created_at)),
        "extension": extensions,
        "status": "inactive" if a.status == "resolved" else "active",
        "category": [{"coding": [{"system": FLAG_CATEGORY, "code": "clinical",
                                  "display": "Clinical"}]}],
        "code": {"coding": [kind], "text": "; ".join(shown.reasons) or a.kind},
        "subject": patient_ref(a.patient_id),
        "period": period,
        # The unit the alert is routed to: the one responsible for acting on it.
        "author": unit_ref(a.unit_id),
    }


# --- Communication (messages) ----------------------------------------------------------------

THREAD_KIND = "urn:hemma:message-thread"
MESSAGE_AUTHOR = "urn:hemma:fhir:message-author"


@dataclass
class MessageShown:
    """A message as one reader may see it, with the names Hemma shows beside it."""

    message: Any
    thread_kind: str  # patient / staff
    thread_unit_id: int | None
    author: str
    photo_url: str | None = None


def communication(shown: MessageShown) -> dict:
    """A message: from the patient (or a relative) to a unit, from a unit's staff member to
    the patient, or between the care team's staff. The text is the writer's own, as data; a
    photo is a link served through the access check, never inlined."""
    m = shown.message
    extensions = []
    if m.author_kind == "staff":
        # Staff write as their unit (the unit answers the patient, and documents the
        # message); who wrote it is named beside.
        sender = unit_ref(m.documented_by_unit_id)
        if m.author_staff_id:
            extensions.append({"url": MESSAGE_AUTHOR, "valueReference": practitioner_ref(
                m.author_staff_id, shown.author or None)})
    elif m.author_kind == "patient":
        sender = patient_ref(m.patient_id, shown.author)
    else:
        sender = {"display": shown.author}  # a relative, named with their relation
    recipients = []
    if shown.thread_kind == "patient":
        recipients = [patient_ref(m.patient_id)] if m.author_kind == "staff" else [
            unit_ref(shown.thread_unit_id)]
    payload = []
    if m.body:
        payload.append({"contentString": m.body})
    if m.photo_key and shown.photo_url:
        attachment: dict[str, Any] = {"url": shown.photo_url}
        if m.photo_type:
            attachment["contentType"] = m.photo_type
        if m.photo_bytes:
            attachment["size"] = m.photo_bytes
        payload.append({"contentAttachment": attachment})
    # Received: by the unit it was written to (a patient's), or by the patient (a staff
    # member's message to them).
    received = m.read_at if m.author_kind != "staff" else m.seen_at
    changes = [t for t in (m.read_at, m.seen_at) if t is not None]
    resource: dict[str, Any] = {
        "resourceType": "Communication", "id": str(m.id),
        "meta": meta(str(1 + len(changes)), instant(max([m.created_at, *changes]))),
        "status": "completed",
        "category": [{"coding": [{"system": THREAD_KIND, "code": shown.thread_kind}]}],
        "subject": patient_ref(m.patient_id),
        "sent": instant(m.created_at),
        "sender": sender,
    }
    if extensions:
        resource["extension"] = extensions
    if recipients:
        resource["recipient"] = recipients
    if received is not None:
        resource["received"] = instant(received)
    if payload:
        resource["payload"] = payload
    return resource


# --- Device ------------------------------------------------------------------------------------

# Hemma knows a home device only by the name it sends with its values (an Observation's
# `device`, kept as the submission's device_id), so a Device is "the device that sent this
# patient's values": its id is the patient's and a digest of that name, and it exists for a
# reader only while they may see at least one of the values it sent.
DEVICE_ID = "urn:hemma:device-id"


@dataclass
class DeviceSeen:
    patient_id: Any
    name: str
    first: datetime


def device_id(patient_id: object, name: str) -> str:
    import hashlib

    return f"{patient_id}-{hashlib.sha256(name.encode()).hexdigest()[:16]}"


def device(d: DeviceSeen) -> dict:
    return {
        "resourceType": "Device", "id": device_id(d.patient_id, d.name),
        # Nothing Hemma knows of a device changes: one version, from its first value.
        "meta": meta("1", instant(d.first)),
        "identifier": [{"system": DEVICE_ID, "value": d.name}],
        "status": "active",
        "deviceName": [{"name": d.name, "type": "user-friendly-name"}],
        "patient": patient_ref(d.patient_id),
    }
