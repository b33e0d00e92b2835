"""The discharge summary that hands the patient back to ordinary care: generated from the
episode (reason and pathway, days at home, value trends, alerts and how they were handled,
the round's decisions, treatments given, plan activities that continue with their owners,
follow-ups booked), edited and signed by the physician, sent to the units that take over,
each of which acknowledges it.

It is the responsible unit's document: its facts are gathered as the drafting user may see
them, and others read it with the patient's consent, like the rest of the episode."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from hemma.access import audit
from hemma.access.policy import Action, Decision, Subject
from hemma.access.service import can, origin, relation_active, require
from hemma.access.sharing import consented_organisations
from hemma.careplans import service as careplans
from hemma.i18n import gettext as _
from hemma.i18n import ngettext
from hemma.i18n.labels import DECISIONS, DISCHARGE_OUTCOMES, PARAMETERS, label
from hemma.kit.errors import Conflict, Forbidden, Invalid, NotFound
from hemma.kit.time import format_local, local_date, local_today, utcnow
from hemma.models import (
    CareRelation,
    DischargeSummary,
    Episode,
    EpisodeState,
    Organisation,
    Pathway,
    Patient,
    Profession,
    Staff,
    SummaryReceipt,
    Unit,
)
from hemma.monitoring import views as monitoring_views
from hemma.monitoring import visible
from hemma.patients.service import episode_of
from hemma.rounds.service import round_notes
from hemma.summaries.schemas import SummarySign, SummaryUpdate
from hemma.treatments import service as treatments

# The values whose course the summary tells (first, last, lowest, highest).
TREND_PARAMETERS = ("respiration_rate", "spo2", "temperature", "systolic_bp", "pulse", "weight",
                    "pain")
RECEIVER_ROLE = "Tar över efter utskrivning"



def _number(value) -> float | int | str:
    return value if isinstance(value, (int, str)) else round(float(value), 1)


def gather(db: Session, decision: Decision, episode: Episode) -> dict:
    """The facts of the episode, as the reader may see them, as plain JSON."""
    pid = episode.patient_id
    pathway = db.get(Pathway, episode.pathway_id)
    start = episode.admitted_at or episode.assessed_at
    end = episode.ended_at or utcnow()
    days = (local_date(end) - local_date(start)).days + 1 if episode.admitted_at else 0
    seen = visible.observations(db, decision, pid, start, end)
    trends = []
    for name in TREND_PARAMETERS:
        points = [(o.measured_at, getattr(o, name)) for o in seen.observations
                  if getattr(o, name, None) is not None]
        if not points:
            continue
        values = [v for _, v in points]
        trends.append({"parameter": name, "label": label(PARAMETERS, name), "n": len(points),
                       "first": _number(points[0][1]), "last": _number(points[-1][1]),
                       "min": _number(min(values)), "max": _number(max(values))})
    news2 = [o.news2_total for o in seen.observations if o.news2_total is not None]
    alerts = [{"at": format_local(a.time), "severity": a.alert.severity,
               "reasons": a.reasons, "status": a.alert.status,
               "handled": a.alert.resolution_note or a.alert.resolved_reason or ""}
              for a in reversed(monitoring_views.patient_alerts(
                  db, decision, pid, episode_id=episode.id, limit=200))]
    rounds = [{"at": format_local(n.at), "by": by, "decision": label(DECISIONS, n.decision),
               "note": n.note}
              for n, by in reversed(round_notes(db, decision, pid, limit=200))
              if n.episode_id == episode.id]
    record = treatments.treatment_record(db, decision, episode.id)
    given = [{"drug": o.order.drug, "dose": o.order.dose, "route": o.order.route,
              "times": list(o.order.times or []), "prescriber": o.prescriber or "",
              "giver": o.giving_unit,
              "given": sum(1 for d in o.doses if d.given),
              "not_given": [f"{format_local(d.planned_at)}: {d.reason}" for d in o.doses
                            if not d.given]}
             for o in record.orders]
    plan = careplans.plan_view(db, decision, pid, episode.id)
    continuing = [{"what": a.activity.what, "owner": a.unit_name,
                   "organisation": a.organisation_name, "person": a.person or ""}
                  for a in plan.activities
                  if a.activity.continues_after or (a.status == "ongoing" and a.activity.ends_on
                                                    and a.activity.ends_on > local_date(end))]
    follow_ups = list(plan.plan.follow_ups or []) if plan.plan else []
    return {
        "pathway": f"{pathway.name} (version {pathway.version})",
        "reason": episode.assessment_note or "",
        "admitted": format_local(episode.admitted_at), "ended": format_local(episode.ended_at),
        "days_at_home": days, "end_note": episode.end_note or "",
        "outcome": episode.end_reason,  # how the episode ended (labels.DISCHARGE_OUTCOMES)
        "criteria_override": episode.criteria_override,
        "trends": trends, "news2_max": max(news2) if news2 else None,
        "news2_last": news2[-1] if news2 else None, "hidden_values": seen.hidden,
        "alerts": alerts, "rounds": rounds, "treatments": given,
        "hidden_treatments": record.hidden_orders, "continuing": continuing,
        "hidden_activities": plan.hidden_activities, "follow_ups": follow_ups,
    }


def _for_change(db: Session, subject: Subject, patient_id: uuid.UUID,
                episode_id: uuid.UUID) -> tuple[Episode, Decision]:
    episode = episode_of(db, patient_id, episode_id, lock=True)
    decision = require(db, subject, Action.EPISODE, patient_id,
                       on=origin(db, episode.responsible_unit_id))
    if episode.state != EpisodeState.DISCHARGED:
        raise Conflict("A discharge summary is written when the patient has been discharged",
                       field="state")
    return episode, decision


def _summary(db: Session, episode_id: uuid.UUID, *, lock: bool = False) -> DischargeSummary | None:
    stmt = select(DischargeSummary).where(DischargeSummary.episode_id == episode_id)
    return db.scalar(stmt.with_for_update() if lock else stmt)


def draft(db: Session, subject: Subject, patient_id: uuid.UUID,
          episode_id: uuid.UUID) -> DischargeSummary:
    """Gather the facts of a discharged episode into a summary to edit."""
    episode, _decision = _for_change(db, subject, patient_id, episode_id)
    if _summary(db, episode.id, lock=True) is not None:
        raise Conflict("The summary is already drafted: edit it", field="state")
    now = utcnow()
    reader = can(db, subject, Action.READ, patient_id)
    row = DischargeSummary(
        episode_id=episode.id, patient_id=patient_id, facts=gather(db, reader, episode),
        text=episode.end_note, next_steps=None,
        documented_by_unit_id=episode.responsible_unit_id, created_at=now,
        created_by_id=subject.staff_id, updated_at=now)
    db.add(row)
    db.flush()
    audit.record(db, patient_id, "summary.draft")
    return row


def update(db: Session, subject: Subject, patient_id: uuid.UUID, episode_id: uuid.UUID,
           data: SummaryUpdate) -> DischargeSummary:
    episode, _decision = _for_change(db, subject, patient_id, episode_id)
    row = _summary(db, episode.id, lock=True)
    if row is None:
        raise Conflict("Draft the summary first", field="state")
    if row.signed_at is not None:
        raise Conflict("The summary is signed and can no longer change", field="state")
    row.text, row.next_steps = data.text, data.next_steps
    if data.refresh:
        row.facts = gather(db, can(db, subject, Action.READ, patient_id), episode)
    row.updated_at = utcnow()
    audit.record(db, patient_id, "summary.update")
    return row


def sign(db: Session, subject: Subject, patient_id: uuid.UUID, episode_id: uuid.UUID,
         data: SummarySign) -> DischargeSummary:
    """The physician signs; the summary goes to the units that take over. Each must be able
    to read it: a unit of another organisation needs the patient's consent to sharing, and
    every receiver joins the care team (it takes the patient over)."""
    episode, _decision = _for_change(db, subject, patient_id, episode_id)
    if subject.profession != Profession.PHYSICIAN:
        raise Forbidden("Only a physician signs the discharge summary")
    row = _summary(db, episode.id, lock=True)
    if row is None:
        raise Conflict("Draft the summary first", field="state")
    if row.signed_at is not None:
        raise Conflict("The summary is already signed", field="state")
    if not (row.text or "").strip():
        raise Invalid("Write the summary before signing it", field="text")
    consented = consented_organisations(db, patient_id)
    home = origin(db, episode.responsible_unit_id)
    now = utcnow()
    for unit_id in dict.fromkeys(data.receivers):
        unit = db.get(Unit, unit_id)
        if unit is None or not unit.active:
            raise Invalid("Unknown unit", field="receivers")
        if unit.id == episode.responsible_unit_id:
            raise Invalid("Send it to the units that take over, not to your own",
                          field="receivers")
        if unit.organisation_id != home.organisation_id and (
                unit.organisation_id not in consented
                or home.organisation_id not in consented):
            raise Invalid("The patient has not consented to sharing with %(unit)s's "
                          "organisation: record the consent first", field="receivers",
                          unit=unit.name)
        db.add(SummaryReceipt(summary_id=row.id, unit_id=unit.id, sent_at=now))
        if not db.scalar(select(CareRelation.id).where(
                CareRelation.patient_id == patient_id, CareRelation.unit_id == unit.id,
                CareRelation.ends_at.is_(None), relation_active(now))):
            db.add(CareRelation(patient_id=patient_id, unit_id=unit.id, role=RECEIVER_ROLE,
                                starts_at=now, created_by_id=subject.staff_id,
                                documented_by_unit_id=subject.unit_id))
    row.signed_at, row.signed_by_id = now, subject.staff_id
    db.flush()
    audit.record(db, patient_id, "summary.sign", detail=f"{len(set(data.receivers))} units")
    return row


def record_print(db: Session, patient_id: uuid.UUID) -> None:
    """A summary printed or downloaded is a copy of the record that left the screen."""
    audit.record(db, patient_id, "summary.print")


def acknowledge(db: Session, subject: Subject, patient_id: uuid.UUID,
                episode_id: uuid.UUID) -> SummaryReceipt:
    """The receiving unit confirms it has received the summary."""
    episode = episode_of(db, patient_id, episode_id)
    require(db, subject, Action.READ, patient_id, on=origin(db, episode.responsible_unit_id))
    row = _summary(db, episode.id)
    receipt = db.scalar(select(SummaryReceipt).where(
        SummaryReceipt.summary_id == row.id, SummaryReceipt.unit_id == subject.unit_id)
        .with_for_update()) if row is not None else None
    if receipt is None:
        raise Forbidden("The summary was not sent to your unit")
    if receipt.acknowledged_at is not None:
        raise Conflict("Your unit has already acknowledged it", field="state")
    receipt.acknowledged_at, receipt.acknowledged_by_id = utcnow(), subject.staff_id
    audit.record(db, patient_id, "summary.acknowledge")
    return receipt


# --- Reading -------------------------------------------------------------------------------


@dataclass
class Receipt:
    unit: str
    organisation: str
    sent_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    unit_id: int


@dataclass
class SummaryView:
    episode: Episode
    summary: DischargeSummary | None
    created_by: str = ""
    signed_by: str | None = None
    receipts: list[Receipt] = field(default_factory=list)
    may_edit: bool = False
    may_sign: bool = False
    own_receipt: Receipt | None = None


def summary_view(db: Session, decision: Decision, patient_id: uuid.UUID,
                 episode_id: uuid.UUID) -> SummaryView:
    episode = episode_of(db, patient_id, episode_id)
    home = origin(db, episode.responsible_unit_id)
    if not decision.sees(home):
        raise NotFound()
    row = _summary(db, episode.id)
    subject = decision.subject
    writer = (decision.basis != "emergency" and decision.may_change(home)
              and subject.role_allows(Action.EPISODE) and episode.state == EpisodeState.DISCHARGED)
    view = SummaryView(episode, row, may_edit=writer and (row is None or row.signed_at is None))
    view.may_sign = view.may_edit and row is not None and subject.profession == Profession.PHYSICIAN
    if row is None:
        return view
    names = {s.id: s.full_name for s in db.scalars(select(Staff).where(Staff.id.in_(
        {i for i in (row.created_by_id, row.signed_by_id) if i})))}
    view.created_by, view.signed_by = names.get(row.created_by_id, ""), names.get(row.signed_by_id)
    for receipt, unit, org, ack in db.execute(
            select(SummaryReceipt, Unit, Organisation, Staff)
            .join(Unit, Unit.id == SummaryReceipt.unit_id)
            .join(Organisation, Organisation.id == Unit.organisation_id)
            .outerjoin(Staff, Staff.id == SummaryReceipt.acknowledged_by_id)
            .where(SummaryReceipt.summary_id == row.id).order_by(Unit.name)):
        r = Receipt(unit.name, org.name, receipt.sent_at, receipt.acknowledged_at,
                    ack.full_name if ack else None, unit.id)
        view.receipts.append(r)
        if unit.id == subject.unit_id:
            view.own_receipt = r
    return view


@dataclass
class InboxRow:
    receipt: SummaryReceipt
    patient_id: uuid.UUID
    episode_id: uuid.UUID
    patient_name: str
    personnummer: str
    signed_at: datetime
    from_unit: str


def inbox(db: Session, subject: Subject) -> list[InboxRow]:
    """Summaries sent to the user's unit, unacknowledged first, of patients the user may
    read (one sent before a consent was withdrawn is not shown)."""
    from hemma.access.service import decisions_for
    from hemma.models import Patient

    rows = db.execute(
        select(SummaryReceipt, DischargeSummary, Patient, Unit.name)
        .join(DischargeSummary, DischargeSummary.id == SummaryReceipt.summary_id)
        .join(Patient, Patient.id == DischargeSummary.patient_id)
        .join(Unit, Unit.id == DischargeSummary.documented_by_unit_id)
        .where(SummaryReceipt.unit_id == subject.unit_id)
        .order_by(SummaryReceipt.acknowledged_at.is_not(None), SummaryReceipt.sent_at.desc())
        .limit(200)).all()
    decisions = decisions_for(db, subject, list({p.id for _, _, p, _ in rows}))
    out = []
    for receipt, summary, patient, unit_name in rows:
        d = decisions[patient.id]
        if not d or not d.sees(origin(db, summary.documented_by_unit_id)):
            continue
        out.append(InboxRow(receipt, patient.id, summary.episode_id,
                            f"{patient.family_name}, {patient.given_name}", patient.personnummer,
                            summary.signed_at, unit_name))
    return out


def unacknowledged(db: Session, subject: Subject) -> int:
    return sum(1 for r in inbox(db, subject) if r.receipt.acknowledged_at is None)


def pdf_document(db: Session, view: SummaryView) -> bytes:
    """The signed (or draft) summary as a PDF in large type: the page's and FHIR's one
    document."""
    from hemma.kit import pdf

    patient = db.get(Patient, view.episode.patient_id)
    state = (_("Signed %(at)s by %(by)s", at=format_local(view.summary.signed_at),
               by=view.signed_by) if view.summary.signed_at else _("Draft, not signed"))
    return pdf.document(
        _("Discharge summary"),
        f"{patient.given_name} {patient.family_name} · {local_today().isoformat()} · {state}",
        pdf_sections(view))


def pdf_sections(view: SummaryView) -> list:
    """The summary as the PDF's sections (headings and paragraphs or bullet lists)."""
    s, f = view.summary, view.summary.facts
    # Summaries drafted before the outcome was a code have it on the episode only.
    outcome = f.get("outcome") or view.episode.end_reason
    sections = [
        (_("Reason and pathway"), [f["pathway"], *([f["reason"]] if f["reason"] else [])]),
        (_("At home"), [ngettext("Admitted %(a)s, discharged %(b)s: %(num)s day at home.",
                                 "Admitted %(a)s, discharged %(b)s: %(num)s days at home.",
                                 f["days_at_home"], a=f["admitted"], b=f["ended"]),
                        *([label(DISCHARGE_OUTCOMES, outcome) + "."] if outcome else [])]),
        (_("Summary"), [s.text or ""]),
    ]
    if f["trends"]:
        sections.append((_("Values"), [[
            _("%(label)s: first %(first)s, last %(last)s (lowest %(min)s, highest %(max)s; "
              "%(n)s values)", **t) for t in f["trends"]]]))
    if f["alerts"]:
        sections.append((_("Alerts and how they were handled"), [[
            f"{a['at']}: {'; '.join(a['reasons'])} — {a['handled'] or a['status']}"
            for a in f["alerts"]]]))
    if f["rounds"]:
        sections.append((_("The round's decisions"), [[
            f"{r['at']} {r['decision']}: {r['note']}" for r in f["rounds"]]]))
    if f["treatments"]:
        sections.append((_("Treatments given at home"), [[
            _("%(drug)s %(dose)s: given %(given)s times", drug=t["drug"], dose=t["dose"],
              given=t["given"]) + (f" ({'; '.join(t['not_given'])})" if t["not_given"] else "")
            for t in f["treatments"]]]))
    if f["continuing"]:
        sections.append((_("What continues, and who does it"), [[
            f"{c['what']} — {c['owner']}" for c in f["continuing"]]]))
    if f["follow_ups"]:
        sections.append((_("Follow-up booked"), [[f"{x['on']}: {x['what']}"
                                                  for x in f["follow_ups"]]]))
    if s.next_steps:
        sections.append((_("What happens next"), [s.next_steps]))
    return sections


@dataclass
class Discharged:
    """What the patient's own page says after discharge."""

    ended_at: datetime
    next_steps: str | None
    contacts: list[tuple[str, str | None]]  # (unit, phone): who took over, then the home ward


def patient_discharge(db: Session, patient_id: uuid.UUID) -> Discharged | None:
    """The patient's newest discharge with a signed summary, while the care team still
    follows up (the grace period of the care relationships)."""
    from datetime import timedelta

    from hemma.config import get_settings

    row = db.execute(
        select(DischargeSummary, Episode).join(Episode, Episode.id == DischargeSummary.episode_id)
        .where(DischargeSummary.patient_id == patient_id,
               DischargeSummary.signed_at.is_not(None),
               Episode.state == EpisodeState.DISCHARGED)
        .order_by(Episode.ended_at.desc()).limit(1)).first()
    if row is None:
        return None
    summary, episode = row
    if episode.ended_at < utcnow() - timedelta(days=max(get_settings().care_relation_grace_days,
                                                          30)):
        return None
    units = list(db.scalars(select(Unit).join(SummaryReceipt, SummaryReceipt.unit_id == Unit.id)
                            .where(SummaryReceipt.summary_id == summary.id).order_by(Unit.name)))
    home = db.get(Unit, episode.responsible_unit_id)
    return Discharged(episode.ended_at, summary.next_steps,
                      [(u.name, u.phone) for u in units] + [(home.name, home.phone)])
