"""The pathway document (pure): the five built in are valid, export and import give the same
pathway back, and every kind of bad input is refused with an error naming its place."""

from __future__ import annotations

import copy
import json

import pytest

from hemma.kit.errors import Invalid
from hemma.pathways.document import from_columns, read_text, validate, write_text
from hemma.pathways.service import builtin_documents

BUILTIN = {d.code: d for d in builtin_documents()}


def test_five_pathways_are_built_in():
    assert set(BUILTIN) == {"opat", "copd", "heart_failure", "palliative", "general"}
    opat = BUILTIN["opat"]
    iv = opat.visit_templates[0]
    assert (iv.care_kind, iv.organisation_kind, iv.times, iv.duration_minutes, iv.skills) == (
        "iv_antibiotic", "kommun", ["08:00", "14:00", "20:00"], 30, ["iv"])
    assert BUILTIN["heart_failure"].monitoring.rules[0].parameter == "weight"
    for doc in BUILTIN.values():
        assert doc.inclusion_criteria and doc.agreement.if_worse and doc.checklist
        assert doc.homecoming_questions and doc.expected_days >= 1


class _Row:
    def __init__(self, columns):
        self.__dict__.update(columns)


@pytest.mark.parametrize("fmt", ["json", "yaml"])
@pytest.mark.parametrize("code", sorted(BUILTIN))
def test_export_then_import_is_the_same_pathway(code, fmt):
    columns = BUILTIN[code].columns()
    text = write_text(from_columns(_Row(columns)), fmt)
    assert read_text(text, fmt).columns() == columns


def _doc():
    return copy.deepcopy(from_columns(_Row(BUILTIN["opat"].columns())))


def _fields(exc: Invalid) -> set[str]:
    return {e.field for e in exc.errors}


@pytest.mark.parametrize("change, field", [
    (lambda d: d["monitoring"]["schedule"].append("25:00"), "monitoring.schedule.3"),
    (lambda d: d["monitoring"]["schedule"].append("8"), "monitoring.schedule.3"),
    (lambda d: d["monitoring"].update(schedule=["08:00", "08:00"]), "monitoring"),
    (lambda d: d["monitoring"].update(tolerance_minutes=0), "monitoring.tolerance_minutes"),
    (lambda d: d["monitoring"]["rules"][0].update(parameter="shoe_size"),
     "monitoring.rules.0.parameter"),
    (lambda d: d["monitoring"]["rules"][0].update(value=1e300), "monitoring.rules.0.value"),
    (lambda d: d["visit_templates"][0].update(times=[]), "visit_templates.0.times"),
    (lambda d: d["visit_templates"][0].update(care_kind="massage"), "visit_templates.0.care_kind"),
    (lambda d: d["visit_templates"][0].update(duration_minutes=0),
     "visit_templates.0.duration_minutes"),
    (lambda d: d["agreement"]["if_worse"][0].update(action="panic"), "agreement.if_worse.0.action"),
    (lambda d: d["checklist"][0].update(category="food"), "checklist.0.category"),
    (lambda d: d["checklist"][0].update(hours_before=-1), "checklist.0.hours_before"),
    (lambda d: d.update(expected_days=0), "expected_days"),
    (lambda d: d.update(code="Has Spaces"), "code"),
    (lambda d: d.update(name=""), "name"),
    (lambda d: d.update(colour="red"), "colour"),
    (lambda d: d["inclusion_criteria"].append(dict(d["inclusion_criteria"][0])), ""),
    (lambda d: d["inclusion_criteria"][0].update(text="a\x00b"), "inclusion_criteria.0.text"),
])
def test_a_broken_document_is_refused_naming_the_field(change, field):
    doc = _doc()
    change(doc)
    with pytest.raises(Invalid) as exc:
        validate(doc)
    assert field in _fields(exc.value) or (field == "" and exc.value.errors), exc.value.errors


@pytest.mark.parametrize("text, fmt", [
    ("code: [unclosed", "yaml"),
    ("- just\n- a list\n", "yaml"),
    ("{\"code\": ", "json"),
    ("[1, 2]", "json"),
    ("42", "yaml"),
    ("", "yaml"),
])
def test_text_that_is_no_pathway_is_refused(text, fmt):
    with pytest.raises(Invalid) as exc:
        read_text(text, fmt)
    assert exc.value.errors[0].field in ("document", "body")


def test_yaml_errors_say_the_line():
    with pytest.raises(Invalid) as exc:
        read_text("code: opat\nname: [x\n", "yaml")
    assert exc.value.params["line"] in (2, 3)


def test_json_numbers_too_long_are_named():
    doc = _doc()
    text = json.dumps(doc).replace('"expected_days": 10', '"expected_days": ' + "9" * 5000)
    with pytest.raises(Invalid) as exc:
        read_text(text, "json")
    assert "document.expected_days" in _fields(exc.value)
