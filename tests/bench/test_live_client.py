"""bench/live_client.py: the client's microphone track is paced in real time."""

from __future__ import annotations

import time

import numpy as np
import pytest

from xactor.bench.live_client import SignalTrack


@pytest.mark.anyio
async def test_signal_track_is_paced_in_real_time() -> None:
    track = SignalTrack(np.zeros(48000, np.float32))
    t0 = time.monotonic()
    for _ in range(10):
        await track.recv()
    assert 0.16 < time.monotonic() - t0 < 0.3
