"""A built dev set read back: each clip's samples and what the alignment says about each frame."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from xactor.bench.real_speech.phones import bilabial_spans, openness_target, phones_per_frame, scored_mask
from xactor.bench.real_speech.stress import mark_schwas
from xactor.engines.audio.resample import load_wav_16k
from xactor.engines.offline.speech_motion import frame_count


@dataclass
class ClipData:
    id: str
    samples: np.ndarray  # float32 16 kHz mono [N]
    per_frame: np.ndarray  # [T] phone at each frame centre (unstressed AH as the schwa, AH0)
    scored: np.ndarray  # [T] bool: inside a transcribed span
    target: np.ndarray  # [T] smoothed jaw target of the phones
    bilabials: list[tuple[float, float]]  # /p b m/ spans (s) inside transcribed spans
    record: dict[str, Any] = field(repr=False)

    @property
    def frames(self) -> int:
        return len(self.per_frame)


def load_clips(devset: Path, only: list[str] | None = None) -> list[ClipData]:
    """The clips of a dev set built by :func:`xactor.bench.real_speech.devset.build_devset`."""
    listing = devset / "devset.json"
    if not listing.is_file():
        raise FileNotFoundError(
            f"{devset}: no devset.json; build it with xactor eval real-devset --out {devset}"
        )
    out = []
    for clip_id in json.loads(listing.read_text())["clips"]:
        if only and clip_id not in only:
            continue
        record = json.loads((devset / f"{clip_id}.json").read_text())
        samples = load_wav_16k(devset / f"{clip_id}.wav")
        frames = frame_count(samples.size)
        # Unstressed AH is a schwa (AH0), not an open vowel: stress from the transcript.
        per_frame = phones_per_frame(mark_schwas(record["phones"], record["words"]), frames)
        out.append(
            ClipData(
                id=clip_id,
                samples=samples,
                per_frame=per_frame,
                scored=scored_mask(record["scored"], frames),
                target=openness_target(per_frame),
                bilabials=bilabial_spans(record["phones"], record["scored"]),
                record=record,
            )
        )
    return out
