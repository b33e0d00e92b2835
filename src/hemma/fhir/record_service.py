"""FHIR reads and searches of the access log, consents, alerts and messages, and posting a
message, through Hemma's own services and the same access checks as their pages:

- AuditEvent: only a log reviewer, and only the entries of their own organisation's users,
  as on the log review page (`logreview.own_entries`); reading the log is itself logged.
- Consent: whoever may read the patient (as the care team and sharing page).
- Flag: the patient's alerts as `monitoring.views.patient_alerts` shows them (an alert
  routed to a unit the reader may not see is absent; a reason quoting another
  organisation's values without consent is shown without them).
- Communication: the patient's messages as `messaging.service.patient_messages` shows them;
  posting is `messaging.service.send`, as from the page.

A patient the caller may not read does not exist: 404 on read, absent from a search."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hemma.access import audit, logreview, sharing
from hemma.access.policy import Action, Subject
from hemma.access.service import can, origin, require
from hemma.fhir import record, vitals
from hemma.fhir.search import DAMAGED, DateRange, SearchError, decode_cursor, encode_cursor
from hemma.i18n.labels import ALERT_KINDS, AUDIT_ACTIONS
from hemma.kit.errors import NotFound
from hemma.kit.text import N_
from hemma.models import Alert, AlertEvent, AuditEntry, Consent, Message, Observation, Organisation


@dataclass
class Page:
    resources: list[dict]
    next_cursor: str | None


# --- AuditEvent --------------------------------------------------------------------------------

# Reading the access log through FHIR is a log review: logged like the page's own reads
# (log.review), under its own name.
LOG_READ = "log.fhir"


def _logged(db: Session, entries: list[AuditEntry]) -> None:
    """Showing entries is an access to their patients; a search that showed none is still
    logged, without a patient."""
    patients = {e.patient_id for e in entries if e.patient_id is not None}
    for pid in patients:
        audit.record(db, pid, LOG_READ, basis="role")
    if not patients:
        audit.record(db, None, LOG_READ, basis="role")


def read_audit_event(db: Session, subject: Subject, entry_id: int) -> dict:
    """One entry of the reviewer's own organisation (403 for whoever may not review the
    log; 404 for another organisation's entry, as for one that does not exist)."""
    require(db, subject, Action.LOG_REVIEW)
    entry = db.scalar(logreview.own_entries(subject).where(AuditEntry.id == entry_id))
    if entry is None:
        raise NotFound()
    _logged(db, [entry])
    return record.audit_event(entry, AUDIT_ACTIONS)


def search_audit_events(db: Session, subject: Subject, *, patient_id: uuid.UUID | None,
                        no_patient: bool, agents: list[str], when: DateRange, count: int,
                        cursor: str | None) -> Page:
    """The reviewer's organisation's entries, newest first, a page at a time."""
    require(db, subject, Action.LOG_REVIEW)
    stmt = logreview.own_entries(subject)
    if no_patient:
        stmt = stmt.where(False)
    elif patient_id is not None:
        stmt = stmt.where(AuditEntry.patient_id == patient_id)
    if agents:
        ids = [int(a) for a in agents if a.isdigit()]
        names = [a.strip().lower() for a in agents if not a.isdigit()]
        stmt = stmt.where(AuditEntry.user_id.in_(ids) | AuditEntry.username.in_(names))
    if when.start is not None:
        stmt = stmt.where(AuditEntry.at >= when.start)
    if when.end is not None:
        stmt = stmt.where(AuditEntry.at < when.end)
    if cursor:
        before = decode_cursor(cursor).get("id")
        if not isinstance(before, int):
            raise SearchError(DAMAGED, "_cursor")
        stmt = stmt.where(AuditEntry.id < before)
    rows = list(db.scalars(stmt.order_by(AuditEntry.id.desc()).limit(count + 1)))
    shown = rows[:count]
    _logged(db, shown)
    more = len(rows) > count and shown
    return Page([record.audit_event(e, AUDIT_ACTIONS) for e in shown],
                encode_cursor({"id": shown[-1].id}) if more else None)


# --- Consent -----------------------------------------------------------------------------------


def read_consent(db: Session, subject: Subject, consent_id: uuid.UUID) -> dict:
    c = db.get(Consent, consent_id)
    if c is None:
        raise NotFound()
    require(db, subject, Action.READ, c.patient_id, audit_action="fhir.read")
    return record.consent(c, db.get(Organisation, c.organisation_id).name)


def search_consents(db: Session, subject: Subject, *, patient_id: uuid.UUID,
                    statuses: set[str]) -> list[dict]:
    """The patient's consents, current and withdrawn (as the sharing page lists them)."""
    decision = can(db, subject, Action.READ, patient_id)
    if not decision:
        return []
    audit.record(db, patient_id, "fhir.search", basis=str(decision.basis),
                 emergency=decision.emergency)
    out = [record.consent(c, name) for c, name in sharing.consents(db, patient_id)]
    return [r for r in out if not statuses or r["status"] in statuses]


# --- Flag (alerts) -----------------------------------------------------------------------------


def _alert_shown(db: Session, decision, view) -> dict:
    a = view.alert
    # A version per change after it was raised (each is an event in its history).
    changes, last = db.execute(select(func.count(), func.max(AlertEvent.at)).where(
        AlertEvent.alert_id == a.id, AlertEvent.kind != "created")).one()
    return record.flag(record.AlertShown(
        a, view.reasons, _observations(db, decision, a), version=1 + changes,
        last_updated=last, kind_label=ALERT_KINDS.get(a.kind)))


def _observations(db: Session, decision, alert: Alert) -> list[str]:
    """The Observations behind the alert that the reader may read: the value that raised it
    and those that joined it later, each parameter its reasons name."""
    row_ids = [alert.observation_id] if alert.observation_id else []
    for detail in db.scalars(select(AlertEvent.detail).where(
            AlertEvent.alert_id == alert.id, AlertEvent.detail.like("observation %"))):
        try:
            row_ids.append(uuid.UUID(detail.removeprefix("observation ")))
        except ValueError:
            continue
    named = set()
    for r in alert.reasons:
        if r.get("topic") == "news2":
            named.add("news2")
        parameter = (r.get("params") or {}).get("parameter")
        if parameter in vitals.SLUGS:
            named.add(parameter)
    out = []
    for row_id in dict.fromkeys(row_ids):
        row = db.get(Observation, row_id)
        if row is None or not decision.sees(origin(db, row.documented_by_unit_id)):
            continue
        for parameter in sorted(named):
            if _has(row, parameter):
                out.append(vitals.resource_id(row.id, parameter))
    return out


def _has(row, parameter: str) -> bool:
    if parameter == "blood_pressure":
        return row.systolic_bp is not None or row.diastolic_bp is not None
    if parameter == "news2":
        return row.news2_total is not None
    return getattr(row, parameter, None) is not None


MAX_ALERTS = 1000


def read_flag(db: Session, subject: Subject, alert_id: uuid.UUID) -> dict:
    """One alert, if the reader may read its patient and see the unit it is routed to."""
    from hemma.monitoring import views

    alert = db.get(Alert, alert_id)
    if alert is None:
        raise NotFound()
    decision = require(db, subject, Action.READ, alert.patient_id,
                       on=origin(db, alert.unit_id), audit_action="fhir.read")
    return _alert_shown(db, decision, views.alert_view(db, decision, alert))


def search_flags(db: Session, subject: Subject, *, patient_id: uuid.UUID, closed: bool,
                 open_: bool, when: DateRange, count: int) -> list[dict]:
    """The patient's alerts as the patient's alert list shows them, newest first: open ones
    (active), closed ones (inactive) when asked for."""
    from hemma.monitoring import views

    decision = can(db, subject, Action.READ, patient_id)
    if not decision:
        return []
    audit.record(db, patient_id, "fhir.search", basis=str(decision.basis),
                 emergency=decision.emergency)
    # A patient has tens of alerts in an episode, not thousands: filter after reading.
    found = views.patient_alerts(db, decision, patient_id, unresolved_only=not closed,
                                 limit=MAX_ALERTS)
    out = []
    for view in found:
        is_open = view.alert.status != "resolved"
        if (is_open and not open_) or (not is_open and not closed):
            continue
        if not when.holds(view.alert.created_at):
            continue
        out.append(_alert_shown(db, decision, view))
    return out[:count]


# --- Communication (messages) ------------------------------------------------------------------


def _photo_url(base: str, m: Message) -> str | None:
    return f"{base}Communication/{m.id}/photo" if m.photo_key else None


def _shown(found, base: str) -> list[record.MessageShown]:
    out = []
    for view in [*found.threads, *([found.staff] if found.staff else [])]:
        for mv in view.messages:
            out.append(record.MessageShown(mv.message, view.thread.kind, view.thread.unit_id,
                                           mv.author, _photo_url(base, mv.message)))
    return out


def read_communication(db: Session, subject: Subject, message_id: uuid.UUID,
                       base: str) -> dict:
    """One message, if the reader may read the patient and see the message (the thread with
    the patient of a unit they may see; a staff message of an organisation they may see)."""
    from hemma.messaging import service as messaging

    m = db.get(Message, message_id)
    if m is None:
        raise NotFound()
    decision = require(db, subject, Action.READ, m.patient_id,
                       on=origin(db, m.documented_by_unit_id), audit_action="fhir.read")
    for shown in _shown(messaging.patient_messages(db, decision, m.patient_id), base):
        if shown.message.id == m.id:
            return record.communication(shown)
    raise NotFound()


def photo(db: Session, subject: Subject, message_id: uuid.UUID) -> Message:
    """A message's photo, through the same check as on the patient's messages page."""
    from hemma.messaging import service as messaging

    m = db.get(Message, message_id)
    if m is None:
        raise NotFound()
    decision = require(db, subject, Action.READ, m.patient_id, audit_action="fhir.read")
    return messaging.photo_for_staff(db, decision, m.patient_id, m.id)


def search_communications(db: Session, subject: Subject, *, patient_id: uuid.UUID,
                          sent: DateRange, received: DateRange, count: int,
                          cursor: str | None, base: str) -> Page:
    """The patient's messages the reader may see, newest first, a page at a time."""
    from hemma.messaging import service as messaging

    decision = can(db, subject, Action.READ, patient_id)
    if not decision:
        return Page([], None)
    audit.record(db, patient_id, "fhir.search", basis=str(decision.basis),
                 emergency=decision.emergency)
    rows = _shown(messaging.patient_messages(db, decision, patient_id), base)
    rows = [s for s in rows if sent.holds(s.message.created_at) and _received_in(s, received)]
    rows.sort(key=lambda s: (s.message.created_at, str(s.message.id)), reverse=True)
    start = 0
    if cursor:
        after = decode_cursor(cursor).get("after")
        ids = [str(s.message.id) for s in rows]
        if not isinstance(after, str) or after not in ids:
            raise SearchError(N_("The page link no longer matches the results: start the "
                                 "search again"), "_cursor")
        start = ids.index(after) + 1
    page = rows[start:start + count]
    more = start + count < len(rows) and page
    return Page([record.communication(s) for s in page],
                encode_cursor({"after": str(page[-1].message.id)}) if more else None)


def _received_in(shown: record.MessageShown, when: DateRange) -> bool:
    if when.start is None and when.end is None:
        return True
    m = shown.message
    at: datetime | None = m.read_at if m.author_kind != "staff" else m.seen_at
    return at is not None and when.holds(at)


# The elements of a Communication Hemma reads when a staff member writes to the patient; any
# other is refused by name (a recipient or an attachment Hemma would drop must not look sent).
COMMUNICATION_ELEMENTS = {"resourceType", "id", "meta", "text", "status", "category", "subject",
                          "recipient", "sender", "payload"}
RECIPIENT = N_("The recipient must be the patient: Patient/<id>")


def _patient_of(value, where: str) -> uuid.UUID:
    ref = value.get("reference") if isinstance(value, dict) else None
    if not isinstance(ref, str) or not ref.startswith("Patient/"):
        raise vitals.NotUnderstood(RECIPIENT, where)
    try:
        return uuid.UUID(ref.removeprefix("Patient/"))
    except ValueError:
        raise vitals.NotUnderstood(RECIPIENT, where) from None


def message_to_patient(resource: dict, unit_id: int) -> tuple[uuid.UUID, str]:
    """A posted Communication as (patient, text), or NotUnderstood naming the element. The
    sender is the writer's unit, whether or not the resource says so; another is refused."""
    if not isinstance(resource, dict) or resource.get("resourceType") != "Communication":
        raise vitals.NotUnderstood(N_("Hemma takes a Communication here"), "resourceType")
    unknown = sorted(set(resource) - COMMUNICATION_ELEMENTS)
    if unknown:
        raise vitals.NotUnderstood(N_("Hemma does not read Communication.%(element)s"),
                                   f"Communication.{unknown[0]}", element=unknown[0])
    if resource.get("status", "completed") != "completed":
        raise vitals.NotUnderstood(N_("Only a sent message is taken (status completed)"),
                                   "Communication.status")
    recipients = resource.get("recipient")
    if not isinstance(recipients, list) or len(recipients) != 1:
        raise vitals.NotUnderstood(RECIPIENT, "Communication.recipient")
    patient_id = _patient_of(recipients[0], "Communication.recipient[0]")
    if "subject" in resource and _patient_of(resource["subject"],
                                             "Communication.subject") != patient_id:
        raise vitals.NotUnderstood(N_("The subject must be the recipient"),
                                   "Communication.subject")
    own = {"reference": f"Organization/unit-{unit_id}"}
    if "sender" in resource and resource["sender"] != own:
        raise vitals.NotUnderstood(N_("The sender is your unit: Organization/unit-%(unit)s"),
                                   "Communication.sender", unit=unit_id)
    payload = resource.get("payload")
    if not isinstance(payload, list) or len(payload) != 1 or not isinstance(
            payload[0], dict) or set(payload[0]) != {"contentString"} or not isinstance(
            payload[0]["contentString"], str):
        raise vitals.NotUnderstood(N_("Send the message as one payload.contentString"),
                                   "Communication.payload")
    return patient_id, payload[0]["contentString"]


def send_to_patient(db: Session, subject: Subject, resource: dict, base: str) -> dict:
    """A staff member writes to the patient as their unit, through messaging's own action
    (the access check, the notice to the patient and the audit entry are the page's)."""
    from pydantic import ValidationError

    from hemma.kit.errors import Invalid
    from hemma.kit.validation import field_errors
    from hemma.messaging import service as messaging
    from hemma.messaging.schemas import MessageCreate
    from hemma.models import ThreadKind

    patient_id, text = message_to_patient(resource, subject.unit_id)
    try:
        data = MessageCreate(body=text, to=ThreadKind.PATIENT)
    except ValidationError as e:
        first = field_errors(list(e.errors()))[0]
        raise vitals.NotUnderstood(first.message, "Communication.payload[0].contentString",
                                   **first.params) from None
    try:
        m = messaging.send(db, subject, patient_id, data)
    except Invalid as e:
        raise vitals.NotUnderstood(e.message, "Communication.payload[0].contentString",
                                   **(e.params or {})) from None
    thread_unit = subject.unit_id
    return record.communication(record.MessageShown(m, "patient", thread_unit, _author(db, m),
                                                    _photo_url(base, m)))


def _author(db: Session, m: Message) -> str:
    from hemma.models import Staff

    staff = db.get(Staff, m.author_staff_id) if m.author_staff_id else None
    return staff.full_name if staff else ""


# --- Device ------------------------------------------------------------------------------------


def _devices(db: Session, decision, patient_id: uuid.UUID) -> list[record.DeviceSeen]:
    """The devices that sent values of the patient the reader may see (of their own
    organisation, and others' with consent, unless blocked: monitoring.visible's rule)."""
    first: dict[str, datetime] = {}
    for name, unit_id, at in db.execute(
            select(Observation.device_id, Observation.documented_by_unit_id,
                   func.min(Observation.measured_at))
            .where(Observation.patient_id == patient_id, Observation.device_id.is_not(None))
            .group_by(Observation.device_id, Observation.documented_by_unit_id)):
        if decision.sees(origin(db, unit_id)) and (name not in first or at < first[name]):
            first[name] = at
    return [record.DeviceSeen(patient_id, name, at) for name, at in sorted(first.items())]


def read_device(db: Session, subject: Subject, resource_id: str) -> dict:
    try:
        patient_id = uuid.UUID(resource_id[:36])
    except ValueError:
        raise NotFound() from None
    decision = require(db, subject, Action.READ, patient_id, audit_action="fhir.read")
    for d in _devices(db, decision, patient_id):
        if record.device_id(d.patient_id, d.name) == resource_id:
            return record.device(d)
    raise NotFound()


def search_devices(db: Session, subject: Subject, *, patient_id: uuid.UUID,
                   identifiers: list[tuple[str | None, str]]) -> list[dict]:
    """The devices that sent the patient's values, by name (`identifier`)."""
    decision = can(db, subject, Action.READ, patient_id)
    if not decision:
        return []
    audit.record(db, patient_id, "fhir.search", basis=str(decision.basis),
                 emergency=decision.emergency)
    wanted = {value for system, value in identifiers if system in (None, record.DEVICE_ID)}
    return [record.device(d) for d in _devices(db, decision, patient_id)
            if not identifiers or d.name in wanted]
