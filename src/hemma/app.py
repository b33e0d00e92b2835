"""create_app(): the JSON API, the pages, static files, and the error handling they share."""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from hemma.config import Settings, configure, get_settings
from hemma.db import Database
from hemma.geo.geocoding import geocoder_for
from hemma.i18n import gettext as _
from hemma.kit.errors import FieldError, HemmaError, Unauthenticated
from hemma.kit.text import N_
from hemma.kit.validation import field_errors
from hemma.web.deps import SESSION_COOKIE, UNSAFE_METHODS, api_routes, check_routes_declare_access
from hemma.web.middleware import Admission, Language, RequestLog, SecurityHeaders, route_template
from hemma.web.routing import check_json_routes
from hemma.web.templating import render

log = logging.getLogger("hemma")
STATIC_DIR = Path(__file__).resolve().parent / "web" / "static"


def _is_fhir(request: Request) -> bool:
    return request.url.path == "/fhir" or request.url.path.startswith("/fhir/")


# Asked by machines (load balancers, Prometheus): their errors are JSON, like the API's.
MACHINE_PATHS = frozenset({"/health", "/ready", "/metrics"})


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/") or _is_fhir(request) \
        or request.url.path in MACHINE_PATHS


# The OperationOutcome issue type of each status (FHIR's IssueType codes).
FHIR_ISSUE = {400: "invalid", 401: "login", 403: "forbidden", 404: "not-found", 409: "conflict",
              405: "not-supported", 412: "conflict", 413: "too-long", 415: "not-supported",
              422: "invalid",
              503: "transient"}


def _translate(errors: list[FieldError]) -> list[dict]:
    return [{"field": e.field, "message": _(e.message, **e.params) if e.params else _(e.message)}
            for e in errors]


def _error_response(request: Request, status: int, title: str, message: str,
                    errors: list[FieldError] | None = None):
    if _is_fhir(request):
        from hemma.fhir.api import FhirResponse
        from hemma.fhir.resources import outcome

        # One issue per field named (with its expression), else one for the whole request.
        code = FHIR_ISSUE.get(status, "exception")
        issues = [outcome(e["message"], code=code, expression=e["field"])["issue"][0]
                  for e in _translate(errors or []) if e["field"]]
        body = {"resourceType": "OperationOutcome",
                "issue": issues or outcome(message, code=code)["issue"]}
        return FhirResponse(body, status_code=status,
                            headers={"WWW-Authenticate": "Bearer"} if status == 401 else None)
    if _is_api(request):
        return JSONResponse({"detail": message, "errors": _translate(errors or [])},
                            status_code=status)
    # A page names the fields too (a link or a bookmark with a bad parameter).
    named = [e for e in _translate(errors or []) if e["field"]]
    return render(request, "error.html", {"title": title, "message": message,
                                          "field_errors": named}, status_code=status)


def _not_found(request: Request):
    # The same words whether the thing does not exist or the user may not know about it.
    return _error_response(request, 404, _("Not found"),
                           _("The page does not exist, or you do not have access to it."),
                           [FieldError("", "Not found")])


async def hemma_error(request: Request, exc: HemmaError):
    if isinstance(exc, Unauthenticated):
        if _is_fhir(request):
            return _error_response(request, 401, _("Please log in"), _(exc.message))
        if _is_api(request):
            return JSONResponse({"detail": _(exc.message), "errors": []}, status_code=401,
                                headers={"WWW-Authenticate": "Bearer"})
        if request.url.path.startswith("/p/") or request.url.path == "/p":
            return RedirectResponse("/p/login", 303)
        done = "&done=timeout" if request.cookies.get(SESSION_COOKIE) else ""
        return RedirectResponse(f"/login?next={request.url.path}{done}", 303)
    if exc.status_code == 404:
        return _not_found(request)
    message = _(exc.message, **exc.params) if exc.params else _(exc.message)
    title = {403: _("Not allowed"), 503: _("Try again soon")}.get(exc.status_code,
                                                                  _("Something is wrong"))
    headers = {"Retry-After": "5"} if exc.status_code == 503 else None
    response = _error_response(request, exc.status_code, title, message, exc.errors)
    if headers:
        response.headers.update(headers)
    return response


async def validation_error(request: Request, exc: RequestValidationError):
    errors = field_errors(list(exc.errors()))
    return _error_response(request, 422, _("Something is wrong"),
                           _("Invalid input. Nothing was changed."), errors)


async def http_error(request: Request, exc: StarletteHTTPException):
    if isinstance(exc.__cause__, HemmaError):
        # A request body our JSON reader refused (web.routing.JsonRoute): FastAPI wraps the
        # reason in a bare 400; answer with the reason, which names the field.
        return await hemma_error(request, exc.__cause__)
    if exc.status_code == 404:
        return _not_found(request)
    if exc.status_code == 413:
        message = _("The request is too large. Nothing was changed.")
        return _error_response(request, 413, _("Something is wrong"), message,
                               [FieldError("body", N_("The request is too large"))])
    if exc.status_code == 400:
        message = _("The request could not be read. Nothing was changed.")
        return _error_response(request, 400, _("Something is wrong"), message,
                               [FieldError("body", N_("The request could not be read"))])
    if exc.status_code == 405:
        # A method the address does not take (POST of a Patient, DELETE): said in the
        # caller's language, with the methods it does take.
        response = _error_response(request, 405, _("Something is wrong"),
                                   _("This operation is not supported here."))
        if exc.headers and "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    return _error_response(request, exc.status_code, _("Something is wrong"),
                           str(exc.detail))


async def unexpected(request: Request, exc: Exception):
    # The route's template, not the path: paths hold patient ids.
    log.exception("unhandled error on %s %s", request.method, route_template(request.scope))
    if request.method in UNSAFE_METHODS:
        # The request's transaction is rolled back when the route raises: what it was
        # asked to change is not changed.
        message = _("An error occurred and what you sent was not saved. Try again, and "
                    "tell your administrator if it happens again.")
    else:
        # Showing a page changes nothing: what was saved before (a round note, say, saved
        # by the form that led here) is still saved.
        message = _("An error occurred and the page could not be shown. Opening a page "
                    "changes nothing, so what was saved before is still saved. Try again, "
                    "and tell your administrator if it happens again.")
    return _error_response(request, 500, _("Something went wrong"), message)


async def search_error(request: Request, exc):
    """A FHIR search parameter Hemma cannot use: 400, naming the parameter."""
    message = _(exc.message, **exc.params) if exc.params else _(exc.message)
    return _error_response(request, 400, _("Something is wrong"), message,
                           [FieldError(exc.parameter, exc.message, exc.params)])


async def fhir_content_error(request: Request, exc):
    """A FHIR resource Hemma cannot take as it is: 422, naming the element; nothing saved."""
    message = _(exc.message, **exc.params) if exc.params else _(exc.message)
    return _error_response(request, 422, _("Something is wrong"), message,
                           [FieldError(exc.path, exc.message, exc.params)])


def install_error_handlers(app: FastAPI) -> None:
    from hemma.fhir.search import SearchError
    from hemma.fhir.vitals import NotUnderstood

    app.add_exception_handler(HemmaError, hemma_error)
    app.add_exception_handler(SearchError, search_error)
    app.add_exception_handler(NotUnderstood, fhir_content_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    # Runs in Starlette's outermost error middleware; HemmaApp keeps the security headers
    # and the language around even that one.
    app.add_exception_handler(Exception, unexpected)


class HemmaApp(FastAPI):
    """FastAPI with the request's id and access line, the security headers and the request's
    language outermost, around Starlette's own error and body-limit middleware: a 500 page or
    a 413 carries the same headers as every other answer, in the user's language, and is
    logged and timed like them."""

    def __init__(self, *args, default_language: str, admitted_at_once: int, **kwargs):
        self.default_language = default_language
        self.admitted_at_once = admitted_at_once
        super().__init__(*args, **kwargs)

    def build_middleware_stack(self):
        return RequestLog(SecurityHeaders(Language(Admission(super().build_middleware_stack(),
                                                             self.admitted_at_once),
                                                   default=self.default_language)))


# What every 4xx of the JSON API looks like (not FastAPI's default validation error).
ERROR_SCHEMA = {
    "title": "Error",
    "type": "object",
    "required": ["detail", "errors"],
    "properties": {
        "detail": {"type": "string", "title": "Detail"},
        "errors": {"type": "array", "title": "Errors", "items": {
            "type": "object", "required": ["field", "message"],
            "properties": {"field": {"type": "string", "title": "Field"},
                           "message": {"type": "string", "title": "Message"}}}},
    },
}


def _document_errors(app: FastAPI) -> None:
    """The OpenAPI document tells the truth about invalid input: a 422 carries our Error
    (a message, and one message per field) as JSON from the API and as a page elsewhere."""
    generate = app.openapi

    def openapi() -> dict:
        if app.openapi_schema:
            return app.openapi_schema
        spec = generate()
        schemas = spec.setdefault("components", {}).setdefault("schemas", {})
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
        schemas["Error"] = ERROR_SCHEMA
        for path, operations in spec.get("paths", {}).items():
            content = ({"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
                       if path.startswith("/api/") else
                       # FHIR's errors are OperationOutcomes (hemma.fhir.resources.outcome).
                       {"application/fhir+json": {}} if path.startswith("/fhir/")
                       else {"text/html": {}})
            for operation in operations.values():
                if "422" in operation.get("responses", {}):
                    operation["responses"]["422"] = {
                        "description": "Invalid input: nothing was changed; each error names "
                                       "its field", "content": content}
        app.openapi_schema = spec
        return spec

    app.openapi = openapi


def _end_streams_on_stop() -> Callable[[], None]:
    """uvicorn stops on SIGTERM (SIGINT) only once every open response has ended, and a live
    stream (a board, an inbox, the patient's page) never ends by itself: told by the same
    signal, each stream ends now, and its browser reconnects (to another process behind the
    load balancer). uvicorn's own handler still runs; the graceful timeout stays the net.
    Only where uvicorn handles the signals (its main thread); returns the undoing."""
    import asyncio
    import signal
    import threading

    from hemma.coordination.live import broadcaster

    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    loop = asyncio.get_running_loop()
    installed = {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(sig)
        if not callable(previous):  # nobody handles it gracefully: leave it be
            continue

        def handler(signum, frame, previous=previous):
            loop.call_soon_threadsafe(broadcaster.close)  # no locks in a signal handler
            previous(signum, frame)

        signal.signal(sig, handler)
        installed[sig] = (handler, previous)

    def undo() -> None:
        for sig, (handler, previous) in installed.items():
            if signal.getsignal(sig) is handler:
                signal.signal(sig, previous)

    return undo


@asynccontextmanager
async def _background(app: FastAPI):
    """Each process of `hemma serve` runs an outbox worker (unless `--no-worker`, i.e.
    HEMMA_RUN_WORKER=false: production runs `hemma worker` beside the app instead), and on
    PostgreSQL listens for other processes' wake-ups (new outbox messages, new inbox
    events): every app process has its own listener, so a change committed in any process
    wakes the live pages (boards, inboxes) open on every other."""
    from hemma.coordination import live
    from hemma.coordination.live import PostgresListener, broadcaster
    from hemma.jobs import outbox
    from hemma.jobs.worker import Worker

    started = []
    undo = lambda: None  # noqa: E731
    if app.state.background:
        broadcaster.closing = False  # (open again, should this process serve once more)
        undo = _end_streams_on_stop()
        if get_settings().run_worker:
            worker = Worker(app.state.db, checkpoint_file=get_settings()
                            .resolved_checkpoint_file())
            worker.start()
            started.append(worker)
        if app.state.db.engine.dialect.name == "postgresql":
            # Live pages look again when something they show was committed (announced); a
            # message queued for the outbox wakes this process's worker, not every open page.
            listener = PostgresListener(app.state.db.url, {
                live.CHANNEL: broadcaster.notify, live.VISITS_CHANNEL: live.visit_changes.happened,
                outbox.CHANNEL: outbox.ready.set})
            listener.start()
            started.append(listener)
    try:
        yield
    finally:
        undo()
        app.state.ingest.stop()
        for thing in reversed(started):
            thing.stop()


def create_app(settings: Settings | None = None, database: Database | None = None, *,
               background: bool = False) -> FastAPI:
    settings = settings or get_settings()
    # One way to the settings: everything reads get_settings(), which is now these.
    configure(settings)
    app = HemmaApp(
        default_language=settings.default_language,
        admitted_at_once=settings.admitted_at_once,
        # Bodies beyond this are refused with 413 before anything parses them, whether the
        # client said their length or sent them in chunks.
        max_body_size=settings.max_body_bytes,
        lifespan=_background,
        title="Hemma",
        version="0.1.0",
        description="Hospital-level care at home, shared by a Swedish region and municipality. "
        "Authenticate with a session cookie (and the X-CSRF-Token header on writes) or with "
        "`Authorization: Bearer <token>` from `hemma users token`.",
        openapi_url="/api/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    app.state.db = database or Database(settings.resolved_database_url())
    app.state.background = background
    # One per app: a geocoding service that failed is left alone for a while by all requests.
    app.state.geocoder = geocoder_for(settings.geocoder_url)
    from hemma.monitoring.ingest import Ingest

    # single observations, recorded together
    app.state.ingest = Ingest(app.state.db, timeout=settings.ingest_timeout_seconds)

    from hemma.access import api as access_api
    from hemma.access import pages as access_pages
    from hemma.agreements import api as agreements_api
    from hemma.agreements import pages as agreements_pages
    from hemma.assessments import api as assessments_api
    from hemma.assessments import pages as assessments_pages
    from hemma.board import pages as board_pages
    from hemma.careplans import api as careplans_api
    from hemma.careplans import pages as careplans_pages
    from hemma.episodes import api as episodes_api
    from hemma.episodes import pages as episodes_pages
    from hemma.fhir import api as fhir_api
    from hemma.fhir import api_care as fhir_care_api
    from hemma.fhir import api_record as fhir_record_api
    from hemma.fhir import api_smart
    from hemma.followup import api as followup_api
    from hemma.followup import pages as followup_pages
    from hemma.handovers import api as handovers_api
    from hemma.handovers import pages as handovers_pages
    from hemma.logistics import api as logistics_api
    from hemma.logistics import pages as logistics_pages
    from hemma.messaging import api as messaging_api
    from hemma.messaging import pages as messaging_pages
    from hemma.monitoring import api as monitoring_api
    from hemma.monitoring import pages as monitoring_pages
    from hemma.pathways import api as pathways_api
    from hemma.pathways import pages as pathways_pages
    from hemma.patients import api as patients_api
    from hemma.patients import pages as patients_pages
    from hemma.planning import api as planning_api
    from hemma.planning import pages as planning_pages
    from hemma.portal import pages as portal_pages
    from hemma.prem import api as prem_api
    from hemma.prem import pages as prem_pages
    from hemma.rounds import api as rounds_api
    from hemma.rounds import pages as rounds_pages
    from hemma.summaries import api as summaries_api
    from hemma.summaries import pages as summaries_pages
    from hemma.tasks import api as tasks_api
    from hemma.tasks import pages as tasks_pages
    from hemma.treatments import api as treatments_api
    from hemma.treatments import pages as treatments_pages
    from hemma.web import docs, ops

    routers = [access_pages.router, episodes_pages.router, patients_pages.router,
               monitoring_pages.router, portal_pages.router, rounds_pages.router,
               planning_pages.router, pathways_pages.router, assessments_pages.router,
               careplans_pages.router,
               access_api.router, episodes_api.router,
               patients_api.router, monitoring_api.router, rounds_api.router,
               planning_api.router, pathways_api.router, assessments_api.router,
               careplans_api.router, agreements_pages.router, agreements_api.router,
               logistics_pages.router, logistics_api.router, treatments_pages.router,
               treatments_api.router, summaries_pages.router, summaries_api.router,
               tasks_pages.router, tasks_api.router, handovers_pages.router,
               handovers_api.router, board_pages.router,
               messaging_pages.router, messaging_api.router,
               prem_pages.router, prem_api.router,
               fhir_api.router, fhir_care_api.router, api_smart.router,
               fhir_record_api.router, followup_pages.router, followup_api.router,
               docs.router, ops.router]
    # The features' routes go onto the app's own router, not through include_router: FastAPI
    # wraps an included router in an object that prepares every route again for each app on
    # its first request (0.4 s; the tests build an app per test) and walks the routers one
    # by one on every request (a 404 cost 8 ms, now 3). The routers carry no prefix or
    # dependency of their own beyond what each route already holds.
    for router in routers:
        app.router.routes.extend(router.routes)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    check_routes_declare_access(app)
    check_json_routes(api_routes(app))

    install_error_handlers(app)
    _document_errors(app)
    return app


def serve_app() -> FastAPI:
    """The app as `hemma serve` runs it. After start-up, the long-lived objects (libraries,
    routes, templates) are moved out of the garbage collector's sight: otherwise every full
    collection walks them all and pauses a request for ~80 ms (measured by bench/homeward.py).
    Not done in create_app: tests build many apps in one process."""
    import gc

    from hemma.kit.logs import setup_logging

    # Here too, not only in `hemma serve`: uvicorn's worker processes (--workers N) start
    # afresh and build the app with this.
    setup_logging(get_settings().log_level)
    app = create_app(background=True)
    gc.collect()
    gc.freeze()
    return app


__all__ = ["create_app", "serve_app"]
