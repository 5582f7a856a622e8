"""The video encoder's cost per frame and what it keeps of the picture, by H.264 preset (and VP8).

Frames are the warp renderer's own: the default avatar speaking the demo script at the session
size, so the content moves like a live session's (a mouth, blinks, head turns on a still
background). Each codec setting encodes the same frames through the server's
:class:`~server.live.encoding.VideoEncoder` (zerolatency, baseline, the session bitrate, one
thread at 256 px); the packets are decoded and compared with the rendered frames. Also timed: the
RGB → YUV 4:2:0 conversion inside ``encode`` on its own, beside FFmpeg's swscale doing the same.
All settings run interleaved, ``rounds`` times, so a drifting machine affects them alike.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np

from xactor.bench.gpu_check import psnr
from xactor.bench.render import machine
from xactor.engines.avatar.store import AvatarStore
from xactor.engines.offline.demo import demo_motion
from xactor.engines.warp import AvatarRenderer
from xactor.server.live.encoding import VideoEncoder, swscale_yuv420_frame, yuv420_frame


@dataclass(frozen=True)
class EncodeBenchConfig:
    presets: tuple[str, ...] = ("veryfast", "superfast", "ultrafast")
    vp8: bool = True
    size: int = 256
    bitrate: int = 600_000
    frames: int = 250  # 10 s at 25 fps
    rounds: int = 2


def rendered_frames(size: int, count: int) -> list[np.ndarray]:
    """``count`` frames [S, S, 3] of the default avatar speaking the demo script."""
    motion = demo_motion(count / 25.0 + 1.0).astype(np.float32)[:count]
    with tempfile.TemporaryDirectory() as tmp:
        renderer = AvatarRenderer.from_bundle(AvatarStore(Path(tmp) / "avatars").ensure_default(), size=size)
        return [renderer.render(m) for m in motion]


def _to_yuv(swscale: bool) -> Callable[[np.ndarray], av.VideoFrame]:
    """The RGB → YUV 4:2:0 conversion measured: the encoder's own, or FFmpeg's swscale."""
    return swscale_yuv420_frame if swscale else yuv420_frame


def encode_once(
    codec: str, preset: str, frames: list[np.ndarray], bitrate: int, swscale: bool = False
) -> dict[str, Any]:
    """Encode every frame (ms each), decode the stream back, PSNR against the frames
    (``swscale``: FFmpeg's RGB → YUV conversion in place of the encoder's own)."""
    encoder = VideoEncoder(codec, bitrate, h264_preset=preset, to_yuv=_to_yuv(swscale))  # type: ignore[arg-type]
    decoder = av.CodecContext.create("h264" if codec == "h264" else "vp8", "r")
    times, scores, size = [], [], 0
    try:
        for k, frame in enumerate(frames):
            start = time.perf_counter()
            packet = encoder.encode(frame, k * 3600)
            times.append((time.perf_counter() - start) * 1000)
            if packet is None:
                continue
            size += packet.size
            for out in decoder.decode(av.Packet(bytes(packet))):
                scores.append(psnr(out.to_ndarray(format="rgb24"), frame))
    finally:
        encoder.close()
    return {
        "ms": statistics.median(times[1:]),
        "psnr": float(np.mean(scores)),
        "kbit_s": size * 8 / len(frames) * 25 / 1000,
    }


def conversion_ms(frames: list[np.ndarray], swscale: bool = False) -> float:
    """Median ms of the RGB → YUV 4:2:0 conversion ``encode`` does before the codec
    (``swscale``: FFmpeg's instead, as it was)."""
    convert = _to_yuv(swscale)
    times = []
    for frame in frames:
        start = time.perf_counter()
        convert(frame)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def run(cfg: EncodeBenchConfig) -> dict[str, Any]:
    frames = rendered_frames(cfg.size, cfg.frames)
    # (codec, preset, swscale): every setting, and the first preset through swscale beside it
    settings = [("h264", p, False) for p in cfg.presets] + [("h264", cfg.presets[0], True)]
    settings += [("vp8", "", False)] if cfg.vp8 else []
    runs: dict[tuple[str, str, bool], list[dict[str, Any]]] = {s: [] for s in settings}
    for _ in range(cfg.rounds):
        for codec, preset, swscale in settings:
            runs[(codec, preset, swscale)].append(encode_once(codec, preset, frames, cfg.bitrate, swscale))
    rows = [
        {
            "codec": codec,
            "preset": preset or "-",
            "rgb_to_yuv": "swscale" if swscale else "opencv",
            "encode_ms": round(statistics.median(r["ms"] for r in found), 2),
            "psnr_db": round(found[0]["psnr"], 2),  # the codecs are deterministic: every round agrees
            "kbit_s": round(found[0]["kbit_s"]),
        }
        for (codec, preset, swscale), found in runs.items()
    ]
    return {
        "machine": machine(threads=False),
        "size": cfg.size,
        "bitrate": cfg.bitrate,
        "frames": cfg.frames,
        "rgb_to_yuv_ms": round(conversion_ms(frames), 3),
        "rgb_to_yuv_swscale_ms": round(conversion_ms(frames, swscale=True), 3),
        "rows": rows,
    }


def print_report(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"Video encoder, {result['size']} px, {result['bitrate'] // 1000} kbit/s, "
        f"{result['frames']} rendered frames ({result['machine']})"
    )
    for column in ("codec", "preset", "RGB → YUV", "encode ms (p50)", "PSNR dB", "kbit/s"):
        table.add_column(column)
    for r in result["rows"]:
        cells = (f"{r['encode_ms']:.2f}", f"{r['psnr_db']:.2f}", str(r["kbit_s"]))
        table.add_row(r["codec"], r["preset"], r["rgb_to_yuv"], *cells)
    Console().print(table)
    print(
        f"RGB → YUV 4:2:0 inside encode: {result['rgb_to_yuv_ms']:.3f} ms a frame "
        f"(FFmpeg's swscale: {result['rgb_to_yuv_swscale_ms']:.3f} ms)"
    )
