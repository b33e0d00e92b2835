"""The demo data: a realistic Lycksele home ward, loaded twice without changing anything."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select

from hemma.access.audit import verify
from hemma.access.service import relation_active
from hemma.demo import FEATURED, load_demo
from hemma.i18n.labels import DISCHARGE_OUTCOMES, NOT_DONE_CODES, RETURN_REASONS
from hemma.kit.time import local, utcnow
from hemma.models import (
    Block,
    CareKind,
    CareRelation,
    CareRequest,
    Consent,
    Episode,
    Patient,
    Staff,
    StaffShift,
    Unit,
    Visit,
)


def _counts(database):
    with database.session() as s:
        return {m.__name__: s.scalar(select(func.count()).select_from(m))
                for m in (Patient, Staff, Unit, Episode, Consent, Block)}


def test_demo_is_idempotent_and_realistic(database, client):
    assert load_demo(database) is True
    first = _counts(database)
    assert load_demo(database) is False
    assert _counts(database) == first
    assert 18 <= first["Staff"] <= 30 and first["Block"] == 1
    with database.session() as s:
        # The demo's people have birth numbers 980–999; the year of history's (its patients
        # discharged long ago, hemma.followup.demo) 900–979.
        serials = Counter("now" if int(p[8:11]) >= 980 else "history"
                          for p in s.scalars(select(Patient.personnummer)))
        assert 25 <= serials["now"] <= 45 and serials["history"] > 300
        states = Counter(s.scalars(select(Episode.state)))
        assert {"assessing", "admitted", "discharged", "returned", "not_admitted"} <= set(states)
        # Why each ended, as follow-up counts: deaths at home planned and not among them.
        ends = s.execute(select(Episode.state, Episode.end_reason)).all()
        codes = {"discharged": DISCHARGE_OUTCOMES, "returned": RETURN_REASONS}
        for state, code in ends:
            assert code in codes[state] if state in codes else code is None, (state, code)
        assert {"completed", "death_expected", "death_unexpected", "deterioration",
                "fall_injury"} <= {code for _state, code in ends}
        # And why the visits of the days already worked were not done.
        not_done = s.execute(select(Visit.not_done_code, Visit.not_done_reason)
                             .where(Visit.status == "not_done")).all()
        assert len(not_done) >= 5 and all(code in NOT_DONE_CODES for code, _ in not_done)
        assert all(words for code, words in not_done if code == "other")
        professions = set(s.scalars(select(Staff.profession)))
        assert {"physician", "nurse", "assistant_nurse", "physiotherapist",
                "occupational_therapist", "coordinator"} <= professions
        # Rural Västerbotten: every home within reach of Lycksele, none at the hospital door.
        for lat, lon in s.execute(select(Patient.latitude, Patient.longitude)):
            assert 63.9 < lat < 65.4 and 17.5 < lon < 19.5
        with_consent = s.scalar(select(func.count(func.distinct(Consent.patient_id))))
        assert 0 < with_consent < first["Patient"]
        assert verify(s).ok
    # Every featured demo login works with the printed password.
    for username, _role in FEATURED:
        page = client.get("/login")
        import re

        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        r = client.post("/login", data={"username": username, "password": "hemma-demo",
                                        "csrf_token": token}, follow_redirects=False)
        assert r.status_code == 303, username
        landing = client.get("/")
        assert landing.status_code == 200, username


def test_demo_has_a_day_of_home_visits_to_plan(database):
    load_demo(database)
    with database.session() as s:
        hsv = s.scalar(select(Unit).where(Unit.name == "Hemsjukvården Lycksele kommun"))
        assert all(u.latitude and u.longitude for u in s.scalars(select(Unit)))
        day = s.scalar(select(func.max(StaffShift.day)))  # today when the demo was loaded
        shifts = s.scalars(select(StaffShift).where(StaffShift.unit_id == hsv.id,
                                                    StaffShift.day == day)).all()
        assert 6 <= len(shifts) <= 8
        assert {sh.start_place for sh in shifts} == {"office", "home"}
        for sh in shifts:
            assert sh.starts_at < sh.ends_at and sh.breaks and sh.profile == "car"
            assert s.get(Staff, sh.staff_id).unit_id == hsv.id
        visits = s.scalars(select(Visit).where(Visit.unit_id == hsv.id, Visit.day == day)).all()
        assert 40 <= len(visits) <= 60
        kinds = Counter(v.kind for v in visits)
        assert set(kinds) == set(CareKind) and kinds[CareKind.IV_ANTIBIOTIC] == 9
        doubles = [v for v in visits if v.staff_count == 2]
        assert sorted(v.sync for v in doubles) == ["sequential", "simultaneous"]
        assert all(v.staff_count == 1 and v.sync is None for v in visits if v not in doubles)
        # IV antibiotics at 08, 14 and 20 o'clock Swedish time, ± 30 minutes.
        iv = [v for v in visits if v.kind == CareKind.IV_ANTIBIOTIC]
        due = Counter(local(v.earliest + (v.latest - v.earliest) / 2).strftime("%H:%M")
                      for v in iv)
        assert due == {"08:00": 3, "14:00": 3, "20:00": 3}
        assert all(v.skills == ["iv"] and v.hard and v.duration_minutes == 30 for v in iv)
        # Every visit comes from an accepted request, to a patient with a place on the map,
        # whom the home nursing may read now and on every day of the request.
        for v in visits:
            request = s.get(CareRequest, v.care_request_id)
            assert request.status == "accepted" and request.to_unit_id == hsv.id
            assert s.get(Staff, request.decided_by_id).unit_id == hsv.id
            patient = s.get(Patient, v.patient_id)
            assert patient.latitude and patient.longitude, patient.family_name
            for at in (utcnow(), v.latest):
                assert s.scalar(select(CareRelation.id).where(
                    CareRelation.patient_id == v.patient_id, CareRelation.unit_id == hsv.id,
                    relation_active(at))), patient.family_name
        later = s.scalars(select(Visit).where(Visit.day > day)).all()
        assert later, "the requests go on for days"
        for v in later[::25]:
            assert s.scalar(select(CareRelation.id).where(
                CareRelation.patient_id == v.patient_id, CareRelation.unit_id == hsv.id,
                relation_active(v.latest)))


def test_the_demo_day_is_planned_and_keeps_every_rule(database):
    """Planned when the demo loads: (almost) every visit fits, every hard rule holds in the
    saved plan, and the visits whose time is over are reported done."""
    from types import SimpleNamespace

    from hemma.models import VisitPlan
    from tests.planning.test_day import _check_plan

    load_demo(database)
    with database.session() as s:
        hsv = s.scalar(select(Unit).where(Unit.name == "Hemsjukvården Lycksele kommun"))
        plan = s.scalar(select(VisitPlan).where(VisitPlan.unit_id == hsv.id)
                        .order_by(VisitPlan.day.desc()))
        day, figures, unplanned = plan.day, plan.figures, plan.unplanned
        done = s.scalars(select(Visit).where(Visit.day == day, Visit.status == "done")).all()
        assert all(v.started_at and v.done_at and v.done_at <= utcnow() for v in done)
    assert figures["visits"] == 50 and figures["planned"] >= 48, (figures, unplanned)
    assert figures["violations"] == 0
    # Three days already worked: most patients meet someone they have met.
    assert figures["new_faces"] < 25, figures
    _check_plan(SimpleNamespace(database=database, unit=hsv.id, day=day))
