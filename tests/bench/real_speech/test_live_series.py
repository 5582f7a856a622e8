"""How live frames become a series on the clip's frame grid: what was on screen when each clip
frame's audio left the microphone."""

from __future__ import annotations

import numpy as np

from xactor.bench.real_speech.live import on_screen


def test_the_last_frame_received_by_then_is_on_screen() -> None:
    arrivals = np.array([1.00, 1.04, 1.08, 1.12])
    values = np.array([0.1, 0.2, 0.3, 0.4])
    when = np.array([0.5, 1.00, 1.05, 1.2, np.nan])
    out = on_screen(arrivals, values, when)
    assert np.isnan(out[0]) and out[1] == 0.1 and out[2] == 0.2 and out[3] == 0.4
