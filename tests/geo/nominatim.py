"""A stand-in for a geocoding service on loopback: answers Nominatim's structured search
(`/search?format=jsonv2&street=…`) from a dictionary of addresses, records what it was asked,
and can be made to fail (an error status, nonsense, or no answer at all)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class FakeNominatim:
    def __init__(self):
        # (street, postalcode, city) -> the service's results for it
        self.places: dict[tuple, list[dict]] = {}
        self.asked: list[dict[str, str]] = []
        self.mode = "ok"  # "ok", "error", "nonsense" or "hang"
        self.release = threading.Event()  # a hanging request answers when this is set
        self.url = ""

    def add(self, street, postalcode, city, lat, lon, *, rank=30, kind="house",
            name="Storgatan 12, Lycksele, Västerbottens län, 921 31, Sverige"):
        self.places[(street, postalcode, city)] = [{
            "place_id": len(self.places) + 1, "lat": str(lat), "lon": str(lon),
            "category": "place", "type": kind, "addresstype": kind, "place_rank": rank,
            "importance": 0.1, "display_name": name}]

    def handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (the http.server name)
                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                fake.asked.append({"path": url.path, **query})
                if fake.mode == "hang":
                    fake.release.wait(30)
                    return self._answer(200, b"[]")
                if fake.mode == "error":
                    return self._answer(503, b"overloaded")
                if fake.mode == "nonsense":
                    return self._answer(200, b"<html>not json</html>")
                key = (query.get("street"), query.get("postalcode"), query.get("city"))
                return self._answer(200, json.dumps(fake.places.get(key, [])).encode())

            def _answer(self, status, body):
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (the time-out tests)

            def log_message(self, *args):
                pass

        return Handler


@contextmanager
def serve() -> Iterator[FakeNominatim]:
    fake = FakeNominatim()
    server = ThreadingHTTPServer(("127.0.0.1", 0), fake.handler())
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield fake
    finally:
        fake.release.set()
        server.shutdown()
        server.server_close()
