"""The research extract (forskningsuttag): episodes, their values and their alerts, without
who the patients are.

- The personnummer becomes a keyed hash (HMAC-SHA256 with `HEMMA_RESEARCH_KEY`, or a key
  derived from the secret key for this one purpose): the same patient gets the same
  pseudonym in every extract of this installation, and nobody without the key can go back.
- Names, addresses, phone numbers, free text (notes, reasons in words, messages, comments)
  are left out; sex and age at admission stay (from the personnummer), as research needs.
- Dates can be shifted per patient (chosen at export): every date of one patient moves by
  the same number of days (from the key, between −180 and +180), so lengths of stay and
  times between events stay true while calendar dates do not identify anyone.
- Taking it needs the research-export role and a reference to the ethics approval; every
  patient in it is logged as disclosed, with that reference, and the extract as a whole.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import uuid
import zipfile
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from hemma.access import audit
from hemma.access.policy import Action, Basis, Subject
from hemma.access.service import require
from hemma.config import get_settings
from hemma.followup import measures as m
from hemma.kit.errors import Invalid
from hemma.kit.time import at_local, local, utcnow
from hemma.models import (
    Alert,
    Episode,
    Observation,
    Organisation,
    Pathway,
    Patient,
    PremResponse,
    Unit,
    Visit,
)

SHIFT_DAYS = 180
VALUES = ("respiration_rate", "spo2", "on_oxygen", "temperature", "systolic_bp",
          "diastolic_bp", "pulse", "consciousness", "weight", "blood_glucose", "pain")


def _key() -> bytes:
    settings = get_settings()
    if settings.research_key:
        return settings.research_key.encode()
    secret = settings.resolved_secret_key().encode()
    return hmac.new(secret, b"hemma research pseudonyms", hashlib.sha256).digest()


def pseudonym(personnummer: str, key: bytes) -> str:
    return hmac.new(key, b"pnr:" + personnummer.encode(), hashlib.sha256).hexdigest()[:20]


def shift(personnummer: str, key: bytes) -> timedelta:
    digest = hmac.new(key, b"shift:" + personnummer.encode(), hashlib.sha256).digest()
    return timedelta(days=int.from_bytes(digest[:4], "big") % (2 * SHIFT_DAYS + 1) - SHIFT_DAYS)


def sex(personnummer: str) -> str:
    """The second-last digit of a Swedish personal identity number: odd a man, even a woman."""
    return "M" if int(personnummer[-2]) % 2 else "F"


@dataclass
class Extract:
    data: bytes
    patients: int
    episodes: int
    observations: int
    alerts: int


def extract(db: Session, subject: Subject, period: m.Period, *, organisation_id: int | None,
            pathway: str | None, shift_dates: bool, approval: str) -> Extract:
    """A ZIP of episodes.csv, observations.csv, alerts.csv and LASMIG.txt for the episodes
    admitted in `period` (of one organisation, or all; of one pathway, or all)."""
    require(db, subject, Action.RESEARCH_EXPORT)
    approval = (approval or "").strip()
    if len(approval) < 4:
        raise Invalid("Give the reference of the ethics approval (Dnr)", field="approval")
    if len(approval) > 200:
        raise Invalid("At most 200 characters", field="approval")
    key = _key()
    units = {u.id: u for u in db.scalars(select(Unit))}
    orgs = {o.id: o.name for o in db.scalars(select(Organisation))}
    if organisation_id is not None and organisation_id not in orgs:
        raise Invalid("No such organisation", field="organisation")
    codes = dict(db.execute(select(Pathway.id, Pathway.code)).all())
    if pathway and pathway not in codes.values():
        raise Invalid("No such pathway", field="pathway")
    lo, hi = at_local(period.start, "00:00"), at_local(period.end, "00:00")
    rows = [(e, p) for e, p in db.execute(
        select(Episode, Patient).join(Patient, Patient.id == Episode.patient_id).where(
            Episode.admitted_at >= lo, Episode.admitted_at < hi).order_by(Episode.admitted_at))
        if (organisation_id is None
            or units[e.responsible_unit_id].organisation_id == organisation_id)
        and (not pathway or codes.get(e.pathway_id) == pathway)]
    episode_ids = [e.id for e, _p in rows]
    people = {e.id: p for e, p in rows}
    moved = {e.id: (shift(p.personnummer, key) if shift_dates else timedelta(0))
             for e, p in rows}

    def when(episode_id: uuid.UUID, value: datetime | None) -> str:
        if value is None:
            return ""
        return (local(value) + moved[episode_id]).strftime("%Y-%m-%d %H:%M")

    def day(episode_id: uuid.UUID, value: date | None) -> str:
        return "" if value is None else (value + moved[episode_id]).isoformat()

    def table(header: list[str], body: list[list]) -> bytes:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(header)
        writer.writerows(body)
        return out.getvalue().encode("utf-8")

    alerts_of: dict[uuid.UUID, list[Alert]] = defaultdict(list)
    observations: list[list] = []
    prem = {}
    visits_of: dict[uuid.UUID, list[Visit]] = defaultdict(list)
    for chunk in range(0, len(episode_ids), 500):
        ids = episode_ids[chunk:chunk + 500]
        for a in db.scalars(select(Alert).where(Alert.episode_id.in_(ids))):
            alerts_of[a.episode_id].append(a)
        for o in db.scalars(select(Observation).where(Observation.episode_id.in_(ids))
                            .order_by(Observation.measured_at)):
            observations.append([
                pseudonym(people[o.episode_id].personnummer, key), o.episode_id.hex[:12],
                when(o.episode_id, o.measured_at), o.performer,
                *["" if getattr(o, v) is None else getattr(o, v) for v in VALUES],
                "" if o.news2_total is None else o.news2_total, int(o.feeling_worse)])
        for r in db.scalars(select(PremResponse).where(PremResponse.episode_id.in_(ids))):
            prem[r.episode_id] = r
    by_patient: dict[uuid.UUID, list[Episode]] = defaultdict(list)
    for e, _p in rows:
        by_patient[e.patient_id].append(e)
    patient_ids = list(by_patient)
    for chunk in range(0, len(patient_ids), 500):
        for v in db.scalars(select(Visit).where(
                Visit.patient_id.in_(patient_ids[chunk:chunk + 500]),
                Visit.day >= period.start - timedelta(days=1))):
            for e in by_patient[v.patient_id]:
                if local(e.admitted_at).date() <= v.day and (
                        e.ended_at is None or v.day <= local(e.ended_at).date()):
                    visits_of[e.id].append(v)
                    break
    prem_keys = sorted({k for r in prem.values() for k in (r.answers or {})})
    episodes_table = []
    for e, p in rows:
        first = local(e.admitted_at).date()
        last = local(e.ended_at).date() if e.ended_at is not None else local(utcnow()).date()
        own_alerts = alerts_of.get(e.id, [])
        acked = sorted((a.acknowledged_at - a.created_at).total_seconds() / 60
                       for a in own_alerts if a.acknowledged_at is not None)
        visits = visits_of.get(e.id, [])
        r = prem.get(e.id)
        unit = units[e.responsible_unit_id]
        episodes_table.append([
            pseudonym(p.personnummer, key), e.id.hex[:12], sex(p.personnummer),
            (e.admitted_at.date() - p.birth_date).days // 365, orgs[unit.organisation_id],
            unit.name, codes.get(e.pathway_id, ""), e.state, when(e.id, e.assessed_at),
            when(e.id, e.admitted_at), when(e.id, e.ended_at), e.end_reason or "",
            int(e.criteria_override), (last - first).days, len(own_alerts),
            sum(a.severity in ("high", "critical") for a in own_alerts),
            "" if not acked else round(m.percentile(acked, 50), 1),
            len(visits), sum(v.status == "done" for v in visits),
            sum(v.status == "not_done" for v in visits),
            *[("" if r is None else (r.answers or {}).get(k, "")) for k in prem_keys]])
    readme = README.format(
        made=local(utcnow()).strftime("%Y-%m-%d %H:%M"), approval=approval,
        period=f"{period.start} – {period.end - timedelta(days=1)}",
        shifted="yes, per patient, -180 to +180 days" if shift_dates else "no")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("LASMIG.txt", readme)
        z.writestr("episodes.csv", table(
            ["pseudonym", "episode", "sex", "age_at_admission", "organisation", "unit",
             "pathway", "state", "assessed_at", "admitted_at", "ended_at", "end_reason",
             "criteria_override", "days_at_home", "alerts", "alerts_high_or_critical",
             "ack_minutes_p50", "visits", "visits_done", "visits_not_done",
             *[f"prem_{k}" for k in prem_keys]], episodes_table))
        z.writestr("observations.csv", table(
            ["pseudonym", "episode", "measured_at", "performer", *VALUES, "news2",
             "feeling_worse"], observations))
        z.writestr("alerts.csv", table(
            ["pseudonym", "episode", "kind", "severity", "created_at", "acknowledged_at",
             "escalation_level"],
            [[pseudonym(people[e_id].personnummer, key), e_id.hex[:12], a.kind, a.severity,
              when(e_id, a.created_at), when(e_id, a.acknowledged_at), a.escalation_level]
             for e_id, own in alerts_of.items() for a in own]))
    patients = {p.id for _e, p in rows}
    for pid in sorted(patients):
        audit.record(db, pid, "followup.research_export", basis=str(Basis.ROLE),
                     detail=approval)
    audit.record(db, None, "followup.research_export", basis=str(Basis.ROLE),
                 detail=f"{approval}; {len(patients)} patients, {len(rows)} episodes, "
                        f"{period.start}–{period.end - timedelta(days=1)}")
    return Extract(buffer.getvalue(), len(patients), len(rows), len(observations),
                   sum(len(v) for v in alerts_of.values()))


README = """Hemma: research extract (forskningsuttag)
Made {made} for ethics approval {approval}.
Episodes admitted {period}. Dates shifted: {shifted}.

pseudonym   a keyed hash of the personnummer: the same patient has the same pseudonym in
            every extract from this installation; it cannot be turned back without the key.
episode     a short id of the episode, the same in the three files.
No names, addresses, phone numbers or free text are included. Times are Swedish local time.
episodes.csv      one row per episode (end_reason: the code of the return's reason or the
                  discharge's outcome; days_at_home: nights admitted at home;
                  prem_*: the patient's answers 1-5 at discharge).
observations.csv  every submission of values during the episodes.
alerts.csv        every alert of the episodes, with its acknowledgement time.
"""
