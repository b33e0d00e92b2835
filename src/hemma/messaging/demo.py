"""The demo's messages, written through the named actions as the people would, then dated:
- Gunnel Lindgren wrote to the home ward about an hour ago, and waits for an answer; she
  lets her relative read and write her messages, see who comes and read the agreement (not
  her values), and the relative wrote too;
- Elsa Marklund answered Mobila teamet yesterday, and the team read it and answered;
- the staff of Mobila teamet, Medicinkliniken (region) and Hemsjukvården (kommun) write
  to each other about Gunnel (she consents to sharing between them)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import select

from hemma.access.service import subject_for
from hemma.db import Database
from hemma.messaging import service
from hemma.messaging.schemas import MessageCreate, PatientMessageCreate
from hemma.models import Message, MessageThread, Patient, Staff, ThreadKind
from hemma.patients import relatives
from hemma.web.deps import PatientSelf


def _patient(patient_id: uuid.UUID) -> PatientSelf:
    """The patient on their own page (no request: no form token)."""
    return PatientSelf(patient_id, "")


def _dated(message: Message, at: datetime) -> Message:
    message.created_at = at
    if message.due_at is not None:
        message.due_at = service.due_at(at)
    return message


def demo_messages(database: Database, now: datetime) -> None:
    with database.session() as s:
        people = {u: subject_for(s, s.scalar(select(Staff).where(Staff.username == u)))
                  for u in ("sara.nilsson", "eva.marklund", "hanna.lundstrom")}
        sara, eva, hanna = people["sara.nilsson"], people["eva.marklund"], \
            people["hanna.lundstrom"]
        patients = {p.family_name: p for p in s.scalars(select(Patient).where(
            Patient.family_name.in_(("Lindgren", "Marklund"))))}
        gunnel, elsa = patients["Lindgren"], patients["Marklund"]

        # Elsa and Mobila teamet, yesterday: the team wrote, she answered, the team read it
        # and answered; she has read the answer.
        yesterday = now - timedelta(days=1)
        first = service.send(s, eva, elsa.id, MessageCreate(
            body="Hej Elsa! Vi kommer i morgon förmiddag och byter förband på benet. Passar "
                 "det ungefär klockan tio?", to=ThreadKind.PATIENT))
        _dated(first, yesterday - timedelta(hours=3))
        reply = service.patient_send(s, _patient(elsa.id), PatientMessageCreate(
            body="Det passar bra. Kan ni ta med fler kompresser? Jag har bara två kvar.",
            unit_id=eva.unit_id))
        _dated(reply, yesterday - timedelta(hours=2, minutes=10))
        service.mark_read(s, eva, elsa.id, reply.thread_id)
        answer = service.send(s, eva, elsa.id, MessageCreate(
            body="Vi tar med en ask kompresser. Vi ses i morgon!", to=ThreadKind.PATIENT))
        _dated(answer, yesterday - timedelta(hours=1, minutes=40))
        s.flush()
        reply.read_at = yesterday - timedelta(hours=1, minutes=55)
        reply.answered_at = answer.created_at
        first.seen_at = reply.created_at - timedelta(minutes=5)
        answer.seen_at = yesterday + timedelta(hours=1)
        s.get(MessageThread, reply.thread_id).last_message_at = answer.created_at

        # Gunnel wrote to the home ward about an hour ago: unanswered, not yet read.
        waiting = service.patient_send(s, _patient(gunnel.id), PatientMessageCreate(
            body="Hej! Det är rött och ömt runt PICC-linen sedan i morse. Ska jag vara orolig? "
                 "Febern har inte kommit tillbaka."))
        _dated(waiting, now - timedelta(minutes=62))
        s.get(MessageThread, waiting.thread_id).last_message_at = waiting.created_at

        # Gunnel lets her relative in (not to her values), and the relative writes too.
        relative = relatives.current(s, gunnel.id)[0]
        relatives.set_by_patient(s, _patient(gunnel.id), relative.id,
                                 ["messages", "visits", "agreement"])
        relative.shares_changed_at = now - timedelta(days=1)
        by_relative = service.patient_send(s, PatientSelf(
            gunnel.id, "", relative.id, relative.name, frozenset(relative.shares)),
            PatientMessageCreate(body="Hej, det är jag som är Gunnels närstående. Mamma hör "
                                      "dåligt i telefon, så ring gärna mig om PICC-linen: "
                                      "jag är hos henne hela eftermiddagen."))
        _dated(by_relative, now - timedelta(minutes=35))
        s.get(MessageThread, by_relative.thread_id).last_message_at = by_relative.created_at

        # The care team about Gunnel, across region and kommun.
        for who, minutes, body in (
                (eva, 180, "Vi hann inte byta PICC-förbandet i går kväll. Kan ni ta det vid "
                           "20-besöket i dag?"),
                (hanna, 150, "Ja, vi byter förbandet i kväll och tittar på instickstället."),
                (sara, 40, "Gunnel skriver att det är rött runt PICC-linen. Jag ringer henne nu; "
                           "titta extra noga i kväll och hör av er om det ser infekterat ut.")):
            note = service.send(s, who, gunnel.id, MessageCreate(body=body, to=ThreadKind.STAFF))
            _dated(note, now - timedelta(minutes=minutes))
            s.get(MessageThread, note.thread_id).last_message_at = note.created_at
