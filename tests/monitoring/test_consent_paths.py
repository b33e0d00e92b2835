"""Consent and blocks hold on every path to a value: a resend's answer, and a NEWS2 that
combines values of several organisations. Kim (the municipality's nurse) cares for the home
ward's patient, who has not consented to sharing with the municipality: she may record values
but must never be shown the region's."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from hemma.kit.time import utcnow
from hemma.models import Observation

COMPLETE = dict(respiration_rate=22, spo2=93, on_oxygen=False, temperature=38.6,
                systolic_bp=104, pulse=112, consciousness="A")


def _shared_patient(world):
    """The region's home-ward patient, with the municipality in the care team (no consent)."""
    pid = world.patient(unit="med")
    world.episode(pid, state="admitted")
    world.relation(pid, unit="hsv", documented_by="med")
    return pid


def _send(client, pid, client_id, at=None, **values):
    return client.post(f"/api/v1/patients/{pid}/observations", json={
        "client_id": client_id, "measured_at": (at or utcnow()).isoformat(), **values})


def test_a_resent_client_id_answers_only_with_what_the_sender_may_read(world, database,
                                                                       as_user):
    pid = _shared_patient(world)
    sara, kim = as_user("sara"), as_user("kim")
    region = _send(sara, pid, f"demo-{pid}-11", **COMPLETE)
    assert region.status_code == 201
    assert kim.get(f"/api/v1/patients/{pid}/observations").json() == []

    # The same (predictable) client id from the municipality is not the region's row: it is
    # the municipality's own submission, showing only what it sent.
    probe = _send(kim, pid, f"demo-{pid}-11", pain=1)
    assert probe.status_code == 201
    body = probe.json()
    assert body["duplicate"] is False and body["id"] != region.json()["id"]
    assert body["values"] == {"pain": 1}
    # ... and the region's id is still the region's: a resend finds its own row.
    again = _send(sara, pid, f"demo-{pid}-11", **COMPLETE)
    assert again.json()["duplicate"] is True and again.json()["id"] == region.json()["id"]
    # The municipality cannot claim an id the region will use next either.
    claimed = _send(kim, pid, f"demo-{pid}-12", pulse=60)
    later = _send(sara, pid, f"demo-{pid}-12", pulse=130)
    assert later.json()["duplicate"] is False and later.json()["id"] != claimed.json()["id"]
    assert later.json()["values"]["pulse"] == 130
    with database.session() as s:
        assert len(s.scalars(select(Observation).where(Observation.patient_id == pid)).all()) == 4


def test_the_batch_route_answers_resends_the_same_way(world, as_user):
    pid = _shared_patient(world)
    sara, kim = as_user("sara"), as_user("kim")
    _send(sara, pid, "gateway-000001", **COMPLETE)
    answer = kim.post("/api/v1/observations/batch", json={"observations": [{
        "patient_id": str(pid), "client_id": "gateway-000001",
        "measured_at": utcnow().isoformat(), "pain": 2}]})
    assert answer.status_code == 200
    (item,) = answer.json()
    assert item["duplicate"] is False and item["values"] == {"pain": 2}


def test_news2_is_never_combined_from_values_the_reader_cannot_see(world, as_user):
    pid = _shared_patient(world)
    sara, kim = as_user("sara"), as_user("kim")
    at = utcnow() - timedelta(minutes=10)
    region = _send(sara, pid, "region-000001", at=at, **COMPLETE)
    assert region.json()["news2_partial"] is False
    # Kim's pain score joins the hour's values: the stored score is the region's complete one,
    # but Kim is shown what her own visible values give (nothing to score), marked partial.
    pain = _send(kim, pid, "kim-0000001", pain=2)
    body = pain.json()
    assert body["news2_partial"] is True
    assert body["news2_total"] != region.json()["news2_total"] or body["news2_total"] is None
    assert body["values"] == {"pain": 2}
    # Her list and her values page show the same.
    (mine,) = kim.get(f"/api/v1/patients/{pid}/observations").json()
    assert mine["id"] == body["id"] and mine["news2_partial"] is True
    assert mine["news2_total"] == body["news2_total"]
    page = kim.get(f"/patients/{pid}/observations")
    assert page.status_code == 200 and "38,6" not in page.text and "38.6" not in page.text
    # Sara, whose unit sees everything here, is shown the complete score on Kim's row too.
    rows = {o["id"]: o for o in sara.get(f"/api/v1/patients/{pid}/observations").json()}
    # (Kim's own row is the municipality's: Sara sees it only with consent.)
    assert body["id"] not in rows
    assert rows[region.json()["id"]]["news2_partial"] is False


def test_with_consent_the_combined_score_is_shown(world, as_user):
    pid = _shared_patient(world)
    world.consent(pid, "kommun")
    sara, kim = as_user("sara"), as_user("kim")
    region = _send(sara, pid, "region-000002", at=utcnow() - timedelta(minutes=10), **COMPLETE)
    pain = _send(kim, pid, "kim-0000002", pain=2).json()
    assert pain["news2_partial"] is False and pain["news2_total"] == region.json()["news2_total"]


def test_a_blocked_units_values_do_not_score_for_others(world, as_user):
    # The hälsocentral's values are blocked from the rest of the region.
    pid = world.patient(unit="med")
    world.episode(pid, state="admitted")
    world.relation(pid, unit="hc", documented_by="med")
    world.block(pid, "hc")
    hugo, sara = as_user("hugo"), as_user("sara")
    _send(hugo, pid, "hc-00000001", at=utcnow() - timedelta(minutes=5), **COMPLETE)
    mine = _send(sara, pid, "med-00000001", pulse=80).json()
    assert mine["news2_partial"] is True
    assert [o["id"] for o in sara.get(f"/api/v1/patients/{pid}/observations").json()] \
        == [mine["id"]]


def test_a_login_code_is_only_handed_out_by_a_unit_that_may_read_the_episode(world, database,
                                                                              as_user):
    from hemma.models import AuditEntry, PatientAccessCode

    pid = _shared_patient(world)
    kim = as_user("kim")
    refused = kim.post(f"/patients/{pid}/access-codes")
    assert refused.status_code == 403
    assert "samtycke" in refused.text or "delas" in refused.text
    with database.session() as s:
        assert s.scalars(select(PatientAccessCode)).all() == []
    # With the patient's consent, the municipality's nurse may hand out a code; the log says
    # it was her, not "(patient)".
    world.consent(pid, "kommun")
    given = kim.post(f"/patients/{pid}/access-codes")
    assert given.status_code == 200
    with database.session() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "patientcode.create",
                                                   AuditEntry.outcome == "allowed")).one()
        assert entry.username == "kim" and entry.patient_id == pid


def test_no_code_without_an_ongoing_episode(world, as_user):
    pid = world.patient(unit="med")
    answer = as_user("sara").post(f"/patients/{pid}/access-codes")
    assert answer.status_code == 409


def test_the_overview_says_when_values_are_hidden_rather_than_none(world, as_user):
    pid = _shared_patient(world)
    kim, sara = as_user("kim"), as_user("sara")
    _send(kim, pid, "visit-000001", temperature=39.4, pulse=118)
    page = sara.get(f"/patients/{pid}")
    assert page.status_code == 200
    assert "39,4" not in page.text and "39.4" not in page.text
    assert "1 värde från en annan organisation visas inte" in page.text


def test_an_alert_on_a_news2_combined_with_hidden_values_does_not_quote_the_score(world,
                                                                                as_user):
    """The region's own breathing values and the municipality's temperature and pulse make
    one high NEWS2: the alert reaches the region (safety first), but a region reader without
    the patient's consent to see the municipality's values is not shown the score either."""
    pid = _shared_patient(world)
    kim, sara = as_user("kim"), as_user("sara")
    _send(kim, pid, "visit-000002", at=utcnow() - timedelta(minutes=10), temperature=39.4,
          pulse=131, systolic_bp=88, consciousness="A")
    mine = _send(sara, pid, "region-000009", respiration_rate=26, spo2=91,
                 on_oxygen=False).json()
    assert mine["alert_id"] is not None
    # Sara is shown a NEWS2 of her own values, and the alert without the combined score.
    assert mine["news2_partial"] is True
    (alert,) = [a for a in sara.get("/api/v1/alerts").json() if a["patient_id"] == str(pid)]
    news2 = [r for r in alert["reasons"] if "NEWS2" in r]
    assert news2 == [], alert["reasons"]
    assert any("annan organisation" in r for r in alert["reasons"]), alert["reasons"]
    # With consent, the score is the region's to see.
    world.consent(pid, "region")
    (alert,) = [a for a in sara.get("/api/v1/alerts").json() if a["patient_id"] == str(pid)]
    assert any("NEWS2" in r for r in alert["reasons"]), alert["reasons"]
