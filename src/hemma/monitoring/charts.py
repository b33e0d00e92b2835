"""Trend charts of the last hours' values, drawn by matplotlib as SVG (served from our own
origin: no chart scripts from elsewhere, nothing to load in the browser)."""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from datetime import UTC, datetime, timedelta

import matplotlib

matplotlib.use("Agg")  # no display on a server
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

from hemma.kit.time import STOCKHOLM  # noqa: E402
from hemma.models import Observation  # noqa: E402

matplotlib.rcParams.update({
    "svg.fonttype": "none", "font.size": 8, "axes.spines.top": False,
    "axes.spines.right": False, "axes.titlesize": 8, "axes.titleweight": "bold",
})

# (field, title, normal range shaded, y-limits)
PANELS = [
    ("news2_total", "NEWS2", (0, 4), (0, 20)),
    ("spo2", "SpO2 %", (96, 100), (80, 100)),
    ("pulse", "Puls /min", (51, 90), (30, 160)),
    ("respiration_rate", "Andning /min", (12, 20), (5, 40)),
    ("temperature", "Temp °C", (36.1, 38.0), (34, 41)),
    ("systolic_bp", "Syst. BT mmHg", (111, 219), (60, 230)),
]
COMPACT = ["news2_total", "spo2", "pulse", "temperature"]
BAND_COLOURS = {"high": "#b3261e", "medium": "#d9731c", "low-medium": "#c9a100"}


_CACHE: OrderedDict[tuple, bytes] = OrderedDict()
_CACHE_SIZE = 512
_cache_lock = threading.Lock()


def cached_vitals_svg(observations: list[Observation], now: datetime, hours: int = 72,
                      compact: bool = False, titles: dict[str, str] | None = None) -> bytes:
    """Drawing takes ~100 ms and the round's worklist asks for one chart per patient: the
    same values, in the same 5-minute slot of time, give the same picture."""
    slot = int(now.timestamp() // 300)
    key = (slot, hours, compact, tuple(sorted((titles or {}).items())),
           tuple((o.id, o.measured_at, o.news2_total) for o in observations))
    with _cache_lock:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    svg = vitals_svg(observations, datetime.fromtimestamp(slot * 300 + 300, tz=UTC), hours,
                     compact, titles)
    with _cache_lock:
        _CACHE[key] = svg
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return svg


def vitals_svg(observations: list[Observation], now: datetime, hours: int = 72,
               compact: bool = False, titles: dict[str, str] | None = None) -> bytes:
    panels = [p for p in PANELS if not compact or p[0] in COMPACT]
    start = now - timedelta(hours=hours)
    # Compact (the round's worklist): four panels in a 2×2 grid, readable at a glance.
    rows, cols = (2, 2) if compact else (len(panels), 1)
    width, height = (5.6, 2.8) if compact else (7.2, 1.45 * len(panels))
    fig, axes = plt.subplots(rows, cols, figsize=(width, height), sharex=True, squeeze=False)
    axes = axes.flatten()
    for ax, (field, title, normal, limits) in zip(axes, panels, strict=True):
        points = [(o.measured_at.astimezone(STOCKHOLM), getattr(o, field))
                  for o in observations if getattr(o, field) is not None]
        ax.axhspan(*normal, color="#e6f4ea", zorder=0)
        if points:
            xs, ys = zip(*points, strict=True)
            ax.plot(xs, ys, color="#0b5f7a", linewidth=1.2, marker="o", markersize=2.5)
            if field == "news2_total":
                for o in observations:
                    colour = BAND_COLOURS.get(o.news2_band or "")
                    if colour and o.news2_total is not None:
                        ax.plot(o.measured_at.astimezone(STOCKHOLM), o.news2_total, "o",
                                color=colour, markersize=4)
            low = min(limits[0], min(ys))
            high = max(limits[1], max(ys))
            ax.set_ylim(low, high)
        else:
            ax.set_ylim(*limits)
            ax.text(0.5, 0.5, "–", transform=ax.transAxes, ha="center", va="center",
                    color="#5a6675")
        ax.set_title((titles or {}).get(field, title), loc="left")
        ax.set_xlim(start.astimezone(STOCKHOLM), now.astimezone(STOCKHOLM))
        ax.grid(axis="y", color="#d5dbe3", linewidth=0.5)
        if compact:
            ax.xaxis.set_major_locator(mdates.DayLocator(tz=STOCKHOLM))
            ax.xaxis.set_major_formatter(mdates.DateFormatter("%d/%m", tz=STOCKHOLM))
        else:
            ax.xaxis.set_major_locator(mdates.HourLocator(byhour=[0, 12], tz=STOCKHOLM))
            ax.xaxis.set_major_formatter(mdates.DateFormatter("%d/%m %H", tz=STOCKHOLM))
        ax.tick_params(labelsize=7)
    fig.tight_layout(pad=0.4)
    buf = io.BytesIO()
    fig.savefig(buf, format="svg")
    plt.close(fig)
    return buf.getvalue()
