"""The follow-up page (/followup), its exports (CSV, Excel) and the episodes behind a figure."""

from __future__ import annotations

from datetime import date
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from markupsafe import Markup
from sqlalchemy import select

from hemma.access.policy import Action
from hemma.followup import exports, research, service
from hemma.followup import measures as m
from hemma.followup.charts import sparkline
from hemma.followup.definitions import BY_KEY, DEFINITIONS, GROUPS
from hemma.i18n import gettext, labels
from hemma.kit.errors import Invalid
from hemma.kit.time import local_today
from hemma.models import Organisation
from hemma.prem import questionnaire
from hemma.web.deps import DbSession, Principal, StaffAccess
from hemma.web.forms import error_messages, form_data
from hemma.web.templating import render

router = APIRouter()
Reader = Annotated[Principal, Depends(StaffAccess(Action.FOLLOW_UP))]
Text = Annotated[str | None, Query(max_length=40)]
FormData = Annotated[dict, Depends(form_data)]


def period_choices(today: date) -> list[tuple[str, str]]:
    """The periods offered: the last 24 months, the last 8 quarters, the last 3 years."""
    out = []
    y, mo = today.year, today.month
    for _ in range(24):
        out.append((f"{y}-{mo:02d}", f"{y}-{mo:02d}"))
        y, mo = (y - 1, 12) if mo == 1 else (y, mo - 1)
    q, y = (today.month - 1) // 3 + 1, today.year
    for _ in range(8):
        out.append((f"{y}-Q{q}", gettext("Quarter %(q)s %(y)s", q=q, y=y)))
        q, y = (4, y - 1) if q == 1 else (q - 1, y)
    for year in range(today.year, today.year - 3, -1):
        out.append((str(year), gettext("Year %(y)s", y=year)))
    return out


def default_period(today: date) -> str:
    """The month before this one: whole, and what a manager follows up."""
    y, mo = (today.year - 1, 12) if today.month == 1 else (today.year, today.month - 1)
    return f"{y}-{mo:02d}"


def parse(request_period: str | None, today: date) -> m.Period:
    text = (request_period or default_period(today)).strip()
    try:
        if len(text) == 7 and text[4] == "-" and text[5:].isdigit():
            return m.Period.month(int(text[:4]), int(text[5:]))
        if len(text) == 7 and text[4:6] in ("-Q", "-q") and text[6] in "1234":
            return m.Period.quarter(int(text[:4]), int(text[6]))
        if len(text) == 4 and text.isdigit():
            return m.Period.year(int(text))
    except ValueError:
        pass
    raise Invalid("Choose a month (2026-11), a quarter (2026-Q4) or a year (2026)",
                  field="period")


def _report(db, principal, period, scope, pathway) -> service.Report:
    chosen = parse(period, local_today())
    if chosen.start.year < 2000 or chosen.start > local_today():
        raise Invalid("The period has not begun yet", field="period")
    return service.report(db, principal.subject, chosen, scope, pathway)


def _describe(unit: str):
    return lambda value: exports.show(unit, value)


@router.get("/followup")
def page(request: Request, db: DbSession, principal: Reader, period: Text = None,
         scope: Text = None, pathway: Text = None):
    """Key figures of a unit, an organisation or all, for a month, quarter or year."""
    today = local_today()
    values = {"period": period or default_period(today), "scope": scope or "",
              "pathway": pathway or ""}
    errors: dict[str, str] = {}
    try:
        report = _report(db, principal, period, scope, pathway)
    except Invalid as exc:
        errors[exc.field or "period"] = gettext(exc.message)
        values = {"period": default_period(today), "scope": "", "pathway": ""}
        report = _report(db, principal, None, None, None)
    charts = {
        d.key: Markup(sparkline(report.rows[d.key].trend, gettext(d.label),
                                _describe(report.rows[d.key].figure.unit)))
        for d in DEFINITIONS}
    query = urlencode({k: v for k, v in {"period": values["period"],
                                         "scope": report.chosen.choice.key,
                                         "pathway": report.pathway or ""}.items() if v})
    return render(request, "followup/page.html", {
        "report": report, "charts": charts, "definitions": DEFINITIONS, "groups": GROUPS,
        "show": exports.show, "period_name": exports.period_name,
        "scope_name": exports.scope_name(report), "query": query,
        "periods": period_choices(today),
        "scopes": service.choices(db, principal.subject),
        "pathways": service.pathways(db), "values": values, "errors": errors,
        "parts": exports.part_rows, "traceable": service.TRACEABLE,
        "may_trace": principal.subject.role_allows(Action.READ),
        "prem_questions": prem_questions(),
    })


def prem_questions() -> dict[str, str]:
    """The questionnaire's statements in the reader's language, by key."""
    return {q.key: gettext(q.text) for q in questionnaire.QUESTIONS}


@router.get("/followup/export.csv")
def export_csv(db: DbSession, principal: Reader, period: Text = None, scope: Text = None,
               pathway: Text = None):
    report = _report(db, principal, period, scope, pathway)
    name = f"hemma-uppfoljning-{exports.period_name(report.period).replace(' ', '')}.csv"
    return Response(exports.to_csv(report), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"',
                             "Cache-Control": "private, no-store"})


@router.get("/followup/export.xlsx")
def export_xlsx(db: DbSession, principal: Reader, period: Text = None, scope: Text = None,
                pathway: Text = None):
    report = _report(db, principal, period, scope, pathway)
    name = f"hemma-uppfoljning-{exports.period_name(report.period).replace(' ', '')}.xlsx"
    return Response(
        exports.to_xlsx(report),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="{name}"',
                 "Cache-Control": "private, no-store"})


@router.get("/followup/episodes")
def traced(request: Request, db: DbSession, principal: Reader,
           figure: Annotated[str, Query(max_length=40)], period: Text = None,
           scope: Text = None, pathway: Text = None):
    """The episodes behind a figure, those the user may read."""
    chosen = parse(period, local_today())
    result = service.trace(db, principal.subject, figure, chosen, scope, pathway)
    return render(request, "followup/episodes.html", {
        "definition": BY_KEY[figure], "period": chosen, "period_name": exports.period_name,
        "traced": result, "labels": labels,
        "back": "/followup?" + urlencode({k: v for k, v in {
            "period": period, "scope": scope, "pathway": pathway}.items() if v})})


Exporter = Annotated[Principal, Depends(StaffAccess(Action.RESEARCH_EXPORT))]


def _research_form(request, db, values, errors, status_code=200):
    orgs = [(str(o.id), o.name) for o in db.scalars(select(Organisation)
                                                        .order_by(Organisation.name))]
    return render(request, "followup/research.html", {
        "values": values, "errors": errors, "periods": period_choices(local_today()),
        "organisations": orgs, "pathways": service.pathways(db)}, status_code=status_code)


@router.get("/followup/research")
def research_form(request: Request, db: DbSession, principal: Exporter):
    """The pseudonymised research extract: what it holds, and the form to take it."""
    return _research_form(request, db, {"period": str(local_today().year - 1)}, {})


@router.post("/followup/research")
def research_extract(request: Request, db: DbSession, principal: Exporter, form: FormData):
    values = {k: form.get(k, "") for k in ("period", "organisation", "pathway", "approval",
                                            "shift_dates")}
    try:
        chosen = parse(values["period"], local_today())
        org = values["organisation"]
        if org and not org.isdigit():
            raise Invalid("No such organisation", field="organisation")
        result = research.extract(
            db, principal.subject, chosen, organisation_id=int(org) if org else None,
            pathway=values["pathway"] or None, shift_dates=bool(values["shift_dates"]),
            approval=values["approval"])
    except Invalid as exc:
        return _research_form(request, db, values, error_messages(exc), status_code=422)
    name = f"hemma-forskningsuttag-{exports.period_name(chosen).replace(' ', '')}.zip"
    return Response(result.data, media_type="application/zip", headers={
        "Content-Disposition": f'attachment; filename="{name}"',
        "Cache-Control": "private, no-store"})
