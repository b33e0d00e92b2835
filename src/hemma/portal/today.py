"""What the patient's own page shows of their day and their stay: who comes today and when
(live), the goals of the shared plan in their own words, and their values with a simple
trend. The patient's session is the access: this is their own information, and only theirs
(every query is by the session's patient id)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from hemma.kit.time import local_today
from hemma.models import CarePlan, Episode, Observation, Unit, Visit, VisitStatus
from hemma.planning.views import planned_staff


@dataclass
class Coming:
    """A visit today as the patient sees it: roughly when, who (first names) and from where."""

    visit: Visit
    start: datetime | None  # the planned time, when the day is planned
    unit: str
    who: list[str]


def coming_today(db: Session, patient_id: uuid.UUID) -> list[Coming]:
    today = local_today()
    visits = list(db.scalars(select(Visit).where(
        Visit.patient_id == patient_id, Visit.day == today,
        Visit.status != VisitStatus.CANCELLED).order_by(Visit.earliest)))
    if not visits:
        return []
    units = {u.id: u.name for u in db.scalars(select(Unit).where(
        Unit.id.in_({v.unit_id for v in visits})))}
    planned = planned_staff(db, visits)
    starts = {vid: min(at for _, at in who) for vid, who in planned.items() if who}
    who = {vid: [st.given_name for st, _ in people] for vid, people in planned.items()}
    out = [Coming(v, starts.get(v.id), units[v.unit_id], who.get(v.id, [])) for v in visits]
    out.sort(key=lambda c: c.start or c.visit.earliest)
    return out


def goals(db: Session, episode: Episode | None) -> str | None:
    """The goals of the shared plan, as the patient said them."""
    if episode is None:
        return None
    return db.scalar(select(CarePlan.goals).where(CarePlan.episode_id == episode.id))


# The values a patient follows at home, with the words for them on the page.
TREND_FIELDS = ("temperature", "pulse", "spo2", "respiration_rate", "systolic_bp", "weight")


@dataclass
class Trend:
    field: str
    latest: float
    at: datetime
    previous: float | None
    points: list[float]

    @property
    def direction(self) -> str:
        """up / down / same, against the value before (a tenth of a degree or a beat is the
        same)."""
        if self.previous is None:
            return "same"
        step = 0.2 if self.field in ("temperature", "weight") else 2
        if self.latest - self.previous >= step:
            return "up"
        if self.previous - self.latest >= step:
            return "down"
        return "same"


def trends(db: Session, patient_id: uuid.UUID, now: datetime, days: int = 7) -> list[Trend]:
    """The patient's own values of the last week (what they or their devices sent), per
    measure: the latest, the one before, and the points for a small chart."""
    rows = list(db.scalars(select(Observation).where(
        Observation.patient_id == patient_id, Observation.performer != "staff",
        Observation.measured_at >= now - timedelta(days=days))
        .order_by(Observation.measured_at)))
    out = []
    for name in TREND_FIELDS:
        series = [(o.measured_at, getattr(o, name)) for o in rows if getattr(o, name) is not None]
        if not series:
            continue
        points = [float(v) for _, v in series]
        out.append(Trend(name, points[-1], series[-1][0],
                         points[-2] if len(points) > 1 else None, points[-14:]))
    return out


def sparkline(points: list[float], width: int = 120, height: int = 28) -> str:
    """An SVG polyline's points for a small chart (no axis: the numbers are beside it)."""
    if len(points) < 2:
        return ""
    lo, hi = min(points), max(points)
    span = (hi - lo) or 1.0
    step = width / (len(points) - 1)
    return " ".join(f"{i * step:.1f},{height - 2 - (p - lo) / span * (height - 4):.1f}"
                    for i, p in enumerate(points))
