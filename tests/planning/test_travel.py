"""Travel times: the documented straight-line model, the routing-service client (against a
stand-in for the external service on loopback), and the cache."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from hemma.planning.travel import (
    PROFILES,
    Cached,
    CrowFlies,
    Osrm,
    estimate,
    great_circle_km,
    source_for,
)

LYCKSELE = (64.5954, 18.6735)
UMEA = (63.8258, 20.2630)
BJORKSELE = (64.9833, 19.3500)


def test_great_circle_distances():
    assert great_circle_km(LYCKSELE, UMEA) == pytest.approx(115.0, abs=0.5)
    assert great_circle_km(LYCKSELE, LYCKSELE) == 0
    assert great_circle_km(LYCKSELE, UMEA) == pytest.approx(great_circle_km(UMEA, LYCKSELE))


def test_the_model_is_cautious_and_sensible():
    car = PROFILES["car"]
    minutes, km = estimate(LYCKSELE, UMEA, car)
    assert 130 < km < 145  # ~133 km by road
    assert 95 < minutes < 125  # ~1 h 35 min by car; cautious
    near, _ = estimate(LYCKSELE, (64.5850, 18.6800), car)  # across town
    assert 3 < near < 10
    walk, _ = estimate(LYCKSELE, (64.5850, 18.6800), PROFILES["walk"])
    assert walk > near
    assert estimate(LYCKSELE, LYCKSELE, car) == (0.0, 0.0)
    minutes, km = CrowFlies().matrices([LYCKSELE, UMEA, BJORKSELE], "car")
    assert [minutes[i][i] for i in range(3)] == [0, 0, 0]
    assert minutes[0][1] == pytest.approx(minutes[1][0])
    assert km[0][2] < km[0][1]  # Björksele is nearer Lycksele than Umeå is


class _FakeOsrm(BaseHTTPRequestHandler):
    """Answers like OSRM's table service (seconds and metres); records what it was asked."""

    asked: list[str] = []
    code = "Ok"

    def do_GET(self):  # noqa: N802 (the http.server name)
        type(self).asked.append(self.path)
        coords = self.path.split("/table/v1/")[1].split("?")[0].split("/", 1)[1].split(";")
        n = len(coords)
        body = {"code": type(self).code, "message": "no route",
                "durations": [[0 if i == j else 600 * abs(i - j) for j in range(n)]
                              for i in range(n)],
                "distances": [[0 if i == j else 9000 * abs(i - j) for j in range(n)]
                              for i in range(n)]}
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def osrm():
    server = HTTPServer(("127.0.0.1", 0), _FakeOsrm)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _FakeOsrm.asked, _FakeOsrm.code = [], "Ok"
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_routing_service_is_asked_for_the_table(osrm):
    minutes, km = Osrm(osrm).matrices([LYCKSELE, UMEA, BJORKSELE], "car")
    (path,) = _FakeOsrm.asked
    # Longitude first, as the service wants it; durations and distances both.
    assert path.startswith("/table/v1/driving/18.673500,64.595400;20.263000,63.825800;")
    assert "annotations=duration%2Cdistance" in path
    door = PROFILES["car"].door_minutes
    assert minutes[0][1] == pytest.approx(10 + door) and minutes[1][1] == 0
    assert km[0][2] == pytest.approx(18)
    _FakeOsrm.code = "NoRoute"
    with pytest.raises(RuntimeError, match="NoRoute"):
        Osrm(osrm).matrices([LYCKSELE, UMEA], "walk")
    assert "/table/v1/foot/" in _FakeOsrm.asked[-1]


def test_matrices_are_cached(osrm):
    source = source_for(osrm)
    points = [LYCKSELE, UMEA]
    first = source.matrices(points, "car")
    assert source.matrices(points, "car") == first
    assert len(_FakeOsrm.asked) == 1 and (source.hits, source.misses) == (1, 1)
    source.matrices(points, "walk")  # another profile is another matrix
    assert len(_FakeOsrm.asked) == 2
    small = Cached(CrowFlies(), size=1)
    small.matrices(points, "car")
    small.matrices([UMEA], "car")
    small.matrices(points, "car")
    assert small.misses == 3  # the oldest was forgotten
    assert isinstance(source_for(None).source, CrowFlies)
