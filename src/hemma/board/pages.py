"""The coordination board: the page (a wall screen or a phone) and its live stream.

The stream sends the board's sections, rendered as the user may see them, whenever they
change: on every wake-up (anything committed in any process: alerts, values, visits, tasks,
hand-overs, messages) and every half minute besides (ages and "overdue" move with the clock).

Many people have the same board open: everyone of one unit and profession who has no care
relationship of their own and no emergency access sees exactly the same thing. Each process
keeps one group per such board (`Hub`): one look at the database and one rendering per change
serve every open connection of the group, so a change reaches hundreds of open boards within
the second. The sections are rendered without the session's form token; the page puts its
own into the forms. Patients that come onto an open board are logged as shown, for each
person who has it open, as on the page."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool

from hemma.access import audit
from hemma.access.policy import Action, Subject
from hemma.board import service
from hemma.coordination.live import broadcaster
from hemma.i18n import current_language
from hemma.kit.aio import LoopSemaphore
from hemma.web.deps import DbSession, Principal, StaffAccess
from hemma.web.templating import render, templates

log = logging.getLogger("hemma.board")
router = APIRouter()
Reader = Annotated[Principal, Depends(StaffAccess(Action.READ))]
# Coalesce a burst of changes into one look; look again at least this often.
SETTLE_SECONDS = 0.1
IDLE_SECONDS = 30.0
VIEWS = ("auto", "wall", "phone")
TOKEN_PLACEHOLDER = "__csrf__"
CLOSED = ("closed",)  # the process is stopping: the stream ends (its browser reconnects)


@router.get("/board")
def page(request: Request, db: DbSession, principal: Reader,
         scope: Annotated[str | None, Query(max_length=20)] = None,
         view: Annotated[str, Query(max_length=10)] = "auto"):
    """The live board of a unit (default: the user's own) or a whole organisation. When
    this process already has the same board open for someone (a group of the stream), the
    page shows that group's latest look, as its stream would a moment later, instead of
    reading and rendering the board once more; what it shows is logged for this user."""
    subject = principal.subject
    chosen = service.scope_of(db, subject, scope)
    view = view if view in VIEWS else "auto"
    key = group_key(request.app.state.db, chosen, view, current_language.get(), subject,
                    service.personal(db, subject))
    shared = hub.latest(key)
    if shared is not None:
        b, html = shared
        service.log_shown(db, b)
        sections = Markup(html.replace(TOKEN_PLACEHOLDER, principal.csrf_token or ""))
    else:
        b, sections = service.board(db, subject, chosen), None
    return render(request, "board/board.html", {
        "board": b, "sections": sections, "scopes": service.scopes(db, subject),
        "view": view})


def group_key(database, scope: service.Scope, view: str, lang: str, subject: Subject,
              personal: bool) -> tuple:
    """What a board shows depends on this and nothing else (see service.board): the key
    of the group that looks once for all who have it open. The database is part of it: one
    process may serve apps on several (the tests do), and ids repeat between them."""
    return (database, scope.key, view, lang, subject.unit_id, subject.organisation_id,
            service.role_signature(subject), subject.staff_id if personal else None)


@dataclass(eq=False)
class Viewer:
    actor: audit.Actor
    queue: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(maxsize=1))
    logged: set = field(default_factory=set)


@dataclass(eq=False)
class Group:
    key: tuple
    subject: Subject
    scope: service.Scope
    view: str
    lang: str
    viewers: set = field(default_factory=set)
    html: str | None = None
    counts: dict = field(default_factory=dict)
    task: asyncio.Task | None = None
    # The latest look (board, sections, when): what a page load in this process may show.
    shown: tuple | None = None


LOOKS_AT_ONCE = 2
_looks = LoopSemaphore(LOOKS_AT_ONCE)  # this process's turn-taking for board looks


def _offer(viewer: Viewer, item) -> None:
    """The newest board replaces one the connection has not sent yet."""
    if viewer.queue.full():
        try:
            viewer.queue.get_nowait()
        except asyncio.QueueEmpty:
            pass
    viewer.queue.put_nowait(item)


# A page load shows an open group's look no older than this; else it reads the board itself.
SHARED_LOOK_SECONDS = 60.0


class Hub:
    """This process's open boards, grouped by what they show."""

    def __init__(self) -> None:
        self.groups: dict[tuple, Group] = {}

    def latest(self, key: tuple) -> tuple | None:
        """(board, sections) of the group's latest look, if one is open here and looked
        recently (read from a request's thread: one atomic read of the group's tuple)."""
        group = self.groups.get(key)
        shown = group.shown if group is not None else None
        if shown is None or time.monotonic() - shown[2] > SHARED_LOOK_SECONDS:
            return None
        return shown[0], shown[1]

    def join(self, database, key: tuple, subject: Subject, scope, view: str, lang: str,
             viewer: Viewer) -> Group:
        group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = Group(key, subject, scope, view, lang)
            group.viewers.add(viewer)
            group.task = asyncio.get_running_loop().create_task(self._run(database, group))
        else:
            group.viewers.add(viewer)
            if broadcaster.closing:  # the group's look has ended
                _offer(viewer, CLOSED)
            elif group.html is not None:
                _offer(viewer, (group.html, group.counts, None))
        return group

    def leave(self, group: Group, viewer: Viewer) -> None:
        group.viewers.discard(viewer)
        if not group.viewers and self.groups.get(group.key) is group:
            del self.groups[group.key]
            if group.task is not None:
                group.task.cancel()

    async def _run(self, database, group: Group) -> None:
        subscription = broadcaster.subscribe()
        try:
            while group.viewers:
                if broadcaster.closing:
                    for viewer in list(group.viewers):
                        _offer(viewer, CLOSED)
                    return
                subscription.clear()
                try:
                    # At most LOOKS_AT_ONCE boards are read and rendered at a time in this
                    # process: the requests keep the rest of its threads however many boards
                    # are open, and a board that waits for its turn takes every change made
                    # meanwhile in one look.
                    async with _looks.get():
                        b, html = await run_in_threadpool(self._look, database, group)
                        group.counts = b.counts()
                        group.shown = (b, html, time.monotonic())
                        shown = set(b.patient_names)
                        await run_in_threadpool(self._log, database, group, shown,
                                                b.decisions)
                except Exception:  # the database restarted: look again shortly
                    log.exception("the board %s could not be read", group.key)
                    await asyncio.sleep(2)
                    continue
                if html != group.html:
                    group.html = html
                    for viewer in list(group.viewers):
                        _offer(viewer, (html, group.counts, None))
                if not await subscription.wait(IDLE_SECONDS):
                    for viewer in list(group.viewers):
                        _offer(viewer, None)  # a keep-alive
                await asyncio.sleep(SETTLE_SECONDS)
        finally:
            subscription.close()

    @staticmethod
    def _look(database, group: Group):
        """The board, and its sections rendered (in a worker thread: a board of hundreds of
        patients is no time for the event loop to stand still)."""
        with database.session() as s:
            b = service.board(s, group.subject, group.scope, log=False)
        token = current_language.set(group.lang)
        try:
            html = templates.get_template("board/_sections.html").render(
                board=b, view=group.view, csrf_token=TOKEN_PLACEHOLDER, lang=group.lang,
                principal=None, request=None)
        finally:
            current_language.reset(token)
        return b, html

    @staticmethod
    def _log(database, group: Group, shown: set, decisions) -> None:
        """Each person with the board open: the patients new on it are logged as shown."""
        pending = [(v, shown - v.logged) for v in list(group.viewers)]
        pending = [(v, new) for v, new in pending if new]
        if not pending:
            return
        with database.session() as s:
            trail = audit.trail(s)
            for viewer, new in pending:
                for pid in new:
                    d = decisions.get(pid)
                    if d:
                        trail.record_for(viewer.actor, pid, "board.live", basis=str(d.basis),
                                         emergency=d.emergency)
        for viewer, new in pending:
            viewer.logged |= new


hub = Hub()


@dataclass(frozen=True)
class Opening:
    """What a stream needs from the request's transaction, read before it starts."""

    principal: Principal
    scope: service.Scope
    personal: bool
    actor: audit.Actor


def open_board(db: DbSession, principal: Reader,
               scope: Annotated[str | None, Query(max_length=20)] = None) -> Opening:
    """Read in the thread that holds the request's transaction (a dependency): the stream
    itself never waits for a database connection, and never for a worker thread while it
    holds one."""
    return Opening(principal, service.scope_of(db, principal.subject, scope),
                   service.personal(db, principal.subject), audit.trail(db).actor)


@router.get("/board/stream")
async def stream(request: Request, opening: Annotated[Opening, Depends(open_board)],
                 view: Annotated[str, Query(max_length=10)] = "auto", once: bool = False):
    """Server-sent events: the board's sections (HTML, as the user may see them) each time
    they change. `once=true` sends the board as it is and closes, for clients that poll."""
    database = request.app.state.db
    subject = opening.principal.subject
    chosen = opening.scope
    lang = current_language.get()
    view = view if view in VIEWS else "auto"
    key = group_key(database, chosen, view, lang, subject, opening.personal)
    viewer = Viewer(opening.actor)

    async def events():
        group = hub.join(database, key, subject, chosen, view, lang, viewer)
        try:
            yield "retry: 2000\n\n"
            while True:
                try:
                    item = await asyncio.wait_for(viewer.queue.get(), IDLE_SECONDS + 5)
                except TimeoutError:
                    item = None
                if item is CLOSED or await request.is_disconnected():
                    return
                if item is None:
                    yield ": keep-alive\n\n"
                    continue
                html, counts, _ = item
                data = json.dumps({"html": html, "counts": counts})
                yield f"event: board\ndata: {data}\n\n"
                if once:
                    return
        finally:
            hub.leave(group, viewer)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"X-Accel-Buffering": "no", "Cache-Control": "no-store"})
