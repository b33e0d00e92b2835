"""Helpers for HTML form routes: read the form, run a named action in a savepoint, and turn
its errors into per-field messages for the template."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from fastapi import Request
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from hemma.i18n import gettext
from hemma.kit.errors import Conflict, HemmaError, Invalid
from hemma.kit.time import STOCKHOLM, from_local

T = TypeVar("T")

LIST_FIELDS = frozenset({"entry_ids", "inclusion", "exclusion", "information.given",
                         "information.consent_organisations", "receivers", "shares"})
# Kept exactly as typed: spaces can be part of a password.
RAW_FIELDS = frozenset({"password"})


async def form_data(request: Request) -> dict[str, Any]:
    """The submitted form as a dict: blank fields left out (so defaults apply), checkbox and
    multi-select fields as lists where the schema expects them."""
    form: FormData = await request.form()
    data: dict[str, Any] = {}
    for key in form.keys():
        if key == "csrf_token":
            continue
        if key in LIST_FIELDS:
            data[key] = [v for v in form.getlist(key) if isinstance(v, str) and v.strip()]
            continue
        value = form.get(key)
        if key in RAW_FIELDS and isinstance(value, str) and value:
            data[key] = value
        elif isinstance(value, str) and value.strip():
            data[key] = value.strip()
    return data


def attempt(db: Session, action: Callable[[], T]) -> tuple[T | None, HemmaError | None]:
    """Run `action` in a savepoint: on a rule or validation error nothing it wrote remains,
    and the page shows the form again with the error beside the field."""
    try:
        with db.begin_nested():
            return action(), None
    except (Invalid, Conflict) as exc:
        # Not-found and forbidden are not form errors: they propagate as 404/403.
        return None, exc


def error_messages(exc: HemmaError | None) -> dict[str, str]:
    if exc is None:
        return {}
    out: dict[str, str] = {}
    for err in exc.errors:
        # A list typed into one input ("08:00 14:00") is one field on the page: an error about
        # its second item (times.1) belongs beside that input.
        key = re.sub(r"(\.\d+)+$", "", err.field or "") or "_form"
        out.setdefault(key, gettext(err.message, **err.params) if err.params else gettext(err.message))
    return out


def nested(data: dict) -> dict:
    """Form fields named with dots ("home.stairs") as the nested objects a schema reads."""
    out: dict = {}
    for key, value in data.items():
        *parents, last = key.split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                break
        else:
            node[last] = value
    return out


def local_times(data: dict, *names: str) -> dict:
    """datetime-local inputs carry no offset: read them as Swedish wall-clock time."""
    out = dict(data)
    for name in names:
        value = out.get(name)
        if isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value)
            except ValueError:
                continue  # left as text: the schema names the field
            try:
                out[name] = from_local(parsed)
            except OverflowError:  # year 1 or 9999 has no UTC: the schema names the field
                out[name] = parsed if parsed.tzinfo else parsed.replace(tzinfo=STOCKHOLM)
    return out
