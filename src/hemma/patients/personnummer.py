"""Swedish personal identity numbers (personnummer, Skatteverket SKV 704) and coordination
numbers (samordningsnummer, day of birth + 60), validated by date and Luhn check digit."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

# ASCII digits only: Python's \d also matches full-width and Arabic-Indic digits, which
# would make a second record of the same person (and a birth year such as 947).
_PATTERN = re.compile(r"^([0-9]{2})?([0-9]{2})([0-9]{2})([0-9]{2})([-+]?)([0-9]{3})([0-9])$")
# Nobody born before this is alive to be cared for; an earlier date is a typo.
EARLIEST_BIRTH = date(1890, 1, 1)


class InvalidPersonnummer(ValueError):
    pass


@dataclass(frozen=True)
class Identity:
    number: str  # twelve digits, YYYYMMDDNNNC
    birth_date: date
    coordination: bool

    @property
    def formatted(self) -> str:
        return f"{self.number[:8]}-{self.number[8:]}"


def luhn_check_digit(nine_digits: str) -> int:
    total = 0
    for i, ch in enumerate(nine_digits):
        product = int(ch) * (2 if i % 2 == 0 else 1)
        total += product - 9 if product > 9 else product
    return (10 - total % 10) % 10


def parse(value: str, *, today: date | None = None) -> Identity:
    """Accepts YYYYMMDD-NNNN, YYYYMMDDNNNN, YYMMDD-NNNN and YYMMDD+NNNN (aged 100 or more)."""
    raw = (value or "").strip().replace(" ", "")
    m = _PATTERN.match(raw)
    if not m:
        raise InvalidPersonnummer("Enter 12 digits: YYYYMMDD-NNNN")
    century, yy, mm, dd, sep, serial, check = m.groups()
    if century is None:
        today = today or date.today()
        year = 2000 + int(yy)
        if year > today.year:
            year -= 100
        if sep == "+":
            year -= 100
    else:
        if sep == "+":
            raise InvalidPersonnummer("Use '-' with a four-digit year")
        year = int(century + yy)
    day = int(dd)
    coordination = day > 60
    if coordination:
        day -= 60
    try:
        born = date(year, int(mm), day)
    except ValueError:
        raise InvalidPersonnummer("The date of birth does not exist") from None
    if born > (today or date.today()):
        raise InvalidPersonnummer("The date of birth is in the future")
    if born < EARLIEST_BIRTH:
        raise InvalidPersonnummer("The date of birth is before 1890")
    if luhn_check_digit(f"{yy}{mm}{dd}{serial}") != int(check):
        raise InvalidPersonnummer("The check digit is wrong")
    return Identity(number=f"{year:04d}{mm}{dd}{serial}{check}", birth_date=born,
                    coordination=coordination)


def format_number(number: str) -> str:
    return f"{number[:8]}-{number[8:]}" if len(number) == 12 else number


def make(born: date, serial: int, *, coordination: bool = False) -> str:
    """A valid number for a date and a three-digit serial (demo data and tests)."""
    day = born.day + (60 if coordination else 0)
    nine = f"{born:%y%m}{day:02d}{serial:03d}"
    return f"{born.year:04d}{born:%m}{day:02d}{serial:03d}{luhn_check_digit(nine)}"
