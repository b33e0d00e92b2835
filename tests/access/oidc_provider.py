"""A real OpenID provider for the tests: Authlib's server side (the authorization code grant
with OpenID Connect's `OpenIDCode` and PKCE's `CodeChallenge`), served over HTTP on a free
loopback port by uvicorn in a thread (tests/live.py), with a login page a browser can use.

It plays the region's identity provider that SITHS eID logs in through: the user "logs in"
by typing their HSA-id (a test has no card), and the ID token carries it in the claim Hemma
is configured to read. `Knobs` make it misbehave the ways a login must survive: another
issuer or audience in the token, an expired token, the nonce of an earlier login, a
tampered signature, a key rotated since Hemma last read the keys."""

from __future__ import annotations

import html
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlencode

from authlib.common.security import generate_token
from authlib.oauth2.rfc6749 import AuthorizationServer, InvalidRequestError, OAuth2Request
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from tests.live import serving

CLIENT_ID = "hemma-test"
CLIENT_SECRET = "test-client-secret-not-for-production"
HSA_CLAIM = "employeeHsaId"


@dataclass
class Knobs:
    """How the next ID tokens go wrong (all off: a correct provider)."""

    issuer: str | None = None  # put this `iss` in the token instead of the provider's own
    audience: str | None = None  # this `aud` instead of the client's id
    expired: bool = False  # issued twenty minutes ago, expired ten minutes ago
    nonce: str | None = None  # this nonce instead of the one the login asked for
    tamper: bool = False  # change the signature after signing
    omit_hsa_id: bool = False  # no HSA-id claim at all


@dataclass
class _User:
    hsa_id: str

    def get_user_id(self):
        return self.hsa_id


@dataclass
class _Client:
    client_id: str
    client_secret: str | None
    redirect_uris: list[str]

    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        return self.redirect_uris[0]

    def get_allowed_scope(self, scope):
        return " ".join(s for s in (scope or "").split() if s in ("openid", "profile"))

    def check_redirect_uri(self, redirect_uri):
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret):
        return self.client_secret is not None and client_secret == self.client_secret

    def check_endpoint_auth_method(self, method, endpoint):
        if self.client_secret is None:
            return method == "none"
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type):
        return response_type == "code"

    def check_grant_type(self, grant_type):
        return grant_type == "authorization_code"


@dataclass
class _Code:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user: _User
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: int

    def get_redirect_uri(self):
        return self.redirect_uri

    def get_scope(self):
        return self.scope

    def get_nonce(self):
        return self.nonce

    def get_auth_time(self):
        return self.auth_time

    def get_acr(self):
        return None

    def get_amr(self):
        return ["smartcard"]


class _Request(OAuth2Request):
    def __init__(self, method: str, uri: str, headers, query: dict, form: dict):
        super().__init__(method, uri, headers=headers)
        self._query, self._form = query, form
        self.payload = BasicOAuth2Payload({**query, **form})

    @property
    def args(self):
        return self._query

    @property
    def form(self):
        return self._form


class _PkceRequired(CodeChallenge):
    """PKCE from every client, confidential ones too (as Hemma always sends it)."""

    def validate_code_challenge(self, grant, redirect_uri):
        if not grant.request.payload.data.get("code_challenge"):
            raise InvalidRequestError("PKCE (code_challenge) is required")
        if grant.request.payload.data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256")
        return super().validate_code_challenge(grant, redirect_uri)


@dataclass
class TestProvider:
    """The provider's state: its client, key(s), codes, and the knobs."""

    __test__ = False  # not a test class, whatever pytest thinks of the name

    redirect_uris: list[str]
    client_secret: str | None = CLIENT_SECRET
    issuer: str = ""  # set once it is served
    knobs: Knobs = field(default_factory=Knobs)
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(
        2048, parameters={"kid": "k1", "use": "sig", "alg": "RS256"}, private=True))
    published: list = field(default_factory=list)  # the keys /jwks serves
    codes: dict = field(default_factory=dict)
    nonces: list = field(default_factory=list)  # every nonce a login asked for, in order
    jwks_reads: int = 0
    token_requests: list = field(default_factory=list)  # the token requests' form fields

    def __post_init__(self):
        self.published = [self.key]
        self.client = _Client(CLIENT_ID, self.client_secret, list(self.redirect_uris))
        self.server = self._server()

    def rotate_key(self) -> None:
        """A new signing key, published beside the old one (as providers roll keys)."""
        self.key = RSAKey.generate_key(
            2048, parameters={"kid": f"k{len(self.published) + 1}", "use": "sig",
                              "alg": "RS256"}, private=True)
        self.published.append(self.key)

    # --- Authlib's server ---------------------------------------------------------------

    def _server(self) -> AuthorizationServer:
        provider = self

        class Server(AuthorizationServer):
            def query_client(self, client_id):
                return provider.client if client_id == provider.client.client_id else None

            def save_token(self, token, request):
                pass

            def create_oauth2_request(self, request):
                return request

            def handle_response(self, status, body, headers):
                return status, body, headers

            def send_signal(self, name, *args, **kwargs):
                pass

        class CodeGrant(AuthorizationCodeGrant):
            TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]

            def save_authorization_code(self, code, request):
                data = request.payload.data
                provider.codes[code] = _Code(
                    code, request.client.get_client_id(), request.payload.redirect_uri,
                    request.payload.scope, request.user, data.get("nonce"),
                    data.get("code_challenge"), data.get("code_challenge_method"),
                    int(time.time()))

            def query_authorization_code(self, code, client):
                found = provider.codes.get(code)
                return found if found is not None and found.client_id == client.client_id \
                    else None

            def delete_authorization_code(self, authorization_code):
                provider.codes.pop(authorization_code.code, None)

            def authenticate_user(self, authorization_code):
                return authorization_code.user

        class OpenID(OpenIDCode):
            def exists_nonce(self, nonce, request):
                return False  # Hemma's nonce is new each time; the provider lets replays by

            def resolve_client_private_key(self, client):
                return provider.key

            def get_client_algorithm(self, client):
                return "RS256"

            def get_encode_header(self, client):
                return {"alg": "RS256", "kid": provider.key.kid}

            def get_client_claims(self, client):
                knobs = provider.knobs
                claims = {"iss": knobs.issuer or provider.issuer,
                          "aud": [knobs.audience or client.get_client_id()]}
                if knobs.expired:
                    now = int(time.time())
                    claims.update(iat=now - 1200, exp=now - 600, auth_time=now - 1200)
                return claims

            def get_authorization_code_claims(self, authorization_code):
                claims = super().get_authorization_code_claims(authorization_code)
                if provider.knobs.nonce is not None:
                    claims["nonce"] = provider.knobs.nonce
                return claims

            def generate_user_info(self, user, scope):
                info = UserInfo(sub=f"sub-{user.hsa_id}")
                if not provider.knobs.omit_hsa_id:
                    info[HSA_CLAIM] = user.hsa_id
                return info

            def process_token(self, grant, response):
                token = super().process_token(grant, response)
                if provider.knobs.tamper and "id_token" in token:
                    head, body, signature = token["id_token"].split(".")
                    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
                    token["id_token"] = f"{head}.{body}.{flipped}"
                return token

        server = Server(scopes_supported=["openid", "profile"])
        server.register_token_generator("default", BearerTokenGenerator(
            lambda **kw: generate_token(42)))
        server.register_grant(CodeGrant, [_PkceRequired(required=True), OpenID(
            require_nonce=True)])
        return server

    # --- HTTP -------------------------------------------------------------------------------

    async def _request(self, request: Request) -> _Request:
        form = dict(await request.form()) if request.method == "POST" else {}
        return _Request(request.method, str(request.url), request.headers,
                        dict(request.query_params), {k: str(v) for k, v in form.items()})

    @staticmethod
    def _response(result) -> Response:
        status, body, headers = result
        if isinstance(body, dict):
            return JSONResponse(body, status_code=status, headers=dict(headers))
        return Response(body, status_code=status, headers=dict(headers))

    async def discovery(self, request: Request):
        return JSONResponse({
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "profile"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic",
                                                      "client_secret_post", "none"],
            "code_challenge_methods_supported": ["S256"],
            "grant_types_supported": ["authorization_code"],
            "claims_parameter_supported": True,
            "claims_supported": ["sub", HSA_CLAIM],
        })

    async def jwks(self, request: Request):
        self.jwks_reads += 1
        return JSONResponse({"keys": [k.as_dict(private=False) for k in self.published]})

    async def authorize(self, request: Request):
        oauth = await self._request(request)
        grant = self.server.get_consent_grant(oauth)
        if request.method == "GET":
            self.nonces.append(oauth.payload.data.get("nonce"))
            query = html.escape(urlencode(dict(request.query_params)))
            return HTMLResponse(
                "<!doctype html><html lang='sv'><head><title>Regionens inloggning (test)"
                "</title></head><body><main><h1>Regionens inloggning (test)</h1>"
                f"<form method='post' action='/authorize?{query}'>"
                "<label for='hsa_id'>HSA-id</label> <input id='hsa_id' name='hsa_id'>"
                "<button type='submit' name='action' value='login'>Logga in</button>"
                "<button type='submit' name='action' value='cancel'>Avbryt</button>"
                "</form></main></body></html>")
        user = _User(oauth.form.get("hsa_id", "")) if oauth.form.get("action") != "cancel" \
            else None
        return self._response(self.server.create_authorization_response(
            oauth, grant_user=user, grant=grant))

    async def token(self, request: Request):
        oauth = await self._request(request)
        self.token_requests.append(dict(oauth.form))
        return self._response(self.server.create_token_response(oauth))

    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/.well-known/openid-configuration", self.discovery),
            Route("/jwks", self.jwks),
            Route("/authorize", self.authorize, methods=["GET", "POST"]),
            Route("/token", self.token, methods=["POST"]),
        ])


@contextmanager
def running(redirect_uris: list[str], **kw):
    """A provider served on a free loopback port until the block ends."""
    provider = TestProvider(redirect_uris, **kw)
    with serving(provider.app()) as base:
        provider.issuer = base
        yield provider
