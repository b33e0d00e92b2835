"""Personnummer and samordningsnummer: date and Luhn check digit."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hemma.patients.personnummer import InvalidPersonnummer, luhn_check_digit, make, parse

TODAY = date(2026, 11, 30)


@pytest.mark.parametrize("text,number", [
    ("19121212-1212", "191212121212"),   # Skatteverket's well-known example, Tolvan
    ("191212121212", "191212121212"),
    ("121212-1212", "201212121212"),     # short form, '-' means under 100
    ("121212+1212", "191212121212"),     # '+' means 100 or older
    (" 19121212 - 1212 ".replace(" ", ""), "191212121212"),
])
def test_accepted_forms(text, number):
    assert parse(text, today=TODAY).number == number


def test_samordningsnummer_has_day_plus_60():
    number = make(date(1950, 3, 7), 123, coordination=True)
    identity = parse(number, today=TODAY)
    assert identity.coordination and identity.birth_date == date(1950, 3, 7)
    assert number[6:8] == "67"


@pytest.mark.parametrize("text,reason", [
    ("19121212-1213", "check digit"),
    ("19121312-1212", "does not exist"),   # month 13
    ("19230230-1234", "does not exist"),   # 30 February
    ("20991212-1212", "future"),
    ("1912121-21212", "12 digits"),
    ("abc", "12 digits"),
    ("", "12 digits"),
    ("19121212+1212", "four-digit year"),
    # Full-width and Arabic-Indic digits are digits to Python, not to Skatteverket.
    ("１９１２１２１２－１２１２", "12 digits"),
    ("\uff11\uff19\uff11\uff12\uff11\uff12\uff11\uff12-1212", "12 digits"),
    ("\u0661\u0669\u0661\u0662\u0661\u0662\u0661\u0662-1212", "12 digits"),
    ("09471212-1212", "before 1890"),
    ("18891231-1212", "before 1890"),
])
def test_refused(text, reason):
    with pytest.raises(InvalidPersonnummer, match=reason):
        parse(text, today=TODAY)


@given(st.dates(min_value=date(1900, 1, 1), max_value=TODAY), st.integers(0, 999),
       st.booleans())
def test_every_made_number_parses_back(born, serial, coordination):
    number = make(born, serial, coordination=coordination)
    identity = parse(number, today=TODAY)
    assert identity.number == number
    assert identity.birth_date == born and identity.coordination == coordination


@given(st.dates(min_value=date(1900, 1, 1), max_value=TODAY), st.integers(0, 999),
       st.integers(1, 9))
def test_any_wrong_check_digit_is_caught(born, serial, delta):
    number = make(born, serial)
    wrong = number[:-1] + str((int(number[-1]) + delta) % 10)
    with pytest.raises(InvalidPersonnummer):
        parse(wrong, today=TODAY)


def test_luhn_on_the_ten_digit_form():
    assert luhn_check_digit("811218987") == 6  # 811218-9876, a common documentation example


def test_the_future_is_refused_without_being_told_today():
    with pytest.raises(InvalidPersonnummer, match="future"):
        parse(make(date(2199, 1, 1), 1))


def test_a_non_ascii_number_registers_nothing(world, database, as_user):
    from sqlalchemy import func, select

    from hemma.models import Patient

    sara = as_user("sara")
    r = sara.post("/api/v1/patients", json={
        "personnummer": "\u0661\u0669\u0664\u0661\u0660\u0663\u0661\u0664-0005",
        "given_name": "A", "family_name": "B"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "personnummer"
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(Patient)) == 0
