"""HTML pages: login (password, its second step, SITHS through the region's identity
provider) and logout, the user's authenticator app, the care team and sharing, emergency access, log review,
and administration."""

from __future__ import annotations

import hmac
import uuid
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse

from hemma.access import audit, auth, directory, logreview, oidc, sharing, totp
from hemma.access.policy import Action
from hemma.access.work import Work
from hemma.config import get_settings
from hemma.i18n import LANGUAGES
from hemma.i18n import gettext as _
from hemma.i18n.labels import PROFESSIONS, REVIEW_OUTCOMES, UNIT_KINDS, label
from hemma.kit.errors import Invalid, NotFound
from hemma.kit.validation import DbId, blank_to_none, parse
from hemma.models import Organisation, Profession, Staff, TotpCredential, UnitKind
from hemma.patients.service import get_patient
from hemma.web.deps import (
    LANGUAGE_COOKIE,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    DbSession,
    PatientAccess,
    PatientContext,
    Principal,
    Public,
    StaffAccess,
    client_addr,
    login_token_valid,
    render_login,
    submitted_csrf,
)
from hemma.web.forms import attempt, error_messages, form_data
from hemma.web.templating import render

router = APIRouter()
FormData = Annotated[dict, Depends(form_data)]


def safe_next(value: str | None) -> str:
    """Only paths on this site: a login link cannot send the user elsewhere."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


# --- Login ---------------------------------------------------------------------------------

# The browser's token for its pending login through the identity provider (hemma.access.oidc)
# and for the second step of a password login (hemma.access.auth): cookies of their own, on
# the paths that read them only.
OIDC_COOKIE = "hemma_oidc"
OIDC_PATH = "/login/oidc"
STEP_COOKIE = "hemma_login_step"
STEP_PATH = "/login/code"


def _login_page(request: Request, db, *, error: str | None = None, username: str = "",
                next_path: str | None = None, status_code: int = 200):
    return render_login(request, "auth/login.html", "/login", {
        "error": error, "username": username,
        "next": safe_next(next_path or request.query_params.get("next")),
        "oidc": get_settings().oidc_enabled,
        "passwords": auth.passwords_allowed(db),
    }, status_code)


def _signed_in(response, token: str):
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax",
                        secure=get_settings().cookie_secure, path="/")
    return response


@router.get("/login", dependencies=[Depends(Public())])
def login_form(request: Request, db: DbSession):
    """The login page: with SITHS where the region's identity provider is set up, with a
    password where passwords are allowed."""
    return _login_page(request, db)


@router.post("/login", dependencies=[Depends(Public())])
def login(request: Request, db: DbSession, form: FormData,
          sent: Annotated[str | None, Depends(submitted_csrf)]):
    """Log in with username and password. Every failure gets the same message."""
    generic = _("Login failed. Check your username and password, or try again later.")
    if not login_token_valid(request, sent):
        return _login_page(request, db, error=_("The page had expired. Please try again."),
                           username=form.get("username", ""), next_path=form.get("next"),
                           status_code=400)
    next_path = safe_next(form.get("next"))
    # The password field is read raw: leading or trailing spaces belong to it.
    result = auth.login(
        db, auth.PasswordProvider(),
        {"username": form.get("username", ""), "password": form.get("password", "")},
        client_addr=client_addr(request), user_agent=request.headers.get("user-agent"),
        next_path=next_path)
    if result.passwords_off:
        return _login_page(request, db, error=_(
            "Login with a password is turned off here. Log in with SITHS."), status_code=400)
    if result.staff is None:
        return _login_page(request, db, error=generic, username=form.get("username", ""),
                           next_path=form.get("next"), status_code=401)
    settings = get_settings()
    if result.step is not None:
        # The password was right; the code from the user's app comes next.
        response = RedirectResponse(STEP_PATH, 303)
        response.set_cookie(STEP_COOKIE, result.step, httponly=True, samesite="strict",
                            secure=settings.cookie_secure, path=STEP_PATH,
                            max_age=auth.STEP_MINUTES * 60)
    else:
        response = _signed_in(RedirectResponse(next_path, 303), result.token)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


def _code_page(request: Request, db, step, staff, *, error: str | None = None,
               status_code: int = 200):
    enrolment = totp.enrolment(db, staff) if step.kind == "enrol" else None
    return render(request, "auth/code.html", {
        "step_csrf": step.csrf_token, "enrolment": enrolment, "error": error,
        "full_name": staff.full_name}, status_code=status_code)


@router.get(STEP_PATH, dependencies=[Depends(Public())])
def code_form(request: Request, db: DbSession):
    """The second step of a password login: the code from the user's authenticator app (or
    setting the app up, where codes are required and the user has none yet)."""
    found = auth.pending_step(db, request.cookies.get(STEP_COOKIE))
    if found is None:
        return RedirectResponse("/login?done=login_step_expired", 303)
    return _code_page(request, db, *found)


@router.post(STEP_PATH, dependencies=[Depends(Public())])
def code(request: Request, db: DbSession, form: FormData,
         sent: Annotated[str | None, Depends(submitted_csrf)]):
    """Check the code; right and not used before, the login is done."""
    token = request.cookies.get(STEP_COOKIE)
    found = auth.pending_step(db, token)
    if found is None:
        return RedirectResponse("/login?done=login_step_expired", 303)
    step, staff = found
    if not (sent and hmac.compare_digest(sent, step.csrf_token)):
        return _code_page(request, db, step, staff, status_code=400,
                          error=_("The page had expired. Please try again."))
    result = auth.complete_step(db, token, form.get("code"), client_addr=client_addr(request),
                                user_agent=request.headers.get("user-agent"))
    if result.problem == "wrong_code":
        return _code_page(request, db, step, staff, status_code=400, error=_(
            "The code did not match. Type the six digits the app shows now."))
    if result.problem == "passwords_off":
        response = _login_page(request, db, status_code=400, error=_(
            "Login with a password is turned off here. Log in with SITHS."))
    elif result.problem is not None:
        response = _login_page(request, db, status_code=401, error=_(
            "Login failed. Check your username and password, or try again later."))
    else:
        response = _signed_in(RedirectResponse(safe_next(result.next_path), 303),
                              result.token)
    response.delete_cookie(STEP_COOKIE, path=STEP_PATH)
    return response


def _redirect_uri(request: Request) -> str:
    return get_settings().oidc_redirect_url or str(request.url_for("oidc_callback"))


_REFUSAL_STATUS = {"unavailable": 503, "no_hsa_id": 403, "unknown_hsa_id": 403,
                   "inactive": 403}


def _refused_page(request: Request, db, refused: oidc.Refused):
    if refused.reason == "not_configured":
        return RedirectResponse("/login", 303)
    msgid, params = oidc.message(refused)
    return _login_page(request, db, error=_(msgid, **params),
                       status_code=_REFUSAL_STATUS.get(refused.reason, 400))


@router.get(OIDC_PATH, dependencies=[Depends(Public())])
def oidc_start(request: Request, db: DbSession, next: str = "/"):
    """Log in with SITHS: off to the region's identity provider."""
    try:
        start = oidc.begin_login(db, next_path=safe_next(next),
                                 browser=request.cookies.get(OIDC_COOKIE),
                                 redirect_uri=_redirect_uri(request),
                                 client_addr=client_addr(request))
    except oidc.Refused as refused:
        return _refused_page(request, db, refused)
    response = RedirectResponse(start.url, 303)
    # Lax, not Strict: the provider sends the browser back from another site.
    response.set_cookie(OIDC_COOKIE, start.browser, httponly=True, samesite="lax",
                        secure=get_settings().cookie_secure, path=OIDC_PATH,
                        max_age=oidc.PENDING_MINUTES * 60)
    return response


@router.get(OIDC_PATH + "/callback", name="oidc_callback", dependencies=[Depends(Public())])
def oidc_callback(request: Request, db: DbSession):
    """Back from the region's identity provider: check its answer, find the account by its
    HSA-id, start the session."""
    # The login's own short units of work: none is open while the provider is asked (the
    # request's session is untouched until the page is rendered).
    work = Work(request.app.state.db, audit.Actor(client_addr=client_addr(request)))
    try:
        done = oidc.complete_login(work, dict(request.query_params),
                                   browser=request.cookies.get(OIDC_COOKIE),
                                   redirect_uri=_redirect_uri(request),
                                   client_addr=client_addr(request),
                                   user_agent=request.headers.get("user-agent"))
    except oidc.Refused as refused:
        return _refused_page(request, db, refused)
    response = _signed_in(RedirectResponse(safe_next(done.next_path), 303), done.token)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(request: Request, db: DbSession,
           principal: Annotated[Principal, Depends(StaffAccess(Action.SIGNED_IN))]):
    """Log out: the session ends on the server, not only in this browser."""
    auth.end_session(db, request.cookies.get(SESSION_COOKIE))
    audit.record(db, None, "auth.logout", basis="role")
    response = RedirectResponse("/login?done=logged_out", 303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    # Nothing of the session stays on the phone: the route page's kept copy and its queue
    # (the page's script asks about reports still waiting before it lets the logout through).
    response.headers["Clear-Site-Data"] = '"cache", "storage"'
    return response


@router.get("/favicon.ico", dependencies=[Depends(Public())], include_in_schema=False)
def favicon():
    """Browsers ask for this on their own: the icon is an SVG."""
    return RedirectResponse("/static/favicon.svg", 301)


@router.get("/language/{code}", dependencies=[Depends(Public())])
def language(code: str, next: str = "/"):
    """Switch the interface language."""
    response = RedirectResponse(safe_next(next), 303)
    if code in LANGUAGES:
        response.set_cookie(LANGUAGE_COOKIE, code, max_age=365 * 86400, samesite="lax",
                            httponly=True, path="/")
    return response


# --- The user's own authenticator app ------------------------------------------------------


def _own_app_page(request: Request, db, principal: Principal, errors=None, status_code=200):
    row = db.get(TotpCredential, principal.subject.staff_id)
    confirmed = row is not None and row.confirmed_at is not None
    return render(request, "access/account_totp.html", {
        "confirmed_at": row.confirmed_at if confirmed else None,
        "enrolment": None if confirmed else totp.enrolment(
            db, db.get(Staff, principal.subject.staff_id)),
        "required": get_settings().totp_required,
        "passwords": auth.passwords_allowed(db),
        "errors": errors or {},
    }, status_code=status_code)


@router.get("/account/totp")
def own_app(request: Request, db: DbSession,
            principal: Annotated[Principal, Depends(StaffAccess(Action.SIGNED_IN))]):
    """Your authenticator app for password logins: set it up, or see that it is."""
    return _own_app_page(request, db, principal)


@router.post("/account/totp")
def confirm_own_app(request: Request, db: DbSession, form: FormData,
                    principal: Annotated[Principal, Depends(StaffAccess(Action.SIGNED_IN))]):
    """Confirm the app with its first code."""
    _, err = attempt(db, lambda: totp.confirm_enrolment(db, principal.subject,
                                                        form.get("code")))
    if err:
        return _own_app_page(request, db, principal, error_messages(err), err.status_code)
    return RedirectResponse("/account/totp?done=totp_enrolled", 303)


# --- Care team and sharing ----------------------------------------------------------------


def _team_page(request: Request, db, ctx: PatientContext, errors=None, status_code=200):
    members, hidden = sharing.team(db, ctx.decision, ctx.patient_id, include_ended=True)
    own_blocks, other_blocks = sharing.blocks(db, ctx.subject, ctx.patient_id)
    units = directory.all_units(db)
    subject = ctx.subject
    emergency_only = ctx.decision.basis == "emergency"
    return render(request, "access/team.html", {
        "patient": get_patient(db, ctx.patient_id),
        "team": members, "hidden_team": hidden,
        "consents": sharing.consents(db, ctx.patient_id),
        "own_blocks": own_blocks, "other_blocks": other_blocks,
        "unit_options": [(u.id, f"{u.name} ({o.name})") for u, o in units],
        "own_unit_options": [(u.id, u.name) for u, o in units
                             if o.id == subject.organisation_id],
        "staff_options": [
            (s.id, f"{s.family_name}, {s.given_name} · {label(PROFESSIONS, s.profession)} · {u.name}")
            for s, u in directory.active_staff(db)],
        "organisation_options": [(o.id, o.name) for o in directory.organisations(db)],
        "may_manage_team": not emergency_only and subject.role_allows(Action.CARE_TEAM),
        "may_manage_consent": not emergency_only and subject.role_allows(Action.CONSENT),
        "may_manage_blocks": not emergency_only and subject.role_allows(Action.BLOCK),
        "sharing_missing": sharing.organisations_without_consent(db, ctx.patient_id),
        "errors": errors or {},
    }, status_code=status_code)


@router.get("/patients/{patient_id}/team")
def team_page(request: Request, db: DbSession,
              ctx: Annotated[PatientContext, Depends(PatientAccess(Action.READ))]):
    """The care team, consents and blocks."""
    return _team_page(request, db, ctx)


def _sharing_post(request, db, ctx, action, done: str):
    _, err = attempt(db, action)
    if err:
        return _team_page(request, db, ctx, errors=error_messages(err),
                          status_code=err.status_code)
    return RedirectResponse(f"/patients/{ctx.patient_id}/team?done={done}", 303)


@router.post("/patients/{patient_id}/team")
def add_member(request: Request, db: DbSession, form: FormData,
               ctx: Annotated[PatientContext, Depends(PatientAccess(Action.CARE_TEAM))]):
    """Add a unit or a person to the care team."""
    return _sharing_post(request, db, ctx, lambda: sharing.add_to_team(
        db, ctx.subject, ctx.patient_id, parse(sharing.CareRelationCreate, form)), "team")


@router.post("/patients/{patient_id}/team/{relation_id}/end")
def end_member(request: Request, db: DbSession, relation_id: uuid.UUID,
               ctx: Annotated[PatientContext, Depends(PatientAccess(Action.CARE_TEAM))]):
    """End a care relationship now."""
    return _sharing_post(request, db, ctx, lambda: sharing.end_relation(
        db, ctx.subject, ctx.patient_id, relation_id), "team")


@router.post("/patients/{patient_id}/consents")
def add_consent(request: Request, db: DbSession, form: FormData,
                ctx: Annotated[PatientContext, Depends(PatientAccess(Action.CONSENT))]):
    """Record the patient's consent to sharing."""
    return _sharing_post(request, db, ctx, lambda: sharing.record_consent(
        db, ctx.subject, ctx.patient_id, parse(sharing.ConsentCreate, form)), "consent")


@router.post("/patients/{patient_id}/consents/{consent_id}/withdraw")
def withdraw_consent(request: Request, db: DbSession, consent_id: uuid.UUID,
                     ctx: Annotated[PatientContext, Depends(PatientAccess(Action.CONSENT))]):
    """Withdraw a consent."""
    return _sharing_post(request, db, ctx, lambda: sharing.withdraw_consent(
        db, ctx.subject, ctx.patient_id, consent_id), "consent_withdrawn")


@router.post("/patients/{patient_id}/blocks")
def add_block(request: Request, db: DbSession, form: FormData,
              ctx: Annotated[PatientContext, Depends(PatientAccess(Action.BLOCK))]):
    """Block a unit's information from other units."""
    return _sharing_post(request, db, ctx, lambda: sharing.add_block(
        db, ctx.subject, ctx.patient_id, parse(sharing.BlockCreate, form)), "block")


@router.post("/patients/{patient_id}/blocks/{block_id}/lift")
def lift_block(request: Request, db: DbSession, block_id: uuid.UUID,
               ctx: Annotated[PatientContext, Depends(PatientAccess(Action.BLOCK))]):
    """Lift a block."""
    return _sharing_post(request, db, ctx, lambda: sharing.lift_block(
        db, ctx.subject, ctx.patient_id, block_id), "block_lifted")


# --- Emergency access ---------------------------------------------------------------------


@router.get("/emergency")
def emergency_form(request: Request,
                   principal: Annotated[Principal, Depends(StaffAccess(Action.EMERGENCY))]):
    """Form: open emergency access."""
    return render(request, "access/emergency.html",
                  {"minutes": get_settings().emergency_access_minutes})


@router.post("/emergency")
def emergency(request: Request, db: DbSession, form: FormData,
              principal: Annotated[Principal, Depends(StaffAccess(Action.EMERGENCY))]):
    """Open emergency access to a patient."""
    try:
        data = parse(sharing.EmergencyCreate, form)
        with db.begin_nested():
            patient_id = sharing.open_emergency(db, principal.subject, data, client_addr(request))
    except Invalid as exc:
        return render(request, "access/emergency.html", {
            "minutes": get_settings().emergency_access_minutes,
            "values": form, "errors": error_messages(exc)}, status_code=exc.status_code)
    return RedirectResponse(f"/patients/{patient_id}?done=emergency", 303)


# --- Log review ---------------------------------------------------------------------------


def _org_name(db, principal: Principal) -> str:
    return db.get(Organisation, principal.subject.organisation_id).name


@router.get("/logs")
def logs(request: Request, db: DbSession,
         principal: Annotated[Principal, Depends(StaffAccess(Action.LOG_REVIEW))]):
    """Log review: filter the organisation's access log, flag what needs a second look."""
    values = blank_to_none(dict(request.query_params))
    # `done` is the confirmation a form came back with (shown by the layout), not a filter.
    values = {k: v for k, v in values.items() if v is not None and k != "done"}
    groups, has_more, errors = [], False, {}
    try:
        f = parse(logreview.LogFilter, values)
        groups, has_more = logreview.search_grouped(db, principal.subject, f)
    except Invalid as exc:
        errors = error_messages(exc)
        f = None
    next_params = dict(values, page=str((f.page if f else 1) + 1))

    return render(request, "access/logs.html", {
        "organisation_name": _org_name(db, principal),
        "groups": groups, "has_more": has_more, "values": values, "errors": errors,
        "next_page_url": "/logs?" + urlencode(next_params),
        "unit_options": [(u.id, u.name) for u in directory.organisation_units(
            db, principal.subject.organisation_id)],
        "review_options": [(k, label(REVIEW_OUTCOMES, k)) for k in REVIEW_OUTCOMES],
    })


@router.post("/logs/review")
async def review(request: Request, db: DbSession,
                 principal: Annotated[Principal, Depends(StaffAccess(Action.LOG_REVIEW))]):
    """Record the outcome of reviewing the selected entries."""
    form = await form_data(request)
    # A row of the page stands for a group of entries: its checkbox carries all their ids.
    form["entry_ids"] = [part.strip() for value in form.get("entry_ids", [])
                         for part in value.split(",") if part.strip()]
    try:
        data = parse(logreview.ReviewCreate, form)
        with db.begin_nested():
            logreview.record_review(db, principal.subject, data)
    except Invalid as exc:
        return render(request, "access/logs.html", {
            "organisation_name": _org_name(db, principal), "groups": [], "has_more": False,
            "values": {}, "errors": error_messages(exc), "next_page_url": "/logs",
            "unit_options": [], "review_options": [],
        }, status_code=exc.status_code)
    return RedirectResponse("/logs?done=reviewed", 303)


@router.get("/logs/extract")
def extract(request: Request, db: DbSession,
            principal: Annotated[Principal, Depends(StaffAccess(Action.LOG_REVIEW))],
            personnummer: str = ""):
    """The patient's log extract: which units accessed their information, and when."""
    patient, units, errors = None, [], {}
    if personnummer:
        try:
            patient, units = logreview.patient_extract(db, principal.subject, personnummer)
        except (Invalid, NotFound) as exc:
            errors = error_messages(exc) if isinstance(exc, Invalid) else {}
    return render(request, "access/extract.html", {
        "organisation_name": _org_name(db, principal), "patient": patient, "units": units,
        "searched": bool(personnummer), "values": {"personnummer": personnummer},
        "errors": errors,
    })


# --- Administration -----------------------------------------------------------------------


def _admin_options(db, principal: Principal) -> dict:
    return {
        "unit_kind_options": [(k.value, label(UNIT_KINDS, k.value)) for k in UnitKind],
        "profession_options": [(p.value, label(PROFESSIONS, p.value)) for p in Profession],
        "own_unit_options": [(u.id, u.name) for u in directory.organisation_units(
            db, principal.subject.organisation_id)],
    }


def _default_unit_kind(db, organisation_id: int) -> str:
    kind = db.get(Organisation, organisation_id).kind
    return "hospital_clinic" if kind == "region" else "home_health"


def _admin_page(request, db, principal, *, unit_values=None, unit_errors=None,
                staff_values=None, staff_errors=None, login_errors=None, status_code=200):
    org_id = principal.subject.organisation_id
    return render(request, "access/admin.html", {
        "organisation_name": _org_name(db, principal),
        "units": directory.organisation_units(db, org_id),
        "staff": directory.organisation_staff(db, org_id),
        "unit_values": unit_values or {"kind": _default_unit_kind(db, org_id), "virtual_beds": 0},
        "unit_errors": unit_errors or {},
        "staff_values": staff_values or {}, "staff_errors": staff_errors or {},
        "login": directory.login_state(db), "login_errors": login_errors or {},
        "errors": {}, **_admin_options(db, principal),
    }, status_code=status_code)


AdminPrincipal = Annotated[Principal, Depends(StaffAccess(Action.ADMIN))]


@router.get("/admin")
def admin(request: Request, db: DbSession, principal: AdminPrincipal):
    """Units and staff accounts of the administrator's organisation."""
    return _admin_page(request, db, principal)


@router.post("/admin/login")
def login_settings(request: Request, db: DbSession, form: FormData, principal: AdminPrincipal):
    """Allow or forbid password logins in the installation (takes effect at once)."""
    form.setdefault("password_login", False)
    _, err = attempt(db, lambda: directory.set_password_login(
        db, principal.subject, parse(directory.LoginSettings, form)))
    if err:
        return _admin_page(request, db, principal, login_errors=error_messages(err),
                           status_code=err.status_code)
    return RedirectResponse("/admin?done=login_settings", 303)


@router.post("/admin/units")
def create_unit(request: Request, db: DbSession, form: FormData, principal: AdminPrincipal):
    """Create a unit."""
    _, err = attempt(db, lambda: directory.create_unit(
        db, principal.subject, parse(directory.UnitCreate, form)))
    if err:
        return _admin_page(request, db, principal, unit_values=form,
                           unit_errors=error_messages(err), status_code=err.status_code)
    return RedirectResponse("/admin?done=saved", 303)


def _unit_page(request, db, principal, unit_id: int, values=None, errors=None, status_code=200):
    unit = next((u for u in directory.organisation_units(db, principal.subject.organisation_id)
                 if u.id == unit_id), None)
    if unit is None:
        raise NotFound()
    if values is None:
        values = {k: getattr(unit, k) for k in ("name", "kind", "phone", "hsa_id",
                                                 "virtual_beds", "active")}
    return render(request, "access/admin_unit.html", {
        "unit": unit, "unit_values": values, "unit_errors": errors or {},
        **_admin_options(db, principal)}, status_code=status_code)


@router.get("/admin/units/{unit_id}")
def unit_form(request: Request, db: DbSession, unit_id: DbId, principal: AdminPrincipal):
    """Form: edit a unit."""
    return _unit_page(request, db, principal, unit_id)


@router.post("/admin/units/{unit_id}")
def update_unit(request: Request, db: DbSession, unit_id: DbId, form: FormData,
                principal: AdminPrincipal):
    """Save a unit."""
    form.setdefault("active", False)
    _, err = attempt(db, lambda: directory.update_unit(
        db, principal.subject, unit_id, parse(directory.UnitUpdate, form)))
    if err:
        return _unit_page(request, db, principal, unit_id, form, error_messages(err),
                          err.status_code)
    return RedirectResponse("/admin?done=saved", 303)


@router.post("/admin/staff")
def create_staff(request: Request, db: DbSession, form: FormData, principal: AdminPrincipal):
    """Create a staff account."""
    _, err = attempt(db, lambda: directory.create_staff(
        db, principal.subject, parse(directory.StaffCreate, form)))
    if err:
        form.pop("password", None)
        return _admin_page(request, db, principal, staff_values=form,
                           staff_errors=error_messages(err), status_code=err.status_code)
    return RedirectResponse("/admin?done=saved", 303)


def _staff_page(request, db, principal, staff_id: int, values=None, errors=None,
                status_code=200):
    staff = directory.get_own_staff(db, principal.subject, staff_id)
    if values is None:
        values = {k: getattr(staff, k) for k in (
            "given_name", "family_name", "profession", "unit_id", "phone", "hsa_id",
            "is_admin", "is_log_reviewer", "is_medical_lead", "is_follow_up",
            "is_research_exporter", "active")}
        values["skills"] = ", ".join(staff.skills or [])
    app = db.get(TotpCredential, staff.id)
    return render(request, "access/admin_staff.html", {
        "staff": staff, "staff_values": values, "staff_errors": errors or {},
        "totp_confirmed_at": app.confirmed_at if app is not None else None,
        "totp_exists": app is not None,
        "totp_required": get_settings().totp_required,
        **_admin_options(db, principal)}, status_code=status_code)


@router.get("/admin/staff/{staff_id}")
def staff_form(request: Request, db: DbSession, staff_id: DbId, principal: AdminPrincipal):
    """Form: edit a staff account."""
    return _staff_page(request, db, principal, staff_id)


@router.post("/admin/staff/{staff_id}")
def update_staff(request: Request, db: DbSession, staff_id: DbId, form: FormData,
                 principal: AdminPrincipal):
    """Save a staff account (deactivating or a new password logs the user out everywhere)."""
    for flag in ("active", "is_admin", "is_log_reviewer", "is_medical_lead", "is_follow_up",
                 "is_research_exporter"):
        form.setdefault(flag, False)
    _, err = attempt(db, lambda: directory.update_staff(
        db, principal.subject, staff_id, parse(directory.StaffUpdate, form)))
    if err:
        form.pop("password", None)
        return _staff_page(request, db, principal, staff_id, form, error_messages(err),
                           err.status_code)
    return RedirectResponse("/admin?done=saved", 303)



@router.post("/admin/staff/{staff_id}/totp/reset")
def reset_totp(request: Request, db: DbSession, staff_id: DbId, principal: AdminPrincipal):
    """Forget the user's authenticator app (a lost or new phone)."""
    directory.reset_totp(db, principal.subject, staff_id)
    return RedirectResponse(f"/admin/staff/{staff_id}?done=totp_reset", 303)
