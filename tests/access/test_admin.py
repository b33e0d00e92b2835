"""Administration: an administrator manages the units and accounts of their own
organisation, and gets no patient access from it."""

from __future__ import annotations

import re
from datetime import date

from fastapi.testclient import TestClient
from sqlalchemy import select

from hemma.kit.time import age
from hemma.models import Staff, Unit


def test_administrator_creates_a_unit_and_an_account_that_can_log_in(app, world, database,
                                                                      as_user):
    adam = as_user("adam")
    r = adam.post("/admin/units", data={"name": "Geriatriken", "kind": "hospital_clinic",
                                        "virtual_beds": "8", "phone": "0980-319 299"},
                  follow_redirects=False)
    assert r.status_code == 303
    with database.session() as s:
        unit = s.scalar(select(Unit).where(Unit.name == "Geriatriken"))
        assert unit.organisation_id == world.orgs["region"] and unit.virtual_beds == 8
    r = adam.post("/admin/staff", data={
        "username": "nina", "password": "ett långt lösenord", "given_name": "Nina",
        "family_name": "Nyström", "profession": "nurse", "unit_id": str(unit.id),
        "skills": "IV, picc, iv"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    with database.session() as s:
        nina = s.scalar(select(Staff).where(Staff.username == "nina"))
        assert nina.skills == ["iv", "picc"] and nina.password_hash.startswith("$argon2")
    client = TestClient(app, base_url="https://testserver")
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    r = client.post("/login", data={"username": "nina", "password": "ett långt lösenord",
                                    "csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303
    assert "Geriatriken" in client.get("/home-ward").text


def test_bad_account_input_names_the_field_and_changes_nothing(world, database, as_user):
    adam = as_user("adam")
    r = adam.post("/admin/staff", data={
        "username": "Nina Nyström", "password": "kort", "given_name": "Nina",
        "family_name": "Nyström", "profession": "wizard",
        "unit_id": str(world.units["hsv"])})
    assert r.status_code == 422
    for field in ("username", "password", "profession"):
        assert f'id="{field}-error"' in r.text
    r = adam.post("/admin/staff", data={
        "username": "sara", "password": "ett långt lösenord", "given_name": "Sara",
        "family_name": "Två", "profession": "nurse", "unit_id": str(world.units["med"])})
    assert r.status_code == 409 and 'id="username-error"' in r.text
    r = adam.post("/admin/staff", data={
        "username": "nina", "password": "ett långt lösenord", "given_name": "Nina",
        "family_name": "Nyström", "profession": "nurse", "unit_id": str(world.units["hsv"])})
    assert r.status_code == 422 and 'id="unit_id-error"' in r.text  # Kommunen's unit
    with database.session() as s:
        assert s.scalar(select(Staff).where(Staff.username == "nina")) is None


def test_administrators_stay_within_their_organisation_and_see_no_patients(world, as_user):
    kurt = as_user("kurt")
    assert kurt.get(f"/admin/staff/{world.staff['sara']}").status_code == 404
    assert kurt.get(f"/admin/units/{world.units['med']}").status_code == 404
    assert kurt.get(f"/admin/staff/{world.staff['kim']}").status_code == 200
    pid = world.patient(unit="hsv", registered_by="hsv")
    assert kurt.get(f"/patients/{pid}").status_code == 404
    assert kurt.get("/home-ward").status_code == 403
    # An administrator cannot lock themselves out.
    r = kurt.put(f"/api/v1/admin/staff/{world.staff['kurt']}", json={
        "given_name": "Kurt", "family_name": "Admin", "profession": "administrative",
        "unit_id": world.units["hsv"], "is_admin": False})
    assert r.status_code == 422


def test_age_in_whole_years():
    assert age(date(1940, 12, 1), on=date(2026, 11, 30)) == 85
    assert age(date(1940, 11, 30), on=date(2026, 11, 30)) == 86


def test_a_taken_hsa_id_with_a_new_password_is_a_message_not_a_server_error(world, database,
                                                                           as_user):
    # The fuzzer found it: a new password logs the account out everywhere, which read the
    # database before the taken HSA-id was checked (a 500 instead of 409).
    with database.session() as s:
        s.get(Staff, world.staff["sara"]).hsa_id = "SE2321000222-T1"
    adam = as_user("adam")
    body = {"given_name": "Lisa", "family_name": "Läkare", "profession": "physician",
            "unit_id": world.units["med"], "hsa_id": "SE2321000222-T1",
            "password": "ett nytt långt lösenord", "active": True}
    r = adam.put(f"/api/v1/admin/staff/{world.staff['lisa']}", json=body)
    assert r.status_code == 409, r.text
    assert r.json()["errors"][0]["field"] == "hsa_id"
    with database.session() as s:
        assert s.get(Staff, world.staff["lisa"]).hsa_id is None


def test_the_administrator_grants_follow_up_and_research_extracts(app, world, database,
                                                                  as_user):
    """The roles of follow-up: set on the account's form, shown in the list, and what they
    open the next request; taking them away closes it again."""
    adam = as_user("adam")
    lisa = world.staff["lisa"]
    form = adam.get(f"/admin/staff/{lisa}").text
    assert 'name="is_follow_up"' in form and 'name="is_research_exporter"' in form
    with database.session() as s:
        staff = s.get(Staff, lisa)
        values = {"given_name": staff.given_name, "family_name": staff.family_name,
                  "profession": staff.profession, "unit_id": str(staff.unit_id),
                  "active": "true"}
    r = adam.post(f"/admin/staff/{lisa}", data={**values, "is_follow_up": "true",
                                                "is_research_exporter": "true"},
                  follow_redirects=False)
    assert r.status_code == 303, r.text
    assert "Forskningsuttag" in adam.get("/admin").text
    reader = as_user("lisa")
    assert reader.get("/followup").status_code == 200
    assert reader.get("/followup/research").status_code == 200
    me = reader.get("/api/v1/me").json()
    assert me["is_follow_up"] and me["is_research_exporter"]
    r = adam.post(f"/admin/staff/{lisa}", data=values, follow_redirects=False)
    assert r.status_code == 303
    with database.session() as s:
        staff = s.get(Staff, lisa)
        assert not staff.is_follow_up and not staff.is_research_exporter
    assert reader.get("/followup/research").status_code == 403
