"""``xactor bench diffusion`` measures the diffusion renderer beside the warp renderer (tiny random
weights here: the figures themselves are recorded in bench/RESULTS.md)."""

from __future__ import annotations

from pathlib import Path

from xactor.bench.diffusion import DiffusionBenchConfig, markdown, run
from xactor.engines.diffusion.model import RenderDenoiser, RenderModelConfig
from xactor.engines.diffusion.weights import save_render_weights


def test_rows_for_every_stage_steps_and_size(tmp_path: Path) -> None:
    save_render_weights(
        tmp_path, "render_student", RenderDenoiser(RenderModelConfig(widths=(16, 32, 32))), 1, {}
    )
    cfg = DiffusionBenchConfig(
        weights_dir=tmp_path,
        steps=(1, 2),
        batches=(2,),
        sizes=(256,),
        work_sizes=(64,),
        avatars=(2,),
        repeats=3,
    )
    result = run(cfg)
    stages = {(r["stage"], r["steps"]) for r in result["rows"]}
    assert stages == {
        ("warp", 0),
        ("diffusion", 1),
        ("diffusion", 2),
        ("denoiser", 1),
        ("avatars one by one", 1),
        ("avatars together", 1),
    }
    assert all(r["ms_per_frame"] > 0 for r in result["rows"]) and result["work_size"] == 128
    assert "| diffusion | 256 | 2 | 2 |" in markdown(result)
    assert "| avatars together | 256 | 2 | 1 |" in markdown(result)
