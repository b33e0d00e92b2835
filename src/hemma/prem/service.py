"""The patient's experience of the stay (PREM): who is asked, the named actions that record
the answers (the patient on their own page, staff from paper), and one episode's answers as
the care team reads them.

The response is part of the home ward's record: documented by the episode's responsible
unit, entered only by that organisation, read by others of the care team with the
patient's consent, like the rest of the episode. Outside the care team the answers are only
ever counted (`questionnaire.distribution`), never shown one patient at a time.

Who is asked: the patient of a discharged episode that did not end in a death at home; not a
patient who went back to hospital or was never admitted (they did not have the stay the
questions ask about), and never a relative (the questions are the patient's own)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hemma.access import audit
from hemma.access.policy import Action, Decision, Subject
from hemma.access.service import origin, require
from hemma.config import get_settings
from hemma.i18n.labels import DEATH_OUTCOMES
from hemma.kit.errors import Conflict, FieldError, Forbidden, Invalid, NotFound
from hemma.kit.text import N_
from hemma.kit.time import at_local, local_date, local_today, utcnow
from hemma.kit.validation import parse
from hemma.models import Episode, EpisodeState, PremResponse, Staff
from hemma.monitoring.service import active_episode
from hemma.patients.service import episode_of
from hemma.prem import questionnaire
from hemma.prem.schemas import PremPaper

ALREADY = N_("The questionnaire about this stay has already been answered")


class PatientOnOwnPage(Protocol):
    """The patient (or a relative) logged in on the patient's own page (web.deps.PatientSelf)."""

    patient_id: uuid.UUID
    relative_id: uuid.UUID | None


# --- Who is asked ------------------------------------------------------------------------


def asks_about(episode: Episode) -> bool:
    """Is this episode's patient asked about the stay? Only after a discharge, and not when
    the stay ended in a death at home (no one to ask; the relatives are not asked in the
    patient's name)."""
    return episode.state == EpisodeState.DISCHARGED and episode.end_reason not in DEATH_OUTCOMES


def asking_window() -> timedelta:
    """How long after discharge the patient's own page asks: as long as it says "Du är
    utskriven" (summaries.patient_discharge), the time the team still follows up."""
    return timedelta(days=max(get_settings().care_relation_grace_days, 30))


def asked_episode(db: Session, patient_id: uuid.UUID, now: datetime | None = None
                  ) -> Episode | None:
    """The stay the patient's own page asks about: the newest ended episode, when it was a
    discharge (not a death) within the window, and the patient has no ongoing episode (the
    page is then about that one). Answered or not."""
    now = now or utcnow()
    if active_episode(db, patient_id) is not None:
        return None
    newest = db.scalar(select(Episode).where(Episode.patient_id == patient_id,
                                             Episode.ended_at.is_not(None))
                       .order_by(Episode.ended_at.desc()).limit(1))
    if newest is None or not asks_about(newest) or newest.ended_at < now - asking_window():
        return None
    return newest


def response_of(db: Session, episode_id: uuid.UUID) -> PremResponse | None:
    return db.scalar(select(PremResponse).where(PremResponse.episode_id == episode_id))


@dataclass
class PatientCard:
    """What the patient's own page says about the questionnaire."""

    episode: Episode
    answered: bool


def patient_card(db: Session, patient_id: uuid.UUID) -> PatientCard | None:
    """The card on the patient's page after discharge: a question, or thanks once answered.
    The patient's session is the access: only ever the session's patient."""
    episode = asked_episode(db, patient_id)
    if episode is None:
        return None
    return PatientCard(episode, response_of(db, episode.id) is not None)


# --- The named actions -------------------------------------------------------------------


def _insert(db: Session, row: PremResponse) -> PremResponse:
    """One response per episode, held by the database: of two submits at once, the second
    waits for the first and is refused, nothing written."""
    try:
        with db.begin_nested():
            # Added inside the savepoint: refused, the row leaves the session with it.
            db.add(row)
            db.flush()
    except IntegrityError:
        raise Conflict(ALREADY, field="episode_id") from None
    return row


def answer(db: Session, me: PatientOnOwnPage, answers: Mapping[str, Any] | None,
           comment: str | None = None) -> PremResponse:
    """The patient answers on their own page, about the stay the page asks about."""
    if me.relative_id is not None:
        # The questions are the patient's own: a relative's code does not answer them.
        raise Forbidden(N_("Only the patient answers these questions"))
    episode = asked_episode(db, me.patient_id)
    if episode is None:
        raise Conflict(N_("There is no stay to answer questions about just now"),
                       field="episode_id")
    if response_of(db, episode.id) is not None:
        raise Conflict(ALREADY, field="episode_id")
    clean, text = questionnaire.validate(answers, comment)
    row = _insert(db, PremResponse(
        episode_id=episode.id, patient_id=me.patient_id, unit_id=episode.responsible_unit_id,
        questionnaire=questionnaire.VERSION, answers=clean, comment=text, channel="phone",
        answered_at=utcnow(), entered_by_id=None))
    audit.record(db, me.patient_id, "prem.answer", basis="self",
                 detail=f"episode {episode.id}")
    return row


def _paper_day(day: date | None, episode: Episode) -> list[FieldError]:
    if day is None:
        return [FieldError("answered_on", N_("This field is required"))]
    if day > local_today():
        return [FieldError("answered_on", N_("The date cannot be in the future"))]
    admitted = local_date(episode.admitted_at or episode.assessed_at)
    if day < admitted:
        return [FieldError("answered_on", N_("The date cannot be before the admission (%(day)s)"),
                           {"day": admitted.isoformat()})]
    return []


def _paper_moment(day: date, episode: Episode) -> datetime:
    """Paper gives a day, not a time: noon that day in Swedish time, kept within the stay's
    start and now (a form filled in this morning is not answered in the afternoon)."""
    start = episode.admitted_at or episode.assessed_at
    return min(max(at_local(day, "12:00"), start), utcnow())


def enter_paper(db: Session, subject: Subject, patient_id: uuid.UUID, episode_id: uuid.UUID,
                data: PremPaper | Mapping[str, Any]) -> PremResponse:
    """Staff type in the questionnaire the patient filled in on paper. Typing in what the
    patient wrote is work for anyone of the care team (like a task), not a clinical
    judgement; it is the home ward's record, so only its own organisation enters it. Decided
    before the input is read: a user who may not enter it learns nothing from validation."""
    episode = episode_of(db, patient_id, episode_id)
    require(db, subject, Action.COORDINATE, patient_id,
            on=origin(db, episode.responsible_unit_id), audit_action="prem.enter_paper")
    if not asks_about(episode):
        raise Conflict(N_("The questionnaire is only for patients discharged home from the "
                          "home ward"), field="episode_id")
    if response_of(db, episode.id) is not None:
        raise Conflict(ALREADY, field="episode_id")
    raw = data.model_dump() if isinstance(data, PremPaper) else dict(data)
    errors: list[FieldError] = []
    try:
        paper = parse(PremPaper, raw)
    except Invalid as exc:
        errors.extend(exc.errors)
        paper = None
    try:
        clean, text = questionnaire.validate(raw.get("answers"), raw.get("comment")
                                             if paper is None else paper.comment)
    except Invalid as exc:
        errors.extend(exc.errors)
    if paper is not None:
        errors.extend(_paper_day(paper.answered_on, episode))
    if errors:
        named: dict[str, FieldError] = {}
        for e in errors:  # one message per field: the schema's and the questionnaire's
            named.setdefault(e.field, e)
        raise Invalid(errors=list(named.values()))
    row = _insert(db, PremResponse(
        episode_id=episode.id, patient_id=patient_id, unit_id=episode.responsible_unit_id,
        questionnaire=questionnaire.VERSION, answers=clean, comment=text, channel="paper",
        answered_at=_paper_moment(paper.answered_on, episode), entered_by_id=subject.staff_id))
    audit.record(db, patient_id, "prem.enter_paper", detail=f"episode {episode.id}")
    return row


# --- Reading -------------------------------------------------------------------------------


@dataclass
class PremView:
    """One episode's questionnaire as the reader may see it."""

    episode: Episode
    asked: bool  # the patient of this episode is asked at all
    response: PremResponse | None
    entered_by: str | None
    may_enter: bool  # the reader may type in a paper questionnaire now

    @property
    def rows(self) -> list[tuple[questionnaire.Question, int | None]]:
        """Each question of the response's version with its answer (None: left out)."""
        answers = self.response.answers if self.response else {}
        return [(q, answers.get(q.key)) for q in questionnaire.QUESTIONS]


def view(db: Session, decision: Decision, patient_id: uuid.UUID, episode_id: uuid.UUID
         ) -> PremView:
    """The episode's questionnaire for the care team: the answers only for a reader who may
    read the episode (404 otherwise, as for the episode itself)."""
    episode = episode_of(db, patient_id, episode_id)
    home = origin(db, episode.responsible_unit_id)
    if not decision.sees(home):
        raise NotFound()
    row = response_of(db, episode.id)
    if row is not None and not decision.sees(origin(db, row.unit_id)):
        raise NotFound()
    subject = decision.subject
    entered_by = None
    if row is not None and row.entered_by_id is not None:
        entered_by = db.get(Staff, row.entered_by_id).full_name
    asked = asks_about(episode)
    may_enter = (asked and row is None and decision.basis != "emergency"
                 and subject.role_allows(Action.COORDINATE) and decision.may_change(home))
    return PremView(episode, asked, row, entered_by, may_enter)


def section(db: Session, decision: Decision, patient_id: uuid.UUID, episode_id: uuid.UUID
            ) -> PremView | None:
    """The discharge summary page's section: None when the patient of this episode is not
    asked and nothing was answered (a return to hospital, a death at home)."""
    found = view(db, decision, patient_id, episode_id)
    return found if found.asked or found.response is not None else None
