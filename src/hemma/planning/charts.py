"""The day's routes drawn from coordinates, as SVG: no map tiles from elsewhere, nothing to
load in the browser. Each staff member's route in a colour, numbered in visiting order as in
the list beside it; the office as a square; visits left out as grey crosses. No names on the
picture: it is read beside the list, and it may be on a screen in the office."""

from __future__ import annotations

import io
import math

import matplotlib

matplotlib.use("Agg")  # no display on a server
from matplotlib.figure import Figure  # noqa: E402  (no pyplot: its global state is not thread-safe)

from hemma.models import Unit  # noqa: E402
from hemma.planning.day import has_position  # noqa: E402
from hemma.planning.views import DayPlan  # noqa: E402

# Distinguishable colours (Okabe-Ito, for colour-blind readers too), then a few more.
COLOURS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000",
           "#8C564B", "#7F7F7F", "#BCBD22"]
# The timeline's colour of each kind of visit (white text on it stays readable).
KIND_COLOURS = {"iv_antibiotic": "#b3261e", "blood_sample": "#6a3d9a", "wound_care": "#0b5f7a",
                "vital_signs": "#2e7d32", "assessment": "#a15c00", "other": "#4a5563"}
KM_PER_DEGREE_LAT = 110.57
KM_PER_DEGREE_LON_EQUATOR = 111.32


def colour(index: int) -> str:
    return COLOURS[index % len(COLOURS)]


def kind_colour(kind: str) -> str:
    return KIND_COLOURS.get(kind, KIND_COLOURS["other"])


TOWN_KM = 4.0  # the close-up: this far around the office


def routes_svg(view: DayPlan, unit: Unit | None, close_up_title: str = "") -> bytes:
    points = []
    for route in view.routes:
        points.append((route.shift.start_latitude, route.shift.start_longitude))
        points += [(s.patient.latitude, s.patient.longitude) for s in route.stops
                   if has_position(s.patient)]
    points += [(u.patient.latitude, u.patient.longitude) for u in view.unplanned
               if has_position(u.patient)]
    if not points:
        fig = Figure(figsize=(7.2, 5.4))
        ax = fig.add_subplot()
        _frame(ax)
        ax.text(0.5, 0.5, "–", transform=ax.transAxes, ha="center", va="center")
        return _svg(fig)
    lat0 = sum(p[0] for p in points) / len(points)
    lon0 = sum(p[1] for p in points) / len(points)
    kx = KM_PER_DEGREE_LON_EQUATOR * math.cos(math.radians(lat0))

    def xy(lat: float, lon: float) -> tuple[float, float]:
        return (lon - lon0) * kx, (lat - lat0) * KM_PER_DEGREE_LAT

    # Rural days reach 50 km out while most patients live in town: a second panel shows
    # the town up close.
    office = (xy(unit.latitude, unit.longitude) if unit is not None and has_position(unit)
              else None)
    near = far = 0
    if office is not None:
        for lat, lon in points:
            x, y = xy(lat, lon)
            if math.hypot(x - office[0], y - office[1]) <= TOWN_KM:
                near += 1
            else:
                far += 1
    close_up = near >= 4 and far >= 1
    fig = Figure(figsize=(11.0, 5.4) if close_up else (7.2, 5.4))
    axes = fig.subplots(1, 2, width_ratios=[1.25, 1]) if close_up else [fig.add_subplot()]
    _draw(axes[0], view, xy, unit, office, legend=True)
    if close_up:
        _draw(axes[1], view, xy, unit, office, legend=False)
        axes[1].set_aspect("equal", adjustable="box")
        axes[1].set_xlim(office[0] - TOWN_KM, office[0] + TOWN_KM)
        axes[1].set_ylim(office[1] - TOWN_KM, office[1] + TOWN_KM)
        axes[1].set_title(close_up_title, fontsize=8, loc="left")
    for ax in axes:
        _scale_bar(ax)
    return _svg(fig)


def _frame(ax) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    for side in ax.spines.values():
        side.set_color("#d5dbe3")


def _draw(ax, view: DayPlan, xy, unit, office, *, legend: bool) -> None:
    _frame(ax)
    for k, route in enumerate(view.routes):
        c = colour(k)
        home = xy(route.shift.start_latitude, route.shift.start_longitude)
        end = xy(route.shift.end_latitude, route.shift.end_longitude)
        path = [home] + [xy(s.patient.latitude, s.patient.longitude) for s in route.stops
                         if has_position(s.patient)] + [end]
        if len(path) > 2:
            xs, ys = zip(*path, strict=True)
            ax.plot(xs, ys, color=c, linewidth=1.4, alpha=0.85, zorder=2,
                    label=route.staff.full_name)
        for n, stop in enumerate(route.stops, start=1):
            if not has_position(stop.patient):
                continue  # no place on the map (a latitude alone is none)
            x, y = xy(stop.patient.latitude, stop.patient.longitude)
            ax.plot(x, y, "o", color=c, markersize=9, zorder=3, markeredgecolor="white")
            ax.annotate(str(n), (x, y), ha="center", va="center", fontsize=6, color="white",
                        zorder=4, fontweight="bold", annotation_clip=True)
        ax.plot(*home, "s", color="#222222", markersize=8, zorder=5)
    for u in view.unplanned:
        if has_position(u.patient):
            ax.plot(*xy(u.patient.latitude, u.patient.longitude), "x", color="#7f7f7f", markersize=9,
                    markeredgewidth=2, zorder=3)
    ax.set_aspect("equal", adjustable="datalim")
    if legend and ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper right", fontsize=7, frameon=True, framealpha=0.9)
    if office is not None:
        ax.annotate(unit.name, office, xytext=(6, -10), textcoords="offset points",
                    fontsize=6, color="#222222", annotation_clip=True)


def _scale_bar(ax) -> None:
    """Distances matter more than coordinates here."""
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    length = _nice((x1 - x0) / 5)
    bx, by = x0 + (x1 - x0) * 0.04, y0 + (y1 - y0) * 0.05
    ax.plot([bx, bx + length], [by, by], color="#222222", linewidth=2)
    ax.text(bx + length / 2, by + (y1 - y0) * 0.015, f"{length:g} km", ha="center",
            va="bottom", fontsize=7)


def _nice(value: float) -> float:
    """1, 2 or 5 times a power of ten, at most `value`."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (5, 2, 1):
        if step * power <= value:
            return step * power
    return power


def _svg(fig: Figure) -> bytes:
    fig.tight_layout(pad=0.3)
    buf = io.BytesIO()
    fig.savefig(buf, format="svg")
    return buf.getvalue()
