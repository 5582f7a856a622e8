"""The server's default motion source, the learned generator (tiny random weights here): a session
streams on it with the chosen emotion, stats and /health say what runs, a fallback is visible, and
options it cannot honour are refused with 422."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from tests.motion_weights import save_tiny_weights
from tests.server.live.conftest import BAR, bar_height, serving
from tests.server.live.test_robustness import _offer_sdp
from xactor.bench.live_client import LiveClient, SignalTrack
from xactor.server.app import create_app
from xactor.server.settings import Settings

pytestmark = pytest.mark.anyio


def _app(data_dir: Path, weights_dir: Path):
    assert Settings.model_fields["motion_source"].default == "generator"  # no override: the default
    return create_app(Settings(data_dir=data_dir, renderer=BAR.name, weights_dir=weights_dir))


async def _health_motion(http) -> dict:
    for _ in range(300):
        body = (await http.get("/health")).json()
        if body["motion_source"] is not None:
            return body["motion_source"]
        await asyncio.sleep(0.1)
    raise AssertionError("capacity never measured")


async def test_session_on_the_generator_with_an_emotion(data_dir: Path, tmp_path: Path) -> None:
    weights = tmp_path / "weights"
    save_tiny_weights(weights)
    async with serving(_app(data_dir, weights)) as http:
        config = (await http.get("/client-config")).json()
        assert {"generator", "heuristic"} <= set(config["motion_sources"])
        assert config["emotions"] == ["neutral", "happy", "sad", "angry", "surprised"]
        assert config["defaults"]["motion_source"] == "generator" and config["defaults"]["emotion"] is None
        health = await _health_motion(http)
        assert health["configured"] == health["name"] == "generator" and "fallback" not in health

        client = LiveClient(http=http, analyse=bar_height, keep_images=False)
        signal = (0.2 * np.sin(np.arange(48000 * 3) / 20.0)).astype(np.float32)
        answer = await client.start(
            SignalTrack(signal, loop_signal=True),
            options={"emotion": "happy", "emotion_intensity": 0.5, "lookahead": 2},
        )
        assert answer["options"]["emotion"] == "happy" and answer["options"]["emotion_intensity"] == 0.5
        try:
            await client.wait_frames(15, timeout=10.0)
            stats = await client.stats()
        finally:
            await client.stop()
        running = stats["motion_source"]
        assert running["name"] == "generator" and running["emotion"] == "happy"
        assert running["lookahead_frames"] == 2 and running["weights"].endswith("motion_teacher")
        assert stats["errors"]["render"] == 0 and "motion" in stats["stages_ms"]


async def test_sessions_on_onnxruntime_and_torch_move_the_jaw_alike(data_dir: Path, tmp_path: Path) -> None:
    """The same live path on either backend of the generator: the session says which runs, frames
    flow, and the jaw (read back from the picture) moves alike (frame-exact equality of the two
    backends is tested on the source; live frame timing differs between two runs)."""
    weights = tmp_path / "weights"
    save_tiny_weights(weights, "motion_student", steps=1, guidance=1.0)
    signal = (0.3 * np.sin(np.arange(48000 * 2) / 15.0) * (np.arange(48000 * 2) % 24000 < 12000)).astype(
        np.float32
    )
    jaws = {}
    async with serving(_app(data_dir, weights)) as http:
        for backend in ("onnxruntime", "torch"):
            client = LiveClient(http=http, analyse=bar_height, keep_images=False)
            answer = await client.start(SignalTrack(signal, loop_signal=True), options={"backend": backend})
            assert answer["options"]["backend"] == backend
            try:
                await client.wait_frames(25, timeout=15.0)
                stats = await client.stats()
            finally:
                await client.stop()
            assert stats["motion_source"]["backend"] == backend and stats["errors"]["render"] == 0
            jaws[backend] = np.array([f.value for f in client.frames])
    for backend, jaw in jaws.items():
        assert jaw.std() > 0.005, backend  # the jaw moves
    assert abs(np.median(jaws["onnxruntime"]) - np.median(jaws["torch"])) < 0.1, jaws


async def test_without_weights_the_fallback_runs_and_shows(data_dir: Path, tmp_path: Path) -> None:
    empty = tmp_path / "no-weights"
    empty.mkdir()
    async with serving(_app(data_dir, empty)) as http:
        health = await _health_motion(http)
        assert health["configured"] == "generator" and health["name"] == "heuristic"
        assert "missing" in health["fallback"]
        client = LiveClient(http=http, keep_images=False)
        await client.start(SignalTrack(np.zeros(48000, np.float32), loop_signal=True))
        try:
            await client.wait_frames(5, timeout=10.0)
            stats = await client.stats()
        finally:
            await client.stop()
        assert stats["options"]["motion_source"] == "generator"
        running = stats["motion_source"]
        assert running["name"] == "heuristic" and "missing" in running["fallback"]


async def test_options_the_generator_cannot_honour_are_422(data_dir: Path, tmp_path: Path) -> None:
    weights = tmp_path / "weights"
    save_tiny_weights(weights)
    async with serving(_app(data_dir, weights)) as http:
        sdp = await _offer_sdp()
        r = await http.post("/sessions", json={"sdp": sdp, "type": "offer", "options": {"lookahead": 5}})
        assert r.status_code == 422, r.text
        assert r.json()["detail"]["code"] == "invalid_option" and "0..3" in r.json()["detail"]["message"]
        r = await http.post("/sessions", json={"sdp": sdp, "type": "offer", "options": {"emotion": "bored"}})
        assert r.status_code == 422 and "unknown emotion 'bored'" in r.text
        bad = {"emotion": "sad", "emotion_intensity": 2}
        r = await http.post("/sessions", json={"sdp": sdp, "type": "offer", "options": bad})
        assert r.status_code == 422
        assert (await http.get("/sessions")).json() == []
