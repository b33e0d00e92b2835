"""Follow-up read from the database: known answers, scopes, suppression and tracing."""

from __future__ import annotations

import csv
import io
from datetime import datetime

import pytest
from openpyxl import load_workbook
from sqlalchemy import update

from hemma.access.service import subject_for
from hemma.followup import service
from hemma.followup.measures import Period
from hemma.kit.errors import Forbidden, Invalid
from hemma.kit.time import from_local
from hemma.models import Staff

APRIL = Period.month(2026, 4)


def t(text: str) -> datetime:
    return from_local(datetime.fromisoformat(text))


def subject(database, world, username):
    with database.session() as s:
        return subject_for(s, s.get(Staff, world.staff[username]))


def test_the_own_unit_reads_its_figures_unsuppressed(world, database, april):
    sara = subject(database, world, "sara")
    with database.session() as s:
        r = service.report(s, sara, APRIL, None, None, now=t("2026-06-01T12:00"))
    assert r.chosen.own_team and r.chosen.beds == 5
    f = {k: row.figure for k, row in r.rows.items()}
    assert f["days_at_home"].value == 13
    assert f["episodes_ended"].value == 3 and not f["episodes_ended"].suppressed
    assert f["returns"].value == 1 and f["returns"].parts == {"deterioration": 1}
    assert f["readmissions"].value == 1 and f["deaths_expected"].value == 1
    assert f["criteria_override"].value == 1
    assert f["occupancy"].value == pytest.approx(13 / (5 * 30))
    assert f["cost_saved"].value == 13 * 8483
    assert f["ack_p50"].value == 10  # April's alert; March's is in the previous period
    previous = {k: row.previous for k, row in r.rows.items()}
    assert previous["days_at_home"].value == 5 and previous["ack_p50"].value == 40
    trend = dict(r.rows["days_at_home"].trend)
    assert len(trend) == 12 and trend[APRIL.start] == 13
    assert trend[Period.month(2026, 3).start] == 5


def test_a_pathway_narrows_the_figures(world, database, april):
    sara = subject(database, world, "sara")
    with database.session() as s:
        r = service.report(s, sara, APRIL, None, "opat", now=t("2026-06-01T12:00"))
        assert r.rows["days_at_home"].figure.value == 13
        r = service.report(s, sara, APRIL, None, "hf", now=t("2026-06-01T12:00"))
        assert r.rows["days_at_home"].figure.value == 0
        with pytest.raises(Invalid) as e:
            service.report(s, sara, APRIL, None, "nope")
        assert e.value.field == "pathway"


def test_other_units_are_for_the_follow_up_role_and_suppressed(world, database, april):
    kim = subject(database, world, "kim")  # the municipality's nurse
    with database.session() as s:
        assert [c.key for c in service.choices(s, kim)] == [f"unit-{world.units['hsv']}"]
        with pytest.raises(Invalid) as e:
            service.report(s, kim, APRIL, f"unit-{world.units['med']}", None)
        assert e.value.field == "scope"
        s.execute(update(Staff).where(Staff.id == world.staff["kim"]).values(is_follow_up=True))
    kim = subject(database, world, "kim")
    with database.session() as s:
        r = service.report(s, kim, APRIL, f"unit-{world.units['med']}", None,
                           now=t("2026-06-01T12:00"))
        assert not r.chosen.own_team
        f = {k: row.figure for k, row in r.rows.items()}
        assert f["days_at_home"].value == 13
        for key in ("episodes_ended", "returns", "return_rate", "readmissions",
                    "deaths_expected", "ack_p50"):
            assert f[key].suppressed and f[key].value is None, key
        r = service.report(s, kim, APRIL, "all", None, now=t("2026-06-01T12:00"))
        assert r.rows["days_at_home"].figure.value == 13 and r.chosen.beds == 5


def test_roles_without_care_or_follow_up_see_no_figures(world, database):
    rita = subject(database, world, "rita")  # log reviewer, administrative
    with database.session() as s, pytest.raises(Forbidden):
        service.choices(s, rita)


def test_tracing_shows_only_episodes_the_user_may_read(world, database, april):
    lisa = subject(database, world, "lisa")
    with database.session() as s:
        traced = service.trace(s, lisa, "episodes_ended", APRIL, None, None)
        assert {e.id for e, _p in traced.visible} == {april["a"], april["b"], april["c"]}
        assert traced.hidden == 0
        with pytest.raises(Invalid):
            service.trace(s, lisa, "adherence", APRIL, None, None)
    # Bo's care relationship ends: his episode is counted, not shown.
    from hemma.models import CareRelation
    with database.session() as s:
        s.execute(update(CareRelation).where(CareRelation.patient_id == april["patients"][1])
                  .values(ends_at=t("2026-05-01T00:00")))
    with database.session() as s:
        traced = service.trace(s, lisa, "returns", APRIL, None, None)
        assert traced.visible == [] and traced.hidden == 1


def test_page_exports_and_api(world, as_user, april, database):
    sara = as_user("sara")
    page = sara.get("/followup?period=2026-04")
    assert page.status_code == 200
    assert "Vårddygn i hemmet" in page.text and "Återföringar till sjukhus" in page.text
    assert "8\xa0483" in page.text  # the cost of a bed day, beside the figure
    bad = sara.get("/followup?period=2026-13")
    assert bad.status_code == 200 and "Välj en månad" in bad.text
    text = sara.get("/followup/export.csv?period=2026-04").content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    by_label = {r[1]: r for r in rows if len(r) > 3}
    assert by_label["Vårddygn i hemmet"][2] == "13" and by_label["Vårddygn i hemmet"][3] == "5"
    assert by_label["Andel återförda till sjukhus"][2] == "33,3333"
    book = load_workbook(io.BytesIO(sara.get("/followup/export.xlsx?period=2026-04").content))
    cells = {r[1]: r for r in book.active.iter_rows(values_only=True) if r and len(r) > 3}
    assert cells["Vårddygn i hemmet"][2] == 13
    api = sara.get("/api/v1/followup?period=2026-04").json()
    assert api["figures"]["days_at_home"]["value"] == 13
    assert api["figures"]["returns"]["parts"] == {"deterioration": 1}
    refused = sara.get("/api/v1/followup?period=2026-Q5")
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "period"
    traced = sara.get("/followup/episodes?figure=returns&period=2026-04")
    assert traced.status_code == 200 and "Bo" in traced.text


def test_visits_count_once_they_are_due(world, database, april):
    """The share of visits done counts the visits due by now: tomorrow's and one still ahead
    today are not yet made or missed; one whose window has passed unreported is."""
    from datetime import date

    from hemma.kit.time import at_local
    from hemma.models import Visit

    today, tomorrow = date(2026, 4, 29), date(2026, 4, 30)
    p1 = april["patients"][0]
    with database.session() as s:
        for day, start, latest, status in ((today, "08:00", "09:00", "done"),
                                           (today, "09:00", "10:00", "planned"),  # missed
                                           (today, "15:00", "16:00", "planned"),  # ahead
                                           (tomorrow, "08:00", "09:00", "planned")):
            s.add(Visit(patient_id=p1, unit_id=world.units["med"], day=day, kind="wound_care",
                        earliest=at_local(day, start), latest=at_local(day, latest),
                        duration_minutes=30, status=status, created_at=t("2026-04-20T08:00"),
                        started_at=at_local(day, start) if status == "done" else None,
                        done_at=at_local(day, latest) if status == "done" else None))
    sara = subject(database, world, "sara")
    with database.session() as s:
        r = service.report(s, sara, APRIL, None, None, now=t("2026-04-29T12:00"))
    f = r.rows["visits_done"].figure
    assert (f.n, f.value) == (2, 0.5)


def test_adherence_reads_the_readings_in_each_window(world, database, april):
    """Bo at home 5 April 09:00 to 8 April 11:00, asked to measure at 08:00 and 20:00 (±60
    min): six windows. Readings inside two of them count (two values of one reading once);
    one just after a window, one just before, and another patient's do not."""
    from datetime import UTC

    from hemma.models import MonitoringPlan, Observation

    p1, p2 = april["patients"]
    with database.session() as s:
        for eid, pid, schedule in ((april["a"], p1, []), (april["b"], p2, ["08:00", "20:00"]),
                                   (april["c"], p1, [])):
            s.add(MonitoringPlan(episode_id=eid, patient_id=pid, schedule=schedule,
                                 tolerance_minutes=60, updated_at=t("2026-03-20T08:00")))
        for i, (pid, at) in enumerate((
                (p2, "2026-04-06T08:10:00"), (p2, "2026-04-06T08:10:00"),  # one reading
                (p2, "2026-04-07T20:59:59.400000"),  # inside, to the second
                (p2, "2026-04-07T09:01:00"),  # after the morning window
                (p2, "2026-04-08T06:59:30"),  # before the morning window
                (p1, "2026-04-05T20:10:00"))):  # not Bo's
            moment = t(at)
            s.add(Observation(patient_id=pid, client_id=f"c{i}", measured_at=moment,
                              received_at=moment.astimezone(UTC), performer="patient",
                              source="patient_page", pulse=70,
                              documented_by_unit_id=world.units["med"]))
    sara = subject(database, world, "sara")
    with database.session() as s:
        r = service.report(s, sara, APRIL, None, None, now=t("2026-06-01T12:00"))
    f = r.rows["adherence"].figure
    assert f.parts == {"scheduled": 6, "received": 2} and f.value == pytest.approx(2 / 6)
