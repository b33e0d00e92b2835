"""Who may do what with which patient: the rules of Patientdatalagen (2008:355) and
Lag (2022:913) om sammanhållen vård- och omsorgsdokumentation, as a pure function.

No database and no clock here: `hemma.access.service` gathers the facts about one user and
one patient, and `decide()` turns them into a decision. Everything fails closed: an action
or profession this module does not know grants nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from hemma.models.directory import Profession


class Action(StrEnum):
    # About one patient.
    READ = "patient.read"
    EDIT = "patient.edit"  # contact details, relatives
    EPISODE = "episode.manage"  # assess, admit, discharge, return to hospital
    CARE_TEAM = "careteam.manage"
    CONSENT = "consent.manage"
    BLOCK = "block.manage"
    OBSERVE = "observation.record"  # enter vital signs (visit, phone, device)
    ALERT = "alert.handle"  # acknowledge, snooze, resolve
    ROUND = "round.decide"  # the remote round's decision
    PLAN = "plan.manage"  # monitoring plan: SpO2 scale, schedule, thresholds
    PATIENT_CODE = "patientcode.manage"  # hand out and revoke the patient's login code
    CARE_REQUEST = "carerequest.manage"  # ask another unit for visits; accept or decline one
    VISIT = "visit.record"  # start, done, not done at a home visit
    # Add an urgent visit for the patient; without a patient, the unit's shifts and day plan.
    VISIT_PLAN = "visitplan.manage"
    # Tasks (give, do, undo) and hand-overs (write, confirm as received).
    COORDINATE = "coordination.manage"
    # Write in the patient's message threads: answer the patient, and staff to staff about
    # them (each message is documented by the writer's unit).
    MESSAGE = "message.write"
    # Not about one patient.
    REGISTER = "patient.register"  # register a patient and start an assessment
    EMERGENCY = "emergency.open"
    ADMIN = "admin.manage"  # units and staff accounts; grants no patient data
    LOG_REVIEW = "log.review"  # the organisation's own access log
    PATHWAY = "pathway.manage"  # edit, import and retire pathways (vårdprogram); no patient data
    # The follow-up figures: every clinical profession its own unit's; the follow-up role and
    # the medical lead every unit's and organisation's (small numbers suppressed); no patient
    # data (tracing a figure to its episodes shows only those the user may read anyway).
    FOLLOW_UP = "followup.read"
    RESEARCH_EXPORT = "followup.research_export"  # the pseudonymised extract; logged
    SIGNED_IN = "signed_in"  # any logged-in staff member (their own pages)


PATIENT_ACTIONS = frozenset(
    {Action.READ, Action.EDIT, Action.EPISODE, Action.CARE_TEAM, Action.CONSENT, Action.BLOCK,
     Action.OBSERVE, Action.ALERT, Action.ROUND, Action.PLAN, Action.PATIENT_CODE,
     Action.CARE_REQUEST, Action.VISIT, Action.VISIT_PLAN, Action.COORDINATE,
     Action.MESSAGE}
)
WRITE_ACTIONS = PATIENT_ACTIONS - {Action.READ}

_CLINICAL_ALL = frozenset(PATIENT_ACTIONS | {Action.REGISTER, Action.EMERGENCY})
_SUPPORTING = frozenset({Action.READ, Action.EDIT, Action.OBSERVE, Action.VISIT,
                         Action.COORDINATE, Action.MESSAGE})

# What each profession may do at all. Physicians carry the medical responsibility: only they
# take the round's decision and prescribe the monitoring plan (SpO2 scale 2 in particular).
# Nurses do everything else; coordinators register episodes and keep the team together but do
# not open records in an emergency; assistant nurses and therapists read, record values at
# visits and keep contact details up to date. System accounts (device gateways, journal
# integrations through FHIR) record values and read: always per patient through can() for the
# account's unit, and each client narrowed further by the SMART scopes it was registered with
# (a gateway's `system/Observation.c` cannot read at all).
# Care requests (vårdbegäran) are sent and answered by nurses, physicians and coordinators;
# whoever makes the visit records it. The same three plan the unit's day of visits.
CLINICAL_PROFESSIONS = frozenset({
    Profession.PHYSICIAN, Profession.NURSE, Profession.COORDINATOR, Profession.ASSISTANT_NURSE,
    Profession.PHYSIOTHERAPIST, Profession.OCCUPATIONAL_THERAPIST})
PROFESSION_ACTIONS: dict[str, frozenset[Action]] = {
    Profession.PHYSICIAN: _CLINICAL_ALL,
    Profession.NURSE: frozenset(_CLINICAL_ALL - {Action.ROUND, Action.PLAN}),
    Profession.COORDINATOR: frozenset(_CLINICAL_ALL - {Action.EMERGENCY, Action.ROUND,
                                                       Action.PLAN, Action.OBSERVE,
                                                       Action.VISIT}),
    Profession.ASSISTANT_NURSE: _SUPPORTING,
    Profession.PHYSIOTHERAPIST: _SUPPORTING,
    Profession.OCCUPATIONAL_THERAPIST: _SUPPORTING,
    Profession.ADMINISTRATIVE: frozenset(),
    Profession.SYSTEM: frozenset({Action.READ, Action.OBSERVE}),
}


class Basis(StrEnum):
    UNIT = "unit"  # the user's unit is in the care team
    PERSONAL = "personal"  # the user is in the care team by name
    EMERGENCY = "emergency"
    ROLE = "role"  # an action not about one patient, allowed by role
    NONE = "none"


@dataclass(frozen=True)
class Subject:
    staff_id: int
    unit_id: int
    organisation_id: int
    profession: str
    is_admin: bool = False
    is_log_reviewer: bool = False
    is_medical_lead: bool = False
    is_follow_up: bool = False
    is_research_exporter: bool = False
    active: bool = True
    family_name: str = ""

    @property
    def follows_up_everywhere(self) -> bool:
        """May read the follow-up figures of any unit and organisation, not only their own."""
        return self.is_follow_up or self.is_medical_lead

    def role_allows(self, action: Action) -> bool:
        if not self.active:
            return False
        if action == Action.SIGNED_IN:
            return True
        if action == Action.ADMIN:
            return self.is_admin
        if action == Action.LOG_REVIEW:
            return self.is_log_reviewer
        if action == Action.PATHWAY:
            return self.is_medical_lead
        if action == Action.RESEARCH_EXPORT:
            return self.is_research_exporter
        if action == Action.FOLLOW_UP:
            return (self.follows_up_everywhere
                    or self.profession in CLINICAL_PROFESSIONS)
        return action in PROFESSION_ACTIONS.get(self.profession, frozenset())


@dataclass(frozen=True)
class PatientFacts:
    """What is true now about one user and one patient."""

    exists: bool = True
    unit_relation: bool = False
    personal_relation: bool = False
    emergency: bool = False
    consent_organisations: frozenset[int] = field(default_factory=frozenset)
    blocked_units: frozenset[int] = field(default_factory=frozenset)


@dataclass(frozen=True)
class Origin:
    """Where a piece of information was documented."""

    unit_id: int
    organisation_id: int


@dataclass(frozen=True)
class Decision:
    allowed: bool
    basis: Basis
    subject: Subject
    action: Action
    facts: PatientFacts | None = None

    def __bool__(self) -> bool:
        return self.allowed

    @property
    def emergency(self) -> bool:
        """Reading under an open emergency access, whether or not a care relationship also
        exists: such reads may show what consent would otherwise hide, so they are flagged."""
        return (
            self.allowed
            and self.action == Action.READ
            and self.facts is not None
            and self.facts.emergency
        )

    def sees(self, origin: Origin) -> bool:
        """May the user read information documented at `origin`?"""
        if not self.allowed or self.facts is None:
            return False
        return _visible(self.subject, self.facts, origin, emergency=self.facts.emergency)

    def may_change(self, origin: Origin) -> bool:
        """Each organisation keeps its own record: others may read it (with consent),
        never change it."""
        return self.sees(origin) and origin.organisation_id == self.subject.organisation_id


DENY_BASIS = Basis.NONE


def _visible(subject: Subject, facts: PatientFacts, origin: Origin, *, emergency: bool) -> bool:
    if origin.unit_id == subject.unit_id:
        return True
    # A block (spärr) hides a unit's information from every other unit. Only the patient can
    # have it lifted; emergency access does not open it.
    if origin.unit_id in facts.blocked_units:
        return False
    if origin.organisation_id == subject.organisation_id:
        return True  # inre sekretess: the care relationship is enough within one organisation
    # Another organisation's information needs the patient's consent, or an emergency in
    # which the patient cannot give it (PDL 6 kap 3 §).
    return subject.organisation_id in facts.consent_organisations or emergency


def decide(
    subject: Subject,
    action: Action,
    facts: PatientFacts | None = None,
    *,
    on: Origin | None = None,
) -> Decision:
    """The one access decision. `facts` is required for patient actions; `on` narrows the
    decision to one piece of information (documented at that origin): reading it needs it
    visible, changing it needs it to be the user's own organisation's."""
    deny = Decision(False, DENY_BASIS, subject, action, facts)
    if not subject.role_allows(action):
        return deny
    if action not in PATIENT_ACTIONS:
        return Decision(True, Basis.ROLE, subject, action, None)
    if facts is None or not facts.exists:
        # A patient action without a patient to decide on is never allowed here; lists ask
        # `Subject.role_allows` for the page and then decide row by row.
        return deny
    if facts.unit_relation:
        basis = Basis.UNIT
    elif facts.personal_relation:
        basis = Basis.PERSONAL
    elif facts.emergency and action == Action.READ:
        basis = Basis.EMERGENCY
    else:
        return deny
    decision = Decision(True, basis, subject, action, facts)
    if on is not None:
        ok = decision.may_change(on) if action in WRITE_ACTIONS else decision.sees(on)
        if not ok:
            return deny
    return decision
