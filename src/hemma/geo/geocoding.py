"""Looking up where an address is, for planning visits to it.

`Geocoder.lookup(address)` asks a geocoding service first when one is configured
(HEMMA_GEOCODER_URL: Nominatim, or anything that answers its search API the same way, e.g. a
server the region runs on OpenStreetMap data), and falls back to the bundled table of Swedish
postal codes (`postal_codes`). A service that is down, slow or answers nonsense costs one
short time-out, after which it is left alone for a minute: registering a patient never waits
on it, and never fails because of it.

Every position says where it came from (`source`) and how near the house it is
(`precision`), so that a page can tell a nurse whether it is the house or the middle of the
village. Only the address is sent to the service, never who lives there.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Protocol

from hemma.geo.postal_codes import PostalCodes, bundled, place_key, spaced

log = logging.getLogger("hemma.geo")

# Sweden's bounding box: a position outside it is a typo or swapped latitude and longitude.
LATITUDE_RANGE = (55.0, 69.1)
LONGITUDE_RANGE = (10.9, 24.2)

# Where a position came from.
SOURCES = (
    "geocoder",  # the geocoding service found the address
    "postal_codes",  # the bundled table: the centre of the postal code's (or village's) locality
    "device",  # measured by a staff member's phone at the door
    "system",  # given as coordinates by another system (or recorded before lookups existed)
)
# How near the house it is, nearest first.
PRECISIONS = (
    "door",  # measured at the door
    "address",  # the house
    "street",  # the street, not the house
    "locality",  # the centre of the village or town
    "postal_code",  # the centre of the postal code's locality
)
APPROXIMATE = frozenset({"locality", "postal_code"})


def in_sweden(latitude: float, longitude: float) -> bool:
    return (LATITUDE_RANGE[0] <= latitude <= LATITUDE_RANGE[1]
            and LONGITUDE_RANGE[0] <= longitude <= LONGITUDE_RANGE[1])


def _clean(value: str | None) -> str | None:
    value = " ".join((value or "").split()).strip(" ,")
    return value or None


_POSTAL = re.compile(r"(?<!\d)(\d{3})\s?(\d{2})(?!\d)")


@dataclass(frozen=True)
class Address:
    street: str | None = None
    postal_code: str | None = None
    city: str | None = None

    def normalised(self) -> Address:
        """Blank parts as None; a whole address typed into the street field (with no postal
        code or city of its own) split into its parts."""
        street, code, city = _clean(self.street), _clean(self.postal_code), _clean(self.city)
        if street and not code and not city:
            parsed = parse_address(street)
            street, code, city = parsed.street, parsed.postal_code, parsed.city
        return Address(street, code, city)

    def is_empty(self) -> bool:
        return not (self.street or self.postal_code or self.city)


def parse_address(text: str | None) -> Address:
    """One line as written in Sweden: "Storgatan 5, 921 31 Lycksele", "Storgatan 5,
    Lycksele", "921 31 Lycksele" or just a street."""
    text = _clean(text)
    if not text:
        return Address()
    match = _POSTAL.search(text)
    if match:
        return Address(_clean(text[:match.start()]), f"{match.group(1)} {match.group(2)}",
                       _clean(text[match.end():]))
    if "," in text:
        street, city = text.rsplit(",", 1)
        return Address(_clean(street), None, _clean(city))
    return Address(text, None, None)


@dataclass(frozen=True)
class Position:
    latitude: float
    longitude: float
    source: str
    precision: str | None  # None: not known (coordinates another system sent)
    place: str | None = None  # what it was found as, shown to staff ("921 31 Lycksele")

    @property
    def approximate(self) -> bool:
        return self.precision in APPROXIMATE


class Unavailable(Exception):
    """The service gave no usable answer (down, too slow, an error, or nonsense)."""


class AddressLookup(Protocol):
    def lookup(self, address: Address) -> Position | None:
        """Where the address is, None if it is not known; Unavailable if the source failed."""


def _precision(result: dict) -> str | None:
    """How near the house a Nominatim result is, from its kind and its place rank (30 a
    house, 26-27 a street, 16-25 a town, village, hamlet or part of one); None when it is
    coarser than a locality (a municipality, a county) and no better than the table."""
    if result.get("addresstype") == "postcode" or result.get("type") == "postcode":
        return "postal_code"
    try:
        rank = int(result.get("place_rank"))
    except (TypeError, ValueError):
        return None
    if rank >= 28:
        return "address"
    if rank >= 26:
        return "street"
    if rank >= 16:
        return "locality"
    return None


class Nominatim:
    """A geocoding service's structured search (Nominatim's `/search`), restricted to Sweden.
    Time-outs are short on purpose: the table answers at once when the service does not."""

    def __init__(self, base_url: str, timeout: float = 2.0, client=None):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.client = client

    def lookup(self, address: Address) -> Position | None:
        import httpx

        params = {"format": "jsonv2", "countrycodes": "se", "limit": "1"}
        for name, value in (("street", address.street), ("postalcode", address.postal_code),
                            ("city", address.city)):
            if value:
                params[name] = value
        if len(params) == 3:
            return None
        client = self.client or httpx
        try:
            response = client.get(f"{self.base_url}/search", params=params, timeout=self.timeout,
                                  headers={"User-Agent": "Hemma (care at home; visit planning)",
                                           "Accept-Language": "sv"})
            response.raise_for_status()
            results = response.json()
        except httpx.HTTPStatusError as exc:
            # Not the error's own text: it quotes the URL, and the URL is the address.
            raise Unavailable(f"HTTP {exc.response.status_code}") from None
        except (httpx.HTTPError, ValueError) as exc:
            raise Unavailable(f"{type(exc).__name__}: {exc}") from None
        if not isinstance(results, list):
            raise Unavailable("the answer is not a list of places")
        if not results:
            return None
        first = results[0]
        try:
            latitude, longitude = float(first["lat"]), float(first["lon"])
        except (KeyError, TypeError, ValueError):
            raise Unavailable("a place without a usable position") from None
        precision = _precision(first)
        if precision is None or not in_sweden(latitude, longitude):
            return None
        place = first.get("display_name")
        return Position(latitude, longitude, "geocoder", precision,
                        place[:200] if isinstance(place, str) else None)


class PostalTable:
    """The bundled table. The city field usually holds the postal code's own locality; when
    it names another village in the table near the postal code's (or the postal code is
    unknown), the village is the better guess: rural postal codes are named after the town
    their mail goes through, and their table position is that town's centre."""

    def __init__(self, table: PostalCodes | None = None):
        self._table = table

    @property
    def table(self) -> PostalCodes:
        if self._table is None:
            self._table = bundled()
        return self._table

    def lookup(self, address: Address) -> Position | None:
        entry = self.table.by_code(address.postal_code)
        city = address.city
        if entry is not None:
            if city and place_key(city) != place_key(entry.place):
                village = self.table.by_place(city, near=entry.point)
                if village is not None:
                    return Position(village.latitude, village.longitude, "postal_codes",
                                    "locality", village.name)
            return Position(entry.latitude, entry.longitude, "postal_codes", "postal_code",
                            f"{spaced(entry.postal_code)} {entry.place}")
        village = self.table.by_place(city)
        if village is not None:
            return Position(village.latitude, village.longitude, "postal_codes", "locality",
                            village.name)
        return None


class Geocoder:
    """The service first (when there is one), then the table. After a failure the service is
    not asked again for `pause_seconds`, so a dead service costs one time-out a minute rather
    than one per patient saved."""

    def __init__(self, service: AddressLookup | None = None, table: PostalTable | None = None,
                 pause_seconds: float = 60.0, clock: Callable[[], float] = time.monotonic):
        self.service = service
        self.table = table or PostalTable()
        self.pause_seconds = pause_seconds
        self.clock = clock
        self._paused_until = float("-inf")

    def lookup(self, address: Address) -> Position | None:
        address = address.normalised()
        if address.is_empty():
            return None
        if self.service is not None and self.clock() >= self._paused_until:
            try:
                found = self.service.lookup(address)
            except Unavailable as exc:
                # The reason only: an address is personal data and stays out of the log.
                log.warning("geocoding service unavailable, using the postal-code table: %s", exc)
                self._paused_until = self.clock() + self.pause_seconds
            else:
                if found is not None:
                    return found
        return self.table.lookup(address)


@cache
def offline() -> Geocoder:
    """The bundled table alone (no service)."""
    return Geocoder()


def geocoder_for(url: str | None) -> Geocoder:
    """The configured lookup: the service at HEMMA_GEOCODER_URL (if set), then the table."""
    return Geocoder(Nominatim(url) if url else None)


def measured(latitude: float, longitude: float) -> Position:
    """A position measured at the door."""
    return Position(latitude, longitude, "device", "door")


def given(latitude: float, longitude: float) -> Position:
    """Coordinates another system sent (how near the house they are, it does not say)."""
    return Position(latitude, longitude, "system", None)

