"""``xactor train motion`` / ``xactor distill motion`` on a tiny corpus: a few steps each, resume,
exported weights that load, and the same training script under torchrun with 2 gloo processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from engines.motion_gen.weights import STUDENT, TEACHER, load_weights

TINY = ["--batch", "2", "--frames", "24", "--val-every", "2"]
MODEL = ["--no-augment"]


def _log(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_train_resume_and_distill(tiny_corpus: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    runner = CliRunner()
    args = ["train", "motion", "--data", str(tiny_corpus), "--out", str(run), *TINY, "--threads", "1"]
    result = runner.invoke(app, [*args, "--steps", "2"])
    assert result.exit_code == 0, result.output
    first = load_weights(run, TEACHER)
    assert first.record["step"] == 2 and set(first.record["val"]) == {"mse_t1", "mse_t05", "jaw_rho_t1"}
    result = runner.invoke(app, [*args, "--steps", "4"])  # resumes at step 2
    assert result.exit_code == 0, result.output
    assert load_weights(run, TEACHER).record["step"] == 4
    steps = [r["step"] for r in _log(run / "train_log.jsonl") if "val" in r]
    assert steps == [2, 4]

    student = tmp_path / "student"
    result = runner.invoke(
        app,
        [
            "distill",
            "motion",
            "--teacher",
            str(run),
            "--data",
            str(tiny_corpus),
            "--out",
            str(student),
            "--steps",
            "2",
            "--batch",
            "2",
            "--frames",
            "16",
            "--teacher-steps",
            "2",
            "--no-augment",
        ],
    )
    assert result.exit_code == 0, result.output
    st = load_weights(student, STUDENT)
    assert st.sampler.steps == 1 and st.sampler.guidance == 1.0 and st.record["step"] == 2


def test_distill_without_a_teacher_is_a_clear_error(tiny_corpus: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "distill",
            "motion",
            "--teacher",
            str(tmp_path),
            "--data",
            str(tiny_corpus),
            "--out",
            str(tmp_path / "s"),
        ],
    )
    assert result.exit_code != 0 and "missing" in result.output


def test_train_refuses_a_folder_that_is_not_a_corpus(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["train", "motion", "--data", str(tmp_path), "--out", str(tmp_path / "r")]
    )
    assert result.exit_code != 0 and "not a corpus" in " ".join(result.output.split())


@pytest.mark.slow
def test_ddp_with_two_gloo_processes(tiny_corpus: Path, tmp_path: Path) -> None:
    run = tmp_path / "ddp"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "cli.main",
        "train",
        "motion",
        "--data",
        str(tiny_corpus),
        "--out",
        str(run),
        "--steps",
        "2",
        *TINY,
        "--no-augment",
        "--threads",
        "2",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=300, env=env, cwd=Path(__file__).parents[3]
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    weights = load_weights(run, TEACHER)
    assert weights.record["world"] == 2 and weights.record["step"] == 2
