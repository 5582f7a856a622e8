"""``xactor bench encode``: every setting encodes the same rendered frames and decodes back."""

from __future__ import annotations

from xactor.bench.encode import EncodeBenchConfig, run


def test_rows_for_every_preset_the_swscale_baseline_and_vp8() -> None:
    cfg = EncodeBenchConfig(presets=("ultrafast", "veryfast"), size=256, bitrate=200_000, frames=12, rounds=1)
    result = run(cfg)
    rows = {(r["codec"], r["preset"], r["rgb_to_yuv"]): r for r in result["rows"]}
    assert set(rows) == {
        ("h264", "ultrafast", "opencv"),
        ("h264", "veryfast", "opencv"),
        ("h264", "ultrafast", "swscale"),
        ("vp8", "-", "opencv"),
    }
    assert all(r["encode_ms"] > 0 and r["psnr_db"] > 25 and r["kbit_s"] > 0 for r in rows.values())
    assert result["rgb_to_yuv_ms"] > 0 and result["rgb_to_yuv_swscale_ms"] > 0
