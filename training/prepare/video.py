"""``xactor prepare VIDEOS_DIR --out DIR``: real talking-head videos → training data for both
stages, so users with real datasets train the motion generator and the diffusion renderer on them
with the same commands as on the synthetic data.

Per video: frames are sampled at 25 fps (the newest frame at each 40 ms tick) and the audio
resampled to 16 kHz mono; the face is tracked with MediaPipe (detected once, then meshed around
the previous frame's landmarks, detected again when lost); lost frames take their neighbours'
motion. Then:

* **stage 1** (``DIR/motion/``, the motion corpus format of ``training/corpus/store/format.py``): one clip
  per video — audio, the front end's log-mel and speech weight, and the motion fitted by the face
  model against the template neutral (absolute expression, pose relative to the first frame).
  Real videos carry no phoneme alignment and no mood labels: ``phones`` is empty and the clip's
  ``extra`` says so, and the phone loss skips its frames;
* **stage 2** (``DIR/render/``, the pair format of ``training/render/data.py``): the crop aligned on
  the first tracked frame is the reference portrait (the crop stays fixed, the head moves in it,
  as live); every frame's crop is a target, its motion is fitted against the reference's own face,
  and the prior is the warp renderer's frame of the reference for that motion.

Videos are split by name (every tenth to test, the one before it to validation; with three or
more videos, test and validation get at least one each), or all into ``--split``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np

from xactor.engines import face_regions as fr
from xactor.engines import motion_space as ms
from xactor.engines import timebase
from xactor.engines.avatar.align import align_face, warp_crop
from xactor.engines.avatar.detect import FaceBox, detect_faces, mesh_face
from xactor.engines.face_model import NEUTRAL_FACE, FaceModel, estimate_placement, fit_motion
from xactor.engines.offline.video import read_audio

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm", ".avi")


@dataclass
class Tracked:
    """One video at 25 fps: frames, 16 kHz audio and per-frame landmarks (NaN where lost)."""

    frames: np.ndarray  # [T, H, W, 3] uint8
    audio: np.ndarray  # [N] float32, N = T × 640
    landmarks: np.ndarray  # [T, 478, 3] source px

    @property
    def found(self) -> np.ndarray:
        return ~np.isnan(self.landmarks[:, 0, 0])


def read_frames(path: Path) -> np.ndarray:
    """[T, H, W, 3] uint8 at 25 fps: at every 40 ms tick, the newest frame shown by then."""
    frames: list[np.ndarray] = []
    with av.open(str(path)) as container:
        if not container.streams.video:
            raise ValueError(f"{path} has no video stream")
        stream = container.streams.video[0]
        last: np.ndarray | None = None
        tick = 0
        for frame in container.decode(stream):
            pts, base = frame.pts, stream.time_base
            t = float(pts * base) if pts is not None and base is not None else tick / timebase.FPS
            image = frame.to_ndarray(format="rgb24")
            while tick / timebase.FPS < t and last is not None:
                frames.append(last)
                tick += 1
            last = image
        if last is not None:
            frames.append(last)
    if not frames:
        raise ValueError(f"{path}: no frames could be decoded")
    return np.stack(frames)


def _box(landmarks: np.ndarray) -> FaceBox:
    (x0, y0), (x1, y1) = landmarks[:, :2].min(0), landmarks[:, :2].max(0)
    return FaceBox(float(x0), float(y0), float(x1), float(y1), 1.0)


def track(frames: np.ndarray) -> np.ndarray:
    """Landmarks [T, 478, 3] (NaN rows where no face): mesh around the last known face, detect
    again when that fails."""
    out = np.full((len(frames), fr.NUM_LANDMARKS, 3), np.nan, np.float32)
    box: FaceBox | None = None
    for i, frame in enumerate(frames):
        marks = mesh_face(frame, box) if box is not None else None
        if marks is None:
            faces = detect_faces(frame)
            if faces:
                marks = mesh_face(frame, max(faces, key=lambda f: f.width * f.height))
        if marks is not None:
            out[i] = marks
            box = _box(marks)
        else:
            box = None
    return out


def read_tracked(path: Path) -> Tracked:
    frames = read_frames(path)
    audio = read_audio(path, rate=timebase.SAMPLE_RATE).mean(0)
    n = len(frames) * timebase.SAMPLES_PER_FRAME
    audio = np.pad(audio[:n], (0, max(0, n - len(audio)))).astype(np.float32)
    return Tracked(frames, audio, track(frames))


def _fill_lost(values: np.ndarray, found: np.ndarray) -> np.ndarray:
    """Rows of ``values`` [T, ...] where ``found`` is False, interpolated from the found ones."""
    if found.all():
        return values
    t = np.arange(len(values))
    flat = values.reshape(len(values), -1).copy()
    for c in range(flat.shape[1]):
        flat[~found, c] = np.interp(t[~found], t[found], flat[found, c])
    return flat.reshape(values.shape)


def motion_clip(name: str, split: str, video: Tracked) -> Any:
    """The stage-1 corpus clip of a tracked video."""
    from xactor.engines.audio.frontend import analyse
    from xactor.training.corpus.store.format import Clip

    found = video.found
    motion = np.zeros((len(found), ms.MOTION_DIM), np.float32)
    motion[found] = fit_motion(video.landmarks[found], NEUTRAL_FACE)
    motion = _fill_lost(motion, found)
    features = analyse(video.audio)
    t = min(len(motion), len(features))
    return Clip(
        id=f"{split}-{name}",
        split=split,
        voice=f"video:{name}",
        seed=0,
        texts=[],
        phones=[],
        audio=video.audio[: t * timebase.SAMPLES_PER_FRAME],
        log_mel=features.log_mel[:t].reshape(-1, features.log_mel.shape[-1]),  # [T, 4, 80] -> [T * 4, 80]
        motion=motion[:t],
        speech=np.asarray(features.speech[:t], np.float32),
        emotion=np.zeros(t, np.uint8),
        intensity=np.zeros(t, np.float32),
        extra={
            "source": "video",
            "phones_known": False,
            "emotion_known": False,
            "tracked": float(found.mean()),
        },
    )


def render_pairs(video: Tracked, size: int) -> dict[str, np.ndarray]:
    """The stage-2 pairs of a tracked video (one identity): reference, priors, targets, motion."""
    from xactor.engines.warp.renderer import AvatarRenderer

    found = video.found
    first = int(np.argmax(found))
    ref_marks = video.landmarks[first]
    alignment = align_face(ref_marks, size, face_width=estimate_placement(ref_marks).scale)
    crops = np.stack([warp_crop(frame, alignment) for frame in video.frames])  # [T, S, S, 3]
    marks = alignment.to_crop(video.landmarks.reshape(-1, 3)).reshape(video.landmarks.shape)
    placement = estimate_placement(marks[first])
    canonical = placement.to_canonical(marks[first])  # the subject's own face: its neutral
    face_model = FaceModel(canonical, placement)
    relative = np.zeros((len(found), ms.MOTION_DIM), np.float32)
    relative[found] = fit_motion(marks[found], canonical, reference=placement)
    keep = np.nonzero(found)[0]
    warp = AvatarRenderer.from_crop(crops[first], face_model, trace=False)
    absolute = relative[keep] + warp.own_motion  # the warp renderer subtracts its own mouth from this
    return {
        "reference": crops[first][None],
        "identity": np.zeros(len(keep), np.int64),
        "motion": absolute.astype(np.float32),
        "landmarks": face_model.landmarks(relative[keep])[..., :2].astype(np.float16),
        "prior": warp.render(absolute),
        "target": crops[keep],
    }


def assign_splits(names: list[str]) -> dict[str, str]:
    """Video name → split (see module docstring)."""
    ordered = sorted(names)
    splits = {
        n: ("test" if i % 10 == 9 else "val" if i % 10 == 8 else "train") for i, n in enumerate(ordered)
    }
    if len(ordered) >= 3:
        if "test" not in splits.values():
            splits[ordered[-1]] = "test"
        if "val" not in splits.values():
            splits[ordered[-2]] = "val"
    return splits


def prepare(videos: Path, out: Path, size: int = 256, split: str | None = None) -> dict[str, Any]:
    """Every video under ``videos`` into ``out/motion`` and ``out/render``; a summary is returned
    (and written as ``out/prepare.json``). Videos already prepared are skipped (resume)."""
    from xactor.training.corpus.store.format import write_manifest, write_shard

    paths = sorted(p for p in videos.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES)
    if not paths:
        raise FileNotFoundError(f"{videos}: no videos ({', '.join(VIDEO_SUFFIXES)})")
    names = {p: p.relative_to(videos).with_suffix("").as_posix().replace("/", "_") for p in paths}
    by_name = assign_splits(list(names.values()))
    splits = {p: split or by_name[names[p]] for p in paths}
    summary: dict[str, Any] = {"videos": {}, "size": size}
    render_shards: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    for index, path in enumerate(paths):
        name, which = names[path], splits[path]
        shard = f"{which}-{index:04d}.npz"
        render_shards[which].append(shard)
        if (out / "render" / shard).is_file() and (out / "motion" / "shards" / f"{index:05d}.json").is_file():
            continue
        try:
            video = read_tracked(path)
        except (ValueError, av.error.FFmpegError) as exc:
            log.warning("skipping %s: %s", path, exc)
            render_shards[which].remove(shard)
            summary["videos"][name] = {"skipped": str(exc)}
            continue
        if not video.found.any():
            render_shards[which].remove(shard)
            summary["videos"][name] = {"skipped": "no face found"}
            continue
        write_shard(out / "motion", index, [motion_clip(name, which, video)], {"source": "video"})
        pairs = render_pairs(video, size)
        seed = int(hashlib.sha256(name.encode()).hexdigest()[:12], 16)
        (out / "render").mkdir(parents=True, exist_ok=True)
        tmp = out / "render" / f"{shard}.tmp.npz"
        np.savez(tmp, seeds=np.array([seed], np.int64), **pairs)
        tmp.replace(out / "render" / shard)
        summary["videos"][name] = {
            "split": which,
            "frames": len(video.frames),
            "tracked": round(float(video.found.mean()), 3),
        }
    write_manifest(out / "motion", {"source": "xactor prepare", "videos": str(videos)})
    config = {"size": size, "source": "xactor prepare", "videos": str(videos)}
    (out / "render" / "manifest.json").write_text(
        json.dumps({"config": config, "shards": render_shards}, indent=1)
    )
    (out / "prepare.json").write_text(json.dumps(summary, indent=1))
    return summary
