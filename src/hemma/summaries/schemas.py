"""The discharge summary on the way in."""

from __future__ import annotations

from pydantic import Field

from hemma.kit.validation import DbId, Schema, Text


class SummaryUpdate(Schema):
    text: Text | None = Field(default=None, max_length=8000)  # the physician's summary
    next_steps: Text | None = Field(default=None, max_length=2000)  # for the patient
    refresh: bool = False  # gather the facts from the episode again


class SummarySign(Schema):
    # The units that take over (primary care, the municipality): each gets it in its inbox.
    receivers: list[DbId] = Field(min_length=1, max_length=10)
