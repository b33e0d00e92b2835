"""Log review (logguppföljning) and the patient's log extract (loggutdrag).

Each organisation (vårdgivare) follows up its own staff's accesses: a reviewer sees the
entries of users of their own organisation only. Reviewing is itself logged."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from itertools import islice

from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from hemma.access import audit
from hemma.access.policy import Action, Subject
from hemma.access.service import require
from hemma.kit.errors import Invalid, NotFound
from hemma.kit.time import STOCKHOLM, local, utcnow
from hemma.kit.validation import BigDbId, Day, DbId, Schema, Text
from hemma.models import AuditEntry, AuditReview, Organisation, Patient, Staff, Unit
from hemma.patients.personnummer import InvalidPersonnummer, parse

PAGE_SIZE = 100
# Accesses between 22 and 06 Swedish time are worth a second look: few planned tasks then.
NIGHT_START, NIGHT_END = 22, 6


class LogFilter(Schema):
    personnummer: Text | None = Field(default=None, max_length=20)
    username: Text | None = Field(default=None, max_length=64)
    unit_id: DbId | None = None
    date_from: Day | None = None
    date_to: Day | None = None
    flagged_only: bool = False
    # The reviewers' own reads (log.review, log.extract) are in the log like any access, but
    # would bury everything else on the page that causes them.
    include_reviews: bool = False
    page: int = Field(default=1, ge=1, le=10_000)


class ReviewCreate(Schema):
    entry_ids: list[BigDbId] = Field(min_length=1, max_length=10_000)
    outcome: str = Field(pattern="^(justified|follow_up|incident)$")
    note: Text | None = Field(default=None, max_length=2000)


@dataclass
class EntryView:
    entry: AuditEntry
    staff_name: str | None
    unit_name: str | None
    patient_name: str | None
    personnummer: str | None
    flags: list[str] = field(default_factory=list)
    reviews: list[tuple[AuditReview, str]] = field(default_factory=list)


def flags_for(entry: AuditEntry, staff_family: str | None, patient_family: str | None) -> list[str]:
    flags = []
    if entry.outcome == "denied":
        flags.append("denied")
    if entry.emergency:
        flags.append("emergency")
    if entry.patient_id is not None and entry.outcome == "allowed" and entry.basis in (
            "personal", "emergency"):
        flags.append("outside_unit")
    if "patient.register_existing" in entry.action.split("+") and entry.outcome == "allowed":
        # A unit joined the care team of someone else's patient, giving a reason: worth
        # checking that the reason holds.
        flags.append("joined_existing")
    if (staff_family and patient_family
            and staff_family.strip().casefold() == patient_family.strip().casefold()):
        flags.append("same_surname")
    hour = local(entry.at).hour
    if hour >= NIGHT_START or hour < NIGHT_END:
        flags.append("night")
    return flags


def _local_day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=STOCKHOLM)


def _patient_by_number(db: Session, value: str, field_name: str) -> Patient | None:
    try:
        number = parse(value).number
    except InvalidPersonnummer as exc:
        raise Invalid(str(exc), field=field_name) from None
    return db.scalar(select(Patient).where(Patient.personnummer == number))


def own_entries(subject: Subject):
    """The entries a reviewer follows up: those of their own organisation's users (the page
    and FHIR's AuditEvent alike; the caller has checked Action.LOG_REVIEW)."""
    return select(AuditEntry).where(AuditEntry.organisation_id == subject.organisation_id)


def _filtered(db: Session, subject: Subject, f: LogFilter):
    """The organisation's entries the filter asks for, newest first (None: the personnummer
    names nobody)."""
    stmt = own_entries(subject)
    if f.personnummer:
        patient = _patient_by_number(db, f.personnummer, "personnummer")
        if patient is None:
            return None
        stmt = stmt.where(AuditEntry.patient_id == patient.id)
    if f.username:
        stmt = stmt.where(AuditEntry.username == f.username.strip().lower())
    if f.unit_id:
        stmt = stmt.where(AuditEntry.unit_id == f.unit_id)
    if not f.include_reviews:
        stmt = stmt.where(AuditEntry.action.not_like("log.%"))
    if f.date_from:
        stmt = stmt.where(AuditEntry.at >= _local_day_start(f.date_from))
    if f.date_to:
        stmt = stmt.where(AuditEntry.at < _local_day_start(f.date_to + timedelta(days=1)))
    return stmt.order_by(AuditEntry.id.desc())


def _matching(db: Session, stmt, f: LogFilter, batch: int = 1000) -> Iterator[EntryView]:
    """The filtered entries as views, newest first, read in batches as far as the caller
    goes (`flagged_only` is decided per entry, so it may read far)."""
    offset = 0
    while True:
        chunk = list(db.scalars(stmt.offset(offset).limit(batch)))
        if not chunk:
            return
        offset += batch
        for view in _views(db, chunk):
            if not f.flagged_only or view.flags:
                yield view


def _shown(db: Session, views: list[EntryView]) -> None:
    """Showing entries in the log review is itself an access to those patients."""
    _attach_reviews(db, views)
    for pid in {v.entry.patient_id for v in views if v.entry.patient_id}:
        audit.record(db, pid, "log.review", basis="role")


def search(db: Session, subject: Subject, f: LogFilter) -> tuple[list[EntryView], bool]:
    """One page of entries, one by one (the API)."""
    require(db, subject, Action.LOG_REVIEW)
    stmt = _filtered(db, subject, f)
    if stmt is None:
        return [], False
    skip = (f.page - 1) * PAGE_SIZE
    views = list(islice(_matching(db, stmt, f), skip + PAGE_SIZE + 1))
    page = views[skip:skip + PAGE_SIZE]
    _shown(db, page)
    return page, len(views) > skip + PAGE_SIZE


@dataclass
class PatientLine:
    """One patient in a group, with each of its entries' flags (nothing is summed away)."""

    patient_id: object
    name: str | None
    personnummer: str | None
    entries: list[EntryView] = field(default_factory=list)

    @property
    def flags(self) -> list[str]:
        return list(dict.fromkeys(f for v in self.entries for f in v.flags))


@dataclass
class EntryGroup:
    """What one user did, the same way, within one minute (Swedish time): a list shown
    again and again is one row of the review, with every patient it showed. A single
    access is a group of one."""

    entries: list[EntryView]  # newest first

    @property
    def first(self) -> EntryView:
        return self.entries[0]

    @property
    def ids(self) -> str:
        return ",".join(str(v.entry.id) for v in self.entries)

    @property
    def flags(self) -> list[str]:
        return list(dict.fromkeys(f for v in self.entries for f in v.flags))

    @property
    def patients(self) -> list[PatientLine]:
        lines: dict[object, PatientLine] = {}
        for v in self.entries:
            if v.entry.patient_id is None:
                continue
            line = lines.setdefault(v.entry.patient_id, PatientLine(
                v.entry.patient_id, v.patient_name, v.personnummer))
            line.entries.append(v)
        return list(lines.values())

    @property
    def flagged_patients(self) -> list[PatientLine]:
        return [p for p in self.patients if p.flags]

    @property
    def bases(self) -> list[str]:
        return list(dict.fromkeys(v.entry.basis for v in self.entries))

    @property
    def reviews(self) -> list[tuple[AuditReview, str, int]]:
        """Each review outcome given to entries of the group, by whom, and to how many."""
        counted: dict[tuple, list] = {}
        for v in self.entries:
            for review, reviewer in v.reviews:
                key = (review.outcome, reviewer, review.reviewed_at, review.note)
                counted.setdefault(key, [review, reviewer, 0])[2] += 1
        return [tuple(c) for c in counted.values()]


def _group_key(view: EntryView) -> tuple:
    e = view.entry
    return (e.user_id, e.username, e.unit_id, e.action, e.outcome, e.client_addr,
            local(e.at).replace(second=0, microsecond=0))


def search_grouped(db: Session, subject: Subject, f: LogFilter
                   ) -> tuple[list[EntryGroup], bool]:
    """One page of the log review (the page): the entries grouped per user, action and
    minute, newest first, `PAGE_SIZE` groups a page."""
    require(db, subject, Action.LOG_REVIEW)
    stmt = _filtered(db, subject, f)
    if stmt is None:
        return [], False
    skip = (f.page - 1) * PAGE_SIZE
    groups: dict[tuple, EntryGroup] = {}
    for view in _matching(db, stmt, f):
        key = _group_key(view)
        if key not in groups and len(groups) > skip + PAGE_SIZE and \
                key[-1] < list(groups)[skip + PAGE_SIZE][-1]:
            # Entries come newest first: every group of a later minute is complete.
            break
        groups.setdefault(key, EntryGroup([])).entries.append(view)
    ordered = list(groups.values())
    page = ordered[skip:skip + PAGE_SIZE]
    _shown(db, [v for g in page for v in g.entries])
    return page, len(ordered) > skip + PAGE_SIZE


def _views(db: Session, entries: list[AuditEntry]) -> list[EntryView]:
    staff_ids = {e.user_id for e in entries if e.user_id}
    patient_ids = {e.patient_id for e in entries if e.patient_id}
    unit_ids = {e.unit_id for e in entries if e.unit_id}
    staff = {s.id: s for s in db.scalars(select(Staff).where(Staff.id.in_(staff_ids)))} \
        if staff_ids else {}
    patients = {p.id: p for p in db.scalars(select(Patient).where(Patient.id.in_(patient_ids)))} \
        if patient_ids else {}
    units = dict(db.execute(select(Unit.id, Unit.name).where(Unit.id.in_(unit_ids))).all()) \
        if unit_ids else {}
    views = []
    for e in entries:
        s = staff.get(e.user_id)
        p = patients.get(e.patient_id)
        views.append(EntryView(
            entry=e,
            staff_name=s.full_name if s else e.username,
            unit_name=units.get(e.unit_id),
            patient_name=p.full_name if p else None,
            personnummer=p.personnummer if p else None,
            flags=flags_for(e, s.family_name if s else None, p.family_name if p else None),
        ))
    return views


def _attach_reviews(db: Session, views: list[EntryView]) -> None:
    ids = [v.entry.id for v in views]
    if not ids:
        return
    by_entry: dict[int, list] = {}
    for start in range(0, len(ids), 1000):
        for review, given, family in db.execute(
            select(AuditReview, Staff.given_name, Staff.family_name)
            .join(Staff, Staff.id == AuditReview.reviewer_id)
            .where(AuditReview.entry_id.in_(ids[start:start + 1000]))
            .order_by(AuditReview.id)
        ):
            by_entry.setdefault(review.entry_id, []).append((review, f"{given} {family}"))
    for v in views:
        v.reviews = by_entry.get(v.entry.id, [])


def record_review(db: Session, subject: Subject, data: ReviewCreate) -> int:
    """Who reviewed which entries, when, with what outcome. Reviews are chained like the log."""
    require(db, subject, Action.LOG_REVIEW)
    ids = set(data.entry_ids)
    found = set(db.scalars(select(AuditEntry.id).where(
        AuditEntry.id.in_(ids), AuditEntry.organisation_id == subject.organisation_id)))
    if found != ids:
        raise Invalid("Unknown log entry", field="entry_ids")
    now = utcnow()
    audit.append_reviews(db, subject.organisation_id, [
        {"entry_id": entry_id, "reviewer_id": subject.staff_id, "reviewed_at": now,
         "outcome": data.outcome, "note": data.note} for entry_id in sorted(ids)])
    audit.record(db, None, "log.review.record", basis="role",
                 detail=f"{len(ids)} entries: {data.outcome}")
    return len(ids)


@dataclass
class ExtractUnit:
    unit_name: str
    organisation_name: str
    accesses: list[datetime]
    emergency_count: int

    @property
    def days(self) -> list[tuple[date, int, datetime, datetime]]:
        """The accesses by local day, newest first: (day, how many, first, last) — one line
        a day, not one per page opened."""
        by_day: dict[date, list[datetime]] = {}
        for at in self.accesses:
            by_day.setdefault(local(at).date(), []).append(at)
        return [(day, len(times), min(times), max(times))
                for day, times in sorted(by_day.items(), reverse=True)]


def patient_extract(db: Session, subject: Subject, personnummer: str) -> tuple[Patient, list[ExtractUnit]]:
    """Which of the organisation's units accessed the patient's information, and when (the
    patient's right to a log extract, PDL 8 kap 2 §)."""
    require(db, subject, Action.LOG_REVIEW)
    patient = _patient_by_number(db, personnummer, "personnummer")
    if patient is None:
        raise NotFound()
    rows = db.execute(
        select(AuditEntry.at, AuditEntry.emergency, Unit.name, Organisation.name)
        .join(Unit, Unit.id == AuditEntry.unit_id)
        .join(Organisation, Organisation.id == Unit.organisation_id)
        .where(AuditEntry.patient_id == patient.id,
               AuditEntry.organisation_id == subject.organisation_id,
               AuditEntry.outcome == "allowed")
        .order_by(AuditEntry.at.desc())
    ).all()
    if not rows:
        raise NotFound()
    grouped: dict[str, ExtractUnit] = {}
    for at, emergency, unit_name, org_name in rows:
        item = grouped.setdefault(unit_name, ExtractUnit(unit_name, org_name, [], 0))
        item.accesses.append(at)
        item.emergency_count += int(bool(emergency))
    audit.record(db, patient.id, "log.extract", basis="role")
    return patient, sorted(grouped.values(), key=lambda u: u.accesses[0], reverse=True)

