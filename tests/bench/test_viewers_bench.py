"""The viewers benchmark against a real ``xactor serve``: one browser-like session, WHEP viewers
joining and leaving, and the server's CPU read from /metrics."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from xactor.bench.viewers import ViewersConfig, viewers

pytestmark = [pytest.mark.slow, pytest.mark.serial]


def test_viewers_bench_measures_each_count(tmp_path: Path) -> None:
    cfg = ViewersConfig(
        counts=(0, 2),
        seconds=2.0,
        settle_s=1.5,
        data_dir=tmp_path,
        server_env={"XACTOR_MOTION_SOURCE": "heuristic"},
    )
    result = asyncio.run(viewers(cfg))
    idle, watched = result["rows"]
    assert idle["viewers"] == 0 and idle["viewer_fps_min"] is None and idle["per_viewer_cpu_percent"] is None
    assert watched["viewers"] == 2 and watched["per_viewer_cpu_percent"] is not None
    assert idle["server_cpu_percent"] > 1 and watched["server_cpu_percent"] > 1  # it streamed: it used CPU
    # Both viewers got pictures (a stall guard: 25 a second alone), from the client's own encode.
    assert watched["viewer_fps_min"] > 5, result
    assert watched["encode"] == "shared with the session's client"
