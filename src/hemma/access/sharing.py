"""Named actions on who shares a patient's information: the care team (care relationships),
consent between organisations, blocks (spärr), and emergency access (nödåtkomst)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from pydantic import Field, model_validator
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from hemma.access import audit
from hemma.access.policy import Action, Decision, Origin, Subject
from hemma.access.service import emergency_active, origin, relation_active, require
from hemma.config import get_settings
from hemma.kit.errors import Conflict, Invalid, NotFound
from hemma.kit.time import end_of_local_day, utcnow
from hemma.kit.validation import Day, DbId, Schema, Text
from hemma.models import (
    ACTIVE_STATES,
    Block,
    CareRelation,
    Consent,
    EmergencyAccess,
    Episode,
    Organisation,
    Patient,
    Staff,
    Unit,
)
from hemma.patients.personnummer import InvalidPersonnummer, parse

# --- Schemas -------------------------------------------------------------------------------


class SharingAnswer(Schema):
    """Asked whenever another organisation joins the patient's care (a care request to it,
    a member of it in the care team) and the patient has not yet consented to sharing
    between the two: the patient's consent, or why none is needed."""

    sharing: Literal["consent", "not_needed"] | None = None
    sharing_method: Literal["oral", "written"] = "oral"
    # A reason someone reviewing the log later can judge: not a tick box.
    sharing_reason: Text | None = Field(default=None, max_length=500)


class CareRelationCreate(SharingAnswer):
    unit_id: DbId | None = None
    staff_id: DbId | None = None
    role: Text | None = Field(default=None, max_length=200)
    # A planned end (e.g. a consultant for one week): the relationship ends at the end of
    # this day, Swedish time. Without it, it lasts until ended by hand or by discharge.
    until: Day | None = None

    @model_validator(mode="after")
    def _one_member(self):
        if (self.unit_id is None) == (self.staff_id is None):
            raise ValueError("Choose either a unit or a staff member")
        return self


class ConsentCreate(Schema):
    organisation_id: DbId
    method: Literal["oral", "written"] = "oral"
    given_by: Literal["patient", "representative"] = "patient"
    note: Text | None = Field(default=None, max_length=1000)


class BlockCreate(Schema):
    unit_id: DbId
    note: Text | None = Field(default=None, max_length=1000)


class EmergencyCreate(Schema):
    personnummer: Text = Field(max_length=20)
    # A reason someone reviewing the log later can judge: not a tick box.
    reason: Text = Field(min_length=10, max_length=1000)


# --- Sharing between organisations --------------------------------------------------------


def consented_organisations(db: Session, patient_id: uuid.UUID) -> set[int]:
    now = utcnow()
    return set(db.scalars(select(Consent.organisation_id).where(
        Consent.patient_id == patient_id, Consent.given_at <= now,
        or_(Consent.withdrawn_at.is_(None), Consent.withdrawn_at > now))))


def organisations_without_consent(db: Session, patient_id: uuid.UUID) -> list[str]:
    """The names of the organisations the patient has not consented to share with (forms
    that let another organisation join ask about them); none when there is only one."""
    organisations = list(db.scalars(select(Organisation).order_by(Organisation.name)))
    if len(organisations) < 2:
        return []
    have = consented_organisations(db, patient_id)
    return [o.name for o in organisations if o.id not in have]


def sharing_needed(db: Session, subject: Subject, patient_id: uuid.UUID,
                   organisation_id: int) -> list[int]:
    """The organisations, of the user's and `organisation_id`, whose consent the patient has
    not given: sharing between them is needed for the new member to see the episode, its
    values and alerts, and for the user to see what the new member documents."""
    if organisation_id == subject.organisation_id:
        return []
    have = consented_organisations(db, patient_id)
    return [org for org in (subject.organisation_id, organisation_id) if org not in have]


def settle_sharing(db: Session, subject: Subject, patient_id: uuid.UUID, organisation_id: int,
                   answer: SharingAnswer, *, context: str) -> str | None:
    """Before another organisation joins the patient's care: record the patient's consent to
    share between the two organisations, or check that a reason why none is needed was
    given. Returns that reason (to keep on the request or relation), or None."""
    missing = sharing_needed(db, subject, patient_id, organisation_id)
    if not missing:
        return None
    if answer.sharing is None:
        raise Invalid("Ask the patient whether the organisations may share information, or "
                      "say why it is not needed", field="sharing")
    if answer.sharing == "not_needed":
        if not answer.sharing_reason or len(answer.sharing_reason) < 10:
            raise Invalid("Say why no consent is needed (at least 10 characters)",
                          field="sharing_reason")
        audit.record(db, patient_id, "consent.not_needed",
                     detail=f"{context}: {answer.sharing_reason}")
        return answer.sharing_reason
    now = utcnow()
    for org in missing:
        db.add(Consent(patient_id=patient_id, organisation_id=org, method=answer.sharing_method,
                       given_by="patient", note=context, given_at=now,
                       recorded_by_id=subject.staff_id, documented_by_unit_id=subject.unit_id))
    db.flush()
    audit.record(db, patient_id, "consent.record", detail=context)
    return None


# --- Care team -----------------------------------------------------------------------------


def add_to_team(db: Session, subject: Subject, patient_id: uuid.UUID,
                data: CareRelationCreate) -> CareRelation:
    require(db, subject, Action.CARE_TEAM, patient_id)
    now = utcnow()
    if data.unit_id is not None:
        unit = db.get(Unit, data.unit_id)
        if unit is None or not unit.active:
            raise Invalid("Unknown unit", field="unit_id")
        column, value = CareRelation.unit_id, unit.id
    else:
        staff = db.get(Staff, data.staff_id)
        if staff is None or not staff.active:
            raise Invalid("Unknown staff member", field="staff_id")
        column, value = CareRelation.staff_id, staff.id
        unit = db.get(Unit, staff.unit_id)
    if db.scalar(select(CareRelation.id).where(CareRelation.patient_id == patient_id,
                                               column == value, relation_active(now))):
        raise Conflict("Already in the care team",
                       field="unit_id" if data.unit_id is not None else "staff_id")
    ends_at = None
    if data.until is not None:
        ends_at = end_of_local_day(data.until)
        if ends_at <= now:
            raise Invalid("The date has passed", field="until")
    episode_id = db.scalar(select(Episode.id).where(Episode.patient_id == patient_id,
                                                    Episode.state.in_(ACTIVE_STATES)))
    note = settle_sharing(db, subject, patient_id, unit.organisation_id, data,
                          context="care team")
    relation = CareRelation(
        patient_id=patient_id,
        episode_id=episode_id,
        unit_id=data.unit_id,
        staff_id=data.staff_id,
        role=data.role,
        sharing_note=note,
        starts_at=now,
        ends_at=ends_at,
        created_by_id=subject.staff_id,
        documented_by_unit_id=subject.unit_id,
    )
    db.add(relation)
    db.flush()
    audit.record(db, patient_id, "careteam.add")
    return relation


def _member_organisation(db: Session, relation: CareRelation) -> int:
    unit_id = relation.unit_id
    if unit_id is None:
        unit_id = db.scalar(select(Staff.unit_id).where(Staff.id == relation.staff_id))
    return origin(db, unit_id).organisation_id


def end_relation(db: Session, subject: Subject, patient_id: uuid.UUID,
                 relation_id: uuid.UUID) -> CareRelation:
    """End a care relationship now: from the next request, the member no longer sees the
    patient. The organisation that recorded it, or the member's own, may end it."""
    decision = require(db, subject, Action.CARE_TEAM, patient_id)
    relation = db.get(CareRelation, relation_id)
    if relation is None or relation.patient_id != patient_id:
        raise NotFound()
    if not decision.sees(origin(db, relation.documented_by_unit_id)):
        raise NotFound()
    now = utcnow()
    if relation.ends_at is not None and relation.ends_at <= now:
        raise Conflict("The care relationship has already ended", field="relation_id")
    own_org = subject.organisation_id
    if origin(db, relation.documented_by_unit_id).organisation_id != own_org and \
            _member_organisation(db, relation) != own_org:
        raise Invalid("Only the organisation that added it, or the member's own, can end it",
                      field="relation_id")
    if relation.unit_id is not None:
        responsible = db.scalar(select(Episode.id).where(
            Episode.patient_id == patient_id, Episode.state.in_(ACTIVE_STATES),
            Episode.responsible_unit_id == relation.unit_id))
        if responsible is not None:
            raise Conflict("The responsible unit stays in the care team while the episode is "
                           "active", field="relation_id")
    relation.ends_at = now
    relation.ended_by_id = subject.staff_id
    audit.record(db, patient_id, "careteam.end")
    return relation


@dataclass
class TeamMember:
    relation: CareRelation
    name: str
    unit_name: str
    organisation_name: str
    documented_by: str
    active: bool
    can_end: bool


def team(db: Session, decision: Decision, patient_id: uuid.UUID,
         include_ended: bool = False) -> tuple[list[TeamMember], int]:
    """The care team as this user may see it, and how many members are hidden (recorded by
    another organisation without the patient's consent)."""
    now = utcnow()
    stmt = select(CareRelation).where(CareRelation.patient_id == patient_id)
    if not include_ended:
        stmt = stmt.where(relation_active(now))
    relations = list(db.scalars(stmt.order_by(CareRelation.starts_at)))
    staff_ids = {r.staff_id for r in relations if r.staff_id}
    staff = {s.id: s for s in db.scalars(select(Staff).where(Staff.id.in_(staff_ids)))} \
        if staff_ids else {}
    unit_ids = {u for r in relations for u in (r.unit_id, r.documented_by_unit_id) if u}
    unit_ids |= {s.unit_id for s in staff.values()}
    units = {u.id: u for u in db.scalars(select(Unit).where(Unit.id.in_(unit_ids)))}
    orgs = {o.id: o for o in db.scalars(select(Organisation).where(
        Organisation.id.in_({u.organisation_id for u in units.values()})))}
    responsible_units = set(db.scalars(select(Episode.responsible_unit_id).where(
        Episode.patient_id == patient_id, Episode.state.in_(ACTIVE_STATES))))
    members, hidden = [], 0
    subject = decision.subject
    for r in relations:
        doc_unit = units[r.documented_by_unit_id]
        # The user's own membership is theirs to know, whoever recorded it (else a unit
        # without consent would be offered to join a team it is in).
        mine = r.unit_id == decision.subject.unit_id or r.staff_id == decision.subject.staff_id
        if not mine and not decision.sees(Origin(doc_unit.id, doc_unit.organisation_id)):
            hidden += 1
            continue
        if r.unit_id is not None:
            unit = units[r.unit_id]
            name = unit.name
        else:
            person = staff[r.staff_id]
            unit = units[person.unit_id]
            name = person.full_name
        active = r.starts_at <= now and (r.ends_at is None or r.ends_at > now)
        own = subject.organisation_id in (doc_unit.organisation_id, unit.organisation_id)
        members.append(TeamMember(
            relation=r, name=name, unit_name=unit.name,
            organisation_name=orgs[unit.organisation_id].name,
            documented_by=doc_unit.name, active=active,
            can_end=active and own and r.unit_id not in responsible_units,
        ))
    return members, hidden


# --- Consent -------------------------------------------------------------------------------


def record_consent(db: Session, subject: Subject, patient_id: uuid.UUID,
                   data: ConsentCreate) -> Consent:
    require(db, subject, Action.CONSENT, patient_id)
    if db.get(Organisation, data.organisation_id) is None:
        raise Invalid("Unknown organisation", field="organisation_id")
    now = utcnow()
    if db.scalar(select(Consent.id).where(
            Consent.patient_id == patient_id, Consent.organisation_id == data.organisation_id,
            Consent.withdrawn_at.is_(None))):
        raise Conflict("The patient has already consented for this organisation",
                       field="organisation_id")
    consent = Consent(patient_id=patient_id, given_at=now, recorded_by_id=subject.staff_id,
                      documented_by_unit_id=subject.unit_id, **data.model_dump())
    db.add(consent)
    db.flush()
    audit.record(db, patient_id, "consent.record")
    return consent


def withdraw_consent(db: Session, subject: Subject, patient_id: uuid.UUID,
                     consent_id: uuid.UUID) -> Consent:
    """The patient may withdraw consent at any time, through anyone in the team; it holds
    from the next request of every user."""
    require(db, subject, Action.CONSENT, patient_id)
    consent = db.get(Consent, consent_id)
    if consent is None or consent.patient_id != patient_id:
        raise NotFound()
    if consent.withdrawn_at is not None:
        raise Conflict("The consent is already withdrawn", field="consent_id")
    consent.withdrawn_at = utcnow()
    consent.withdrawn_by_id = subject.staff_id
    audit.record(db, patient_id, "consent.withdraw")
    return consent


def consents(db: Session, patient_id: uuid.UUID) -> list[tuple[Consent, str]]:
    return list(db.execute(
        select(Consent, Organisation.name).join(Organisation)
        .where(Consent.patient_id == patient_id).order_by(Consent.given_at.desc())
    ).all())


# --- Blocks --------------------------------------------------------------------------------


def add_block(db: Session, subject: Subject, patient_id: uuid.UUID, data: BlockCreate) -> Block:
    """Recorded by the organisation that holds the information, at the patient's request."""
    require(db, subject, Action.BLOCK, patient_id)
    unit = db.get(Unit, data.unit_id)
    if unit is None or unit.organisation_id != subject.organisation_id:
        raise Invalid("Choose a unit of your own organisation", field="unit_id")
    if db.scalar(select(Block.id).where(Block.patient_id == patient_id,
                                        Block.unit_id == unit.id, Block.lifted_at.is_(None))):
        raise Conflict("That unit's information is already blocked", field="unit_id")
    block = Block(patient_id=patient_id, unit_id=unit.id, note=data.note,
                  created_at=utcnow(), created_by_id=subject.staff_id)
    db.add(block)
    db.flush()
    audit.record(db, patient_id, "block.add")
    return block


def lift_block(db: Session, subject: Subject, patient_id: uuid.UUID, block_id: uuid.UUID) -> Block:
    require(db, subject, Action.BLOCK, patient_id)
    block = db.get(Block, block_id)
    if block is None or block.patient_id != patient_id or \
            origin(db, block.unit_id).organisation_id != subject.organisation_id:
        raise NotFound()
    if block.lifted_at is not None:
        raise Conflict("The block is already lifted", field="block_id")
    block.lifted_at = utcnow()
    block.lifted_by_id = subject.staff_id
    audit.record(db, patient_id, "block.lift")
    return block


def blocks(db: Session, subject: Subject, patient_id: uuid.UUID) -> tuple[list[tuple[Block, str]], int]:
    """Blocks the user's organisation manages, and how many other active blocks exist (shown
    only as a count: other units may know that something is blocked, not what)."""
    rows = db.execute(
        select(Block, Unit).join(Unit, Unit.id == Block.unit_id)
        .where(Block.patient_id == patient_id).order_by(Block.created_at.desc())
    ).all()
    own = [(b, u.name) for b, u in rows if u.organisation_id == subject.organisation_id]
    others = sum(1 for b, u in rows if u.organisation_id != subject.organisation_id
                 and b.lifted_at is None)
    return own, others


# --- Emergency access ----------------------------------------------------------------------


def open_emergency(db: Session, subject: Subject, data: EmergencyCreate,
                   client_addr: str | None) -> uuid.UUID:
    """Open time-limited read access to a patient the user has no care relationship with."""
    require(db, subject, Action.EMERGENCY)
    try:
        number = parse(data.personnummer).number
    except InvalidPersonnummer as exc:
        raise Invalid(str(exc), field="personnummer") from None
    patient_id = db.scalar(select(Patient.id).where(Patient.personnummer == number))
    if patient_id is None:
        # Logged too: looking people up under emergency access is itself reviewed.
        audit.record(db, None, "emergency.open", outcome="denied", emergency=True,
                     detail=f"no patient; reason: {data.reason}")
        raise Invalid("No patient with that personnummer in Hemma", field="personnummer")
    now = utcnow()
    minutes = get_settings().emergency_access_minutes
    db.add(EmergencyAccess(patient_id=patient_id, staff_id=subject.staff_id, reason=data.reason,
                           started_at=now, expires_at=now + timedelta(minutes=minutes),
                           client_addr=client_addr))
    db.flush()
    audit.record(db, patient_id, "emergency.open", basis="emergency", emergency=True,
                 detail=data.reason)
    return patient_id


def active_emergency(db: Session, subject: Subject, patient_id: uuid.UUID) -> EmergencyAccess | None:
    now = utcnow()
    return db.scalar(
        select(EmergencyAccess).where(
            EmergencyAccess.patient_id == patient_id, EmergencyAccess.staff_id == subject.staff_id,
            emergency_active(now),
        ).order_by(EmergencyAccess.expires_at.desc()).limit(1)
    )

