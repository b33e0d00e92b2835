"""Every figure has its words, and the documentation lists every figure."""

from pathlib import Path

from hemma.followup import measures as m
from hemma.followup.definitions import BY_KEY, DEFINITIONS, GROUPS


def test_every_figure_has_a_definition_and_every_definition_a_figure():
    figures = m.figures(m.Day(), period_days=30, beds=1, bed_day_cost=1)
    assert set(figures) == set(BY_KEY)
    assert len(BY_KEY) == len(DEFINITIONS)
    assert {d.group for d in DEFINITIONS} == set(GROUPS)


def test_the_documentation_lists_every_figure():
    text = (Path(__file__).resolve().parents[2] / "docs" / "followup.md").read_text()
    for d in DEFINITIONS:
        assert f"`{d.key}`" in text, d.key
