"""``xactor eval real``: every clip of a built dev set through every motion source, onto every
portrait, measured from the pixels and in motion space (offline; live with :mod:`live`)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from xactor.bench.real_speech import motion_space, pixels
from xactor.bench.real_speech.clips import ClipData, load_clips
from xactor.bench.real_speech.config import RealEvalConfig
from xactor.bench.real_speech.offline import PortraitRenderer, SourceFactory, clip_motion
from xactor.bench.real_speech.oracle import ORACLE, oracle_motion
from xactor.bench.real_speech.score import jaw_amplitude, lip_press, score
from xactor.engines.timebase import FPS

log = logging.getLogger(__name__)


def mouth_zoom(frame: np.ndarray, face: Any, scale: int = 3) -> np.ndarray:
    """The lower face of ``frame`` (Face Mesh's face box: its lower 45 %) enlarged ``scale`` times."""
    from PIL import Image

    x0, x1 = int(max(face.x0, 0)), int(min(face.x1, frame.shape[1]))
    y0 = int(max(face.y0 + 0.55 * (face.y1 - face.y0), 0))
    y1 = int(min(face.y1 + 0.05 * (face.y1 - face.y0), frame.shape[0]))
    cut = Image.fromarray(np.ascontiguousarray(frame[y0:y1, x0:x1]))
    return np.asarray(cut.resize((cut.width * scale, cut.height * scale), Image.Resampling.LANCZOS))


def save_strip(path: Path, frames: list[np.ndarray], labels: list[str]) -> None:
    """Frames side by side with a label under each (for a person to check the pixel measure)."""
    from PIL import Image, ImageDraw

    strip = np.concatenate(frames, axis=1)  # [h, n*w, 3]
    canvas = np.full((strip.shape[0] + 16, strip.shape[1], 3), 255, np.uint8)
    canvas[: strip.shape[0]] = strip
    image = Image.fromarray(canvas)
    draw = ImageDraw.Draw(image)
    size = frames[0].shape[1]
    for i, label in enumerate(labels):
        draw.text((i * size + 4, strip.shape[0] + 2), label, fill=(0, 0, 0))
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def sample_frames(clip: ClipData, count: int = 6) -> list[int]:
    """Frames worth looking at: bilabial centres and open-vowel frames, alternately."""
    bil = [min(round((a + b) / 2 * FPS - 0.5), clip.frames - 1) for a, b in clip.bilabials]
    vow = [int(k) for k in np.nonzero(np.isin(clip.per_frame, ["AA", "AE", "AO"]) & clip.scored)[0]]
    out: list[int] = []
    for a, b in zip(bil, vow[:: max(len(vow) // count, 1)], strict=False):
        out += [a, b]
    return sorted(out[:count])


def offline(cfg: RealEvalConfig, clips: list[ClipData], progress: Callable[[str], None]) -> dict[str, Any]:
    """Motion-space and pixel scores of every source (and the generators' phone accuracy)."""
    factory = SourceFactory(cfg.weights_dir, lookahead=cfg.lookahead, seed=cfg.seed)
    renderers = {p: PortraitRenderer(p, cfg.data_dir) for p in cfg.portraits}
    meters = {p: pixels.MouthMeter(r.still) for p, r in renderers.items()}
    result: dict[str, Any] = {"motion_space": {}, "pixels": {p: {} for p in cfg.portraits}, "seconds": {}}
    series: dict[str, np.ndarray] = {}
    for label in cfg.sources:
        start = time.perf_counter()
        progress(f"{label}: motion of {len(clips)} clips")
        if label == ORACLE:  # the corpus's own motion of the aligned phones: the ceiling
            motions = [oracle_motion(c, cfg.seed) for c in clips]  # [T, 40] each
        else:
            source = factory(label)
            motions = [clip_motion(source, c.samples) for c in clips]
        openings = [motion_space.opening(m) for m in motions]
        result["motion_space"][label] = {
            **score(clips, openings, motion_space.closed_threshold()),
            **jaw_amplitude(clips, [motion_space.jaw(m) for m in motions]),
            **lip_press(clips, motions),
        }
        for clip, motion in zip(clips, motions, strict=True):
            series[f"motion/{label}/{clip.id}"] = motion
        for portrait, renderer in renderers.items():
            progress(f"{label} on {portrait}: render and Face Mesh")
            measured = []
            for clip, motion in zip(clips, motions, strict=True):
                keep = set(sample_frames(clip)) if cfg.out else set()
                values, kept = [], {}
                for k, frame in enumerate(renderer.frames(motion)):
                    values.append(meters[portrait](frame))
                    if k in keep:
                        kept[k] = mouth_zoom(frame, meters[portrait].face)
                opening = np.array(values)  # [T]
                measured.append(opening)
                series[f"pixels/{portrait}/{label}/{clip.id}"] = opening
                if kept and cfg.out is not None:
                    labels = [f"{clip.per_frame[k]} {opening[k]:.3f}" for k in sorted(kept)]
                    path = cfg.out / "frames" / f"{portrait}_{label}_{clip.id}.png"
                    save_strip(path, [kept[k] for k in sorted(kept)], labels)
            result["pixels"][portrait][label] = score(clips, measured, pixels.CLOSED)
        result["seconds"][label] = round(time.perf_counter() - start, 1)
    result["phone_recognizer"] = phone_accuracy(factory, clips)
    if cfg.out is not None:
        cfg.out.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(cfg.out / "series.npz", **series)
    return result


def phone_accuracy(factory: SourceFactory, clips: list[ClipData]) -> dict[str, Any]:
    """Frame accuracy of each generator's phone recognizer against the alignment (transcribed
    frames; speech frames only beside it; /p b m/ frames' recall)."""
    from xactor.bench.real_speech.recognizer import accuracy, recognised
    from xactor.engines.motion_gen.weights import STUDENT, TEACHER
    from xactor.engines.motion_source.generator import shared_weights

    out: dict[str, Any] = {}
    for label, name in (("student", STUDENT), ("teacher", TEACHER)):
        if label not in factory.folders:
            continue
        weights = shared_weights(factory.folders[label], name)
        if weights.model.audio.phones is None:
            out[label] = None
            continue
        counts = {"all": [0, 0], "speech": [0, 0], "bilabial": [0, 0]}
        for clip in clips:
            predicted = recognised(weights, clip.samples)
            masks = {
                "all": clip.scored,
                "speech": clip.scored & (clip.per_frame != "sil"),
                "bilabial": clip.scored & np.isin(clip.per_frame, ["P", "B", "M"]),
            }
            for key, mask in masks.items():
                right, n = accuracy(predicted, clip.per_frame, mask)
                counts[key][0] += right
                counts[key][1] += n
        out[label] = {k: (r / n if n else float("nan")) for k, (r, n) in counts.items()}
        out[label]["frames"] = counts["all"][1]
    return out


def devset_summary(clips: list[ClipData]) -> dict[str, Any]:
    """The report's ``devset`` entry: which clips were scored, their length, /p b m/ and speakers."""
    return {
        "clips": [c.id for c in clips],
        "seconds": round(sum(c.samples.size for c in clips) / 16000, 1),
        "bilabials": sum(len(c.bilabials) for c in clips),
        "speakers": sorted({c.record["speaker"] for c in clips}),
    }


def _recognizer_again(report: dict[str, Any], clips: list[ClipData]) -> dict[str, Any] | None:
    """Phone accuracy of the run's weights on ``clips`` (None where the weights are gone)."""
    weights = Path(report["weights_dir"])
    if not weights.is_dir():
        log.warning("%s is gone: the subset's phone accuracy is left out", weights)
        return None
    return phone_accuracy(SourceFactory(weights, lookahead=report["lookahead"]), clips)


def evaluate(cfg: RealEvalConfig, progress: Callable[[str], None] = log.info) -> dict[str, Any]:
    """The whole evaluation; writes ``report.json`` and ``report.md`` into ``cfg.out`` when set."""
    from xactor.bench.real_speech.report import markdown

    clips = load_clips(cfg.devset, cfg.clips)
    if not clips:
        raise ValueError(f"no clips to score in {cfg.devset}")
    report: dict[str, Any] = {
        "devset": devset_summary(clips),
        "weights_dir": str(cfg.weights_dir),
        "lookahead": cfg.lookahead,
        "sources": list(cfg.sources),
        "portraits": list(cfg.portraits),
        "pixel_closed_threshold": pixels.CLOSED,
        "motion_closed_threshold": motion_space.closed_threshold(),
        **cfg.extra,
    }
    if cfg.offline:
        report["offline"] = offline(cfg, clips, progress)
    if cfg.live:
        from xactor.bench.real_speech.live import live

        report["live"] = live(cfg, clips, progress)
    if cfg.out is not None:
        cfg.out.mkdir(parents=True, exist_ok=True)
        (cfg.out / "report.json").write_text(json.dumps(report, indent=1, default=float))
        (cfg.out / "report.md").write_text(markdown(report))
    return report


def rescore(
    run: Path, devset: Path, only: Sequence[str] = (), without_speakers: Sequence[str] = ()
) -> dict[str, Any]:
    """A finished run's report with every pixel and motion-space score recomputed from its saved
    series (``series.npz`` offline, ``live_series.npz`` live where the run saved them) and the
    current thresholds; the openings themselves are not re-measured.

    ``only`` (clip ids) and ``without_speakers`` score a subset: a model that has heard one of
    the dev set's speakers is judged on the others. The phone recognizer's accuracy is then
    recomputed from the run's weights, or dropped where they are gone."""
    report = json.loads((run / "report.json").read_text())
    clips = load_clips(devset, report["devset"]["clips"])
    subset = [c for c in clips if (not only or c.id in only) and c.record["speaker"] not in without_speakers]
    if not subset:
        raise ValueError("no clip of the run is left by --clip / --without-speaker")
    if len(subset) < len(clips):
        clips = subset
        report["devset"] = {**devset_summary(clips), "subset_of": report["devset"]["clips"]}
        if "offline" in report:
            report["offline"]["phone_recognizer"] = _recognizer_again(report, clips)
    if "live" in report and (run / "live_series.npz").is_file():
        live_series = np.load(run / "live_series.npz")
        for portrait, by_source in report["live"]["pixels"].items():
            for label in by_source:
                openings = [live_series[f"live/{portrait}/{label}/{c.id}"] for c in clips]
                by_source[label] = score(clips, openings, pixels.CLOSED)
    if "offline" in report:
        series = np.load(run / "series.npz")
        offline = report["offline"]
        for label in report["sources"]:
            motions = [series[f"motion/{label}/{c.id}"] for c in clips]
            offline["motion_space"][label] = {
                **score(clips, [motion_space.opening(m) for m in motions], motion_space.closed_threshold()),
                **jaw_amplitude(clips, [motion_space.jaw(m) for m in motions]),
                **lip_press(clips, motions),
            }
            for portrait in report["portraits"]:
                openings = [series[f"pixels/{portrait}/{label}/{c.id}"] for c in clips]
                offline["pixels"][portrait][label] = score(clips, openings, pixels.CLOSED)
    report["pixel_closed_threshold"] = pixels.CLOSED
    report["motion_closed_threshold"] = motion_space.closed_threshold()
    return report
