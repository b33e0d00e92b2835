"""The patient overview: one coherent picture from every organisation in the care team,
each part shown only as far as the access decision lets this user see it. Later
capabilities (care plan, monitoring, visits, messages) add their sections here."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.orm import Session

from hemma.access import sharing
from hemma.access.policy import Action, Decision
from hemma.access.service import origin
from hemma.episodes.service import EpisodeView, patient_episodes
from hemma.models import Block, Consent, EmergencyAccess, Patient, Relative
from hemma.patients.service import get_patient, relatives


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
    return Overview(
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
    )
