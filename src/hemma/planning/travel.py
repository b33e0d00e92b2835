"""Travel times and distances between places, for the planner.

The default needs no map: the great-circle distance between two coordinates, times a road
factor (roads wind: in the inland of Västerbotten a drive is about a quarter longer than the
straight line), driven at a speed that depends on the trip (the first kilometres through a
village or town slowly, the rest at rural-road speed), plus a fixed few minutes to park and
reach the door. It is documented and deliberately simple; where a real road-routing service is
available, `Osrm` asks its table API instead (HEMMA_OSRM_URL). Either way matrices are cached:
a day's places are asked for again and again while a planner moves visits around.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol

EARTH_RADIUS_KM = 6371.0088  # the mean radius (IUGG)

Point = tuple[float, float]  # (latitude, longitude) in degrees


@dataclass(frozen=True)
class SpeedProfile:
    """How one kind of trip is driven (or walked)."""

    name: str
    road_factor: float  # road distance / straight-line distance
    town_km: float  # the first km of a trip (through a village or town) ...
    town_kmh: float  # ... at this speed
    road_kmh: float  # the rest at this speed
    door_minutes: float  # parking and walking to the door, per trip


# Rural Sweden: 70-90 km/h roads between villages averaging ~75 with curves and junctions,
# 30-40 km/h through the villages; in towns short trips wind more. For scale: Lycksele-Umeå is
# 115 km in a straight line and ~133 km by road (a factor of 1.16), driven in about 1 h 35 min;
# this model says 138 km and just under 2 h, cautious on purpose (winter, a patient's gravel
# road). An estimate, not a law of nature: a routing service does better where there is one.
PROFILES: dict[str, SpeedProfile] = {
    "car": SpeedProfile("car", road_factor=1.2, town_km=4.0, town_kmh=35.0, road_kmh=75.0,
                        door_minutes=3.0),
    "car-town": SpeedProfile("car-town", road_factor=1.35, town_km=10.0, town_kmh=30.0,
                             road_kmh=60.0, door_minutes=4.0),
    "walk": SpeedProfile("walk", road_factor=1.3, town_km=100.0, town_kmh=4.5, road_kmh=4.5,
                         door_minutes=1.0),
}


def great_circle_km(a: Point, b: Point) -> float:
    """The haversine distance in km."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (math.sin((lat2 - lat1) / 2) ** 2
         + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2)
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def estimate(a: Point, b: Point, profile: SpeedProfile) -> tuple[float, float]:
    """(minutes, road km) from a to b by the default model; 0 for the same place."""
    road = great_circle_km(a, b) * profile.road_factor
    if road < 0.01:
        return 0.0, 0.0
    slow = min(road, profile.town_km)
    minutes = (profile.door_minutes + slow / profile.town_kmh * 60
               + (road - slow) / profile.road_kmh * 60)
    return minutes, road


class TravelSource(Protocol):
    def matrices(self, points: list[Point], profile: str) -> tuple[list[list[float]],
                                                                   list[list[float]]]:
        """(minutes, km) between every pair of points, row = from."""


class CrowFlies:
    """The default: straight lines, a road factor and a speed profile (no service needed)."""

    def matrices(self, points: list[Point], profile: str):
        p = PROFILES[profile]
        pairs = [[estimate(a, b, p) for b in points] for a in points]
        return ([[m for m, _ in row] for row in pairs], [[km for _, km in row] for row in pairs])


class Osrm:
    """A road-routing service's table API (OSRM's `/table/v1/{profile}`), e.g. a server run
    by the region on OpenStreetMap data. Its durations are in seconds and distances in metres;
    the door minutes of our profile are added (OSRM stops at the road)."""

    def __init__(self, base_url: str, timeout: float = 10.0, client=None):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.client = client

    def matrices(self, points: list[Point], profile: str):
        import httpx

        coords = ";".join(f"{lon:.6f},{lat:.6f}" for lat, lon in points)
        service = "foot" if profile == "walk" else "driving"
        url = f"{self.base_url}/table/v1/{service}/{coords}"
        client = self.client or httpx
        response = client.get(url, params={"annotations": "duration,distance"},
                              timeout=self.timeout)
        response.raise_for_status()
        data = response.json()
        if data.get("code") != "Ok":
            raise RuntimeError(f"routing service: {data.get('code')} {data.get('message', '')}")
        door = PROFILES[profile].door_minutes
        minutes = [[0.0 if i == j else (s or 0) / 60 + door for j, s in enumerate(row)]
                   for i, row in enumerate(data["durations"])]
        km = [[(m or 0) / 1000 for m in row] for row in data["distances"]]
        return minutes, km


class Cached:
    """Remembers the matrices of the last `size` sets of places (per profile)."""

    def __init__(self, source: TravelSource, size: int = 64):
        self.source, self.size = source, size
        self._cache: OrderedDict[tuple, tuple] = OrderedDict()
        self.hits = self.misses = 0

    def matrices(self, points: list[Point], profile: str):
        key = (profile, tuple((round(a, 6), round(b, 6)) for a, b in points))
        if key in self._cache:
            self._cache.move_to_end(key)
            self.hits += 1
            return self._cache[key]
        self.misses += 1
        result = self.source.matrices(points, profile)
        self._cache[key] = result
        if len(self._cache) > self.size:
            self._cache.popitem(last=False)
        return result


def source_for(osrm_url: str | None) -> Cached:
    """The configured source: the routing service when HEMMA_OSRM_URL is set, else straight
    lines; cached either way."""
    return Cached(Osrm(osrm_url) if osrm_url else CrowFlies())
