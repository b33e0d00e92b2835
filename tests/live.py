"""A live Hemma on a free loopback port, for tests that drive it with real clients (a
browser, FHIR clients, the device simulator): served by uvicorn in a thread, stopped when
the block ends."""

from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager

import uvicorn


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
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           log_config=None))
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
