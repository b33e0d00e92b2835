"""`hemma simulate-devices` against a live Hemma: home gateways post transaction Bundles of
LOINC-coded vital signs; the alarming ones reach the unit's inbox (the alerts, the nurses'
inbox page and its JSON twin); a resent Bundle changes nothing; a patient the account may not
record for is refused and named."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from hemma.app import create_app
from hemma.cli import simulate_devices
from hemma.fhir import simulator, vitals
from hemma.models import Alert, Observation, Patient
from tests.fhir.test_live_clients import bearer_token
from tests.fhir.validate import assert_r4
from tests.live import serving

VALUES_PER_ROUND = 5  # breathing, SpO2, temperature, heart rate, blood pressure


@pytest.fixture
def live(settings, database):
    with serving(create_app(settings, database)) as base:
        yield f"{base}/fhir"


def _count(database, model, pid) -> int:
    with database.session() as s:
        return s.scalar(select(func.count()).select_from(model).where(model.patient_id == pid))


def test_alarming_bundles_from_the_simulator_reach_the_units_inbox(live, world, database,
                                                                    as_user):
    by_number, by_id = world.patient(name="Greta"), world.patient(name="Holger")
    for pid in (by_number, by_id):
        world.episode(pid, state="admitted")
    with database.session() as s:
        personnummer = s.get(Patient, by_number).personnummer
    token = bearer_token(database, world)
    result = CliRunner().invoke(simulate_devices, [
        "--base-url", live, "--patient", personnummer, "--patient", str(by_id),
        "--once", "--alarming", "--seed", "7"], env={"HEMMA_FHIR_TOKEN": token})
    assert result.exit_code == 0, result.output
    assert "2 Bundle(s): 10 values recorded, 0 already recorded, 0 refused" in result.output
    for pid in (by_number, by_id):
        assert _count(database, Observation, pid) == VALUES_PER_ROUND
        with database.session() as s:
            alerts = list(s.scalars(select(Alert).where(Alert.patient_id == pid)))
        assert len(alerts) == 1 and alerts[0].unit_id == world.units["med"]
        assert alerts[0].status == "open"
    # The nurses' inbox: the JSON API with the same kind of token, and the page.
    inbox = httpx.get(live.removesuffix("/fhir") + "/api/v1/alerts",
                      headers={"Authorization": f"Bearer {token}"})
    assert inbox.status_code == 200
    assert {a["patient_id"] for a in inbox.json()} == {str(by_number), str(by_id)}
    page = as_user("sara").get("/alerts")
    assert page.status_code == 200
    assert "Greta" in page.text and "Holger" in page.text


def test_a_resent_bundle_changes_nothing_and_values_are_what_the_profile_asks(
        live, world, database):
    pid = world.patient()
    world.episode(pid, state="admitted")
    gateway = simulator.Gateway(live, bearer_token(database, world))
    at = datetime(2026, 12, 4, 7, 30, tzinfo=UTC)
    try:
        first = simulator.run(gateway, [str(pid)], rounds=1, interval=0, alarming=0, seed=1,
                              echo=lambda _: None, clock=lambda: at)
        again = simulator.run(gateway, [str(pid)], rounds=1, interval=0, alarming=0, seed=1,
                              echo=lambda _: None, clock=lambda: at)
    finally:
        gateway.close()
    assert (first[0].created, first[0].resent) == (VALUES_PER_ROUND, 0)
    assert (again[0].created, again[0].resent) == (0, VALUES_PER_ROUND)
    assert _count(database, Observation, pid) == VALUES_PER_ROUND
    assert _count(database, Alert, pid) == 0  # ordinary values alert nobody
    # Each entry is an R4 Observation of the vital-signs profile's codes and units, and
    # Hemma takes every one of them.
    rng = random.Random(3)
    body = simulator.bundle(str(pid), simulator.reading(
        simulator.with_baseline(str(pid), rng), rng, alarming=False), at)
    for entry in body["entry"]:
        assert_r4(entry["resource"])
        assert vitals.values_from(entry["resource"])


def test_a_patient_the_account_may_not_record_for_is_refused_by_name(live, world, database):
    theirs = world.patient(unit="hsv")  # the kommun's patient: no relation to Sara's unit
    ours = world.patient(unit="med")
    world.episode(ours, state="admitted")
    token = bearer_token(database, world)
    alone = CliRunner().invoke(simulate_devices, [
        "--base-url", live, "--patient", str(theirs), "--once"],
        env={"HEMMA_FHIR_TOKEN": token})
    assert alone.exit_code == 1
    assert f"{theirs}: refused: 404" in alone.output
    assert _count(database, Observation, theirs) == 0
    # --all: the patients the account may read, the kommun's not among them.
    everyone = CliRunner().invoke(simulate_devices, [
        "--base-url", live, "--all", "--once"], env={"HEMMA_FHIR_TOKEN": token})
    assert everyone.exit_code == 0, everyone.output
    assert _count(database, Observation, ours) == VALUES_PER_ROUND
    assert _count(database, Observation, theirs) == 0
    nobody = CliRunner().invoke(simulate_devices, ["--base-url", live, "--once"],
                                env={"HEMMA_FHIR_TOKEN": token})
    assert nobody.exit_code != 0 and "--patient" in nobody.output
