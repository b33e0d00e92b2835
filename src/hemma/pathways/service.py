"""Pathways (vårdprogram) as data: the current version of each, their history, saving a new
version (by a medical lead), retiring one, and the five built into Hemma.

A pathway is never changed in place: an episode keeps the version it started on, so what a
patient was assessed against and promised stays readable after the pathway moves on."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hemma.access import audit
from hemma.access.policy import Action, Subject
from hemma.access.service import require
from hemma.kit.errors import Conflict, Invalid, NotFound
from hemma.kit.time import utcnow
from hemma.models import Pathway
from hemma.pathways.document import PathwayDocument, from_columns, read_text

BUILTIN = Path(__file__).resolve().parent / "builtin"


def current(db: Session) -> list[Pathway]:
    """The pathways an assessment may start on: the newest version of each that is not
    retired."""
    return list(db.scalars(select(Pathway).where(Pathway.active.is_(True)).order_by(Pathway.name)))


def retired(db: Session) -> list[Pathway]:
    """The newest version of each pathway that is retired (none of its versions active)."""
    active = select(Pathway.code).where(Pathway.active.is_(True))
    newest = (select(Pathway.code, func.max(Pathway.version).label("v"))
              .where(Pathway.code.not_in(active)).group_by(Pathway.code).subquery())
    return list(db.scalars(select(Pathway).join(
        newest, (newest.c.code == Pathway.code) & (newest.c.v == Pathway.version))
        .order_by(Pathway.name)))


def get(db: Session, pathway_id: int) -> Pathway:
    row = db.get(Pathway, pathway_id)
    if row is None:
        raise NotFound()
    return row


def history(db: Session, code: str) -> list[Pathway]:
    """Every version of one pathway, newest first."""
    rows = list(db.scalars(select(Pathway).where(Pathway.code == code)
                           .order_by(Pathway.version.desc())))
    if not rows:
        raise NotFound()
    return rows


def latest(db: Session, code: str) -> Pathway | None:
    return db.scalar(select(Pathway).where(Pathway.code == code)
                     .order_by(Pathway.version.desc()).limit(1))


def document(row: Pathway) -> dict:
    """One version as the document export writes and the edit page shows."""
    return from_columns(row)


def _changed(row: Pathway, doc: PathwayDocument) -> bool:
    return any(getattr(row, k) != v for k, v in doc.columns().items())


def save(db: Session, subject: Subject, doc: PathwayDocument, *, change_note: str | None,
         based_on: int | None = None) -> Pathway:
    """Save a pathway as its next version (a new code starts at version 1).

    `based_on` is the version the editor opened: if someone saved another in the meantime,
    saving would silently undo their change, so it is refused instead."""
    require(db, subject, Action.PATHWAY)
    previous = latest(db, doc.code)
    if previous is not None and based_on is not None and previous.version != based_on:
        raise Conflict("Someone saved a newer version of this pathway since you opened it: "
                       "open it again", field="based_on")
    if previous is not None and previous.active and not _changed(previous, doc):
        raise Invalid("Nothing has changed from the current version", field="document")
    row = Pathway(**doc.columns(), version=(previous.version + 1) if previous else 1,
                  active=True, created_at=utcnow(), created_by_id=subject.staff_id,
                  change_note=change_note)
    if previous is not None:
        previous.active = False
    db.add(row)
    try:
        with db.begin_nested():
            db.flush()
    except IntegrityError:
        raise Conflict("Someone saved a newer version of this pathway since you opened it: "
                       "open it again", field="based_on") from None
    audit.record(db, None, "pathway.save", basis="role", detail=f"{row.code} v{row.version}")
    return row


def retire(db: Session, subject: Subject, code: str) -> Pathway:
    """No new assessments on this pathway; episodes on it go on as they are."""
    require(db, subject, Action.PATHWAY)
    row = latest(db, code)
    if row is None:
        raise NotFound()
    if not row.active:
        raise Conflict("The pathway is already retired", field="code")
    row.active = False
    audit.record(db, None, "pathway.retire", basis="role", detail=f"{row.code} v{row.version}")
    return row


def builtin_documents() -> list[PathwayDocument]:
    return [read_text(p.read_text(encoding="utf-8"), "yaml")
            for p in sorted(BUILTIN.glob("*.yaml"))]


def install_builtin(db: Session) -> list[str]:
    """Add the pathways that come with Hemma that the installation does not have yet (by
    code): a fresh installation can assess on them at once, and one that has edited or
    retired its own is left as it is."""
    have = set(db.scalars(select(Pathway.code).group_by(Pathway.code)))
    added = []
    for doc in builtin_documents():
        if doc.code in have:
            continue
        db.add(Pathway(**doc.columns(), version=1, active=True, created_at=utcnow(),
                       change_note="Inbyggt i Hemma"))
        added.append(doc.code)
    if added:
        db.flush()
    return added


def count(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(Pathway)) or 0
