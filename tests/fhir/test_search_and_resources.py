"""FHIR search parameters and the Patient resource (the pure core): dates as ranges with
their prefixes, in Swedish time when no offset is given; tokens; _count and _sort; cursors
that come back unchanged or are refused; the Patient validates and carries the Swedish
identifier systems."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hemma.fhir import resources, search
from hemma.fhir.search import SearchError
from tests.fhir.validate import assert_r4, r4_error


def _utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_a_day_in_swedish_time_with_each_prefix():
    # 2026-12-01 in Stockholm (CET) is 2026-11-30T23:00Z to 2026-12-01T23:00Z.
    start, end = _utc(2026, 11, 30, 23), _utc(2026, 12, 1, 23)
    assert search.date_range(["2026-12-01"]) == search.DateRange(start, end)
    assert search.date_range(["eq2026-12-01"]) == search.DateRange(start, end)
    assert search.date_range(["ge2026-12-01"]) == search.DateRange(start, None)
    assert search.date_range(["gt2026-12-01"]) == search.DateRange(end, None)
    assert search.date_range(["le2026-12-01"]) == search.DateRange(None, end)
    assert search.date_range(["lt2026-12-01"]) == search.DateRange(None, start)
    # Summer time: CEST, two hours.
    assert search.date_range(["ge2026-07-01"]).start == _utc(2026, 6, 30, 22)


def test_months_years_instants_and_two_parameters_together():
    assert search.date_range(["2026-12"]) == search.DateRange(_utc(2026, 11, 30, 23),
                                                              _utc(2026, 12, 31, 23))
    assert search.date_range(["2026"]).end == _utc(2026, 12, 31, 23)
    assert search.date_range(["ge2026-12-01T08:00:00+01:00"]).start == _utc(2026, 12, 1, 7)
    assert search.date_range(["ge2026-12-01T08:00:00Z"]).start == _utc(2026, 12, 1, 8)
    assert search.date_range(["ge2026-12-01T08:00"]).start == _utc(2026, 12, 1, 7)
    both = search.date_range(["ge2026-12-01", "lt2026-12-03"])
    assert both == search.DateRange(_utc(2026, 11, 30, 23), _utc(2026, 12, 2, 23))
    assert both.holds(_utc(2026, 12, 2, 22, 59)) and not both.holds(_utc(2026, 12, 2, 23))


@pytest.mark.parametrize("value", ["", "yesterday", "2026-13-01", "2026-02-30", "ne2026-12-01",
                                   "ap2026-12-01", "2026-12-01T25:00", "2026-12-01T08:00+1"])
def test_a_date_hemma_cannot_read_is_named(value):
    with pytest.raises(SearchError) as e:
        search.date_range([value], "date")
    assert e.value.parameter == "date"


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31),
                    timezones=st.just(UTC)), st.sampled_from(search.PREFIXES))
def test_an_instant_written_to_the_second_splits_time_exactly(moment, prefix):
    moment = moment.replace(microsecond=0)
    r = search.date_range([f"{prefix}{moment.strftime('%Y-%m-%dT%H:%M:%S')}Z"])
    second = timedelta(seconds=1)
    # (a second before, the instant itself, a second after) kept by each prefix.
    expected = {"eq": (False, True, False), "ge": (False, True, True),
                "gt": (False, False, True), "le": (True, True, False),
                "lt": (True, False, False)}[prefix]
    assert (r.holds(moment - second), r.holds(moment), r.holds(moment + second)) == expected


def test_tokens_count_sort_and_cursors():
    assert search.token("http://loinc.org|8310-5") == ("http://loinc.org", "8310-5")
    assert search.token("|8310-5") == ("", "8310-5")
    assert search.token("8310-5") == (None, "8310-5")
    assert search.count([]) == search.DEFAULT_COUNT
    assert search.count(["10"]) == 10 and search.count(["100000"]) == search.MAX_COUNT
    for bad in (["x"], ["-1"]):
        with pytest.raises(SearchError):
            search.count(bad)
    assert search.sort([], ("-date", "date")) == "-date"
    with pytest.raises(SearchError):
        search.sort(["name"], ("-date",))
    position = {"at": "2026-12-01T07:00:00+00:00", "row": str(uuid.uuid4()), "i": 3}
    assert search.decode_cursor(search.encode_cursor(position)) == position
    for bad in ("!!!", "bm90IGpzb24", search.encode_cursor([1, 2])):  # type: ignore[arg-type]
        with pytest.raises(SearchError):
            search.decode_cursor(bad)


def _patient(**kw):
    base = dict(id=uuid.uuid4(), personnummer="194103149805", is_coordination_number=False,
                birth_date=date(1941, 3, 14), given_name="Gunnel Maria", family_name="Lindgren",
                street="Backvägen 4", postal_code="92131", city="Lycksele", phone="070-174 06 05",
                email=None, language="sv", interpreter_needed=False)
    base.update(kw)
    return SimpleNamespace(**base)


def test_the_patient_carries_the_swedish_identifiers_and_validates():
    p = _patient()
    relative = SimpleNamespace(name="Lena Lindgren", relation="dotter", phone="070-1234567")
    r = resources.patient(p, [relative], version="3", last_updated="2026-12-04T08:00:00+00:00")
    assert_r4(r)
    assert r["identifier"] == [{"use": "official", "system": resources.PERSONNUMMER,
                                "value": "194103149805"}]
    assert r["name"][0]["given"] == ["Gunnel", "Maria"] and r["birthDate"] == "1941-03-14"
    assert r["meta"]["versionId"] == "3"
    assert r["contact"][0]["name"]["text"] == "Lena Lindgren"
    coordination = resources.patient(_patient(personnummer="194103749805",
                                              is_coordination_number=True, language="other",
                                              interpreter_needed=True, street=None,
                                              postal_code=None, city=None, phone=None))
    assert_r4(coordination)
    assert coordination["identifier"][0]["system"] == resources.SAMORDNINGSNUMMER
    assert "communication" not in coordination and "address" not in coordination
    assert coordination["extension"][0]["valueBoolean"] is True


def test_outcomes_and_bundles_validate():
    assert_r4(resources.outcome("Okänd parameter", expression="foo"))
    p = resources.patient(_patient())
    b = resources.bundle("searchset", [{"resource": p}], self_url="http://x/fhir/Patient",
                         next_url="http://x/fhir/Patient?_cursor=abc", total=1,
                         base="http://x/fhir/")
    assert_r4(b)
    assert b["entry"][0]["fullUrl"] == f"http://x/fhir/Patient/{p['id']}"
    assert [link["relation"] for link in b["link"]] == ["self", "next"]


def test_the_validators_refuse_what_r4_does_not_have():
    """The check cannot pass by checking nothing. fhir.resources' R4 models refuse an element
    R4 lacks, an id or a date out of R4's patterns, and a resource type only R4B and R5 have
    (they are R4's own); being pydantic 1, they coerce a number into a date, which
    fhirclient's models refuse, as they refuse an element R4 lacks: the two together."""
    from fhirclient.models import fhirelementfactory

    def fhirclient_refuses(resource: dict) -> bool:
        try:
            fhirelementfactory.FHIRElementFactory.instantiate(resource["resourceType"], resource)
        except Exception:  # noqa: BLE001 - fhirclient's own FHIRValidationError and others
            return True
        return False

    good = resources.patient(_patient())
    assert r4_error(good) is None and not fhirclient_refuses(good)
    for bad in ({**good, "nickname": "Gunsan"}, {**good, "id": "not_an_id"},
                {**good, "birthDate": "1941-13-01"}):
        assert r4_error(bad), bad
    for bad in ({**good, "nickname": "Gunsan"}, {**good, "birthDate": 1941}):
        assert fhirclient_refuses(bad), bad
    for bad in ({**good, "nickname": "Gunsan"}, {**good, "birthDate": 1941},
                {**good, "id": "not_an_id"}):
        with pytest.raises(Exception):  # noqa: B017 - either validator's own error
            assert_r4(bad)
    assert r4_error({"resourceType": "SubscriptionTopic", "status": "active",
                     "url": "http://example.org/topic"})
