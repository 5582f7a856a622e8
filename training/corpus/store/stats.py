"""What a corpus holds: hours and voices per split, phoneme counts, emotion balance."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from xactor.engines import timebase
from xactor.training.corpus.phonemes import ARPABET, SILENCE
from xactor.training.corpus.store.format import EMOTIONS, iter_clips, read_manifest


def corpus_stats(root: Path) -> dict[str, Any]:
    """Totals by split, voices, phoneme counts (all 39 listed, zeros included), emotion frames."""
    manifest = read_manifest(root)
    hours: Counter[str] = Counter()
    clips: Counter[str] = Counter()
    voices: dict[str, set[str]] = {}
    phones: Counter[str] = Counter()
    emotion_frames: Counter[str] = Counter()
    speech_frames = 0
    frames = 0
    for meta, arrays in iter_clips(root):
        split = meta["split"]
        hours[split] += meta["frames"] / timebase.FPS / 3600
        clips[split] += 1
        voices.setdefault(split, set()).add(meta["voice"])
        phones.update(p[0] for p in meta["phones"] if p[0] != SILENCE)
        counts = np.bincount(arrays["emotion"].astype(np.int64), minlength=len(EMOTIONS))
        for name, n in zip(EMOTIONS, counts, strict=True):
            emotion_frames[name] += int(n)
        speech_frames += int((arrays["speech"] > 0.5).sum())
        frames += meta["frames"]
    return {
        "hours": {k: round(v, 3) for k, v in sorted(hours.items())},
        "hours_total": round(sum(hours.values()), 3),
        "clips": dict(sorted(clips.items())),
        "voices": {k: sorted(v) for k, v in sorted(voices.items())},
        "voices_total": len(set().union(*voices.values())) if voices else 0,
        "phonemes": {p: phones[p] for p in ARPABET},
        "phoneme_min": min((phones[p], p) for p in ARPABET) if phones else (0, ""),
        "emotion_share": {e: round(emotion_frames[e] / max(frames, 1), 3) for e in EMOTIONS},
        "speech_share": round(speech_frames / max(frames, 1), 3),
        "config": manifest.get("config", {}),
    }
