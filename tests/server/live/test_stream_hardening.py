"""``WS /sessions/stream`` against hostile or broken clients: a bad token gets the API's 401 on the
upgrade; unknown request fields and deeply nested JSON are refused (never a ``RecursionError``);
a client that stops reading loses its slot within seconds, over real TCP."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketDenialResponse
from starlette.websockets import WebSocketDisconnect
from websockets.client import ClientProtocol
from websockets.http11 import Response
from websockets.sync.client import connect
from websockets.uri import parse_uri

from tests.server.live.conftest import make_app
from tests.server.live_server import uvicorn_thread
from xactor.server.live.wire import MAX_JSON_DEPTH

TOKEN = "tok-3f9a7c1e55"


@pytest.fixture
def client(tmp_path: Path) -> Any:
    with TestClient(make_app(tmp_path / "data", max_sessions=1)) as c:
        yield c


def _refusal(client: TestClient, first: str) -> dict[str, Any]:
    with client.websocket_connect("/sessions/stream") as ws:
        ws.send_text(first)
        refusal = json.loads(ws.receive_text())
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
        assert closed.value.code == 1008
    assert client.get("/sessions").json() == []
    return refusal


def test_unknown_request_fields_are_refused_by_name(client: TestClient) -> None:
    refusal = _refusal(client, json.dumps({"avatar": "x1", "video": "none"}))
    assert refusal["type"] == "error" and refusal["code"] == "invalid_request", refusal
    assert "avatar" in refusal["message"] and "avatar_id" not in refusal["message"]


@pytest.mark.parametrize("levels", [100_000, MAX_JSON_DEPTH + 1, 900])
def test_deeply_nested_requests_are_refused(client: TestClient, levels: int) -> None:
    refusal = _refusal(client, "[" * levels + "]" * levels)
    assert refusal["code"] == "bad_request", refusal
    nested = json.dumps({"options": {}, "video": "none"}).replace("{}", "[" * levels + "]" * levels)
    assert _refusal(client, nested)["code"] == "bad_request"


def test_deeply_nested_controls_are_ignored_with_a_warning(client: TestClient) -> None:
    with client.websocket_connect("/sessions/stream") as ws:
        ws.send_text(json.dumps({"video": "none"}))
        assert json.loads(ws.receive_text())["type"] == "session"
        for levels in (100_000, 3_000, MAX_JSON_DEPTH + 1):
            ws.send_text("[" * levels + "]" * levels)
        ws.send_text(json.dumps({"type": "clear_buffer"}))  # the session still answers
        events = []
        deadline = time.monotonic() + 5
        while "cleared" not in [e["type"] for e in events] and time.monotonic() < deadline:
            message = ws.receive()
            assert message["type"] == "websocket.send", message
            if message.get("text"):
                events.append(json.loads(message["text"]))
    warnings = [e["message"] for e in events if e["type"] == "warning"]
    assert len(warnings) == 3 and all("ignored" in w for w in warnings), warnings
    assert events[-1]["type"] == "cleared"


def test_a_bad_token_is_a_401_like_every_other_route(tmp_path: Path) -> None:
    with TestClient(make_app(tmp_path / "data", token=TOKEN)) as c:
        for path in ("/sessions/stream", "/sessions/stream?token=wrong"):
            with pytest.raises(WebSocketDenialResponse) as denied, c.websocket_connect(path):
                pass
            assert denied.value.status_code == 401
            assert denied.value.headers["www-authenticate"] == "Bearer"
            assert denied.value.json()["detail"]["code"] == "unauthorized"
        headers = {"Authorization": f"Bearer {TOKEN}"}
        with c.websocket_connect("/sessions/stream", headers=headers) as ws:
            ws.send_text("{}")
            assert json.loads(ws.receive_text())["type"] == "session"


def _raw_client(port: int, path: str, rcvbuf: int = 4096) -> tuple[socket.socket, ClientProtocol, Response]:
    """A WebSocket client on a socket with a tiny receive buffer, driven by hand (so it can stop
    reading); returns after the upgrade's answer."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(5.0)
    sock.connect(("127.0.0.1", port))
    proto = ClientProtocol(parse_uri(f"ws://127.0.0.1:{port}{path}"))
    proto.send_request(proto.connect())
    sock.sendall(b"".join(proto.data_to_send()))
    while True:
        proto.receive_data(sock.recv(4096))
        for event in proto.events_received():
            if isinstance(event, Response):
                return sock, proto, event


def _rejected(app: Any, reason: str) -> float:
    return (
        app.state.live_metrics.registry.get_sample_value("xactor_sessions_rejected_total", {"reason": reason})
        or 0
    )


def test_a_client_that_stops_reading_loses_its_slot_within_seconds(tmp_path: Path) -> None:
    app = make_app(tmp_path / "data", max_sessions=1, token=TOKEN)
    with uvicorn_thread(app) as port:
        sock, _, answer = _raw_client(port, "/sessions/stream?token=nope")
        assert answer.status_code == 401 and b"unauthorized" in answer.body
        sock.close()

        sock, proto, answer = _raw_client(port, f"/sessions/stream?token={TOKEN}")
        assert answer.status_code == 101
        proto.send_text(json.dumps({"video": "rgb24", "options": {"resolution": 256}}).encode())
        proto.send_binary((np.zeros(16000, "<i2")).tobytes())  # a second of silence; then never read
        sock.sendall(b"".join(proto.data_to_send()))
        deadline = time.monotonic() + 30
        while _rejected(app, "client_not_reading") == 0:
            assert time.monotonic() < deadline, "the server never noticed the client stopped reading"
            time.sleep(0.02)
        decided = time.monotonic()
        while app.state.sessions.sessions:
            assert time.monotonic() - decided < 5, "the session kept its slot"
            time.sleep(0.02)
        freed = time.monotonic() - decided
        # The slot is free for the next client...
        with connect(f"ws://127.0.0.1:{port}/sessions/stream?token={TOKEN}", open_timeout=10) as ws:
            ws.send("{}")
            assert json.loads(ws.recv(timeout=10))["type"] == "session"
        # ...and the stuck connection was cut, not left to the 20 s keepalive.
        gone = False
        while not gone and time.monotonic() - decided < 8:
            try:
                gone = sock.recv(65536) == b""
            except (ConnectionResetError, TimeoutError):
                gone = True
        sock.close()
        assert gone, "the connection of the client that stopped reading is still open"
    assert freed < 5
