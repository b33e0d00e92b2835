"""Keeping the translation catalogs in step with the code: extract every msgid from the
Python sources and templates, and merge them into sv.po and en.po (`hemma i18n update`).
The test suite uses `extract()` to require a Swedish translation for every msgid."""

from __future__ import annotations

from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from hemma.i18n import CATALOG_DIR

SOURCE_DIR = Path(__file__).resolve().parents[1]
METHOD_MAP = [("**.py", "python"), ("web/templates/**.html", "jinja2")]
OPTIONS = {"web/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
# Functions whose first argument is a msgid: gettext and friends, the N_ marker, and the
# errors our services raise with a message for the user.
KEYWORDS = {
    "_": None, "gettext": None, "ngettext": (1, 2), "N_": None,
    "Invalid": None, "Conflict": None, "Forbidden": None, "NotFound": None,
    "InvalidPersonnummer": None, "ValueError": None,
}


def extract() -> Catalog:
    catalog = Catalog(project="hemma")
    for filename, lineno, message, _comments, _context in extract_from_dir(
        SOURCE_DIR, METHOD_MAP, OPTIONS, KEYWORDS,
    ):
        if message:
            catalog.add(message, locations=[(filename, lineno)])
    return catalog


def load(lang: str) -> Catalog:
    path = CATALOG_DIR / f"{lang}.po"
    if not path.exists():
        return Catalog(locale=lang)
    with path.open("rb") as fh:
        return read_po(fh, locale=lang)


def update(seed: dict | None = None, seed_plural: dict | None = None) -> dict[str, int]:
    """Merge the extracted msgids into each catalog; report untranslated counts."""
    report = {}
    for lang in ("sv", "en"):
        catalog = load(lang)
        catalog.update(extract(), no_fuzzy_matching=True)
        catalog.obsolete.clear()
        for message in catalog:
            if not message.id:
                continue
            key = message.id[0] if isinstance(message.id, tuple) else message.id
            untranslated = not (any(message.string) if isinstance(message.string, tuple)
                                else message.string)
            if lang == "sv" and seed and untranslated:
                if isinstance(message.id, tuple) and seed_plural and key in seed_plural:
                    message.string = seed_plural[key]
                elif not isinstance(message.id, tuple) and key in seed:
                    message.string = seed[key]
        # English msgids are the English text: an empty English msgstr falls back to them.
        report[lang] = 0 if lang == "en" else sum(
            1 for m in catalog if m.id and not (any(m.string) if isinstance(m.string, tuple)
                                                else m.string))
        CATALOG_DIR.mkdir(parents=True, exist_ok=True)
        with (CATALOG_DIR / f"{lang}.po").open("wb") as fh:
            write_po(fh, catalog, width=100, omit_header=False, sort_output=True)
    return report
