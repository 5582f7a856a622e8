"""A whole session on loopback: aiortc client -> POST /sessions -> video back, stats, DELETE, cleanup."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from bench.live_client import LiveClient, SignalTrack
from tests.server.live.conftest import bar_height

pytestmark = pytest.mark.anyio


def _live_threads(session_id: str) -> list[str]:
    return [t.name for t in threading.enumerate() if session_id in t.name]


async def test_session_streams_video_that_follows_speech(live, speech) -> None:
    app, http = live
    client = LiveClient(http=http, analyse=bar_height, keep_images=False)
    track = SignalTrack(speech.signal)
    answer = await client.start(track, options={"codec": "h264", "lookahead": 1})
    sid = answer["session_id"]
    assert answer["codec"] == "h264"
    try:
        await client.wait_frames(5, timeout=5.0)
        first_frame = client.frames[0].t - client.offer_done
        assert first_frame < 1.0
        await asyncio.sleep(speech.seconds - 0.5)
        stats = await client.stats()
    finally:
        await client.stop()
    # Frames keep coming at ~25 fps, before the first word and between phrases too.
    times = np.array([f.t for f in client.frames])
    span = times[-1] - times[0]
    assert len(times) / span > 20, f"{len(times)} frames in {span:.1f} s"
    assert np.diff(times).max() < 0.25
    # The bar (jawOpen) is up while a phrase plays and down in the silence before the first one.
    heights = np.array([f.value for f in client.frames])
    rel = times - track.sent[0]  # seconds into the signal, roughly (plus latency)
    before = heights[(rel > 0.2) & (rel < 0.9)]
    during = heights[(rel > 1.2) & (rel < 2.4)]
    assert before.size and during.size
    assert before.max() < 0.05, before
    assert during.max() > 0.2 and during.mean() > before.mean() + 0.05
    # Stats: per-stage timings, latency, fps, no render errors.
    assert stats["frames_sent"] > 50
    assert stats["latency_ms"]["audio_to_encoder"]["p95"] < 500
    for stage in ("resample", "motion", "render", "encode"):
        assert stage in stats["stages_ms"], stats["stages_ms"]
    assert stats["errors"]["render"] == 0
    assert stats["audio"]["mic_s"] > 3
    # DELETE awaited the teardown: session gone, its threads gone.
    assert app.state.sessions.get(sid) is None
    assert _live_threads(sid) == []
    metrics = (await http.get("/metrics")).text
    assert "xactor_stage_seconds_bucket" in metrics
    assert "xactor_frames_sent_total" in metrics
