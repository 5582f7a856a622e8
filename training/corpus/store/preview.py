"""Watch a clip: its motion rendered on an avatar with its own audio, so a person can check the lips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soxr

from xactor.engines import timebase
from xactor.engines.offline.video import AUDIO_RATE, render_video
from xactor.engines.render.base import Renderer
from xactor.training.corpus.store.format import load_clip_arrays, read_manifest


def find_clip(root: Path, clip_id: str) -> int:
    """The shard index holding ``clip_id`` (KeyError listing a few ids when there is none)."""
    manifest = read_manifest(root)
    for shard in manifest["shards"]:
        if any(c["id"] == clip_id for c in shard["clips"]):
            return int(shard["index"])
    known = [c["id"] for s in manifest["shards"] for c in s["clips"]][:5]
    raise KeyError(f"no clip {clip_id!r} in {root} (e.g. {', '.join(known)})")


def preview_clip(
    root: Path, clip_id: str, renderer: Renderer, out: Path, seconds: float | None = None
) -> int:
    """Render clip ``clip_id`` (its first ``seconds``) with its audio to ``out``; returns frames."""
    arrays = load_clip_arrays(root, find_clip(root, clip_id), clip_id)
    motion = arrays["motion"].astype(np.float32)  # [T, 40]
    audio = arrays["audio"]  # [N] 16 kHz
    if seconds is not None:
        frames = int(seconds * timebase.FPS)
        motion = motion[:frames]
        audio = audio[: frames * timebase.SAMPLES_PER_FRAME]
    up = soxr.resample(audio, timebase.SAMPLE_RATE, AUDIO_RATE).astype(np.float32)
    stereo = np.stack([up, up])  # [2, N'] at 48 kHz, what the MP4 writer muxes
    return render_video(out, renderer, motion, fps=timebase.FPS, audio=stereo)
