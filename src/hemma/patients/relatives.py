"""What the patient lets each relative see on the patient's page.

A relative the team recorded (name, relation, phone) may get a login code of their own for
the patient's page, but only for the parts the patient chose: their messages with the team,
who comes today, the agreement, and (only if the patient says so) their values. The patient
chooses on their own page; staff may record what the patient told them. Taking a permission
back holds at once (every request reads it); taking the last one back also revokes the
relative's codes and ends their sessions."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from hemma.access import audit
from hemma.access.auth import close_relative_access
from hemma.access.policy import Action, Subject
from hemma.access.service import require
from hemma.kit.errors import Invalid, NotFound
from hemma.kit.text import N_
from hemma.kit.time import utcnow
from hemma.models import Relative, Staff

# The parts of the patient's page a relative may be shown, in the page's order.
SHARES = ("messages", "visits", "agreement", "values")
BY_PATIENT = "patient"


class PatientOnOwnPage(Protocol):
    """Whoever is on the patient's page (web.deps.PatientSelf)."""

    patient_id: uuid.UUID
    relative_id: uuid.UUID | None


def current(db: Session, patient_id: uuid.UUID) -> list[Relative]:
    """The patient's relatives, removed ones left out, in the order they were recorded."""
    return list(db.scalars(select(Relative).where(
        Relative.patient_id == patient_id, Relative.removed_at.is_(None))
        .order_by(Relative.created_at, Relative.id)))


def get(db: Session, patient_id: uuid.UUID, relative_id: uuid.UUID) -> Relative:
    relative = db.get(Relative, relative_id)
    if relative is None or relative.patient_id != patient_id or relative.removed_at is not None:
        raise NotFound()
    return relative


def clean_shares(chosen: Iterable[str]) -> list[str]:
    """The chosen parts in the page's order; an unknown name is an error naming the field."""
    chosen = set(chosen)
    unknown = chosen - set(SHARES)
    if unknown:
        raise Invalid(N_("Unknown part of the page: %(name)s"), field="shares",
                      name=", ".join(sorted(unknown)))
    return [s for s in SHARES if s in chosen]


def _apply(db: Session, relative: Relative, shares: list[str], by: str) -> bool:
    """Set the relative's permissions; False when nothing changed."""
    if list(relative.shares or []) == shares:
        return False
    relative.shares = shares
    relative.shares_changed_at = utcnow()
    relative.shares_changed_by = by
    if not shares:
        close_relative_access(db, relative)
    db.flush()
    return True


def set_by_patient(db: Session, me: PatientOnOwnPage, relative_id: uuid.UUID,
                   chosen: Iterable[str]) -> Relative:
    """The patient chooses, on their own page, what this relative may see. Only the patient:
    a relative never widens their own view."""
    if me.relative_id is not None:
        raise NotFound()
    relative = get(db, me.patient_id, relative_id)
    shares = clean_shares(chosen)
    if _apply(db, relative, shares, BY_PATIENT):
        audit.record(db, me.patient_id, "patient.relative_shares", basis="self",
                     detail=f"relative {relative.id}: {','.join(shares) or '-'}")
    return relative


def set_by_staff(db: Session, subject: Subject, patient_id: uuid.UUID,
                 relative_id: uuid.UUID, chosen: Iterable[str]) -> Relative:
    """A staff member records what the patient said they let this relative see (at a visit,
    on the phone), under their own name."""
    require(db, subject, Action.EDIT, patient_id, audit_action="relative.shares")
    relative = get(db, patient_id, relative_id)
    shares = clean_shares(chosen)
    staff = db.get(Staff, subject.staff_id)
    if _apply(db, relative, shares, staff.username if staff else str(subject.staff_id)):
        audit.record(db, patient_id, "relative.shares",
                     detail=f"relative {relative.id}: {','.join(shares) or '-'}")
    return relative


def remove(db: Session, relative: Relative) -> None:
    """The relative is no longer the patient's: no access, no notices. The row stays, for
    the messages they wrote and the log."""
    relative.removed_at = utcnow()
    close_relative_access(db, relative)
    db.flush()
