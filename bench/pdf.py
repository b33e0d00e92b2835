"""Agreement PDF benchmark: how long does writing the agreement's PDF take? The requirement
is p95 < 1 s (a nurse prints it at the bedside, the patient waits).

    .venv/bin/python bench/pdf.py [--runs 200]

It builds the agreement from the built-in OPAT pathway's template (with phone numbers and
measurement times, as a saved version holds them), lengthened with a patient's own lines
like a real edited agreement, turns it into the text the patient reads (the same
`agreements.service.sections` the route uses, in Swedish) and times `kit.pdf.document` end
to end: the first call (fonts registered) apart, then p50, p95 and max of the rest.

This prints figures; it is not a test. It exits 0 whatever the figures are.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Run from a checkout even when the package is not installed into the interpreter.
sys.path.insert(0, str(ROOT / "src"))

from hemma.agreements import service  # noqa: E402
from hemma.kit import pdf  # noqa: E402
from hemma.pathways.service import builtin_documents  # noqa: E402

REQUIRED_P95 = 1.0  # seconds


def _content() -> dict:
    opat = next(d for d in builtin_documents() if d.code == "opat").columns()
    content = service.from_template(type("P", (), opat)())
    content["patient_tasks"] += [f"Egen uppgift {i}: ta tabletterna enligt listan, väg dig på "
                                 f"morgonen och skriv upp vikten i häftet" for i in range(8)]
    content["measure_times"] = list(opat.get("schedule") or ["08:00", "14:00", "20:00"])
    content["phones"] = {"day": "070-111 11 11", "night": "070-222 22 22"}
    return content


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args(argv)
    content = _content()
    sections = service.sections(content)  # in the default language, Swedish
    title = "Överenskommelse om din vård hemma"
    subtitle = "Åsa Öberg · Intravenös antibiotika i hemmet · Medicinkliniken · version 3, 2026-05-04"
    start = time.perf_counter()
    first_bytes = pdf.document(title, subtitle, sections, footer="Utskriven 2026-05-04 10:12.")
    first = time.perf_counter() - start
    times = []
    for _ in range(args.runs):
        start = time.perf_counter()
        pdf.document(title, subtitle, sections, footer="Utskriven 2026-05-04 10:12.")
        times.append(time.perf_counter() - start)
    times.sort()
    p50 = statistics.median(times)
    p95 = times[min(len(times) - 1, int(round(0.95 * len(times))) - 1)]
    print(f"agreement PDF: {len(first_bytes) / 1024:.0f} KB, {len(sections)} sections")
    print(f"first call (fonts registered): {first * 1000:.1f} ms")
    print(f"runs={args.runs} p50={p50 * 1000:.1f} ms p95={p95 * 1000:.1f} ms "
          f"max={times[-1] * 1000:.1f} ms")
    print(f"requirement p95 < {REQUIRED_P95:.0f} s: {'met' if p95 < REQUIRED_P95 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
