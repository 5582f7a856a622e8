"""The diffusion renderer's recipe end to end on a tiny procedural set: data → train (resume) →
distill → eval, plus the metrics, the landmark map and bad weights."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from xactor.cli.main import app
from xactor.engines import face_regions as fr
from xactor.engines.diffusion.maps import landmark_map
from xactor.engines.diffusion.model import RenderDenoiser, RenderModelConfig
from xactor.engines.diffusion.weights import RenderWeightsError, load_render_weights, save_render_weights
from xactor.training.render.metrics import flicker, psnr, ssim

runner = CliRunner()


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("render") / "data"
    args = ["synth", "render-data", "--out", str(out), "--train-identities", "2", "--val-identities", "1"]
    args += ["--test-identities", "1", "--per-identity", "6", "--workers", "1"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return out


def test_data_pairs_have_the_documented_layout(data: Path) -> None:
    manifest = json.loads((data / "manifest.json").read_text())
    assert manifest["shards"] == {
        "train": ["train-0000.npz"],
        "val": ["val-0000.npz"],
        "test": ["test-0000.npz"],
    }
    with np.load(data / "train-0000.npz") as z:
        assert z["prior"].shape == z["target"].shape == (12, 128, 128, 3) and z["reference"].shape[0] == 2
        assert z["landmarks"].shape == (12, 478, 2) and list(z["seeds"]) == [0, 1]
        assert 10 < np.abs(z["prior"].astype(int) - z["target"]).mean() + 10 < 60  # close, not equal
    with np.load(data / "test-0000.npz") as z:
        assert list(z["seeds"]) == [2_000_000]  # held-out identities never train


def test_train_resume_distill_eval(data: Path, tmp_path: Path) -> None:
    run = tmp_path / "teacher"
    base = ["train", "render", "--data", str(data), "--out", str(run), "--batch", "4", "--val-every", "2"]
    assert runner.invoke(app, [*base, "--steps", "2"]).exit_code == 0
    assert runner.invoke(app, [*base, "--steps", "4"]).exit_code == 0  # resumes at step 2
    log = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if "val" in r] == [2, 4]
    _, steps, meta = load_render_weights(run, "render_teacher")
    assert steps == 8 and meta["step"] == 4 and meta["recipe"] == "xactor train render"
    student = tmp_path / "student"
    args = ["distill", "render", "--teacher", str(run), "--data", str(data), "--out", str(student)]
    result = runner.invoke(
        app, [*args, "--steps", "2", "--batch", "2", "--teacher-steps", "2", "--val-every", "2"]
    )
    assert result.exit_code == 0, result.output
    assert load_render_weights(student, "render_student")[1] == 1
    report = tmp_path / "eval"
    args = ["eval", "render", "--data", str(data), "--out", str(report), "--teacher", str(run)]
    result = runner.invoke(app, [*args, "--student", str(student), "--limit", "4"])
    assert result.exit_code == 0, result.output
    table = json.loads((report / "render_eval.json").read_text())["table"]
    assert set(table) == {"warp prior", "teacher (8 steps)", "student (1 step)"}
    assert 15 < table["warp prior"]["psnr"] < 60 and (report / "render_eval.png").is_file()


def test_training_fits_a_batch() -> None:
    """A few dozen steps on one fixed batch cut the flow loss: the model and objective learn."""
    from xactor.training.render.batches import RenderBatch
    from xactor.training.render.train import RenderTrainConfig, flow_loss

    torch.manual_seed(0)
    model = RenderDenoiser(RenderModelConfig(widths=(16, 32, 32)))
    gen = torch.Generator().manual_seed(1)
    prior = torch.rand(4, 3, 32, 32, generator=gen) * 2 - 1
    batch = RenderBatch(
        prior=prior,
        target=(prior + 0.2 * torch.sin(prior * 5)).clamp(-1, 1),
        reference=prior.roll(1, 0),
        lmap=torch.zeros(4, 1, 32, 32),
        mouth=torch.zeros(4, 1, 32, 32),
        boxes=np.array([[0, 0, 32, 32]] * 4),
    )
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    cfg = RenderTrainConfig()
    losses = []
    for _ in range(60):
        torch.manual_seed(len(losses) % 4)  # a few fixed noise draws
        loss = flow_loss(model, model, batch, cfg)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.mean(losses[-8:]) < 0.7 * np.mean(losses[:8])


def test_bad_weights_are_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RenderWeightsError, match="missing"):
        load_render_weights(tmp_path, "render_teacher")
    save_render_weights(tmp_path, "render_teacher", RenderDenoiser(), 8, {})
    path = tmp_path / "render_teacher.safetensors"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(RenderWeightsError, match="cannot be loaded"):
        load_render_weights(tmp_path, "render_teacher")
    result = runner.invoke(app, ["eval", "render", "--data", str(tmp_path), "--out", str(tmp_path / "o")])
    assert result.exit_code == 1 and "not a render data folder" in " ".join(result.stderr.split())


def test_metrics_and_landmark_map() -> None:
    a = torch.rand(2, 3, 32, 32) * 2 - 1
    boxes = np.array([[4, 4, 20, 20]] * 2)
    whole, mouth = psnr(a, a + 0.02, boxes)
    assert abs(whole[0] - 10 * np.log10(4 / 0.0004)) < 0.01 and abs(mouth[0] - whole[0]) < 0.01
    assert ssim(a, a) == pytest.approx([1.0, 1.0], abs=1e-4) and ssim(a, -a)[0] < 0.5
    assert flicker(a, a) == 0.0 and flicker(a, a.flip(0)) > 10
    from xactor.engines.face_model import FaceModel, Placement

    marks = FaceModel(
        placement=Placement(np.eye(3, dtype=np.float32), 60.0, np.array([64, 70, 0], np.float32))
    )
    lm = marks.landmarks(np.zeros(40, np.float32))
    m = landmark_map(lm, 128)
    x, y = np.round(lm[fr.LIPS_OUTER_UPPER[3], :2]).astype(int)
    assert m.shape == (128, 128) and m[y - 1 : y + 2, x - 1 : x + 2].max() == 1.0 and m.mean() < 0.1


@pytest.mark.slow
def test_ddp_with_two_gloo_processes(data: Path, tmp_path: Path) -> None:
    """The same training script under torchrun (the many-GPU path, here 2 CPU processes)."""
    import os
    import subprocess
    import sys

    run = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    cmd += ["-m", "xactor.cli.main", "train", "render", "--data", str(data), "--out", str(run)]
    cmd += ["--steps", "2", "--batch", "2", "--threads", "2", "--val-every", "2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=300, env=env, cwd=Path(__file__).parents[3]
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    _, _, meta = load_render_weights(run, "render_teacher")
    assert meta["world"] == 2 and meta["step"] == 2
