"""Passwords only where allowed: an administrator turns password login off for the whole
installation (stored in the database, so it holds at once in every process; logged), never
while the region's identity provider is missing nor without an HSA-id of their own, and the
break glass on the server's command line turns passwords back on."""

from __future__ import annotations

import re

from click.testing import CliRunner
from sqlalchemy import select

from hemma.cli import main
from hemma.config import configure
from hemma.models import AuditEntry, Staff
from hemma.web.deps import SESSION_COOKIE
from tests.access.test_auth import _login
from tests.factories import PASSWORD

ISSUER = "https://idp.region.example.se"  # never contacted: these tests log in with passwords


def _with_identity_provider(settings) -> None:
    settings.oidc_issuer = ISSUER
    settings.oidc_client_id = "hemma"


def _entries(database, action: str) -> list[AuditEntry]:
    with database.session() as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.action == action)
                              .order_by(AuditEntry.seq)))


def _post_password(client, username: str):
    """A password sent to /login although the page shows no form for it (a saved form, a
    script): the login page's CSRF cookie is all it needs to be heard, and refused."""
    client.get("/login")
    token = client.cookies.get("hemma_login_csrf")
    return client.post("/login", data={"username": username, "password": PASSWORD,
                                       "csrf_token": token}, follow_redirects=False)


def _turn(admin, csrf: str, on: bool):
    data = {"csrf_token": csrf}
    if on:
        data["password_login"] = "true"
    return admin.post("/admin/login", data=data, follow_redirects=False)


def test_without_an_identity_provider_passwords_cannot_be_turned_off(settings, world, as_user,
                                                                     client):
    adam = as_user("adam")
    assert "Inte inställd (HEMMA_OIDC_ISSUER)" in adam.get("/admin").text
    r = _turn(adam, world.csrf[id(adam)], on=False)
    assert r.status_code == 422 and "lösenord det enda sättet" in r.text
    # Not even the environment's default can lock everyone out.
    settings.password_login = False
    assert _login(client, "sara").status_code == 303


def test_an_administrator_turns_passwords_off_and_on(settings, world, database, as_user,
                                                    client):
    _with_identity_provider(settings)
    adam = as_user("adam")
    csrf = world.csrf[id(adam)]
    # Adam himself could not come back with SITHS: refused, with the reason.
    r = _turn(adam, csrf, on=False)
    assert r.status_code == 422 and "inget HSA-id" in r.text
    with database.session() as s:
        s.get(Staff, world.staff["adam"]).hsa_id = "SE2321000222-0042"
    r = _turn(adam, csrf, on=False)
    assert r.status_code == 303 and r.headers["location"] == "/admin?done=login_settings"

    # At once, for everyone: the form is gone, and a password is refused anyway.
    fresh = client
    page = fresh.get("/login")
    assert "Logga in med SITHS" in page.text and 'name="password"' not in page.text
    r = _post_password(fresh, "sara")
    assert r.status_code == 400 and "Inloggning med lösenord är avstängd" in r.text
    assert SESSION_COOKIE not in fresh.cookies
    denied = _entries(database, "auth.login")[-1]
    assert (denied.username, denied.outcome, denied.detail) == ("sara", "denied", "password_off")

    assert _turn(adam, csrf, on=True).status_code == 303
    assert _login(fresh, "sara").status_code == 303
    assert [(e.username, e.detail) for e in _entries(database, "admin.password_login")] == [
        ("adam", "off"), ("adam", "on")]


def test_the_environment_default_holds_until_an_administrator_decides(settings, world,
                                                                      database, as_user,
                                                                      client):
    _with_identity_provider(settings)
    settings.password_login = False
    assert _post_password(client, "sara").status_code == 400
    adam = as_user("adam")
    assert "installationens förval" in adam.get("/admin").text
    assert _turn(adam, world.csrf[id(adam)], on=True).status_code == 303
    assert _login(client, "sara").status_code == 303


def test_the_break_glass_turns_passwords_on_from_the_command_line(settings, world, database,
                                                                   as_user, client):
    _with_identity_provider(settings)
    settings.password_login = False
    env = {"HEMMA_DATABASE_URL": settings.database_url, "HEMMA_OIDC_ISSUER": ISSUER,
           "HEMMA_OIDC_CLIENT_ID": "hemma", "HEMMA_PASSWORD_LOGIN": "false"}
    runner = CliRunner()
    try:
        status = runner.invoke(main, ["users", "password-login", "status"], env=env)
        assert status.exit_code == 0 and "password login: off" in status.output
        on = runner.invoke(main, ["users", "password-login", "on"], env=env)
        assert on.exit_code == 0, on.output
        refused = runner.invoke(main, ["users", "password-login", "off"],
                                env={"HEMMA_DATABASE_URL": settings.database_url})
        assert refused.exit_code != 0 and "passwords stay on" in refused.output
    finally:
        configure(settings)  # the command read its own settings; the app's are these
    # The running app lets passwords in at once: no restart.
    assert _login(client, "sara").status_code == 303
    entry = _entries(database, "admin.password_login")[-1]
    assert (entry.username, entry.detail) == ("(hemma users)", "on")


def test_an_account_for_siths_only_needs_no_password(settings, world, database, as_user):
    adam = as_user("adam")
    fields = {"given_name": "Siv", "family_name": "Sithsson", "profession": "nurse",
              "unit_id": str(world.units["med"]), "username": "siv",
              "csrf_token": world.csrf[id(adam)]}
    r = adam.post("/admin/staff", data={**fields, "hsa_id": "se2321000222-0077"})
    # Without an identity provider an account without a password could never log in.
    assert r.status_code == 422 and "första lösenord" in r.text
    _with_identity_provider(settings)
    r = adam.post("/admin/staff", data={**fields, "hsa_id": "se2321000222-0077"},
                  follow_redirects=False)
    assert r.status_code == 303
    with database.session() as s:
        siv = s.scalar(select(Staff).where(Staff.username == "siv"))
        assert siv.password_hash is None and siv.hsa_id == "SE2321000222-0077"


def test_the_admin_page_says_how_staff_log_in(settings, world, as_user):
    _with_identity_provider(settings)
    settings.totp_required = True
    page = as_user("adam").get("/admin").text
    section = re.search(r'<section class="card wide" id="login-settings">(.*?)</section>',
                        page, re.S).group(1)
    assert ISSUER in section and "<dd>Tillåten" in section
    assert "Krävs (HEMMA_TOTP_REQUIRED)" in section
