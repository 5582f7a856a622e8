"""TURN: a client that may only use relayed candidates (ICE policy "relay") reaches the server
through a local coturn with long-term credentials, and the session streams; wrong credentials
get no connection. The credentials come from settings (``ice_servers``) and reach the browser in
``/client-config``."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiortc import RTCIceServer

from tests.server.live.conftest import bar_height, make_app, serving
from xactor.bench.live_client import LiveClient, SignalTrack

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(shutil.which("turnserver") is None, reason="coturn is not installed"),
]
USER, PASSWORD = "xactor", "s3cret"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def turn(tmp_path: Path) -> Iterator[str]:
    """coturn on loopback with one user; yields its turn: URL."""
    port = _free_port()
    log = tmp_path / "turn.log"
    process = subprocess.Popen(
        ["turnserver", "-n", "--listening-ip", "127.0.0.1", "--listening-port", str(port),
         "--relay-ip", "127.0.0.1", "--min-port", "49200", "--max-port", "49400",
         "--lt-cred-mech", "--user", f"{USER}:{PASSWORD}", "--realm", "xactor.test",
         "--allow-loopback-peers", "--no-tls", "--no-dtls", "--no-cli", "--fingerprint",
         "--log-file", str(log), "--simple-log", "--pidfile", str(tmp_path / "turn.pid")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield f"turn:127.0.0.1:{port}?transport=udp"
    finally:
        process.terminate()
        process.wait(10)


async def test_a_relay_only_client_streams_through_coturn(tmp_path: Path, turn: str, speech) -> None:
    server_ice = [{"urls": turn, "username": USER, "credential": PASSWORD}]
    app = make_app(tmp_path / "data", ice_servers=server_ice)
    async with serving(app) as http:
        config = (await http.get("/client-config")).json()
        assert config["ice_servers"] == [{"urls": [turn], "username": USER, "credential": PASSWORD}]
        await asyncio.sleep(0.5)  # coturn up
        client = LiveClient(
            http=http,
            analyse=bar_height,
            keep_images=False,
            ice_servers=[RTCIceServer(urls=turn, username=USER, credential=PASSWORD)],
            relay_only=True,
        )
        await client.start(SignalTrack(speech.signal))
        try:
            assert client.pc is not None
            candidates = [
                line for line in client.pc.localDescription.sdp.splitlines() if "a=candidate" in line
            ]
            assert candidates and all("typ relay" in c for c in candidates)  # nothing but the relay
            await client.wait_frames(25, timeout=10.0)
            stats = await client.stats()
        finally:
            await client.stop()
    assert stats["connection"] == "connected" and stats["errors"]["render"] == 0


async def test_wrong_turn_credentials_get_no_connection(tmp_path: Path, turn: str, speech) -> None:
    app = make_app(tmp_path / "data", connect_timeout_s=3.0)
    async with serving(app) as http:
        await asyncio.sleep(0.5)
        client = LiveClient(
            http=http,
            keep_images=False,
            ice_servers=[RTCIceServer(urls=turn, username=USER, credential="wrong")],
            relay_only=True,
        )
        await client.start(SignalTrack(speech.signal))
        try:
            assert client.pc is not None
            assert "typ relay" not in client.pc.localDescription.sdp  # coturn refused the allocation
            with pytest.raises(TimeoutError):
                await client.wait_frames(1, timeout=4.0)
        finally:
            await client.stop()
        assert app.state.sessions.stats() == []  # the connect deadline closed it
