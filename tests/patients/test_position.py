"""Where a patient lives on the map: looked up from the address when the patient is
registered or moves (the geocoding service first, then the postal-code table), never typed
as coordinates by staff, corrected on the patient's page (look up again, or the phone's
position at the door) as a named, logged action, and always shown with how near the house
it is."""

from __future__ import annotations

import re
import uuid
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from hemma.kit.time import local_today
from hemma.models import AuditEntry, Patient, VisitAssignment
from hemma.patients.personnummer import make
from tests.geo.nominatim import serve
from tests.planning.test_day import Day

GOOD = {"given_name": "Gunnel", "family_name": "Lindgren", "language": "sv",
        "digital_ability": "none"}
LYCKSELE = {"street": "Storgatan 12", "postal_code": "92131", "city": "Lycksele"}
_serial = iter(range(100, 999))


def _new(**extra) -> dict:
    return {**GOOD, "personnummer": make(date(1941, 3, 14), next(_serial)), **extra}


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


def _patient(database, pid) -> Patient:
    with database.session() as s:
        return s.get(Patient, uuid.UUID(str(pid)))


def _position(database, pid) -> tuple:
    p = _patient(database, pid)
    return (p.latitude, p.longitude, p.position_source, p.position_precision, p.position_place,
            p.position_accuracy_m)


def _logged(database, pid, action) -> list[str | None]:
    with database.session() as s:
        return list(s.scalars(select(AuditEntry.detail).where(AuditEntry.patient_id
                                                              == uuid.UUID(str(pid)),
                                                              AuditEntry.action == action)
                              .order_by(AuditEntry.id)))


def _pid(response) -> str:
    return re.search(r"/patients/([0-9a-f-]{36})", response.headers["location"]).group(1)


def test_a_patient_registered_with_only_an_address_is_placed_and_told_approximate(
        world, database, as_user):
    sara = as_user("sara")
    r = sara.post("/patients/new", data=_new(**LYCKSELE), follow_redirects=False)
    assert r.status_code == 303
    pid = _pid(r)
    assert _position(database, pid) == (64.5954, 18.6735, "postal_codes", "postal_code",
                                        "921 31 Lycksele", None)
    assert _patient(database, pid).position_at is not None
    page = sara.get(f"/patients/{pid}").text
    assert "Ungefärlig: mitt i postnumrets ort</strong>: 921 31 Lycksele" in page
    assert "Från Hemmas postnummertabell (GeoNames)" in page
    assert f'href="/patients/{pid}/edit#position">Rätta kartpositionen' in page


def test_registering_never_fails_for_want_of_a_position(world, database, as_user):
    sara = as_user("sara")
    r = sara.post("/patients/new", data=_new(street="Okändvägen 1", city="Ingenstans"),
                  follow_redirects=False)
    assert r.status_code == 303
    pid = _pid(r)
    assert _position(database, pid) == (None,) * 6
    page = sara.get(f"/patients/{pid}").text
    assert "Ingen kartposition." in page and "besök hos patienten kan inte planeras" in page
    assert "Rätta kartpositionen" in page
    r = sara.post("/api/v1/patients", json=_new())  # no address at all
    assert r.status_code == 201
    body = r.json()
    assert body["latitude"] is None and body["position_source"] is None


def test_with_a_geocoding_service_the_house_is_found(nominatim, world, database, as_user):
    nominatim.add("Storgatan 12", "921 31", "Lycksele", 64.5962, 18.6759)
    sara = as_user("sara")
    r = sara.post("/api/v1/patients", json=_new(**LYCKSELE))
    assert r.status_code == 201
    body = r.json()
    assert (body["latitude"], body["longitude"]) == (64.5962, 18.6759)
    assert (body["position_source"], body["position_precision"]) == ("geocoder", "address")
    assert nominatim.asked[-1]["postalcode"] == "921 31"
    page = sara.get(f"/patients/{body['id']}").text
    assert "<strong>Huset</strong>" in page and "Hittad av tjänsten för adressökning" in page
    assert "Rätta kartpositionen" not in page  # the house: nothing to correct
    # The service down: the table answers, and the registration goes through.
    nominatim.mode = "error"
    r = sara.post("/api/v1/patients", json=_new(**LYCKSELE))
    assert r.status_code == 201 and r.json()["position_source"] == "postal_codes"


def test_a_latitude_without_a_longitude_is_refused_naming_the_field(world, database, as_user):
    sara = as_user("sara")
    with database.session() as s:
        before = s.scalar(select(func.count()).select_from(Patient))
    r = sara.post("/api/v1/patients", json=_new(latitude=64.6))
    assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == ["longitude"]
    r = sara.post("/api/v1/patients", json=_new(longitude=18.7))
    assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == ["latitude"]
    assert r.json()["errors"][0]["message"] == "Ange både latitud och longitud, eller ingen av dem"
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(Patient)) == before
    pid = world.patient(unit="med")
    r = sara.put(f"/api/v1/patients/{pid}", json={**GOOD, **LYCKSELE, "latitude": 64.6})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "longitude"
    assert _position(database, pid)[:2] == (64.59, 18.67)
    # Both, from another system: taken as they are.
    r = sara.post("/api/v1/patients", json=_new(latitude=64.61, longitude=18.71, **LYCKSELE))
    assert r.status_code == 201
    assert (r.json()["latitude"], r.json()["position_source"]) == (64.61, "system")


def test_staff_forms_never_ask_for_coordinates(world, database, as_user):
    pid = world.patient(unit="hsv")
    kim = as_user("kim")
    for url in ("/patients/new", f"/patients/{pid}/edit", "/planning/shifts"):
        page = kim.get(url).text
        for name in ("latitude", "longitude"):
            inputs = re.findall(rf'<input[^>]*name="{name}"[^>]*>', page)
            assert all('type="hidden"' in i for i in inputs), (url, inputs)
        assert "Latitud" not in page and "Longitud" not in page, url


def test_the_position_follows_the_address(nominatim, world, database, as_user):
    pid = world.patient(unit="med")
    with database.session() as s:  # measured at the door earlier
        p = s.get(Patient, pid)
        p.position_source, p.position_precision, p.position_accuracy_m = "device", "door", 8
    sara = as_user("sara")
    form = {**GOOD, "street": "Storgatan 1", "postal_code": "921 31", "city": "Lycksele"}
    # Saving other details keeps it (the form has no coordinates to send).
    r = sara.post(f"/patients/{pid}/edit", data=form | {"phone": "0950-123 45"},
                  follow_redirects=False)
    assert r.status_code == 303
    assert _position(database, pid) == (64.59, 18.67, "device", "door", None, 8)
    assert nominatim.asked == []
    # A new address is looked up (the service knows nothing of it: the table answers).
    r = sara.post(f"/patients/{pid}/edit",
                  data=form | {"street": "Byvägen 3", "postal_code": "921 94",
                               "city": "Björksele"}, follow_redirects=False)
    assert r.status_code == 303
    assert _position(database, pid) == (64.9833, 18.5, "postal_codes", "locality", "Björksele",
                                        None)
    # An address nobody can place leaves no position at all: not the old house's.
    r = sara.post(f"/patients/{pid}/edit", data=form | {"postal_code": "", "city": "Ingenstans"},
                  follow_redirects=False)
    assert r.status_code == 303 and _position(database, pid) == (None,) * 6
    assert "Ingen kartposition." in sara.get(f"/patients/{pid}").text
    # Saving again without a position tries again (the service may be back).
    nominatim.add("Storgatan 1", None, "Ingenstans", 64.70, 18.80, rank=26, kind="road")
    sara.post(f"/patients/{pid}/edit", data=form | {"postal_code": "", "city": "Ingenstans"})
    assert _position(database, pid)[2:4] == ("geocoder", "street")
    # The API: coordinates equal to the stored ones are no news; new ones are a system's.
    body = sara.get(f"/api/v1/patients/{pid}").json()
    sent = {k: body[k] for k in ("given_name", "family_name", "street", "postal_code", "city",
                                 "latitude", "longitude")}
    r = sara.put(f"/api/v1/patients/{pid}", json=sent | {"phone": "0950-111 11"})
    assert r.status_code == 200 and r.json()["position_source"] == "geocoder"
    r = sara.put(f"/api/v1/patients/{pid}", json=sent | {"city": "Lycksele",
                                                         "postal_code": "921 31"})
    assert r.json()["position_place"] == "921 31 Lycksele"  # moved: looked up, not kept
    r = sara.put(f"/api/v1/patients/{pid}", json=sent | {"latitude": 64.55, "longitude": 18.9})
    assert (r.json()["position_source"], r.json()["position_precision"]) == ("system", None)


def test_staff_correct_the_position_on_the_patients_page(world, database, as_user):
    pid = world.patient(unit="hsv")
    with database.session() as s:
        p = s.get(Patient, pid)
        p.latitude = p.longitude = None
    kim = as_user("kim")
    page = kim.get(f"/patients/{pid}/edit").text
    assert 'id="position"' in page and "Sök upp adressen igen" in page
    assert "Använd min position nu" in page and '<script src="/static/position.js"' in page
    # Look the address up again.
    r = kim.post(f"/patients/{pid}/position", data={"method": "lookup"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].endswith("done=position#position")
    assert _position(database, pid)[2:5] == ("postal_codes", "postal_code", "921 31 Lycksele")
    # At the door: what the phone measured (a Swedish phone may send a decimal comma).
    r = kim.post(f"/patients/{pid}/position",
                 data={"method": "device", "latitude": "64,60121", "longitude": "18,68013",
                       "accuracy_m": "12.4"}, follow_redirects=False)
    assert r.status_code == 303
    assert _position(database, pid) == (64.60121, 18.68013, "device", "door", None, 12)
    page = kim.get(f"/patients/{pid}/edit?done=position").text
    assert "Kartpositionen är uppdaterad." in page
    assert "<strong>Uppmätt vid dörren</strong> (± 12 m)" in page
    assert "Uppmätt med personalens telefon" in page
    assert _logged(database, pid, "patient.position") == ["lookup", "device"]


@pytest.mark.parametrize("data, field, message", [
    ({"method": "device", "latitude": "64.6", "longitude": "18.7", "accuracy_m": "900"},
     "accuracy_m", "Positionen är för osäker (± 900 m)"),
    ({"method": "device", "latitude": "59.91", "longitude": "10.75", "accuracy_m": "5"},
     "latitude", "Positionen ligger utanför Sverige"),
    ({"method": "device", "accuracy_m": "5"}, "latitude", "Din enhet gav ingen position"),
    ({"method": "device", "latitude": "64.6", "longitude": "18.7"}, "accuracy_m",
     "Positionen är för osäker (± ? m)"),
    ({"method": "teleport"}, "method", "Välj ett av alternativen"),
])
def test_a_doubtful_correction_changes_nothing(data, field, message, world, database, as_user):
    pid = world.patient(unit="med")
    sara = as_user("sara")
    before = _position(database, pid)
    page = sara.post(f"/patients/{pid}/position", data=data)
    assert page.status_code == 422
    assert "Kartpositionen ändrades inte." in page.text and message in page.text
    r = sara.post(f"/api/v1/patients/{pid}/position", json=data)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == field
    assert _position(database, pid) == before
    assert _logged(database, pid, "patient.position") == []


def test_a_lookup_that_finds_nothing_keeps_the_position(world, database, as_user):
    pid = world.patient(unit="med")
    with database.session() as s:
        p = s.get(Patient, pid)
        p.postal_code, p.city = None, "Ingenstans"
    sara = as_user("sara")
    before = _position(database, pid)
    r = sara.post(f"/api/v1/patients/{pid}/position", json={"method": "lookup"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "street"
    page = sara.post(f"/patients/{pid}/position", data={"method": "lookup"})
    assert page.status_code == 422 and "Ingen position hittades för adressen" in page.text
    assert _position(database, pid) == before
    r = sara.post(f"/api/v1/patients/{pid}/position",
                  json={"method": "device", "latitude": 64.6, "longitude": 18.7,
                        "accuracy_m": 30})
    assert r.status_code == 200 and r.json()["position_precision"] == "door"


def test_only_the_care_team_corrects_a_position_and_not_in_an_emergency(world, database,
                                                                        as_user):
    pid = world.patient(unit="med")
    world.emergency(pid, "hugo")  # read-only access
    before = _position(database, pid)
    hugo, kim = as_user("hugo"), as_user("kim")
    assert hugo.get(f"/patients/{pid}").status_code == 200
    door = {"method": "device", "latitude": 64.6, "longitude": 18.7, "accuracy_m": 10}
    for client in (hugo, kim):
        assert client.post(f"/patients/{pid}/position", data=door).status_code == 404
        assert client.post(f"/api/v1/patients/{pid}/position", json=door).status_code == 404
    assert _position(database, pid) == before
    assert _logged(database, pid, "patient.position") == []


def test_geolocation_is_allowed_to_our_own_pages_only(client, world):
    policy = client.get("/login").headers["permissions-policy"]
    assert "geolocation=(self)" in policy and "camera=()" in policy
    script = client.get("/static/position.js")
    assert script.status_code == 200 and "getCurrentPosition" in script.text


def test_a_patient_registered_with_only_an_address_is_planned(world, database, as_user):
    """Before addresses were looked up, the planner left such a patient's visits out:
    "the address has no map position"."""
    kim = as_user("kim")
    r = kim.post("/api/v1/patients", json=_new(street="Skolgatan 3", postal_code="921 34",
                                               city="Lycksele"))
    assert r.status_code == 201
    d = Day(world, database, local_today() + timedelta(days=1))
    d.patients.append(uuid.UUID(r.json()["id"]))
    visit = d.visit(len(d.patients) - 1, "09:00", "12:00")
    d.plan()
    assert (visit, 0) in d.assignments()
    assert not d.view().unplanned
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(VisitAssignment)
                        .where(VisitAssignment.visit_id == visit)) == 1
