"""Care requests between units: the clinic asks the municipality's home nursing for IV
antibiotics three times a day; home nursing reads the patient, accepts, and gets one visit
per time and day (08:00 stays 08:00 across daylight saving), or declines with a reason."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from hemma.access.policy import Action
from hemma.access.service import can, subject_for
from hemma.kit.errors import Conflict, Forbidden, Invalid, NotFound
from hemma.kit.time import frozen_clock, local, local_today
from hemma.models import CareRequest, Staff, Visit
from hemma.planning import service
from hemma.planning.schemas import CareRequestCreate, CareRequestDecision


def _subject(s, world, who):
    return subject_for(s, s.get(Staff, world.staff[who]))


def _iv(world, **kw) -> CareRequestCreate:
    first = kw.pop("first_date", local_today() + timedelta(days=1))
    data = dict(to_unit_id=world.units["hsv"], kind="iv_antibiotic",
                times=["14:00", "08:00", "20:00"], tolerance_minutes=30, first_date=first,
                last_date=first + timedelta(days=2), duration_minutes=30, skills=["iv"],
                sharing="consent")
    return CareRequestCreate(**(data | kw))


def _count(database, model, **where) -> int:
    with database.session() as s:
        stmt = select(func.count()).select_from(model)
        for key, value in where.items():
            stmt = stmt.where(getattr(model, key) == value)
        return s.scalar(stmt)


def test_request_accept_and_visits(world, database):
    pid = world.patient(unit="med")
    world.episode(pid, state="admitted")
    with database.session() as s:
        assert not can(s, _subject(s, world, "kim"), Action.READ, pid)
        request = service.request_care(s, _subject(s, world, "sara"), pid, _iv(world))
        request_id = request.id
        assert request.times == ["08:00", "14:00", "20:00"]
    with database.session() as s:
        # Home nursing may now read the patient, to answer and to visit.
        assert can(s, _subject(s, world, "kim"), Action.READ, pid)
        with pytest.raises(Forbidden):  # only the unit asked answers
            service.decide(s, _subject(s, world, "sara"), pid, request_id,
                           CareRequestDecision(accept=True))
    with database.session() as s:
        service.decide(s, _subject(s, world, "kim"), pid, request_id,
                       CareRequestDecision(accept=True))
    visits = _visits(database, request_id)
    assert len(visits) == 9
    first = visits[0]
    assert first.unit_id == world.units["hsv"] and first.skills == ["iv"]
    assert first.latest - first.earliest == timedelta(minutes=60)
    due = local(first.earliest + timedelta(minutes=30))
    assert (due.hour, due.minute) == (8, 0)
    with database.session() as s, pytest.raises(Conflict):
        service.decide(s, _subject(s, world, "kim"), pid, request_id,
                       CareRequestDecision(accept=True))
    with database.session() as s:  # creating them again changes nothing
        service.create_visits(s, s.get(CareRequest, request_id),
                              datetime.now(UTC) - timedelta(days=1))
    assert len(_visits(database, request_id)) == 9


def _visits(database, request_id):
    with database.session() as s:
        return list(s.scalars(select(Visit).where(Visit.care_request_id == request_id)
                              .order_by(Visit.earliest)))


def test_eight_oclock_stays_eight_oclock_across_daylight_saving(world, database):
    pid = world.patient(unit="med")
    world.episode(pid, state="admitted")
    # The last Sunday of March 2027 is the 28th: clocks go from 02:00 to 03:00.
    with frozen_clock(datetime(2027, 3, 20, 12, tzinfo=UTC)):
        with database.session() as s:
            request = service.request_care(s, _subject(s, world, "sara"), pid, _iv(
                world, times=["08:00"], tolerance_minutes=0, first_date=date(2027, 3, 27),
                last_date=date(2027, 3, 29)))
            rid = request.id
        with database.session() as s:
            service.decide(s, _subject(s, world, "kim"), pid, rid,
                           CareRequestDecision(accept=True))
    starts = [v.earliest for v in _visits(database, rid)]
    assert starts == [datetime(2027, 3, 27, 7, tzinfo=UTC), datetime(2027, 3, 28, 6, tzinfo=UTC),
                      datetime(2027, 3, 29, 6, tzinfo=UTC)]


def test_declining_needs_a_reason_and_ends_the_access(world, database):
    pid = world.patient(unit="med")
    world.episode(pid, state="admitted")
    with database.session() as s:
        rid = service.request_care(s, _subject(s, world, "sara"), pid, _iv(world)).id
    with database.session() as s, pytest.raises(Invalid) as exc:
        service.decide(s, _subject(s, world, "kim"), pid, rid, CareRequestDecision(accept=False))
    assert exc.value.errors[0].field == "reason"
    with database.session() as s:
        service.decide(s, _subject(s, world, "kim"), pid, rid,
                       CareRequestDecision(accept=False, reason="Ingen personal med IV-behörighet"))
    with database.session() as s:
        assert s.get(CareRequest, rid).status == "declined"
        assert not can(s, _subject(s, world, "kim"), Action.READ, pid)
    assert _count(database, Visit) == 0


@pytest.mark.parametrize("change,field", [
    (dict(times=None), "times"),
    (dict(window_start="09:00", window_end="15:00"), "times"),
    (dict(times=None, window_start="09:00", window_end="09:20"), "window_end"),
    (dict(times=["08:00", "08:00"]), "times"),
    (dict(last_date=local_today()), "last_date"),
    (dict(first_date=local_today() - timedelta(days=1)), "first_date"),
    (dict(staff_count=2), "sync"),
    (dict(sync="simultaneous"), "sync"),
    (dict(staff_count=2, sync="sequential", gap_min=30, gap_max=10), "gap_max"),
    (dict(to_unit_id=999_999), "to_unit_id"),
    (dict(last_date=local_today() + timedelta(days=200)), "last_date"),
])
def test_bad_requests_name_the_field_and_change_nothing(world, database, change, field):
    pid = world.patient(unit="med")
    with database.session() as s, pytest.raises(Invalid) as exc:
        service.request_care(s, _subject(s, world, "sara"), pid, _iv(world, **change))
    assert exc.value.errors[0].field == field
    assert _count(database, CareRequest) == 0


def test_the_schema_refuses_what_is_not_a_time(world):
    with pytest.raises(ValueError, match="HH:MM"):
        _iv(world, times=["8"])


def test_who_may_ask(world, database):
    pid = world.patient(unit="med")
    with database.session() as s, pytest.raises(Invalid) as exc:  # not to one's own unit
        service.request_care(s, _subject(s, world, "sara"), pid,
                             _iv(world, to_unit_id=world.units["med"]))
    assert exc.value.errors[0].field == "to_unit_id"
    with database.session() as s, pytest.raises(NotFound):  # assistant nurses do not
        service.request_care(s, _subject(s, world, "olle"), pid, _iv(world))
    with database.session() as s, pytest.raises(NotFound):  # no care relationship
        service.request_care(s, _subject(s, world, "hugo"), pid, _iv(world))


@pytest.mark.parametrize("end", ["discharge", "return"])
def test_visits_stop_when_the_episode_ends(world, database, end):
    """Discharged or readmitted: the visits asked for the episode from then on are cancelled
    with the reason, those already made stay, and the request is over."""
    from hemma.episodes import service as episodes
    from hemma.episodes.schemas import Discharge, ReturnToHospital

    pid = world.patient(unit="med")
    eid = world.episode(pid, state="admitted")
    today = local_today()
    with frozen_clock(datetime.combine(today, datetime.min.time(), tzinfo=UTC)
                      + timedelta(hours=11)):
        with database.session() as s:
            request = service.request_care(s, _subject(s, world, "sara"), pid,
                                           _iv(world, first_date=today))
            request_id = request.id
        with database.session() as s:
            service.decide(s, _subject(s, world, "kim"), pid, request_id,
                           CareRequestDecision(accept=True))
        visits = _visits(database, request_id)
        with database.session() as s:
            s.get(Visit, visits[0].id).status = "done"  # 14:00 today, given early
        with database.session() as s:
            sara = _subject(s, world, "sara")
            if end == "discharge":
                episodes.discharge(s, sara, pid, eid, Discharge(note="Klar.",
                                                               outcome="completed"))
            else:
                episodes.return_to_hospital(s, sara, pid, eid, ReturnToHospital(
                    note="Sämre.", reason="deterioration"))
    after = {v.id: v for v in _visits(database, request_id)}
    assert len(after) == len(visits) >= 7
    reason = "episode_discharged" if end == "discharge" else "episode_returned"
    assert after.pop(visits[0].id).status == "done"
    assert all(v.status == "cancelled" and v.not_done_reason == reason for v in after.values())
    with database.session() as s:
        assert s.get(CareRequest, request_id).status == "cancelled"
