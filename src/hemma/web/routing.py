"""JSON API routes whose request bodies are read by `kit.validation.load_json`, so that a
body that is not UTF-8, nested deeper than the parser goes, or holds a number too long to
read gets a 422 naming the field, like any other bad input (FastAPI's own parsing answers
these with a bare 400 that names nothing)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from hemma.kit.validation import load_json


class JsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = load_json(await self.body())
        return self._json


class JsonRoute(APIRoute):
    """The route class of every router with JSON bodies (`APIRouter(route_class=JsonRoute)`).
    FastAPI turns an error raised while reading the body into a 400 whose cause is our
    `Invalid`; the app's error handler answers with that cause (see `app.py`)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route_handler(request: Request) -> Response:
            return await handler(JsonRequest(request.scope, request.receive, request._send))

        return route_handler


def check_json_routes(routes: list[APIRoute]) -> None:
    """Refuse to start when a route with a JSON body would be parsed by FastAPI alone (the
    pages read their forms themselves and declare no body)."""
    plain = [f"{sorted(r.methods)} {r.path}" for r in routes
             if r.body_field is not None and not isinstance(r, JsonRoute)]
    if plain:
        raise RuntimeError("Routes with a JSON body need route_class=JsonRoute: "
                           + ", ".join(plain))
