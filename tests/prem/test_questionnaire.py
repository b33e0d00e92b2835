"""The questionnaire, pure: what a valid set of answers is (every mistake named by its
field), and how many gave each answer (for follow-up, never one patient)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from hemma.kit.errors import Invalid
from hemma.prem.questionnaire import KEYS, QUESTIONS, SCALE, VERSION, distribution, validate


def _fields(exc: Invalid) -> dict[str, str]:
    return {e.field: e.message for e in exc.errors}


def test_the_questionnaire_is_five_stable_questions_on_a_scale_of_five():
    assert VERSION == "prem-1"
    assert KEYS == ("safe", "who_to_call", "listened", "informed", "again")
    assert QUESTIONS[0].text == "I felt safe being cared for at home"
    assert sorted(SCALE) == [1, 2, 3, 4, 5]
    assert (SCALE[1], SCALE[5]) == ("Not true at all", "Completely true")


def test_valid_answers_are_kept_in_order_and_left_out_questions_stay_out():
    answers, comment = validate({"again": 5, "safe": 1, "informed": None}, "  Tack!  ")
    assert answers == {"safe": 1, "again": 5}
    assert list(answers) == ["safe", "again"]
    assert comment == "Tack!"
    assert validate({"listened": 3}, "   ") == ({"listened": 3}, None)
    assert validate({"listened": 3}) == ({"listened": 3}, None)


@pytest.mark.parametrize("value", [0, 6, -1, 3.0, 2.5, "3", True, False, [3], {"v": 3}])
def test_a_value_that_is_not_a_whole_number_from_1_to_5_is_named(value):
    with pytest.raises(Invalid) as e:
        validate({"safe": 4, "who_to_call": value})
    assert _fields(e.value) == {"answers.who_to_call": "Choose a number from %(low)s to %(high)s"}
    assert e.value.errors[0].params == {"low": 1, "high": 5}


def test_every_mistake_is_named_at_once():
    with pytest.raises(Invalid) as e:
        validate({"safe": 9, "mood": 3}, "x" * 2001)
    assert _fields(e.value) == {"answers.safe": "Choose a number from %(low)s to %(high)s",
                                "answers.mood": "Unknown question",
                                "comment": "At most %(max_length)s characters"}


def test_at_least_one_question_must_be_answered():
    for nothing in ({}, None, {"safe": None, "again": None}):
        with pytest.raises(Invalid) as e:
            validate(nothing, "Bara en kommentar")
        assert _fields(e.value) == {"answers": "Answer at least one question"}
    with pytest.raises(Invalid) as e:
        validate(["safe", 3])
    assert _fields(e.value) == {"answers": "Expected an object"}


def test_the_comment_is_bounded_and_plain_text():
    assert validate({"safe": 5}, "å" * 2000)[1] == "å" * 2000
    # Composed as typed on a Mac (a + ring) or a phone (å): stored the same.
    assert validate({"safe": 5}, "sa\u030ak")[1] == "såk"
    with pytest.raises(Invalid) as e:
        validate({"safe": 5}, "nul\x00byte")
    assert _fields(e.value) == {"comment": "Contains characters that are not allowed"}
    with pytest.raises(Invalid) as e:
        validate({"safe": 5}, 12)
    assert _fields(e.value) == {"comment": "Enter text"}


def test_a_distribution_counts_each_answer_per_question():
    responses = [
        {"safe": 5, "who_to_call": 4, "listened": 5, "informed": 2},
        {"safe": 4, "who_to_call": 4, "again": 5},
        {"safe": 5, "who_to_call": 1, "informed": None},
        {"safe": 2, "mood": 5, "again": 7},  # an unknown key and a value out of range
    ]
    d = distribution(responses)
    assert list(d) == list(KEYS)
    assert d["safe"] == {1: 0, 2: 1, 3: 0, 4: 1, 5: 2, "n": 4, "mean": 4.0}
    assert d["who_to_call"] == {1: 1, 2: 0, 3: 0, 4: 2, 5: 0, "n": 3, "mean": 3.0}
    assert d["listened"] == {1: 0, 2: 0, 3: 0, 4: 0, 5: 1, "n": 1, "mean": 5.0}
    assert d["informed"] == {1: 0, 2: 1, 3: 0, 4: 0, 5: 0, "n": 1, "mean": 2.0}
    assert d["again"] == {1: 0, 2: 0, 3: 0, 4: 0, 5: 1, "n": 1, "mean": 5.0}


def test_a_distribution_of_nothing_and_of_rows():
    assert distribution([])["safe"] == {1: 0, 2: 0, 3: 0, 4: 0, 5: 0, "n": 0, "mean": None}
    rows = [SimpleNamespace(questionnaire="prem-1", answers={"safe": 3, "again": 4}),
            SimpleNamespace(questionnaire="prem-1", answers={"safe": 4}),
            SimpleNamespace(questionnaire="prem-0", answers={"safe": 1})]  # another version
    d = distribution(rows)
    assert d["safe"] == {1: 0, 2: 0, 3: 1, 4: 1, 5: 0, "n": 2, "mean": 3.5}
    assert d["again"]["n"] == 1 and d["who_to_call"]["mean"] is None
