"""Named actions on patients: register, update contact details, relatives, search.

Identity and contact details (name, personnummer, address, phone, relatives) are the
patient's master data: everyone in the care team needs them to reach the patient, so they
follow the care relationship alone. Clinical information (episodes, and what later
capabilities add) also needs consent across organisations; see hemma.access.policy."""

from __future__ import annotations

import uuid

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from hemma.access import audit
from hemma.access.policy import Action, Subject
from hemma.access.service import (
    accessible_patients,
    decisions_for,
    log_listed,
    relation_active,
    require,
)
from hemma.geo import geocoding
from hemma.geo.geocoding import Address, Geocoder, Position
from hemma.kit.errors import Conflict, Invalid, NotFound
from hemma.kit.time import utcnow
from hemma.kit.validation import has_control_characters
from hemma.models import CareRelation, Episode, Patient, Relative
from hemma.patients import relatives as relatives_core
from hemma.patients.personnummer import InvalidPersonnummer, parse
from hemma.patients.schemas import (
    GivenPosition,
    PatientCreate,
    PatientUpdate,
    PositionCorrection,
    RelativeCreate,
)

# A position measured at the door is refused when the phone is less sure than this: indoors
# without GPS a phone may only know the nearest mast, kilometres away, and the address's
# postal code would then be the better guess.
DOOR_ACCURACY_M = 250
_POSITION_FIELDS = {"latitude", "longitude"}

# The care relationship's role says why the unit joined a patient already in Hemma.
JOIN_ROLES = {"care_request": "Vårdbegäran mottagen", "visit_booked": "Besök bokat",
              "referral": "Remiss eller ny kontakt", "other": "Annat skäl"}


def register_patient(db: Session, subject: Subject, data: PatientCreate, *,
                     geocoder: Geocoder | None = None) -> tuple[Patient, str]:
    """Register a new patient with the user's unit in the care team. A personnummer already
    in Hemma is not registered twice. If the user's unit is not in that patient's care team,
    joining it starts a care relationship with someone else's patient: it takes a reason,
    is logged with it and flagged in the log review. Returns the patient and what happened:
    "registered", "joined" (an existing patient's care team) or "already" (in it before).

    Without coordinates the address is looked up (`geocoder`; None: the bundled postal-code
    table only). Finding no position never stops a registration: the patient's page says so
    and offers to correct it."""
    require(db, subject, Action.REGISTER)
    given = _given_position(data)
    now = utcnow()
    identity = parse(data.personnummer)
    existing = db.scalar(select(Patient).where(Patient.personnummer == identity.number))
    if existing is not None:
        if _unit_relation(db, subject, existing.id) is not None:
            audit.record(db, existing.id, "patient.read", basis="unit")
            return existing, "already"
        if data.join_reason is None:
            raise Conflict("The patient is already in Hemma. To add your unit to the patient's "
                           "care team, say why: it is logged and reviewed", field="join_reason")
        if data.join_reason == "other" and not data.join_note:
            raise Invalid("Describe the reason", field="join_note")
        role = JOIN_ROLES[data.join_reason]
        _ensure_unit_relation(db, subject, existing.id, role=role)
        audit.record(db, existing.id, "patient.register_existing", basis="unit",
                     detail="; ".join(x for x in (f"reason: {data.join_reason}", data.join_note)
                                      if x))
        return existing, "joined"
    patient = Patient(
        personnummer=identity.number,
        is_coordination_number=identity.coordination,
        birth_date=identity.birth_date,
        given_name=data.given_name,
        family_name=data.family_name,
        registered_by_unit_id=subject.unit_id,
        created_at=now,
        updated_at=now,
        **data.model_dump(exclude={"personnummer", "given_name", "family_name", "join_reason",
                                   "join_note", *_POSITION_FIELDS}),
    )
    _split_address(patient)
    if given is not None:
        _place(patient, given, now)
    else:
        _locate(patient, geocoder, now)
    db.add(patient)
    db.flush()
    _ensure_unit_relation(db, subject, patient.id)
    audit.record(db, patient.id, "patient.register", basis="unit")
    return patient, "registered"


def _unit_relation(db: Session, subject: Subject, patient_id: uuid.UUID) -> uuid.UUID | None:
    return db.scalar(
        select(CareRelation.id).where(
            CareRelation.patient_id == patient_id,
            CareRelation.unit_id == subject.unit_id,
            relation_active(utcnow()),
        ).limit(1)
    )


def _ensure_unit_relation(db: Session, subject: Subject, patient_id: uuid.UUID,
                          role: str = "Registrerande enhet") -> None:
    if _unit_relation(db, subject, patient_id) is None:
        db.add(
            CareRelation(
                patient_id=patient_id,
                unit_id=subject.unit_id,
                role=role,
                starts_at=utcnow(),
                created_by_id=subject.staff_id,
                documented_by_unit_id=subject.unit_id,
            )
        )
        db.flush()


def get_patient(db: Session, patient_id: uuid.UUID) -> Patient:
    patient = db.get(Patient, patient_id)
    if patient is None:
        raise NotFound()
    return patient


def update_patient(db: Session, subject: Subject, patient_id: uuid.UUID,
                   data: PatientUpdate, *, geocoder: Geocoder | None = None) -> Patient:
    """Replace the name and contact details. The position follows the address: a changed
    address (or a patient without a position) is looked up again, unless the caller sends
    new coordinates; coordinates equal to the stored ones are no news (a system sending back
    what it read)."""
    require(db, subject, Action.EDIT, patient_id)
    given = _given_position(data)
    patient = get_patient(db, patient_id)
    now = utcnow()
    before = _address(patient)
    for key, value in data.model_dump(exclude=_POSITION_FIELDS).items():
        setattr(patient, key, value)
    _split_address(patient)
    if given is not None and (given.latitude, given.longitude) != (patient.latitude,
                                                                   patient.longitude):
        _place(patient, given, now)
    elif _address(patient) != before or patient.latitude is None:
        _locate(patient, geocoder, now)
    patient.updated_at = now
    audit.record(db, patient_id, "patient.update")
    return patient


def correct_position(db: Session, subject: Subject, patient_id: uuid.UUID,
                     data: PositionCorrection, *, geocoder: Geocoder | None = None) -> Patient:
    """Correct where the patient's home is on the map: look the address up again, or use
    the position a staff member's phone measured at the door. Refused, changing nothing,
    when the lookup finds nothing or the measurement is too uncertain."""
    require(db, subject, Action.EDIT, patient_id)
    patient = get_patient(db, patient_id)
    now = utcnow()
    if data.method == "device":
        if data.latitude is None or data.longitude is None:
            raise Invalid("Your device gave no position", field="latitude")
        if not geocoding.in_sweden(data.latitude, data.longitude):
            raise Invalid("The position is outside Sweden", field="latitude")
        if data.accuracy_m is None or data.accuracy_m > DOOR_ACCURACY_M:
            raise Invalid("The position is too uncertain (± %(metres)s m). Try again outdoors, "
                          "or with location services on.", field="accuracy_m",
                          metres=round(data.accuracy_m) if data.accuracy_m is not None else "?")
        _place(patient, geocoding.measured(data.latitude, data.longitude), now,
               accuracy_m=round(data.accuracy_m))
    else:
        address = _address(patient)
        if address.normalised().is_empty():
            raise Invalid("The patient has no address to look up", field="street")
        found = (geocoder or geocoding.offline()).lookup(address)
        if found is None:
            raise Invalid("No position was found for the address. Check the address, or use "
                          "your position when you are at the door.", field="street")
        _place(patient, found, now)
    patient.updated_at = now
    audit.record(db, patient_id, "patient.position", detail=data.method)
    return patient


def _given_position(data: GivenPosition) -> Position | None:
    """Coordinates sent by another system: both or neither."""
    if (data.latitude is None) != (data.longitude is None):
        missing = "longitude" if data.longitude is None else "latitude"
        raise Invalid("Give both latitude and longitude, or neither", field=missing)
    if data.latitude is None:
        return None
    return geocoding.given(data.latitude, data.longitude)


def _address(patient: Patient) -> Address:
    return Address(patient.street, patient.postal_code, patient.city)


def _split_address(patient: Patient) -> None:
    """A whole address typed into the street field ("Skolgatan 12, 921 31 Lycksele") is
    kept as its parts: the postal code and the city are what lists, routes and letters
    show on their own."""
    if patient.street and not patient.postal_code and not patient.city:
        parts = geocoding.parse_address(patient.street)
        if parts.postal_code or parts.city:
            patient.street, patient.city = parts.street, parts.city
            patient.postal_code = parts.postal_code


def _place(patient: Patient, position: Position | None, now, accuracy_m: int | None = None):
    """Store a position with where it came from (or, None, that there is none)."""
    patient.latitude = position.latitude if position else None
    patient.longitude = position.longitude if position else None
    patient.position_source = position.source if position else None
    patient.position_precision = position.precision if position else None
    patient.position_place = position.place if position else None
    patient.position_accuracy_m = accuracy_m
    patient.position_at = now if position else None


def _locate(patient: Patient, geocoder: Geocoder | None, now) -> Position | None:
    """Look the address up. Nothing found leaves no position rather than an old one: a
    position of the previous address would send the visits to the wrong house."""
    found = (geocoder or geocoding.offline()).lookup(_address(patient))
    _place(patient, found, now)
    return found


def relatives(db: Session, patient_id: uuid.UUID) -> list[Relative]:
    return relatives_core.current(db, patient_id)


def add_relative(db: Session, subject: Subject, patient_id: uuid.UUID,
                 data: RelativeCreate) -> Relative:
    require(db, subject, Action.EDIT, patient_id)
    relative = Relative(
        patient_id=patient_id,
        documented_by_unit_id=subject.unit_id,
        created_at=utcnow(),
        **data.model_dump(),
    )
    db.add(relative)
    db.flush()
    audit.record(db, patient_id, "relative.add")
    return relative


def remove_relative(db: Session, subject: Subject, patient_id: uuid.UUID,
                    relative_id: uuid.UUID) -> None:
    require(db, subject, Action.EDIT, patient_id)
    relative = relatives_core.get(db, patient_id, relative_id)
    relatives_core.remove(db, relative)
    audit.record(db, patient_id, "relative.remove")


def search(db: Session, subject: Subject, query: str, limit: int = 50) -> list[Patient]:
    """Search among the patients the user may see; no one else exists for them."""
    query = (query or "").strip()
    if len(query) < 2:
        raise Invalid("Enter at least two characters", field="q")
    if has_control_characters(query):
        raise Invalid("Contains characters that are not allowed", field="q")
    require(db, subject, Action.READ)  # role
    stmt = select(Patient).where(Patient.id.in_(accessible_patients(subject)))
    try:
        number = parse(query).number
        stmt = stmt.where(Patient.personnummer == number)
    except InvalidPersonnummer:
        digits = query.replace("-", "")
        if digits.isdigit():
            stmt = stmt.where(Patient.personnummer.contains(digits))
        else:
            pattern = f"%{query.lower()}%"
            stmt = stmt.where(
                or_(
                    func.lower(Patient.family_name).like(pattern),
                    func.lower(Patient.given_name).like(pattern),
                    func.lower(Patient.given_name + " " + Patient.family_name).like(pattern),
                )
            )
    patients = list(db.scalars(stmt.order_by(Patient.family_name, Patient.given_name)
                               .limit(limit)))
    decisions = decisions_for(db, subject, [p.id for p in patients])
    log_listed(db, decisions, "patient.search")
    return [p for p in patients if decisions[p.id]]


def episode_of(db: Session, patient_id: uuid.UUID, episode_id: uuid.UUID, *,
               lock: bool = False) -> Episode:
    """One episode of this patient (locked for a change), or NotFound: an episode id of
    another patient names nothing here."""
    episode = db.get(Episode, episode_id, with_for_update=lock)
    if episode is None or episode.patient_id != patient_id:
        raise NotFound()
    return episode
