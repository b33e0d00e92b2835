"""The materialised follow-up days equal the raw computation, and the worker keeps them so."""

from __future__ import annotations

import threading
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from hemma.followup import service
from hemma.jobs.worker import Worker
from hemma.kit.time import from_local
from hemma.models import Alert, FollowUpComputed, FollowUpDay

NOW = from_local(datetime(2026, 6, 1, 12, 0))


def as_json(days):
    return {k: v.to_json() for k, v in days.items() if any(v.to_json().values())}


def test_stored_days_equal_the_raw_computation(world, database, april):
    with database.session() as s:
        raw = service.raw_days(s, date(2026, 3, 1), date(2026, 6, 1), NOW)
        assert service.refresh(s, date(2026, 3, 1), date(2026, 6, 1), NOW) == len(raw) > 0
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(FollowUpComputed)) == 92
        stored = service.load_days(s, date(2026, 3, 1), date(2026, 6, 1), NOW)
        assert as_json(stored) == as_json(raw)
        # A range only partly materialised: the rest is computed from the events.
        wider = service.load_days(s, date(2026, 2, 1), date(2026, 6, 2), NOW)
        assert as_json(wider) == as_json(service.raw_days(s, date(2026, 2, 1),
                                                          date(2026, 6, 2), NOW))


def test_today_is_never_stored(world, database, april):
    with database.session() as s:
        service.refresh(s, date(2026, 4, 1), date(2026, 7, 1), NOW)
        assert s.scalar(select(func.max(FollowUpComputed.day))) == date(2026, 5, 31)
        assert s.scalar(select(func.max(FollowUpDay.day))) <= date(2026, 5, 31)


def test_the_worker_keeps_the_last_days_current(world, database, april, settings):
    p1 = april["patients"][0]
    worker = Worker(database)
    report = worker.tick(NOW)
    assert report.followup_days is not None
    with database.session() as s:
        days = set(s.scalars(select(FollowUpComputed.day)))
        assert min(days) == date(2026, 6, 1) - timedelta(days=35)
        assert max(days) == date(2026, 5, 31)
    # An alert reported late for yesterday: the next round (15 minutes on) picks it up.
    with database.session() as s:
        s.add(Alert(patient_id=p1, episode_id=april["c"], unit_id=world.units["med"],
                    kind="vitals", severity="low", status="open", dedupe_key="late",
                    created_at=from_local(datetime(2026, 5, 31, 22, 0))))
    assert worker.tick(NOW + timedelta(minutes=5)).followup_days is None  # not its time
    assert worker.tick(NOW + timedelta(minutes=16)).followup_days is not None
    with database.session() as s:
        stored = service.load_days(s, date(2026, 5, 31), date(2026, 6, 1), NOW)
        assert sum(d.counts["alerts"] for d in stored.values()) == 1
    # The next day, the settling days are computed again once.
    with database.session() as s:
        first = s.scalar(select(FollowUpComputed.computed_at).where(
            FollowUpComputed.day == date(2026, 5, 1)))
    Worker(database).tick(NOW + timedelta(days=1))
    with database.session() as s:
        again = s.scalar(select(FollowUpComputed.computed_at).where(
            FollowUpComputed.day == date(2026, 5, 1)))
        assert again > first


def test_month_totals_equal_the_days_added_up(world, database, april):
    from hemma.followup import measures as m

    with database.session() as s:
        service.refresh(s, date(2026, 3, 1), date(2026, 4, 15), NOW)
    for scope in (m.Scope(), m.Scope(pathway="opat"), m.Scope(units=frozenset({1, 2, 3}))):
        with database.session() as s:
            months = service.month_totals(s, date(2026, 3, 1), date(2026, 6, 1), NOW, scope)
            raw = service.raw_days(s, date(2026, 3, 1), date(2026, 6, 1), NOW)
        for month in (m.Period.month(2026, 3), m.Period.month(2026, 4)):
            expected = m.totals(raw, month, scope).to_json()
            assert months.get(month.start, m.Day()).to_json() == expected


def test_a_refresh_replaces_the_added_up_months_kept_in_memory(world, database, april):
    from hemma.followup import measures as m

    with database.session() as s:
        service.refresh(s, date(2026, 4, 1), date(2026, 5, 1), NOW)
    with database.session() as s:
        before = service.month_totals(s, date(2026, 4, 1), date(2026, 5, 1), NOW, m.Scope())
        assert before[date(2026, 4, 1)].counts["alerts"] == 1
        s.add(Alert(patient_id=april["patients"][0], episode_id=april["c"],
                    unit_id=world.units["med"], kind="vitals", severity="low", status="open",
                    dedupe_key="later", created_at=from_local(datetime(2026, 4, 22, 9, 0))))
    with database.session() as s:
        # Not refreshed yet: the stored month holds.
        same = service.month_totals(s, date(2026, 4, 1), date(2026, 5, 1), NOW, m.Scope())
        assert same[date(2026, 4, 1)].counts["alerts"] == 1
        service.refresh(s, date(2026, 4, 1), date(2026, 5, 1), NOW)
    with database.session() as s:
        after = service.month_totals(s, date(2026, 4, 1), date(2026, 5, 1), NOW, m.Scope())
        assert after[date(2026, 4, 1)].counts["alerts"] == 2


def test_the_worker_fills_in_an_older_history_a_few_months_a_round(world, database, april):
    # March and April 2026's episodes, and a worker first run in August: the last 35 days
    # first, then three months further back each round until the first event (26 March).
    august = from_local(datetime(2026, 8, 20, 12, 0))
    with database.session() as s:
        service.keep_current(s, august)
        assert s.scalar(select(func.min(FollowUpComputed.day))) == date(2026, 7, 16)
    with database.session() as s:
        service.keep_current(s, august + timedelta(minutes=15))
        oldest = s.scalar(select(func.min(FollowUpComputed.day)))
        assert oldest == date(2026, 7, 16) - timedelta(days=93)
    with database.session() as s:
        service.keep_current(s, august + timedelta(minutes=30))
        assert s.scalar(select(func.min(FollowUpComputed.day))) == date(2026, 3, 26)
        stored = service.load_days(s, date(2026, 3, 1), date(2026, 8, 20), august)
        raw = service.raw_days(s, date(2026, 3, 1), date(2026, 8, 20), august)
        assert as_json(stored) == as_json(raw)


def _two_at_once(database):
    if database.engine.dialect.name != "postgresql":
        pytest.skip("SQLite's writers queue on its own database lock (BEGIN IMMEDIATE)")


def test_two_refreshes_at_once_store_each_day_once(world, database, april):
    """Two workers (or a worker and `hemma followup rebuild`) refresh the same days at once:
    the second waits for the first, then computes from what it committed."""
    _two_at_once(database)
    errors = []

    def second():
        try:
            with database.session() as s:
                service.refresh(s, date(2026, 3, 1), date(2026, 6, 1), NOW)
        except Exception as exc:  # without the lock: the same days inserted twice
            errors.append(exc)

    with database.session() as s:
        rows = service.refresh(s, date(2026, 3, 1), date(2026, 6, 1), NOW)
        other = threading.Thread(target=second)
        other.start()
        other.join(0.5)  # (it waits for this transaction, however long it is given)
    other.join(60)
    assert not other.is_alive() and errors == []
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(FollowUpDay)) == rows
        assert s.scalar(select(func.count()).select_from(FollowUpComputed)) == 92


def test_a_worker_leaves_the_round_to_another_already_at_it(world, database, april):
    _two_at_once(database)
    with database.session() as first:
        service.refresh(first, date(2026, 5, 1), date(2026, 6, 1), NOW)  # holds the lock
        with database.session() as s:
            assert service.keep_current(s, NOW) is None  # not its turn: nothing done
    with database.session() as s:
        assert service.keep_current(s, NOW) > 0
