"""The agreement with the patient (överenskommelse): what the patient and their relatives do,
what the team does and when, what to do if worse and whom to call, day and night, for how
long and until what.

It is written from the pathway's template and edited for this patient. Each change is a new
version that keeps what it was given (the phone numbers of that day); earlier versions stay
readable. The patient confirms a version (on their own page, or on paper recorded by
staff); a new version needs a new confirmation, because it is a new promise.

The agreement is part of the home ward's record: documented by the episode's responsible
unit, changed only by that organisation, read by others with the patient's consent."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hemma.access import audit
from hemma.access.policy import Action, Decision, Origin, Subject
from hemma.access.service import origin, require
from hemma.agreements.schemas import AgreementContent, AgreementSave, PaperConfirmation
from hemma.i18n import gettext as _
from hemma.i18n.labels import (
    AGREEMENT_PARTS,
    AGREEMENT_PHONES,
    CONFIRMED_HOW,
    IF_WORSE_ACTIONS,
    label,
)
from hemma.kit.errors import Conflict, Invalid, NotFound
from hemma.kit.time import format_local, local, utcnow
from hemma.kit.validation import parse
from hemma.models import ACTIVE_STATES, Episode, Pathway, Patient, Staff, Unit
from hemma.models.careplans import Agreement
from hemma.models.monitoring import DutyShift
from hemma.monitoring import service as monitoring
from hemma.patients.service import episode_of

# The roster is read this far ahead: the numbers must hold through the coming night.
ROSTER_AHEAD = timedelta(hours=24)
# A shift that starts between these Swedish wall-clock hours is a day shift; others are
# evening and night shifts, when the patient is given the night number.
DAY_STARTS, DAY_ENDS = time(6, 0), time(18, 0)
# The parts of the content a person writes; the rest is added when a version is saved.
WRITTEN = ("patient_tasks", "team_tasks", "if_worse", "planned_days", "end_criteria")
PARTS = ("patient_tasks", "measure_times", "team_tasks", "if_worse", "phones",
         "planned_days", "end_criteria")


class PatientOnOwnPage(Protocol):
    """The patient logged in on their own page (web.deps.PatientSelf)."""

    patient_id: uuid.UUID


# --- Reading ----------------------------------------------------------------------------



def _home(db: Session, episode: Episode) -> Origin:
    return origin(db, episode.responsible_unit_id)


def versions(db: Session, episode_id: uuid.UUID) -> list[Agreement]:
    return list(db.scalars(select(Agreement).where(Agreement.episode_id == episode_id)
                           .order_by(Agreement.version)))


def latest(db: Session, episode_id: uuid.UUID) -> Agreement | None:
    return db.scalar(select(Agreement).where(Agreement.episode_id == episode_id)
                     .order_by(Agreement.version.desc()).limit(1))


@dataclass
class AgreementView:
    patient: Patient
    episode: Episode
    pathway: Pathway
    unit: Unit
    versions: list[Agreement]
    may_change: bool
    # What the edit form starts from: the current version's text, or the pathway's template.
    draft: dict = field(default_factory=dict)
    authors: dict[int, str] = field(default_factory=dict)

    @property
    def current(self) -> Agreement | None:
        return self.versions[-1] if self.versions else None

    def version(self, number: int) -> Agreement:
        for row in self.versions:
            if row.version == number:
                return row
        raise NotFound()

    def previous(self, number: int) -> Agreement | None:
        return next((r for r in self.versions if r.version == number - 1), None)


def agreement_view(db: Session, decision: Decision, patient_id: uuid.UUID,
                   episode_id: uuid.UUID) -> AgreementView:
    """The episode's agreement as `decision`'s user may see it: all of it, or nothing (it is
    the home ward's record, and follows its visibility)."""
    episode = episode_of(db, patient_id, episode_id)
    home = _home(db, episode)
    require(db, decision.subject, Action.READ, patient_id, on=home)
    rows = versions(db, episode_id)
    pathway = db.get(Pathway, episode.pathway_id)
    subject = decision.subject
    may_change = (episode.state in ACTIVE_STATES and decision.basis != "emergency"
                  and subject.role_allows(Action.EPISODE) and decision.may_change(home))
    people = {r.created_by_id for r in rows} | {r.confirmed_by_id for r in rows
                                                  if r.confirmed_by_id is not None}
    authors = {s.id: s.full_name for s in db.scalars(select(Staff).where(Staff.id.in_(people)))
               } if people else {}
    draft = written(rows[-1].content) if rows else from_template(pathway)
    return AgreementView(patient=db.get(Patient, patient_id), episode=episode, pathway=pathway,
                         unit=db.get(Unit, episode.responsible_unit_id), versions=rows,
                         may_change=may_change, draft=draft, authors=authors)


def written(content: Mapping[str, Any]) -> dict:
    """The parts of a version a person wrote (what the edit form shows)."""
    return {k: content[k] for k in WRITTEN if k in content}


def from_template(pathway: Pathway) -> dict:
    """The pathway's template as a first text: what this kind of patient usually does."""
    t = pathway.agreement_template or {}
    return {
        "patient_tasks": list(t.get("patient_tasks") or []),
        "team_tasks": list(t.get("team_tasks") or []),
        "if_worse": [dict(line) for line in t.get("if_worse") or []],
        "planned_days": pathway.expected_days,
        "end_criteria": t.get("end_criteria") or "",
    }


# --- Phone numbers and times, as given on the day of the version ---------------------------


def _is_day_shift(starts_at: datetime) -> bool:
    return DAY_STARTS <= local(starts_at).time() < DAY_ENDS


def contact_numbers(db: Session, episode: Episode, now: datetime | None = None) -> dict:
    """The numbers the patient calls, day and night: the responsible unit's nurse on duty
    (day and night shifts over the next day), at night else the physician on call; when the
    roster names no one with a phone, the number the monitoring plan gives the patient, then
    the unit's own."""
    now = now or utcnow()
    rows = db.execute(
        select(DutyShift.role, DutyShift.starts_at, Staff.phone)
        .join(Staff, Staff.id == DutyShift.staff_id)
        .where(DutyShift.unit_id == episode.responsible_unit_id,
               DutyShift.starts_at < now + ROSTER_AHEAD, DutyShift.ends_at > now,
               Staff.phone.is_not(None), Staff.phone != "")
        .order_by(DutyShift.starts_at)).all()
    day = next((p for role, start, p in rows if role == "nurse" and _is_day_shift(start)), None)
    night = next((p for role, start, p in rows
                  if role == "nurse" and not _is_day_shift(start)), None) or next(
        (p for role, _start, p in rows if role == "physician_on_call"), None)
    plan = monitoring.plan_for(db, episode)
    fallback = (plan.contact_phone if plan and plan.contact_phone else None) or db.get(
        Unit, episode.responsible_unit_id).phone
    return {"day": day or fallback, "night": night or fallback}


def measure_times(db: Session, episode: Episode, pathway: Pathway) -> list[str]:
    """When the patient measures: the patient's own monitoring plan, else the pathway's."""
    plan = monitoring.plan_for(db, episode)
    if plan is not None and plan.schedule is not None:
        return list(plan.schedule)
    return list(pathway.schedule or [])


# --- Changing ----------------------------------------------------------------------------


def _episode_for_change(db: Session, subject: Subject, patient_id: uuid.UUID,
                        episode_id: uuid.UUID) -> Episode:
    """The episode, locked against a concurrent version, once the user may change its
    record. Decided before any input is read: a user who may not change the agreement
    learns nothing from its validation."""
    episode = episode_of(db, patient_id, episode_id, lock=True)
    require(db, subject, Action.EPISODE, patient_id, on=_home(db, episode))
    if episode.state not in ACTIVE_STATES:
        raise Conflict("The episode has ended: its agreement can no longer change",
                       field="episode")
    return episode


def save_version(db: Session, subject: Subject, patient_id: uuid.UUID, episode_id: uuid.UUID,
                 content: AgreementContent | Mapping[str, Any], change_note: str | None,
                 *, base_version: int | None = None) -> Agreement:
    """Save a new version of the agreement (the first from the template, or any change)."""
    episode = _episode_for_change(db, subject, patient_id, episode_id)
    data = parse(AgreementSave, {"content": content if isinstance(content, Mapping)
                                 else content.model_dump(),
                                 "change_note": change_note, "base_version": base_version})
    last = latest(db, episode_id)
    number = last.version if last is not None else 0
    if data.base_version is not None and data.base_version != number:
        raise Conflict("The agreement was changed meanwhile (now version %(n)s): read it and "
                       "make your change again", field="base_version", n=number)
    if last is not None and not data.change_note:
        raise Invalid("Say what changed from the last version", field="change_note")
    pathway = db.get(Pathway, episode.pathway_id)
    stored = {
        **data.content.model_dump(),
        "measure_times": measure_times(db, episode, pathway),
        "phones": contact_numbers(db, episode),
    }
    if last is not None and last.content == stored:
        raise Invalid("Nothing has changed since version %(n)s", field="change_note",
                      n=number)
    row = Agreement(episode_id=episode_id, patient_id=patient_id, version=number + 1,
                    content=stored, change_note=data.change_note or None,
                    documented_by_unit_id=episode.responsible_unit_id, created_at=utcnow(),
                    created_by_id=subject.staff_id)
    db.add(row)
    try:
        with db.begin_nested():
            db.flush()
    except IntegrityError:
        raise Conflict("The agreement was changed meanwhile: read it and make your change "
                       "again", field="base_version", n=number + 1) from None
    audit.record(db, patient_id, "agreement.save")
    return row


def draft_from_template(db: Session, subject: Subject, patient_id: uuid.UUID,
                        episode_id: uuid.UUID) -> Agreement:
    """The first version, written from the pathway's template as it stands."""
    episode = _episode_for_change(db, subject, patient_id, episode_id)
    if latest(db, episode_id) is not None:
        raise Conflict("The agreement is already written: change it instead", field="version")
    pathway = db.get(Pathway, episode.pathway_id)
    if not pathway.agreement_template:
        raise Invalid("The pathway has no agreement template: write the agreement below",
                      field="pathway")
    return save_version(db, subject, patient_id, episode_id, from_template(pathway), None)


def _current_for_confirmation(db: Session, episode_id: uuid.UUID, version: int) -> Agreement:
    current = latest(db, episode_id)
    if current is None:
        raise NotFound()
    if version != current.version:
        # A confirmation belongs to the text that was read: an older one promises nothing
        # about the newer version.
        raise Conflict("There is a newer version (%(n)s): it needs its own confirmation",
                       field="version", n=current.version)
    return current


def confirm_on_paper(db: Session, subject: Subject, patient_id: uuid.UUID,
                     episode_id: uuid.UUID, data: PaperConfirmation | Mapping[str, Any]
                     ) -> Agreement:
    """Staff record that the patient confirmed this version on paper (signed printout)."""
    episode = _episode_for_change(db, subject, patient_id, episode_id)
    if not isinstance(data, PaperConfirmation):
        data = parse(PaperConfirmation, dict(data))
    row = _current_for_confirmation(db, episode.id, data.version)
    if row.confirmed_at is not None:
        raise Conflict("This version is already confirmed", field="version")
    row.confirmed_at = utcnow()
    row.confirmed_how = "paper"
    row.confirmed_by_id = subject.staff_id
    audit.record(db, patient_id, "agreement.confirm_paper")
    return row


def patient_agreement(db: Session, patient: PatientOnOwnPage) -> tuple[Episode, Agreement] | None:
    """The current version of the agreement of the patient's active episode, if written."""
    episode = monitoring.active_episode(db, patient.patient_id)
    if episode is None:
        return None
    row = latest(db, episode.id)
    return (episode, row) if row is not None else None


def confirm_by_patient(db: Session, patient_self: PatientOnOwnPage, version: int | str | None
                       ) -> Agreement:
    """The patient's "I have read and understand", for the version they saw. The patient's
    session is the access: they only ever act on themselves."""
    try:
        number = int(str(version))
    except ValueError:
        raise Invalid("Not a valid identifier", field="version") from None
    found = patient_agreement(db, patient_self)
    if found is None:
        raise NotFound()
    episode, _row = found
    row = _current_for_confirmation(db, episode.id, number)
    if row.confirmed_at is None:
        row.confirmed_at = utcnow()
        row.confirmed_how = "patient_page"
        row.confirmed_by_id = None
    # Pressed twice (or after a paper confirmation): the first confirmation stands.
    audit.record(db, patient_self.patient_id, "patient.agreement_confirm", basis="self")
    return row


def record_print(db: Session, patient_id: uuid.UUID) -> None:
    """A printed copy leaves the record: the access log says who took it."""
    audit.record(db, patient_id, "agreement.print")


# --- What changed, and the text as the patient reads it ---------------------------------


def _as_lines(part: str, value: Any, content: Mapping[str, Any]) -> list[str]:
    if value is None or value == "" or value == []:
        return []
    if part == "if_worse":
        return [f"{line['symptom']}: {action_text(line['action'], content)}" for line in value]
    if part == "phones":
        return [f"{label(AGREEMENT_PHONES, k)}: {v}" for k, v in value.items() if v]
    if part == "planned_days":
        return [_("%(n)s days", n=value)]
    if isinstance(value, list):
        return [str(v) for v in value]
    return [str(value)]


def changes(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> list[str]:
    """What a version changed from the one before, line by line, in words."""
    if old is None:
        return []
    out = []
    for part in PARTS:
        before = _as_lines(part, old.get(part), old)
        after = _as_lines(part, new.get(part), new)
        if before == after:
            continue
        name = label(AGREEMENT_PARTS, part)
        removed = [line for line in before if line not in after]
        added = [line for line in after if line not in before]
        if len(before) <= 1 and len(after) <= 1 and removed and added:
            out.append(_("%(part)s: %(old)s → %(new)s", part=name, old=removed[0],
                         new=added[0]))
            continue
        out += [_("%(part)s, removed: %(line)s", part=name, line=line) for line in removed]
        out += [_("%(part)s, added: %(line)s", part=name, line=line) for line in added]
        if not removed and not added:
            out.append(_("%(part)s: new order", part=name))
    return out


def number_now(content: Mapping[str, Any], now: datetime) -> str | None:
    """The number of the agreement to call at `now`: the day number by day, else the night
    number (either, if only one was given)."""
    day, night = _numbers(content)
    daytime = DAY_STARTS <= local(now).time() < DAY_ENDS
    return (day if daytime else night) or day or night


def _numbers(content: Mapping[str, Any]) -> tuple[str | None, str | None]:
    phones = content.get("phones") or {}
    return phones.get("day"), phones.get("night")


def action_text(action: str, content: Mapping[str, Any]) -> str:
    """What the patient does: "Call <number>" with the numbers of the version, "Press I feel
    worse", "Call 112"."""
    if action == "call_team":
        day, night = _numbers(content)
        if day and night and day != night:
            return _("Call %(day)s (daytime) or %(night)s (evening and night)", day=day,
                     night=night)
        if day or night:
            return _("Call %(number)s", number=day or night)
    return label(IF_WORSE_ACTIONS, action)


Section = tuple[str, list]


def sections(content: Mapping[str, Any]) -> list[Section]:
    """The agreement as the patient reads it, on the page, the printout and the PDF alike:
    headings, paragraphs and bullet lists of plain text."""
    out: list[Section] = []
    times = content.get("measure_times") or []
    doing = list(content.get("patient_tasks") or [])
    yours: list = []
    if times:
        yours.append(_("Measure and send your values at %(times)s.", times=", ".join(times)))
    if doing:
        yours.append(doing)
    if yours:
        out.append((label(AGREEMENT_PARTS, "patient_tasks"), yours))
    if content.get("team_tasks"):
        out.append((label(AGREEMENT_PARTS, "team_tasks"), [list(content["team_tasks"])]))
    worse = [f"{line['symptom']}: {action_text(line['action'], content)}"
             for line in content.get("if_worse") or []]
    if worse:
        out.append((label(AGREEMENT_PARTS, "if_worse"), [worse]))
    day, night = _numbers(content)
    phones = []
    if day:
        phones.append(_("Daytime: %(number)s", number=day))
    if night:
        phones.append(_("Evening and night: %(number)s", number=night))
    phones.append(_("Emergency: 112"))
    out.append((label(AGREEMENT_PARTS, "phones"), [phones]))
    length = []
    if content.get("planned_days"):
        length.append(_("About %(n)s days at home with the home ward.", n=content["planned_days"]))
    if content.get("end_criteria"):
        length.append(_("The care at home ends when: %(criteria)s",
                        criteria=content["end_criteria"]))
    if length:
        out.append((label(AGREEMENT_PARTS, "planned_days"), length))
    return out


def confirmation_text(row: Agreement) -> str:
    if row.confirmed_at is None:
        return _("Not confirmed by the patient yet")
    return _("Confirmed %(how)s, %(at)s", how=label(CONFIRMED_HOW, row.confirmed_how),
             at=format_local(row.confirmed_at))


def pdf_document(view: AgreementView, row: Agreement) -> bytes:
    """The agreement as a PDF to print or hand over: the page's and FHIR's one document."""
    from hemma.kit import pdf

    title, subtitle, parts, footer = pdf_parts(view, row)
    return pdf.document(title, subtitle, parts, footer=footer)


def pdf_parts(view: AgreementView, row: Agreement) -> tuple[str, str, list[Section], str]:
    """Title, subtitle, sections and footer of a printed version: the patient's name and the
    date, and nothing of the database (no ids)."""
    p = view.patient
    title = _("Agreement about your care at home")
    subtitle = _("%(name)s · %(pathway)s · %(unit)s · version %(n)s, %(date)s",
                 name=p.full_name, pathway=view.pathway.name, unit=view.unit.name, n=row.version,
                 date=format_local(row.created_at, "%Y-%m-%d"))
    footer = _("Printed %(at)s. %(confirmed)s.", at=format_local(utcnow()),
               confirmed=confirmation_text(row))
    return title, subtitle, sections(row.content), footer


@dataclass
class AgreementSummary:
    """What the patient overview shows: the version, and whether the patient confirmed it."""

    url: str
    version: int | None = None
    confirmed_at: datetime | None = None
    confirmed_how: str | None = None
    may_change: bool = False


def summary(db: Session, decision: Decision, episode: Episode) -> AgreementSummary:
    """For a visible episode (the caller decided that)."""
    row = latest(db, episode.id)
    home = _home(db, episode)
    return AgreementSummary(
        url=f"/patients/{episode.patient_id}/episodes/{episode.id}/agreement",
        version=row.version if row else None,
        confirmed_at=row.confirmed_at if row else None,
        confirmed_how=row.confirmed_how if row else None,
        may_change=decision.basis != "emergency" and decision.subject.role_allows(
            Action.EPISODE) and decision.may_change(home))
