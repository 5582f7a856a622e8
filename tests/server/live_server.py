"""A real uvicorn server on 127.0.0.1 in a thread, for the tests that need real sockets (TCP
back-pressure, the WebSocket upgrade's HTTP answer); bounded in time at both ends."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn


@contextmanager
def uvicorn_thread(app: Any, start_timeout_s: float = 60.0, **config: Any) -> Iterator[int]:
    """Serve ``app`` on a free loopback port (yielded) until the block ends. ``log_config=None``
    leaves the test's logging alone unless ``config`` says otherwise."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config.setdefault("log_config", None)
    server = uvicorn.Server(uvicorn.Config(app, lifespan="on", **config))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="uvicorn-test", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + start_timeout_s
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        yield port
    finally:
        server.should_exit = True
        thread.join(15.0)
        sock.close()
        assert not thread.is_alive(), "uvicorn did not stop within 15 s"
