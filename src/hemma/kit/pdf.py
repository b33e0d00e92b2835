"""A small PDF writer for what patients take home (the agreement, later the discharge
summary): a title, a line under it, and sections of paragraphs and bullet lists, in large
type. Domain-free: it knows nothing of patients, only of text.

Large type because the readers are often old and ill: 15 pt body text and 24 pt headings
(the Swedish Agency for Participation advises at least 14 pt for printed patient
information). The font is embedded, so å ä ö (and a dash or an arrow) print the same on
every printer: DejaVu Sans where the system has it, else Bitstream Vera, which ships with
ReportLab."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from functools import lru_cache
from xml.sax.saxutils import escape

import reportlab
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import KeepTogether, ListFlowable, ListItem, Paragraph, SimpleDocTemplate, Spacer

BODY_PT = 15
HEADING_PT = 19
TITLE_PT = 24

# A section's body: paragraphs (str) and bullet lists (a list of str), in order.
Block = str | Sequence[str]
Section = tuple[str, Sequence[Block]]

_DEJAVU = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu",
           "/usr/share/fonts/TTF", "/Library/Fonts")


@lru_cache(maxsize=1)
def _fonts() -> tuple[str, str]:
    """Register the regular and bold font once per process; their names."""
    for folder in _DEJAVU:
        regular = os.path.join(folder, "DejaVuSans.ttf")
        bold = os.path.join(folder, "DejaVuSans-Bold.ttf")
        if os.path.exists(regular) and os.path.exists(bold):
            pdfmetrics.registerFont(TTFont("HemmaSans", regular))
            pdfmetrics.registerFont(TTFont("HemmaSans-Bold", bold))
            return "HemmaSans", "HemmaSans-Bold"
    bundled = os.path.join(os.path.dirname(reportlab.__file__), "fonts")
    pdfmetrics.registerFont(TTFont("HemmaSans", os.path.join(bundled, "Vera.ttf")))
    pdfmetrics.registerFont(TTFont("HemmaSans-Bold", os.path.join(bundled, "VeraBd.ttf")))
    return "HemmaSans", "HemmaSans-Bold"


@lru_cache(maxsize=1)
def _styles() -> dict[str, ParagraphStyle]:
    regular, bold = _fonts()
    return {
        "title": ParagraphStyle("title", fontName=bold, fontSize=TITLE_PT,
                                leading=TITLE_PT * 1.25, spaceAfter=4),
        "subtitle": ParagraphStyle("subtitle", fontName=regular, fontSize=BODY_PT,
                                   leading=BODY_PT * 1.4, spaceAfter=10),
        "heading": ParagraphStyle("heading", fontName=bold, fontSize=HEADING_PT,
                                  leading=HEADING_PT * 1.3, spaceBefore=12, spaceAfter=4),
        "body": ParagraphStyle("body", fontName=regular, fontSize=BODY_PT,
                               leading=BODY_PT * 1.4, spaceAfter=4),
        "footer": ParagraphStyle("footer", fontName=regular, fontSize=11, leading=14),
    }


def _text(value: str) -> str:
    """Plain text as a Paragraph's markup: escaped, so nothing typed is read as a tag, and
    line breaks kept."""
    return escape(value).replace("\n", "<br/>")


def document(title: str, subtitle: str | None, sections: Sequence[Section], *,
             footer: str | None = None) -> bytes:
    """A PDF of `title`, `subtitle` and `sections` [(heading, [paragraph or [bullet, …]])]."""
    styles = _styles()
    story: list = [Paragraph(_text(title), styles["title"])]
    if subtitle:
        story.append(Paragraph(_text(subtitle), styles["subtitle"]))
    for heading, blocks in sections:
        parts: list = [Paragraph(_text(heading), styles["heading"])]
        for block in blocks:
            if isinstance(block, str):
                parts.append(Paragraph(_text(block), styles["body"]))
            elif block:
                parts.append(ListFlowable(
                    [ListItem(Paragraph(_text(item), styles["body"]), leftIndent=18)
                     for item in block],
                    bulletType="bullet", bulletFontSize=BODY_PT, leftIndent=18))
        # A heading is never left alone at the bottom of a page.
        story.append(KeepTogether(parts[:2]))
        story.extend(parts[2:])
    if footer:
        story += [Spacer(1, 8 * mm), Paragraph(_text(footer), styles["footer"])]
    out = io.BytesIO()
    # invariant: no creation time or random file id in the file, so the same text gives the
    # same bytes (and nothing in it identifies the database it came from).
    doc = SimpleDocTemplate(out, pagesize=A4, title=title, author="", subject="", creator="Hemma",
                            leftMargin=20 * mm, rightMargin=20 * mm, topMargin=18 * mm,
                            bottomMargin=18 * mm, invariant=1)
    doc.build(story)
    return out.getvalue()
