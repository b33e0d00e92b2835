"""The research extract: pseudonymised, dates shifted per patient if chosen, no free text,
logged; only for the research-export role with an approval's reference."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import datetime

import pytest
from sqlalchemy import select, update

from hemma.access.service import subject_for
from hemma.followup import research
from hemma.followup.measures import Period
from hemma.kit.errors import Forbidden, Invalid
from hemma.models import AuditEntry, Observation, Patient, Staff


def exporter(world, database, username="adam"):
    with database.session() as s:
        s.execute(update(Staff).where(Staff.id == world.staff[username])
                  .values(is_research_exporter=True))
    with database.session() as s:
        return subject_for(s, s.get(Staff, world.staff[username]))


def read(data: bytes) -> dict[str, list[dict]]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {name: list(csv.DictReader(io.StringIO(z.read(name).decode())))
                for name in z.namelist() if name.endswith(".csv")} | {
            "raw": b"".join(z.read(n) for n in z.namelist()).decode()}


@pytest.fixture
def with_values(world, database, april):
    with database.session() as s:
        s.add(Observation(patient_id=april["patients"][0], episode_id=april["a"],
                          client_id="x1", measured_at=datetime.fromisoformat(
                              "2026-03-28T08:00+01:00"), received_at=datetime.fromisoformat(
                              "2026-03-28T08:01+01:00"), performer="patient",
                          source="patient_page", documented_by_unit_id=world.units["med"],
                          pulse=88, note="Kände mig yr efter frukost, Aina"))
    return april


def test_an_extract_holds_no_identity_and_no_free_text(world, database, with_values):
    adam = exporter(world, database)
    with database.session() as s:
        out = research.extract(s, adam, Period.year(2026), organisation_id=None, pathway=None,
                               shift_dates=False, approval="Dnr 2026-01234-01")
        people = list(s.scalars(select(Patient)))
    assert (out.patients, out.episodes, out.observations, out.alerts) == (2, 3, 1, 2)
    files = read(out.data)
    for p in people:
        for secret in (p.personnummer, p.personnummer[2:], p.given_name, p.family_name,
                       p.street, p.phone):
            assert secret not in files["raw"], secret
    assert "yr efter frukost" not in files["raw"] and "Avslutat." not in files["raw"]
    episodes = {r["episode"]: r for r in files["episodes.csv"]}
    a = episodes[with_values["a"].hex[:12]]
    assert a["admitted_at"] == "2026-03-27 10:00" and a["days_at_home"] == "6"
    assert a["end_reason"] == "completed" and a["ack_minutes_p50"] == "10.0"
    c = episodes[with_values["c"].hex[:12]]
    assert c["pseudonym"] == a["pseudonym"]  # the same patient, the same pseudonym
    assert files["observations.csv"][0]["pulse"] == "88"


def test_shifted_dates_keep_the_intervals_and_the_pseudonyms(world, database, with_values):
    adam = exporter(world, database)
    with database.session() as s:
        plain = read(research.extract(s, adam, Period.year(2026), organisation_id=None,
                                      pathway=None, shift_dates=False, approval="Dnr 1").data)
        moved = read(research.extract(s, adam, Period.year(2026), organisation_id=None,
                                      pathway=None, shift_dates=True, approval="Dnr 1").data)

    def at(text):
        return datetime.strptime(text, "%Y-%m-%d %H:%M")

    before = {r["episode"]: r for r in plain["episodes.csv"]}
    after = {r["episode"]: r for r in moved["episodes.csv"]}
    shifts = {}
    for key, r in before.items():
        m = after[key]
        assert m["pseudonym"] == r["pseudonym"]
        delta = at(m["admitted_at"]) - at(r["admitted_at"])
        assert at(m["ended_at"]) - at(r["ended_at"]) == delta
        shifts.setdefault(r["pseudonym"], set()).add(delta)
    # One shift per patient, the same for all of that patient's episodes.
    assert all(len(s) == 1 for s in shifts.values())


def test_it_is_logged_and_needs_the_role_and_an_approval(world, database, with_values,
                                                       as_user):
    with database.session() as s:
        lisa = subject_for(s, s.get(Staff, world.staff["lisa"]))
        with pytest.raises(Forbidden):
            research.extract(s, lisa, Period.year(2026), organisation_id=None, pathway=None,
                             shift_dates=False, approval="Dnr 1")
    adam = exporter(world, database)
    with database.session() as s:
        with pytest.raises(Invalid) as e:
            research.extract(s, adam, Period.year(2026), organisation_id=None, pathway=None,
                             shift_dates=False, approval=" ")
        assert e.value.field == "approval"
    with database.session() as s:
        research.extract(s, adam, Period.year(2026), organisation_id=None, pathway=None,
                         shift_dates=True, approval="Dnr 2026-01234-01")
    with database.session() as s:
        logged = list(s.scalars(select(AuditEntry).where(
            AuditEntry.action == "followup.research_export")))
        assert {e.patient_id for e in logged} == {*with_values["patients"], None}
        assert all("Dnr 2026-01234-01" in e.detail for e in logged)
    page = as_user("adam")
    assert page.get("/followup/research").status_code == 200
    refused = page.post("/followup/research", data={"period": "2026", "approval": ""})
    assert refused.status_code == 422 and "etikprövning" in refused.text.lower()
    taken = page.post("/followup/research", data={"period": "2026", "approval": "Dnr 7"})
    assert taken.status_code == 200 and taken.headers["content-type"] == "application/zip"
    assert as_user("lisa").get("/followup/research").status_code == 403
