"""A live Hemma on a free loopback port, for tests that drive it with real clients (a
browser, FHIR clients, the device simulator): served by uvicorn in a thread, stopped when
the block ends."""

from __future__ import annotations

import json
import queue
import socket
import threading
import time
from contextlib import contextmanager

import httpx
import uvicorn

STREAM_WAIT = 120.0  # seconds: only a broken build waits this long for an event


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving(app):
    """Serve `app` on a free loopback port in a thread, until the block ends."""
    port = free_port()
    # log_config=None: uvicorn's loggers go through the root logger, as in `hemma serve`
    # (and so into the run's scanned log, tests/logscan.py).
    # A stream still open when the block ends (a browser's board) is cut after 2 seconds,
    # as `hemma serve --graceful-timeout` does, instead of holding the server up.
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           log_config=None, timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


class Stream:
    """A server-sent event stream read in a thread: events, and keep-alives, in order."""

    def __init__(self, url: str, cookies: dict):
        self.items: queue.Queue = queue.Queue()
        self.status: int | None = None
        self._client = httpx.Client(cookies=cookies, timeout=httpx.Timeout(10, read=STREAM_WAIT))
        self.thread = threading.Thread(target=self._read, args=(url,), daemon=True)
        self.thread.start()

    def _read(self, url: str) -> None:
        event, data = None, []
        try:
            with self._client.stream("GET", url) as r:
                self._response = r
                self.status = r.status_code
                for line in r.iter_lines():
                    if line.startswith(":"):
                        self.items.put(("keep-alive", None))
                    elif line.startswith("event: "):
                        event = line[7:]
                    elif line.startswith("data: "):
                        data.append(line[6:])
                    elif not line and data:
                        self.items.put((event, json.loads("\n".join(data))))
                        event, data = None, []
        except httpx.HTTPError as exc:
            self.items.put(("error", repr(exc)))
        finally:
            self.items.put(("end", None))

    def next(self) -> tuple[str, object]:
        try:
            return self.items.get(timeout=STREAM_WAIT)
        except queue.Empty:
            raise AssertionError("no event on the stream") from None

    def ended(self) -> bool:
        """The stream closes (the server stopped): read to its end."""
        while True:
            kind, _ = self.next()
            if kind in ("end", "error"):
                return True

    def close(self) -> None:
        """Hang up: the server sees the stream closed, and the reading thread ends."""
        response = getattr(self, "_response", None)
        if response is not None:
            response.close()
        self._client.close()
        self.thread.join(timeout=2)  # a thread blocked in a quiet stream ends with the server
