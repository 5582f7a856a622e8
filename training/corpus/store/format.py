"""Corpus on disk: shards of clips plus one JSON manifest.

Layout of a corpus folder::

    manifest.json            corpus config, seed, splits, totals, and every shard with its clips
    shards/00000.npz         arrays of the shard's clips, keys "<clip_id>/<field>"
    shards/00000.json        the shard's clip metadata (text, voice, phonemes, emotion segments...)

A shard is written to temporary files and renamed into place, JSON last, so a shard whose JSON
exists is complete: an interrupted build resumes by skipping those and the manifest is rebuilt
from the shard JSONs. Arrays per clip (T = frames at 25 fps, N = T × 640 samples):

* ``audio``      int16 [N]: 16 kHz mono speech, clean (augmentation happens in the loader);
* ``log_mel``    float16 [T × 4, 80]: the shared audio front end's rows of the clean audio;
* ``motion``     float16 [T, 40]: absolute motion (engines/motion_space.py);
* ``speech``     float16 [T]: the front end's VAD speech weight;
* ``emotion``    uint8 [T]: index into :data:`EMOTIONS`; ``intensity`` float16 [T] in [0, 1].

float16 halves the disk size; motion and log-mel need no more precision than that.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from xactor.engines import timebase
from xactor.training.corpus.phonemes import PhoneSpan

MANIFEST = "manifest.json"
SHARDS = "shards"
FORMAT_VERSION = 1
EMOTIONS: tuple[str, ...] = ("neutral", "happy", "sad", "angry", "surprised")
ARRAY_FIELDS: tuple[str, ...] = ("audio", "log_mel", "motion", "speech", "emotion", "intensity")


@dataclass
class Clip:
    """One corpus clip: a speaker talking for a while, with everything a model trains on."""

    id: str
    split: str  # "train", "val" or "test"
    voice: str  # Voice.id
    seed: int
    texts: list[str]  # the utterances, in order
    phones: list[PhoneSpan]
    audio: np.ndarray  # [N] float32 16 kHz in [-1, 1]
    log_mel: np.ndarray  # [T * 4, 80]
    motion: np.ndarray  # [T, 40]
    speech: np.ndarray  # [T]
    emotion: np.ndarray  # [T] uint8
    intensity: np.ndarray  # [T]
    style: float = 0.5  # speaking style, calm 0 .. animated 1
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. what augmentation or muting was applied

    @property
    def frames(self) -> int:
        return int(self.motion.shape[0])

    @property
    def seconds(self) -> float:
        return self.frames / timebase.FPS

    def check(self) -> None:
        """Raise ValueError unless every array has the length the time base says."""
        t = self.frames
        expect = {
            "audio": (t * timebase.SAMPLES_PER_FRAME,),
            "log_mel": (t * timebase.ROWS_PER_FRAME, 80),
            "motion": (t, 40),
            "speech": (t,),
            "emotion": (t,),
            "intensity": (t,),
        }
        for name, shape in expect.items():
            got = tuple(getattr(self, name).shape)
            if got != shape:
                raise ValueError(f"clip {self.id}: {name} has shape {got}, expected {shape}")

    def metadata(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "split": self.split,
            "voice": self.voice,
            "seed": self.seed,
            "texts": self.texts,
            "frames": self.frames,
            "seconds": round(self.seconds, 3),
            "style": self.style,
            "phones": [[p.phone, round(p.start, 4), round(p.end, 4), p.stress, p.word] for p in self.phones],
            "extra": self.extra,
        }


def _arrays(clip: Clip) -> dict[str, np.ndarray]:
    audio = np.clip(np.round(clip.audio * 32767.0), -32768, 32767).astype(np.int16)
    return {
        f"{clip.id}/audio": audio,
        f"{clip.id}/log_mel": clip.log_mel.astype(np.float16),
        f"{clip.id}/motion": clip.motion.astype(np.float16),
        f"{clip.id}/speech": clip.speech.astype(np.float16),
        f"{clip.id}/emotion": clip.emotion.astype(np.uint8),
        f"{clip.id}/intensity": clip.intensity.astype(np.float16),
    }


def _atomic_write(path: Path, write: Any) -> None:
    """Write through a temporary file in the same folder, then rename (readers never see half)."""
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def shard_paths(root: Path, index: int) -> tuple[Path, Path]:
    return root / SHARDS / f"{index:05d}.npz", root / SHARDS / f"{index:05d}.json"


def write_shard(root: Path, index: int, clips: list[Clip], info: dict[str, Any] | None = None) -> Path:
    """Write shard ``index`` atomically (arrays first, then the JSON that marks it complete)."""
    for clip in clips:
        clip.check()
    npz, meta = shard_paths(root, index)
    npz.parent.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {}
    for clip in clips:
        arrays.update(_arrays(clip))
    _atomic_write(npz, lambda f: np.savez(f, **arrays))
    body = {"version": FORMAT_VERSION, "index": index, "clips": [c.metadata() for c in clips], **(info or {})}
    _atomic_write(meta, lambda f: f.write(json.dumps(body).encode()))
    return meta


def complete_shards(root: Path) -> list[int]:
    """Indices of the shards whose JSON (written last) exists."""
    folder = root / SHARDS
    if not folder.is_dir():
        return []
    return sorted(int(p.stem) for p in folder.glob("[0-9]*.json"))


def read_shard_meta(root: Path, index: int) -> dict[str, Any]:
    meta: dict[str, Any] = json.loads(shard_paths(root, index)[1].read_text())
    if meta.get("version") != FORMAT_VERSION:
        raise ValueError(f"shard {index} has format {meta.get('version')}, this code reads {FORMAT_VERSION}")
    return meta


def write_manifest(root: Path, config: dict[str, Any]) -> dict[str, Any]:
    """Rebuild ``manifest.json`` from the complete shards (after a build or a resumed one)."""
    shards = []
    totals: dict[str, dict[str, float]] = {}
    for index in complete_shards(root):
        meta = read_shard_meta(root, index)
        clips = [
            {k: c[k] for k in ("id", "split", "voice", "frames", "seconds", "seed")} for c in meta["clips"]
        ]
        shards.append({"index": index, "file": f"{SHARDS}/{index:05d}.npz", "clips": clips})
        for c in clips:
            t = totals.setdefault(c["split"], {"clips": 0, "seconds": 0.0})
            t["clips"] += 1
            t["seconds"] += c["seconds"]
    manifest = {
        "version": FORMAT_VERSION,
        "config": config,
        "emotions": list(EMOTIONS),
        "fps": timebase.FPS,
        "sample_rate": timebase.SAMPLE_RATE,
        "totals": {
            k: {"clips": v["clips"], "hours": round(v["seconds"] / 3600, 4)} for k, v in totals.items()
        },
        "shards": shards,
    }
    _atomic_write(root / MANIFEST, lambda f: f.write(json.dumps(manifest, indent=1).encode()))
    return manifest


def read_manifest(root: Path) -> dict[str, Any]:
    path = root / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(
            f"{root} has no {MANIFEST}: not a corpus, or its build never finished a shard"
        )
    manifest: dict[str, Any] = json.loads(path.read_text())
    return manifest


def clip_arrays(shard: Any, clip_id: str) -> dict[str, np.ndarray]:
    """The arrays of ``clip_id`` from an open shard (``np.load``), audio back to float32 in [-1, 1]."""
    out = {name: np.array(shard[f"{clip_id}/{name}"]) for name in ARRAY_FIELDS}
    out["audio"] = out["audio"].astype(np.float32) / 32767.0
    return out


def load_clip_arrays(root: Path, index: int, clip_id: str) -> dict[str, np.ndarray]:
    """The arrays of one clip of shard ``index``."""
    with np.load(shard_paths(root, index)[0]) as z:
        return clip_arrays(z, clip_id)


def iter_clips(
    root: Path, split: str | None = None
) -> Iterator[tuple[dict[str, Any], dict[str, np.ndarray]]]:
    """(metadata, arrays) of every clip, shard by shard (one shard in memory at a time)."""
    for index in complete_shards(root):
        meta = read_shard_meta(root, index)
        wanted = [c for c in meta["clips"] if split is None or c["split"] == split]
        if not wanted:
            continue
        with np.load(shard_paths(root, index)[0]) as z:
            for c in wanted:
                yield c, clip_arrays(z, c["id"])


def phone_spans(meta: dict[str, Any]) -> list[PhoneSpan]:
    """The phonemes of a clip's metadata as :class:`PhoneSpan`."""
    return [PhoneSpan(p, s, e, st, w) for p, s, e, st, w in meta["phones"]]


def config_dict(obj: Any) -> dict[str, Any]:
    """A dataclass config as JSON-able data (paths as strings)."""
    return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(obj).items()}
