"""Named actions on home-ward episodes, and the unit's home-ward (virtual bed) list.

An episode is documented by its responsible unit: only that unit's organisation changes it,
other organisations see it with the patient's consent."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hemma.access import audit
from hemma.access.policy import Action, Decision, Origin, Subject
from hemma.access.service import (
    accessible_patients,
    decisions_for,
    log_listed,
    origin,
    relation_active,
    require,
)
from hemma.access.sharing import settle_sharing
from hemma.assessments import service as assessments
from hemma.assessments.schemas import DecisionCreate
from hemma.config import get_settings
from hemma.episodes.schemas import (
    AdmissionCreate,
    AssessmentCreate,
    Discharge,
    EpisodeEnd,
    ReturnToHospital,
)
from hemma.i18n.labels import DISCHARGE_OUTCOMES, RETURN_REASONS
from hemma.kit.errors import Conflict, Invalid, NotFound
from hemma.kit.time import local_date, local_today, utcnow
from hemma.logistics import service as logistics
from hemma.models import (
    ACTIVE_STATES,
    Alert,
    CareRelation,
    Episode,
    EpisodeState,
    Organisation,
    Pathway,
    Patient,
    Profession,
    Staff,
    Unit,
)
from hemma.monitoring import alerts, visible
from hemma.monitoring.alerts import UNRESOLVED
from hemma.monitoring.rules import SEVERITIES
from hemma.pathways import service as pathway_service
from hemma.planning import service as planning

# Who may be a patient's fast vårdkontakt (HSL 6 kap 2 §): someone of the care staff, not an
# administrator or a device account.
CLINICAL_PROFESSIONS = frozenset({
    Profession.PHYSICIAN, Profession.NURSE, Profession.ASSISTANT_NURSE, Profession.COORDINATOR,
    Profession.PHYSIOTHERAPIST, Profession.OCCUPATIONAL_THERAPIST})
# A registration may be made afterwards, but not for a time that has not happened yet.
_FUTURE_SLACK = timedelta(minutes=5)


def pathways(db: Session) -> list[Pathway]:
    return pathway_service.current(db)


def home_ward_units(db: Session) -> list[Unit]:
    return list(db.scalars(select(Unit).where(Unit.active.is_(True), Unit.virtual_beds > 0)
                           .order_by(Unit.name)))


def _active_episode(db: Session, patient_id: uuid.UUID) -> Episode | None:
    return db.scalar(
        select(Episode).where(Episode.patient_id == patient_id, Episode.state.in_(ACTIVE_STATES))
    )


def _episode_for_change(db: Session, subject: Subject, patient_id: uuid.UUID,
                        episode_id: uuid.UUID) -> Episode:
    """Load an episode of this patient for a change, locked against a concurrent change."""
    episode = db.get(Episode, episode_id, with_for_update=True)
    if episode is None or episode.patient_id != patient_id:
        raise NotFound()
    require(db, subject, Action.EPISODE, patient_id, on=origin(db, episode.responsible_unit_id))
    return episode


def _when(value: datetime | None, field_name: str, *, not_before: datetime | None = None) -> datetime:
    now = utcnow()
    if value is None:
        return now
    if value.tzinfo is None:
        raise Invalid("Give the time with its UTC offset", field=field_name)
    if value > now + _FUTURE_SLACK:
        raise Invalid("The time cannot be in the future", field=field_name)
    if not_before is not None and value < not_before:
        raise Invalid("The time is before the previous step of the episode", field=field_name)
    return value


def start_assessment(db: Session, subject: Subject, patient_id: uuid.UUID,
                     data: AssessmentCreate) -> Episode:
    unit_id = data.responsible_unit_id or subject.unit_id
    unit = db.get(Unit, unit_id)
    if unit is None or not unit.active:
        raise Invalid("Unknown unit", field="responsible_unit_id")
    if unit.virtual_beds <= 0:
        raise Invalid("This unit has no home ward", field="responsible_unit_id")
    require(db, subject, Action.EPISODE, patient_id, on=origin(db, unit_id))
    pathway = db.get(Pathway, data.pathway_id)
    if pathway is None or not pathway.active:
        raise Invalid("Unknown pathway", field="pathway_id")
    if _active_episode(db, patient_id) is not None:
        raise Conflict("The patient already has an active home-ward episode", field="patient_id")
    now = utcnow()
    episode = Episode(
        patient_id=patient_id,
        state=EpisodeState.ASSESSING,
        pathway_id=pathway.id,
        responsible_unit_id=unit_id,
        assessment_note=data.assessment_note,
        assessed_at=now,
        assessed_by_id=subject.staff_id,
    )
    db.add(episode)
    try:
        with db.begin_nested():
            db.flush()
    except IntegrityError:
        # Someone else started an episode for this patient in the same moment.
        raise Conflict("The patient already has an active home-ward episode",
                       field="patient_id") from None
    _join_team(db, subject, patient_id, episode.id, unit_id=unit_id, role="Ansvarig enhet")
    audit.record(db, patient_id, "episode.assess")
    return episode


def _join_team(db: Session, subject: Subject, patient_id: uuid.UUID, episode_id: uuid.UUID,
               *, unit_id: int | None = None, staff_id: int | None = None, role: str,
               sharing_note: str | None = None) -> None:
    """Add a unit or person to the care team unless they are already in it; bind existing
    relations to the episode so that they end with it."""
    now = utcnow()
    column = CareRelation.unit_id if unit_id is not None else CareRelation.staff_id
    existing = db.scalars(
        select(CareRelation).where(
            CareRelation.patient_id == patient_id,
            column == (unit_id if unit_id is not None else staff_id),
            relation_active(now),
        )
    ).all()
    if existing:
        for relation in existing:
            if relation.episode_id is None:
                relation.episode_id = episode_id
        return
    db.add(
        CareRelation(
            patient_id=patient_id,
            episode_id=episode_id,
            unit_id=unit_id,
            staff_id=staff_id,
            role=role,
            sharing_note=sharing_note,
            starts_at=now,
            created_by_id=subject.staff_id,
            documented_by_unit_id=subject.unit_id,
        )
    )


def _staff_in_org(db: Session, staff_id: int | None, organisation_id: int | None,
                  field_name: str, profession: str | None = None) -> Staff:
    row = db.execute(
        select(Staff, Unit.organisation_id).join(Unit, Unit.id == Staff.unit_id)
        .where(Staff.id == staff_id)
    ).one_or_none()
    if row is None or not row[0].active:
        raise Invalid("Unknown staff member", field=field_name)
    staff, org_id = row
    if organisation_id is not None and org_id != organisation_id:
        raise Invalid("Choose someone from the responsible organisation", field=field_name)
    if profession is not None and staff.profession != profession:
        raise Invalid("Choose a physician", field=field_name)
    return staff


def decide_admission(db: Session, subject: Subject, patient_id: uuid.UUID,
                     episode_id: uuid.UUID, data: DecisionCreate) -> Episode:
    """The physician's decision on the newest assessment. Not admitting ends the episode
    (not admitted, with the physician's reason); admitting lets the home ward admit."""
    row = assessments.decide(db, subject, patient_id, episode_id, data)
    episode = _episode_for_change(db, subject, patient_id, episode_id)
    if row.decision == "not_admit":
        _end(db, subject, episode, EpisodeState.NOT_ADMITTED, EpisodeEnd(note=row.decision_reason),
             "decision")
        audit.record(db, patient_id, "episode.not_admitted")
    return episode


def admit(db: Session, subject: Subject, patient_id: uuid.UUID, episode_id: uuid.UUID,
          data: AdmissionCreate) -> Episode:
    episode = _episode_for_change(db, subject, patient_id, episode_id)
    if episode.state != EpisodeState.ASSESSING:
        raise Conflict("Only an episode under assessment can be admitted", field="state")
    # Admission rests on the physician's decision on the newest assessment; one taken
    # against a criterion stays visible on the episode and in follow-up.
    ground = assessments.admission_ground(db, episode)
    home = origin(db, episode.responsible_unit_id)
    physician = _staff_in_org(db, data.responsible_physician_id, home.organisation_id,
                              "responsible_physician_id", Profession.PHYSICIAN)
    coordinator = (
        _staff_in_org(db, data.coordinator_id, None, "coordinator_id")
        if data.coordinator_id is not None else None
    )
    if coordinator is not None:
        if coordinator.profession not in CLINICAL_PROFESSIONS:
            raise Invalid("The fast vårdkontakt is a member of the care staff",
                          field="coordinator_id")
        # A coordinator from another organisation joins the care team: that takes the
        # patient's consent to sharing (or a reason why none is needed).
        note = settle_sharing(db, subject, patient_id,
                              origin(db, coordinator.unit_id).organisation_id, data,
                              context="fast vårdkontakt")
    else:
        note = None
    admitted_at = _when(data.admitted_at, "admitted_at", not_before=episode.assessed_at)
    # Lock the unit so that two admissions at once do not pick the same virtual bed.
    unit = db.get(Unit, episode.responsible_unit_id, with_for_update=True)
    taken = set(
        db.scalars(select(Episode.bed_number).where(
            Episode.responsible_unit_id == unit.id, Episode.state == EpisodeState.ADMITTED))
    )
    free = [n for n in range(1, unit.virtual_beds + 1) if n not in taken]
    if not free:
        raise Conflict("The home ward has no free virtual bed", field="bed_number")
    episode.state = EpisodeState.ADMITTED
    episode.bed_number = free[0]
    episode.responsible_physician_id = physician.id
    episode.coordinator_id = coordinator.id if coordinator else None
    episode.held_bed = data.held_bed
    episode.held_bed_location = data.held_bed_location if data.held_bed else None
    episode.admitted_at = admitted_at
    episode.admitted_by_id = subject.staff_id
    episode.criteria_override = ground.override
    for person, role, sharing in ((physician, "Medicinskt ansvarig läkare", None),
                                  (coordinator, "Fast vårdkontakt", note)):
        if person is not None and person.unit_id != episode.responsible_unit_id:
            _join_team(db, subject, patient_id, episode.id, staff_id=person.id, role=role,
                       sharing_note=sharing)
    audit.record(db, patient_id, "episode.admit")
    return episode


def _end(db: Session, subject: Subject, episode: Episode, state: EpisodeState,
         data: EpisodeEnd, field_name: str, end_reason: str | None = None) -> None:
    ended_at = _when(data.ended_at, field_name,
                     not_before=episode.admitted_at or episode.assessed_at)
    episode.state = state
    episode.ended_at = ended_at
    episode.ended_by_id = subject.staff_id
    episode.end_note = data.note
    episode.end_reason = end_reason
    episode.held_bed = False
    # The team keeps access for a short follow-up period (discharge summary, readmission),
    # then the care relationships bound to the episode end by themselves.
    grace_end = ended_at + timedelta(days=get_settings().care_relation_grace_days)
    for relation in db.scalars(
        select(CareRelation).where(CareRelation.episode_id == episode.id,
                                   or_(CareRelation.ends_at.is_(None),
                                       CareRelation.ends_at > grace_end))
    ):
        relation.ends_at = grace_end
    reason = "episode_returned" if state == EpisodeState.RETURNED else "episode_discharged"
    # The visits other units were asked to make for the episode stop with it.
    planning.end_with_episode(db, episode.id, ended_at, reason)
    # So do its open alerts: nobody at home is there to act on them any more.
    alerts.end_with_episode(db, episode.id, subject.staff_id, reason, utcnow())


def _code(value: str | None, codes: dict[str, str], field_name: str) -> str:
    """The schema already holds the code to its list; this guards callers that build the
    data by hand (the round's decision), so no episode ends without a known code."""
    if not value:
        raise Invalid("This field is required", field=field_name)
    if value not in codes:
        raise Invalid("Choose one of the options", field=field_name)
    return value


def discharge(db: Session, subject: Subject, patient_id: uuid.UUID, episode_id: uuid.UUID,
              data: Discharge) -> Episode:
    """The episode ends at home: the treatment completed, a death at home (expected in
    palliative care, or not), or another outcome — the code follow-up counts by."""
    episode = _episode_for_change(db, subject, patient_id, episode_id)
    if episode.state != EpisodeState.ADMITTED:
        raise Conflict("Only an admitted patient can be discharged", field="state")
    _end(db, subject, episode, EpisodeState.DISCHARGED, data, "ended_at",
         _code(data.outcome, DISCHARGE_OUTCOMES, "outcome"))
    audit.record(db, patient_id, "episode.discharge")
    return episode


def return_to_hospital(db: Session, subject: Subject, patient_id: uuid.UUID,
                       episode_id: uuid.UUID, data: ReturnToHospital) -> Episode:
    episode = _episode_for_change(db, subject, patient_id, episode_id)
    if episode.state != EpisodeState.ADMITTED:
        raise Conflict("Only an admitted patient can be returned to hospital", field="state")
    _end(db, subject, episode, EpisodeState.RETURNED, data, "ended_at",
         _code(data.reason, RETURN_REASONS, "reason"))
    episode.ambulance_informed = data.ambulance_informed
    audit.record(db, patient_id, "episode.return")
    return episode


def close_without_admission(db: Session, subject: Subject, patient_id: uuid.UUID,
                            episode_id: uuid.UUID, data: EpisodeEnd) -> Episode:
    episode = _episode_for_change(db, subject, patient_id, episode_id)
    if episode.state != EpisodeState.ASSESSING:
        raise Conflict("Only an episode under assessment can be closed this way", field="state")
    _end(db, subject, episode, EpisodeState.NOT_ADMITTED, data, "ended_at")
    audit.record(db, patient_id, "episode.not_admitted")
    return episode


# --- Reading -------------------------------------------------------------------------------


@dataclass
class EpisodeView:
    episode: Episode
    pathway_name: str
    unit_name: str
    organisation_name: str
    visible: bool
    hidden_reason: str | None = None  # "blocked" / "no_consent"
    physician: Staff | None = None
    coordinator: Staff | None = None

    @property
    def day_at_home(self) -> int | None:
        """Vårddag: the day of admission is day 1, counted in Swedish calendar days."""
        e = self.episode
        if e.admitted_at is None:
            return None
        end = local_date(e.ended_at) if e.ended_at else local_today()
        return (end - local_date(e.admitted_at)).days + 1


def hidden_reason(decision: Decision, where: Origin) -> str:
    facts = decision.facts
    if facts is not None and where.unit_id in facts.blocked_units:
        return "blocked"
    return "no_consent"


def patient_episodes(db: Session, decision: Decision, patient_id: uuid.UUID) -> list[EpisodeView]:
    episodes = list(db.scalars(select(Episode).where(Episode.patient_id == patient_id)
                               .order_by(Episode.assessed_at.desc())))
    return episode_views(db, {patient_id: decision}, episodes)


def get_episode_view(db: Session, decision: Decision, patient_id: uuid.UUID,
                     episode_id: uuid.UUID) -> EpisodeView:
    episode = db.get(Episode, episode_id)
    if episode is None or episode.patient_id != patient_id:
        raise NotFound()
    view = episode_views(db, {patient_id: decision}, [episode])[0]
    if not view.visible:
        raise NotFound()
    return view


@dataclass
class HomeWardEntry:
    patient: Patient
    view: EpisodeView
    team_organisations: list[str] = field(default_factory=list)
    # The latest value the user may see, with its NEWS2 as they may see it, and the open
    # alerts of the episode (only when the episode is visible to them).
    latest: object | None = None
    open_alerts: int = 0
    top_severity: str | None = None
    overdue_logistics: int = 0  # checklist items not in the home by their time

    @property
    def attention(self) -> bool:
        """Someone deteriorating: an open alert of high priority, or a NEWS2 of 5 or more."""
        band = self.latest.news2_band if self.latest is not None else None
        return self.top_severity in ("high", "critical") or band in ("medium", "high")


@dataclass
class HomeWard:
    scope: str  # "unit": the unit's own virtual beds; "team": every patient the unit cares for
    unit: Unit
    entries: list[HomeWardEntry]
    free_beds: int | None


def home_ward(db: Session, subject: Subject, scope: str | None = None) -> HomeWard:
    require(db, subject, Action.READ)  # role
    unit = db.get(Unit, subject.unit_id)
    if scope not in ("unit", "team"):
        scope = "unit" if unit.virtual_beds > 0 else "team"
    stmt = (
        select(Episode, Patient)
        .join(Patient, Patient.id == Episode.patient_id)
        .where(Episode.state.in_(ACTIVE_STATES),
               Episode.patient_id.in_(accessible_patients(subject)))
    )
    if scope == "unit":
        stmt = stmt.where(Episode.responsible_unit_id == subject.unit_id)
    entries, decisions = ward_entries(db, subject, stmt)
    log_listed(db, {x.patient.id: decisions[x.patient.id] for x in entries}, "homeward.list")
    free = None
    if scope == "unit":
        used = sum(1 for x in entries if x.view.episode.state == EpisodeState.ADMITTED)
        free = max(unit.virtual_beds - used, 0)
    return HomeWard(scope, unit, entries, free)


def ward_entries(db: Session, subject: Subject, stmt
                 ) -> tuple[list[HomeWardEntry], dict[uuid.UUID, Decision]]:
    """The rows of a list of episodes (`stmt` selects Episode, Patient of patients the user
    may read): each episode as the user may see it, with the latest NEWS2, open alerts and
    overdue logistics of the visible ones; admitted first, by bed, then by name. Not logged:
    the caller logs what it shows."""
    rows = db.execute(stmt).all()
    decisions = decisions_for(db, subject, [p.id for _, p in rows])
    rows = [(e, p) for e, p in rows if decisions[p.id]]
    views = episode_views(db, decisions, [e for e, _ in rows])
    teams = _team_organisations(db, decisions, [p.id for _, p in rows])
    entries = [
        HomeWardEntry(p, view, teams.get(p.id, []))
        for (_, p), view in zip(rows, views, strict=True)
    ]
    _signals(db, decisions, [x for x in entries if x.view.visible
                             and x.view.episode.state == EpisodeState.ADMITTED])
    _overdue_logistics(db, decisions, [x for x in entries if x.view.visible])
    entries.sort(key=lambda x: (
        x.view.episode.state != EpisodeState.ADMITTED,
        x.view.episode.bed_number or 10_000,
        x.patient.family_name, x.patient.given_name,
    ))
    return entries, decisions


# The values of the last day count as "latest" on the list: older ones say nothing about now.
LATEST_WITHIN = timedelta(hours=24)


def _signals(db: Session, decisions: dict[uuid.UUID, Decision],
             entries: list[HomeWardEntry]) -> None:
    """Each admitted patient's latest NEWS2 (as the user may see it) and open alerts, so the
    one who deteriorates stands out on the list. A fixed number of queries, plus one per
    patient some of whose information is hidden from the user."""
    if not entries:
        return
    ids = [x.patient.id for x in entries]
    latest = visible.latest(db, {pid: decisions[pid] for pid in ids}, utcnow() - LATEST_WITHIN)
    open_alerts: dict[uuid.UUID, list[str]] = {}
    for episode_id, severity in db.execute(
            select(Alert.episode_id, Alert.severity).where(
                Alert.episode_id.in_([x.view.episode.id for x in entries]),
                Alert.status.in_(UNRESOLVED))):
        open_alerts.setdefault(episode_id, []).append(severity)
    for x in entries:
        x.latest = latest.get(x.patient.id)
        severities = open_alerts.get(x.view.episode.id, [])
        x.open_alerts = len(severities)
        x.top_severity = max(severities, key=SEVERITIES.index, default=None)


def _overdue_logistics(db: Session, decisions: dict[uuid.UUID, Decision],
                       entries: list[HomeWardEntry]) -> None:
    """Checklist items not in the home by their time, for every visible episode: the home is
    made ready while the patient is still being assessed, so not only the admitted count.
    One query for all entries."""
    overdue = logistics.overdue_by_episode(
        db, decisions, {x.view.episode.id: x.patient.id for x in entries})
    for x in entries:
        x.overdue_logistics = overdue.get(x.view.episode.id, 0)


def episode_views(db: Session, decisions: dict[uuid.UUID, Decision],
                  episodes: list[Episode]) -> list[EpisodeView]:
    """Episodes with the names to show, each hidden unless its patient's decision lets the
    user see the responsible unit's information. A fixed number of queries for any list."""
    if not episodes:
        return []
    unit_ids = {e.responsible_unit_id for e in episodes}
    units = {
        u.id: (u, org)
        for u, org in db.execute(
            select(Unit, Organisation).join(Organisation).where(Unit.id.in_(unit_ids))
        )
    }
    staff_ids = {i for e in episodes for i in (e.responsible_physician_id, e.coordinator_id) if i}
    staff = {s.id: s for s in db.scalars(select(Staff).where(Staff.id.in_(staff_ids)))} if staff_ids else {}
    path_names = dict(db.execute(select(Pathway.id, Pathway.name)
                                 .where(Pathway.id.in_({e.pathway_id for e in episodes}))).all())
    out = []
    for e in episodes:
        unit, org = units[e.responsible_unit_id]
        where = Origin(unit.id, org.id)
        decision = decisions[e.patient_id]
        visible = decision.sees(where)
        out.append(EpisodeView(
            episode=e, pathway_name=path_names[e.pathway_id], unit_name=unit.name,
            organisation_name=org.name, visible=visible,
            hidden_reason=None if visible else hidden_reason(decision, where),
            physician=staff.get(e.responsible_physician_id) if visible else None,
            coordinator=staff.get(e.coordinator_id) if visible else None,
        ))
    return out


def _team_organisations(db: Session, decisions: dict[uuid.UUID, Decision],
                        patient_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
    if not patient_ids:
        return {}
    now = utcnow()
    staff_unit = select(Staff.id, Staff.unit_id).subquery()
    rows = db.execute(
        select(CareRelation.patient_id, CareRelation.unit_id, staff_unit.c.unit_id,
               CareRelation.documented_by_unit_id)
        .outerjoin(staff_unit, staff_unit.c.id == CareRelation.staff_id)
        .where(CareRelation.patient_id.in_(patient_ids), relation_active(now))
    ).all()
    unit_ids = {u for row in rows for u in row[1:] if u is not None}
    unit_org = dict(db.execute(select(Unit.id, Unit.organisation_id)
                               .where(Unit.id.in_(unit_ids))).all())
    org_names = dict(db.execute(select(Organisation.id, Organisation.name)
                                .where(Organisation.id.in_(set(unit_org.values())))).all())
    out: dict[uuid.UUID, set[str]] = {}
    for pid, unit_id, staff_unit_id, documented_by in rows:
        if not decisions[pid].sees(Origin(documented_by, unit_org[documented_by])):
            continue
        member_unit = unit_id or staff_unit_id
        out.setdefault(pid, set()).add(org_names[unit_org[member_unit]])
    return {pid: sorted(names) for pid, names in out.items()}
