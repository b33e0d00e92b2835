"""Gathers the facts for `policy.decide` from the database: the one `can()` every route and
service goes through. Facts are read on every request, never cached in the session, so a
withdrawn consent or an ended care relationship holds from the very next request."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Integer, Select, and_, literal, null, or_, select, union, union_all
from sqlalchemy.orm import Session

from hemma.access import audit
from hemma.access.policy import (
    PATIENT_ACTIONS,
    WRITE_ACTIONS,
    Action,
    Basis,
    Decision,
    Origin,
    PatientFacts,
    Subject,
    decide,
)
from hemma.db import any_of
from hemma.kit.errors import Forbidden, NotFound
from hemma.kit.time import utcnow
from hemma.models import (
    Block,
    CareRelation,
    Consent,
    EmergencyAccess,
    Patient,
    Staff,
    Unit,
)


def subject_for(session: Session, staff: Staff) -> Subject:
    return Subject(
        staff_id=staff.id,
        unit_id=staff.unit_id,
        organisation_id=origin(session, staff.unit_id).organisation_id,
        profession=staff.profession,
        is_admin=staff.is_admin,
        is_log_reviewer=staff.is_log_reviewer,
        is_medical_lead=staff.is_medical_lead,
        is_follow_up=staff.is_follow_up,
        is_research_exporter=staff.is_research_exporter,
        active=staff.active,
        family_name=staff.family_name,
    )


def relation_active(now: datetime):
    """SQL: the care relationship holds at `now` (the one definition every query uses)."""
    return and_(
        CareRelation.starts_at <= now,
        or_(CareRelation.ends_at.is_(None), CareRelation.ends_at > now),
    )


def emergency_active(now: datetime):
    """SQL: the emergency access is open at `now`."""
    return and_(EmergencyAccess.started_at <= now, EmergencyAccess.expires_at > now)


def origin(session: Session, unit_id: int) -> Origin:
    """Where information documented by `unit_id` comes from (cached for the transaction)."""
    cache = session.info.setdefault("hemma.access.origins", {})
    if unit_id not in cache:
        org_id = session.scalar(select(Unit.organisation_id).where(Unit.id == unit_id))
        if org_id is None:
            raise NotFound()
        cache[unit_id] = Origin(unit_id, org_id)
    return cache[unit_id]


def facts_for(
    session: Session, subject: Subject, patient_ids: Iterable[uuid.UUID], now: datetime | None = None
) -> dict[uuid.UUID, PatientFacts]:
    """Facts for many patients in one round trip (every patient route and list asks this):
    whether each exists, the user's relationships, open emergency accesses, consents and
    blocks, as the rows of one UNION ALL."""
    now = now or utcnow()
    ids = list(dict.fromkeys(patient_ids))
    if not ids:
        return {}
    number = Integer()
    rows = session.execute(union_all(
        select(literal("p"), Patient.id, null().cast(number), null().cast(number))
        .where(any_of(session, Patient.id, ids)),
        select(literal("r"), CareRelation.patient_id, CareRelation.unit_id,
               CareRelation.staff_id)
        .where(any_of(session, CareRelation.patient_id, ids), relation_active(now),
               or_(CareRelation.unit_id == subject.unit_id,
                   CareRelation.staff_id == subject.staff_id)),
        select(literal("e"), EmergencyAccess.patient_id, null().cast(number),
               null().cast(number))
        .where(any_of(session, EmergencyAccess.patient_id, ids),
               EmergencyAccess.staff_id == subject.staff_id, emergency_active(now)),
        select(literal("c"), Consent.patient_id, Consent.organisation_id, null().cast(number))
        .where(any_of(session, Consent.patient_id, ids), Consent.given_at <= now,
               or_(Consent.withdrawn_at.is_(None), Consent.withdrawn_at > now)),
        select(literal("b"), Block.patient_id, Block.unit_id, null().cast(number))
        .where(any_of(session, Block.patient_id, ids), Block.created_at <= now,
               or_(Block.lifted_at.is_(None), Block.lifted_at > now)),
    )).all()
    existing: set[uuid.UUID] = set()
    unit_rel: set[uuid.UUID] = set()
    personal_rel: set[uuid.UUID] = set()
    emergency: set[uuid.UUID] = set()
    consents: dict[uuid.UUID, set[int]] = {}
    blocks: dict[uuid.UUID, set[int]] = {}
    for kind, pid, a, b in rows:
        pid = pid if isinstance(pid, uuid.UUID) else uuid.UUID(str(pid))
        if kind == "p":
            existing.add(pid)
        elif kind == "r":
            if a == subject.unit_id:
                unit_rel.add(pid)
            if b == subject.staff_id:
                personal_rel.add(pid)
        elif kind == "e":
            emergency.add(pid)
        elif kind == "c":
            consents.setdefault(pid, set()).add(a)
        else:
            blocks.setdefault(pid, set()).add(a)
    return {
        pid: PatientFacts(
            exists=pid in existing,
            unit_relation=pid in unit_rel,
            personal_relation=pid in personal_rel,
            emergency=pid in emergency,
            consent_organisations=frozenset(consents.get(pid, ())),
            blocked_units=frozenset(blocks.get(pid, ())),
        )
        for pid in ids
    }


def can(
    session: Session,
    subject: Subject,
    action: Action,
    patient_id: uuid.UUID | None = None,
    *,
    on: Origin | None = None,
    now: datetime | None = None,
) -> Decision:
    """May `subject` do `action` (on `patient_id`, on information documented at `on`)?"""
    if patient_id is None:
        if action in PATIENT_ACTIONS:
            # Role only: may this user do this to patients at all (lists, search)?
            allowed = subject.role_allows(action)
            return Decision(allowed, Basis.ROLE if allowed else Basis.NONE, subject, action)
        return decide(subject, action)
    facts = facts_for(session, subject, [patient_id], now)[patient_id]
    return decide(subject, action, facts, on=on)


def require(
    session: Session,
    subject: Subject,
    action: Action,
    patient_id: uuid.UUID | None = None,
    *,
    on: Origin | None = None,
    audit_action: str | None = None,
) -> Decision:
    """`can()`, and log it: allowed patient accesses go on the request's audit trail; a refused
    one raises NotFound (the patient, or the information, does not exist for this user) and
    is logged as denied in a transaction of its own. Information the user can see but that
    belongs to another organisation's record raises Forbidden: it may be read, not changed."""
    decision = can(session, subject, action, patient_id)
    if patient_id is None:
        if not decision:
            raise Forbidden()
        return decision
    if not decision or (on is not None and not decision.sees(on)):
        if decision.facts is not None and decision.facts.exists:
            audit.record(session, patient_id, audit_action or str(action), outcome="denied")
        raise NotFound()
    if on is not None and action in WRITE_ACTIONS and not decision.may_change(on):
        raise Forbidden("Only the organisation that documented this can change it")
    audit.record(
        session,
        patient_id,
        audit_action or str(action),
        basis=str(decision.basis),
        emergency=decision.emergency,
        generic=audit_action is None,
    )
    return decision


def accessible_patients(subject: Subject, now: datetime | None = None) -> Select:
    """A select of the ids of every patient `subject` may read right now: the SQL twin of
    `decide(..., Action.READ)` (a test holds the two together)."""
    now = now or utcnow()
    if not subject.role_allows(Action.READ):
        return select(Patient.id).where(False)
    related = select(CareRelation.patient_id.label("patient_id")).where(
        relation_active(now),
        or_(CareRelation.unit_id == subject.unit_id, CareRelation.staff_id == subject.staff_id),
    )
    emergency = select(EmergencyAccess.patient_id.label("patient_id")).where(
        EmergencyAccess.staff_id == subject.staff_id,
        emergency_active(now),
    )
    return union(related, emergency)


def decisions_for(
    session: Session, subject: Subject, patient_ids: Iterable[uuid.UUID], action: Action = Action.READ
) -> dict[uuid.UUID, Decision]:
    facts = facts_for(session, subject, patient_ids)
    return {pid: decide(subject, action, f) for pid, f in facts.items()}


def log_listed(session: Session, decisions: dict[uuid.UUID, Decision], action: str) -> None:
    """A list that shows N patients logs N patient identities."""
    for pid, decision in decisions.items():
        if decision:
            audit.record(
                session, pid, action, basis=str(decision.basis), emergency=decision.emergency
            )
