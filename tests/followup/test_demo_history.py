"""The demo's year (hemma.followup.demo): the follow-up page has something to show for both
home wards the moment the demo opens, the old patients are counted but out of reach, and
nothing of the history waits for anyone. The demo is loaded once per module (at ten this
morning) and every test gets its own copy of it."""

from __future__ import annotations

import re
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from hemma.access.service import relation_active, subject_for
from hemma.db import Database
from hemma.demo import load_demo
from hemma.followup import service
from hemma.followup.measures import Period
from hemma.kit.time import at_local, frozen_clock, local_today
from hemma.messaging.service import unanswered_count
from hemma.models import (
    Alert,
    CareRelation,
    Episode,
    Handover,
    Message,
    Observation,
    Patient,
    PremResponse,
    Staff,
    Unit,
    Visit,
)
from tests.conftest import BACKEND

TEN = at_local(local_today(), "10:00")


def last_month() -> Period:
    today = local_today()
    return Period.month(today.year - (today.month == 1), (today.month - 2) % 12 + 1)


@pytest.fixture(scope="module")
def demo_url(templates):
    url = templates.new()
    database = Database(url)
    with frozen_clock(TEN):
        load_demo(database)
    database.dispose()
    yield url
    templates.drop(url)


@pytest.fixture
def db_url(demo_url, templates):
    """This module's tests run on a copy of the loaded demo."""
    n = next(templates.counter)
    if BACKEND == "postgres":
        name = f"{templates.prefix}_{n}"
        with templates.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE '
                              f'"{make_url(demo_url).database}"'))
        url = templates._pg_url(name)
    else:
        path = templates.workdir / f"history{n}.sqlite3"
        shutil.copy(Path(make_url(demo_url).database), path)
        url = f"sqlite:///{path}"
    yield url
    templates.drop(url)


def report(database, username: str, period: Period, scope: str | None = None):
    with database.session() as s:
        subject = subject_for(s, s.scalar(select(Staff).where(Staff.username == username)))
        return service.report(s, subject, period, scope, None)


def values(r) -> dict:
    return {key: row.figure.value for key, row in r.rows.items()}


@pytest.mark.parametrize("username", ["sara.nilsson", "eva.marklund"])
def test_both_home_wards_have_last_month_to_show(database, username):
    r = report(database, username, last_month())
    assert r.chosen.own_team and r.chosen.beds in (12, 6)
    f = values(r)
    assert f["days_at_home"] > 0 and f["episodes_started"] > 0 and f["episodes_ended"] > 0
    assert 0.3 <= f["occupancy"] <= 1
    assert f["ack_p50"] is not None and f["ack_p90"] >= f["ack_p50"]
    assert 0.7 <= f["adherence"] <= 0.95
    assert f["visits_done"] is not None and f["km_per_visit"] is not None
    assert f["continuity"] is not None
    assert f["messages_in_goal"] is not None and f["handovers_confirmed"] is not None
    # Every month of the trend has patients at home.
    assert all(value for _start, value in r.rows["days_at_home"].trend)
    if username == "sara.nilsson":
        assert f["prem_responses"] > 0
    else:
        # The palliative ward's few discharges alive answer now and then: the half year
        # before has some answers, and deaths at home expected in palliative care.
        half_year = [values(report(database, username, month))
                     for month in last_month().months(6)]
        assert sum(f["prem_responses"] or 0 for f in half_year) > 0
        assert sum(f["deaths_expected"] or 0 for f in half_year) > 0


def test_the_follow_up_role_reads_every_unit_and_no_patient(database):
    with database.session() as s:
        units = {u.name: u.id for u in s.scalars(select(Unit))}
        birgitta = subject_for(s, s.scalar(select(Staff).where(
            Staff.username == "birgitta.ohman")))
        keys = {c.key for c in service.choices(s, birgitta)}
    mobile = f"unit-{units['Mobila teamet Södra Lappland']}"
    assert {"all", mobile, f"unit-{units['Medicinkliniken, Lycksele lasarett']}"} <= keys
    r = report(database, "birgitta.ohman", last_month(), "all")
    assert not r.chosen.own_team and r.chosen.beds == 18
    assert values(r)["days_at_home"] > 300
    with database.session() as s:
        birgitta = subject_for(s, s.scalar(select(Staff).where(
            Staff.username == "birgitta.ohman")))
        traced = service.trace(s, birgitta, "episodes_ended", last_month(), mobile, None)
    # Counted, not shown: the follow-up role reads no patient.
    assert traced.visible == [] and traced.hidden > 0


def test_tracing_shows_only_the_patients_still_in_the_care_team(database):
    """A month ago's discharges: the history's care relations ended seven days after."""
    with database.session() as s:
        sara = subject_for(s, s.scalar(select(Staff).where(Staff.username == "sara.nilsson")))
        traced = service.trace(s, sara, "episodes_ended", last_month(), None, None)
    assert traced.hidden > 0
    assert all(episode.ended_at + timedelta(days=7) > TEN for episode, _p in traced.visible)


def test_the_history_is_out_of_reach_and_waits_for_nobody(database):
    with database.session() as s:
        old = select(Patient.id).where(func.substr(Patient.personnummer, 9, 3) < "980")
        assert s.scalar(select(func.count()).select_from(old.subquery())) > 300
        relations = s.scalars(select(CareRelation).where(CareRelation.patient_id.in_(old)))
        for r in relations:
            episode = s.get(Episode, r.episode_id)
            assert r.ends_at == episode.ended_at + timedelta(days=7)
        # No patient of the history is in anyone's care now but the last week's.
        active = s.scalar(select(func.count(func.distinct(CareRelation.patient_id))).where(
            CareRelation.patient_id.in_(old), relation_active(TEN)))
        recent = s.scalar(select(func.count(func.distinct(Episode.patient_id))).where(
            Episode.patient_id.in_(old), Episode.ended_at > TEN - timedelta(days=7)))
        assert active == recent
        # Nothing of it waits: no open alert, no message to answer, no hand-over to confirm.
        assert not s.scalar(select(func.count()).select_from(Alert).where(
            Alert.patient_id.in_(old), Alert.status != "resolved"))
        assert not s.scalar(select(func.count()).select_from(Message).where(
            Message.patient_id.in_(old), Message.due_at.is_not(None),
            Message.answered_at.is_(None)))
        assert not s.scalar(select(func.count()).select_from(Handover).where(
            Handover.patient_id.in_(old), Handover.received_at.is_(None)))
        med = s.scalar(select(Unit.id).where(Unit.name == "Medicinkliniken, Lycksele lasarett"))
        assert unanswered_count(s, med) == 2  # Gunnel's and her relative's, as before
        assert not s.scalar(select(func.count()).select_from(Visit).where(
            Visit.patient_id.in_(old), Visit.status.in_(("planned", "started"))))


def test_loading_the_demo_again_changes_nothing(database):
    def counts():
        with database.session() as s:
            return [s.scalar(select(func.count()).select_from(m))
                    for m in (Patient, Episode, Observation, Alert, Visit, PremResponse)]

    before = counts()
    assert load_demo(database) is False
    assert counts() == before


def test_the_follow_up_user_opens_the_page_at_once(client):
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    client.post("/login", data={"username": "birgitta.ohman", "password": "hemma-demo",
                                "csrf_token": token})
    start = client.get("/", follow_redirects=False)
    assert start.status_code == 303 and start.headers["location"] == "/followup"
    page = client.get("/followup")
    assert page.status_code == 200 and "Mobila teamet Södra Lappland" in page.text
