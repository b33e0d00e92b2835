"""FHIR subscriptions (R4 rest-hook) on new alerts (`Flag`) and new care requests
(`ServiceRequest`): a client subscribes to an endpoint an administrator allowed
(HEMMA_FHIR_SUBSCRIPTION_ENDPOINTS), and is told of each new event its own account may read.

How an event reaches a subscriber exactly once: the worker's sweep looks for events newer
than each subscription's `since`, and for each one the subscriber's account may read (the
same `can()`, and the organisation's information only with consent) writes one notification
row, unique per subscription and resource, and queues its delivery through the outbox in the
same transaction. The outbox POSTs it until the endpoint answers 2xx (a failed POST rolls the
delivery back and is tried again when its lease runs out); after `MAX_ATTEMPTS` the
subscription is set to `error` and nothing more is sent to it.

A notification carries no patient data: a `history` Bundle naming the new resource
(`Flag/<id>`), which the subscriber then reads with its own credentials, through the access
check and the audit log. The notification's id (the Bundle's) lets a receiver that got the
same notification twice (a lost answer) see it was the same."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from hemma.access import audit
from hemma.access.auth import actor_for
from hemma.access.policy import Action, Subject
from hemma.access.service import can, origin, subject_for
from hemma.config import get_settings
from hemma.db import insert_ignoring_conflict
from hemma.fhir.resources import meta
from hemma.fhir.vitals import NotUnderstood
from hemma.jobs import outbox
from hemma.kit.errors import NotFound, PreconditionFailed
from hemma.kit.text import N_
from hemma.kit.time import utcnow
from hemma.kit.validation import has_control_characters
from hemma.models import (
    Alert,
    CareRequest,
    FhirNotification,
    FhirSubscription,
    OutboxMessage,
    Staff,
)

log = logging.getLogger("hemma.fhir.subscriptions")

TOPIC = "fhir.notify"
MAX_ATTEMPTS = 10
TIMEOUT_SECONDS = 10.0
MAX_HEADERS = 5
# What a client may subscribe to: the event's resource type.
CRITERIA = {"Flag?status=active": "Flag", "ServiceRequest?status=active": "ServiceRequest"}
ELEMENTS = {"resourceType", "id", "meta", "text", "status", "contact", "end", "reason",
            "criteria", "error", "channel"}
CHANNEL_ELEMENTS = {"type", "endpoint", "payload", "header"}


def allowed_endpoints() -> list[str]:
    return [p.strip() for p in get_settings().fhir_subscription_endpoints.split(",")
            if p.strip()]


def resource(sub: FhirSubscription) -> dict:
    """The subscription as R4 shows it; the headers it sends are not shown back (they may
    hold the receiver's secret)."""
    out = {"resourceType": "Subscription", "id": str(sub.id),
           "meta": meta(str(sub.version), (sub.updated_at or sub.created_at).isoformat()),
           "status": sub.status, "reason": sub.reason, "criteria": sub.criteria,
           "channel": {"type": "rest-hook", "endpoint": sub.endpoint,
                       "payload": "application/fhir+json"}}
    if sub.error:
        out["error"] = sub.error
    return out


def _refuse(message: str, path: str, **params) -> NotUnderstood:
    return NotUnderstood(message, f"Subscription.{path}", **params)


def create(db: Session, subject: Subject, body: dict) -> FhirSubscription:
    """A client subscribes: criteria Hemma serves, a rest-hook to an allowed endpoint."""
    if body.get("resourceType") != "Subscription":
        raise NotUnderstood(N_("Hemma takes a Subscription here"), "resourceType")
    unknown = sorted(set(body) - ELEMENTS)
    if unknown:
        raise _refuse(N_("Hemma does not read %(element)s"), unknown[0],
                      element=f"Subscription.{unknown[0]}")
    criteria = body.get("criteria")
    if criteria not in CRITERIA:
        raise _refuse(N_("Hemma notifies of %(criteria)s"), "criteria",
                      criteria=" | ".join(CRITERIA))
    reason = body.get("reason")
    if not isinstance(reason, str) or not reason.strip() or len(reason) > 500 \
            or has_control_characters(reason):
        raise _refuse(N_("Say why (a reason of at most 500 characters)"), "reason")
    channel = body.get("channel")
    if not isinstance(channel, dict):
        raise _refuse(N_("A rest-hook channel is needed"), "channel")
    extra = sorted(set(channel) - CHANNEL_ELEMENTS)
    if extra:
        raise _refuse(N_("Hemma does not read %(element)s"), f"channel.{extra[0]}",
                      element=f"Subscription.channel.{extra[0]}")
    if channel.get("type") != "rest-hook":
        raise _refuse(N_("Hemma calls rest-hooks only"), "channel.type")
    if channel.get("payload") not in (None, "application/fhir+json"):
        raise _refuse(N_("The payload is application/fhir+json"), "channel.payload")
    endpoint = channel.get("endpoint")
    if not isinstance(endpoint, str) or len(endpoint) > 500 or not any(
            endpoint.startswith(prefix) for prefix in allowed_endpoints()) \
            or has_control_characters(endpoint):
        raise _refuse(N_("Hemma is not configured to call this endpoint"), "channel.endpoint")
    headers = channel.get("header") or []
    if not isinstance(headers, list) or len(headers) > MAX_HEADERS or any(
            not isinstance(h, str) or ":" not in h or len(h) > 500 or has_control_characters(h)
            for h in headers):
        raise _refuse(N_("At most %(max)s headers, each \"Name: value\" on one line"),
                      "channel.header", max=MAX_HEADERS)
    now = utcnow()
    sub = FhirSubscription(owner_id=subject.staff_id, criteria=criteria, endpoint=endpoint,
                           headers=headers, reason=reason.strip(), status="active",
                           since=now, created_at=now)
    db.add(sub)
    db.flush()
    return sub


def _own(db: Session, subject: Subject, subscription_id: uuid.UUID) -> FhirSubscription:
    sub = db.get(FhirSubscription, subscription_id)
    if sub is None or sub.owner_id != subject.staff_id:
        raise NotFound()  # another account's subscription does not exist for this one
    return sub


def read(db: Session, subject: Subject, subscription_id: uuid.UUID) -> FhirSubscription:
    return _own(db, subject, subscription_id)


def search(db: Session, subject: Subject) -> list[FhirSubscription]:
    return list(db.scalars(select(FhirSubscription).where(
        FhirSubscription.owner_id == subject.staff_id).order_by(FhirSubscription.created_at)))


def changed(db: Session, sub: FhirSubscription, status: str, error: str | None) -> None:
    """The one way a subscription changes: its status (and why), as a new version. The
    version is counted up by the database (`version + 1`), so two changes at once never
    share a number."""
    sub.status, sub.error = status, error
    sub.version = FhirSubscription.version + 1
    sub.updated_at = utcnow()
    db.flush()


def turn_off(db: Session, subject: Subject, subscription_id: uuid.UUID,
             if_match: str | None = None) -> FhirSubscription:
    """The client ends its subscription. With `If-Match`, a version other than the current
    one is refused (412): the subscription changed (e.g. to error) since the client read it."""
    sub = _own(db, subject, subscription_id)
    db.refresh(sub, with_for_update=True)
    if if_match is not None and if_match != str(sub.version):
        raise PreconditionFailed(N_("The subscription has changed since you read it: read it "
                                    "again"))
    if sub.status != "off":
        changed(db, sub, "off", sub.error)
    return sub


# --- The worker: find events, tell each subscriber once -------------------------------------


def _events(db: Session, kind: str, since: datetime, limit: int = 500):
    """(resource reference, patient, when, the unit whose information it is) newer than
    `since`, oldest first."""
    if kind == "Flag":
        rows = db.execute(select(Alert.id, Alert.patient_id, Alert.created_at, Alert.unit_id)
                          .where(Alert.created_at > since).order_by(Alert.created_at)
                          .limit(limit)).all()
    else:
        rows = db.execute(select(CareRequest.id, CareRequest.patient_id, CareRequest.created_at,
                                 CareRequest.from_unit_id)
                          .where(CareRequest.created_at > since)
                          .order_by(CareRequest.created_at).limit(limit)).all()
    return [(f"{kind}/{rid}", pid, at, unit) for rid, pid, at, unit in rows]


def _may_know(db: Session, subject: Subject, patient_id: uuid.UUID, unit_id: int) -> bool:
    decision = can(db, subject, Action.READ, patient_id)
    return bool(decision) and (decision.sees(origin(db, unit_id))
                               or unit_id == subject.unit_id)


def sweep(db: Session, now: datetime) -> int:
    """Queue a notification of each new event to each active subscription whose account may
    read it. Returns how many were queued."""
    queued = 0
    for sub in db.scalars(select(FhirSubscription).where(FhirSubscription.status == "active")
                          .with_for_update()):
        owner = db.get(Staff, sub.owner_id)
        if owner is None or not owner.active:
            changed(db, sub, "off", "The account that subscribed is no longer active")
            continue
        subject = subject_for(db, owner)
        events = _events(db, CRITERIA[sub.criteria], sub.since)
        for ref, patient_id, at, unit_id in events:
            if not _may_know(db, subject, patient_id, unit_id):
                continue
            notification_id = uuid.uuid4()
            if insert_ignoring_conflict(db, FhirNotification, [{
                    "id": notification_id, "subscription_id": sub.id, "resource": ref,
                    "patient_id": patient_id, "event_at": at, "created_at": now,
                    "attempts": 0}], ["subscription_id", "resource"]):
                outbox.enqueue(db, TOPIC, {"notification_id": str(notification_id)})
                audit.trail(db).record_for(actor_for(db, owner, None), patient_id,
                                           "fhir.notify")
                queued += 1
        if events:
            sub.since = events[-1][2]
    return queued


def notification_bundle(n: FhirNotification, now: datetime) -> dict:
    kind = n.resource.split("/", 1)[0]
    return {"resourceType": "Bundle", "id": str(n.id), "type": "history",
            "timestamp": now.isoformat(),
            "entry": [{"request": {"method": "POST", "url": kind},
                       "response": {"status": "201 Created",
                                    "location": n.resource}}]}


@outbox.handler(TOPIC)
def _deliver(db: Session, message: OutboxMessage, now: datetime) -> None:
    n = db.get(FhirNotification, uuid.UUID(message.payload["notification_id"]))
    if n is None or n.sent_at is not None:
        return
    sub = db.get(FhirSubscription, n.subscription_id)
    if sub is None or sub.status != "active":
        return  # turned off (or failed) since: nothing more to it
    n.attempts = message.attempts
    headers = {"Content-Type": "application/fhir+json"}
    for line in sub.headers or []:
        name, _sep, value = line.partition(":")
        headers[name.strip()] = value.strip()
    try:
        with httpx.Client(timeout=TIMEOUT_SECONDS, follow_redirects=False) as client:
            r = client.post(sub.endpoint, json=notification_bundle(n, now), headers=headers)
        status, error = r.status_code, None if r.is_success else f"HTTP {r.status_code}"
    except httpx.HTTPError as exc:
        status, error = None, f"{type(exc).__name__}"
    if error is None:
        n.sent_at, n.status_code = now, status
        return
    if message.attempts >= MAX_ATTEMPTS:
        # The endpoint has not taken it for long: stop, and say so on the subscription.
        changed(db, sub, "error", f"{sub.endpoint}: {error} ({message.attempts} tries)")
        n.status_code = status
        log.warning("subscription %s: %s; set to error", sub.id, error)
        return
    raise RuntimeError(f"subscription {sub.id}: {error}")  # rolled back, tried again
