"""Pathways as data through the pages and the API: a medical lead saves a new version
(episodes keep theirs), a broken import changes nothing and says where it is wrong, others
may read but not edit."""

from __future__ import annotations

import yaml
from sqlalchemy import func, select

from hemma.models import AuditEntry, Episode, Pathway
from hemma.pathways.service import install_builtin


def _count(database) -> int:
    with database.session() as s:
        return s.scalar(select(func.count()).select_from(Pathway))


def test_a_new_version_leaves_running_episodes_on_theirs(world, database, as_user):
    pid = world.patient(unit="med")
    episode_id = world.episode(pid, pathway="snabbspar")
    old = world.pathways["snabbspar"]
    lisa = as_user("lisa")
    page = lisa.get(f"/pathways/{old}/edit")
    assert page.status_code == 200 and "Intravenös antibiotika" in page.text
    exported = lisa.get(f"/pathways/{old}/export?format=yaml").text
    doc = yaml.safe_load(exported)
    doc["monitoring"]["schedule"] = ["07:00", "15:00", "21:00"]
    r = lisa.post(f"/pathways/{old}/edit", data={
        "document": yaml.safe_dump(doc, allow_unicode=True), "format": "yaml",
        "change_note": "Nya mättider", "based_on": "1"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    with database.session() as s:
        versions = s.scalars(select(Pathway).where(Pathway.code == "snabbspar")
                             .order_by(Pathway.version)).all()
        assert [(p.version, p.active) for p in versions] == [(1, False), (2, True)]
        assert versions[1].schedule == ["07:00", "15:00", "21:00"]
        assert versions[1].change_note == "Nya mättider"
        assert s.get(Episode, episode_id).pathway_id == old  # keeps the version it started on
        assert s.scalar(select(AuditEntry.detail).where(AuditEntry.action == "pathway.save")) \
            == "snabbspar v2"
    # Saving from the old version again would undo the change: refused.
    r = lisa.post(f"/pathways/{old}/edit", data={
        "document": exported, "format": "yaml", "based_on": "1"})
    assert r.status_code == 409
    # New assessments are offered the current version only.
    names = [p["version"] for p in lisa.get("/api/v1/pathways").json() if p["code"] == "snabbspar"]
    assert names == [2]
    # The old version stays readable.
    assert "Not the current version" in lisa.get(f"/pathways/{old}?lang=en").text or \
        "Inte den aktuella versionen" in lisa.get(f"/pathways/{old}").text


def test_a_broken_import_saves_nothing_and_names_each_place(world, database, as_user):
    lisa = as_user("lisa")
    before = _count(database)
    text = ("code: ny_vag\nname: Ny väg\nexpected_days: 5\n"
            "monitoring:\n  schedule: ['08:00', '25:00']\n  rules:\n"
            "    - {key: fever, parameter: temperature, op: '>=', value: 38.5, severity: huge}\n")
    r = lisa.post("/pathways/new", data={"document": text, "format": "yaml"})
    assert r.status_code == 422
    assert "monitoring.schedule.1" in r.text and "monitoring.rules.0.severity" in r.text
    assert "Nothing was saved" in r.text or "Inget sparades" in r.text
    assert _count(database) == before
    # The same document through the API: 422 with each field.
    doc = yaml.safe_load(text)
    r = lisa.post("/api/v1/pathways", json={"document": doc})
    assert r.status_code == 422
    fields = {e["field"] for e in r.json()["errors"]}
    assert {"document.monitoring.schedule.1", "document.monitoring.rules.0.severity"} <= fields
    assert _count(database) == before


def test_a_file_upload_imports_a_new_pathway(world, database, as_user):
    lisa = as_user("lisa")
    text = "code: ny_vag\nname: Ny väg\nexpected_days: 5\n"
    r = lisa.post("/pathways/new", data={"format": "yaml"},
                  files={"file": ("ny.yaml", text.encode(), "application/yaml")},
                  follow_redirects=False)
    assert r.status_code == 303, r.text
    with database.session() as s:
        row = s.scalar(select(Pathway).where(Pathway.code == "ny_vag"))
        assert (row.version, row.expected_days, row.active) == (1, 5, True)


def test_only_a_medical_lead_edits(world, as_user):
    sara = as_user("sara")
    pathway = world.pathways["snabbspar"]
    assert sara.get(f"/pathways/{pathway}").status_code == 200  # reading is for everyone
    assert sara.get(f"/pathways/{pathway}/edit").status_code == 403
    assert sara.post("/api/v1/pathways", json={"document": {}}).status_code == 403
    assert sara.post(f"/pathways/{pathway}/retire", data={}).status_code == 403


def test_retiring_hides_it_from_new_assessments(world, as_user):
    lisa = as_user("lisa")
    pathway = world.pathways["snabbspar"]
    r = lisa.post(f"/api/v1/pathways/{pathway}/retire", json={})
    assert r.status_code == 200 and r.json()["active"] is False
    assert "snabbspar" not in {p["code"] for p in lisa.get("/api/v1/pathways").json()}
    assert lisa.post(f"/api/v1/pathways/{pathway}/retire", json={}).status_code == 409


def test_builtin_pathways_install_once(world, database):
    with database.session() as s:
        first = install_builtin(s)
    with database.session() as s:
        again = install_builtin(s)
    assert set(first) == {"copd", "general", "heart_failure", "palliative"}  # opat exists
    assert again == []
