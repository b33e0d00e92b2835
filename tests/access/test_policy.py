"""The pure access rules, exhaustively: every profession and flag × every combination of
facts × every origin of information, against an oracle written from the rules' text."""

from __future__ import annotations

import itertools

import pytest

from hemma.access.policy import (
    PATIENT_ACTIONS,
    Action,
    Basis,
    Origin,
    PatientFacts,
    Subject,
    decide,
)

OWN_UNIT, SIBLING_UNIT, OTHER_ORG_UNIT = 1, 2, 3
OWN_ORG, OTHER_ORG = 10, 20
ORIGINS = {
    "own unit": Origin(OWN_UNIT, OWN_ORG),
    "sibling unit": Origin(SIBLING_UNIT, OWN_ORG),
    "other organisation": Origin(OTHER_ORG_UNIT, OTHER_ORG),
}

# Written from the product text, independently of PROFESSION_ACTIONS.
_TEAM = {"patient.read", "patient.edit", "episode.manage", "careteam.manage", "consent.manage",
         "block.manage", "patient.register", "alert.handle", "patientcode.manage",
         "carerequest.manage", "visitplan.manage", "coordination.manage", "message.write"}
# Whoever goes to the patient's home records the visit. Everyone in the care team takes
# and gives tasks and hand-overs, and writes to the patient and to each other about them.
_VISITING = {"patient.read", "patient.edit", "observation.record", "visit.record",
             "coordination.manage", "message.write"}
ORACLE_ROLES = {
    # Only physicians decide at the round and prescribe the monitoring plan.
    "physician": _TEAM | {"emergency.open", "observation.record", "round.decide",
                          "plan.manage", "visit.record"},
    "nurse": _TEAM | {"emergency.open", "observation.record", "visit.record"},
    "coordinator": set(_TEAM),
    "assistant_nurse": set(_VISITING),
    "physiotherapist": set(_VISITING),
    "occupational_therapist": set(_VISITING),
    "administrative": set(),
    "system": {"observation.record", "patient.read"},
    "unknown-profession": set(),
}


def oracle_role(subject: Subject, action: Action) -> bool:
    if not subject.active:
        return False
    if action == Action.SIGNED_IN:
        return True
    if action == Action.ADMIN:
        return subject.is_admin
    if action == Action.LOG_REVIEW:
        return subject.is_log_reviewer
    if action == Action.PATHWAY:
        return subject.is_medical_lead
    if action == Action.RESEARCH_EXPORT:
        return subject.is_research_exporter
    if action == Action.FOLLOW_UP:
        # Every clinical profession (its own unit); the follow-up role and the medical lead.
        return (subject.is_follow_up or subject.is_medical_lead or subject.profession in {
            "physician", "nurse", "coordinator", "assistant_nurse", "physiotherapist",
            "occupational_therapist"})
    return action.value in ORACLE_ROLES[subject.profession]


def oracle_patient(subject: Subject, action: Action, f: PatientFacts) -> bool:
    if not oracle_role(subject, action) or not f.exists:
        return False
    if f.unit_relation or f.personal_relation:
        return True
    return f.emergency and action == Action.READ


def oracle_sees(subject: Subject, f: PatientFacts, origin: Origin) -> bool:
    if origin.unit_id == subject.unit_id:
        return True
    if origin.unit_id in f.blocked_units:
        return False  # not even in an emergency
    if origin.organisation_id == subject.organisation_id:
        return True
    return subject.organisation_id in f.consent_organisations or f.emergency


SUBJECTS = [
    Subject(staff_id=7, unit_id=OWN_UNIT, organisation_id=OWN_ORG, profession=p,
            is_admin=admin, is_log_reviewer=reviewer, is_medical_lead=lead, active=active,
            is_follow_up=follow, is_research_exporter=research)
    for p in ORACLE_ROLES
    for admin, reviewer, lead, active, follow, research in itertools.product([False, True],
                                                                             repeat=6)
]

FACTS = [
    PatientFacts(exists=exists, unit_relation=unit, personal_relation=personal,
                 emergency=emergency, consent_organisations=frozenset(consent),
                 blocked_units=frozenset(blocked))
    for exists, unit, personal, emergency in itertools.product([True, False], repeat=4)
    for consent in ([], [OWN_ORG], [OTHER_ORG])
    for blocked in ([], [OWN_UNIT], [SIBLING_UNIT], [OTHER_ORG_UNIT])
]


@pytest.mark.parametrize("action", list(Action))
def test_every_subject_action_and_fact_combination(action):
    checked = 0
    for subject in SUBJECTS:
        if action not in PATIENT_ACTIONS:
            decision = decide(subject, action)
            assert bool(decision) == oracle_role(subject, action), (subject, action)
            checked += 1
            continue
        # A patient action without facts is never allowed.
        assert not decide(subject, action)
        for facts in FACTS:
            decision = decide(subject, action, facts)
            expected = oracle_patient(subject, action, facts)
            assert bool(decision) == expected, (subject, action, facts)
            checked += 1
            for name, origin in ORIGINS.items():
                sees = decision.sees(origin)
                assert sees == (expected and oracle_sees(subject, facts, origin)), \
                    (subject, action, facts, name)
                narrowed = decide(subject, action, facts, on=origin)
                if action == Action.READ:
                    assert bool(narrowed) == sees
                else:
                    # Changing needs it visible and the user's own organisation's.
                    assert bool(narrowed) == (sees and origin.organisation_id == OWN_ORG)
    assert checked > 0


def test_basis_prefers_the_unit_then_the_person_then_emergency():
    nurse = Subject(staff_id=1, unit_id=OWN_UNIT, organisation_id=OWN_ORG, profession="nurse")
    assert decide(nurse, Action.READ, PatientFacts(unit_relation=True, personal_relation=True,
                                                   emergency=True)).basis == Basis.UNIT
    assert decide(nurse, Action.READ, PatientFacts(personal_relation=True,
                                                   emergency=True)).basis == Basis.PERSONAL
    emergency = decide(nurse, Action.READ, PatientFacts(emergency=True))
    assert emergency.basis == Basis.EMERGENCY and emergency.emergency
    # Emergency access is for reading only.
    assert not decide(nurse, Action.EDIT, PatientFacts(emergency=True))


def test_emergency_flag_marks_reads_that_consent_would_otherwise_hide():
    nurse = Subject(staff_id=1, unit_id=OWN_UNIT, organisation_id=OWN_ORG, profession="nurse")
    both = PatientFacts(unit_relation=True, emergency=True)
    assert decide(nurse, Action.READ, both).emergency
    assert decide(nurse, Action.READ, both).sees(ORIGINS["other organisation"])
    assert not decide(nurse, Action.READ, PatientFacts(unit_relation=True)).sees(
        ORIGINS["other organisation"])
    assert not decide(nurse, Action.EDIT, both).emergency
