"""Ways to hand a short notice to someone outside Hemma: e-mail over SMTP, SMS through an
HTTP provider, or only the log. Domain-free: a transport knows an address, a subject and a
text, nothing of patients.

`send()` returns when the notice is handed over and raises `TransportError` when it could not
be: the outbox then keeps the message and tries again (hemma.jobs.outbox)."""

from __future__ import annotations

import logging
import re
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import Protocol

import httpx

from hemma.config import Settings

log = logging.getLogger("hemma.notifications")

# Seconds to wait for a mail server or an SMS provider. The outbox delivers inside a
# transaction, so this bounds how long a server that does not answer holds it.
TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Notice:
    to: str  # an e-mail address or a phone number, as the transport expects
    subject: str
    text: str
    language: str = "sv"


class TransportError(Exception):
    """The notice was not handed over (server down, refused, timed out): try again later."""


class Transport(Protocol):
    channel: str  # "email", "sms" or "log"

    def send(self, message: Notice) -> None: ...


class SmtpTransport:
    channel = "email"

    def __init__(self, host: str, port: int, sender: str, *, starttls: bool = True,
                 username: str = "", password: str = "", timeout: float = TIMEOUT_SECONDS):
        self.host, self.port, self.sender = host, port, sender
        self.starttls, self.username, self.password = starttls, username, password
        self.timeout = timeout

    def message(self, notice: Notice) -> EmailMessage:
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = notice.to
        mail["Subject"] = notice.subject
        mail["Date"] = formatdate(usegmt=True)
        domain = parseaddr(self.sender)[1].rpartition("@")[2] or None
        mail["Message-ID"] = make_msgid(domain=domain)
        # A notice answered by e-mail would reach nobody who reads it: say so to the software.
        mail["Auto-Submitted"] = "auto-generated"
        mail.set_content(notice.text)  # (replaces any Content-* header set before it)
        mail["Content-Language"] = notice.language
        return mail

    def send(self, message: Notice) -> None:
        mail = self.message(message)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.username:
                    smtp.login(self.username, self.password)
                smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused:
            # The exception's text holds the address: keep it out of the outbox's last_error.
            raise TransportError(f"SMTP {self.host}:{self.port} refused the recipient") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise TransportError(f"SMTP {self.host}:{self.port}: {type(exc).__name__}: {exc}") \
                from exc


class HttpSmsTransport:
    """An SMS provider's HTTP API: POST {"from": sender, "to": "+46…", "message": text} as
    JSON with a bearer token. Any 2xx answer is success. A provider that wants another body
    needs only `body()` changed."""

    channel = "sms"

    def __init__(self, url: str, token: str, sender: str, *, timeout: float = TIMEOUT_SECONDS):
        self.url, self.token, self.sender, self.timeout = url, token, sender, timeout

    def body(self, notice: Notice) -> dict:
        return {"from": self.sender, "to": international_number(notice.to),
                "message": notice.text}

    def send(self, message: Notice) -> None:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            with httpx.Client(timeout=self.timeout) as client:
                answer = client.post(self.url, json=self.body(message), headers=headers)
        except httpx.HTTPError as exc:
            raise TransportError(f"SMS provider: {type(exc).__name__}: {exc}") from exc
        if not answer.is_success:
            raise TransportError(f"SMS provider answered {answer.status_code}")


class LogTransport:
    """Sends nothing: writes what it would have sent to the log. The default when neither
    SMTP nor SMS is configured (the demo, a test installation)."""

    channel = "log"

    def send(self, message: Notice) -> None:
        log.info("would send to %s: %s: %s", mask(message.to) or "(no address)",
                 message.subject, message.text)


@dataclass(frozen=True)
class Transports:
    email: Transport | None
    sms: Transport | None
    log: Transport


def from_settings(settings: Settings) -> Transports:
    """The configured transports: e-mail when an SMTP host and sender are set, SMS when a
    provider URL is; the log always."""
    email = sms = None
    if settings.smtp_host and settings.smtp_sender:
        email = SmtpTransport(settings.smtp_host, settings.smtp_port, settings.smtp_sender,
                              starttls=settings.smtp_starttls,
                              username=settings.smtp_username,
                              password=settings.smtp_password)
    if settings.sms_url:
        sms = HttpSmsTransport(settings.sms_url, settings.sms_token, settings.sms_sender)
    return Transports(email=email, sms=sms, log=LogTransport())


def international_number(phone: str) -> str:
    """A phone number as typed in Sweden ("070-174 06 05", "0046 70…", "+46 (0)70…") in the
    international form SMS providers want: "+46701740605". A number without a country code
    is Swedish."""
    number = phone.strip().replace("(0)", "")
    plus = number.startswith("+")
    digits = re.sub(r"\D", "", number)
    if plus:
        return "+" + digits
    if digits.startswith("00"):
        return "+" + digits[2:]
    if digits.startswith("0"):
        return "+46" + digits[1:]
    return "+46" + digits


def mask(address: str | None) -> str:
    """Enough of an address to recognise it, not to use it: "a…@example.se" for e-mail,
    "07x-xxx xx 12" for a phone number (the first two and last two digits kept)."""
    if not address:
        return ""
    if "@" in address:
        local, _, domain = address.rpartition("@")
        return f"{local[:1]}…@{domain}"
    positions = [i for i, c in enumerate(address) if c.isdigit()]
    hidden = set(positions[2:-2])
    return "".join("x" if i in hidden else c for i, c in enumerate(address))
