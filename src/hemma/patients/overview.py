"""The patient overview: one coherent picture from every organisation in the care team,
each part shown only as far as the access decision lets this user see it. Later
capabilities (care plan, monitoring, visits, messages) add their sections here."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session

from hemma.access import sharing
from hemma.access.policy import Action, Decision
from hemma.access.service import origin
from hemma.agreements import service as agreements
from hemma.assessments import service as assessments
from hemma.episodes.service import EpisodeView, patient_episodes
from hemma.kit.time import utcnow
from hemma.logistics import service as logistics
from hemma.models import Block, Consent, EmergencyAccess, Patient, Relative
from hemma.monitoring import service as monitoring
from hemma.monitoring import views as monitoring_views
from hemma.monitoring import visible as visible_values
from hemma.patients.service import get_patient, relatives
from hemma.rounds.service import round_notes
from hemma.treatments import service as treatments


@dataclass
class MonitoringSummary:
    latest: object | None
    hidden_values: int  # values of the last 30 days this user may not see
    alerts: list
    notes: list
    spo2_scale: int
    may_observe: bool
    may_plan: bool
    may_round: bool
    may_code: bool


@dataclass
class Overview:
    patient: Patient
    decision: Decision
    relatives: list[Relative]
    active: EpisodeView | None
    history: list[EpisodeView]
    hidden_episodes: int
    team: list[sharing.TeamMember]
    hidden_team: int
    consents: list[tuple[Consent, str]]
    own_blocks: list[tuple[Block, str]]
    other_blocks: int
    emergency: EmergencyAccess | None
    may_change_active: bool
    may_start_assessment: bool
    mon: MonitoringSummary | None = None
    # The newest version of the active episode's assessment, and the physician's decision.
    assessment: object | None = None
    agreement: agreements.AgreementSummary | None = None
    # What must be in the home and the treatments given there (the active episode's).
    checklist: logistics.Logistics | None = None
    treatments: treatments.TreatmentRecord | None = None

    @property
    def active_consent_orgs(self) -> list[str]:
        return [name for c, name in self.consents if c.withdrawn_at is None]


def overview(db: Session, decision: Decision, patient_id: uuid.UUID) -> Overview:
    patient = get_patient(db, patient_id)
    views = patient_episodes(db, decision, patient_id)
    visible = [v for v in views if v.visible]
    active = next((v for v in visible if v.episode.is_active), None)
    any_active = any(v.episode.is_active for v in views)
    team, hidden_team = sharing.team(db, decision, patient_id)
    own_blocks, other_blocks = sharing.blocks(db, decision.subject, patient_id)
    subject = decision.subject
    mon = None
    if active is not None:
        seen = visible_values.observations(db, decision, patient_id,
                                           utcnow() - timedelta(days=30))
        values = seen.observations
        plan = monitoring.plan_for(db, active.episode)
        own = decision.basis != "emergency" and decision.may_change(
            origin(db, active.episode.responsible_unit_id))
        mon = MonitoringSummary(
            latest=visible_values.latest_of(values),
            hidden_values=seen.hidden,
            alerts=monitoring_views.patient_alerts(db, decision, patient_id,
                                                   unresolved_only=True),
            notes=round_notes(db, decision, patient_id)[:5],
            spo2_scale=plan.spo2_scale if plan else 1,
            may_observe=subject.role_allows(Action.OBSERVE) and decision.basis != "emergency",
            may_plan=own and subject.role_allows(Action.PLAN),
            may_round=own and subject.role_allows(Action.ROUND)
            and active.episode.state == "admitted",
            may_code=subject.role_allows(Action.PATIENT_CODE) and decision.basis != "emergency")
    assessment = None
    if active is not None:
        found = assessments.versions(db, decision, patient_id, active.episode.id)
        assessment = found[0] if found else None
    return Overview(
        assessment=assessment,
        patient=patient,
        decision=decision,
        relatives=relatives(db, patient_id),
        active=active,
        history=[v for v in visible if not v.episode.is_active],
        hidden_episodes=len(views) - len(visible),
        team=team,
        hidden_team=hidden_team,
        consents=sharing.consents(db, patient_id),
        own_blocks=own_blocks,
        other_blocks=other_blocks,
        emergency=sharing.active_emergency(db, subject, patient_id),
        may_change_active=bool(
            active and subject.role_allows(Action.EPISODE) and decision.basis != "emergency"
            and decision.may_change(origin(db, active.episode.responsible_unit_id))
        ),
        may_start_assessment=not any_active and subject.role_allows(Action.EPISODE)
        and decision.basis != "emergency",
        mon=mon,
        agreement=agreements.summary(db, decision, active.episode) if active else None,
        checklist=logistics.logistics(db, decision, patient_id, active.episode.id)
        if active else None,
        treatments=treatments.treatment_record(db, decision, active.episode.id)
        if active else None,
    )
