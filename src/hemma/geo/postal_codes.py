"""The bundled table of Swedish postal codes (postnummer), the locality (postort) each belongs
to, and that locality's position: where an address is when no geocoding service answers.

The data is GeoNames' postal code data for Sweden (https://www.geonames.org, CC BY 4.0), as
republished in the repository zauberware/postal-codes-json-xml-csv; see data/README.md. Its
positions are the localities' centres, one per locality: a postal code tells the town or
village, not the house. In rural postal codes the houses can lie tens of kilometres from it.

`python -m hemma.geo.postal_codes zipcodes.se.csv` rebuilds the bundled file from a newer copy.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import math
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data" / "se_postal_codes.csv.gz"
COLUMNS = ["postal_code", "place", "latitude", "longitude"]
EARTH_RADIUS_KM = 6371.0088

# A village name typed in the city field is trusted over the postal code's locality only if
# it lies this near (the same name elsewhere in Sweden is another village).
NEAR_KM = 100.0
# Without a postal code, a name is taken only when its places agree this closely.
SAME_PLACE_KM = 15.0


def distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """The great-circle (haversine) distance between two (latitude, longitude) points."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (math.sin((lat2 - lat1) / 2) ** 2
         + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2)
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def digits(postal_code: str | None) -> str | None:
    """'921 31' -> '92131'; None unless it is five digits."""
    if not postal_code:
        return None
    code = re.sub(r"\s", "", postal_code)
    return code if re.fullmatch(r"\d{5}", code) else None


def spaced(code: str) -> str:
    """'92131' -> '921 31', as Swedish postal codes are written."""
    return f"{code[:3]} {code[3:]}"


def place_key(name: str) -> str:
    return " ".join(name.casefold().split())


@dataclass(frozen=True)
class Entry:
    postal_code: str  # five digits
    place: str
    latitude: float
    longitude: float

    @property
    def point(self) -> tuple[float, float]:
        return self.latitude, self.longitude


@dataclass(frozen=True)
class Place:
    name: str
    latitude: float
    longitude: float


class PostalCodes:
    def __init__(self, entries: list[Entry]):
        self._codes = {e.postal_code: e for e in entries}
        places: dict[str, dict[tuple[float, float], str]] = {}
        for e in entries:
            places.setdefault(place_key(e.place), {}).setdefault(e.point, e.place)
        self._places = {key: [Place(name, lat, lon) for (lat, lon), name in points.items()]
                        for key, points in places.items()}

    def __len__(self) -> int:
        return len(self._codes)

    @classmethod
    def load(cls, path: Path = DATA) -> PostalCodes:
        with gzip.open(path, "rt", encoding="utf-8", newline="") as fh:
            rows = csv.reader(line for line in fh if not line.startswith("#"))
            if next(rows) != COLUMNS:
                raise RuntimeError(f"{path}: expected the columns {COLUMNS}")
            return cls([Entry(code, place, float(lat), float(lon))
                        for code, place, lat, lon in rows])

    def by_code(self, postal_code: str | None) -> Entry | None:
        code = digits(postal_code)
        return self._codes.get(code) if code else None

    def by_place(self, name: str | None, near: tuple[float, float] | None = None) -> Place | None:
        """The locality of that name: the one nearest `near` (within NEAR_KM), or without
        `near` the one place the name means (all of its positions within SAME_PLACE_KM)."""
        if not name:
            return None
        candidates = self._places.get(place_key(name), [])
        if not candidates:
            return None
        if near is not None:
            best = min(candidates, key=lambda p: distance_km(near, (p.latitude, p.longitude)))
            return best if distance_km(near, (best.latitude, best.longitude)) <= NEAR_KM else None
        first = candidates[0]
        if all(distance_km((first.latitude, first.longitude), (p.latitude, p.longitude))
               <= SAME_PLACE_KM for p in candidates):
            return first
        return None


@cache
def bundled() -> PostalCodes:
    """The table shipped with Hemma (read once per process, ~19,000 codes)."""
    return PostalCodes.load()


def build(source: Path, out: Path, origin: str) -> int:
    """Write the bundled table from GeoNames' Swedish postal codes in the CSV layout of
    zauberware/postal-codes-json-xml-csv (zipcode, place, latitude, longitude among its
    columns): four columns, sorted by code, the source stated at the top. Deterministic, so
    a rebuild from the same source gives the same bytes."""
    with open(source, encoding="utf-8", newline="") as fh:
        rows = sorted(((digits(r["zipcode"]), r["place"].strip(), r["latitude"], r["longitude"])
                       for r in csv.DictReader(fh)), key=lambda r: r[0] or "")
    text = io.StringIO()
    text.write(
        "# Swedish postal codes (postnummer), the locality (postort) each belongs to, and the\n"
        "# locality's position (WGS84, degrees): the centre of the town or village, not of\n"
        "# any address in it.\n"
        "# Source: GeoNames postal code data for Sweden (https://www.geonames.org,\n"
        "# https://download.geonames.org/export/zip/), licensed CC BY 4.0\n"
        "# (https://creativecommons.org/licenses/by/4.0/).\n"
        f"# Taken from {origin}.\n"
        "# Reduced to four columns by `python -m hemma.geo.postal_codes`; no value changed.\n")
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(COLUMNS)
    count = 0
    for code, place, lat, lon in rows:
        if code is None or not place:
            continue
        writer.writerow([code, place, f"{float(lat):.4f}".rstrip("0").rstrip("."),
                         f"{float(lon):.4f}".rstrip("0").rstrip(".")])
        count += 1
    with open(out, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw,
                                               mtime=0) as gz:
        gz.write(text.getvalue().encode("utf-8"))
    return count


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=build.__doc__)
    parser.add_argument("source", type=Path, help="zipcodes.se.csv")
    parser.add_argument("--out", type=Path, default=DATA)
    parser.add_argument("--origin", required=True,
                        help="where the source came from, stated in the file")
    args = parser.parse_args(argv)
    print(f"{build(args.source, args.out, args.origin)} postal codes written to {args.out}")


if __name__ == "__main__":
    main()
