"""A staff member's day that starts from home starts at the home's address, looked up as a
patient's is (the geocoding service, then the postal-code table): nobody types latitude and
longitude. Systems may still send coordinates through the API, both or neither."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from hemma.kit.time import local_today
from hemma.models import StaffShift
from tests.geo.nominatim import serve


@pytest.fixture
def nominatim():
    with serve() as fake:
        yield fake


@pytest.fixture
def settings(settings, request):
    """Tests that ask for `nominatim` run with HEMMA_GEOCODER_URL pointing at it."""
    if "nominatim" in request.fixturenames:
        settings.geocoder_url = request.getfixturevalue("nominatim").url
    return settings


def _form(world, **extra) -> dict:
    return {"staff_id": world.staff["mona"], "day": local_today().isoformat(), "start": "16:00",
            "end": "22:00", "start_place": "home", **extra}


def _shifts(database) -> list[StaffShift]:
    with database.session() as s:
        return list(s.scalars(select(StaffShift)))


def test_a_day_from_home_starts_at_the_home_address(world, database, as_user):
    kim = as_user("kim")
    r = kim.post("/planning/shifts",
                 data=_form(world, home_address="Skolgatan 3, 921 34 Lycksele"),
                 follow_redirects=False)
    assert r.status_code == 303
    (shift,) = _shifts(database)
    assert (shift.start_place, shift.start_latitude, shift.start_longitude) == \
        ("home", 64.5954, 18.6735)
    assert (shift.end_latitude, shift.end_longitude) == (64.5954, 18.6735)


@pytest.mark.parametrize("address, message", [
    (None, "Ange hemadressen"),
    ("Okändvägen 1, Ingenstans", "Ingen position hittades för adressen"),
])
def test_a_home_nobody_can_place_is_refused_naming_the_field(address, message, world,
                                                             database, as_user):
    kim = as_user("kim")
    data = _form(world) | ({"home_address": address} if address else {})
    r = kim.post("/planning/shifts", data=data)
    assert r.status_code == 422 and message in r.text
    assert 'id="home_address-error"' in r.text
    api = kim.post("/api/v1/shifts", json=data)
    assert api.status_code == 422 and api.json()["errors"][0]["field"] == "home_address"
    assert _shifts(database) == []


def test_the_geocoding_service_places_the_home(nominatim, world, database, as_user):
    nominatim.add("Skolgatan 3", "921 34", "Lycksele", 64.6011, 18.6622)
    kim = as_user("kim")
    r = kim.post("/api/v1/shifts", json=_form(world, home_address="Skolgatan 3, 921 34 Lycksele"))
    assert r.status_code == 201
    (shift,) = _shifts(database)
    assert (shift.start_latitude, shift.start_longitude) == (64.6011, 18.6622)


def test_coordinates_from_a_system_come_in_pairs(world, database, as_user):
    kim = as_user("kim")
    r = kim.post("/api/v1/shifts", json=_form(world, latitude=64.6))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "longitude"
    r = kim.post("/api/v1/shifts", json=_form(world, longitude=18.7))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "latitude"
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(StaffShift)) == 0
    r = kim.post("/api/v1/shifts", json=_form(world, latitude=64.6, longitude=18.7))
    assert r.status_code == 201
    assert (_shifts(database)[0].start_latitude, _shifts(database)[0].start_longitude) == \
        (64.6, 18.7)
