"""The second factor of a password login: a code from the user's authenticator app (TOTP).
Set up by the user (QR code and the key as text, confirmed by a first code, never shown
again), asked at every password login once set up and of everyone when
HEMMA_TOTP_REQUIRED is on (the user without an app sets it up before getting a session);
each code good once, wrong codes counted like wrong passwords; reset by an administrator."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pyotp
from sqlalchemy import func, select

from hemma.kit.time import frozen_clock, utcnow
from hemma.models import AuditEntry, LoginAttempt, Staff, TotpCredential, WebSession
from hemma.web.deps import SESSION_COOKIE
from tests.access.test_auth import _login

# A moment in the middle of a 30-second step: every code below is computed from it.
NOON = datetime(2026, 12, 4, 11, 0, 10, tzinfo=UTC)


def _secret(page_text: str) -> str:
    shown = re.search(r'<code class="secret" id="totp-secret">([A-Z2-7 ]+)</code>', page_text)
    assert shown, "the key is shown as text"
    return shown.group(1).replace(" ", "")


def _code(secret: str, at: datetime | None = None) -> str:
    return pyotp.TOTP(secret).at(at or utcnow())


def _enrol_on_own_page(client, csrf: str) -> str:
    """Sara sets up her app on her own page; returns its secret (as the app keeps it)."""
    page = client.get("/account/totp")
    assert page.status_code == 200
    assert 'src="data:image/svg+xml' in page.text  # the QR code, inline: no outside service
    secret = _secret(page.text)
    assert page.text.count(secret[:4]) >= 1
    wrong = client.post("/account/totp", data={"code": "000000", "csrf_token": csrf})
    assert wrong.status_code == 422 and "Koden stämde inte" in wrong.text
    ok = client.post("/account/totp", data={"code": _code(secret), "csrf_token": csrf},
                     follow_redirects=False)
    assert ok.status_code == 303 and ok.headers["location"] == "/account/totp?done=totp_enrolled"
    return secret


def _entries(database, action: str) -> list[AuditEntry]:
    with database.session() as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.action == action)
                              .order_by(AuditEntry.seq)))


def _step(client, code: str):
    page = client.get("/login/code")
    assert page.status_code == 200, page.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    return client.post("/login/code", data={"code": code, "csrf_token": csrf},
                       follow_redirects=False)


def test_sara_sets_up_her_app_and_password_logins_then_ask_for_its_code(
        world, database, as_user, client):
    with frozen_clock(NOON) as advance:
        sara = as_user("sara")
        secret = _enrol_on_own_page(sara, world.csrf[id(sara)])
        # Once confirmed, the key is never shown again.
        page = sara.get("/account/totp?done=totp_enrolled")
        assert secret[:8] not in page.text.replace(" ", "") and "upplagd sedan" in page.text
        assert "data:image/svg+xml" not in page.text
        assert [e.username for e in _entries(database, "auth.totp.enrol")] == ["sara"]
        # Stored encrypted: the key is nowhere in the row.
        with database.session() as s:
            row = s.get(TotpCredential, world.staff["sara"])
            assert secret not in row.secret_encrypted and row.confirmed_at is not None

        advance(timedelta(seconds=60))
        r = _login(client, "sara", next_path="/home-ward")
        # The password was right; no session yet, only the second step.
        assert r.status_code == 303 and r.headers["location"] == "/login/code"
        assert SESSION_COOKIE not in client.cookies
        assert client.get("/home-ward", follow_redirects=False).status_code == 303
        step = client.get("/login/code")
        assert "Kod från din app" in step.text and "data:image/svg+xml" not in step.text
        assert _step(client, "123456").status_code == 400
        r = _step(client, _code(secret))
        assert r.status_code == 303 and r.headers["location"] == "/home-ward"
        assert client.get("/home-ward").status_code == 200
    with database.session() as s:
        methods = [w.auth_method for w in s.scalars(select(WebSession).order_by(
            WebSession.created_at))]
        assert methods[-1] == "password+totp"
    logins = _entries(database, "auth.login")
    assert [(e.outcome, e.detail) for e in logins[-2:]] == [
        ("denied", "totp"), ("allowed", "password+totp")]


def test_a_code_is_good_once(world, database, as_user, client, app):
    from fastapi.testclient import TestClient

    with frozen_clock(NOON):
        sara = as_user("sara")
        secret = _enrol_on_own_page(sara, world.csrf[id(sara)])
    with frozen_clock(NOON + timedelta(seconds=60)):
        code = _code(secret)
        _login(client, "sara")
        assert _step(client, code).status_code == 303
        # Someone who saw the code typed, on another computer with the password: refused.
        other = TestClient(app, base_url="https://testserver")
        _login(other, "sara")
        r = _step(other, code)
        assert r.status_code == 400 and "Koden stämde inte" in r.text
        assert SESSION_COOKIE not in other.cookies
        # The app's next code (a step later) is good.
        assert _step(other, _code(secret, NOON + timedelta(seconds=90))).status_code == 303


def test_wrong_codes_count_like_wrong_passwords(world, database, as_user, client):
    with frozen_clock(NOON):
        sara = as_user("sara")
        secret = _enrol_on_own_page(sara, world.csrf[id(sara)])
    with frozen_clock(NOON + timedelta(minutes=2)):
        _login(client, "sara")
        for _ in range(5):
            assert _step(client, "000000").status_code == 400
        # The sixth try is refused whatever it says, and the step is over.
        r = _step(client, _code(secret))
        assert r.status_code == 401 and "Inloggningen misslyckades" in r.text
        assert client.get("/login/code", follow_redirects=False).headers["location"] == \
            "/login?done=login_step_expired"
        # The password alone is refused too while the failures count.
        r = _login(client, "sara")
        assert r.status_code == 401
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(LoginAttempt).where(
            LoginAttempt.username == "sara", LoginAttempt.success.is_(False))) >= 6


def test_required_codes_make_a_user_without_an_app_set_one_up_first(
        settings, world, database, client):
    settings.totp_required = True
    with frozen_clock(NOON):
        r = _login(client, "lisa", next_path="/rounds")
        assert r.headers["location"] == "/login/code" and SESSION_COOKIE not in client.cookies
        page = client.get("/login/code")
        assert "Lägg upp din autentiseringsapp" in page.text
        assert 'src="data:image/svg+xml' in page.text
        secret = _secret(page.text)
        # Reloading shows the same key (the app may already have scanned it).
        assert _secret(client.get("/login/code").text) == secret
        r = _step(client, _code(secret))
        assert r.status_code == 303 and r.headers["location"] == "/rounds"
        assert client.get("/api/v1/me").json()["username"] == "lisa"
    with database.session() as s:
        assert s.get(TotpCredential, world.staff["lisa"]).confirmed_at is not None
    assert [e.username for e in _entries(database, "auth.totp.enrol")] == ["lisa"]


def test_without_required_codes_a_user_without_an_app_logs_in_with_the_password(client, world):
    r = _login(client, "sara", next_path="/home-ward")
    assert r.status_code == 303 and r.headers["location"] == "/home-ward"
    assert SESSION_COOKIE in client.cookies


def test_the_second_step_expires_and_is_good_once(settings, world, database, client):
    settings.totp_required = True
    with frozen_clock(NOON) as advance:
        _login(client, "lisa")
        advance(timedelta(minutes=11))
        r = client.get("/login/code", follow_redirects=False)
        assert r.headers["location"] == "/login?done=login_step_expired"
        assert "tog för lång tid" in client.get(r.headers["location"]).text
        _login(client, "lisa")
        stale = client.cookies.get("hemma_login_step")
        secret = _secret(client.get("/login/code").text)
        assert _step(client, _code(secret)).status_code == 303
        client.cookies.set("hemma_login_step", stale, path="/login/code")
        r = client.get("/login/code", follow_redirects=False)
        assert r.headers["location"] == "/login?done=login_step_expired"


def test_an_administrator_resets_a_lost_app(world, database, as_user, client):
    with frozen_clock(NOON):
        sara = as_user("sara")
        _enrol_on_own_page(sara, world.csrf[id(sara)])
        adam = as_user("adam")
        page = adam.get(f"/admin/staff/{world.staff['sara']}")
        assert "Upplagd sedan" in page.text
        r = adam.post(f"/admin/staff/{world.staff['sara']}/totp/reset",
                      follow_redirects=False)
        assert r.status_code == 303
        assert "återställd" in adam.get(r.headers["location"]).text
    with database.session() as s:
        assert s.get(TotpCredential, world.staff["sara"]) is None
    entry = _entries(database, "admin.staff.totp_reset")[-1]
    assert (entry.username, entry.detail) == ("adam", "sara")
    # Codes are not required: her password alone lets her in again, until she sets one up.
    assert _login(client, "sara").headers["location"] == "/"
    # An administrator of another organisation cannot reach her account.
    kurt = as_user("kurt")
    assert kurt.post(f"/admin/staff/{world.staff['sara']}/totp/reset").status_code == 404


def test_an_app_is_confirmed_once(world, database, as_user):
    with frozen_clock(NOON):
        sara = as_user("sara")
        secret = _enrol_on_own_page(sara, world.csrf[id(sara)])
        r = sara.post("/account/totp", data={"code": _code(secret, NOON + timedelta(seconds=30)),
                                             "csrf_token": world.csrf[id(sara)]})
        assert r.status_code == 409 and "redan upplagd" in r.text
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(TotpCredential)) == 1
        assert s.get(Staff, world.staff["sara"]).username == "sara"
