"""The follow-up report as words and numbers: a figure as the reader writes it, and the same
table as CSV (semicolons and decimal commas in Swedish, as Swedish Excel opens it), as an
Excel workbook (openpyxl) and as JSON. One table, three forms: what the page shows."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from babel.numbers import format_decimal
from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from hemma.followup import measures as m
from hemma.followup.definitions import DEFINITIONS, GROUPS
from hemma.followup.service import Report
from hemma.i18n import current_language, gettext, labels
from hemma.kit.time import format_local

# What a figure is measured in, as the table's unit column says it.
UNIT_WORDS = {"count": "", "days": "days", "share": "%", "kr": "kr", "minutes": "min",
              "km": "km", "per_day": "", "staff": ""}
DECIMALS = {"count": 0, "days": 0, "share": 1, "kr": 0, "minutes": 0, "km": 1, "per_day": 2,
            "staff": 1}
SUPPRESSED = "<{n}"
# Counted in whole things (episodes, days, alerts): "<5" says how many at most.
COUNTED = ("count", "days")


def hidden(unit: str, threshold: int | None) -> str:
    """A suppressed value in words: "<5" for a count; a share, a time or a distance worked
    out from fewer than five is "too few (<5)", never a number that looks like a value."""
    if unit in COUNTED:
        return SUPPRESSED.format(n=threshold)
    return gettext("too few (<%(n)s)", n=threshold)


def scaled(f_unit: str, value: float | None) -> float | None:
    """The number as shown: shares as percent."""
    if value is None:
        return None
    return value * 100 if f_unit == "share" else value


def show(unit: str, value: float | None, *, threshold: int | None = None,
         suppressed: bool = False) -> str:
    """A figure's value for people: 12,5 %, 110 279 kr, 40 min; "<5" when suppressed; "–"
    when there is nothing to count from."""
    if suppressed:
        return hidden(unit, threshold)
    if value is None:
        return "–"
    lang = current_language.get()
    decimals = DECIMALS[unit]
    pattern = "#,##0" + ("." + "0" * decimals if decimals else "")
    text = format_decimal(scaled(unit, value), format=pattern, locale=lang)
    text = text.replace("\u202f", "\u00a0")
    if unit == "share":
        return f"{text}\u00a0%"
    if unit == "kr":
        return f"{text}\u00a0kr"
    if unit == "minutes":
        return f"{text}\u00a0min"
    if unit == "km":
        return f"{text}\u00a0km"
    return text


def scope_name(report: Report) -> str:
    choice = report.chosen.choice
    return gettext("All units") if choice.kind == "all" else choice.name


def period_name(period: m.Period) -> str:
    kind = period.kind
    s = period.start
    if kind == "month":
        return s.strftime("%Y-%m")
    if kind == "quarter":
        return f"{s.year} Q{(s.month - 1) // 3 + 1}"
    if kind == "year":
        return str(s.year)
    return f"{s.isoformat()} – {(period.end - timedelta(days=1)).isoformat()}"


def part_rows(key: str, f: m.Figure) -> list[tuple[str, float | None, str]]:
    """A figure's parts as (name, value, unit) rows: reasons, severities, outcomes."""
    if key == "returns":
        return [(gettext(labels.RETURN_REASONS.get(k, k)) if k != "unknown"
                 else gettext("Not given"), v, "count") for k, v in f.parts.items()]
    if key == "visits_not_done":
        return [(gettext(labels.NOT_DONE_CODES.get(k, k)) if k != "unknown"
                 else gettext("Not given"), v, "count") for k, v in f.parts.items()]
    if key == "alerts_per_day":
        return [(gettext(labels.PRIORITY_LABELS.get(k, k)), None if v is None else v["rate"],
                 "per_day") for k, v in f.parts.items()]
    if key == "ack_p50":
        return [(gettext("%(priority)s, median", priority=gettext(labels.PRIORITY_LABELS.get(k, k))),
                 None if v is None else v["p50"], "minutes") for k, v in f.parts.items()]
    return []


def table(report: Report) -> tuple[list[str], list[list]]:
    """The report as one table: a row per figure (and per part of it), this period, the one
    before, the unit, the monthly trend, the definition."""
    months = [d for d, _v in next(iter(report.rows.values())).trend] if report.rows else []
    header = [gettext("Area"), gettext("Figure"), period_name(report.period),
              period_name(report.previous), gettext("Unit"),
              *[d.strftime("%Y-%m") for d in months], gettext("Definition")]
    rows: list[list] = []
    threshold = report.threshold
    for d in DEFINITIONS:
        row = report.rows[d.key]
        f, p = row.figure, row.previous

        def cell(value, suppressed, unit=f.unit):
            return hidden(unit, threshold) if suppressed else (
                None if value is None else round(scaled(unit, value), 4))

        rows.append([gettext(GROUPS[d.group]), gettext(d.label),
                     cell(f.value, f.suppressed), cell(p.value, p.suppressed),
                     gettext(UNIT_WORDS[f.unit]) if UNIT_WORDS[f.unit] else "",
                     *[None if v is None else round(scaled(f.unit, v), 4)
                       for _d, v in row.trend],
                     gettext(d.text)])
        for name, value, unit in part_rows(d.key, f):
            rows.append(["", f"{gettext(d.label)}: {name}",
                         hidden(unit, threshold) if value is None and f.n else (
                             None if value is None else round(scaled(unit, value), 4)),
                         None, gettext(UNIT_WORDS[unit]) if UNIT_WORDS[unit] else "",
                         *[None] * len(months), ""])
    return header, rows


def _about(report: Report) -> list[list[str]]:
    pathway = report.pathway or gettext("All pathways")
    return [
        [gettext("Follow-up"), scope_name(report), pathway],
        [gettext("Period"), period_name(report.period), gettext("compared with %(p)s",
                                                                  p=period_name(report.previous))],
        [gettext("An inpatient day is valued at %(cost)s kr (%(source)s).",
                 cost=show("count", report.bed_day_cost), source=report.bed_day_cost_source)],
        [gettext("Counts under %(n)s are shown as <%(n)s outside the unit's own care team.",
                 n=report.threshold)],
        [gettext("Made %(at)s", at=format_local(report.generated_at))],
    ]


def to_csv(report: Report) -> str:
    swedish = current_language.get() == "sv"
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";" if swedish else ",", lineterminator="\r\n")

    def text(value):
        if isinstance(value, float):
            s = f"{value:.4f}".rstrip("0").rstrip(".")
            return s.replace(".", ",") if swedish else s
        return "" if value is None else value

    for line in _about(report):
        writer.writerow(line)
    writer.writerow([])
    header, rows = table(report)
    writer.writerow(header)
    for row in rows:
        writer.writerow([text(v) for v in row])
    return "\ufeff" + out.getvalue()


def to_xlsx(report: Report) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.title = gettext("Follow-up")[:31]
    for line in _about(report):
        sheet.append(line)
    sheet.append([])
    header, rows = table(report)
    sheet.append(header)
    head_row = sheet.max_row
    for cell in sheet[head_row]:
        cell.font = Font(bold=True)
    for row in rows:
        sheet.append(row)
    sheet.freeze_panes = sheet.cell(row=head_row + 1, column=3)
    widths = {1: 22, 2: 46}
    for col in range(1, len(header) + 1):
        sheet.column_dimensions[get_column_letter(col)].width = widths.get(col, 11)
    sheet.column_dimensions[get_column_letter(len(header))].width = 80
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def to_json(report: Report) -> dict:
    def figure(f: m.Figure) -> dict:
        return {"value": f.value, "n": None if f.suppressed else f.n,
                "suppressed": f.suppressed, "unit": f.unit, "parts": f.parts}

    return {
        "scope": {"key": report.chosen.choice.key, "kind": report.chosen.choice.kind,
                  "name": scope_name(report), "own_team": report.chosen.own_team},
        "pathway": report.pathway,
        "period": {"start": report.period.start.isoformat(),
                   "end": report.period.end.isoformat(), "kind": report.period.kind},
        "previous": {"start": report.previous.start.isoformat(),
                     "end": report.previous.end.isoformat()},
        "small_numbers": report.threshold,
        "bed_day_cost": {"kr": report.bed_day_cost, "source": report.bed_day_cost_source},
        "generated_at": report.generated_at.isoformat(),
        "figures": {
            d.key: {"group": d.group, "label": gettext(d.label),
                    "definition": gettext(d.text),
                    **figure(report.rows[d.key].figure),
                    "previous": figure(report.rows[d.key].previous),
                    "trend": [{"month": day.strftime("%Y-%m"), "value": v}
                              for day, v in report.rows[d.key].trend]}
            for d in DEFINITIONS},
    }

