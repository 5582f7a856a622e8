"""The warp renderer bench: one small configuration end to end, the fused kernels timed beside
the torch-only trace of the same module."""

from __future__ import annotations

import math

import numpy as np
import pytest

from xactor.bench import render

pytestmark = pytest.mark.slow


def test_render_bench_times_both_traces() -> None:
    rows = render.run(repeats=3, sizes=(256,), batches=(1,), onnx=False)  # ONNX: tests/export
    assert len(rows) == 1
    row = rows[0]
    for key in ("torch_ms", "torch_plain_ms"):
        assert 0.1 < row[key] < 5000, (key, row[key])
    assert math.isnan(row["ort_ms"])
    table = render.markdown(rows)
    assert "torch without fused kernels" in table and "×" in table


def test_paired_timing_alternates_the_calls() -> None:
    order: list[str] = []
    medians = render.time_paired(
        [lambda m: order.append("a"), lambda m: order.append("b")], [np.zeros((1, 40))], 3
    )
    assert order == ["a", "b", "a", "b", "a", "b", "a", "b"]  # one warm-up each, then alternating
    assert len(medians) == 2
