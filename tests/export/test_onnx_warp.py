"""The warp renderer exports to ONNX, matches torch in ONNX Runtime, and stays TensorRT-parsable."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests import fixtures_images as fx
from xactor.engines import motion_space as ms
from xactor.engines.avatar.store import AvatarStore
from xactor.engines.warp import AvatarRenderer

ort = pytest.importorskip("onnxruntime", reason="ONNX Runtime checks the exported graph")
onnx = pytest.importorskip("onnx", reason="the onnx package writes the graph")

from xactor.engines.onnx_io import graph_ops  # noqa: E402
from xactor.export.onnx_warp import TENSORRT_OPS, export_warp, sample_motion  # noqa: E402


@pytest.fixture(scope="module")
def renderer(tmp_path_factory: pytest.TempPathFactory) -> AvatarRenderer:
    store = AvatarStore(tmp_path_factory.mktemp("onnx") / "avatars", with_default=False)
    return AvatarRenderer.from_bundle(store.add(fx.grace_hopper_jpeg()), size=256)


@pytest.fixture(scope="module")
def exported(renderer: AvatarRenderer, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    path = tmp_path_factory.mktemp("onnx_out") / "warp.onnx"
    return path, export_warp(renderer.module, path, batch=4)


def test_parity_with_torch(exported: tuple[Path, float]) -> None:
    _, error = exported
    assert error <= 1e-4


def test_graph_has_static_documented_shapes(exported: tuple[Path, float]) -> None:
    model = onnx.load(str(exported[0]))
    (inp,), (out,) = model.graph.input, model.graph.output
    dims = lambda v: [d.dim_value for d in v.type.tensor_type.shape.dim]  # noqa: E731
    assert (inp.name, dims(inp)) == ("motion", [4, ms.MOTION_DIM])
    assert (out.name, dims(out)) == ("frames", [4, 3, 256, 256])


def test_graph_uses_only_tensorrt_operators(exported: tuple[Path, float]) -> None:
    ops = graph_ops(exported[0])
    assert "GridSample" in ops
    assert ops <= TENSORRT_OPS
    model = onnx.load(str(exported[0]))
    for node in model.graph.node:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type == "GridSample":
            assert attrs.get("mode", b"bilinear") == b"bilinear"
        if node.op_type == "Resize":
            assert attrs["mode"] == b"linear" and attrs["coordinate_transformation_mode"] == b"align_corners"


def test_onnx_runtime_clamps_wild_motion(exported: tuple[Path, float]) -> None:
    wild = sample_motion(4, seed=9)
    wild[0] = float("nan")
    wild[1] = 1e6
    wild[2] = -1e6
    session = ort.InferenceSession(str(exported[0]), providers=["CPUExecutionProvider"])
    got = session.run(None, {"motion": wild.numpy()})[0]
    clamped = session.run(None, {"motion": ms.clamp(wild).numpy()})[0]
    zero = session.run(None, {"motion": np.zeros((4, ms.MOTION_DIM), np.float32)})[0]
    assert np.isfinite(got).all() and got.min() >= 0.0 and got.max() <= 1.0
    assert np.abs(got - clamped).max() < 1e-6
    assert np.abs(got[0] - zero[0]).max() < 1e-6  # NaN means the reference


def test_cli_writes_the_graph_and_its_manifest(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from xactor.cli.main import app

    out = tmp_path / "warp.onnx"
    args = ["export", "warp", "--out", str(out), "--batch", "2", "--data-dir", str(tmp_path / "data")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    info = json.loads(out.with_suffix(".json").read_text())
    assert info["stage"] == "warp_renderer" and info["inputs"]["motion"]["shape"] == [2, 40]
    assert info["outputs"]["frames"]["shape"] == [2, 3, 256, 256] and info["max_rel_error_vs_torch"] <= 1e-4
    assert info["sources"] and set(info["operators"]) <= TENSORRT_OPS
