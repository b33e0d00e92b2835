"""Translations with Babel: English msgids in code and templates, Swedish the default
language. Catalogs are the .po files in this package, compiled in memory at start.

This package is vocabulary, not presentation: the bottom layer (with `kit`), so that any
layer may put a code into words in the user's language."""

from __future__ import annotations

import io
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import Translations

from hemma.kit.text import N_

LANGUAGES = {"sv": "Svenska", "en": "English"}
DEFAULT_LANGUAGE = "sv"
CATALOG_DIR = Path(__file__).resolve().parent

current_language: ContextVar[str] = ContextVar("hemma_language", default=DEFAULT_LANGUAGE)


@lru_cache
def translations(lang: str) -> Translations:
    path = CATALOG_DIR / f"{lang}.po"
    if not path.exists():
        return Translations()
    with path.open("rb") as fh:
        catalog = read_po(fh, locale=lang)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return Translations(fp=buf)


def gettext(message: str, **params) -> str:
    text = translations(current_language.get()).gettext(message)
    return text % params if params else text


def ngettext(singular: str, plural: str, n: int, **params) -> str:
    text = translations(current_language.get()).ngettext(singular, plural, n)
    params.setdefault("num", n)
    return text % params


_ = gettext

def number(value, decimals: int | None = None) -> str:
    """A number as the reader writes it: 38,9 in Swedish, 38.9 in English (whole numbers
    without decimals, unless `decimals` asks for a fixed count: 37,0)."""
    if decimals is not None and isinstance(value, int | float) and not isinstance(value, bool):
        pattern = "0." + "0" * decimals if decimals > 0 else "0"
        return format_decimal(value, format=pattern, locale=current_language.get(),
                              group_separator=False)
    if isinstance(value, float):
        if value.is_integer():
            value = int(value)
        else:
            return format_decimal(value, locale=current_language.get(), group_separator=False)
    return str(value)


__all__ = ["LANGUAGES", "N_", "current_language", "gettext", "ngettext", "number",
           "translations"]
