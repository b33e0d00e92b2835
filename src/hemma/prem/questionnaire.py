"""The questionnaire itself, pure: its questions, the words of its 1–5 scale, what a valid set
of answers is, and how many gave each answer (a distribution, never one patient).

The keys are stable: stored answers are `{key: 1..5}` and follow-up counts them by key, so a
question's wording may be improved in the catalogs but a question that asks something else
needs a new key (and a new questionnaire version)."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from hemma.kit.errors import FieldError, Invalid
from hemma.kit.text import N_
from hemma.kit.validation import has_control_characters

VERSION = "prem-1"
COMMENT_MAX = 2000
LOWEST, HIGHEST = 1, 5


@dataclass(frozen=True)
class Question:
    key: str
    text: str  # an English msgid, translated where it is shown


QUESTIONS: tuple[Question, ...] = (
    Question("safe", N_("I felt safe being cared for at home")),
    Question("who_to_call", N_("I knew whom to call if something happened")),
    Question("listened", N_("The staff listened to me and my relatives")),
    Question("informed", N_("I got the information I needed about my care")),
    Question("again", N_("I would choose care at home again")),
)
KEYS: tuple[str, ...] = tuple(q.key for q in QUESTIONS)
# Every version Hemma has asked, with its question keys: answers are read by their version.
VERSIONS: dict[str, tuple[str, ...]] = {VERSION: KEYS}

# The scale's words. The form shows the two ends; every step has its words for a screen
# reader and for staff reading one patient's answers.
SCALE: dict[int, str] = {
    1: N_("Not true at all"),
    2: N_("Mostly not true"),
    3: N_("Partly true"),
    4: N_("Mostly true"),
    5: N_("Completely true"),
}


def question(key: str) -> Question:
    return next(q for q in QUESTIONS if q.key == key)


def _is_step(value: Any) -> bool:
    # A bool is an int in Python: True is not an answer of 1.
    return isinstance(value, int) and not isinstance(value, bool) and LOWEST <= value <= HIGHEST


def validate(answers: Mapping[str, Any] | None, comment: str | None = None
             ) -> tuple[dict[str, int], str | None]:
    """The answers and comment as they are stored, or Invalid naming every field that is
    wrong: an unknown question (`answers.<key>`), a value that is not a whole number from 1
    to 5 (`answers.<key>`), no question answered at all (`answers`), a comment that is too
    long or holds control characters (`comment`). Every question may be left out."""
    errors: list[FieldError] = []
    clean: dict[str, int] = {}
    if answers is not None and not isinstance(answers, Mapping):
        raise Invalid(N_("Expected an object"), field="answers")
    for key, value in (answers or {}).items():
        name = f"answers.{str(key)[:40]}"
        if key not in KEYS:
            errors.append(FieldError(name, N_("Unknown question")))
        elif value is None:
            continue  # left out
        elif not _is_step(value):
            errors.append(FieldError(name, N_("Choose a number from %(low)s to %(high)s"),
                                     {"low": LOWEST, "high": HIGHEST}))
        else:
            clean[key] = value
    if not clean and not errors:
        errors.append(FieldError("answers", N_("Answer at least one question")))
    text = None
    if comment is not None:
        if not isinstance(comment, str):
            errors.append(FieldError("comment", N_("Enter text")))
        else:
            text = unicodedata.normalize("NFC", comment.strip()) or None
            if text is not None and len(text) > COMMENT_MAX:
                errors.append(FieldError("comment", N_("At most %(max_length)s characters"),
                                         {"max_length": COMMENT_MAX}))
            elif text is not None and has_control_characters(text):
                errors.append(FieldError("comment",
                                         N_("Contains characters that are not allowed")))
    if errors:
        raise Invalid(errors=errors)
    # Kept in the questionnaire's order, whatever order they came in.
    return {k: clean[k] for k in KEYS if k in clean}, text


def distribution(responses: Iterable[Any], version: str = VERSION
                 ) -> dict[str, dict[int | str, int | float | None]]:
    """How many gave each answer to each question, for follow-up:
    `{key: {1: n, 2: n, 3: n, 4: n, 5: n, "n": answered, "mean": mean or None}}`, every
    question of the version present (a question nobody answered has n 0 and mean None).

    `responses` are answer dicts (`{key: 1..5}`) or rows with `.answers` (PremResponse); a
    row of another questionnaire version is left out, as are unknown keys and values that
    are not 1–5 (a question left out is not a low answer)."""
    keys = VERSIONS[version]
    counts = {k: dict.fromkeys(range(LOWEST, HIGHEST + 1), 0) for k in keys}
    for response in responses:
        if hasattr(response, "answers"):
            if getattr(response, "questionnaire", version) != version:
                continue
            answers = response.answers
        else:
            answers = response
        for key, value in (answers or {}).items():
            if key in counts and _is_step(value):
                counts[key][value] += 1
    out: dict[str, dict[int | str, int | float | None]] = {}
    for key in keys:
        steps = counts[key]
        n = sum(steps.values())
        mean = sum(step * count for step, count in steps.items()) / n if n else None
        out[key] = {**steps, "n": n, "mean": mean}
    return out
