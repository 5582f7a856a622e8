"""RTMP out: a session pushed to a local RTMP listener (ffmpeg in listen mode) arrives as H.264 +
AAC that decodes, with the avatar speaking; the push waits for a listener that is not there yet
and connects when it comes (back-off); bad URLs are refused; outputs end with DELETE."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.server.live.conftest import bar_height, make_app
from xactor.bench.speech import have_espeak

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _listener(port: int, out: Path) -> subprocess.Popen[bytes]:
    """ffmpeg as an RTMP server: takes one stream and copies it into ``out``."""
    url = f"rtmp://127.0.0.1:{port}/live/streamkey"
    return subprocess.Popen(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-listen", "1", "-timeout", "30",
         "-i", url, "-c", "copy", "-f", "flv", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip


@pytest.fixture
def client(tmp_path: Path) -> Any:
    with TestClient(make_app(tmp_path / "data")) as c:
        yield c


def _session(ws: Any) -> str:
    ws.send_text(json.dumps({"video": "none"}))
    return str(json.loads(ws.receive_text())["session_id"])


def _pump(ws: Any, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        ws.receive()


def test_a_session_pushed_to_rtmp_arrives_as_h264_and_aac(client: TestClient, tmp_path: Path) -> None:
    if not have_espeak():
        pytest.skip("espeak-ng is not installed")
    port, out = _free_port(), tmp_path / "received.flv"
    listener = _listener(port, out)
    try:
        with client.websocket_connect("/sessions/stream") as ws:
            sid = _session(ws)
            url = f"rtmp://127.0.0.1:{port}/live/streamkey"
            r = client.post(f"/sessions/{sid}/outputs", json={"rtmp": url})
            assert r.status_code == 201, r.text
            output = r.json()
            assert output["rtmp"] == f"rtmp://127.0.0.1:{port}/live/…"  # the key stays secret
            assert (
                client.post(f"/sessions/{sid}/say", json={"text": "Bob and Mary made a map."}).status_code
                == 202
            )
            _pump(ws, 4.0)
            listed = client.get(f"/sessions/{sid}/outputs").json()
            assert listed[0]["connected"] and listed[0]["frames_written"] > 50, listed
            assert client.delete(f"/sessions/{sid}/outputs/{output['id']}").status_code == 204
            assert client.delete(f"/sessions/{sid}/outputs/{output['id']}").status_code == 404
            assert client.get(f"/sessions/{sid}/outputs").json() == []
        listener.wait(15)
    finally:
        listener.kill()
    with av.open(str(out)) as container:
        kinds = sorted(s.type for s in container.streams)
        video = container.streams.video[0]
        assert video.codec_context.name == "h264" and container.streams.audio[0].codec_context.name == "aac"
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    with av.open(str(out)) as container:
        audio = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(audio=0)])
    assert kinds == ["audio", "video"] and frames[0].shape == (256, 256, 3)
    assert len(frames) > 50
    assert abs(audio.size / 48000 - len(frames) / 25) < 0.5  # the sound is as long as the picture
    assert np.abs(audio).max() > 0.1  # and it is the speech
    heights = [bar_height(f) for f in frames]
    assert max(heights) > 0.2 and min(heights) < 0.05  # the avatar spoke in the stream


def test_an_output_retries_until_the_ingest_is_up(tmp_path: Path) -> None:
    """``serve --rtmp URL`` (setting ``rtmp_url``): every session is pushed there, and an ingest
    that is not up yet is retried with back-off until it is."""
    port, out = _free_port(), tmp_path / "late.flv"
    app = make_app(tmp_path / "data", rtmp_url=f"rtmp://127.0.0.1:{port}/live/k")
    with TestClient(app) as client, client.websocket_connect("/sessions/stream") as ws:
        sid = _session(ws)
        _pump(ws, 1.5)
        first = client.get(f"/sessions/{sid}/outputs").json()[0]
        assert not first["connected"] and first["failures"] >= 1 and first["last_error"]
        listener = _listener(port, out)
        end = time.monotonic() + 12  # (no probe connection: ffmpeg -listen takes just one)
        while time.monotonic() < end and not client.get(f"/sessions/{sid}/outputs").json()[0]["connected"]:
            _pump(ws, 0.5)
        state = client.get(f"/sessions/{sid}/outputs").json()[0]
        assert state["connected"] and state["connects"] == 1 and state["failures"] >= 1, state
    # The session ended with the socket: its output stopped (its thread is gone) and the ingest
    # saw the end of the stream.
    listener.wait(15)
    assert out.stat().st_size > 0
    assert not [t.name for t in threading.enumerate() if t.name.startswith(f"rtmp-{sid}")]


def test_unknown_output_fields_are_refused(client: TestClient) -> None:
    with client.websocket_connect("/sessions/stream") as ws:
        sid = _session(ws)
        r = client.post(f"/sessions/{sid}/outputs", json={"rtmp": "rtmp://h/a/k", "rmtp_key": "x"})
        assert r.status_code == 422 and "rmtp_key" in r.text, r.text
        assert client.get(f"/sessions/{sid}/outputs").json() == []


@pytest.mark.parametrize("url", ["http://example.com/x", "rtmp://", "file:///etc/passwd", "rtmp://a b"])
def test_bad_output_urls_are_refused(client: TestClient, url: str) -> None:
    with client.websocket_connect("/sessions/stream") as ws:
        sid = _session(ws)
        r = client.post(f"/sessions/{sid}/outputs", json={"rtmp": url})
        assert r.status_code == 422, r.text
        assert client.get(f"/sessions/{sid}/outputs").json() == []
    assert client.post("/sessions/0123456789abcdef/outputs", json={"rtmp": "rtmp://h/a/k"}).status_code == 404
