"""JSON API: the follow-up figures, as the page and the exports show them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from hemma.access.policy import Action
from hemma.followup import exports
from hemma.followup.pages import _report
from hemma.web.deps import DbSession, Principal, StaffAccess
from hemma.web.routing import JsonRoute

router = APIRouter(prefix="/api/v1", tags=["follow-up"], route_class=JsonRoute)
Reader = Annotated[Principal, Depends(StaffAccess(Action.FOLLOW_UP))]
Text = Annotated[str | None, Query(max_length=40)]


@router.get("/followup", response_model=dict[str, Any])
def followup(db: DbSession, principal: Reader, period: Text = None, scope: Text = None,
             pathway: Text = None):
    """Every follow-up figure of a period (`2026-11`, `2026-Q4`, `2026`; default the month
    before this one), a scope (`unit-3`, `org-1`, `all`; default the caller's unit) and a
    pathway (its code; default all), with the period before and a 12-month trend. Counts
    under the threshold are suppressed (`suppressed: true`, `value: null`) outside the
    caller's own unit."""
    return exports.to_json(_report(db, principal, period, scope, pathway))
