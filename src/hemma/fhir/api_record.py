"""FHIR R4 routes for the record around the values: the access log (AuditEvent, BALP-shaped,
read-only), consents to share between organisations (Consent), alerts (Flag), messages
(Communication: read, search, and a staff member's message to the patient) and the home
devices that sent values (Device). Each route is thin: the access declaration, the search
parameters, and `record_service`."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from hemma.access.policy import Action
from hemma.fhir import capability, record_service, resources, search
from hemma.fhir.capability import Kind
from hemma.fhir.http import (
    FhirAccess,
    FhirResponse,
    check,
    fhir_body,
    next_url,
    self_url,
    serve_reads,
    values,
    versioned,
)
from hemma.fhir.http import base as _base
from hemma.fhir.search import SearchError
from hemma.kit.errors import NotFound
from hemma.kit.text import N_
from hemma.kit.validation import BigDbId
from hemma.web.deps import DbSession, Principal
from hemma.web.routing import JsonRoute

router = APIRouter(prefix="/fhir", route_class=JsonRoute, tags=["FHIR R4"])

AUDIT_EVENT = capability.register(Kind(
    "AuditEvent", ("read", "vread", "search-type"),
    (("patient", "reference"), ("date", "date"), ("agent", "reference")),
    documentation="The access log of the reader's own organisation, for log reviewers only "
                  "(as the log review page); shaped after IHE BALP, without claiming its "
                  "profiles. Reading it is logged."))
CONSENT = capability.register(Kind(
    "Consent", ("read", "vread", "search-type"), (("patient", "reference"), ("status", "token")),
    documentation="The patient's consents that staff of an organisation may see what the "
                  "others documented (sammanhållen journalföring)."))
FLAG = capability.register(Kind(
    "Flag", ("read", "vread", "search-type"),
    (("patient", "reference"), ("date", "date"), ("status", "token")),
    documentation="Alerts: active while open or acknowledged, inactive once resolved. A "
                  "search returns the active ones unless status says otherwise."))
COMMUNICATION = capability.register(Kind(
    "Communication", ("read", "vread", "search-type", "create"),
    (("patient", "reference"), ("subject", "reference"), ("sent", "date"),
     ("received", "date")),
    documentation="Messages with the patient and between the care team's staff. Create: a "
                  "staff member writes to the patient as their unit (recipient Patient/<id>, "
                  "one payload.contentString)."))


def _patient(request: Request, *, required: bool = True) -> tuple[bool, uuid.UUID | None]:
    """(asked, the patient's id): None when the reference names no patient Hemma has."""
    refs = values(request, "patient") + values(request, "subject")
    if not refs:
        if required:
            raise SearchError(N_("Say whose: patient=<id>"), "patient")
        return False, None
    ref = refs[-1].removeprefix(_base(request)).removeprefix("Patient/")
    try:
        return True, uuid.UUID(ref)
    except ValueError:
        return True, None


def _searchset(request: Request, found: list[dict], cursor: str | None = None,
               total: bool = False) -> FhirResponse:
    return FhirResponse(resources.bundle(
        "searchset", [{"resource": r} for r in found], self_url=self_url(request),
        next_url=next_url(request, cursor) if cursor else None,
        total=len(found) if total else None, base=_base(request)))


def _count(request: Request) -> int:
    return search.count(request.query_params.getlist("_count"))


# --- AuditEvent --------------------------------------------------------------------------------

LogSearcher = Annotated[Principal, Depends(FhirAccess("AuditEvent", "s", Action.LOG_REVIEW))]


serve_reads(router, "AuditEvent", "audit_event_id", BigDbId,
            lambda db, p, id_, _r: record_service.read_audit_event(db, p.subject, id_),
            "One entry of the access log (a log reviewer's own organisation's).", Action.LOG_REVIEW)


@router.get("/AuditEvent", response_class=FhirResponse)
def search_audit_events(request: Request, db: DbSession, principal: LogSearcher):
    """The organisation's access log, newest first, by patient, time and user (`agent`: a
    username or Practitioner/<id>), a page at a time with `next` links."""
    check(request, AUDIT_EVENT.parameters())
    asked, patient_id = _patient(request, required=False)
    agents = [a.removeprefix(_base(request)).removeprefix("Practitioner/")
              for a in values(request, "agent")]
    page = record_service.search_audit_events(
        db, principal.subject, patient_id=patient_id, no_patient=asked and patient_id is None,
        agents=agents, when=search.date_range(values(request, "date")), count=_count(request),
        cursor=request.query_params.get("_cursor"))
    return _searchset(request, page.resources, page.next_cursor)


# --- Consent -----------------------------------------------------------------------------------

ConsentSearcher = Annotated[Principal, Depends(FhirAccess("Consent", "s"))]
CONSENT_STATUSES = {"active", "inactive"}


def _statuses(request: Request, allowed: set[str]) -> set[str]:
    out = {search.token(v)[1] for v in values(request, "status")}
    if out - allowed:
        raise SearchError(N_("status can be %(allowed)s"), "status",
                          allowed=" | ".join(sorted(allowed)))
    return out


serve_reads(router, "Consent", "consent_id", uuid.UUID,
            lambda db, p, id_, _r: record_service.read_consent(db, p.subject, id_),
            "One consent (404 unless the caller may read the patient).")


@router.get("/Consent", response_class=FhirResponse)
def search_consents(request: Request, db: DbSession, principal: ConsentSearcher):
    """The patient's consents, current (active) and withdrawn (inactive)."""
    check(request, CONSENT.parameters())
    statuses = _statuses(request, CONSENT_STATUSES)
    _asked, patient_id = _patient(request)
    found = [] if patient_id is None else record_service.search_consents(
        db, principal.subject, patient_id=patient_id, statuses=statuses)
    return _searchset(request, found, total=True)


# --- Flag (alerts) -----------------------------------------------------------------------------

FlagSearcher = Annotated[Principal, Depends(FhirAccess("Flag", "s"))]
FLAG_STATUSES = {"active", "inactive"}


serve_reads(router, "Flag", "alert_id", uuid.UUID,
            lambda db, p, id_, _r: record_service.read_flag(db, p.subject, id_),
            "One alert, as the caller may see it.")


@router.get("/Flag", response_class=FhirResponse)
def search_flags(request: Request, db: DbSession, principal: FlagSearcher):
    """The patient's open alerts (`status=inactive` the resolved ones; both:
    `status=active,inactive`), newest first; `date` is when an alert was raised."""
    check(request, FLAG.parameters())
    statuses = _statuses(request, FLAG_STATUSES) or {"active"}
    when = search.date_range(values(request, "date"))
    _asked, patient_id = _patient(request)
    found = [] if patient_id is None else record_service.search_flags(
        db, principal.subject, patient_id=patient_id, open_="active" in statuses,
        closed="inactive" in statuses, when=when, count=_count(request))
    return _searchset(request, found, total=True)


# --- Communication (messages) ------------------------------------------------------------------

MessageReader = Annotated[Principal, Depends(FhirAccess("Communication", "r"))]
MessageSearcher = Annotated[Principal, Depends(FhirAccess("Communication", "s"))]
MessageWriter = Annotated[Principal, Depends(FhirAccess("Communication", "c", Action.MESSAGE))]


@router.get("/Communication/{message_id}/photo")
def communication_photo(message_id: uuid.UUID, db: DbSession, principal: MessageReader):
    """The photo sent with a message (the attachment's url), through the access check."""
    from hemma.messaging import photos

    message = record_service.photo(db, principal.subject, message_id)
    try:
        data = photos.path_of(message.photo_key).read_bytes()
    except OSError:
        raise NotFound() from None
    return Response(data, media_type=message.photo_type,
                    headers={"Cache-Control": "private, no-store"})


serve_reads(router, "Communication", "message_id", uuid.UUID,
            lambda db, p, id_, request: record_service.read_communication(
        db, p.subject, id_, _base(request)),
            "One message, as the caller may see it.")


@router.get("/Communication", response_class=FhirResponse)
def search_communications(request: Request, db: DbSession, principal: MessageSearcher):
    """The patient's messages the caller may see, newest first, by `sent` and `received`, a
    page at a time with `next` links."""
    check(request, COMMUNICATION.parameters())
    sent = search.date_range(values(request, "sent"), "sent")
    received = search.date_range(values(request, "received"), "received")
    count = _count(request)
    _asked, patient_id = _patient(request)
    page = record_service.Page([], None)
    if patient_id is not None:
        page = record_service.search_communications(
            db, principal.subject, patient_id=patient_id, sent=sent, received=received,
            count=count, cursor=request.query_params.get("_cursor"), base=_base(request))
    return _searchset(request, page.resources, page.next_cursor)


Resource = Annotated[dict, Depends(fhir_body)]


@router.post("/Communication", status_code=201, response_class=FhirResponse)
def create_communication(request: Request, body: Resource, db: DbSession,
                         principal: MessageWriter):
    """A staff member writes to the patient, as their unit (recipient Patient/<id>, the text
    in payload.contentString): as from the patient's messages page, with the notice to the
    patient and the audit entry."""
    made = record_service.send_to_patient(db, principal.subject, body, _base(request))
    location = f"{_base(request)}Communication/{made['id']}/_history/" \
               f"{made['meta']['versionId']}"
    return versioned(made, 201, {"Location": location})


# --- Device ------------------------------------------------------------------------------------

DEVICE = capability.register(Kind(
    "Device", ("read", "vread", "search-type"),
    (("patient", "reference"), ("identifier", "token")),
    documentation="The home devices that sent a patient's values, known by the name they "
                  "send (Observation.device); one the caller may see no value of is absent."))
DeviceSearcher = Annotated[Principal, Depends(FhirAccess("Device", "s"))]


serve_reads(router, "Device", "device_id", str,
            lambda db, p, id_, _r: record_service.read_device(db, p.subject, id_),
            "A device that sent the patient's values.")


@router.get("/Device", response_class=FhirResponse)
def search_devices(request: Request, db: DbSession, principal: DeviceSearcher):
    """The devices that sent a patient's values (`identifier`: the name a device sends)."""
    check(request, DEVICE.parameters())
    identifiers = [search.token(v) for v in values(request, "identifier")]
    _asked, patient_id = _patient(request)
    found = [] if patient_id is None else record_service.search_devices(
        db, principal.subject, patient_id=patient_id, identifiers=identifiers)
    return _searchset(request, found, total=True)
