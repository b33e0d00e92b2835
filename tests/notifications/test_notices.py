"""A new message's notice goes through the outbox to a real SMTP server on loopback (or an SMS
provider, or only the log): exactly once, to the right person, in their language, saying who
wrote and nothing else; a mail server that is down leaves the message in the outbox until it
is back."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from hemma.config import Settings, configure
from hemma.jobs.outbox import lease
from hemma.jobs.worker import Worker
from hemma.kit.time import utcnow
from hemma.models import OutboxMessage, Patient, Relative, SentNotice
from hemma.notifications.service import TOPIC, notify_new_message
from tests.conftest import TEST_SECRET
from tests.notifications.servers import SmtpServer, sms_provider

PUBLIC_URL = "https://hemma.example.se/p"
SWEDISH = ("Du har ett nytt meddelande från Medicinkliniken. "
           f"Logga in på {PUBLIC_URL} för att läsa det.\n")
# What the patient's record holds that no notice may carry.
VALUES = dict(respiration_rate=26, spo2=90, pulse=131, systolic_bp=95, temperature=38.5,
              consciousness="A", on_oxygen=False)


@pytest.fixture
def smtp():
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def settings(db_url, tmp_path, smtp):
    """The test's settings with a mail server (theirs for every test here)."""
    settings = Settings(database_url=db_url, secret_key=TEST_SECRET, data_dir=tmp_path,
                        smtp_host="127.0.0.1", smtp_port=smtp.port,
                        smtp_sender="Hemma <noreply@hemma.example.se>", smtp_starttls=False,
                        public_url=PUBLIC_URL)
    configure(settings)
    yield settings
    configure(None)


def _patient(world, database, *, email="anna.andersson@example.se", phone="070-174 06 05",
             language="sv"):
    pid = world.patient(name="Anna", family="Andersson", unit="med")
    world.episode(pid, state="admitted")
    with database.session() as s:
        patient = s.get(Patient, pid)
        patient.email, patient.phone, patient.language = email, phone, language
    return pid


def _relative(database, pid, *, allowed=True, email="bo.andersson@example.se",
              phone="070-555 12 34"):
    with database.session() as s:
        relative = Relative(patient_id=pid, name="Bo Andersson", relation="son", email=email,
                            phone=phone, may_receive_information=allowed,
                            documented_by_unit_id=s.get(Patient, pid).registered_by_unit_id,
                            created_at=utcnow())
        s.add(relative)
        s.flush()
        return relative.id


def _notify(database, world, pid, relative_id=None, unit="med"):
    with database.session() as s:
        notify_new_message(s, patient_id=pid, from_unit_id=world.units[unit],
                           relative_id=relative_id)


def _notices(database):
    with database.session() as s:
        return [(n.recipient_kind, n.recipient_id, n.channel, n.address) for n in
                s.scalars(select(SentNotice).order_by(SentNotice.id))]


def _outbox(database):
    with database.session() as s:
        return s.scalars(select(OutboxMessage).where(OutboxMessage.topic == TOPIC)).all()


def test_a_new_message_is_mailed_once_with_the_generic_text_only(world, database, as_user,
                                                                 smtp):
    pid = _patient(world, database)
    # Health information in the record: values that raise an alert (queued in the outbox
    # beside the notice).
    sara = as_user("sara")
    r = sara.post(f"/api/v1/patients/{pid}/observations", json={
        "client_id": str(uuid.uuid4()), "measured_at": utcnow().isoformat(), **VALUES})
    assert r.status_code == 201, r.text
    _notify(database, world, pid)
    with database.session() as s:
        (message,) = s.scalars(select(OutboxMessage).where(OutboxMessage.topic == TOPIC))
        # The queue holds ids only: no address, no name, no text.
        assert message.payload == {"patient_id": str(pid), "from_unit_id": world.units["med"]}
        personnummer = s.get(Patient, pid).personnummer

    worker = Worker(database)
    report = worker.tick(utcnow() + timedelta(seconds=1))
    assert report.failed == 0 and report.delivered >= 2  # the alert and the notice

    (mail,) = smtp.mails
    assert mail.recipients == ["anna.andersson@example.se"]
    assert mail.sender == "noreply@hemma.example.se"
    assert mail.message["Subject"] == "Nytt meddelande i Hemma"
    assert mail.text == SWEDISH  # exactly this: who wrote, where to read it
    # Nothing else in the mail: every header is one of these, none carrying the record.
    message = mail.message
    assert set(message.keys()) == {"From", "To", "Subject", "Date", "Message-ID",
                                   "Auto-Submitted", "Content-Type",
                                   "Content-Transfer-Encoding", "MIME-Version",
                                   "Content-Language"}
    assert message["From"] == "Hemma <noreply@hemma.example.se>"
    for secret in ("Anna", "Andersson", personnummer, personnummer[2:8], "OPAT",
                   "Antibiotika", "38", "131", "NEWS"):
        assert secret not in mail.text and secret not in message["Subject"]
    assert _notices(database) == [("patient", pid, "email", "a…@example.se")]

    # Delivered: another tick (however much later) sends nothing more.
    worker.tick(utcnow() + lease() * 3)
    assert len(smtp.mails) == 1
    assert len(_notices(database)) == 1
    (message,) = _outbox(database)
    assert message.delivered_at is not None and message.last_error is None


def test_a_mail_server_that_is_down_keeps_the_notice_in_the_outbox(world, database, smtp):
    pid = _patient(world, database)
    smtp.stop()
    _notify(database, world, pid)
    t0 = utcnow()
    worker = Worker(database)
    report = worker.tick(t0 + timedelta(seconds=1))
    assert (report.delivered, report.failed) == (0, 1)
    (message,) = _outbox(database)
    assert message.delivered_at is None
    assert message.last_error.startswith(f"SMTP 127.0.0.1:{smtp.port}: ")
    assert "anna" not in message.last_error.lower()
    assert _notices(database) == []  # rolled back with the failed send

    smtp.start()  # the server is back on the same port
    # Within the failed claim's lease nobody takes the message again…
    assert worker.tick(t0 + timedelta(seconds=2)).delivered == 0
    assert smtp.mails == []
    # …after it, the next tick delivers it, once.
    report = worker.tick(t0 + lease() + timedelta(seconds=2))
    assert (report.delivered, report.failed) == (1, 0)
    (mail,) = smtp.mails
    assert mail.recipients == ["anna.andersson@example.se"] and mail.text == SWEDISH
    (message,) = _outbox(database)
    assert message.delivered_at is not None and message.attempts == 2
    assert _notices(database) == [("patient", pid, "email", "a…@example.se")]
    worker.tick(t0 + lease() * 4)
    assert len(smtp.mails) == 1


def test_the_notice_is_in_the_patients_language(world, database, smtp):
    pid = _patient(world, database, language="en")
    other = _patient(world, database, email="per@example.se", language="fi")  # not spoken
    _notify(database, world, pid, unit="hsv")
    _notify(database, world, other, unit="hsv")
    Worker(database).tick(utcnow() + timedelta(seconds=1))
    english, finnish = sorted(smtp.mails, key=lambda m: m.recipients[0])
    assert english.message["Subject"] == "New message in Hemma"
    assert english.message["Content-Language"] == "en"
    assert english.text == ("You have a new message from Hemsjukvården. "
                            f"Log in at {PUBLIC_URL} to read it.\n")
    assert finnish.message["Content-Language"] == "sv"
    assert finnish.text.startswith("Du har ett nytt meddelande från Hemsjukvården.")


def test_a_relative_with_the_patients_permission_gets_the_notice(world, database, smtp):
    pid = _patient(world, database, language="en")
    bo = _relative(database, pid)
    _notify(database, world, pid, relative_id=bo)
    Worker(database).tick(utcnow() + timedelta(seconds=1))
    (mail,) = smtp.mails
    assert mail.recipients == ["bo.andersson@example.se"]  # not the patient
    # In Swedish (relatives have no language of their own in Hemma), and not a word about
    # the patient: no name, no number.
    assert mail.text == SWEDISH
    assert "Anna" not in mail.raw.decode("utf-8", "replace")
    assert _notices(database) == [("relative", bo, "email", "b…@example.se")]


def test_no_notice_to_a_relative_without_permission_or_not_the_patients(world, database, smtp):
    pid = _patient(world, database)
    not_allowed = _relative(database, pid, allowed=False)
    someone_elses = _relative(database, _patient(world, database, email="x@example.se"))
    _notify(database, world, pid, relative_id=not_allowed)
    _notify(database, world, pid, relative_id=someone_elses)
    _notify(database, world, pid, relative_id=uuid.uuid4())  # removed since
    report = Worker(database).tick(utcnow() + timedelta(seconds=1))
    assert (report.delivered, report.failed) == (3, 0)  # done with: nothing to send
    assert smtp.mails == [] and _notices(database) == []


def test_sms_when_there_is_no_email_address(world, database, settings, smtp):
    pid = _patient(world, database, email=None)
    with sms_provider() as provider:
        settings.sms_url, settings.sms_token = provider.url, "tok-123"
        _notify(database, world, pid)
        Worker(database).tick(utcnow() + timedelta(seconds=1))
        (request,) = provider.requests
    assert request.headers["Authorization"] == "Bearer tok-123"
    assert request.body == {"from": "Hemma", "to": "+46701740605", "message": SWEDISH.strip()}
    assert smtp.mails == []
    assert _notices(database) == [("patient", pid, "sms", "07x-xxx xx 05")]


def test_without_smtp_or_sms_the_notice_is_only_logged(world, database, settings, smtp,
                                                       caplog):
    """The demo's case: nothing configured, the log says what would have been sent."""
    settings.smtp_host, settings.public_url = "", ""
    pid = _patient(world, database)
    _notify(database, world, pid)
    with caplog.at_level(logging.INFO, logger="hemma.notifications"):
        report = Worker(database).tick(utcnow() + timedelta(seconds=1))
    assert (report.delivered, report.failed) == (1, 0)
    assert smtp.mails == []
    (line,) = [r.getMessage() for r in caplog.records if r.name == "hemma.notifications"]
    assert line == ("would send to a…@example.se: Nytt meddelande i Hemma: "
                    "Du har ett nytt meddelande från Medicinkliniken.")
    assert _notices(database) == [("patient", pid, "log", "a…@example.se")]


def test_a_notice_recorded_once_is_not_sent_again(world, database, smtp):
    """Should an outbox message ever be delivered again after its notice was recorded (the
    unique row per message and recipient), nothing more is sent."""
    pid = _patient(world, database)
    _notify(database, world, pid)
    worker = Worker(database)
    worker.tick(utcnow() + timedelta(seconds=1))
    with database.session() as s:  # as if the delivery had not been marked
        (message,) = s.scalars(select(OutboxMessage).where(OutboxMessage.topic == TOPIC))
        message.delivered_at = message.claimed_until = None
    report = worker.tick(utcnow() + timedelta(seconds=2))
    assert (report.delivered, report.failed) == (1, 0)
    assert len(smtp.mails) == 1
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(SentNotice)) == 1
