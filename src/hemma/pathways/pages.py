"""HTML pages: the pathways (vårdprogram), one version as it reads, its history, export, and
for a medical lead the editor (YAML or JSON, every error named by its place in the document),
import and retiring."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from hemma.access.policy import Action
from hemma.i18n import gettext
from hemma.kit.errors import HemmaError, Invalid
from hemma.kit.text import N_
from hemma.kit.validation import DbId
from hemma.pathways import service
from hemma.pathways.document import read_text, write_text
from hemma.web.deps import DbSession, Principal, StaffAccess
from hemma.web.forms import attempt, form_data
from hemma.web.templating import render

router = APIRouter()
FormData = Annotated[dict, Depends(form_data)]
Reader = Annotated[Principal, Depends(StaffAccess(Action.SIGNED_IN))]
Lead = Annotated[Principal, Depends(StaffAccess(Action.PATHWAY))]
# A pathway is a few kilobytes; a larger upload is a mistake (or an attack on the parser).
MAX_DOCUMENT = 200_000


async def uploaded_document(request: Request) -> str | None:
    """The text of an uploaded pathway file, if one came with the form."""
    form = await request.form()
    upload = form.get("file")
    if upload is None or isinstance(upload, str) or not upload.filename:
        return None
    data = await upload.read(MAX_DOCUMENT + 1)
    if len(data) > MAX_DOCUMENT:
        return "\x00too-long"
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return "\x00not-utf8"


Upload = Annotated[str | None, Depends(uploaded_document)]


def _problems(err: HemmaError) -> list[tuple[str, str]]:
    """Each error with its place in the document, as the editor lists them."""
    out = []
    for e in err.errors:
        where = "" if e.field in ("", "document", "body") else e.field.removeprefix("document.")
        out.append((where, gettext(e.message, **e.params) if e.params else gettext(e.message)))
    return out


def _fmt(value: str | None, text: str) -> Literal["json", "yaml"]:
    if value in ("json", "yaml"):
        return value
    return "json" if text.lstrip().startswith("{") else "yaml"


def _parse(text: str | None, fmt: str | None):
    if not text:
        raise Invalid(N_("Paste the pathway, or choose a file"), field="document")
    if text == "\x00too-long":
        raise Invalid(N_("The file is too large for a pathway"), field="document")
    if text == "\x00not-utf8" or "\x00" in text:
        raise Invalid(N_("The file is not UTF-8 text"), field="document")
    if len(text) > MAX_DOCUMENT:
        raise Invalid(N_("The file is too large for a pathway"), field="document")
    try:
        return read_text(text, _fmt(fmt, text))
    except RecursionError:
        raise Invalid(N_("The document is nested too deeply"), field="document") from None


@router.get("/pathways")
def index(request: Request, db: DbSession, principal: Reader):
    """The pathways in use, newest version of each."""
    return render(request, "pathways/index.html", {
        "pathways": service.current(db), "retired": service.retired(db),
        "may_edit": principal.subject.role_allows(Action.PATHWAY)})


@router.get("/pathways/new")
def new_form(request: Request, principal: Lead):
    """Form: a new pathway, or import one (YAML or JSON)."""
    return render(request, "pathways/edit.html", {"pathway": None, "values": {"format": "yaml"}})


@router.post("/pathways/new")
def create(request: Request, db: DbSession, form: FormData, upload: Upload, principal: Lead):
    """Save a new pathway, or a new version of the pathway with the document's code."""
    text = upload or form.get("document")
    row, err = attempt(db, lambda: service.save(
        db, principal.subject, _parse(text, form.get("format")),
        change_note=form.get("change_note")))
    if err:
        return render(request, "pathways/edit.html", {
            "pathway": None, "values": {**form, "document": text if upload is None else ""},
            "problems": _problems(err)}, status_code=err.status_code)
    return RedirectResponse(f"/pathways/{row.id}?done=saved", 303)


@router.get("/pathways/{pathway_id}")
def show(request: Request, db: DbSession, pathway_id: DbId, principal: Reader):
    """One version of a pathway, as it reads, with its history."""
    row = service.get(db, pathway_id)
    return render(request, "pathways/show.html", {
        "pathway": row, "history": service.history(db, row.code),
        "may_edit": principal.subject.role_allows(Action.PATHWAY)})


@router.get("/pathways/{pathway_id}/export")
def export(db: DbSession, pathway_id: DbId, principal: Reader,
           format: Literal["json", "yaml"] = "yaml"):
    """One version of a pathway as a YAML or JSON file."""
    row = service.get(db, pathway_id)
    body = write_text(service.document(row), format)
    media = "application/json" if format == "json" else "application/yaml"
    return Response(body, media_type=f"{media}; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{row.code}-v{row.version}.{format}"'})


@router.get("/pathways/{pathway_id}/edit")
def edit_form(request: Request, db: DbSession, pathway_id: DbId, principal: Lead,
              format: Literal["json", "yaml"] = "yaml"):
    """Form: edit a pathway (saving makes a new version)."""
    row = service.get(db, pathway_id)
    return render(request, "pathways/edit.html", {"pathway": row, "values": {
        "document": write_text(service.document(row), format), "format": format,
        "based_on": row.version}})


@router.post("/pathways/{pathway_id}/edit")
def save(request: Request, db: DbSession, pathway_id: DbId, form: FormData, principal: Lead):
    """Save the edited pathway as its next version."""
    row = service.get(db, pathway_id)
    text = form.get("document")

    def act():
        doc = _parse(text, form.get("format"))
        if doc.code != row.code:
            raise Invalid(N_("The code names the pathway and cannot change: import it as a "
                             "new pathway instead"), field="document.code")
        based = form.get("based_on")
        return service.save(db, principal.subject, doc, change_note=form.get("change_note"),
                            based_on=int(based) if based and based.isdigit() else None)

    saved, err = attempt(db, act)
    if err:
        return render(request, "pathways/edit.html", {
            "pathway": row, "values": form, "problems": _problems(err)},
            status_code=err.status_code)
    return RedirectResponse(f"/pathways/{saved.id}?done=saved", 303)


@router.post("/pathways/{pathway_id}/retire")
def retire(request: Request, db: DbSession, pathway_id: DbId, principal: Lead):
    """Retire a pathway: no new assessments on it."""
    row = service.get(db, pathway_id)
    _, err = attempt(db, lambda: service.retire(db, principal.subject, row.code))
    if err:
        return render(request, "pathways/show.html", {
            "pathway": row, "history": service.history(db, row.code), "may_edit": True,
            "problems": _problems(err)}, status_code=err.status_code)
    return RedirectResponse(f"/pathways/{pathway_id}?done=saved", 303)
