"""create_app(): the JSON API, the pages, static files, and the error handling they share."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from hemma.config import Settings, get_settings
from hemma.db import Database
from hemma.kit.errors import FieldError, HemmaError, Unauthenticated
from hemma.kit.validation import field_errors
from hemma.web.deps import SESSION_COOKIE, check_routes_declare_access
from hemma.web.i18n import gettext as _
from hemma.web.middleware import BodySizeLimit, Language, SecurityHeaders
from hemma.web.templating import render

log = logging.getLogger("hemma")
STATIC_DIR = Path(__file__).resolve().parent / "web" / "static"


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _translate(errors: list[FieldError]) -> list[dict]:
    return [{"field": e.field, "message": _(e.message, **e.params) if e.params else _(e.message)}
            for e in errors]


def _error_response(request: Request, status: int, title: str, message: str,
                    errors: list[FieldError] | None = None):
    if _is_api(request):
        return JSONResponse({"detail": message, "errors": _translate(errors or [])},
                            status_code=status)
    return render(request, "error.html", {"title": title, "message": message},
                  status_code=status)


def _not_found(request: Request):
    # The same words whether the thing does not exist or the user may not know about it.
    return _error_response(request, 404, _("Not found"),
                           _("The page does not exist, or you do not have access to it."),
                           [FieldError("", "Not found")])


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(HemmaError)
    async def hemma_error(request: Request, exc: HemmaError):
        if isinstance(exc, Unauthenticated):
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
        title = _("Not allowed") if exc.status_code == 403 else _("Something is wrong")
        return _error_response(request, exc.status_code, title, message, exc.errors)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        errors = field_errors(list(exc.errors()))
        return _error_response(request, 422, _("Something is wrong"),
                               _("Invalid input. Nothing was changed."), errors)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        if exc.status_code == 404:
            return _not_found(request)
        return _error_response(request, exc.status_code, _("Something is wrong"),
                               str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _error_response(request, 500, _("Something went wrong"),
                               _("An error occurred and nothing was saved. Try again, "
                                 "and tell your administrator if it happens again."))


@asynccontextmanager
async def _background(app: FastAPI):
    """`hemma serve` runs an outbox worker in the process, and on PostgreSQL listens for
    other processes' wake-ups (new outbox messages, new inbox events)."""
    from hemma.coordination import live
    from hemma.coordination.live import PostgresListener, broadcaster
    from hemma.jobs import outbox
    from hemma.jobs.worker import Worker

    started = []
    if app.state.background:
        if app.state.settings.run_worker:
            worker = Worker(app.state.db, checkpoint_file=app.state.settings
                            .resolved_checkpoint_file())
            worker.start()
            started.append(worker)
        if app.state.db.engine.dialect.name == "postgresql":
            def wake():
                broadcaster.notify()
                outbox.ready.set()

            listener = PostgresListener(app.state.db.url, (live.CHANNEL, outbox.CHANNEL), wake)
            listener.start()
            started.append(listener)
    try:
        yield
    finally:
        app.state.ingest.stop()
        for thing in reversed(started):
            thing.stop()


def create_app(settings: Settings | None = None, database: Database | None = None, *,
               background: bool = False) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
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
    app.state.settings = settings
    app.state.db = database or Database(settings.resolved_database_url())
    app.state.background = background
    from hemma.monitoring.ingest import Ingest

    app.state.ingest = Ingest(app.state.db)  # single observations, recorded together

    from hemma.access import api as access_api
    from hemma.access import pages as access_pages
    from hemma.episodes import api as episodes_api
    from hemma.episodes import pages as episodes_pages
    from hemma.monitoring import api as monitoring_api
    from hemma.monitoring import pages as monitoring_pages
    from hemma.monitoring import patient_pages
    from hemma.patients import api as patients_api
    from hemma.patients import pages as patients_pages
    from hemma.planning import api as planning_api
    from hemma.planning import pages as planning_pages
    from hemma.rounds import api as rounds_api
    from hemma.rounds import pages as rounds_pages
    from hemma.web import docs

    app.state.routers = [access_pages.router, episodes_pages.router, patients_pages.router,
                         monitoring_pages.router, patient_pages.router, rounds_pages.router,
                         planning_pages.router, access_api.router, episodes_api.router,
                         patients_api.router, monitoring_api.router, rounds_api.router,
                         planning_api.router, docs.router]
    for router in app.state.routers:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    check_routes_declare_access(app)

    install_error_handlers(app)
    app.add_middleware(Language, default=settings.default_language)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(SecurityHeaders)
    return app


def serve_app() -> FastAPI:
    """The app as `hemma serve` runs it. After start-up, the long-lived objects (libraries,
    routes, templates) are moved out of the garbage collector's sight: otherwise every full
    collection walks them all and pauses a request for ~80 ms (measured by bench/homeward.py).
    Not done in create_app: tests build many apps in one process."""
    import gc

    app = create_app(background=True)
    gc.collect()
    gc.freeze()
    return app


__all__ = ["create_app", "serve_app"]
