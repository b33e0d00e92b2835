"""Real servers on loopback for the notice transports: an SMTP server (aiosmtpd) that keeps
every mail it accepts, and an SMS provider's HTTP API (stdlib http.server) that keeps every
request. Both can be stopped and started again on the same port (a server that is down)."""

from __future__ import annotations

import email
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import default
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Mail:
    sender: str
    recipients: list[str]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.raw, policy=default)  # type: ignore[return-value]

    @property
    def text(self) -> str:
        return self.message.get_content().replace("\r\n", "\n")  # lines end in CRLF on the wire


class SmtpServer:
    """aiosmtpd on 127.0.0.1. With `logins`, a client must log in with one of them (over
    plain SMTP: it is loopback)."""

    def __init__(self, logins: dict[str, str] | None = None):
        self.port = free_port()
        self.mails: list[Mail] = []
        self.logins = logins
        self.logged_in: list[str] = []
        self._controller: Controller | None = None

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.mails.append(Mail(envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        user = auth_data.login.decode()
        if self.logins is not None and self.logins.get(user) == auth_data.password.decode():
            self.logged_in.append(user)
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)

    def start(self) -> None:
        kw = {}
        if self.logins is not None:
            kw = {"authenticator": self._authenticate, "auth_required": True,
                  "auth_require_tls": False}
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port, **kw)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@contextmanager
def smtp_server(**kw) -> Iterator[SmtpServer]:
    server = SmtpServer(**kw)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class SmsRequest:
    path: str
    headers: dict[str, str]
    body: dict


class SmsProvider:
    """An SMS provider's API on loopback: keeps each POST and answers `status`."""

    def __init__(self):
        self.requests: list[SmsRequest] = []
        self.status = 202
        self.url = ""

    def handler(self):
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (the http.server name)
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length))
                provider.requests.append(SmsRequest(self.path, dict(self.headers), body))
                answer = b'{"id": "sms-1"}'
                self.send_response(provider.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        return Handler


@contextmanager
def sms_provider() -> Iterator[SmsProvider]:
    provider = SmsProvider()
    server = ThreadingHTTPServer(("127.0.0.1", 0), provider.handler())
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    provider.url = f"http://127.0.0.1:{server.server_address[1]}/v1/sms"
    try:
        yield provider
    finally:
        server.shutdown()
        server.server_close()
