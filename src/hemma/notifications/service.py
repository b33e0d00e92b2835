"""Telling patients and relatives, outside Hemma, that a message waits for them: "Du har ett
nytt meddelande från Medicinkliniken." and nothing more — never a value, a diagnosis, the
message itself, or (to a relative) anything about the patient. Staff are not sent notices:
they have the live inbox.

`notify_new_message()` queues the notice in the caller's transaction (ids only in the
outbox's payload); the worker's handler below looks up the recipient's address and language
when it delivers, chooses the channel (e-mail, else SMS, else the log) and records what it
sent in `notices`."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from hemma.config import get_settings
from hemma.db import insert_ignoring_conflict
from hemma.i18n import DEFAULT_LANGUAGE, LANGUAGES, translations
from hemma.jobs import outbox
from hemma.kit.text import N_
from hemma.models import OutboxMessage, Patient, Relative, SentNotice, Unit
from hemma.notifications.transports import Notice, Transport, Transports, from_settings, mask

log = logging.getLogger("hemma.notifications")

TOPIC = "notice.new_message"

SUBJECT = N_("New message in Hemma")
NEW_MESSAGE = N_("You have a new message from %(unit)s.")
LOG_IN = N_("Log in at %(url)s to read it.")


def notify_new_message(db: Session, *, patient_id: uuid.UUID, from_unit_id: int,
                       relative_id: uuid.UUID | None = None) -> None:
    """Queue a notice to the patient (or, with `relative_id`, to that relative of theirs)
    that `from_unit_id` wrote to them. Call it inside the action that saved the message:
    the notice goes only if that commits. The payload holds ids only, never text."""
    payload: dict = {"patient_id": str(patient_id), "from_unit_id": int(from_unit_id)}
    if relative_id is not None:
        payload["relative_id"] = str(relative_id)
    outbox.enqueue(db, TOPIC, payload)


@dataclass(frozen=True)
class Recipient:
    kind: str  # "patient" or "relative"
    id: uuid.UUID
    email: str | None
    phone: str | None
    language: str


def choose(recipient: Recipient, transports: Transports) -> tuple[Transport, str | None]:
    """The channel and address: e-mail when there is an address and SMTP is configured,
    else SMS when there is a phone number and an SMS provider, else the log (which is
    given whatever address there is, to say where a notice would have gone)."""
    if recipient.email and transports.email is not None:
        return transports.email, recipient.email
    if recipient.phone and transports.sms is not None:
        return transports.sms, recipient.phone
    return transports.log, recipient.email or recipient.phone


def language_of(code: str | None) -> str:
    """The notice's language: the recipient's when Hemma speaks it, else Swedish."""
    return code if code in LANGUAGES else DEFAULT_LANGUAGE


def new_message_notice(to: str | None, unit_name: str, public_url: str,
                       language: str) -> Notice:
    """The notice's words, in `language`: who wrote, and where to read it when Hemma has a
    public address. Nothing else goes in."""
    words = translations(language)
    text = words.gettext(NEW_MESSAGE) % {"unit": unit_name}
    if public_url:
        text += " " + words.gettext(LOG_IN) % {"url": public_url}
    return Notice(to=to or "", subject=words.gettext(SUBJECT), text=text, language=language)


def _recipient(db: Session, patient_id: uuid.UUID, relative_id: str | None) -> Recipient | None:
    patient = db.get(Patient, patient_id)
    if patient is None:
        return None
    if relative_id is None:
        return Recipient("patient", patient.id, patient.email, patient.phone,
                         language_of(patient.language))
    relative = db.get(Relative, uuid.UUID(relative_id))
    if relative is None or relative.patient_id != patient.id or relative.removed_at is not None:
        return None  # removed since (or never the patient's): nobody to tell
    if not relative.may_receive_information and "messages" not in (relative.shares or ()):
        # The patient has not allowed the team to tell this relative anything; that a unit
        # wrote to them is something.
        log.info("no notice to relative %s: the patient has not allowed information",
                 relative.id)
        return None
    # Relatives have no language of their own in Hemma: Swedish.
    return Recipient("relative", relative.id, relative.email, relative.phone,
                     DEFAULT_LANGUAGE)


@outbox.handler(TOPIC)
def _deliver_new_message(db: Session, message: OutboxMessage, now: datetime) -> None:
    payload = message.payload
    recipient = _recipient(db, uuid.UUID(payload["patient_id"]), payload.get("relative_id"))
    unit = db.get(Unit, int(payload["from_unit_id"]))
    if recipient is None or unit is None:
        return
    settings = get_settings()
    transport, address = choose(recipient, from_settings(settings))
    notice = new_message_notice(address, unit.name, settings.public_url, recipient.language)
    # Record first, then send, in the delivery's transaction (the message is marked
    # delivered in the same one). The row is unique on outbox id and recipient: should a
    # delivery of this message ever have committed its row already, nothing is sent or
    # recorded twice. A send that fails raises: the transaction rolls back, this row with
    # it, and the outbox tries again once the claim's lease has run out.
    #
    # Handing a notice to a mail server or an SMS provider cannot be made atomic with our
    # commit: a worker that dies after the send and before its commit leaves the message
    # undelivered, and it is sent again (at least once towards the transport; recorded
    # once). The window is the one commit after the send. While a worker delivers it holds
    # the outbox row (FOR UPDATE on PostgreSQL, the write lock on SQLite), so no other worker
    # can claim the message in the middle of a send, however slow; after a crash the lease
    # (30 s) keeps others off until it runs out, and the retry then finds the row unlocked.
    recorded = insert_ignoring_conflict(db, SentNotice, [{
        "outbox_id": message.id, "patient_id": uuid.UUID(payload["patient_id"]),
        "recipient_kind": recipient.kind, "recipient_id": recipient.id,
        "channel": transport.channel, "address": mask(address)[:60] or None, "sent_at": now,
    }], ["outbox_id", "recipient_kind", "recipient_id"])
    if not recorded:
        return
    transport.send(notice)
