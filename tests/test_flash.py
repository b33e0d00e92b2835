"""Every confirmation a page redirects to ("?done=…") has words: a nurse who saved values or a
round decision is told so, not left guessing."""

from __future__ import annotations

import re
from pathlib import Path

from hemma.i18n.labels import FLASH

SRC = Path(__file__).resolve().parents[1] / "src" / "hemma"


def test_every_done_code_a_route_sends_has_a_message():
    codes = set()
    for path in SRC.rglob("*.py"):
        for code in re.findall(r"[?&]done=([a-z_]+)(?![a-z_{])", path.read_text()):
            codes.add(code)
    # Codes built at run time: the visit's new status, the alert action's name.
    for status in ("started", "done", "not_done"):
        codes.add(f"visit_{status}")
    missing = sorted(c for c in codes if c not in FLASH)
    assert not missing, missing
