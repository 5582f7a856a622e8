"""``xactor export motion``: the generator's step graph, its manifest, parity on fresh inputs
(fp32 ≤ 1e-4 relative), and the TensorRT operator check."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from tests.motion_weights import save_tiny_weights
from xactor.cli.main import app
from xactor.engines.inference import OrtEngine, TorchEngine
from xactor.engines.motion_gen.onnx_step import sample_inputs, step_module
from xactor.engines.motion_gen.step import INPUTS, OUTPUTS
from xactor.engines.motion_gen.weights import STUDENT, load_weights
from xactor.export.onnx_motion import MOTION_TENSORRT_OPS


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("weights")
    save_tiny_weights(folder, STUDENT, steps=2, guidance=1.5)  # guided: the doubled batch is in the graph
    out = folder / "onnx" / "step.onnx"
    result = CliRunner().invoke(app, ["export", "motion", "--weights-dir", str(folder), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return folder, out


def test_manifest_describes_the_graph(exported: tuple[Path, Path]) -> None:
    _, out = exported
    info = json.loads(out.with_suffix(".json").read_text())
    assert set(info["inputs"]) == set(INPUTS) and set(info["outputs"]) == set(OUTPUTS)
    assert info["inputs"]["audio"]["shape"][0] == "batch" and info["inputs"]["lookahead"]["dtype"] == "int64"
    assert info["inputs"]["cache_k"]["shape"][1] == "rows"
    assert info["opset"] == 17 and info["max_rel_error_vs_torch"] <= 1e-4
    assert set(info["sources"]) == {f"{STUDENT}.safetensors", f"{STUDENT}.json"}
    assert info["stage"] == "motion_step" and info["axes"] == {"batch": 1, "rows": 2}
    assert len(info["sha256"]) == 64 and set(info["operators"]) <= MOTION_TENSORRT_OPS


@pytest.mark.parametrize("batch", [1, 5])
def test_onnxruntime_matches_torch_on_fresh_inputs(exported: tuple[Path, Path], batch: int) -> None:
    folder, out = exported
    step = step_module(load_weights(folder, STUDENT))
    feeds = {k: v.numpy() for k, v in sample_inputs(step, batch, seed=11 + batch).items()}
    want = TorchEngine(step, INPUTS, OUTPUTS)(feeds)
    got = OrtEngine(out)(feeds)
    for name in OUTPUTS:
        scale = max(float(np.abs(want[name]).max()), 1e-6)
        assert np.abs(got[name] - want[name]).max() / scale <= 1e-4, name


def test_engines_refuse_bad_feeds(exported: tuple[Path, Path]) -> None:
    folder, out = exported
    step = step_module(load_weights(folder, STUDENT))
    feeds = {k: v.numpy() for k, v in sample_inputs(step, 1).items()}
    engine = OrtEngine(out)
    with pytest.raises(ValueError, match=r"missing \['noise'\]"):
        engine({k: v for k, v in feeds.items() if k != "noise"})
    with pytest.raises(ValueError, match="rank"):
        engine({**feeds, "lookahead": feeds["lookahead"][None]})
    with pytest.raises(ValueError, match=r"unexpected \['extra'\]"):
        TorchEngine(step, INPUTS, OUTPUTS)({**feeds, "extra": torch.zeros(1).numpy()})


def test_export_without_weights_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["export", "motion", "--weights-dir", str(tmp_path), "--out", str(tmp_path / "x.onnx")]
    )
    assert result.exit_code != 0 and "motion_teacher" in result.output
