"""Consent is asked where it is needed: when another organisation is asked to care for the
patient (a care request) or joins the care team (a unit, a person, the fast vårdkontakt), the
patient's consent to sharing between the organisations is recorded, or why none is needed."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from hemma.kit.time import local_today
from hemma.models import AuditEntry, CareRelation, CareRequest, Consent


def _fields(r) -> dict:
    return {e["field"]: e["message"] for e in r.json()["errors"]}


def _request(world, **extra) -> dict:
    first = local_today() + timedelta(days=1)
    return {"to_unit_id": world.units["hsv"], "kind": "iv_antibiotic",
            "times": ["08:00", "14:00", "20:00"], "first_date": first.isoformat(),
            "last_date": (first + timedelta(days=2)).isoformat(), "duration_minutes": 30,
            **extra}


def _count(database, model) -> int:
    with database.session() as s:
        return s.scalar(select(func.count()).select_from(model))


def _home_ward_patient(world):
    pid = world.patient(unit="med")
    world.episode(pid, state="admitted")
    return pid


def test_a_care_request_to_another_organisation_asks_for_consent(world, database, as_user):
    pid = _home_ward_patient(world)
    sara = as_user("sara")
    refused = sara.post(f"/api/v1/patients/{pid}/care-requests", json=_request(world))
    assert refused.status_code == 422 and "sharing" in _fields(refused)
    assert _count(database, CareRequest) == 0 and _count(database, CareRelation) == 1
    sent = sara.post(f"/api/v1/patients/{pid}/care-requests",
                     json=_request(world, sharing="consent", sharing_method="written"))
    assert sent.status_code == 201
    with database.session() as s:
        given = {c.organisation_id: c for c in s.scalars(select(Consent))}
    # Both ways: the municipality sees the episode, the region what the municipality records.
    assert set(given) == {world.orgs["region"], world.orgs["kommun"]}
    assert all(c.method == "written" and c.note == "care request" for c in given.values())
    # The receiving nurse sees what she is asked to do for, not "no ongoing episode".
    kim = as_user("kim")
    episodes = kim.get(f"/api/v1/patients/{pid}/episodes").json()
    assert [e["state"] for e in episodes] == ["admitted"]
    # A second request asks nothing: the consent is there.
    again = sara.post(f"/api/v1/patients/{pid}/care-requests",
                      json=_request(world, kind="wound_care"))
    assert again.status_code == 201


def test_or_a_reason_why_none_is_needed_is_recorded(world, database, as_user):
    pid = _home_ward_patient(world)
    sara = as_user("sara")
    short = sara.post(f"/api/v1/patients/{pid}/care-requests",
                      json=_request(world, sharing="not_needed", sharing_reason="nej"))
    assert short.status_code == 422 and "sharing_reason" in _fields(short)
    reason = "Endast provtagning, patienten vill inte dela journalen"
    sent = sara.post(f"/api/v1/patients/{pid}/care-requests",
                     json=_request(world, sharing="not_needed", sharing_reason=reason))
    assert sent.status_code == 201 and sent.json()["sharing_note"] == reason
    assert _count(database, Consent) == 0
    with database.session() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.patient_id == pid,
                                                   AuditEntry.action.contains("carerequest"))
                          ).one()
        assert "consent.not_needed" in entry.action and reason in entry.detail
    # The receiver is told why they see no episode.
    page = as_user("kim").get("/care-requests")
    assert reason in page.text and "Inget samtycke till informationsdelning" in page.text


def test_within_one_organisation_nothing_is_asked(world, as_user):
    pid = _home_ward_patient(world)
    sent = as_user("sara").post(f"/api/v1/patients/{pid}/care-requests",
                                json=_request(world, to_unit_id=world.units["hc"]))
    assert sent.status_code == 201


def test_adding_another_organisation_to_the_care_team_asks_too(world, database, as_user):
    pid = _home_ward_patient(world)
    sara = as_user("sara")
    url = f"/api/v1/patients/{pid}/care-team"
    assert sara.post(url, json={"unit_id": world.units["hsv"]}).status_code == 422
    assert sara.post(url, json={"unit_id": world.units["hc"]}).status_code == 201
    assert sara.post(url, json={"staff_id": world.staff["pia"], "sharing": "consent"}
                     ).status_code == 201
    assert _count(database, Consent) == 2
    page = sara.get(f"/patients/{pid}/team")
    assert 'name="sharing"' not in page.text  # every organisation has consented now


def test_the_team_page_and_the_care_request_form_ask(world, as_user):
    pid = _home_ward_patient(world)
    sara = as_user("sara")
    for url in (f"/patients/{pid}/team", f"/patients/{pid}/care-requests"):
        page = sara.get(url)
        assert page.status_code == 200 and 'name="sharing"' in page.text
        assert "Kommunen" in page.text
    csrf = sara.headers["X-CSRF-Token"]
    page = sara.post(f"/patients/{pid}/team", data={"csrf_token": csrf,
                                                    "unit_id": world.units["hsv"]})
    assert page.status_code == 422 and "Fråga patienten" in page.text


def test_a_fast_vardkontakt_from_another_organisation_asks_and_is_care_staff(world, database,
                                                                           as_user):
    pid = world.patient(unit="med")
    eid = world.episode(pid, state="assessing")
    sara = as_user("sara")
    url = f"/api/v1/patients/{pid}/episodes/{eid}/admit"
    body = {"responsible_physician_id": world.staff["lisa"], "coordinator_id": world.staff["kim"]}
    assert sara.post(url, json=body).status_code == 422
    admin = sara.post(url, json={**body, "coordinator_id": world.staff["adam"]})
    assert admin.status_code == 422 and "coordinator_id" in _fields(admin)
    form = sara.get(f"/patients/{pid}/episodes/{eid}/admit").text
    assert "Admin, Adam" not in form and "Kommunsköterska, Kim" in form
    assert sara.post(url, json={**body, "sharing": "consent"}).status_code == 200
    assert _count(database, Consent) == 2


def test_a_unit_sees_its_own_membership_of_the_team_without_consent(world, as_user):
    """Hemsjukvården was added by the hospital (no consent): it still sees that it is in the
    team, and is not offered to join it again."""
    pid = _home_ward_patient(world)
    world.relation(pid, unit="hsv", documented_by="med")
    team = as_user("kim").get(f"/api/v1/patients/{pid}/care-team").json()
    assert any(m["unit_id"] == world.units["hsv"] for m in team["members"])
