"""FHIR reads and searches over Hemma's own services and the same access check as the pages:
a patient the caller may not read does not exist (404 on read, absent from a search); values
another organisation documented are shown only as `sees()` allows, and a NEWS2 is the one
the reader may be shown (monitoring.visible). Every patient a search returns is logged."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from hemma.access import audit
from hemma.access.policy import Action, Decision, Subject
from hemma.access.service import (
    accessible_patients,
    can,
    decisions_for,
    log_listed,
    origin,
    require,
)
from hemma.fhir import answers, record, resources, vitals
from hemma.fhir.search import DAMAGED, DateRange, SearchError, decode_cursor, encode_cursor
from hemma.i18n import gettext as _
from hemma.kit.errors import NotFound
from hemma.kit.text import N_
from hemma.kit.time import utcnow
from hemma.kit.validation import field_errors
from hemma.models import Observation, Patient, Relative
from hemma.monitoring import visible

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def _instant(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def _relatives(db: Session, patient_id: uuid.UUID) -> list[Relative]:
    return list(db.scalars(select(Relative).where(
        Relative.patient_id == patient_id, Relative.removed_at.is_(None))
        .order_by(Relative.created_at)))


def patient_resource(db: Session, p: Patient) -> dict:
    return resources.patient(p, _relatives(db, p.id), version=str(
        int(p.updated_at.timestamp())), last_updated=_instant(p.updated_at))


def read_patient(db: Session, subject: Subject, patient_id: uuid.UUID) -> dict:
    require(db, subject, Action.READ, patient_id, audit_action="fhir.read")
    p = db.get(Patient, patient_id)
    if p is None:
        raise NotFound()
    return patient_resource(db, p)


def search_patients(db: Session, subject: Subject, *, identifier: tuple[str | None, str] | None,
                    ids: list[uuid.UUID] | None, count: int) -> list[dict]:
    """The patients the caller may read that match; each one returned is logged."""
    stmt = select(Patient).where(Patient.id.in_(accessible_patients(subject)))
    if identifier is not None:
        system, value = identifier
        digits = value.replace("-", "")
        if system in (None, resources.PERSONNUMMER, resources.SAMORDNINGSNUMMER):
            stmt = stmt.where(Patient.personnummer == digits)
            if system is not None:
                stmt = stmt.where(Patient.is_coordination_number.is_(
                    system == resources.SAMORDNINGSNUMMER))
        else:
            return []  # a system Hemma does not keep: nobody has it
    if ids is not None:
        stmt = stmt.where(Patient.id.in_(ids))
    rows = list(db.scalars(stmt.order_by(Patient.family_name, Patient.given_name, Patient.id)
                           .limit(count)))
    log_listed(db, decisions_for(db, subject, [p.id for p in rows]), "fhir.search")
    return [patient_resource(db, p) for p in rows]


# --- Observations --------------------------------------------------------------------------


def _context(o, patient_ref: str) -> vitals.Context:
    performer = [{"reference": patient_ref}] if o.performer == "patient" else []
    device = {"reference": f"Device/{record.device_id(o.patient_id, o.device_id)}",
              "display": o.device_id} if o.device_id else None
    return vitals.Context(patient=patient_ref, effective=_instant(o.measured_at),
                          issued=_instant(o.received_at), performer=performer,
                          device=device, last_updated=_instant(o.received_at))


def _resources_of(o, parameters=None) -> list[dict]:
    return vitals.observations(o, _context(o, f"Patient/{o.patient_id}"), parameters)


def read_observation(db: Session, subject: Subject, resource_id: str) -> dict:
    """One Observation by its id: 404 unless the caller may read the patient and see the
    organisation that documented it."""
    found = vitals.split_id(resource_id)
    if found is None:
        raise NotFound()
    row_id, parameter = found
    row = db.get(Observation, row_id)
    if row is None:
        raise NotFound()
    decision = require(db, subject, Action.READ, row.patient_id,
                       on=origin(db, row.documented_by_unit_id), audit_action="fhir.read")
    shown = _shown(db, decision, row)
    out = _resources_of(shown, [parameter]) if shown is not None else []
    if not out:
        raise NotFound()
    return out[0]


def _shown(db: Session, decision: Decision, row):
    """The row as this reader sees it (its NEWS2 recomputed if it combined hidden values)."""
    at = row.measured_at
    for shown in visible.observations(db, decision, row.patient_id, at, at).observations:
        if shown.id == row.id:
            return shown
    return None


@dataclass
class Page:
    resources: list[dict]
    next_cursor: str | None
    patients: list[uuid.UUID]


# A page reads the values from its first one as far as the `count`-th stored after it (an
# index probe finds where that is), not the whole month (every page did: 2,880 rows of a
# gateway's 15-minute values). When those give fewer Observations than asked for (a search
# by code, values hidden from the reader), it looks four times as far, at least this far.
FIRST_WINDOW = timedelta(hours=6)


@dataclass(frozen=True)
class _Position:
    row: str
    skip: int
    at: datetime | None  # the row's measurement time (None in a link made before it was kept)


def _reach(db: Session, patient_id: uuid.UUID, newest_first: bool, first: datetime | None,
           bound: datetime | None, count: int) -> datetime | None:
    """When the `count`-th value after `first` was measured, going the search's way and not
    past `bound`; None if fewer remain. Only a position: the values themselves are read
    through the access check, by `visible.observations`."""
    at = Observation.measured_at
    stmt = select(at).where(Observation.patient_id == patient_id)
    if newest_first:
        if first is not None:
            stmt = stmt.where(at <= first)
        stmt = stmt.where(at >= bound).order_by(at.desc())
    else:
        stmt = stmt.where(at >= first)
        if bound is not None:
            stmt = stmt.where(at < bound)
        stmt = stmt.order_by(at)
    return db.scalar(stmt.offset(count).limit(1))


def search_observations(db: Session, subject: Subject, *, patient_id: uuid.UUID,
                        when: DateRange, parameters: set[str] | None, newest_first: bool,
                        count: int, cursor: str | None,
                        updated: DateRange | None = None) -> Page:
    """One page of the patient's Observations (each value its own), in time order; empty
    when the caller may not read the patient (absent, as the specification asks)."""
    decision = can(db, subject, Action.READ, patient_id)
    if not decision:
        return Page([], None, [])
    audit.record(db, patient_id, "fhir.search", basis=str(decision.basis),
                 emergency=decision.emergency)
    position = _decode(cursor) if cursor else None
    start, end = when.start or EPOCH, when.end
    anchor = position.at if position else None
    # The values between `low` and `high` (both inclusive) are read; `whole`: they reach
    # the end of the range the search asks for.
    if position is not None and anchor is None:
        low, high, whole = start, end, True
    elif newest_first:
        high = anchor or end
        edge = _reach(db, patient_id, True, high, start, count)
        low, whole = (start, True) if edge is None else (edge, False)
    else:
        low = anchor or start
        edge = _reach(db, patient_id, False, low, end, count)
        high, whole = (end, True) if edge is None else (edge, False)
    while True:
        seen = visible.observations(db, decision, patient_id, low, high).observations
        # Values measured at the same instant keep one order on every page: by their id.
        rows = sorted((o for o in seen if when.holds(o.measured_at)
                       and (updated is None or updated.holds(o.received_at))),
                      key=lambda o: (o.measured_at, str(o.id)), reverse=newest_first)
        i, skip = _position(position, rows) if position else (0, 0)
        out: list[dict] = []
        while i < len(rows) and len(out) < count:
            made = _resources_of(rows[i], parameters)[skip:]
            room = count - len(out)
            if len(made) > room:
                # The page ends within this submission's values: the next one starts there.
                out.extend(made[:room])
                skip += room
                break
            out.extend(made)
            i, skip = i + 1, 0
        if whole or (len(out) >= count and i < len(rows)):
            break
        # Fewer Observations than rows: look four times as far.
        if newest_first:
            reference = high or utcnow()
            low = reference - max(FIRST_WINDOW, (reference - low) * 4)
            if low <= start:
                low, whole = start, True
        else:
            high = low + max(FIRST_WINDOW, (high - low) * 4)
            if (end is not None and high >= end) or high > utcnow() + timedelta(days=1):
                high, whole = end, True
    next_cursor = None
    if count and i < len(rows):
        next_cursor = encode_cursor({"row": str(rows[i].id), "skip": skip,
                                     "at": rows[i].measured_at.astimezone(UTC).isoformat()})
    return Page(out, next_cursor, [patient_id])


def _decode(cursor: str) -> _Position:
    position = decode_cursor(cursor)
    row, skip, at = position.get("row"), position.get("skip"), position.get("at")
    if not isinstance(row, str) or not isinstance(skip, int) or skip < 0:
        raise SearchError(DAMAGED, "_cursor")
    moment = None
    if at is not None:
        try:
            moment = datetime.fromisoformat(at) if isinstance(at, str) else None
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is None:
            raise SearchError(DAMAGED, "_cursor")
    return _Position(row, skip, moment)


def _position(position: _Position, rows: list) -> tuple[int, int]:
    for i, o in enumerate(rows):
        if str(o.id) == position.row:
            return i, position.skip
    raise SearchError(N_("The page link no longer matches the results: start the search "
                         "again"), "_cursor")


# --- Writes ---------------------------------------------------------------------------------

# The elements of an Observation Hemma reads from a device; any other is refused by name (a
# value Hemma would drop must not look accepted).
OBSERVATION_ELEMENTS = {"resourceType", "id", "meta", "identifier", "status", "category", "code",
                        "subject", "effectiveDateTime", "valueQuantity", "valueCodeableConcept",
                        "component", "device", "performer", "note", "text"}
SUBJECT = N_("The subject must be Patient/<id>")
MAX_IDENTIFIER = 300  # characters of an identifier's value (a URN, a UUID, a device's own)
CLIENT_ID_OK = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:-")


@dataclass
class Created:
    resource: dict
    created: bool  # False: the same identifier was sent before (nothing changed)
    shown: object = None  # the submission as the sender sees it


def _client_id(resource: dict, condition: tuple[str | None, str] | None,
               where: str = "Observation") -> str:
    """The submission's client id: the identifier the device gave it (a resend is then
    harmless), or a fresh one."""
    given = resource.get("identifier") or []
    identifiers = [i for i in (given if isinstance(given, list) else [given])
                   if isinstance(i, dict)]
    value = None
    if condition is not None:
        system, value = condition
        if not any(i.get("value") == value and (system is None or i.get("system") == system)
                   for i in identifiers):
            raise vitals.NotUnderstood(N_("If-None-Exist must name the Observation's own "
                                          "identifier (identifier=system|value)"),
                                       f"{where}.identifier")
    elif identifiers:
        value = identifiers[0].get("value")
    if value is None:
        return f"fhir-{uuid.uuid4()}"
    if not isinstance(value, str) or not value or len(value) > MAX_IDENTIFIER:
        raise vitals.NotUnderstood(N_("The identifier's value must be text of at most "
                                      "%(max)s characters"), f"{where}.identifier.value",
                                   max=MAX_IDENTIFIER)
    if 8 <= len(value) <= 80 and not set(value) - CLIENT_ID_OK:
        return value
    # Any FHIR identifier is a device's own (FHIR's example glucose has "6323"): one that is
    # not in the form of a submission's client id is kept by a digest of its system and
    # value, the same on every resend.
    system = next((i.get("system") for i in identifiers if i.get("value") == value), None)
    digest = hashlib.sha256(f"{system or ''}|{value}".encode()).hexdigest()[:48]
    return f"fhir.{digest}"


def _subject(resource: dict, where: str = "Observation") -> uuid.UUID:
    ref = (resource.get("subject") or {}).get("reference") if isinstance(
        resource.get("subject"), dict) else None
    if not isinstance(ref, str) or not ref.startswith("Patient/"):
        raise vitals.NotUnderstood(SUBJECT, f"{where}.subject")
    try:
        return uuid.UUID(ref.removeprefix("Patient/"))
    except ValueError:
        raise vitals.NotUnderstood(SUBJECT, f"{where}.subject") from None


def submission(resource: dict, condition: tuple[str | None, str] | None):
    """A device's Observation as (patient id, Hemma submission), or NotUnderstood naming the
    element."""
    from pydantic import ValidationError

    from hemma.monitoring.schemas import ObservationCreate

    if not isinstance(resource, dict) or resource.get("resourceType") != "Observation":
        raise vitals.NotUnderstood(N_("Hemma takes an Observation here"), "resourceType")
    unknown = sorted(set(resource) - OBSERVATION_ELEMENTS)
    if unknown:
        raise vitals.NotUnderstood(N_("Hemma does not read Observation.%(element)s"),
                                   f"Observation.{unknown[0]}", element=unknown[0])
    if resource.get("status", "final") not in ("final", "amended", "corrected", "preliminary"):
        raise vitals.NotUnderstood(N_("Only a measured value is recorded (status final)"),
                                   "Observation.status")
    patient_id = _subject(resource)
    values = vitals.values_from(resource)
    device = resource.get("device")
    device_id = device.get("display") or device.get("reference") if isinstance(
        device, dict) else None
    try:
        data = ObservationCreate.model_validate({
            "client_id": _client_id(resource, condition),
            "measured_at": resource.get("effectiveDateTime"),
            "device_id": device_id, **values})
    except ValidationError as e:
        first = field_errors(list(e.errors()))[0]
        where = {"measured_at": "Observation.effectiveDateTime", "client_id":
                 "Observation.identifier", "device_id": "Observation.device"}.get(
            first.field, "Observation.value[x]")
        raise vitals.NotUnderstood(first.message, where, **first.params) from None
    return patient_id, data


def create_observations(db: Session, subject: Subject, items: list, *, performer: str
                        ) -> list[Created]:
    """Record devices' Observations, all or nothing, exactly once each (a resend of the same
    identifier answers the first); a patient the caller may not record for is refused as one
    that does not exist."""
    from hemma.monitoring import service as monitoring

    decisions = decisions_for(db, subject, {pid for pid, _data in items}, Action.OBSERVE)
    for pid, _data in items:
        if not decisions[pid]:
            if decisions[pid].facts is not None and decisions[pid].facts.exists:
                audit.record(db, pid, "fhir.create", outcome="denied")
            raise NotFound()
    recorded = monitoring.record_many(db, items, performer=performer, source="api",
                                      documented_by_unit_id=subject.unit_id,
                                      staff_id=subject.staff_id, indexed=True)
    log_listed(db, decisions, "fhir.create")
    out = []
    for (pid, data), r in zip(items, recorded, strict=True):
        shown = visible.answer(db, decisions[pid], r.observation, r.news2_units)
        # The value sent; a resend of an identifier first used for another value answers
        # with what was recorded under it (a submission always holds at least one value).
        made = _resources_of(shown, set(_parameters(data))) or _resources_of(shown) or [None]
        out.append(Created(made[0], r.created, shown))
    return out


def _parameters(data) -> list[str]:
    fields = {f for f in vitals.BY_FIELD if getattr(data, f, None) is not None}
    if getattr(data, "systolic_bp", None) is not None or getattr(data, "diastolic_bp",
                                                                  None) is not None:
        fields.add("blood_pressure")
    return sorted(fields)


# --- The patient's answers (QuestionnaireResponse) ------------------------------------------


def _questions(db: Session, episode_id: uuid.UUID | None) -> list[dict]:
    from hemma.models import Episode, Pathway

    if episode_id is None:
        return []
    found = db.execute(select(Pathway.symptom_questions).join(
        Episode, Episode.pathway_id == Pathway.id).where(Episode.id == episode_id)).scalar()
    return list(found or [])


def _answers_resource(db: Session, row) -> dict:
    return answers.response(row, _questions(db, row.episode_id),
                            worse_text=_("I feel worse"), note_text=_("In my own words"))


def _assessments(db: Session, decision: Decision, patient_id: uuid.UUID) -> list[dict]:
    """Every version of each episode's assessment the reader may see (the episode's
    documentation: the home ward's record)."""
    from hemma.assessments import service as assessments
    from hemma.i18n import labels
    from hemma.models import Episode

    out = []
    for e in db.scalars(select(Episode).where(Episode.patient_id == patient_id)):
        if not decision.sees(origin(db, e.responsible_unit_id)):
            continue
        for v in assessments.versions(db, decision, patient_id, e.id):
            out.append(answers.assessment(
                v.row, parts={k: _(t) for k, t in labels.ASSESSMENT_PARTS.items()},
                statuses={k: _(t) for k, t in labels.PART_STATUS.items()},
                decisions={k: _(t) for k, t in labels.ASSESSMENT_DECISIONS.items()},
                author=(v.row.created_by_id, v.assessed_by)))
    return out


def read_answers(db: Session, subject: Subject, row_id: uuid.UUID) -> dict:
    """One submission's answers, or one version of the assessment: 404 unless the caller
    may read the patient and see the organisation that documented it."""
    from hemma.models import Assessment

    row = db.get(Observation, row_id)
    if row is None:
        found = db.get(Assessment, row_id)
        if found is None:
            raise NotFound()
        decision = require(db, subject, Action.READ, found.patient_id,
                           audit_action="fhir.read")
        for resource in _assessments(db, decision, found.patient_id):
            if resource["id"] == str(row_id):
                return resource
        raise NotFound()
    decision = require(db, subject, Action.READ, row.patient_id,
                       on=origin(db, row.documented_by_unit_id), audit_action="fhir.read")
    shown = _shown(db, decision, row)
    if shown is None or not answers.has_answers(shown):
        raise NotFound()
    return _answers_resource(db, shown)


def search_answers(db: Session, subject: Subject, patient_id: uuid.UUID, when: DateRange,
                   limit: int = 1000) -> list[dict]:
    """The patient's answers in the period, newest first (those the caller may see)."""
    decision = can(db, subject, Action.READ, patient_id)
    if not decision:
        return []
    audit.record(db, patient_id, "fhir.search", basis=str(decision.basis),
                 emergency=decision.emergency)
    seen = visible.observations(db, decision, patient_id, when.start or EPOCH,
                                when.end).observations
    rows = [o for o in reversed(seen) if when.holds(o.measured_at) and answers.has_answers(o)]
    found = [_answers_resource(db, o) for o in rows[:limit]]
    found += [r for r in _assessments(db, decision, patient_id)
              if when.holds(datetime.fromisoformat(r["authored"]))]
    return sorted(found, key=lambda r: r["authored"], reverse=True)


def _patient_questions(db: Session, patient_id: uuid.UUID) -> list[dict]:
    from hemma.models import ACTIVE_STATES, Episode

    episode_id = db.scalar(select(Episode.id).where(
        Episode.patient_id == patient_id, Episode.state.in_(ACTIVE_STATES)))
    return _questions(db, episode_id)


def create_answers(db: Session, subject: Subject, resource: dict,
                   condition: tuple[str | None, str] | None, *, performer: str) -> Created:
    """Record a patient app's (or a device's) answers as a submission, checked against the
    alert rules like the patient's own page ("Jag mår sämre" raises its alert); exactly once
    per identifier, as an Observation."""
    from pydantic import ValidationError

    from hemma.monitoring.schemas import ObservationCreate

    where = "QuestionnaireResponse"
    if resource.get("resourceType") != where:
        raise vitals.NotUnderstood(N_("Hemma takes a QuestionnaireResponse here"),
                                   "resourceType")
    patient_id = _subject(resource, where)
    # Whether the patient exists for the caller is decided before their pathway is read.
    decision = can(db, subject, Action.OBSERVE, patient_id)
    if not decision:
        if decision.facts is not None and decision.facts.exists:
            audit.record(db, patient_id, "fhir.create", outcome="denied")
        raise NotFound()
    values = answers.values_from(resource, _patient_questions(db, patient_id))
    try:
        data = ObservationCreate.model_validate({
            "client_id": _client_id(resource, condition, where),
            "measured_at": resource.get("authored"), **values})
    except ValidationError as e:
        first = field_errors(list(e.errors()))[0]
        path = {"measured_at": f"{where}.authored", "client_id": f"{where}.identifier"}.get(
            first.field, f"{where}.item")
        raise vitals.NotUnderstood(first.message, path, **first.params) from None
    (made,) = create_observations(db, subject, [(patient_id, data)], performer=performer)
    if made.shown is None or not answers.has_answers(made.shown):
        # The identifier was first used for values without answers: say what it holds.
        raise vitals.NotUnderstood(N_("The identifier was used before for other values"),
                                   f"{where}.identifier")
    return Created(_answers_resource(db, made.shown), made.created, made.shown)
