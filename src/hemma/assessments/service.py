"""The snabbspår assessment of a home-ward episode: six parts, each met, not met or not
assessed with a note; the information given and the patient's consents; the physician's
decision. Each assessment is a new version; earlier ones stay as they were.

The assessment is documented by the episode's responsible unit: another organisation reads
it with the patient's consent and never changes it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hemma.access import audit
from hemma.access.policy import Action, Decision, Subject
from hemma.access.service import can, origin, relation_active, require
from hemma.access.sharing import ConsentCreate, consented_organisations, record_consent
from hemma.assessments import stability
from hemma.assessments.schemas import AssessmentCreate, DecisionCreate
from hemma.kit.errors import Conflict, Forbidden, Invalid, NotFound
from hemma.kit.time import utcnow
from hemma.models import (
    ACTIVE_STATES,
    ASSESSMENT_PARTS,
    Assessment,
    CareRelation,
    Episode,
    EpisodeState,
    MonitoringPlan,
    Organisation,
    Pathway,
    Profession,
    Staff,
    Unit,
)
from hemma.monitoring import visible
from hemma.patients.service import episode_of

# An admission against a criterion is the physician's to answer for: the reason must say why.
MIN_OVERRIDE_REASON = 10



def current_stability(db: Session, decision: Decision, patient_id: uuid.UUID,
                      now: datetime | None = None) -> stability.Stability:
    """Medical stability from the values this reader may see (a value they may not see
    cannot make the patient look stable, nor be revealed by the score)."""
    now = now or utcnow()
    seen = visible.observations(db, decision, patient_id, now - stability.LOOK_BACK, now)
    scale = db.scalar(select(MonitoringPlan.spo2_scale).where(
        MonitoringPlan.patient_id == patient_id).order_by(MonitoringPlan.updated_at.desc())
        .limit(1)) or 1
    return stability.assess(stability.latest_values(seen.observations, now), scale)


def _diagnosis(pathway: Pathway, data: AssessmentCreate) -> tuple[dict, dict]:
    inclusion = {c["key"] for c in pathway.inclusion_criteria or []}
    exclusion = {c["key"] for c in pathway.exclusion_criteria or []}
    unknown = (set(data.inclusion) - inclusion) | (set(data.exclusion) - exclusion)
    if unknown:
        raise Invalid("Not a criterion of this pathway", field="inclusion")
    criteria = {"inclusion": {k: k in data.inclusion for k in sorted(inclusion)},
                "exclusion": {k: k in data.exclusion for k in sorted(exclusion)}}
    if set(data.exclusion):
        status = "not_met"
    elif set(data.inclusion) == inclusion:
        status = "met"
    else:
        status = "not_met"
    return criteria, {"status": status, "note": data.diagnosis_note}


def assess(db: Session, subject: Subject, patient_id: uuid.UUID, episode_id: uuid.UUID,
           data: AssessmentCreate) -> Assessment:
    """Save a new version of the assessment (the first, or a re-assessment)."""
    episode = episode_of(db, patient_id, episode_id, lock=True)
    home = origin(db, episode.responsible_unit_id)
    require(db, subject, Action.EPISODE, patient_id, on=home)
    if episode.state not in ACTIVE_STATES:
        raise Conflict("The episode has ended: it cannot be assessed again", field="state")
    pathway = db.get(Pathway, episode.pathway_id)
    now = utcnow()
    stable = current_stability(db, can(db, subject, Action.READ, patient_id), patient_id, now)
    criteria, diagnosis = _diagnosis(pathway, data)
    parts = {
        "medical_stability": {"status": stable.status, "note": data.stability_note},
        "adl": data.adl.model_dump(),
        "mobility": data.mobility.model_dump(),
        "home": data.home.model_dump(),
        "medication": data.medication.model_dump(),
        "diagnosis": diagnosis,
    }
    info = data.information
    _record_consents(db, subject, patient_id, info.consent_organisations, info.consent_method)
    version = (db.scalar(select(func.max(Assessment.version))
                         .where(Assessment.episode_id == episode.id)) or 0) + 1
    row = Assessment(
        episode_id=episode.id, patient_id=patient_id, version=version, parts=parts,
        stability=stable.stored(), criteria=criteria,
        information=info.model_dump(exclude={"consent_organisations", "consent_method"}),
        documented_by_unit_id=episode.responsible_unit_id, created_at=now,
        created_by_id=subject.staff_id)
    db.add(row)
    try:
        with db.begin_nested():
            db.flush()
    except IntegrityError:
        raise Conflict("Someone saved an assessment at the same moment: open it again",
                       field="version") from None
    audit.record(db, patient_id, "assessment.save", detail=f"v{version}")
    return row


def _record_consents(db: Session, subject: Subject, patient_id: uuid.UUID,
                     organisation_ids: list[int], method: str) -> None:
    have = consented_organisations(db, patient_id)
    for org_id in dict.fromkeys(organisation_ids):
        if org_id in have:
            continue
        if db.get(Organisation, org_id) is None:
            raise Invalid("Unknown organisation", field="information.consent_organisations")
        record_consent(db, subject, patient_id, ConsentCreate(
            organisation_id=org_id, method=method,
            note="Samtycke vid bedömning för vård i hemmet"))


def unmet_parts(row: Assessment) -> list[str]:
    return [p for p in ASSESSMENT_PARTS if row.parts.get(p, {}).get("status") != "met"]


def decide(db: Session, subject: Subject, patient_id: uuid.UUID, episode_id: uuid.UUID,
           data: DecisionCreate) -> Assessment:
    """The physician's decision on the newest version: admit or not. Admitting while a part
    is not met takes a written reason and is flagged on the episode; admitting without the
    patient's consent to care at home is not possible at all."""
    episode = episode_of(db, patient_id, episode_id, lock=True)
    require(db, subject, Action.EPISODE, patient_id, on=origin(db, episode.responsible_unit_id))
    if subject.profession != Profession.PHYSICIAN:
        raise Forbidden("Only a physician decides on admission")
    if episode.state != EpisodeState.ASSESSING:
        raise Conflict("Only an episode under assessment is decided on", field="state")
    row = latest(db, episode.id)
    if row is None:
        raise Conflict("Assess the patient before deciding", field="version")
    if row.version != data.version:
        raise Conflict("The assessment has a newer version: read it before deciding",
                       field="version")
    if row.decision is not None:
        raise Conflict("This version is already decided on", field="decision")
    unmet = unmet_parts(row)
    reason = (data.reason or "").strip()
    if data.decision == "admit":
        if not row.information.get("consent_home"):
            raise Invalid("The patient has not consented to care at home", field="decision")
        if unmet and len(reason) < MIN_OVERRIDE_REASON:
            raise Invalid("A criterion is not met: admitting anyway takes a written reason "
                          "(at least %(n)s characters)", field="reason", n=MIN_OVERRIDE_REASON)
    elif not reason:
        raise Invalid("Say why the patient is not admitted", field="reason")
    row.decision = data.decision
    row.decision_reason = reason or None
    row.override = data.decision == "admit" and bool(unmet)
    row.decided_at = utcnow()
    row.decided_by_id = subject.staff_id
    audit.record(db, patient_id, "assessment.decide",
                 detail=f"v{row.version} {data.decision}" + (" override" if row.override else ""))
    return row


def latest(db: Session, episode_id: uuid.UUID) -> Assessment | None:
    return db.scalar(select(Assessment).where(Assessment.episode_id == episode_id)
                     .order_by(Assessment.version.desc()).limit(1))


def admission_ground(db: Session, episode: Episode) -> Assessment:
    """The decided assessment an admission rests on: the newest version, decided "admit"."""
    row = latest(db, episode.id)
    if row is None or row.decision != "admit":
        raise Conflict("The physician has not decided to admit on the newest assessment",
                       field="state")
    return row


# --- Reading -------------------------------------------------------------------------------


@dataclass
class AssessmentView:
    row: Assessment
    assessed_by: str
    decided_by: str | None

    @property
    def unmet(self) -> list[str]:
        return unmet_parts(self.row)


def versions(db: Session, decision: Decision, patient_id: uuid.UUID,
             episode_id: uuid.UUID) -> list[AssessmentView]:
    """Every version, newest first, if the reader may see the episode's documentation."""
    episode = episode_of(db, patient_id, episode_id)
    if not decision.sees(origin(db, episode.responsible_unit_id)):
        raise NotFound()
    rows = list(db.scalars(select(Assessment).where(Assessment.episode_id == episode.id)
                           .order_by(Assessment.version.desc())))
    ids = {i for r in rows for i in (r.created_by_id, r.decided_by_id) if i}
    names = {s.id: s.full_name for s in db.scalars(select(Staff).where(Staff.id.in_(ids)))} \
        if ids else {}
    return [AssessmentView(r, names.get(r.created_by_id, ""), names.get(r.decided_by_id))
            for r in rows]


def team_organisations(db: Session, patient_id: uuid.UUID) -> list[Organisation]:
    """The organisations of the patient's care team (whose sharing the assessment asks
    about)."""
    staff_unit = select(Staff.unit_id).where(Staff.id == CareRelation.staff_id).scalar_subquery()
    unit_ids = {u for (u,) in db.execute(
        select(func.coalesce(CareRelation.unit_id, staff_unit)).where(
            CareRelation.patient_id == patient_id, relation_active(utcnow())))}
    if not unit_ids:
        return []
    return list(db.scalars(select(Organisation).join(Unit, Unit.organisation_id == Organisation.id)
                           .where(Unit.id.in_(unit_ids)).distinct().order_by(Organisation.name)))
