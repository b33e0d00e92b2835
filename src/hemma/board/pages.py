"""The coordination board: the page (a wall screen or a phone) and its live stream.

The stream sends the board's sections, rendered as the user may see them, whenever they
change: on every wake-up (anything committed in any process: alerts, values, visits, tasks,
hand-overs, messages) and every half minute besides (ages and "overdue" move with the clock).
Patients that come onto the board while it is open are logged as shown, as on the page."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from hemma.access.policy import Action
from hemma.access.service import decisions_for, log_listed
from hemma.board import service
from hemma.coordination.live import broadcaster
from hemma.i18n import current_language
from hemma.web.deps import DbSession, Principal, StaffAccess
from hemma.web.templating import render, templates

router = APIRouter()
Reader = Annotated[Principal, Depends(StaffAccess(Action.READ))]
# Coalesce a burst of changes into one look; look again at least this often.
SETTLE_SECONDS = 0.15
IDLE_SECONDS = 30.0
VIEWS = ("auto", "wall", "phone")


def _context(request: Request, principal: Principal, b: service.Board, view: str) -> dict:
    return {"request": request, "principal": principal, "csrf_token": principal.csrf_token,
            "lang": current_language.get(), "board": b, "view": view}


@router.get("/board")
def page(request: Request, db: DbSession, principal: Reader,
         scope: Annotated[str | None, Query(max_length=20)] = None,
         view: Annotated[str, Query(max_length=10)] = "auto"):
    """The live board of a unit (default: the user's own) or a whole organisation."""
    chosen = service.scope_of(db, principal.subject, scope)
    b = service.board(db, principal.subject, chosen)
    view = view if view in VIEWS else "auto"
    return render(request, "board/board.html", {
        "board": b, "scopes": service.scopes(db, principal.subject), "view": view})


@router.get("/board/stream")
async def stream(request: Request, db: DbSession, principal: Reader,
                 scope: Annotated[str | None, Query(max_length=20)] = None,
                 view: Annotated[str, Query(max_length=10)] = "auto", once: bool = False):
    """Server-sent events: the board's sections (HTML, as the user may see them) each time
    they change. `once=true` sends the board as it is and closes, for clients that poll."""
    database = request.app.state.db
    subject = principal.subject
    lang = current_language.get()
    view = view if view in VIEWS else "auto"
    chosen = service.scope_of(db, subject, scope)  # the request's own transaction
    logged: set = set()

    def fetch():
        with database.session() as s:
            b = service.board(s, subject, chosen, log=False)
            new = set(b.patient_names) - logged
            if new:
                log_listed(s, decisions_for(s, subject, new), "board.live")
                logged.update(new)
            return b

    async def events():
        current_language.set(lang)
        subscription = broadcaster.subscribe()
        try:
            yield "retry: 2000\n\n"
            last = None
            while not await request.is_disconnected():
                subscription.clear()
                b = await run_in_threadpool(fetch)
                html = templates.get_template("board/_sections.html").render(
                    _context(request, principal, b, view))
                if html != last:
                    last = html
                    data = json.dumps({"html": html, "counts": b.counts()})
                    yield f"event: board\ndata: {data}\n\n"
                if once:
                    return
                if not await subscription.wait(IDLE_SECONDS):
                    yield ": keep-alive\n\n"
                await asyncio.sleep(SETTLE_SECONDS)
        finally:
            subscription.close()

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"X-Accel-Buffering": "no", "Cache-Control": "no-store"})
