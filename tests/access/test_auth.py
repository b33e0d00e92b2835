"""Login and sessions: argon2, a fresh session id at every login, cookie flags, CSRF,
logout on the server, idle timeout, throttling, generic messages, security headers; and
changes to access that hold from the very next request."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from hemma.kit.time import frozen_clock, utcnow
from hemma.models import CareRelation, Staff, WebSession
from hemma.web.deps import SESSION_COOKIE
from tests.factories import PASSWORD


def _login(client: TestClient, username: str, password: str = PASSWORD, next_path: str = "/"):
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": token, "next": next_path},
                       follow_redirects=False)


def test_login_sets_a_secure_httponly_samesite_session_cookie(client, world, database):
    with database.session() as s:
        assert s.get(Staff, world.staff["sara"]).password_hash.startswith("$argon2")
    r = _login(client, "sara")
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = [h for h in r.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE)][0]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert client.get("/home-ward").status_code == 200


def test_every_login_gets_a_fresh_session_id(client, world):
    _login(client, "sara")
    first = client.cookies.get(SESSION_COOKIE)
    _login(client, "sara")
    second = client.cookies.get(SESSION_COOKIE)
    assert first and second and first != second


def test_failures_get_one_generic_message(client, world):
    wrong_password = _login(client, "sara", "wrong password")
    no_such_user = _login(client, "nobody", "wrong password")
    assert wrong_password.status_code == no_such_user.status_code == 401
    message = "Inloggningen misslyckades"
    assert message in wrong_password.text and message in no_such_user.text
    assert SESSION_COOKIE not in client.cookies


def test_failed_logins_are_throttled_across_requests(client, world):
    for _ in range(5):
        assert _login(client, "sara", "wrong password").status_code == 401
    # Even the right password is refused for a while, with the same words.
    r = _login(client, "sara")
    assert r.status_code == 401 and "Inloggningen misslyckades" in r.text
    # Other accounts are not locked by someone guessing Sara's password.
    assert _login(client, "lisa").status_code == 303


def test_login_form_without_its_token_is_refused(client, world):
    client.get("/login")
    r = client.post("/login", data={"username": "sara", "password": PASSWORD,
                                    "csrf_token": "forged"}, follow_redirects=False)
    assert r.status_code == 400 and SESSION_COOKIE not in client.cookies


def test_next_only_goes_to_this_site(client, world):
    assert _login(client, "sara", next_path="https://evil.example/").headers["location"] == "/"
    assert _login(client, "sara", next_path="//evil.example/").headers["location"] == "/"
    assert _login(client, "sara", next_path="/patients/search").headers["location"] == \
        "/patients/search"


def test_logout_ends_the_session_on_the_server(client, world, database):
    _login(client, "sara")
    token = client.cookies.get(SESSION_COOKIE)
    page = client.get("/home-ward")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    # Someone who kept a copy of the cookie gets nothing.
    stale = TestClient(client.app, base_url="https://testserver")
    stale.cookies.set(SESSION_COOKIE, token)
    r = stale.get("/home-ward", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    assert stale.get("/api/v1/me").status_code == 401
    with database.session() as s:
        assert all(w.ended_at for w in s.scalars(select(WebSession)))


def test_idle_sessions_time_out(client, world):
    _login(client, "sara")
    assert client.get("/api/v1/me").status_code == 200
    with frozen_clock(utcnow() + timedelta(minutes=29)):
        assert client.get("/api/v1/me").status_code == 200
    with frozen_clock(utcnow() + timedelta(minutes=29 + 31)):
        assert client.get("/api/v1/me").status_code == 401
        r = client.get("/home-ward", follow_redirects=False)
        assert "done=timeout" in r.headers["location"]


def test_every_form_needs_the_sessions_csrf_token(world, database, as_user):
    pid = world.patient(unit="med")
    sara = as_user("sara")
    del sara.headers["X-CSRF-Token"]
    r = sara.post(f"/patients/{pid}/relatives", data={"name": "Mats", "relation": "son"})
    assert r.status_code == 403
    r = sara.post(f"/patients/{pid}/relatives",
                  data={"name": "Mats", "relation": "son", "csrf_token": "forged"})
    assert r.status_code == 403
    r = sara.post(f"/api/v1/patients/{pid}/relatives", json={"name": "Mats", "relation": "son"})
    assert r.status_code == 403
    with database.session() as s:
        from hemma.models import Relative

        assert s.scalars(select(Relative)).all() == []
    r = sara.post(f"/patients/{pid}/relatives", follow_redirects=False,
                  data={"name": "Mats", "relation": "son", "csrf_token": world.csrf[id(sara)]})
    assert r.status_code == 303


def test_api_tokens_need_no_csrf_and_can_be_revoked(world, database, app):
    from hemma.access.auth import create_api_token

    with database.session() as s:
        token = create_api_token(s, s.get(Staff, world.staff["sara"]), "device gateway")
    pid = world.patient(unit="med")
    api = TestClient(app, base_url="https://testserver",
                     headers={"Authorization": f"Bearer {token}"})
    assert api.get("/api/v1/me").json()["username"] == "sara"
    assert api.post(f"/api/v1/patients/{pid}/relatives",
                    json={"name": "Mats", "relation": "son"}).status_code == 201
    bad = TestClient(app, base_url="https://testserver",
                     headers={"Authorization": "Bearer hemma_forged"})
    assert bad.get("/api/v1/me").status_code == 401


def test_security_headers_and_no_store_on_patient_pages(world, as_user):
    pid = world.patient(unit="med")
    sara = as_user("sara")
    r = sara.get(f"/patients/{pid}")
    assert r.status_code == 200
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert sara.get(f"/api/v1/patients/{pid}").headers["cache-control"] == "no-store"


def test_withdrawn_consent_holds_from_the_next_request(world, database, as_user):
    pid = world.patient(unit="med")
    world.relation(pid, unit="hsv", documented_by="med")
    world.episode(pid, state="admitted")
    consent = world.consent(pid, "kommun")
    kim, sara = as_user("kim"), as_user("sara")
    assert "Bedömd lämplig." in kim.get(f"/patients/{pid}").text
    r = sara.post(f"/api/v1/patients/{pid}/consents/{consent}/withdraw")
    assert r.status_code == 200
    page = kim.get(f"/patients/{pid}")
    assert page.status_code == 200 and "Bedömd lämplig." not in page.text
    assert kim.get(f"/api/v1/patients/{pid}/episodes").json() == []


def test_ended_relationship_holds_from_the_next_request(world, database, as_user):
    pid = world.patient(unit="med")
    relation = world.relation(pid, unit="hsv", documented_by="med")
    kim, sara = as_user("kim"), as_user("sara")
    assert kim.get(f"/patients/{pid}").status_code == 200
    r = sara.post(f"/api/v1/patients/{pid}/care-team/{relation}/end")
    assert r.status_code == 200
    assert kim.get(f"/patients/{pid}").status_code == 404
    assert kim.get(f"/api/v1/patients/{pid}").status_code == 404
    with database.session() as s:
        assert s.get(CareRelation, relation).ended_by_id == world.staff["sara"]


def test_deactivated_accounts_are_logged_out_at_once(world, database, as_user):
    sara = as_user("sara")
    adam = as_user("adam")
    assert sara.get("/api/v1/me").status_code == 200
    with database.session() as s:
        staff = s.get(Staff, world.staff["sara"])
        body = {"given_name": staff.given_name, "family_name": staff.family_name,
                "profession": staff.profession, "unit_id": staff.unit_id, "active": False}
    assert adam.put(f"/api/v1/admin/staff/{world.staff['sara']}", json=body).status_code == 200
    assert sara.get("/api/v1/me").status_code == 401


def _code_login(client: TestClient, code: str):
    page = client.get("/p/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    return client.post("/p/login", data={"code": code, "csrf_token": token},
                       follow_redirects=False)


def test_patient_code_guessing_has_its_own_counter(app, client, world, database):
    """25 wrong patient codes from one address (a ward's shared network, or someone guessing)
    lock out code logins from it, but not the nurses' staff logins; and the other way round."""
    from hemma.access.auth import create_patient_code

    pid = world.patient(unit="med")
    with database.session() as s:
        code, _row = create_patient_code(s, pid, world.staff["sara"])
    phone = TestClient(app, base_url="https://testserver")
    for _ in range(25):
        assert _code_login(phone, "000 000 0000").status_code == 401
    assert _code_login(phone, code).status_code == 401  # throttled, with the same words
    assert _login(client, "sara").status_code == 303  # the nurse on the same network

    with frozen_clock(utcnow() + timedelta(hours=1)):  # after the window: a fresh start
        for i in range(25):
            assert _login(client, f"nobody{i}", "wrong password").status_code == 401
        assert _login(client, "lisa").status_code == 401  # throttled per address
        assert _code_login(phone, code).status_code == 303  # the patient still gets in


def test_a_persons_requests_never_queue_to_note_the_session_in_use(world, database):
    """Noting that a session is in use (at most once a minute) locks its row until that
    request ends; another request of the same person in that minute does not wait for it
    (a board of hundreds of patients may take seconds): it leaves the noting to the first.
    Row locks are PostgreSQL's; SQLite has one writer at a time anyway."""
    import pytest
    from sqlalchemy import text

    from hemma.access.auth import resolve_session, start_session
    from tests.conftest import BACKEND

    if BACKEND != "postgres":
        pytest.skip("row locks: PostgreSQL")
    with database.session() as s:
        token = start_session(s, s.get(Staff, world.staff["sara"]), "password",
                              client_addr="127.0.0.1", user_agent="test")
    with database.session() as s:
        for web in s.scalars(select(WebSession).where(WebSession.staff_id == world.staff["sara"])):
            web.last_seen_at = utcnow() - timedelta(minutes=2)
    with database.session() as first:
        assert resolve_session(first, token) is not None
        first.flush()  # the touch is written: the row is locked until `first` ends
        with database.session() as second:
            second.execute(text("SET LOCAL lock_timeout = '3s'"))
            found = resolve_session(second, token)  # would wait, then fail, if it queued
            assert found is not None and found[0].last_seen_at < utcnow() - timedelta(minutes=1)
    with database.session() as s:
        web = s.scalar(select(WebSession).where(WebSession.staff_id == world.staff["sara"]))
        assert web.last_seen_at > utcnow() - timedelta(seconds=30)
