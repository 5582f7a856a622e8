"""``bench/gpu_check.py`` in its CPU mode on the tiniest settings: every section of the table is
there, parity passes on the CPU (fp32 exactly, fp16 through CPU autocast), and the files agree."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from xactor.bench.gpu_check import Check, default_config, markdown


@pytest.mark.slow  # the default avatar, three ONNX exports: 20-40 s on a busy 2-core CPU
def test_gpu_check_cpu_quick(tmp_path: Path) -> None:
    cfg = replace(
        default_config(cpu=True, why_cpu="test"),
        parity_batch=1,
        batches=(1, 2),
        iters=1,
        warmup=1,
        accel_warp=((256, 1),),
        accel_batches=(1,),
        train_batch=1,
        train_frames=16,
        train_iters=1,
    )
    result = Check(cfg, tmp_path).run()

    header = result["header"]
    assert header["mode"] == "cpu (test)" and header["status"] == "complete"
    assert header["verdict"] == "PASS", markdown(result)
    for section in ("parity", "throughput", "accelerated", "training"):
        assert result[section]["status"] == "done", result[section]

    parity = result["parity"]["rows"]
    stages = {(r["stage"], r["precision"]) for r in parity}
    assert stages == {
        (s, p) for s in ("motion step", "warp renderer", "diffusion step") for p in ("fp32", "fp16")
    } | {("distillation loss", "fp32")}
    assert all(r["passed"] for r in parity)
    warp32 = next(r for r in parity if r["stage"] == "warp renderer" and r["precision"] == "fp32")
    assert warp32["max_abs"] <= 1  # the same CPU path: the trace against the renderer's trace

    throughput = result["throughput"]["rows"]
    assert [(r["size"], r["batch"]) for r in throughput] == [(256, 1), (256, 2)]
    assert all(r["ms_batch"] > 0 and r["fps"] > 0 for r in throughput)
    assert all("CUDA graph" not in r["runner"] for r in throughput)

    accelerated = result["accelerated"]["rows"]
    assert {r["stage"] for r in accelerated} == {"motion step", "warp renderer", "diffusion step"}
    assert all(r["backend"] == "onnxruntime" and r["ms_call"] > 0 for r in accelerated)

    training = result["training"]["rows"]
    assert [r["stage"].split(":")[0] for r in training] == ["teacher", "student"]
    assert all(r["device"] == "cpu" and r["ms_step"] > 0 and r["finite"] for r in training)

    text = (tmp_path / "gpu_check.md").read_text()
    for heading in ("## 1. Parity", "## 2. Warp renderer throughput", "## 3. ONNX Runtime", "## 4. Training"):
        assert heading in text
    assert "verdict: PASS" in text and "mode: cpu (test), quick" in text
    saved = json.loads((tmp_path / "gpu_check.json").read_text())
    assert saved["header"]["verdict"] == "PASS" and len(saved["parity"]["rows"]) == len(parity)
