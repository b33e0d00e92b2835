"""Request dependencies: the transaction, the signed-in staff member, and the access
declarations every route must carry (one of PatientAccess, StaffAccess, PatientOwnPage,
Public, MetricsToken).

`create_app` refuses to start if a route has no access declaration, and the access-matrix
test walks them all, so a new route cannot quietly skip the check."""

from __future__ import annotations

import hmac
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session

from hemma.access import audit
from hemma.access.auth import Caller, actor_for, authenticate, resolve_client_token
from hemma.access.policy import Action, Decision, Subject
from hemma.access.service import require, subject_for
from hemma.access.work import Work
from hemma.config import get_settings
from hemma.kit.errors import Forbidden, NotFound, Unauthenticated
from hemma.kit.text import N_
from hemma.web import menu

SESSION_COOKIE = "hemma_session"
LANGUAGE_COOKIE = "hemma_lang"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def client_addr(request: Request) -> str | None:
    if get_settings().trust_forwarded_for:
        forwarded = request.headers.get("x-forwarded-for")
        if forwarded:
            return forwarded.split(",")[0].strip()[:64]
    return request.client.host if request.client else None


def _write_denied(request: Request, session: Session) -> None:
    """Refused attempts are logged even though the request's own transaction rolls back."""
    denied = audit.trail(session).denied_only()
    if not denied.entries:
        return
    with request.app.state.db.session() as own:
        t = audit.trail(own)
        t.actor = denied.actor
        t.entries = denied.entries


def get_db(request: Request) -> Iterator[Session]:
    """The request's unit of work: commit after the route returns (with its audit entries),
    roll back if it raised. Nothing else commits."""
    session: Session = request.app.state.db.sessionmaker()
    try:
        yield session
        session.commit()  # with its audit entries (hemma.access.audit)
    except BaseException:
        session.rollback()
        try:
            _write_denied(request, session)
        finally:
            raise
    finally:
        session.close()


DbSession = Annotated[Session, Depends(get_db, scope="function")]


async def submitted_csrf(request: Request) -> str | None:
    """The CSRF token a form or script sent: a header, or the csrf_token form field."""
    if request.method not in UNSAFE_METHODS:
        return None
    header = request.headers.get("x-csrf-token")
    if header:
        return header
    ctype = request.headers.get("content-type", "")
    if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get("csrf_token")
        return value if isinstance(value, str) else None
    return None


@dataclass(frozen=True)
class Principal:
    """The signed-in staff member, as plain values: still readable when an error page is
    rendered after the transaction was rolled back."""

    subject: Subject
    username: str
    full_name: str
    profession: str
    skills: tuple[str, ...]
    csrf_token: str | None  # None when signed in with an API token
    badges: dict = field(default_factory=dict)  # the menu's counts (pages only)
    # A system client's token (SMART Backend Services, FHIR only): its client id and the
    # scopes granted, which narrow what the account may do. None: a staff member's own
    # session or API token, with no scopes (the account's role and can() decide).
    client_id: str | None = None
    scope: str | None = None


def caller_of(request: Request, csrf: str | None) -> Caller:
    """The credentials a request carries, unread: a bearer token, or the session cookie."""
    authz = request.headers.get("authorization", "")
    if authz.lower().startswith("bearer "):
        return Caller(authz[7:].strip(), None, None, client_addr(request))
    return Caller(None, request.cookies.get(SESSION_COOKIE), csrf, client_addr(request))


def current_principal(
    request: Request,
    db: DbSession,
    csrf: Annotated[str | None, Depends(submitted_csrf)],
) -> Principal:
    caller = caller_of(request, csrf)
    client = None
    if caller.token is not None and _is_fhir(request):
        # A system client's token opens the FHIR API and nothing else: elsewhere it is
        # no credential at all (authenticate() does not know it).
        client = resolve_client_token(db, caller.token)
    if client is not None:
        client_token, system_client, staff = client
        web = None
    else:
        staff, web = authenticate(db, caller, unsafe=request.method in UNSAFE_METHODS)
    actor = actor_for(db, staff, client_addr(request))
    if client is not None:
        actor.via = f"client {system_client.client_id} ({system_client.name})"
    audit.trail(db).actor = actor
    subject = subject_for(db, staff)
    principal = Principal(
        subject=subject, username=staff.username, full_name=staff.full_name,
        profession=staff.profession, skills=tuple(staff.skills or ()),
        csrf_token=web.csrf_token if web is not None else None,
        # A page shows the menu's counts (a form shown again with its errors too); an API
        # call has no menu.
        badges=menu.badges(db, subject) if web is not None
        and not request.url.path.startswith("/api/") else {},
        client_id=system_client.client_id if client is not None else None,
        scope=client_token.scope if client is not None else None)
    request.state.principal = principal
    return principal


def _is_fhir(request: Request) -> bool:
    return request.url.path == "/fhir" or request.url.path.startswith("/fhir/")


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def own_work(request: Request, db: DbSession, principal: CurrentPrincipal) -> Iterator[Work]:
    """For an action that opens short units of work of its own (the visit planner: it must
    not hold the database while its search thinks): the request's own transaction ends here,
    and the action gets a `Work` acting as the same user, carrying the accesses logged so far
    into its first unit of work (so one request still logs one entry per patient). The
    request's session stays usable, to read and render in short transactions: each of the
    action's units of work first ends one the request's session has open."""
    trail = audit.trail(db)
    carried = list(trail.entries)
    trail.clear()
    db.commit()

    def release() -> None:
        if db.in_transaction():
            db.commit()

    work = Work(request.app.state.db, trail.actor, carried, release)
    yield work
    # The action never began (its input was refused first): what the route's access check
    # logged is written with the request's own transaction.
    for p in work.carried:
        trail.record(p.patient_id, p.action, basis=p.basis, emergency=p.emergency,
                     outcome=p.outcome, generic=p.generic, detail="; ".join(p.details) or None)


OwnWork = Annotated[Work, Depends(own_work, scope="function")]


LOGIN_CSRF_COOKIE = "hemma_login_csrf"


def render_login(request: Request, template: str, path: str, context: dict,
                 status_code: int = 200):
    """A login page. It has no session yet to hold a CSRF token: the token is double-submitted
    instead, as a cookie scoped to the login path and the form's `login_csrf` field."""
    from hemma.web.templating import render

    token = secrets.token_urlsafe(32)
    response = render(request, template, {**context, "login_csrf": token},
                      status_code=status_code)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict",
                        secure=get_settings().cookie_secure, path=path)
    return response


def login_token_valid(request: Request, sent: str | None) -> bool:
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    return bool(cookie) and hmac.compare_digest(cookie, sent or "")


class Public:
    """Declares a route open to everyone (login page, static files, health)."""

    def __call__(self) -> None:
        return None


class MetricsToken:
    """Declares a route for the metrics scraper (Prometheus), not for people: it answers only
    `Authorization: Bearer <HEMMA_METRICS_TOKEN>`, compared in constant time; a session or an
    API token is no such token. With no token configured the route does not exist (404)."""

    def __call__(self, request: Request) -> None:
        expected = get_settings().metrics_token
        if not expected:
            raise NotFound()
        authz = request.headers.get("authorization", "")
        sent = authz[7:].strip() if authz[:7].lower() == "bearer " else ""
        if not hmac.compare_digest(sent.encode(), expected.encode()):
            raise Unauthenticated()


class StaffAccess:
    """A signed-in staff member whose role allows `action` (nothing about one patient)."""

    def __init__(self, action: Action):
        self.action = action

    def __call__(self, principal: CurrentPrincipal, db: DbSession) -> Principal:
        require(db, principal.subject, self.action)
        return principal


@dataclass
class PatientContext:
    principal: Principal
    decision: Decision
    patient_id: uuid.UUID
    db: Session

    @property
    def subject(self) -> Subject:
        return self.principal.subject


class PatientAccess:
    """`action` on the patient in the path. Refusal is a 404: without a care relationship
    the patient does not exist for this user."""

    def __init__(self, action: Action):
        self.action = action

    def __call__(self, patient_id: uuid.UUID, principal: CurrentPrincipal,
                 db: DbSession) -> PatientContext:
        decision = require(db, principal.subject, self.action, patient_id)
        return PatientContext(principal, decision, patient_id, db)


class DeferredPatientAccess(PatientAccess):
    """`action` on the patient in the path, decided where the request is carried out: the
    route hands the caller's credentials, unread, to a service that resolves and decides many
    requests at once with the same `decide()` (monitoring.ingest). The route itself touches
    no data. Without credentials it is refused here, as everywhere."""

    async def __call__(self, request: Request, patient_id: uuid.UUID) -> Caller:
        # A JSON route: a page's script sends its CSRF token as a header (the body stays
        # unread for the service that carries the request out).
        caller = caller_of(request, request.headers.get("x-csrf-token"))
        if caller.token is None and not caller.session:
            raise Unauthenticated()
        return caller


PATIENT_SESSION_COOKIE = "hemma_patient"


@dataclass(frozen=True)
class PatientSelf:
    """Whoever is on the patient's own page: the patient (the only patient they can ever act
    on), or a relative with a code of their own, who sees only what the patient lets them
    (`shares`, read from the database on every request: a permission taken back holds at
    once)."""

    patient_id: uuid.UUID
    csrf_token: str
    relative_id: uuid.UUID | None = None
    relative_name: str | None = None
    shares: frozenset[str] = frozenset()

    @property
    def is_relative(self) -> bool:
        return self.relative_id is not None

    def may(self, share: str) -> bool:
        """May this reader see that part of the page (the patient sees all of it)?"""
        return not self.is_relative or share in self.shares

    @property
    def basis(self) -> str:
        return "relative" if self.is_relative else "self"

    def action(self, name: str) -> str:
        """The audit action for what the reader did: `patient.<name>` or `relative.<name>`."""
        return f"{'relative' if self.is_relative else 'patient'}.{name}"


# A route of the patient's page that any relative with a session may open (their limited
# home page, logging out).
ANY_SHARE = "any"


class PatientOwnPage:
    """Declares a route of the patient's own page (logged in with their code). A relative's
    session reaches it only when `relative` names a part of the page the patient lets them
    see (or is ANY_SHARE); without `relative`, the route is the patient's alone (sending
    values, confirming the agreement, choosing what relatives see)."""

    def __init__(self, relative: str | None = None) -> None:
        self.relative = relative

    def __call__(self, request: Request, db: DbSession,
                 csrf: Annotated[str | None, Depends(submitted_csrf)]) -> PatientSelf:
        from hemma.access.auth import RELATIVE_ACTOR, relative_may_log_in, resolve_patient_session
        from hemma.models import Relative

        web = resolve_patient_session(db, request.cookies.get(PATIENT_SESSION_COOKIE))
        if web is None:
            raise Unauthenticated()
        relative = db.get(Relative, web.relative_id) if web.relative_id else None
        if web.relative_id is not None and (relative is None or not relative_may_log_in(
                relative) or relative.patient_id != web.patient_id):
            raise Unauthenticated()
        if request.method in UNSAFE_METHODS and not (
                csrf and hmac.compare_digest(csrf, web.csrf_token)):
            raise Forbidden("The form has expired. Reload the page and try again.")
        t = audit.trail(db)
        if relative is None:
            t.actor = audit.Actor(username="(patient)", client_addr=client_addr(request))
            return PatientSelf(web.patient_id, web.csrf_token)
        t.actor = audit.Actor(username=RELATIVE_ACTOR, client_addr=client_addr(request))
        shares = frozenset(relative.shares or ())
        if self.relative is None or (self.relative != ANY_SHARE and self.relative not in shares):
            audit.record(db, web.patient_id, "relative.denied", basis="relative",
                         outcome="denied", detail=f"relative {relative.id}: {request.url.path}")
            raise Forbidden(N_("The patient has not chosen to show you this part of their "
                               "page"))
        return PatientSelf(web.patient_id, web.csrf_token, relative.id, relative.name, shares)


ACCESS_MARKERS = (Public, StaffAccess, PatientAccess, PatientOwnPage, MetricsToken)


def access_declarations(route: APIRoute) -> list:
    """The access declarations among a route's dependencies (recursively)."""
    found = []
    stack = [route.dependant]
    while stack:
        dep = stack.pop()
        if isinstance(dep.call, ACCESS_MARKERS):
            found.append(dep.call)
        stack.extend(dep.dependencies)
    return found


def api_routes(app) -> list[APIRoute]:
    """Every route of the app (create_app puts them on the app's own router)."""
    return [r for r in app.router.routes if isinstance(r, APIRoute)]


def check_routes_declare_access(app) -> None:
    missing = [
        f"{sorted(r.methods)} {r.path}"
        for r in api_routes(app)
        if len(access_declarations(r)) != 1
    ]
    if missing:
        raise RuntimeError("Routes without exactly one access declaration: " + ", ".join(missing))

