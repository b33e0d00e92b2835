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
from matplotlib.backends.backend_svg import FigureCanvasSVG  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402  (no pyplot: its global state is not thread-safe)

from hemma.kit.time import STOCKHOLM  # noqa: E402
from hemma.models import Observation  # noqa: E402

# Text stays text in the SVG (the browser's font, searchable, small), and element ids come
# from the content rather than a random salt, so the same values give the same bytes. The
# SVG backend reads both at drawing time from the process-wide settings: they are set once,
# at import, and never changed while requests draw; everything else is styled on each figure.
matplotlib.rcParams["svg.fonttype"] = "none"
matplotlib.rcParams["svg.hashsalt"] = "hemma"
FONT_SIZE = 8
TICK_SIZE = 7

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
           tuple((o.id, o.measured_at, o.news2_total, o.news2_band, o.news2_partial)
                 for o in observations))
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
    # A Figure of its own with its own canvas: pyplot keeps a process-wide list of figures
    # that threaded routes drawing at once would share.
    fig = Figure(figsize=(width, height))
    FigureCanvasSVG(fig)
    axes = fig.subplots(rows, cols, sharex=True, squeeze=False).flatten()
    for ax, (field, title, normal, limits) in zip(axes, panels, strict=True):
        points = [(o.measured_at.astimezone(STOCKHOLM), getattr(o, field))
                  for o in observations if getattr(o, field) is not None]
        ax.spines[["top", "right"]].set_visible(False)
        ax.axhspan(*normal, color="#e6f4ea", zorder=0)
        if points:
            xs, ys = zip(*points, strict=True)
            if field == "news2_total":
                # The trend line joins complete scores only: a score of one temperature is
                # not a patient getting better. Incomplete ones are hollow rings.
                whole = [(o.measured_at.astimezone(STOCKHOLM), o.news2_total)
                         for o in observations
                         if o.news2_total is not None and not o.news2_partial]
                if whole:
                    ax.plot(*zip(*whole, strict=True), color="#0b5f7a", linewidth=1.2)
                for o in observations:
                    colour = BAND_COLOURS.get(o.news2_band or "") or "#5a6675"
                    if o.news2_total is not None:
                        ax.plot(o.measured_at.astimezone(STOCKHOLM), o.news2_total, "o",
                                markersize=4, color=colour,
                                markerfacecolor="none" if o.news2_partial else colour)
            else:
                ax.plot(xs, ys, color="#0b5f7a", linewidth=1.2, marker="o", markersize=2.5)
            low = min(limits[0], min(ys))
            high = max(limits[1], max(ys))
            ax.set_ylim(low, high)
        else:
            ax.set_ylim(*limits)
            ax.text(0.5, 0.5, "–", transform=ax.transAxes, ha="center", va="center",
                    color="#5a6675", fontsize=FONT_SIZE)
        ax.set_title((titles or {}).get(field, title), loc="left", fontsize=FONT_SIZE,
                     fontweight="bold")
        ax.set_xlim(start.astimezone(STOCKHOLM), now.astimezone(STOCKHOLM))
        ax.grid(axis="y", color="#d5dbe3", linewidth=0.5)
        if compact:
            ax.xaxis.set_major_locator(mdates.DayLocator(tz=STOCKHOLM))
            ax.xaxis.set_major_formatter(mdates.DateFormatter("%d/%m", tz=STOCKHOLM))
        else:
            ax.xaxis.set_major_locator(mdates.HourLocator(byhour=[0, 12], tz=STOCKHOLM))
            ax.xaxis.set_major_formatter(mdates.DateFormatter("%d/%m %H", tz=STOCKHOLM))
        ax.tick_params(labelsize=TICK_SIZE)
    fig.tight_layout(pad=0.4)
    buf = io.BytesIO()
    # No creation date in the file: the same values give the same bytes.
    fig.savefig(buf, format="svg", metadata={"Date": None})
    return buf.getvalue()
