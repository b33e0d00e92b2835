"""SMART Backend Services: a device gateway registered with its public key gets a short-lived
token by signing a JWT with its private key, and records values through FHIR as its system
account. Every way of getting a token without the key, or with a used, stale or misdirected
assertion, is refused with RFC 6749's error; scopes narrow what the token may ask for and
never widen what the account may do (`can()` still decides per patient); the token opens the
FHIR API and nothing else; issuing, refusing and every access are in the audit log."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import stat
from datetime import timedelta

import jwt
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from hemma.access import audit
from hemma.cli import main as cli
from hemma.config import configure
from hemma.fhir import scopes, smart
from hemma.kit.time import utcnow
from hemma.models import (
    AuditEntry,
    ClientToken,
    Observation,
    Profession,
    Staff,
    SystemClient,
)
from tests.fhir.test_create import FHIR, _pulse
from tests.fhir.validate import assert_r4

TOKEN_URL = "https://testserver/fhir/auth/token"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


class Gateway:
    """A registered client and its private key, as a home gateway holds them."""

    def __init__(self, database, world, *, client_id: str = "gw-1", scope: str,
                 unit: str = "med", alg: str = "ES384"):
        self.client_id = client_id
        self.private, public = smart.keygen(alg)
        self.alg = alg
        with database.session() as s:
            audit.trail(s).actor = audit.Actor(username="(test)")
            staff = Staff(username=f"{client_id}-account", given_name="Gateway",
                          family_name="Lycksele", profession=Profession.SYSTEM.value,
                          unit_id=world.units[unit], skills=[], created_at=utcnow())
            s.add(staff)
            s.flush()
            self.staff_id = staff.id
            smart.register_client(s, client_id=client_id, name="Gateway Lycksele",
                                  staff=staff, scope=scope, jwks=public)

    def assertion(self, **override) -> str:
        now = utcnow()
        claims = {"iss": self.client_id, "sub": self.client_id, "aud": TOKEN_URL,
                  "exp": int((now + timedelta(minutes=4)).timestamp()),
                  "jti": secrets.token_urlsafe(16), **override}
        claims = {k: v for k, v in claims.items() if v is not None}
        key = jwt.PyJWK(self.private).key
        return jwt.encode(claims, key, algorithm=self.alg, headers={"kid": self.private["kid"]})

    def form(self, assertion: str | None = None, **override) -> dict:
        return {"grant_type": "client_credentials",
                "client_assertion_type": smart.ASSERTION_TYPE,
                "client_assertion": assertion or self.assertion(),
                "scope": "system/Observation.c", **override}


def _ask(app, form: dict):
    c = TestClient(app, base_url="https://testserver")
    return c.post("/fhir/auth/token", data=form, headers=FORM)


def _with_token(app, token: str) -> TestClient:
    c = TestClient(app, base_url="https://testserver")
    c.headers["Authorization"] = f"Bearer {token}"
    return c


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(claims: dict) -> str:
    """alg none: a JWT anyone can write."""
    return f"{_b64(json.dumps({'alg': 'none', 'typ': 'JWT'}).encode())}." \
           f"{_b64(json.dumps(claims).encode())}."


def _hs256(claims: dict, secret: bytes) -> str:
    """HS256 keyed with the client's *public* key: the classic algorithm-confusion attack."""
    head = f"{_b64(json.dumps({'alg': 'HS256', 'typ': 'JWT'}).encode())}." \
           f"{_b64(json.dumps(claims).encode())}"
    sig = hmac.new(secret, head.encode(), hashlib.sha256).digest()
    return f"{head}.{_b64(sig)}"


def _entries(database, action: str) -> list[AuditEntry]:
    with database.session() as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.action == action)
                              .order_by(AuditEntry.id)))


def _count(database, pid) -> int:
    with database.session() as s:
        return s.scalar(select(func.count()).select_from(Observation).where(
            Observation.patient_id == pid))


def test_a_gateway_gets_a_token_and_records_a_value(app, world, database):
    pid = world.patient(unit="med")
    world.episode(pid, state="admitted")
    gw = Gateway(database, world, scope="system/Observation.crs")
    # Discovery says where and how.
    c = TestClient(app, base_url="https://testserver")
    config = c.get("/fhir/.well-known/smart-configuration").json()
    assert config["token_endpoint"] == TOKEN_URL
    assert config["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    assert set(config["token_endpoint_auth_signing_alg_values_supported"]) == {"RS384",
                                                                               "ES384"}
    assert "client-confidential-asymmetric" in config["capabilities"]
    security = c.get("/fhir/metadata").json()["rest"][0]["security"]
    assert security["extension"][0]["extension"][0]["valueUri"] == TOKEN_URL
    assert security["service"][0]["coding"][0]["code"] == "SMART-on-FHIR"

    # Asked for more than registered (Patient) and part of it: granted what both hold.
    r = _ask(app, gw.form(scope="system/Observation.cruds system/Patient.rs"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "bearer" and 0 < body["expires_in"] <= 300
    assert body["scope"] == "system/Observation.crs"
    assert r.headers["cache-control"] == "no-store"
    with database.session() as s:  # only its hash is kept
        assert s.scalar(select(func.count()).select_from(ClientToken).where(
            ClientToken.token_hash == body["access_token"])) == 0

    device = _with_token(app, body["access_token"])
    created = device.post("/fhir/Observation", json=_pulse(pid, 71), headers=FHIR)
    assert created.status_code == 201, created.text
    assert_r4(created.json())
    assert _count(database, pid) == 1
    # The scope allows a search, and the account may read the patient it records for.
    found = device.get(f"/fhir/Observation?patient={pid}")
    assert found.status_code == 200 and len(found.json()["entry"]) >= 1
    assert _entries(database, "fhir.scope_denied") == []
    # Patient is not in the token's scope: refused, though the account may read it.
    assert device.get(f"/fhir/Patient/{pid}").status_code == 403
    assert len(_entries(database, "fhir.scope_denied")) == 1

    # The log says which client it was: the token, and the value recorded under the
    # gateway's account.
    issued = _entries(database, "smart.token")[-1]
    assert issued.outcome == "allowed" and issued.user_id == gw.staff_id
    assert "client gw-1 (Gateway Lycksele)" in issued.detail
    recorded = [e for e in _entries(database, "fhir.create") if e.patient_id == pid]
    assert recorded and recorded[-1].user_id == gw.staff_id
    assert "client gw-1" in recorded[-1].detail


def test_an_rs384_key_works_too(app, world, database):
    gw = Gateway(database, world, scope="system/Observation.c", alg="RS384")
    r = _ask(app, gw.form())
    assert r.status_code == 200, r.text


def _refusals(gw: Gateway, other: Gateway) -> dict:
    now = utcnow()
    public = jwt.PyJWK({k: v for k, v in gw.private.items() if k != "d"}).key
    from cryptography.hazmat.primitives import serialization

    pem = public.public_bytes(serialization.Encoding.PEM,
                              serialization.PublicFormat.SubjectPublicKeyInfo)
    claims = {"iss": gw.client_id, "sub": gw.client_id, "aud": TOKEN_URL,
              "exp": int((now + timedelta(minutes=4)).timestamp()), "jti": "x-1"}
    return {
        # Signed with another client's key, naming this one.
        "wrong key": gw.form(other.assertion(iss=gw.client_id, sub=gw.client_id)),
        "alg none": gw.form(_unsigned(claims)),
        "HS256 with the public key": gw.form(_hs256(claims, pem)),
        "expired": gw.form(gw.assertion(exp=int((now - timedelta(minutes=2)).timestamp()))),
        "too far ahead": gw.form(gw.assertion(exp=int((now + timedelta(hours=1)).timestamp()))),
        "no exp": gw.form(gw.assertion(exp=None)),
        "exp centuries ahead": gw.form(gw.assertion(exp=10**14)),
        "jti with NUL": gw.form(gw.assertion(jti="a\x00b")),
        "iss with NUL": gw.form(gw.assertion(iss="gw-1\x00", sub="gw-1\x00")),
        "wrong aud": gw.form(gw.assertion(aud="https://elsewhere.example/token")),
        "iss is not sub": gw.form(gw.assertion(sub="someone-else")),
        "no jti": gw.form(gw.assertion(jti=None)),
        "unknown client": gw.form(gw.assertion(iss="gw-404", sub="gw-404")),
        "not a JWT": gw.form("not.a.jwt"),
    }


@pytest.mark.parametrize("case", ["wrong key", "alg none", "HS256 with the public key",
                                  "expired", "too far ahead", "no exp",
                                  "exp centuries ahead", "jti with NUL", "iss with NUL",
                                  "wrong aud",
                                  "iss is not sub", "no jti", "unknown client", "not a JWT"])
def test_an_assertion_that_does_not_prove_the_client_is_refused(case, app, world, database):
    gw = Gateway(database, world, scope="system/Observation.c")
    other = Gateway(database, world, client_id="gw-2", scope="system/Observation.c")
    r = _ask(app, _refusals(gw, other)[case])
    assert r.status_code == 401, (case, r.text)
    assert r.json()["error"] == "invalid_client" and r.json()["error_description"]
    assert "access_token" not in r.json()
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(ClientToken)) == 0
    refused = _entries(database, "smart.token")
    assert [e.outcome for e in refused] == ["denied"]


def test_an_assertion_is_good_once(app, world, database):
    gw = Gateway(database, world, scope="system/Observation.c")
    assertion = gw.assertion()
    assert _ask(app, gw.form(assertion)).status_code == 200
    again = _ask(app, gw.form(assertion))
    assert again.status_code == 401 and again.json()["error"] == "invalid_client"
    assert "jti" in again.json()["error_description"]


def test_a_disabled_client_gets_no_token_and_its_tokens_stop(app, world, database):
    pid = world.patient(unit="med")
    world.episode(pid, state="admitted")
    gw = Gateway(database, world, scope="system/Observation.c")
    token = _ask(app, gw.form()).json()["access_token"]
    with database.session() as s:
        smart.disable_client(s, s.scalar(select(SystemClient)))
    r = _ask(app, gw.form())
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    assert _with_token(app, token).post("/fhir/Observation", json=_pulse(pid),
                                        headers=FHIR).status_code == 401
    assert _count(database, pid) == 0


def test_an_expired_token_opens_nothing(app, world, database):
    pid = world.patient(unit="med")
    world.episode(pid, state="admitted")
    gw = Gateway(database, world, scope="system/Observation.c")
    token = _ask(app, gw.form()).json()["access_token"]
    with database.session() as s:
        s.execute(update(ClientToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    r = _with_token(app, token).post("/fhir/Observation", json=_pulse(pid), headers=FHIR)
    assert r.status_code == 401 and r.json()["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize("form, status, error", [
    ({"grant_type": "authorization_code"}, 400, "unsupported_grant_type"),
    ({"grant_type": "password"}, 400, "unsupported_grant_type"),
    ({"grant_type": None}, 400, "invalid_request"),
    ({"client_assertion_type": "urn:example:other"}, 401, "invalid_client"),
    ({"client_assertion": None}, 401, "invalid_client"),
    ({"scope": "system/Observation.xyz"}, 400, "invalid_scope"),
    ({"scope": "patient/Observation.rs"}, 400, "invalid_scope"),
    ({"scope": "openid"}, 400, "invalid_scope"),
    ({"scope": "system/Observation.rc"}, 400, "invalid_scope"),  # v2 order: c r u d s
    ({"scope": "system/Patient.rs"}, 400, "invalid_scope"),  # not registered
    ({"scope": ""}, 400, "invalid_scope"),
    ({"client_id": "gw-2"}, 401, "invalid_client"),
])
def test_a_bad_token_request_gets_the_oauth_error(form, status, error, app, world, database):
    gw = Gateway(database, world, scope="system/Observation.c")
    sent = {k: v for k, v in gw.form(**form).items() if v is not None}
    r = _ask(app, sent)
    assert (r.status_code, r.json()["error"]) == (status, error), r.text
    assert "access_token" not in r.json()


def test_the_token_endpoint_takes_only_a_form(app, world, database):
    gw = Gateway(database, world, scope="system/Observation.c")
    c = TestClient(app, base_url="https://testserver")
    r = c.post("/fhir/auth/token", json=gw.form())
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    r = c.post("/fhir/auth/token", content=b"grant_type=a&grant_type=b", headers=FORM)
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    r = c.post("/fhir/auth/token", content=b"\xff\xfe", headers=FORM)
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    r = c.post("/fhir/auth/token", content=b"a=" + b"x" * 20_000, headers=FORM)
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"


def test_scopes_narrow_what_a_token_may_ask_for(app, world, database):
    pid = world.patient(unit="med")
    world.episode(pid, state="admitted")
    writer = Gateway(database, world, scope="system/Observation.c")
    reader = Gateway(database, world, client_id="gw-2", scope="system/*.rs")
    w = _with_token(app, _ask(app, writer.form()).json()["access_token"])
    # A write-only token reads no patient: refused by its scopes, before anything is read.
    r = w.get(f"/fhir/Patient/{pid}")
    assert r.status_code == 403
    issue = r.json()["issue"][0]
    assert issue["code"] == "forbidden" and "(Patient.r)" in issue["diagnostics"]
    assert _entries(database, "fhir.scope_denied")[-1].outcome == "denied"
    assert w.get(f"/fhir/Observation?patient={pid}").status_code == 403
    # A read-only token records nothing (the account itself may record).
    rd = _with_token(app, _ask(app, reader.form(scope="system/*.rs")).json()["access_token"])
    r = rd.post("/fhir/Observation", json=_pulse(pid), headers=FHIR)
    assert r.status_code == 403 and r.json()["issue"][0]["code"] == "forbidden"
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": _pulse(pid), "request": {"method": "POST", "url": "Observation"}}]}
    assert rd.post("/fhir", json=bundle, headers=FHIR).status_code == 403
    assert _count(database, pid) == 0
    # In Swedish unless English is asked for.
    sv = rd.post("/fhir/Observation", json=_pulse(pid), headers=FHIR)
    assert sv.json()["issue"][0]["diagnostics"] == (
        "Tokenens behörigheter (scopes) tillåter inte detta (Observation.c)")
    en = rd.post("/fhir/Observation", json=_pulse(pid),
                 headers={**FHIR, "Accept-Language": "en"})
    assert en.json()["issue"][0]["diagnostics"] == (
        "The token's scopes do not allow this (Observation.c)")


def test_a_client_token_opens_only_the_fhir_api(app, world, database):
    pid = world.patient(unit="med")
    world.episode(pid, state="admitted")
    gw = Gateway(database, world, scope="system/Observation.c")
    c = _with_token(app, _ask(app, gw.form()).json()["access_token"])
    r = c.post(f"/api/v1/patients/{pid}/observations", json={"pulse": 72})
    assert r.status_code == 401
    assert c.get("/api/v1/alerts").status_code == 401
    page = c.get("/", follow_redirects=False)
    assert page.status_code == 303 and "/login" in page.headers["location"]
    assert _count(database, pid) == 0


def test_the_account_still_decides_per_patient(app, world, database):
    """Scopes never widen: a gateway of Medicinkliniken records nothing for a patient
    Medicinkliniken does not care for (404, as if the patient did not exist)."""
    ours = world.patient(unit="med")
    world.episode(ours, state="admitted")
    theirs = world.patient(unit="hsv")
    gw = Gateway(database, world, scope="system/*.cru")
    c = _with_token(app, _ask(app, gw.form(scope="system/*.cru")).json()["access_token"])
    assert c.post("/fhir/Observation", json=_pulse(ours), headers=FHIR).status_code == 201
    r = c.post("/fhir/Observation", json=_pulse(theirs), headers=FHIR)
    assert r.status_code == 404, r.text
    assert _count(database, theirs) == 0


def test_a_reading_client_sees_only_what_its_account_may(app, world, database):
    """A `system/*.rs` token reads through the same can() as its account: a patient the
    account has no care relationship with is absent from search and 404 on read."""
    ours = world.patient(unit="hc")
    theirs = world.patient(unit="hsv")
    public = smart.keygen("ES384")
    with database.session() as s:
        # Registered directly: register_client() takes system accounts only.
        s.add(SystemClient(client_id="journal-1", name="Journal", staff_id=world.staff["hugo"],
                           scope="system/*.rs", jwks=public[1], created_at=utcnow()))
    gw = Gateway.__new__(Gateway)
    gw.client_id, gw.private, gw.alg = "journal-1", public[0], "ES384"
    c = _with_token(app, _ask(app, gw.form(scope="system/*.rs")).json()["access_token"])
    assert c.get(f"/fhir/Patient/{ours}").status_code == 200
    assert c.get(f"/fhir/Patient/{theirs}").status_code == 404
    ids = {e["resource"]["id"] for e in c.get(f"/fhir/Patient?_id={ours},{theirs}")
           .json().get("entry", [])}
    assert ids == {str(ours)}
    assert c.post("/fhir/Observation", json=_pulse(ours), headers=FHIR).status_code == 403


def test_registration_takes_system_accounts_public_keys_and_valid_scopes(world, database):
    private, public = smart.keygen("ES384")
    with database.session() as s:
        nurse = s.get(Staff, world.staff["sara"])
        with pytest.raises(smart.ClientError, match="system account"):
            smart.register_client(s, client_id="x", name="X", staff=nurse,
                                  scope="system/Observation.c", jwks=public)
        system = Staff(username="gw-acc", given_name="G", family_name="W",
                       profession="system", unit_id=world.units["med"], skills=[],
                       created_at=utcnow())
        s.add(system)
        s.flush()
        with pytest.raises(smart.ClientError, match="private key"):
            smart.register_client(s, client_id="x", name="X", staff=system,
                                  scope="system/Observation.c", jwks={"keys": [private]})
        with pytest.raises(smart.ClientError):
            smart.register_client(s, client_id="x", name="X", staff=system,
                                  scope="system/Observation.rc", jwks=public)
        with pytest.raises(smart.ClientError):
            smart.register_client(s, client_id="bad id!", name="X", staff=system,
                                  scope="system/Observation.c", jwks=public)


def test_scopes_parse_v2_and_v1_and_grant_only_what_is_registered():
    assert scopes.parse("system/Observation.c user/*.rs") == (
        scopes.Scope("system", "Observation", "c"), scopes.Scope("user", "*", "rs"))
    assert scopes.parse("system/Patient.read system/Observation.write system/*.*") == (
        scopes.Scope("system", "Patient", "rs"), scopes.Scope("system", "Observation", "cud"),
        scopes.Scope("system", "*", "cruds"))
    for bad in ("system/Observation", "system/observation.rs", "system/*.sr", "system/*.cc",
                "launch", "patient/*.rs", "system/Observation.rs?category=vital-signs",
                "system/*.x"):
        with pytest.raises(scopes.ScopeError):
            scopes.parse(bad)
    registered = scopes.parse("system/Observation.crs system/Patient.rs")
    assert scopes.render(scopes.grant(scopes.parse("system/*.cruds"), registered)) == \
        "system/Observation.crs system/Patient.rs"
    assert scopes.grant(scopes.parse("system/Task.rs"), registered) == ()
    assert scopes.render(scopes.grant(scopes.parse("system/Observation.cu"),
                                      scopes.parse("system/*.rs"))) == ""
    assert scopes.allows(scopes.parse("system/*.rs"), "Patient", "s")
    assert not scopes.allows(scopes.parse("system/*.rs"), "Observation", "c")


def _cli(settings, *args):
    configure(None)
    try:
        result = CliRunner().invoke(cli, ["clients", *args], env={
            "HEMMA_DATABASE_URL": settings.database_url,
            "HEMMA_SECRET_KEY": settings.secret_key or "",
            "HEMMA_DATA_DIR": str(settings.data_dir)})
    finally:
        configure(settings)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def test_the_clients_command_makes_keys_registers_lists_and_disables(settings, app, world,
                                                                     database, tmp_path):
    key = tmp_path / "gw.jwk"
    public = tmp_path / "gw.jwks"
    code, out = _cli(settings, "keygen", "--out", str(key), "--public-out", str(public))
    assert code == 0, out
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    assert "d" in json.loads(key.read_text()) and "d" not in json.loads(out)["keys"][0]
    with database.session() as s:
        from hemma.models import Unit

        unit = s.get(Unit, world.units["med"]).name
    code, out = _cli(settings, "add", "gw-9", "--name", "Gateway 9", "--user", "gw9",
                     "--create-user", "--unit", unit, "--scope", "system/Observation.c",
                     "--jwks", str(public))
    assert code == 0, out
    code, out = _cli(settings, "list")
    assert "gw-9" in out and "system/Observation.c" in out and "active" in out
    gw = Gateway.__new__(Gateway)
    gw.client_id, gw.private, gw.alg = "gw-9", json.loads(key.read_text()), "ES384"
    assert _ask(app, gw.form()).status_code == 200
    code, out = _cli(settings, "disable", "gw-9")
    assert code == 0 and "disabled" in _cli(settings, "list")[1]
    assert _ask(app, gw.form()).status_code == 401
    # The private key is never overwritten.
    assert _cli(settings, "keygen", "--out", str(key))[0] != 0
