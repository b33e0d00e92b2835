"""HTML pages of the agreement with the patient: staff read, write and print it; the patient
reads it on their own page and confirms it."""

from __future__ import annotations

import re
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import RedirectResponse, Response

from hemma.access import audit
from hemma.access.policy import Action
from hemma.agreements import service
from hemma.i18n import gettext as _
from hemma.i18n.labels import IF_WORSE_ACTIONS
from hemma.kit.errors import Conflict, HemmaError
from hemma.kit.time import format_local, local_today
from hemma.kit.validation import DB_INT_MAX
from hemma.web.deps import DbSession, PatientAccess, PatientContext, PatientOwnPage, PatientSelf
from hemma.web.forms import attempt, error_messages, form_data
from hemma.web.templating import render

router = APIRouter()
FormData = Annotated[dict, Depends(form_data)]
Reader = Annotated[PatientContext, Depends(PatientAccess(Action.READ))]
Writer = Annotated[PatientContext, Depends(PatientAccess(Action.EPISODE))]
Me = Annotated[PatientSelf, Depends(PatientOwnPage())]
# Reading it: the patient, or a relative the patient lets read it.
PageReader = Annotated[PatientSelf, Depends(PatientOwnPage(relative="agreement"))]
VersionQuery = Annotated[int | None, Query(ge=1, le=DB_INT_MAX)]

BASE = "/patients/{patient_id}/episodes/{episode_id}/agreement"
# Empty if-worse rows the form offers beyond the ones written.
SPARE_ROWS = 3
_ROW = re.compile(r"^(symptom|action)_(\d{1,2})$")


def _lines(text: str | None) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def _form_content(form: dict) -> dict:
    """The edit form as the agreement's content: one list item a line, if-worse rows of
    symptom and action (a row without a symptom is an unused row)."""
    rows: dict[int, dict] = {}
    for key, value in form.items():
        m = _ROW.match(key)
        if m:
            rows.setdefault(int(m.group(2)), {})[m.group(1)] = value
    content = {
        "patient_tasks": _lines(form.get("patient_tasks")),
        "team_tasks": _lines(form.get("team_tasks")),
        "if_worse": [{"symptom": r["symptom"], "action": r.get("action")}
                     for _i, r in sorted(rows.items()) if r.get("symptom")],
    }
    for key in ("planned_days", "end_criteria"):
        if key in form:
            content[key] = form[key]
    return content


def _form_values(content: dict) -> dict:
    """A version's text as the edit form's fields."""
    values = {
        "patient_tasks": "\n".join(content.get("patient_tasks") or []),
        "team_tasks": "\n".join(content.get("team_tasks") or []),
        "planned_days": content.get("planned_days"),
        "end_criteria": content.get("end_criteria"),
    }
    for i, row in enumerate(content.get("if_worse") or []):
        values[f"symptom_{i}"] = row.get("symptom")
        values[f"action_{i}"] = row.get("action")
    return values


def _errors(err: HemmaError) -> dict[str, str]:
    """Errors keyed by the form's own field names (the API's `content.` prefix dropped; an
    if-worse row's error by its row: `symptom_2`)."""
    out = {}
    for key, message in error_messages(err).items():
        key = key.removeprefix("content.")
        m = re.match(r"^if_worse\.(\d+)\.(symptom|action)$", key)
        out[f"{m.group(2)}_{m.group(1)}" if m else key] = message
    return out


def _page(request: Request, db, ctx: PatientContext, episode_id: uuid.UUID, *,
          values: dict | None = None, errors: dict | None = None, status_code: int = 200):
    view = service.agreement_view(db, ctx.decision, ctx.patient_id, episode_id)
    current = view.current
    values = values if values is not None else {
        **_form_values(view.draft), "base_version": current.version if current else 0}
    rows = max([int(m.group(2)) + 1 for k in values if (m := _ROW.match(k))] or [0])
    return render(request, "agreements/agreement.html", {
        "view": view, "current": current, "values": values, "errors": errors or {},
        "row_count": rows + SPARE_ROWS, "action_options": [
            (code, _(text)) for code, text in IF_WORSE_ACTIONS.items()],
        "sections": service.sections(current.content) if current else [],
        "confirmation": service.confirmation_text(current) if current else None,
        "base": BASE.format(patient_id=ctx.patient_id, episode_id=episode_id),
    }, status_code=status_code)


@router.get(BASE)
def agreement(request: Request, db: DbSession, episode_id: uuid.UUID, ctx: Reader):
    """The agreement: the current version, the earlier ones, and (for the responsible
    organisation) the form for a new version."""
    return _page(request, db, ctx, episode_id)


@router.post(BASE)
def save(request: Request, db: DbSession, episode_id: uuid.UUID, form: FormData, ctx: Writer):
    """Save a new version of the agreement."""
    base_version = form.get("base_version")

    def act():
        return service.save_version(db, ctx.subject, ctx.patient_id, episode_id,
                                    _form_content(form), form.get("change_note"),
                                    base_version=base_version)

    row, err = attempt(db, act)
    if err:
        return _page(request, db, ctx, episode_id, values=form, errors=_errors(err),
                     status_code=err.status_code)
    return RedirectResponse(
        f"{BASE.format(patient_id=ctx.patient_id, episode_id=episode_id)}?saved={row.version}",
        303)


@router.post(BASE + "/draft")
def draft(request: Request, db: DbSession, episode_id: uuid.UUID, ctx: Writer):
    """Write the first version from the pathway's template as it stands."""
    _row, err = attempt(db, lambda: service.draft_from_template(
        db, ctx.subject, ctx.patient_id, episode_id))
    if err:
        return _page(request, db, ctx, episode_id, errors=_errors(err),
                     status_code=err.status_code)
    return RedirectResponse(BASE.format(patient_id=ctx.patient_id, episode_id=episode_id), 303)


@router.post(BASE + "/confirm-paper")
def confirm_paper(request: Request, db: DbSession, episode_id: uuid.UUID, form: FormData,
                  ctx: Writer):
    """Record that the patient confirmed the current version on paper."""
    _row, err = attempt(db, lambda: service.confirm_on_paper(
        db, ctx.subject, ctx.patient_id, episode_id, {"version": form.get("version")}))
    if err:
        return _page(request, db, ctx, episode_id, errors=_errors(err),
                     status_code=err.status_code)
    return RedirectResponse(BASE.format(patient_id=ctx.patient_id, episode_id=episode_id), 303)


@router.get(BASE + "/versions/{version}")
def version(request: Request, db: DbSession, episode_id: uuid.UUID,
            version: Annotated[int, Path(ge=1, le=DB_INT_MAX)], ctx: Reader):
    """One version as it was given to the patient, and what it changed."""
    view = service.agreement_view(db, ctx.decision, ctx.patient_id, episode_id)
    row = view.version(version)
    previous = view.previous(version)
    return render(request, "agreements/version.html", {
        "view": view, "row": row, "sections": service.sections(row.content),
        "changes": service.changes(previous.content if previous else None, row.content),
        "confirmation": service.confirmation_text(row),
        "base": BASE.format(patient_id=ctx.patient_id, episode_id=episode_id)})


def _printed(db, ctx: PatientContext, episode_id: uuid.UUID, number: int | None):
    view = service.agreement_view(db, ctx.decision, ctx.patient_id, episode_id)
    if view.current is None:
        return view, None
    row = view.version(number) if number is not None else view.current
    service.record_print(db, ctx.patient_id)
    return view, row


@router.get(BASE + "/print")
def print_page(request: Request, db: DbSession, episode_id: uuid.UUID, ctx: Reader,
               version: VersionQuery = None):
    """The agreement ready to print, large type (the current version, or `?version=`)."""
    view, row = _printed(db, ctx, episode_id, version)
    if row is None:  # nothing written yet: where it is written
        return RedirectResponse(BASE.format(patient_id=ctx.patient_id, episode_id=episode_id),
                                303)
    title, subtitle, sections, footer = service.pdf_parts(view, row)
    return render(request, "agreements/print.html", {
        "title": title, "subtitle": subtitle, "sections": sections, "footer": footer,
        "back": BASE.format(patient_id=ctx.patient_id, episode_id=episode_id)})


@router.get(BASE + ".pdf")
def agreement_pdf(db: DbSession, episode_id: uuid.UUID, ctx: Reader,
                  version: VersionQuery = None):
    """The agreement as a PDF to print or hand over (the current version, or `?version=`)."""
    view, row = _printed(db, ctx, episode_id, version)
    if row is None:
        return RedirectResponse(BASE.format(patient_id=ctx.patient_id, episode_id=episode_id),
                                303)
    body = service.pdf_document(view, row)
    # The file name carries no ids: it is saved on shared computers and mailed.
    name = f"overenskommelse-v{row.version}-{local_today().isoformat()}.pdf"
    return Response(body, media_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="{name}"', "Cache-Control": "no-store"})


# --- The patient's own page ----------------------------------------------------------------


def _patient_page(request: Request, db, me: PatientSelf, *, notice: str | None = None,
                  status_code: int = 200):
    found = service.patient_agreement(db, me)
    row = found[1] if found else None
    return render(request, "patient/agreement.html", {
        "row": row, "sections": service.sections(row.content) if row else [],
        "confirmed_at": format_local(row.confirmed_at) if row and row.confirmed_at else None,
        "notice": notice, "csrf_token": me.csrf_token, "me": me}, status_code=status_code)


@router.get("/p/agreement")
def patient_agreement(request: Request, db: DbSession, me: PageReader):
    """The patient reads the agreement, in large type (a relative too, if the patient lets
    them; only the patient confirms it)."""
    audit.record(db, me.patient_id, me.action("agreement"), basis=me.basis,
                 detail=f"relative {me.relative_id}" if me.relative_id else None)
    return _patient_page(request, db, me)


@router.post("/p/agreement/confirm")
def patient_confirm(request: Request, db: DbSession, form: FormData, me: Me):
    """The patient's "I have read and understand", for the version on their screen."""
    _row, err = attempt(db, lambda: service.confirm_by_patient(db, me, form.get("version")))
    if err:
        # Most often a newer version came while the page was open: shown instead, to read
        # and confirm on its own.
        notice = (_("The agreement has changed since you opened it. Read the new version "
                    "and confirm it.") if isinstance(err, Conflict)
                  else _("Something went wrong. Reload the page and try again."))
        return _patient_page(request, db, me, notice=notice, status_code=err.status_code)
    return RedirectResponse("/p/agreement", 303)
