"""The transports on their own: real servers on loopback (SMTP with aiosmtpd, an SMS
provider's HTTP API with http.server), the pure helpers exhaustively, and the choice of
channel for every combination of address and configuration."""

from __future__ import annotations

import itertools
import logging
import uuid

import pytest

from hemma.config import Settings
from hemma.notifications.service import Recipient, choose, language_of, new_message_notice
from hemma.notifications.transports import (
    HttpSmsTransport,
    LogTransport,
    Notice,
    SmtpTransport,
    TransportError,
    Transports,
    from_settings,
    international_number,
    mask,
)
from tests.notifications.servers import free_port, sms_provider, smtp_server

NOTICE = Notice(to="anna@example.se", subject="Nytt meddelande i Hemma",
                text="Du har ett nytt meddelande från Hemsjukvården.", language="sv")


def test_smtp_hands_a_plain_text_mail_to_a_real_server():
    with smtp_server() as server:
        SmtpTransport("127.0.0.1", server.port, "Hemma <noreply@hemma.example.se>",
                      starttls=False).send(NOTICE)
    (mail,) = server.mails
    assert mail.sender == "noreply@hemma.example.se"
    assert mail.recipients == ["anna@example.se"]
    message = mail.message
    assert message["Subject"] == "Nytt meddelande i Hemma"
    assert message["To"] == "anna@example.se"
    assert message["Content-Language"] == "sv"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Message-ID"].endswith("@hemma.example.se>")
    assert message.get_content_type() == "text/plain"
    assert mail.text == "Du har ett nytt meddelande från Hemsjukvården.\n"


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # loopback
def test_smtp_logs_in_when_given_a_username():
    with smtp_server(logins={"hemma": "hemligt"}) as server:
        SmtpTransport("127.0.0.1", server.port, "noreply@hemma.example.se", starttls=False,
                      username="hemma", password="hemligt").send(NOTICE)
        assert server.logged_in == ["hemma"] and len(server.mails) == 1
        with pytest.raises(TransportError, match="SMTPAuthenticationError"):
            SmtpTransport("127.0.0.1", server.port, "noreply@hemma.example.se",
                          starttls=False, username="hemma", password="fel").send(NOTICE)
        with pytest.raises(TransportError):  # the server wants a login: no mail without
            SmtpTransport("127.0.0.1", server.port, "noreply@hemma.example.se",
                          starttls=False).send(NOTICE)
    assert len(server.mails) == 1


def test_smtp_says_clearly_when_nobody_answers():
    port = free_port()  # nothing listens there
    with pytest.raises(TransportError, match=f"SMTP 127.0.0.1:{port}: ConnectionRefusedError"):
        SmtpTransport("127.0.0.1", port, "noreply@hemma.example.se", starttls=False,
                      timeout=2).send(NOTICE)


def test_smtp_starttls_refused_by_a_server_without_tls_is_a_transport_error():
    """STARTTLS is on by default: a server that does not offer it gets no mail in clear."""
    with smtp_server() as server:
        with pytest.raises(TransportError, match="STARTTLS"):
            SmtpTransport("127.0.0.1", server.port, "noreply@hemma.example.se").send(NOTICE)
    assert server.mails == []


def test_sms_posts_the_generic_body_with_the_bearer_token():
    with sms_provider() as provider:
        sms = HttpSmsTransport(provider.url, "tok-123", "Hemma")
        sms.send(Notice(to="070-174 06 05", subject="Nytt meddelande i Hemma",
                        text="Du har ett nytt meddelande från Hemsjukvården."))
        (request,) = provider.requests
        assert request.path == "/v1/sms"
        assert request.headers["Authorization"] == "Bearer tok-123"
        assert request.headers["Content-Type"] == "application/json"
        assert request.body == {"from": "Hemma", "to": "+46701740605",
                                "message": "Du har ett nytt meddelande från Hemsjukvården."}
        provider.status = 500
        with pytest.raises(TransportError, match="SMS provider answered 500"):
            sms.send(Notice(to="070-174 06 05", subject="", text="x"))
        provider.status = 401
        with pytest.raises(TransportError, match="401"):
            sms.send(Notice(to="070-174 06 05", subject="", text="x"))
        # No token configured: no Authorization header at all.
        provider.status = 200
        HttpSmsTransport(provider.url, "", "Hemma").send(Notice(to="+4670", subject="", text="y"))
        assert "Authorization" not in provider.requests[-1].headers


def test_sms_provider_not_answering_is_a_transport_error():
    url = f"http://127.0.0.1:{free_port()}/v1/sms"
    with pytest.raises(TransportError, match="SMS provider: ConnectError"):
        HttpSmsTransport(url, "tok", "Hemma", timeout=2).send(NOTICE)


def test_the_log_transport_says_where_it_would_have_sent(caplog):
    with caplog.at_level(logging.INFO, logger="hemma.notifications"):
        LogTransport().send(Notice(to="070-174 06 05", subject="Nytt meddelande i Hemma",
                                   text="Du har ett nytt meddelande från Hemsjukvården."))
        LogTransport().send(Notice(to="", subject="S", text="T"))
    first, second = (r.getMessage() for r in caplog.records)
    assert first == ("would send to 07x-xxx xx 05: Nytt meddelande i Hemma: "
                     "Du har ett nytt meddelande från Hemsjukvården.")
    assert "174" not in first
    assert second == "would send to (no address): S: T"


def test_transports_from_settings():
    nothing = from_settings(Settings())
    assert nothing.email is None and nothing.sms is None
    assert isinstance(nothing.log, LogTransport)
    # A host without a sender (or the reverse) is not a mail configuration.
    assert from_settings(Settings(smtp_host="smtp.example.se")).email is None
    assert from_settings(Settings(smtp_sender="noreply@example.se")).email is None
    both = from_settings(Settings(
        smtp_host="smtp.example.se", smtp_port=2525, smtp_sender="noreply@example.se",
        smtp_username="u", smtp_password="p", smtp_starttls=False,
        sms_url="https://sms.example.se/send", sms_token="t", sms_sender="Region"))
    assert isinstance(both.email, SmtpTransport) and isinstance(both.sms, HttpSmsTransport)
    assert (both.email.host, both.email.port, both.email.sender, both.email.starttls,
            both.email.username, both.email.password) == (
        "smtp.example.se", 2525, "noreply@example.se", False, "u", "p")
    assert (both.sms.url, both.sms.token, both.sms.sender) == (
        "https://sms.example.se/send", "t", "Region")
    default = from_settings(Settings(smtp_host="smtp.example.se", smtp_sender="n@example.se"))
    assert (default.email.port, default.email.starttls) == (587, True)


@pytest.mark.parametrize("typed, international", [
    ("070-174 06 05", "+46701740605"),
    ("0701740605", "+46701740605"),
    ("0950-123 45", "+4695012345"),
    ("+46 70 174 06 05", "+46701740605"),
    ("+46 (0)70-174 06 05", "+46701740605"),
    ("0046 70 174 06 05", "+46701740605"),
    ("+358 40 123 4567", "+358401234567"),
    ("(070) 174 06 05", "+46701740605"),
    ("70 174 06 05", "+46701740605"),
])
def test_phone_numbers_in_international_form(typed, international):
    assert international_number(typed) == international


@pytest.mark.parametrize("address, masked", [
    ("070-174 06 12", "07x-xxx xx 12"),
    ("+46 70 174 06 12", "+46 xx xxx xx 12"),
    ("0950-123 45", "09xx-xxx 45"),
    ("12345", "12x45"),
    ("anna.andersson@example.se", "a…@example.se"),
    ("a@example.se", "a…@example.se"),
    ("", ""),
    (None, ""),
])
def test_addresses_are_masked(address, masked):
    assert mask(address) == masked


def test_the_channel_for_every_combination_of_address_and_configuration():
    email, sms, log = (SmtpTransport("h", 25, "s"), HttpSmsTransport("u", "t", "s"),
                       LogTransport())
    for has_email, has_phone, smtp_on, sms_on in itertools.product((False, True), repeat=4):
        recipient = Recipient("patient", uuid.uuid4(), "a@example.se" if has_email else None,
                              "070-174 06 05" if has_phone else None, "sv")
        transport, address = choose(recipient, Transports(email if smtp_on else None,
                                                          sms if sms_on else None, log))
        if has_email and smtp_on:
            assert (transport, address) == (email, "a@example.se")
        elif has_phone and sms_on:
            assert (transport, address) == (sms, "070-174 06 05")
        else:
            assert transport is log
            assert address == ("a@example.se" if has_email else
                               "070-174 06 05" if has_phone else None)


@pytest.mark.parametrize("code, language", [
    ("sv", "sv"), ("en", "en"), ("fi", "sv"), ("ar", "sv"), ("other", "sv"), (None, "sv")])
def test_the_notice_is_in_the_recipients_language_when_hemma_speaks_it(code, language):
    assert language_of(code) == language


def test_the_notice_says_who_wrote_and_where_to_read_it_and_nothing_else():
    notice = new_message_notice("a@example.se", "Hemsjukvården", "https://hemma.example.se/p",
                                "en")
    assert notice == Notice(
        to="a@example.se", subject="New message in Hemma",
        text="You have a new message from Hemsjukvården. "
             "Log in at https://hemma.example.se/p to read it.", language="en")
    assert new_message_notice(None, "Mobila teamet", "", "en") == Notice(
        to="", subject="New message in Hemma",
        text="You have a new message from Mobila teamet.", language="en")


def test_the_notice_in_swedish():
    notice = new_message_notice("a@example.se", "Medicinkliniken",
                                "https://hemma.example.se/p", "sv")
    assert notice.subject == "Nytt meddelande i Hemma"
    assert notice.text == ("Du har ett nytt meddelande från Medicinkliniken. "
                           "Logga in på https://hemma.example.se/p för att läsa det.")
