"""The engine interface's torch backend (fp32 / fp16 / CUDA graphs) and the TensorRT backend.

fp16 parity (≤ 1e-2 relative) is checked on this CPU through autocast, the same code path the
CUDA backend runs; CUDA graphs and TensorRT need a GPU (and ``tensorrt``) and skip with that reason.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from tests.motion_weights import save_tiny_weights
from xactor.cli.main import app
from xactor.engines.inference import TorchEngine
from xactor.engines.motion_gen.onnx_step import sample_inputs, step_module
from xactor.engines.motion_gen.step import INPUTS, OUTPUTS
from xactor.engines.motion_gen.weights import STUDENT, GeneratorWeights, load_weights
from xactor.engines.tensorrt_engine import BatchProfile, input_shapes, plan_name, unavailable_reason

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a CUDA GPU")
needs_tensorrt = pytest.mark.skipif(unavailable_reason() is not None, reason=f"{unavailable_reason()}")


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, GeneratorWeights]:
    folder = tmp_path_factory.mktemp("weights")
    save_tiny_weights(folder, STUDENT, steps=2, guidance=1.5)
    return folder, load_weights(folder, STUDENT)


def _relative(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / max(float(np.abs(b).max()), 1e-6))


def test_fp16_matches_fp32_within_1e_2(weights: tuple[Path, GeneratorWeights]) -> None:
    step = step_module(weights[1])
    feeds = {k: v.numpy() for k, v in sample_inputs(step, 4, seed=5).items()}
    want = TorchEngine(step, INPUTS, OUTPUTS)(feeds)
    half = TorchEngine(step, INPUTS, OUTPUTS, precision="fp16")
    got = half(feeds)
    assert got["motion"].dtype == np.float32  # the interface stays fp32 whatever runs inside
    worst = max(_relative(got[k], want[k]) for k in OUTPUTS)
    assert 0 < worst <= 1e-2  # > 0: fp16 really ran


def test_run_tensors_keeps_tensors(weights: tuple[Path, GeneratorWeights]) -> None:
    step = step_module(weights[1])
    feeds = sample_inputs(step, 2)
    out = TorchEngine(step, INPUTS, OUTPUTS).run_tensors(feeds)
    assert isinstance(out["motion"], torch.Tensor) and out["motion"].shape == (2, 1, 40)


def test_bad_engine_settings_are_refused(weights: tuple[Path, GeneratorWeights]) -> None:
    step = step_module(weights[1])
    with pytest.raises(ValueError, match="precision 'int8'"):
        TorchEngine(step, INPUTS, OUTPUTS, precision="int8")
    with pytest.raises(ValueError, match="CUDA graphs need a CUDA device"):
        TorchEngine(step, INPUTS, OUTPUTS, cuda_graphs=True)


@needs_cuda
def test_cuda_graphs_equal_eager(weights: tuple[Path, GeneratorWeights]) -> None:
    import copy

    step = copy.deepcopy(step_module(weights[1]))
    eager = TorchEngine(step, INPUTS, OUTPUTS, "cuda")
    graphs = TorchEngine(step, INPUTS, OUTPUTS, "cuda", cuda_graphs=True)
    for batch in (1, 3, 1):  # a second call of a captured shape replays it
        feeds = {k: v.numpy() for k, v in sample_inputs(step, batch, seed=batch).items()}
        want, got = eager(feeds), graphs(feeds)
        assert max(_relative(got[k], want[k]) for k in OUTPUTS) <= 1e-5


# ---- TensorRT: plan naming and profiles (pure), the CLI's answer, and the real thing on a GPU


def test_profile_shapes_scale_each_symbolic_axis() -> None:
    manifest = {
        "inputs": {
            "audio": {"shape": ["batch", 7, 80], "dtype": "float32"},
            "cache_k": {"shape": [2, "rows", 4, 12, 16], "dtype": "float32"},
            "motion": {"shape": [4, 40], "dtype": "float32"},
        },
        "axes": {"batch": 1, "rows": 2},
    }
    shapes = input_shapes(manifest, 3)
    assert shapes == {"audio": (3, 7, 80), "cache_k": (2, 6, 4, 12, 16), "motion": (4, 40)}
    with pytest.raises(ValueError, match="min <= opt <= max"):
        BatchProfile(4, 2, 8)


def test_plan_name_changes_with_everything_that_binds_a_plan() -> None:
    base = ("ab" * 32, "sm_90", "10.7.0", "fp16", BatchProfile(1, 4, 16))
    names = {plan_name(*base)}
    for i, other in enumerate(("cd" * 32, "sm_89", "10.8.0", "fp32", BatchProfile(1, 8, 16))):
        changed = list(base)
        changed[i] = other
        names.add(plan_name(*changed))  # type: ignore[arg-type]
    assert len(names) == 6


@pytest.fixture(scope="module")
def exported(weights: tuple[Path, GeneratorWeights], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("onnx") / "step.onnx"
    args = ["export", "motion", "--weights-dir", str(weights[0]), "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return out


def test_build_engine_says_why_not_without_tensorrt(exported: Path, tmp_path: Path) -> None:
    if unavailable_reason() is None:
        pytest.skip("TensorRT is available here: the plan is built (see the test below)")
    result = CliRunner().invoke(app, ["build-engine", str(exported), "--out", str(tmp_path)])
    text = " ".join(result.stderr.split())
    assert result.exit_code == 1 and "cannot build a TensorRT plan here" in text
    assert "tensorrt" in text.lower() and not any(tmp_path.iterdir())


def test_build_engine_refuses_a_graph_without_its_manifest(exported: Path, tmp_path: Path) -> None:
    lone = tmp_path / "lone.onnx"
    lone.write_bytes(exported.read_bytes())
    result = CliRunner().invoke(app, ["build-engine", str(lone)])
    assert result.exit_code == 1 and "manifest" in " ".join(result.stderr.split())
    stale = tmp_path / "stale.onnx"
    stale.write_bytes(exported.read_bytes() + b"\0")
    stale.with_suffix(".json").write_text(exported.with_suffix(".json").read_text())
    result = CliRunner().invoke(app, ["build-engine", str(stale)])
    assert result.exit_code == 1 and "does not match its manifest" in " ".join(result.stderr.split())


@needs_tensorrt
@pytest.mark.parametrize(("precision", "tolerance"), [("fp32", 1e-4), ("fp16", 1e-2)])
def test_tensorrt_plan_matches_torch(
    weights: tuple[Path, GeneratorWeights], exported: Path, tmp_path: Path, precision: str, tolerance: float
) -> None:
    from xactor.engines.tensorrt_engine import TrtEngine, build_plan

    info = json.loads(exported.with_suffix(".json").read_text())
    plan = build_plan(exported, info, tmp_path, precision, BatchProfile(1, 2, 4))
    assert build_plan(exported, info, tmp_path, precision, BatchProfile(1, 2, 4)) == plan  # reused
    assert list(tmp_path.glob("timing-*.cache"))
    engine = TrtEngine(plan, info, max_batch=4)
    step = step_module(weights[1])
    for batch in (1, 4):
        feeds = {k: v.numpy() for k, v in sample_inputs(step, batch, seed=batch).items()}
        want, got = TorchEngine(step, INPUTS, OUTPUTS)(feeds), engine(feeds)
        assert max(_relative(got[k], want[k]) for k in OUTPUTS) <= tolerance
