"""Per-video-frame CPU cost of the audio side of the live path: resample, VAD, features, motion.

Feeds 48 kHz stereo s16 frames of 20 ms (what aiortc's Opus decoder yields) through
:class:`~engines.audio.resample.AudioResampler16k` and a
:class:`~engines.motion_source.heuristic.HeuristicMotionSource`, one 40 ms video frame at a time,
and reports the median and 95th percentile per stage. VAD and features are also timed standalone
on the same 16 kHz audio for the breakdown.

    python -m bench.audio_pipeline [--seconds 20] [--lookahead 1]
"""

from __future__ import annotations

import argparse
import logging
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import av
import numpy as np
import soxr
from rich.console import Console
from rich.table import Table

from xactor.engines.audio.features import StreamingAnalysis
from xactor.engines.audio.resample import AudioResampler16k, load_wav_16k
from xactor.engines.audio.vad import CHUNK, SileroVAD
from xactor.engines.motion_source.heuristic import HeuristicMotionSource

logger = logging.getLogger(__name__)

TEXT = (
    "The quick brown fox jumps over the lazy dog. Would you like some more soup? "
    "Peter picked a peck of pickled peppers, and then he went home for a rest."
)


def _speech_16k(seconds: float) -> np.ndarray:
    """espeak-ng speech with pauses, or amplitude-modulated harmonics when espeak-ng is missing."""
    n = int(seconds * 16000)
    if shutil.which("espeak-ng"):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "speech.wav"
            subprocess.run(["espeak-ng", "-w", str(path), TEXT], check=True, capture_output=True)
            speech = load_wav_16k(path)
        unit = np.concatenate([speech, np.zeros(8000, np.float32)])
        return np.tile(unit, n // len(unit) + 1)[:n]
    logger.warning("espeak-ng not found; using synthetic voiced audio")
    t = np.arange(n) / 16000
    voiced = sum(np.sin(2 * np.pi * 120 * h * t) / h for h in range(1, 12))
    return (0.1 * voiced * (np.sin(2 * np.pi * 3 * t) > 0)).astype(np.float32)


def _opus_like(x16: np.ndarray) -> list[av.AudioFrame]:
    x48 = soxr.resample(x16, 16000, 48000)
    pcm = (np.clip(x48, -1, 1) * 32767).astype(np.int16)
    stereo = np.stack([pcm, pcm], axis=1).reshape(1, -1)
    frames = []
    for i in range(0, len(pcm) - 959, 960):
        frame = av.AudioFrame.from_ndarray(
            stereo[:, 2 * i : 2 * (i + 960)].copy(), format="s16", layout="stereo"
        )
        frame.sample_rate = 48000
        frame.pts = i
        frames.append(frame)
    return frames


def _row(table: Table, name: str, ms: list[float]) -> None:
    a = np.asarray(ms)
    table.add_row(name, f"{np.median(a):.3f}", f"{np.percentile(a, 95):.3f}", f"{a.max():.3f}")


def run(seconds: float, lookahead: int) -> dict[str, list[float]]:
    """Times per 40 ms video frame, in milliseconds, keyed by stage."""
    x16 = _speech_16k(seconds)
    frames48 = _opus_like(x16)
    resampler = AudioResampler16k()
    source = HeuristicMotionSource(lookahead_frames=lookahead, seed=0)
    t: dict[str, list[float]] = {"resample": [], "push (VAD+features)": [], "pull (motion)": [], "total": []}
    for i in range(0, len(frames48) - 1, 2):  # two 20 ms audio frames per video frame
        t0 = time.perf_counter()
        pcm = np.concatenate([resampler.resample(frames48[i]), resampler.resample(frames48[i + 1])])
        t1 = time.perf_counter()
        source.push_audio(pcm)
        t2 = time.perf_counter()
        source.pull()
        t3 = time.perf_counter()
        t["resample"].append((t1 - t0) * 1e3)
        t["push (VAD+features)"].append((t2 - t1) * 1e3)
        t["pull (motion)"].append((t3 - t2) * 1e3)
        t["total"].append((t3 - t0) * 1e3)
    # Standalone breakdown on the same audio.
    vad, analysis = SileroVAD(), StreamingAnalysis()
    vad_ms, feat_ms = [], []
    for k in range(0, len(x16) - 639, 640):
        chunk = x16[k : k + 640]
        t0 = time.perf_counter()
        analysis.push(chunk)
        feat_ms.append((time.perf_counter() - t0) * 1e3)
    for k in range(0, len(x16) - CHUNK + 1, CHUNK):
        t0 = time.perf_counter()
        vad.process(x16[k : k + CHUNK])
        vad_ms.append((time.perf_counter() - t0) * 1e3 * 640 / CHUNK)  # per video frame
    t["  VAD alone (x1.25 chunks)"] = vad_ms
    t["  log-mel+prosody alone"] = feat_ms
    return t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--lookahead", type=int, default=1)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    times = run(args.seconds, args.lookahead)
    table = Table(title=f"audio pipeline, ms per 40 ms video frame ({len(times['total'])} frames)")
    for col in ("stage", "median", "p95", "max"):
        table.add_column(col, justify="left" if col == "stage" else "right")
    for name, values in times.items():
        _row(table, name, values)
    Console().print(table)


if __name__ == "__main__":
    main()
