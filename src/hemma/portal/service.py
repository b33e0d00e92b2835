"""Named actions on the patient's login codes.

A code opens the patient's own page, which shows the home-ward episode's questions and the
patient's latest values from every organisation: it is the patient's own information. So a
code is a way into that information, and only someone who may read the episode it is for may
hand one out; otherwise a code would be a way around the patient's consent (a unit of another
organisation, without consent, could log in as the patient)."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from hemma.access import audit
from hemma.access.auth import create_patient_code, revoke_patient_code
from hemma.access.policy import Action, Decision, Subject
from hemma.access.service import origin, require
from hemma.kit.errors import Conflict, Forbidden, NotFound
from hemma.models import PatientAccessCode
from hemma.monitoring.service import active_episode
from hemma.patients import relatives


def _may_open_the_page(db: Session, decision: Decision, patient_id: uuid.UUID) -> None:
    """A code opens the page of the patient's home-ward episode: there must be one, and the
    one handing the code out must be of a unit that may read it."""
    episode = active_episode(db, patient_id)
    if episode is None:
        raise Conflict("The patient has no ongoing home-ward episode: the patient's page has "
                       "nothing to show yet", field="patient_id")
    if not decision.sees(origin(db, episode.responsible_unit_id)):
        raise Forbidden("Only a unit that may read the home-ward episode can give the patient "
                        "a code: the patient has not agreed to share it with your "
                        "organisation")


def issue_code(db: Session, subject: Subject, patient_id: uuid.UUID) -> tuple[str, PatientAccessCode]:
    """A new login code for the patient's own page (shown once)."""
    decision = require(db, subject, Action.PATIENT_CODE, patient_id,
                       audit_action="patientcode.create")
    _may_open_the_page(db, decision, patient_id)
    code, row = create_patient_code(db, patient_id, subject.staff_id)
    audit.record(db, patient_id, "patientcode.create", detail=f"code {row.id}")
    return code, row


def issue_relative_code(db: Session, subject: Subject, patient_id: uuid.UUID,
                        relative_id: uuid.UUID) -> tuple[str, PatientAccessCode]:
    """A login code of the relative's own, for the parts of the patient's page the patient
    lets them see (shown once). The same rules as the patient's code, and the patient must
    have allowed the relative something: a code that opens nothing is not handed out."""
    decision = require(db, subject, Action.PATIENT_CODE, patient_id,
                       audit_action="relativecode.create")
    relative = relatives.get(db, patient_id, relative_id)
    _may_open_the_page(db, decision, patient_id)
    if not relative.shares:
        raise Conflict("The patient has not chosen anything for this relative to see: record "
                       "what the patient allows first", field="shares")
    code, row = create_patient_code(db, patient_id, subject.staff_id, relative_id=relative.id)
    audit.record(db, patient_id, "relativecode.create",
                 detail=f"relative {relative.id}, code {row.id}")
    return code, row


def revoke_code(db: Session, subject: Subject, patient_id: uuid.UUID, code_id: int) -> None:
    """Revoke a code (a lost phone): its sessions end at once. Anyone in the care team may:
    closing a door is always safe."""
    require(db, subject, Action.PATIENT_CODE, patient_id, audit_action="patientcode.revoke")
    row = db.get(PatientAccessCode, code_id)
    if row is None or row.patient_id != patient_id:
        raise NotFound()
    revoke_patient_code(db, row)
    who = f"relative {row.relative_id}, " if row.relative_id else ""
    audit.record(db, patient_id, "patientcode.revoke", detail=f"{who}code {row.id}")
