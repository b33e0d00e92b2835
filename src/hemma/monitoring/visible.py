"""Values and NEWS2 as one reader may see them.

A NEWS2 combines the latest value of each parameter within an hour, whoever measured it: the
region's pulse and the municipality's temperature make one score. A reader who may not see
one of those values (another organisation's without the patient's consent, a blocked unit's)
must not be shown that score either: it would reveal the hidden value. Such a reader is
shown what their own visible values give, marked partial. Every list of values, chart,
worklist and answer to a submission reads through here."""

from __future__ import annotations

import bisect
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from hemma.access.policy import Decision
from hemma.access.service import origin
from hemma.config import get_settings
from hemma.models import Observation, Patient
from hemma.monitoring import service
from hemma.monitoring.news2 import BANDS


class Shown:
    """An observation as one reader sees it: its own values, and its NEWS2 — the stored one,
    or one recomputed from the reader's visible values (`news2_hidden`: some values in the
    window were left out)."""

    __slots__ = ("_row", "news2_total", "news2_band", "news2_partial", "news2_hidden")

    def __init__(self, row, news2=None):
        self._row = row
        if news2 is None:
            self.news2_total, self.news2_band = row.news2_total, row.news2_band
            self.news2_partial, self.news2_hidden = row.news2_partial, False
        else:
            self.news2_total, self.news2_band = news2.total, news2.band
            self.news2_partial, self.news2_hidden = True, True

    def __getattr__(self, name):
        return getattr(self._row, name)


@dataclass
class Visible:
    observations: list[Shown]  # oldest first
    hidden: int  # values in the period the reader may not see


def _window() -> timedelta:
    return timedelta(minutes=get_settings().news2_window_minutes)


def sees_everything(decision: Decision) -> bool:
    """Whether nothing of this patient is hidden from the reader: no other unit's block, and
    every other organisation's information open (consent, or an emergency)."""
    facts, subject = decision.facts, decision.subject
    if not decision or facts is None:
        return False
    if facts.blocked_units - {subject.unit_id}:
        return False
    return subject.organisation_id in facts.consent_organisations or facts.emergency


def _spo2_scale(db: Session, patient_id: uuid.UUID) -> int:
    plan = service.plan_for(db, service.active_episode(db, patient_id))
    return plan.spo2_scale if plan else 1


def _as_seen(db: Session, decision: Decision, rows: list, since: datetime) -> Visible:
    """`rows`: the patient's values from `since` minus the NEWS2 window, oldest first."""
    window = _window()
    visible, hidden = [], []
    for o in rows:
        (visible if decision.sees(origin(db, o.documented_by_unit_id)) else hidden).append(o)
    hidden_times = [o.measured_at for o in hidden]
    scale = None
    out: list[Shown] = []
    for o in visible:
        if o.measured_at < since:
            continue
        first = bisect.bisect_left(hidden_times, o.measured_at - window)
        if first == len(hidden_times) or hidden_times[first] > o.measured_at:
            out.append(Shown(o))  # nothing hidden in its window: the stored score is theirs
            continue
        if scale is None:
            scale = _spo2_scale(db, o.patient_id)
        own, _units = service.combine(visible, o.measured_at, window, scale)
        if (own.total, own.band, own.partial) == (o.news2_total, o.news2_band, o.news2_partial):
            out.append(Shown(o))  # the hidden values changed nothing
        else:
            out.append(Shown(o, own))
    return Visible(out, sum(1 for o in hidden if o.measured_at >= since))


def observations(db: Session, decision: Decision, patient_id: uuid.UUID, since: datetime,
                 until: datetime | None = None) -> Visible:
    """The patient's values from `since` that the reader may see (their own organisation's,
    and others' with consent, unless blocked), oldest first, each with the NEWS2 the reader
    may be shown; and how many values were left out."""
    rows = service.observations(db, patient_id, since - _window(), until)
    return _as_seen(db, decision, rows, since)


def answer(db: Session, decision: Decision, observation, units: frozenset[int] | None):
    """A just-recorded (or resent) observation as its sender may see it. `units`: those whose
    values its NEWS2 combined, when known (a fresh recording knows them; then the common case
    costs nothing)."""
    if units is not None and all(decision.sees(origin(db, u)) for u in units):
        return observation
    if sees_everything(decision):
        return observation
    at = observation.measured_at
    rows = service.observations(db, observation.patient_id, at - _window(), at)
    for shown in _as_seen(db, decision, rows, at).observations:
        if shown.id == observation.id:
            return shown
    return observation  # not visible to the sender at all: cannot happen for their own unit


# The NEWS2 bands, least worrying first (a band the reader should not miss ranks higher).
_BANDS = (None, *BANDS)


def _pick(newest, complete):
    """What a list shows as a patient's latest NEWS2: the newest complete score, unless a
    newer incomplete one is worse. A temperature sent alone scores 1 at most: shown as the
    latest, it would look as if a patient with a NEWS2 of 5 had got better."""
    if complete is None or newest is None:
        return newest or complete
    if newest.id != getattr(complete, "id", None) and \
            _BANDS.index(newest.news2_band) > _BANDS.index(complete.news2_band):
        return newest
    return complete


def latest(db: Session, decisions: dict[uuid.UUID, Decision], since: datetime
           ) -> dict[uuid.UUID, Shown]:
    """Each patient's latest NEWS2 the reader may see since `since` (see `_pick`), as the
    reader may see it (worklists, the home-ward list, the urgent window). Two index probes
    per patient whose information is all open to the reader; the rest read their values of
    the period."""
    open_ = [pid for pid, d in decisions.items() if d and sees_everything(d)]
    out: dict[uuid.UUID, Shown] = {}
    if open_:
        newest_first = (Observation.measured_at.desc(), Observation.received_at.desc())
        newest = (select(Observation.id).where(Observation.patient_id == Patient.id,
                                               Observation.measured_at >= since)
                  .order_by(*newest_first).limit(1).correlate(Patient).scalar_subquery())
        complete = (select(Observation.id).where(Observation.patient_id == Patient.id,
                                                 Observation.measured_at >= since,
                                                 Observation.news2_partial.is_(False))
                    .order_by(*newest_first).limit(1).correlate(Patient).scalar_subquery())
        pairs = db.execute(select(Patient.id, newest, complete)
                           .where(Patient.id.in_(open_))).all()
        ids = {i for _pid, a, b in pairs for i in (a, b) if i is not None}
        rows = {o.id: o for o in db.scalars(select(Observation).where(Observation.id.in_(ids)))
                } if ids else {}
        for pid, a, b in pairs:
            chosen = _pick(rows.get(a), rows.get(b))
            if chosen is not None:
                out[pid] = Shown(chosen)
    for pid, d in decisions.items():
        if d and pid not in out and pid not in open_:
            seen = observations(db, d, pid, since).observations
            if seen:
                out[pid] = latest_of(seen)
    return out


def latest_of(seen: list) -> object | None:
    """The latest NEWS2 to show of values oldest first (see `_pick`)."""
    if not seen:
        return None
    whole = [o for o in seen if not o.news2_partial]
    return _pick(seen[-1], whole[-1] if whole else None)
