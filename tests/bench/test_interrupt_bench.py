"""``xactor bench interrupt`` against a real ``xactor serve``: the table's numbers are counted on
what the client received, and the default ``close_mouth`` shuts the mouth on the first frame out
after the clear while ``natural`` leaves it to the source."""

from __future__ import annotations

import asyncio

import pytest

from xactor.bench.interrupt import InterruptConfig, run
from xactor.bench.speech import have_espeak


@pytest.mark.skipif(not have_espeak(), reason="espeak-ng is not installed")
def test_interrupt_bench_counts_frames_until_the_mouth_closes() -> None:
    result = asyncio.run(run(InterruptConfig(trials=2, sources=("heuristic",))))
    rows = {row["on_clear"]: row for row in result["rows"]}
    assert set(rows) == {"close_mouth", "natural"} and result["speech_s"] > 5
    close = rows["close_mouth"]
    assert all(t["open_frames"] == 0 and t["heard_frames"] == 0 for t in close["trials"]), close
    assert close["twitch_max"] < 0.05
    natural = rows["natural"]
    assert all(t["open_frames"] is not None for t in natural["trials"]), natural  # closes all the same
    assert all(t["position_s"] is not None for row in rows.values() for t in row["trials"])
