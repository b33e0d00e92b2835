"""Named actions on treatments given at home: a physician orders (and stops) a treatment,
which asks the giving unit for its visits through a care request; whoever gives a dose
records it, given or not given with a reason.

This is deliberately not an EHR medication module: the prescription and the medication list
live in the region's record. An order here holds the few facts that drive the visits and the
record of each dose at home, which the overview and the discharge summary show.

An order is documented by the prescriber's unit (its origin for reading); a dose by the unit
of whoever recorded it. The giving unit's organisation records doses; so may the responsible
unit's, which answers for the treatment."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hemma.access import audit
from hemma.access.policy import Action, Decision, Origin, Subject
from hemma.access.service import origin, require
from hemma.coordination import live
from hemma.kit.errors import Conflict, Invalid, NotFound
from hemma.kit.time import at_local, ensure_utc, local_today, utcnow
from hemma.kit.validation import parse
from hemma.models import (
    ACTIVE_STATES,
    CareKind,
    CareRequest,
    Episode,
    Organisation,
    Profession,
    RequestStatus,
    Staff,
    TreatmentDose,
    TreatmentOrder,
    Unit,
    Visit,
    VisitStatus,
)
from hemma.patients.service import episode_of
from hemma.planning import service as planning
from hemma.planning.schemas import CareRequestCreate
from hemma.treatments.schemas import DoseRecord, OrderCreate

# A dose may be recorded a little before its planned time (the nurse is there at 07:40 for
# the 08:00 dose), not hours ahead of it.
EARLY_RECORD = timedelta(hours=2)
STOPPED_REASON = "treatment_stopped"



def _physician(subject: Subject) -> None:
    # Prescribing is the physician's responsibility (HSLF-FS 2017:37); a nurse gives and
    # records, but neither orders nor stops a treatment.
    if subject.profession != Profession.PHYSICIAN:
        raise Invalid("Only a physician orders or stops a treatment", field="prescriber")


def planned_times(order: TreatmentOrder) -> list[datetime]:
    """Every dose the order plans, in UTC (08:00 stays 08:00 Swedish time across daylight
    saving), none from the moment it was stopped."""
    out = []
    day = order.starts_on
    while day <= order.stops_on:
        for clock in sorted(order.times):
            at = at_local(day, clock)
            if order.stopped_at is None or at < order.stopped_at:
                out.append(at)
        day += timedelta(days=1)
    return out


def _care_kind(route: str, atc_code: str | None) -> str:
    # Anti-infectives (ATC group J) given into a vein are the home ward's IV antibiotics,
    # which the giving unit's planner knows by their own skill and kind.
    if route in ("iv", "infusion") and atc_code and atc_code.startswith("J"):
        return CareKind.IV_ANTIBIOTIC
    return CareKind.OTHER


def _check(data: OrderCreate) -> None:
    if len(set(data.times)) != len(data.times):
        raise Invalid("The same time twice", field="times")
    if data.starts_on < local_today():
        raise Invalid("The date has passed", field="starts_on")
    if data.stops_on < data.starts_on:
        raise Invalid("The last day is before the first", field="stops_on")
    if (data.stops_on - data.starts_on).days >= planning.MAX_DAYS:
        raise Invalid("At most %(days)s days; order again after that", field="stops_on",
                      days=planning.MAX_DAYS)


def order_treatment(db: Session, subject: Subject, patient_id: uuid.UUID,
                    episode_id: uuid.UUID, data: OrderCreate) -> TreatmentOrder:
    """A physician of the responsible organisation orders a treatment; the unit that gives it
    is asked for the visits (a care request), or its own visits are made at once when the
    physician's own unit gives it."""
    episode = episode_of(db, patient_id, episode_id)
    require(db, subject, Action.EPISODE, patient_id, on=origin(db, episode.responsible_unit_id))
    _physician(subject)
    if episode.state not in ACTIVE_STATES:
        raise Conflict("The episode has ended", field="starts_on")
    _check(data)
    unit = db.get(Unit, data.giving_unit_id)
    if unit is None or not unit.active:
        raise Invalid("Unknown unit", field="giving_unit_id")
    now = utcnow()
    times = sorted(data.times)
    order = TreatmentOrder(
        episode_id=episode.id, patient_id=patient_id, drug=data.drug, atc_code=data.atc_code,
        dose=data.dose, route=data.route, times=times, starts_on=data.starts_on,
        stops_on=data.stops_on, prescriber_id=subject.staff_id, giving_unit_id=unit.id,
        documented_by_unit_id=subject.unit_id, created_at=now, created_by_id=subject.staff_id)
    db.add(order)
    kind = _care_kind(data.route, data.atc_code)
    notes = f"{data.drug} {data.dose} ({data.route})"
    if unit.id != subject.unit_id:
        request = planning.request_care(db, subject, patient_id, parse(CareRequestCreate, dict(
            to_unit_id=unit.id, kind=kind, times=times, first_date=data.starts_on,
            last_date=data.stops_on, duration_minutes=data.duration_minutes, hard=True,
            priority=3, notes=notes, sharing=data.sharing, sharing_method=data.sharing_method,
            sharing_reason=data.sharing_reason)))
    else:
        # The physician's own unit gives it: nobody needs asking, the visits are its own.
        request = CareRequest(
            patient_id=patient_id, episode_id=episode.id, from_unit_id=unit.id,
            to_unit_id=unit.id, kind=kind, times=times, tolerance_minutes=30,
            first_date=data.starts_on, last_date=data.stops_on,
            duration_minutes=data.duration_minutes, skills=[], staff_count=1, gap_min=0,
            gap_max=0, hard=True, priority=3, notes=notes, status=RequestStatus.ACCEPTED,
            created_by_id=subject.staff_id, created_at=now, decided_by_id=subject.staff_id,
            decided_at=now)
        db.add(request)
        db.flush()
        planning.create_visits(db, request, now)
    db.flush()
    order.care_request_id = request.id
    audit.record(db, patient_id, "treatment.order")
    return order


def _order(db: Session, patient_id: uuid.UUID, order_id: uuid.UUID, *,
           lock: bool = False) -> TreatmentOrder:
    order = db.get(TreatmentOrder, order_id, with_for_update=lock)
    if order is None or order.patient_id != patient_id:
        raise NotFound()
    return order


def stop_order(db: Session, subject: Subject, patient_id: uuid.UUID,
               order_id: uuid.UUID) -> TreatmentOrder:
    """The physician stops the treatment: no dose is planned from now, and the visits not
    yet made for it are cancelled so nobody drives out to give it."""
    order = _order(db, patient_id, order_id, lock=True)
    require(db, subject, Action.EPISODE, patient_id, on=origin(db, order.documented_by_unit_id))
    _physician(subject)
    if order.stopped_at is not None:
        raise Conflict("The treatment has already been stopped", field="stopped_at")
    now = utcnow()
    order.stopped_at, order.stopped_by_id = now, subject.staff_id
    if order.care_request_id is not None:
        db.execute(update(CareRequest).where(
            CareRequest.id == order.care_request_id,
            CareRequest.status.in_([RequestStatus.REQUESTED, RequestStatus.ACCEPTED]))
            .values(status=RequestStatus.CANCELLED))
        db.execute(update(Visit).where(
            Visit.care_request_id == order.care_request_id, Visit.status == VisitStatus.PLANNED,
            Visit.latest > now).values(status=VisitStatus.CANCELLED,
                                       not_done_reason=STOPPED_REASON))
        live.announce(db, visits=True)
    audit.record(db, patient_id, "treatment.stop")
    return order


def _giver_origin(db: Session, subject: Subject, order: TreatmentOrder) -> Origin:
    giving = origin(db, order.giving_unit_id)
    if giving.organisation_id == subject.organisation_id:
        return giving
    return origin(db, db.get(Episode, order.episode_id).responsible_unit_id)


def get_order(db: Session, decision: Decision, patient_id: uuid.UUID,
              order_id: uuid.UUID) -> TreatmentOrder:
    order = _order(db, patient_id, order_id)
    if not decision.sees(origin(db, order.documented_by_unit_id)):
        audit.record(db, patient_id, "treatment.read", outcome="denied")
        raise NotFound()
    return order


def _visit_for(db: Session, order: TreatmentOrder, data: DoseRecord,
               planned_at: datetime) -> uuid.UUID | None:
    if data.visit_id is not None:
        visit = db.get(Visit, data.visit_id)
        if visit is None or visit.patient_id != order.patient_id or (
                visit.care_request_id != order.care_request_id
                and visit.unit_id != order.giving_unit_id):
            raise Invalid("Not a visit of this treatment", field="visit_id")
        return visit.id
    if order.care_request_id is None:
        return None
    # The visit made for this time, when the dose was given at one.
    return db.scalar(select(Visit.id).where(
        Visit.care_request_id == order.care_request_id, Visit.earliest <= planned_at,
        Visit.latest >= planned_at).limit(1))


def record_dose(db: Session, subject: Subject, patient_id: uuid.UUID, order_id: uuid.UUID,
                data: DoseRecord) -> TreatmentDose:
    """One planned dose: given, or not given with a reason; who and when."""
    order = _order(db, patient_id, order_id, lock=True)
    decision = require(db, subject, Action.VISIT, patient_id,
                       on=_giver_origin(db, subject, order))
    if not decision.sees(origin(db, order.documented_by_unit_id)):
        audit.record(db, patient_id, "treatment.dose", outcome="denied")
        raise NotFound()
    planned_at = ensure_utc(data.planned_at)
    if planned_at not in planned_times(order):
        raise Invalid("Not a planned time of this treatment", field="planned_at")
    now = utcnow()
    if planned_at > now + EARLY_RECORD:
        raise Invalid("The dose is not due yet", field="planned_at")
    if not data.given and not data.reason:
        raise Invalid("Say why the dose was not given", field="reason")
    dose = TreatmentDose(
        order_id=order.id, patient_id=patient_id, visit_id=_visit_for(db, order, data, planned_at),
        planned_at=planned_at, given=data.given, reason=data.reason, recorded_at=now,
        recorded_by_id=subject.staff_id, documented_by_unit_id=subject.unit_id)
    db.add(dose)
    try:
        with db.begin_nested():
            db.flush()
    except IntegrityError:
        raise Conflict("This dose has already been recorded", field="planned_at") from None
    audit.record(db, patient_id, "treatment.dose")
    return dose


# --- Reading ---------------------------------------------------------------------------------


@dataclass
class OrderView:
    order: TreatmentOrder
    prescriber: str | None
    giving_unit: str
    giving_organisation: str
    doses: list[TreatmentDose] = field(default_factory=list)
    hidden_doses: int = 0
    recorded_by: dict[int, str] = field(default_factory=dict)
    # Planned times up to now without a dose recorded (that the reader may see).
    open_times: list[datetime] = field(default_factory=list)
    may_record: bool = False
    may_stop: bool = False

    @property
    def active(self) -> bool:
        return self.order.stopped_at is None and self.order.stops_on >= local_today()


@dataclass
class TreatmentRecord:
    orders: list[OrderView] = field(default_factory=list)
    hidden_orders: int = 0

    @property
    def missed(self) -> int:
        """Doses planned up to now with nothing recorded, or recorded not given."""
        return sum(len(v.open_times) + sum(1 for d in v.doses if not d.given)
                   for v in self.orders)


def _writes(decision: Decision, action: Action) -> bool:
    return decision.subject.role_allows(action) and decision.basis != "emergency"


def treatment_record(db: Session, decision: Decision, episode_id: uuid.UUID,
                     *, now: datetime | None = None) -> TreatmentRecord:
    """The episode's treatment orders with their doses, as far as `decision` lets the reader
    see them (the overview, the discharge summary). A fixed number of queries."""
    episode = db.get(Episode, episode_id)
    if episode is None:
        raise NotFound()
    home = origin(db, episode.responsible_unit_id)
    if not decision.sees(home):
        raise NotFound()
    now = now or utcnow()
    out = TreatmentRecord()
    orders = list(db.scalars(select(TreatmentOrder).where(TreatmentOrder.episode_id == episode_id)
                             .order_by(TreatmentOrder.created_at)))
    if not orders:
        return out
    units = {u.id: (u.name, o.name) for u, o in db.execute(
        select(Unit, Organisation).join(Organisation, Organisation.id == Unit.organisation_id)
        .where(Unit.id.in_({o.giving_unit_id for o in orders})))}
    doses: dict[uuid.UUID, list[TreatmentDose]] = {}
    for d in db.scalars(select(TreatmentDose).where(
            TreatmentDose.order_id.in_([o.id for o in orders]))
            .order_by(TreatmentDose.planned_at)):
        doses.setdefault(d.order_id, []).append(d)
    staff_ids = {o.prescriber_id for o in orders} | {
        d.recorded_by_id for ds in doses.values() for d in ds}
    names = {s.id: s.full_name for s in db.scalars(select(Staff).where(Staff.id.in_(staff_ids)))}
    active = episode.state in ACTIVE_STATES
    for order in orders:
        if not decision.sees(origin(db, order.documented_by_unit_id)):
            out.hidden_orders += 1
            continue
        unit_name, org_name = units[order.giving_unit_id]
        view = OrderView(order, names.get(order.prescriber_id), unit_name, org_name,
                         recorded_by=names)
        recorded = set()
        for d in doses.get(order.id, []):
            recorded.add(ensure_utc(d.planned_at))
            if decision.sees(origin(db, d.documented_by_unit_id)):
                view.doses.append(d)
            else:
                view.hidden_doses += 1
        view.open_times = [t for t in planned_times(order) if t <= now and t not in recorded]
        if active and order.stopped_at is None and _writes(decision, Action.VISIT):
            view.may_record = decision.may_change(origin(db, order.giving_unit_id)) \
                or decision.may_change(home)
        view.may_stop = active and order.stopped_at is None \
            and decision.subject.profession == Profession.PHYSICIAN \
            and _writes(decision, Action.EPISODE) \
            and decision.may_change(origin(db, order.documented_by_unit_id))
        out.orders.append(view)
    return out


def recordable_times(view: OrderView, now: datetime | None = None) -> list[datetime]:
    """The planned times a dose may be recorded for now: not yet recorded, due by now plus
    the margin for a dose given a little early."""
    now = now or utcnow()
    recorded = {ensure_utc(d.planned_at) for d in view.doses}
    return [t for t in planned_times(view.order) if t <= now + EARLY_RECORD
            and t not in recorded][-12:]


def days(order: TreatmentOrder) -> int:
    return (order.stops_on - order.starts_on).days + 1

