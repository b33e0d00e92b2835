"""ASGI middleware: the request's id, access line and latency; security headers; the
request's language (all put outermost by `app.HemmaApp`; the body size limit is FastAPI's
own `max_body_size`)."""

from __future__ import annotations

import logging
import time

from starlette.datastructures import Headers, MutableHeaders
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hemma.i18n import LANGUAGES, current_language
from hemma.kit.aio import LoopSemaphore
from hemma.kit.logs import new_request_id, request_id, sane_request_id
from hemma.kit.metrics import REQUEST_SECONDS, status_class

access_log = logging.getLogger("hemma.http")

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Asked every few seconds by load balancers and the scraper: their lines are DEBUG.
QUIET_PATHS = frozenset({"/health", "/ready", "/metrics"})
UNMATCHED = "(unmatched)"


def route_template(scope: Scope) -> str:
    """The route's path as declared ("/patients/{patient_id}"), never the filled path: that
    holds patient ids (and a query, search words). Set on the scope by the router."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if path is None:
        return UNMATCHED
    return f"{path}/{{path}}" if isinstance(route, Mount) else path


class RequestLog:
    """Outermost. Gives each request an id — the load balancer's X-Request-ID when it is a
    sane one, else a new one — that every log line of the request carries (hemma.kit.logs)
    and the answer returns in X-Request-ID; then writes one access line (method, route
    template, status, duration, the staff member's id number: never a name) and observes
    the request latency histogram."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = sane_request_id(Headers(scope=scope).get("x-request-id")) or new_request_id()
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 500  # if the app fails before it answers

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)["X-Request-ID"] = rid
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            method = scope["method"] if scope["method"] in METHODS else "other"
            route = route_template(scope)
            REQUEST_SECONDS.labels(method, route, status_class(status)).observe(seconds)
            principal = scope.get("state", {}).get("principal")
            access_log.log(
                logging.DEBUG if scope["path"] in QUIET_PATHS else logging.INFO,
                "%s %s %s", method, route, status,
                extra={"method": method, "route": route, "status": status,
                       "duration_ms": round(seconds * 1000, 1),
                       "user_id": principal.subject.staff_id if principal else None})
            request_id.reset(token)

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
        if scope["path"].startswith(("/api/", "/fhir/")) or scope["path"] == "/fhir":
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


class Admission:
    """At most `limit` requests at a time between arriving and starting their answer.

    A request works in worker threads (its dependencies, a sync route) and holds a database
    connection from its first query to its end; each step needs a thread of the same pool.
    When more requests hold connections than there are connections to go round, every thread
    can end up waiting for a connection that only a thread could give back (a deadlock seen
    with hundreds of live boards opening at once). Admitting fewer requests than the pool has
    connections (a request's own units of work count twice) rules that out; the rest wait
    their turn in the event loop, where waiting costs nothing. A stream (server-sent events)
    lets the next request in as soon as it starts answering: it holds no connection then.
    Static files and /health (which touches no database) never wait."""

    def __init__(self, app: ASGIApp, limit: int):
        self.app = app
        self.limit = limit
        self._semaphore = LoopSemaphore(limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/static/") \
                or scope["path"] == "/health":
            await self.app(scope, receive, send)
            return
        semaphore = self._semaphore.get()
        await semaphore.acquire()
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                semaphore.release()

        async def send_and_release(message: Message) -> None:
            if message["type"] == "http.response.start":
                release()
            await send(message)

        try:
            await self.app(scope, receive, send_and_release)
        finally:
            release()
