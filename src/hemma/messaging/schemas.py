"""Messages on the way in. The text's length limit is a setting
(`HEMMA_MESSAGE_MAX_CHARS`), checked by the action; the schema bounds what may reach it."""

from __future__ import annotations

from pydantic import Field

from hemma.kit.validation import DbId, Schema, Text
from hemma.models import ThreadKind

# Whatever the setting says, nothing longer than this is read at all.
BODY_CEILING = 20_000


class MessageCreate(Schema):
    """A staff member's message: to the patient (from their own unit), or to the rest of
    the care team ("staff")."""

    body: Text = Field(default="", max_length=BODY_CEILING)
    to: ThreadKind = ThreadKind.PATIENT


class PatientMessageCreate(Schema):
    """The patient's message to a unit of their care team (their home ward's, unless they
    answer another unit's thread)."""

    body: Text = Field(default="", max_length=BODY_CEILING)
    unit_id: DbId | None = None
