"""Staff login with SITHS through the region's identity provider (OpenID Connect), against a
real provider started by the test (tests/access/oidc_provider.py, Authlib's server side on a
loopback port): the whole way from Hemma's login page to the provider and back, and every
way the answer can be refused. Each refusal shows a Swedish message, starts no session, and
is in the audit log with its reason."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from hemma.access import oidc
from hemma.app import create_app
from hemma.kit.time import frozen_clock, utcnow
from hemma.models import AuditEntry, Staff, WebSession
from hemma.web.deps import SESSION_COOKIE
from tests.access.oidc_provider import CLIENT_ID, CLIENT_SECRET, running
from tests.live import free_port

CALLBACK = "https://testserver/login/oidc/callback"
SARA_HSA = "SE2321000222-0001"


@pytest.fixture
def provider():
    with running([CALLBACK]) as p:
        yield p


def _configure(settings, provider, secret: str | None = CLIENT_SECRET) -> None:
    settings.oidc_issuer = provider.issuer
    settings.oidc_client_id = CLIENT_ID
    settings.oidc_client_secret = secret or ""
    settings.oidc_hsa_claim = "employeeHsaId"
    oidc.forget_providers()


@pytest.fixture
def oidc_app(settings, database, provider, world):
    _configure(settings, provider)
    with database.session() as s:
        s.get(Staff, world.staff["sara"]).hsa_id = SARA_HSA
    yield create_app(settings, database)
    oidc.forget_providers()


def _browser(app) -> TestClient:
    c = TestClient(app, base_url="https://testserver")
    c.__enter__()
    return c


def _to_provider(web: TestClient, provider, next_path: str = "/home-ward") -> str:
    start = web.get(f"/login/oidc?next={next_path}", follow_redirects=False)
    assert start.status_code == 303, start.text
    authorize = start.headers["location"]
    assert authorize.startswith(provider.issuer + "/authorize?")
    return authorize


def _at_provider(authorize: str, hsa_id: str, action: str = "login") -> str:
    """The user at the provider's own login page (a real HTTP client, as the browser would
    be): returns where the provider sends the browser back to."""
    with httpx.Client() as at_idp:
        page = at_idp.get(authorize)
        assert page.status_code == 200 and "Regionens inloggning" in page.text
        back = at_idp.post(authorize, data={"hsa_id": hsa_id, "action": action})
    assert back.status_code == 302, back.text
    assert back.headers["location"].startswith(CALLBACK + "?")
    return back.headers["location"]


def siths_login(web: TestClient, provider, hsa_id: str = SARA_HSA, **kw):
    callback = _at_provider(_to_provider(web, provider, **kw), hsa_id)
    return web.get(callback, follow_redirects=False), callback


def _login_entries(database) -> list[AuditEntry]:
    with database.session() as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.action == "auth.login")
                              .order_by(AuditEntry.seq)))


def _sessions(database) -> int:
    with database.session() as s:
        return s.scalar(select(func.count()).select_from(WebSession))


def test_sara_logs_in_with_siths_and_the_log_says_so(oidc_app, provider, database):
    web = _browser(oidc_app)
    page = web.get("/login")
    assert "Logga in med SITHS" in page.text and 'name="password"' in page.text
    authorize = _to_provider(web, provider)
    sent = parse_qs(urlsplit(authorize).query)
    # Authorization code flow with PKCE (S256), state and nonce, asking for the HSA-id.
    assert sent["response_type"] == ["code"] and sent["client_id"] == [CLIENT_ID]
    assert sent["code_challenge_method"] == ["S256"] and len(sent["code_challenge"][0]) == 43
    assert len(sent["state"][0]) >= 40 and len(sent["nonce"][0]) >= 40
    assert "employeeHsaId" in sent["claims"][0] and sent["redirect_uri"] == [CALLBACK]
    r = web.get(_at_provider(authorize, SARA_HSA), follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/home-ward"
    cookie = [h for h in r.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE)][0]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    home = web.get("/home-ward")
    assert home.status_code == 200 and "Sara" in home.text
    # The code was exchanged with the client's secret and the PKCE verifier.
    assert provider.token_requests[-1]["code_verifier"]
    with database.session() as s:
        (session,) = s.scalars(select(WebSession)).all()
        assert session.auth_method == "oidc"
        assert session.expires_at - session.created_at == timedelta(hours=12)
    entry = _login_entries(database)[-1]
    assert (entry.username, entry.outcome, entry.detail) == ("sara", "allowed", "oidc")
    web.__exit__(None, None, None)


def test_the_button_shows_only_where_an_identity_provider_is_configured(client, world):
    page = client.get("/login")
    assert page.status_code == 200
    assert "Logga in med SITHS" not in page.text and 'name="password"' in page.text
    # A stale link to the SITHS login leads back to the login page, not to an error.
    r = client.get("/login/oidc", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"


@pytest.mark.parametrize("knob, value, check", [
    ("issuer", "https://idp.evil.example", "issuer"),
    ("audience", "another-client", "audience"),
    ("expired", True, "expired"),
    ("tamper", True, "signature"),
])
def test_a_token_that_does_not_hold_is_refused(knob, value, check, oidc_app, provider,
                                                database):
    web = _browser(oidc_app)
    setattr(provider.knobs, knob, value)
    r, _ = siths_login(web, provider)
    assert r.status_code == 400
    assert "kunde inte godtas" in r.text and "IT-support" in r.text
    assert CLIENT_SECRET not in r.text
    assert SESSION_COOKIE not in web.cookies and _sessions(database) == 0
    assert web.get("/home-ward", follow_redirects=False).status_code == 303
    entry = _login_entries(database)[-1]
    assert (entry.outcome, entry.detail) == ("denied", f"oidc:{check}")
    web.__exit__(None, None, None)


def test_a_reused_nonce_is_refused(oidc_app, provider, database):
    first = _browser(oidc_app)
    r, _ = siths_login(first, provider)
    assert r.status_code == 303
    # The provider answers a new login with a token carrying the first login's nonce (a
    # token replayed into another login): it is not this login's answer.
    provider.knobs.nonce = provider.nonces[0]
    second = _browser(oidc_app)
    r, _ = siths_login(second, provider)
    assert r.status_code == 400 and "kunde inte godtas" in r.text
    assert SESSION_COOKIE not in second.cookies
    assert _login_entries(database)[-1].detail == "oidc:nonce"
    assert _sessions(database) == 1


def test_a_reused_state_is_refused_in_the_same_and_in_another_browser(oidc_app, provider,
                                                                      database):
    web = _browser(oidc_app)
    r, callback = siths_login(web, provider)
    assert r.status_code == 303
    again = web.get(callback, follow_redirects=False)
    assert again.status_code == 400 and "redan använts" in again.text
    assert _login_entries(database)[-1].detail == "oidc:state_used"
    # Someone who copied the address to another browser gets nothing either.
    other = _browser(oidc_app)
    r = other.get(callback, follow_redirects=False)
    assert r.status_code == 400 and SESSION_COOKIE not in other.cookies
    assert _login_entries(database)[-1].detail == "oidc:other_browser"
    assert _sessions(database) == 1
    # Nor does a callback with a state Hemma never gave out.
    forged = re.sub(r"state=[^&]+", "state=forged", callback)
    assert web.get(forged, follow_redirects=False).status_code == 400
    assert _login_entries(database)[-1].detail == "oidc:state_unknown"


def test_a_login_left_too_long_is_refused(oidc_app, provider, database):
    web = _browser(oidc_app)
    callback = _at_provider(_to_provider(web, provider), SARA_HSA)
    with frozen_clock(utcnow() + timedelta(minutes=11)):
        r = web.get(callback, follow_redirects=False)
    assert r.status_code == 400 and "tog för lång tid" in r.text
    assert _login_entries(database)[-1].detail == "oidc:state_expired"
    assert _sessions(database) == 0


def test_an_unknown_hsa_id_is_refused_and_no_account_is_made(oidc_app, provider, database):
    with database.session() as s:
        accounts = s.scalar(select(func.count()).select_from(Staff))
    web = _browser(oidc_app)
    r, _ = siths_login(web, provider, hsa_id="SE2321000222-9999")
    assert r.status_code == 403
    assert "SE2321000222-9999" in r.text and "administratör" in r.text
    assert SESSION_COOKIE not in web.cookies and _sessions(database) == 0
    entry = _login_entries(database)[-1]
    assert (entry.outcome, entry.username, entry.detail) == (
        "denied", None, "oidc:unknown_hsa_id SE2321000222-9999")
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(Staff)) == accounts


def test_an_answer_without_an_hsa_id_is_refused(oidc_app, provider, database):
    provider.knobs.omit_hsa_id = True
    r, _ = siths_login(_browser(oidc_app), provider)
    assert r.status_code == 403 and "HSA-id" in r.text
    assert _login_entries(database)[-1].detail == "oidc:no_hsa_id"


def test_a_turned_off_account_is_refused(oidc_app, provider, world, database):
    with database.session() as s:
        s.get(Staff, world.staff["sara"]).active = False
    r, _ = siths_login(_browser(oidc_app), provider)
    assert r.status_code == 403 and "avstängt" in r.text
    entry = _login_entries(database)[-1]
    assert (entry.username, entry.detail) == ("sara", "oidc:inactive")


def test_cancelling_at_the_provider_is_refused_with_words_for_it(oidc_app, provider, database):
    web = _browser(oidc_app)
    callback = _at_provider(_to_provider(web, provider), SARA_HSA, action="cancel")
    r = web.get(callback, follow_redirects=False)
    assert r.status_code == 400 and "avbröts" in r.text
    assert _login_entries(database)[-1].detail == "oidc:cancelled access_denied"


def test_keys_are_read_again_when_the_provider_rotates_them(oidc_app, provider, database):
    assert siths_login(_browser(oidc_app), provider)[0].status_code == 303
    assert provider.jwks_reads == 1
    assert siths_login(_browser(oidc_app), provider)[0].status_code == 303
    assert provider.jwks_reads == 1  # cached
    provider.rotate_key()
    assert siths_login(_browser(oidc_app), provider)[0].status_code == 303
    assert provider.jwks_reads == 2


def test_a_provider_that_does_not_answer_gets_words_a_nurse_can_act_on(settings, database,
                                                                        world):
    settings.oidc_issuer = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    settings.oidc_client_id = CLIENT_ID
    settings.oidc_timeout_seconds = 2
    oidc.forget_providers()
    web = _browser(create_app(settings, database))
    r = web.get("/login/oidc", follow_redirects=False)
    assert r.status_code == 503 and "svarade inte" in r.text
    # The password form is still there: passwords are allowed by default.
    assert 'name="password"' in r.text
    assert _login_entries(database)[-1].detail.startswith("oidc:unavailable discovery")
    oidc.forget_providers()


def test_a_public_client_logs_in_with_pkce_alone(settings, database, world):
    with running([CALLBACK], client_secret=None) as provider:
        _configure(settings, provider, secret=None)
        with database.session() as s:
            s.get(Staff, world.staff["sara"]).hsa_id = SARA_HSA
        web = _browser(create_app(settings, database))
        r, _ = siths_login(web, provider)
        assert r.status_code == 303
        sent = provider.token_requests[-1]
        assert sent["client_id"] == CLIENT_ID and "client_secret" not in sent
        assert sent["code_verifier"]
    oidc.forget_providers()


def test_siths_asks_for_no_code_from_an_authenticator_app(oidc_app, provider, settings,
                                                         database, world):
    from hemma.access import totp
    from hemma.models import TotpCredential

    settings.totp_required = True
    with database.session() as s:
        s.add(TotpCredential(staff_id=world.staff["sara"], created_at=utcnow(),
                             confirmed_at=utcnow(), secret_encrypted=totp._encrypt("A" * 32)))
    r, _ = siths_login(_browser(oidc_app), provider)
    assert r.status_code == 303 and r.headers["location"] == "/home-ward"
