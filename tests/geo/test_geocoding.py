"""Looking addresses up: the geocoding service's client (against a stand-in for the service
on loopback, started by the test), the bundled postal-code table, and the fallback from one
to the other when the service fails."""

from __future__ import annotations

import gzip
import socket

import pytest

from hemma.demo import VILLAGES
from hemma.geo import postal_codes
from hemma.geo.geocoding import (
    Address,
    Geocoder,
    Nominatim,
    PostalTable,
    Unavailable,
    geocoder_for,
    parse_address,
)
from hemma.geo.postal_codes import DATA, PostalCodes, bundled, distance_km
from tests.geo.nominatim import serve

STORGATAN = Address("Storgatan 12", "921 31", "Lycksele")


@pytest.fixture
def nominatim():
    with serve() as fake:
        yield fake


def test_the_service_is_asked_a_structured_question_about_sweden(nominatim):
    nominatim.add("Storgatan 12", "921 31", "Lycksele", 64.5962, 18.6759)
    found = Nominatim(nominatim.url).lookup(STORGATAN)
    (asked,) = nominatim.asked
    assert asked == {"path": "/search", "format": "jsonv2", "countrycodes": "se", "limit": "1",
                     "street": "Storgatan 12", "postalcode": "921 31", "city": "Lycksele"}
    assert (found.latitude, found.longitude) == (64.5962, 18.6759)
    assert (found.source, found.precision) == ("geocoder", "address")
    assert found.place.startswith("Storgatan 12, Lycksele") and not found.approximate
    # Parts left blank are not sent; nothing at all is not asked.
    Nominatim(nominatim.url).lookup(Address(None, "921 31", None))
    assert nominatim.asked[-1] == {"path": "/search", "format": "jsonv2", "countrycodes": "se",
                                   "limit": "1", "postalcode": "921 31"}
    assert Nominatim(nominatim.url).lookup(Address()) is None and len(nominatim.asked) == 2


def test_the_precision_follows_what_the_service_found(nominatim):
    nominatim.add("Byvägen 3", None, "Rusksele", 64.82, 18.92, rank=26, kind="road")
    nominatim.add("Skogsvägen 1", None, "Knaften", 64.64, 19.11, rank=19, kind="village")
    nominatim.add(None, "921 99", None, 64.43, 18.39, rank=21, kind="postcode")
    nominatim.add("Myrvägen 2", None, "Lycksele", 64.6, 18.7, rank=12, kind="municipality")
    nominatim.add("Norrvägen 1", None, "Oslo", 59.91, 10.75)  # not in Sweden
    service = Nominatim(nominatim.url)
    assert service.lookup(Address("Byvägen 3", None, "Rusksele")).precision == "street"
    assert service.lookup(Address("Skogsvägen 1", None, "Knaften")).precision == "locality"
    assert service.lookup(Address(None, "921 99", None)).precision == "postal_code"
    # A whole municipality, or a place abroad, is no answer: the table does better.
    assert service.lookup(Address("Myrvägen 2", None, "Lycksele")) is None
    assert service.lookup(Address("Norrvägen 1", None, "Oslo")) is None
    assert service.lookup(Address("Okändvägen 1", None, "Lycksele")) is None


def test_a_failing_service_is_unavailable(nominatim):
    service = Nominatim(nominatim.url)
    nominatim.mode = "error"
    with pytest.raises(Unavailable, match="503") as caught:
        service.lookup(STORGATAN)
    # The reason is logged: not the URL the error quotes, which holds the address.
    assert "Storgatan" not in str(caught.value) and "search" not in str(caught.value)
    nominatim.mode = "nonsense"
    with pytest.raises(Unavailable):
        service.lookup(STORGATAN)


def test_a_service_that_does_not_answer_times_out(nominatim):
    nominatim.mode = "hang"  # it answers only when the test ends
    with pytest.raises(Unavailable, match="Timeout"):
        Nominatim(nominatim.url, timeout=0.2).lookup(STORGATAN)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_without_the_service_the_table_answers_and_the_service_is_left_alone(nominatim):
    now = [0.0]
    geocoder = Geocoder(Nominatim(nominatim.url), pause_seconds=60, clock=lambda: now[0])
    nominatim.mode = "error"
    found = geocoder.lookup(STORGATAN)
    assert (found.source, found.precision, found.place) == ("postal_codes", "postal_code",
                                                            "921 31 Lycksele")
    assert found.approximate and len(nominatim.asked) == 1
    # For a minute the service is not asked again: a dead service costs one time-out.
    now[0] = 59
    assert geocoder.lookup(STORGATAN).source == "postal_codes" and len(nominatim.asked) == 1
    now[0] = 61
    nominatim.mode = "ok"
    nominatim.add("Storgatan 12", "921 31", "Lycksele", 64.5962, 18.6759)
    assert geocoder.lookup(STORGATAN).source == "geocoder" and len(nominatim.asked) == 2
    # What the service does not know, the table may.
    assert geocoder.lookup(Address("Okändvägen 1", "921 31", "Lycksele")).source == "postal_codes"
    # Nobody listening at all.
    dead = Geocoder(Nominatim(f"http://127.0.0.1:{_closed_port()}", timeout=0.5))
    assert dead.lookup(STORGATAN).source == "postal_codes"
    assert geocoder_for(None).service is None
    assert isinstance(geocoder_for(nominatim.url).service, Nominatim)


def test_the_table_places_postal_codes_and_villages():
    table = PostalTable()
    found = table.lookup(Address("Storgatan 12", "92131", "LYCKSELE"))
    assert (found.latitude, found.longitude, found.place) == (64.5954, 18.6735, "921 31 Lycksele")
    assert found.precision == "postal_code"
    # A village typed as the city, near its postal code's town, is the better guess: rural
    # postal codes are named after the town (921 94 is Rusksele's, Björksele is 920 41).
    found = table.lookup(Address("Byvägen 3", "921 94", "Björksele"))
    assert (found.place, found.precision) == ("Björksele", "locality")
    assert distance_km((found.latitude, found.longitude), (64.9833, 18.5)) < 0.1
    # A village of that name hundreds of kilometres away is not it: the postal code wins.
    found = table.lookup(Address("Byvägen 3", "921 31", "Sandviken"))
    assert found.place == "921 31 Lycksele"
    # Without a (known) postal code, a locality's name alone.
    assert table.lookup(Address("Storgatan 1", None, "Örträsk")).place == "Örträsk"
    assert table.lookup(Address("Storgatan 1", "999 99", "Umeå")).precision == "locality"
    # Nothing to go on.
    assert table.lookup(Address("Storgatan 1", None, None)) is None
    assert table.lookup(Address("Storgatan 1", "999 99", "Ingenstans")) is None


def test_a_whole_address_typed_on_one_line_is_understood():
    assert parse_address("Storgatan 5, 921 31 Lycksele") == Address("Storgatan 5", "921 31",
                                                                    "Lycksele")
    assert parse_address("Storgatan 5 92131 Lycksele") == Address("Storgatan 5", "921 31",
                                                                  "Lycksele")
    assert parse_address("Storgatan 5, Lycksele") == Address("Storgatan 5", None, "Lycksele")
    assert parse_address("921 94 Rusksele") == Address(None, "921 94", "Rusksele")
    assert parse_address("  Storgatan 5 ") == Address("Storgatan 5", None, None)
    assert parse_address("") == Address()
    # In the street field, with no postal code or city of their own.
    found = Geocoder().lookup(Address("Storgatan 5, 921 31 Lycksele", None, None))
    assert found.place == "921 31 Lycksele"


def test_the_bundled_table_covers_sweden_and_states_its_source():
    table = bundled()
    assert len(table) > 18_000
    for code, place in [("921 31", "Lycksele"), ("901 84", "Umeå"), ("111 20", "Stockholm"),
                        ("981 31", "Kiruna"), ("211 20", "Malmö"), ("920 40", "Kristineberg")]:
        assert table.by_code(code).place == place, code
    with gzip.open(DATA, "rt", encoding="utf-8") as fh:
        head = "".join(next(fh) for _ in range(8))
    assert "GeoNames" in head and "CC BY 4.0" in head and "zauberware" in head
    readme = (DATA.parent / "README.md").read_text()
    assert "GeoNames" in readme and "Attribution 4.0" in readme


def test_the_demo_area_is_in_the_table():
    """Every demo village's postal code is a real one, and the table places each village
    within the reach of a rural postal code of where the demo has it (Knaften is not in the
    table by name: its rural postal code puts it at Lycksele's centre)."""
    table, lookup = bundled(), PostalTable()
    for town, code, lat, lon in VILLAGES:
        assert table.by_code(code) is not None, code
        found = lookup.lookup(Address("Byvägen 1", code, town))
        assert found is not None, town
        assert distance_km((lat, lon), (found.latitude, found.longitude)) < 40, town


def test_the_table_is_rebuilt_from_the_source_byte_for_byte(tmp_path):
    source = tmp_path / "zipcodes.se.csv"
    source.write_text(
        "country_code,zipcode,place,state,state_code,province,province_code,community,"
        "community_code,latitude,longitude\n"
        'SE,921 31,Lycksele,Västerbotten,AC,Lycksele,2481,"","",64.5954,18.6735\n'
        'SE,920 41,Björksele,Västerbotten,AC,Lycksele,2481,"","",64.9833,18.5\n'
        "SE,bad,Nowhere,,,,,,,1,1\n", encoding="utf-8")
    first, second = tmp_path / "a.csv.gz", tmp_path / "b.csv.gz"
    assert postal_codes.build(source, first, "a test") == 2
    postal_codes.build(source, second, "a test")
    assert first.read_bytes() == second.read_bytes()
    table = PostalCodes.load(first)
    assert len(table) == 2 and table.by_code("92041").place == "Björksele"
    assert table.by_place("björksele").latitude == 64.9833
