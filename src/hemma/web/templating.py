"""Jinja2 templates with autoescaping on (nothing a patient or user types can become markup)
and the translation functions of the request's language."""

from __future__ import annotations

from pathlib import Path

import jinja2
from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import HTMLResponse

from hemma.i18n import LANGUAGES, current_language, gettext, labels, ngettext, number
from hemma.kit.time import age, format_local, local_date, local_today
from hemma.patients.personnummer import format_number

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"


def _make_env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=True,
        extensions=["jinja2.ext.i18n"],
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        # The templates ship with the package: no stat() of every file a page includes on
        # every render (a board's sections include several per patient).
        auto_reload=False,
    )
    env.install_gettext_callables(gettext, ngettext, newstyle=True)
    env.globals.update(
        age=age,
        number=number,
        format_local=format_local,
        local_date=local_date,
        local_today=local_today,
        pnr=format_number,
        labels=labels,
        label=labels.label,
        options=labels.options,
        LANGUAGES=LANGUAGES,
    )
    return env


templates = Jinja2Templates(env=_make_env())


def render(request: Request, template: str, context: dict | None = None,
           status_code: int = 200) -> HTMLResponse:
    principal = getattr(request.state, "principal", None)
    ctx = {
        "request": request,
        "principal": principal,
        "csrf_token": principal.csrf_token if principal else None,
        "lang": current_language.get(),
        "errors": {},
        "values": {},
        # Only known codes become messages: a link cannot put its own words on our page.
        "flash": labels.FLASH.get(request.query_params.get("done", "")),
    }
    ctx.update(context or {})
    return templates.TemplateResponse(request, template, ctx, status_code=status_code)
