"""``WS /sessions/stream``: PCM pushed faster than real time comes back as frames with their audio at
25 fps; segments end when their last frame is out; ``clear_buffer`` interrupts at once; bad
requests are refused with a reason and hold nothing; a vanished client ends its session."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketDenialResponse
from starlette.websockets import WebSocketDisconnect

from tests.server.live.conftest import bar_height, make_app
from xactor.bench.speech import have_espeak, tts
from xactor.engines import motion_space as ms
from xactor.server.live.wire import decode_frame

RATE = 24000  # what many TTS engines send: resampled to 16 kHz by the session


@pytest.fixture(scope="module")
def phrase() -> np.ndarray:
    """About 1.5 s of speech as PCM16 bytes at 24 kHz."""
    if not have_espeak():
        pytest.skip("espeak-ng is not installed")
    import soxr

    speech = tts("Hello there, this is a test.")
    return soxr.resample(speech / max(np.abs(speech).max(), 1e-6) * 0.5, 16000, RATE).astype(np.float32)


def _pcm(x: np.ndarray) -> bytes:
    return (np.clip(x, -1, 1) * 32767).astype("<i2").tobytes()


def _read(ws: Any, seconds: float) -> tuple[list[tuple[int, np.ndarray, np.ndarray | None]], list[dict]]:
    """Frames and events received for ``seconds``."""
    frames, events = [], []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        message = ws.receive()
        if message.get("bytes") is not None:
            frames.append(decode_frame(message["bytes"]))
        elif message.get("text") is not None:
            events.append(json.loads(message["text"]))
        else:
            break
    return frames, events


@pytest.fixture
def client(tmp_path: Path) -> Any:
    with TestClient(make_app(tmp_path / "data", max_sessions=1)) as c:
        yield c


def test_pushed_speech_comes_back_as_frames_with_their_audio(client: TestClient, phrase: np.ndarray) -> None:
    request = {"sample_rate": RATE, "video": "rgb24", "motion": True, "options": {"resolution": 256}}
    with client.websocket_connect("/sessions/stream") as ws:
        ws.send_text(json.dumps(request))
        hello = json.loads(ws.receive_text())
        assert hello["type"] == "session" and hello["fps"] == 25 and hello["audio_rate"] == 16000
        assert hello["width"] == hello["height"] == 256
        listed = client.get("/sessions").json()
        assert [s["id"] for s in listed] == [hello["session_id"]] and listed[0]["transport"] == "websocket"
        _read(ws, 0.4)  # listening first
        for part in np.array_split(phrase, 7):  # a TTS stream: all of it at once, in pieces
            ws.send_bytes(_pcm(part))
        ws.send_text(json.dumps({"type": "end_of_segment"}))
        t_sent = time.monotonic()
        frames, events = _read(ws, phrase.size / RATE + 1.0)
    indices = np.array([f[0] for f in frames])
    assert (np.diff(indices) > 0).all()
    span = len(frames) / 25.0
    audio = np.concatenate([f[1] for f in frames])
    # Audio and video stay in step: every frame carries the stream audio up to its end.
    assert abs(audio.size / 16000 - (indices[-1] - indices[0] + 1) / 25.0) < 0.1
    assert span > phrase.size / RATE  # played at real time, not all at once
    heights = np.array([bar_height(f[2]) for f in frames if f[2] is not None])
    assert heights.max() > 0.2 and heights[-5:].max() < 0.05  # spoke, then listened again
    # The speech came back at its place: loud audio in the frames where the bar is up.
    loud = np.array([np.abs(f[1]).max() > 0.05 if f[1].size else False for f in frames])
    assert loud.sum() > 10 and heights[loud].mean() > heights[~loud].mean()
    ends = [e for e in events if e["type"] == "segment_end"]
    assert len(ends) == 1 and ends[0]["segment"] == 0 and not ends[0]["interrupted"]
    assert abs(ends[0]["position_s"] - phrase.size / RATE) < 0.05
    motion = [e for e in events if e["type"] == "motion"]
    assert len(motion) >= len(frames) - 2 and set(motion[0]["coefficients"]) == set(ms.NAMES)
    by_index = {m["index"]: m["coefficients"]["jawOpen"] for m in motion}
    jaws = [by_index[i] for i, _, p in frames if i in by_index and p is not None]
    assert np.corrcoef(jaws[: len(heights)], heights[: len(jaws)])[0, 1] > 0.9  # motion = picture
    assert time.monotonic() - t_sent < 10
    _wait_gone(client)


def _read_in_order(ws: Any, seconds: float) -> list[tuple[str, Any]]:
    """Messages received for ``seconds``, in order: ("frame", (index, audio, picture)) or ("event", dict)."""
    out: list[tuple[str, Any]] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        message = ws.receive()
        if message.get("bytes") is not None:
            out.append(("frame", decode_frame(message["bytes"])))
        elif message.get("text") is not None:
            out.append(("event", json.loads(message["text"])))
        else:
            break
    return out


def _interrupt(client: TestClient, phrase: np.ndarray, on_clear: str) -> tuple[list, list, list[dict]]:
    """~6 s of speech queued, ``clear_buffer`` after 1 s, on a frame with the mouth open. Returns
    the frames before the clear, the frames after the ``cleared`` event each with its jawOpen, and
    the events since the clear."""
    long = np.concatenate([phrase] * 4)
    request = {"sample_rate": RATE, "video": "rgb24", "motion": True, "on_clear": on_clear}
    with client.websocket_connect("/sessions/stream") as ws:
        ws.send_text(json.dumps(request))
        ws.receive_text()
        ws.send_bytes(_pcm(long))
        ws.send_text(json.dumps({"type": "end_of_segment"}))
        before, _ = _read(ws, 1.0)
        end = time.monotonic() + 3.0  # then clear while the mouth is open (not in a pause)
        while time.monotonic() < end and not (before[-1][2] is not None and bar_height(before[-1][2]) > 0.2):
            more, _ = _read(ws, 0.01)
            before += more
        ws.send_text(json.dumps({"type": "clear_buffer"}))
        messages = _read_in_order(ws, 1.0)
    _wait_gone(client)
    at = next(i for i, (kind, m) in enumerate(messages) if kind == "event" and m["type"] == "cleared")
    events = [m for kind, m in messages if kind == "event" and m["type"] != "motion"]
    jaw: dict[int, float] = {}
    after = []
    for kind, m in messages[at:]:
        if kind == "event" and m["type"] == "motion":
            jaw[m["index"]] = m["coefficients"]["jawOpen"]
        elif kind == "frame":
            after.append((*m, jaw[m[0]]))
    return before, after, events


def test_clear_buffer_interrupts_at_once(client: TestClient, phrase: np.ndarray) -> None:
    before, after, events = _interrupt(client, phrase, "close_mouth")
    assert max(bar_height(f[2]) for f in before if f[2] is not None) > 0.2
    long_s = 4 * phrase.size / RATE
    cleared = next(e for e in events if e["type"] == "cleared")
    end = next(e for e in events if e["type"] == "segment_end")
    assert end["interrupted"] and end["position_s"] > 0.8 and cleared["dropped_s"] > 0.5
    # What was shown and what was dropped make the whole: what was released but not shown (the
    # lookahead, ~0.05 s; more when a loaded machine lags) is muted, so it counts in neither.
    assert 0.0 < long_s - (end["position_s"] + cleared["dropped_s"]) < 0.6
    # Listening on the first frame out after the clear (frames rendered before it are dropped)...
    assert after[0][3] < 0.01, [f[3] for f in after[:6]]
    assert max(bar_height(f[2]) for f in after) < 0.05
    assert max(f[3] for f in after) < 0.05
    # ...and no speech is heard after it: neither the queue nor what was released.
    assert max(np.abs(f[1]).max() for f in after if f[1].size) < 0.01


def test_clear_buffer_can_leave_the_closing_to_the_source(client: TestClient, phrase: np.ndarray) -> None:
    """``on_clear: natural``: the queue goes, but speech already released plays and the source
    closes the mouth with its own motion."""
    _, after, _ = _interrupt(client, phrase, "natural")
    assert max(np.abs(f[1]).max() for f in after[:3] if f[1].size) > 0.05  # released speech plays on
    assert after[0][3] > 0.05  # still open on the next frames
    assert max(f[3] for f in after[8:]) < 0.05  # closed within a few frames all the same


@pytest.mark.parametrize(
    ("first", "code"),
    [
        (b"\x00\x01", "bad_request"),
        ("{not json", "invalid_request"),
        (json.dumps({"sample_rate": 3}), "invalid_request"),
        (json.dumps({"avatar_id": "nope"}), "avatar_not_found"),
        (json.dumps({"options": {"motion_source": "nope"}}), "invalid_request"),
    ],
)
def test_bad_requests_are_refused_with_a_reason(client: TestClient, first: Any, code: str) -> None:
    with client.websocket_connect("/sessions/stream") as ws:
        if isinstance(first, bytes):
            ws.send_bytes(first)
        else:
            ws.send_text(first)
        refusal = json.loads(ws.receive_text())
        assert refusal["type"] == "error" and refusal["code"] == code, refusal
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
        assert closed.value.code == 1008
    assert client.get("/sessions").json() == []
    assert client.app.state.sessions._pending == 0  # type: ignore[attr-defined]


def test_no_free_slot_and_server_side_end(client: TestClient) -> None:
    with client.websocket_connect("/sessions/stream") as ws:
        ws.send_text("{}")
        sid = json.loads(ws.receive_text())["session_id"]
        with client.websocket_connect("/sessions/stream") as second:  # max_sessions=1
            second.send_text("{}")
            assert json.loads(second.receive_text())["code"] == "too_many_sessions"
            with pytest.raises(WebSocketDisconnect) as closed:
                second.receive_text()
            assert closed.value.code == 1013
        ws.send_text(json.dumps({"type": "pause"}))
        assert client.delete(f"/sessions/{sid}").status_code == 204  # ended by the server
        seen = []
        for _ in range(200):
            message = ws.receive()
            if message["type"] == "websocket.close":
                break
            if message.get("text"):
                seen.append(json.loads(message["text"])["type"])
        assert message["type"] == "websocket.close" and message["code"] == 1000  # the socket went too
        assert "warning" in seen  # the unknown control was answered
    _wait_gone(client, sid)


def test_a_vanished_client_ends_its_session(client: TestClient, phrase: np.ndarray) -> None:
    with client.websocket_connect("/sessions/stream") as ws:
        ws.send_text("{}")
        sid = json.loads(ws.receive_text())["session_id"]
        ws.send_bytes(_pcm(phrase))
        _read(ws, 0.3)
    _wait_gone(client, sid)


def test_token_is_required_when_set(tmp_path: Path) -> None:
    with TestClient(make_app(tmp_path / "data", token="s3cret")) as c:
        with pytest.raises(WebSocketDenialResponse) as denied, c.websocket_connect("/sessions/stream"):
            pass
        assert denied.value.status_code == 401  # the upgrade is refused, as every route refuses
        with c.websocket_connect("/sessions/stream?token=s3cret") as ws:
            ws.send_text("{}")
            assert json.loads(ws.receive_text())["type"] == "session"


def _wait_gone(client: TestClient, sid: str | None = None) -> None:
    """The session left the table and its tasks ended (the socket closed first)."""
    deadline = time.monotonic() + 5
    while client.get("/sessions").json() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert client.get("/sessions").json() == []
    assert not [t.name for t in threading.enumerate() if sid and sid in t.name]


def test_say_speaks_text_into_a_stream_session(client: TestClient) -> None:
    """Presenter mode: the server's TTS speaks into the session; the segment ends when shown."""
    if not have_espeak():
        pytest.skip("espeak-ng is not installed")
    with client.websocket_connect("/sessions/stream") as ws:
        ws.send_text(json.dumps({"video": "rgb24"}))
        sid = json.loads(ws.receive_text())["session_id"]
        said = client.post(f"/sessions/{sid}/say", json={"text": "Papa bought a big blue boat."})
        assert said.status_code == 202, said.text
        body = said.json()
        assert body["segment"] == 0 and 1.0 < body["duration_s"] < 4.0
        frames, events = _read(ws, body["duration_s"] + 0.8)
        bad = client.post(f"/sessions/{sid}/say", json={"text": "hi", "voice": "../etc"})
        assert bad.status_code == 422
        unknown = client.post(f"/sessions/{sid}/say", json={"text": "hi", "voice": "zz-qq"})
        assert unknown.status_code == 422 and unknown.json()["detail"]["code"] == "invalid_voice"
    assert max(bar_height(f[2]) for f in frames if f[2] is not None) > 0.2
    end = next(e for e in events if e["type"] == "segment_end")
    assert not end["interrupted"] and abs(end["position_s"] - body["duration_s"]) < 0.05
    missing = client.post("/sessions/0123456789abcdef/say", json={"text": "hi"})
    assert missing.status_code == 404
    _wait_gone(client)


def test_http_clear_interrupts_a_stream_session(client: TestClient) -> None:
    """``POST /sessions/{id}/clear`` does what the ``clear_buffer`` control does (a controller that
    is not the audio pusher can interrupt): the client gets ``cleared`` and the segment ends."""
    if not have_espeak():
        pytest.skip("espeak-ng is not installed")
    with client.websocket_connect("/sessions/stream") as ws:
        ws.send_text(json.dumps({"video": "rgb24", "motion": True}))
        sid = json.loads(ws.receive_text())["session_id"]
        text = "Papa bought a big blue boat, and we sailed it all the way around the bay."
        assert client.post(f"/sessions/{sid}/say", json={"text": text}).status_code == 202
        _read(ws, 1.0)
        cleared = client.post(f"/sessions/{sid}/clear")
        messages = _read_in_order(ws, 0.8)
    _wait_gone(client)
    assert cleared.status_code == 200 and cleared.json()["dropped_s"] > 1.0
    events = [m for kind, m in messages if kind == "event" and m["type"] != "motion"]
    assert any(e["type"] == "cleared" for e in events)
    assert any(e["type"] == "segment_end" and e["interrupted"] for e in events)
    at = next(i for i, (k, m) in enumerate(messages) if k == "event" and m["type"] == "cleared")
    pictures = [m[2] for k, m in messages[at:] if k == "frame" and m[2] is not None]
    assert pictures and max(bar_height(p) for p in pictures) < 0.05


def test_client_protocol_module_agrees_with_the_server() -> None:
    """integrations/xactor_integrations/protocol.py (the agent side, no server code) reads what
    server/live/wire.py writes."""
    import importlib.util

    from xactor.server.live import wire
    from xactor.server.live.frames import FrameOut
    from xactor.server.live.worker import RenderedFrame

    path = Path(__file__).resolve().parents[3] / "integrations" / "xactor_integrations" / "protocol.py"
    spec = importlib.util.spec_from_file_location("xactor_protocol", path)
    assert spec is not None and spec.loader is not None
    protocol = importlib.util.module_from_spec(spec)
    import sys

    sys.modules[spec.name] = protocol  # dataclasses look their module up there
    spec.loader.exec_module(protocol)
    assert protocol.MAGIC == wire.MAGIC and protocol.HEADER.format == wire.HEADER.format
    assert protocol.VIDEO_KINDS == wire.VIDEO_KINDS
    image = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
    frame = RenderedFrame(7, image, 0, None, None, 0.0, 0.0, np.zeros(40, np.float32))
    audio = np.linspace(-0.5, 0.5, 640, dtype=np.float32)
    parsed = protocol.parse_frame(wire.encode_frame(FrameOut(frame, audio), "rgb24"))
    assert (parsed.index, parsed.width, parsed.height, parsed.audio_samples) == (7, 6, 4, 640)
    assert parsed.image == image.tobytes()
    np.testing.assert_allclose(np.frombuffer(parsed.audio, "<i2") / 32767, audio, atol=1e-4)
