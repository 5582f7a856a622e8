"""A whole session on loopback: aiortc client -> POST /sessions -> video back, stats, DELETE, cleanup.

These tests wait for events (frames received, the jaw seen open, stats reached), each with a
generous timeout as the only limit on time, and compare orders and counts of frames, never
wall-clock gaps or latencies: on a loaded machine everything is slower, not reordered. Timing is
measured by the latency probe (``xactor bench latency``: first frame, client fps and frame gaps,
audio -> encoder, mouth-to-photon, and with ``--return-audio`` the returned voice's offset from the
jaw).
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import threading
import time
from collections.abc import Callable

import av
import numpy as np
import pytest

from tests.server.live.conftest import bar_height
from xactor.bench.live_client import FRAME, RATE, LiveClient, SignalTrack

pytestmark = pytest.mark.anyio

TIMEOUT_S = 60.0  # the only time limit: how long an event may take on a very loaded machine


def _live_threads(session_id: str) -> list[str]:
    return [t.name for t in threading.enumerate() if session_id in t.name]


async def until(condition: Callable[[], bool], what: str, timeout: float = TIMEOUT_S) -> None:
    """Wait for ``condition`` (polled); fail naming ``what`` after ``timeout`` s."""
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"waited {timeout:g} s for {what}")
        await asyncio.sleep(0.02)


async def until_stats(client: LiveClient, condition: Callable[[dict], bool], what: str) -> dict:
    """Poll the session's stats until ``condition`` holds; the stats that met it."""
    end = time.monotonic() + TIMEOUT_S
    while True:
        stats = await client.stats()
        if condition(stats):
            return stats
        if time.monotonic() > end:
            raise AssertionError(f"waited {TIMEOUT_S:g} s for {what}: {stats}")
        await asyncio.sleep(0.2)


class GatedTrack(SignalTrack):
    """Silence until :meth:`open` (the test waits for an event first), then the signal from its
    start; ``sent`` and :meth:`send_time` count from the signal's start."""

    def __init__(self, signal: np.ndarray) -> None:
        super().__init__(signal)
        self._gate = False
        self._silent = 0
        self._t0: float | None = None

    def open(self) -> None:
        self._gate = True

    async def recv(self) -> av.AudioFrame:
        if self._gate:
            frame = await super().recv()
            frame.pts += self._silent * FRAME  # one continuous stream
            return frame
        if self._t0 is None:
            self._t0 = time.monotonic()
        wait = self._t0 + self._silent * FRAME / RATE - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, FRAME), np.int16), format="s16", layout="mono")
        frame.sample_rate = RATE
        frame.pts = self._silent * FRAME
        frame.time_base = fractions.Fraction(1, RATE)
        self._silent += 1
        return frame


async def test_session_streams_video_that_follows_speech(live, speech) -> None:
    app, http = live
    client = LiveClient(http=http, analyse=bar_height, keep_images=False)
    track = GatedTrack(speech.signal)
    answer = await client.start(track, options={"codec": "h264", "lookahead": 1})
    sid = answer["session_id"]
    assert answer["codec"] == "h264"
    first_phrase_end = speech.ends[0] * RATE // speech.rate
    try:
        # Frames come before the first word: the mic sends silence, the portrait listens.
        await client.wait_frames(10, timeout=TIMEOUT_S)
        track.open()  # now the speech
        # The jaw opens; then frames keep coming through the phrase and the silence after it.
        await until(lambda: any(f.value > 0.2 for f in client.frames), "the jaw to open")
        await until(lambda: track.send_time(first_phrase_end) is not None, "the first phrase to be sent")
        n = len(client.frames)
        await client.wait_frames(n + 10, timeout=TIMEOUT_S)
        stats = await until_stats(
            client,
            lambda s: s["frames_sent"] > 50 and s["audio"]["mic_s"] > 3,
            "50 frames sent and 3 s of mic audio",
        )
    finally:
        await client.stop()
    heights = np.array([f.value for f in client.frames])
    times = np.array([f.t for f in client.frames])
    speech_sent = track.send_time(speech.onsets[0] * RATE // speech.rate)
    assert speech_sent is not None
    # Video follows speech: closed in every frame that arrived before the speech was sent, open
    # only after it; open through the phrase (the 25 frames from the first opening).
    before = heights[times < speech_sent]
    opened = int(np.argmax(heights > 0.2))
    during = heights[opened : opened + 25]
    assert before.size >= 10 and before.max() < 0.05, before
    assert times[opened] > speech_sent
    assert during.max() > 0.2 and during.mean() > before.mean() + 0.05, during
    # Stats: per-stage timings, no render errors (the latencies are the latency probe's).
    for stage in ("resample", "vad", "features", "motion", "render", "encode"):
        assert stage in stats["stages_ms"], stats["stages_ms"]
    assert stats["latency_ms"]["audio_to_encoder"] is not None
    assert stats["errors"]["render"] == 0
    # DELETE awaited the teardown: session gone, its threads gone.
    assert app.state.sessions.get(sid) is None
    assert _live_threads(sid) == []
    metrics = (await http.get("/metrics")).text
    assert "xactor_stage_seconds_bucket" in metrics
    assert "xactor_frames_sent_total" in metrics
    assert "process_cpu_seconds_total" in metrics  # the standard process metrics, for CPU use


async def test_return_audio_plays_in_step_with_the_video(live, speech) -> None:
    """The returned voice reaches the client when the frames showing it do (both via loopback)."""
    from xactor.server.live.transport import configure_audio_receivers

    _, http = live
    audio_on: list[float] = []

    client = LiveClient(http=http, analyse=bar_height, keep_images=False)

    async def read_audio(track) -> None:  # replaces the client's counter: note when sound starts
        from aiortc.mediastreams import MediaStreamError

        loud = False
        try:
            while True:
                frame = await track.recv()
                now = time.monotonic()
                level = float(np.abs(frame.to_ndarray()).max())
                if level > 600 and not loud:  # about -35 dBFS, the onset level of bench.speech
                    audio_on.append(now)
                loud = level > 600 or (loud and level > 100)
        except MediaStreamError:
            pass

    client._read_audio = read_audio  # type: ignore[method-assign]
    track = SignalTrack(speech.signal)
    answer = await client.start(track, options={"return_audio": True})
    assert answer["options"]["return_audio"] is True
    assert (
        client.pc is not None and configure_audio_receivers(client.pc, 0) == 1
    )  # client side: no extra audio buffering either
    last_phrase_end = speech.ends[-1] * RATE // speech.rate
    try:
        await until(lambda: track.send_time(last_phrase_end) is not None, "the last phrase to be sent")
        await client.wait_frames(len(client.frames) + 15, timeout=TIMEOUT_S)  # its frames shown
    finally:
        await client.stop()
    assert audio_on, "no returned audio"
    times = np.array([f.t for f in client.frames])
    opened = np.array([f.value for f in client.frames]) > 0.1
    jaw_frames = np.nonzero(opened[1:] & ~opened[:-1])[0] + 1  # the jaw's rising edges, by frame
    # Per phrase: the first returned sound and the first jaw opening after the phrase left the
    # client, as an offset in frames received (the frame that arrived with the sound vs the frame
    # that opened the jaw), not in seconds: a busy machine slows both, it does not reorder them.
    # The median over the phrases, so one onset disturbed by a busy machine does not decide.
    offsets = []
    for onset in speech.onsets:
        sent = track.send_time(onset * RATE // speech.rate)
        if sent is None:
            continue
        sound = [t for t in audio_on if t >= sent - 0.02]
        jaw = jaw_frames[times[jaw_frames] >= sent - 0.1]
        if sound and jaw.size:
            with_sound = int(np.searchsorted(times, sound[0]))  # the first frame at or after it
            offsets.append(int(jaw[0]) - with_sound)
    assert offsets, (audio_on, jaw_frames)
    offset = float(np.median(offsets))
    # Audio of frame k leaves with frame k. The jaw may open a frame early (frame k sees frame
    # k + 1's audio as lookahead) or a frame or two late (the VAD gate): -2..+3 frames.
    print(f"jaw minus returned-audio onset at the client: {offsets} frames")
    assert -2 <= offset <= 3, offsets


async def test_motion_channel_streams_each_frames_motion(live, speech) -> None:
    """A client that opens the ``motion`` data channel gets every frame's motion (ARKit names,
    head pose) with the frame's index and time, in order, matching the picture it sees."""
    from xactor.engines import motion_space as ms

    _, http = live
    client = LiveClient(http=http, analyse=bar_height, keep_images=False, motion_channel=True)
    await client.start(SignalTrack(speech.signal))
    try:
        await until(lambda: len(client.motion) > 50, "50 motion messages")
        await until(lambda: any(f.value > 0.2 for f in client.frames), "the jaw to open in the picture")
        await until(lambda: any(m["coefficients"]["jawOpen"] > 0.2 for m in client.motion), "jaw in motion")
        # Every new frame the client has seen has its motion message (the channel may run a little
        # behind the video: wait for it to catch up; repeated pictures, the video's keep-alive,
        # have none).
        seen = len(client.frames)
        repeated = (await client.stats())["frames_repeated"]
        await until(lambda: len(client.motion) >= seen - repeated, "the motion of every frame seen")
    finally:
        await client.stop()
    first = client.motion[0]
    assert first["type"] == "motion" and set(first["coefficients"]) == set(ms.NAMES)
    index = np.array([m["index"] for m in client.motion])
    assert (np.diff(index) > 0).all()
    np.testing.assert_allclose([m["t"] for m in client.motion], index / 25.0, atol=1e-3)
    jaw = np.array([m["coefficients"]["jawOpen"] for m in client.motion])
    heights = np.array([f.value for f in client.frames])
    assert jaw.max() > 0.2 and heights.max() > 0.2  # the speech moved both, the same way


async def test_clear_stops_say_on_a_browser_session(live) -> None:
    """``POST /sessions/{id}/clear`` on a mic session: the ``say`` speech not yet played goes, the
    mouth closes (the mic, silent here, goes on driving it)."""
    from xactor.bench.speech import have_espeak

    if not have_espeak():
        pytest.skip("espeak-ng is not installed")
    _, http = live
    client = LiveClient(http=http, analyse=bar_height, keep_images=False)
    heard: list[tuple[float, float]] = []  # (arrival, peak) of each returned 20 ms chunk

    async def read_audio(track) -> None:
        from aiortc.mediastreams import MediaStreamError

        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                heard.append((time.monotonic(), float(np.abs(frame.to_ndarray()).max()) / 32767))

    client._read_audio = read_audio  # type: ignore[method-assign]
    silence = SignalTrack(np.zeros(16000 * 8, np.float32))
    answer = await client.start(silence, options={"codec": "h264", "return_audio": True})
    sid = answer["session_id"]
    from xactor.server.live.transport import configure_audio_receivers

    assert client.pc is not None and configure_audio_receivers(client.pc, 0) == 1  # no client buffering
    in_flight = 6  # frames rendered before the clear and still on their way (~0.25 s)
    try:
        await client.wait_frames(5, timeout=TIMEOUT_S)
        text = "Papa bought a big blue boat, and we sailed it all the way around the bay."
        assert (await http.post(f"/sessions/{sid}/say", json={"text": text})).status_code == 202
        # The say speech plays: the jaw opens and its voice comes back; then interrupt it.
        await until(lambda: any(f.value > 0.2 for f in client.frames), "the jaw to open")
        await until(lambda: any(peak > 0.1 for _, peak in heard), "the say speech returned")
        queued = (await http.get(f"/sessions/{sid}")).json()["audio"]["say_queued_s"]
        cleared = await http.post(f"/sessions/{sid}/clear")
        n_cleared, heard_cleared = len(client.frames), len(heard)
        await client.wait_frames(n_cleared + in_flight + 15, timeout=TIMEOUT_S)
        t_settled = client.frames[n_cleared + in_flight].t  # the frames in flight are in
        await until(lambda: heard and heard[-1][0] > t_settled + 0.2, "return audio after the clear")
        stats = (await http.get(f"/sessions/{sid}")).json()
    finally:
        await client.stop()
    assert cleared.status_code == 200 and queued > 1.0
    # The queue drains at real time between the two requests: at most what was queued went.
    assert 0 < cleared.json()["dropped_s"] <= queued + 0.01, (cleared.json(), queued)
    assert stats["audio"]["say_queued_s"] == 0 and stats["frames_dropped"]["at_clear"] <= 2
    spoke = [f.value for f in client.frames[:n_cleared]]
    after = [f.value for f in client.frames[n_cleared + in_flight :]]
    assert max(spoke) > 0.2 and len(after) >= 15 and max(after) < 0.05, after
    # The return audio: the say speech before, silence after. The speech released but shown by no
    # frame (the lookahead and a tick) was muted before it was sent. (What the client decodes is no
    # proof of that: Opus concealment rings on over the gaps of a loaded loopback.)
    assert max(peak for _, peak in heard[:heard_cleared]) > 0.1
    assert stats["audio"]["muted_s"] > 0.02, stats["audio"]
    assert max(peak for t, peak in heard if t > t_settled) < 0.01
