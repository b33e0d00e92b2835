"""ASGI middleware: security headers and the request's language (both put outermost by
`app.HemmaApp`; the body size limit is FastAPI's own `max_body_size`)."""

from __future__ import annotations

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hemma.i18n import LANGUAGES, current_language

# Scripts and styles only from our own origin: whatever text reaches a page cannot run.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


class SecurityHeaders:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("Content-Security-Policy", CSP)
                headers["X-Content-Type-Options"] = "nosniff"
                headers["X-Frame-Options"] = "DENY"
                headers["Referrer-Policy"] = "no-referrer"
                # Geolocation for our own pages only: staff at a patient's door may use their
                # phone's position as the home's (the patient's details page).
                headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=(self)"
                headers["Cross-Origin-Opener-Policy"] = "same-origin"
                if not static and "no-store" not in headers.get("Cache-Control", ""):
                    # Patient data must not stay in a shared computer's cache (a route may
                    # say more, e.g. "private, no-store" for a photo, never less).
                    headers["Cache-Control"] = "no-store"
                    headers["Pragma"] = "no-cache"
            await send(message)

        await self.app(scope, receive, send_with_headers)


class Language:
    """Swedish unless the user chose English (cookie) or the app is configured otherwise."""

    def __init__(self, app: ASGIApp, default: str):
        self.app = app
        self.default = default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        lang = self.default
        headers = Headers(scope=scope)
        if scope["path"].startswith("/api/"):
            # Systems calling the API say which language they want their messages in.
            for part in headers.get("accept-language", "").split(","):
                tag = part.split(";")[0].strip().lower()[:2]
                if tag in LANGUAGES:
                    lang = tag
                    break
        for part in headers.get("cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == "hemma_lang" and value in LANGUAGES:
                lang = value
        token = current_language.set(lang)
        try:
            await self.app(scope, receive, send)
        finally:
            current_language.reset(token)
