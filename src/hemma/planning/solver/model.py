"""The home-care visit planning problem as plain values: what the planner is given.

Times are whole minutes from the start of the planning day (the caller maps them to clock
time), locations are indices into the travel matrices. Nothing here reads a database or
a clock."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Part:
    """What one staff member does at a visit: how long, and with which skills."""

    duration: int
    skills: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Visit:
    id: str
    patient: str
    location: int
    earliest: int  # service may start from here
    latest: int  # ... until here (the latest start)
    parts: tuple[Part, ...]  # one per staff member: one, or two for a double-staffed visit
    # Two staff: "simultaneous" (both start together, e.g. a lift with two), or "sequential"
    # (the second part starts gap[0]..gap[1] minutes after the first, e.g. a nurse prepares,
    # a physiotherapist follows).
    sync: str = "none"
    gap: tuple[int, int] = (0, 0)
    hard: bool = True  # never start after `latest` (IV antibiotics at 08/14/20 ± 30)
    lateness_cost: float = 1.0  # per minute late, for a soft window
    priority: int = 1  # when not all fits, higher stays in (3: must be done today)
    pinned: tuple[str | None, ...] = ()  # per part: the shift it stays on (started, locked)


@dataclass(frozen=True)
class Break:
    earliest: int  # may start from
    latest: int  # must start by
    duration: int


@dataclass(frozen=True)
class Shift:
    id: str
    staff: str
    start: int
    end: int
    start_location: int  # the office, or home
    end_location: int
    skills: frozenset[str] = frozenset()
    breaks: tuple[Break, ...] = ()
    profile: int = 0  # which travel matrix: a speed profile (car, on foot in town, ...)


@dataclass(frozen=True)
class Weights:
    """What a plan costs. Distance and lateness as the literature counts them; continuity is
    the home-care term generic solvers lack (a patient meeting a new face)."""

    distance: float = 1.0
    lateness: float = 1.0  # times each visit's lateness_cost, per minute
    max_lateness: float = 0.0  # per minute of the latest part (Mankowska's objective has it)
    new_staff: float = 0.0  # per part done by someone the patient has not met lately
    # Re-planning: per part given to another shift than in the plan being re-planned (staff
    # have read their routes; an urgent visit should not reshuffle the whole day).
    moved: float = 0.0
    unplanned: float = 100_000.0  # per priority level of a visit left out


@dataclass(frozen=True)
class Problem:
    visits: tuple[Visit, ...]
    shifts: tuple[Shift, ...]
    travel: tuple[tuple[tuple[float, ...], ...], ...]  # per profile: minutes from → to
    distance: tuple[tuple[float, ...], ...]  # from → to, for the cost
    met: Mapping[str, frozenset[str]] = field(default_factory=dict)  # patient → staff
    weights: Weights = Weights()
    # (visit id, part) → the shift id it had in the plan being re-planned (Weights.moved).
    before: Mapping[tuple[str, int], str] = field(default_factory=dict)

    def can_do(self, shift: Shift, visit: Visit, part: int) -> bool:
        pinned = visit.pinned[part] if part < len(visit.pinned) else None
        return visit.parts[part].skills <= shift.skills and pinned in (None, shift.id)
