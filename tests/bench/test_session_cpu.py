"""``xactor bench cpu``: a real server's CPU per live session, and the baseline comparison."""

from __future__ import annotations

import asyncio

import pytest

from xactor.bench.session_cpu import SessionCpuConfig, run, summary, worktree


def _row(code: str, sessions: int, cores: float, fps: float) -> dict:
    return {
        "code": code,
        "sessions": sessions,
        "cores": cores,
        "cores_per_session": cores / sessions,
        "cores_per_25fps_session": cores / (fps * sessions) * 25,
        "fps_received": [fps] * sessions,
    }


def test_a_saturated_server_is_charged_per_frame_and_compared_with_the_baseline() -> None:
    rows = [_row("baseline abc", 2, 1.2, 10.0), _row("current", 2, 1.2, 15.0)]
    baseline, current = summary(rows)
    assert baseline["cores_per_25fps_session"] == pytest.approx(1.5)  # 1.2 cores for 20 of 50 frames
    assert current["cores_per_25fps_session"] == pytest.approx(1.0)
    assert current["ratio_to_baseline"] == pytest.approx(0.67)
    assert "ratio_to_baseline" not in baseline


def test_a_settings_variant_is_not_taken_for_the_baseline() -> None:
    rows = [_row("current", 1, 0.8, 25.0), _row("current, XACTOR_TORCH_THREADS=1", 1, 0.7, 25.0)]
    assert all("ratio_to_baseline" not in row for row in summary(rows))


def test_the_baseline_is_a_detached_checkout_removed_afterwards() -> None:
    with worktree("HEAD") as folder:
        assert (folder / "pyproject.toml").is_file() and (folder / "xactor").is_dir()
    assert not folder.parent.exists()


@pytest.mark.slow
@pytest.mark.serial
def test_one_live_diffusion_session_is_measured_on_a_real_server() -> None:
    """A real server: the diffusion renderer on a procedural avatar."""
    cfg = SessionCpuConfig(sessions=(1,), duration_s=3.0, warmup_s=2.0, renderer="diffusion")
    result = asyncio.run(run(cfg))
    assert [r["code"] for r in result["rows"]] == ["current"]
    assert result["renderer"] == "diffusion"
    for row in result["rows"]:
        assert row["sessions"] == 1 and 0.05 < row["cores"] < 4.0  # it streamed: the server spent CPU
        assert row["fps"][0] > 5 and row["fps_received"][0] > 5, row
        assert row["longest_gap_ms"][0] is not None and row["cores_per_25fps_session"] is not None
        # Where the CPU went: the render thread and the event loop, and the stages they ran.
        threads = row["cpu_ms_per_frame_by_thread"]
        assert threads["render"] > 1.0 and threads["MainThread"] > 0.1, threads
        assert {"motion", "render", "encode"} <= row["stage_ms"].keys(), row["stage_ms"]
