"""``xactor eval motion``: learned generators against the truth and the heuristic, on held-out clips.

Only the corpus's **test** split is read (voices and sentences never seen in training); the
emotion probe alone learns from the train split's *true* motion. Every source hears a clip as it
would live (:mod:`xactor.training.motion.sources`) and is scored by :mod:`xactor.training.motion.metrics`.

What runs, and on how much (a 2-core CPU must finish a full run in about ten minutes):

* **main** (metrics 1–8, per condition: clean audio, and call-degraded audio with ``augment``):
  every selected clip for the heuristic and the student; the teacher (8 guided steps a frame, ~10×
  the student's cost) only on the first ``teacher_seconds`` of each clip. Streams are causal, so
  the other sources' runs are also scored on those same frames: the columns marked "≤ N s".
* **emotion given** (metric 6 and metrics 1–4, clean audio): every generator again on its main
  span and seed, conditioned on each clip's *true* per-frame emotion label and intensity instead
  of "none" (inferred from the audio); the probe's accuracy inferred vs given on the same frames
  and windows, and the lip metrics both ways (conditioning should not cost lip sync). One more
  main-sized generator pass; ``emotion_given=False`` skips it.
* **lookahead** (metrics 1–4 at L = 0..3, one set of weights) and **diversity** (3 seeds): the
  first ``short_seconds`` of each clip.
* **streaming vs offline**: the first ``offline_seconds`` of each clip, the live stream against
  ``sample_offline`` on the same noise.
* **drift**: one minute of the selected clips' audio, repeated into one ``drift_minutes`` stream
  (student; the teacher only when asked: it is slow), so every minute hears the same content and
  any change of a minute's statistics against minute one is the generator's own drift, not the
  content's. The heuristic streams the same audio as the reference: a stationary live source whose
  random parts (blinks, gaze, idle head) move per-minute statistics by sampling alone. One stream is
  tens of thousands of sequential model calls, so with ``jobs`` = 2 it runs in a second process
  from the start, beside everything else.

Call degradation: the corpus loader's augmentation chain on each clip's samples (seed fixed per
clip), and the live front end (:func:`xactor.engines.audio.frontend.analyse`) recomputes the log-mel
and the VAD from the degraded samples, as a live session would.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from multiprocessing.pool import AsyncResult
from pathlib import Path
from typing import Any

import numpy as np
import torch

from xactor.engines import face_regions as fr
from xactor.engines import motion_space as ms
from xactor.engines.audio.frontend import analyse
from xactor.engines.face_model import FaceModel
from xactor.engines.motion_gen.weights import (
    SHIPPED_DIR,
    STUDENT,
    TEACHER,
    GeneratorWeights,
    WeightsError,
    load_weights,
)
from xactor.engines.motion_source.life import PURE_LIFE_CHANNELS
from xactor.engines.timebase import FPS, SAMPLES_PER_FRAME
from xactor.engines.warp.retarget import lip_gap
from xactor.training.corpus.augment import loader_augment
from xactor.training.motion import metrics as mt
from xactor.training.motion.data import load_split
from xactor.training.motion.emotion_probe import EmotionProbe, load_or_train
from xactor.training.motion.sources import HEURISTIC_LOOKAHEAD, Feed, GeneratorSource, HeuristicSource

log = logging.getLogger(__name__)

SOURCES = ("heuristic", "student", "teacher")
WEIGHT_NAMES = {"student": STUDENT, "teacher": TEACHER}
LIP_POINTS: list[int] = list(fr.LIPS)
CLOSED_FRACTION = 0.01  # a gap within 1 % of the mouth width of the neutral face's counts as closed
SCALE_FLOOR = 1e-2  # the truth's per-channel std is floored here (as the generator's normaliser)

Source = GeneratorSource | HeuristicSource


@dataclass(frozen=True)
class EvalConfig:
    """What to evaluate and how much of it (see the module docstring for the parts)."""

    data: Path
    weights: Path = SHIPPED_DIR
    sources: tuple[str, ...] = SOURCES
    clips: int | None = None  # the first N test clips (None: all)
    seconds: float | None = None  # the first S seconds of each clip (None: whole clips)
    seed: int = 0
    teacher_seconds: float | None = 30.0  # None: the teacher runs everything the student does
    short_seconds: float = 20.0  # lookahead table and diversity
    offline_seconds: float = 20.0  # streaming vs offline
    lookaheads: tuple[int, ...] = (0, 1, 2, 3)
    seeds: int = 3  # diversity
    augment: bool = False
    emotion_given: bool = True  # also stream the generators conditioned on the true emotion
    drift_minutes: float = 30.0  # 0: no drift stream
    drift_teacher: bool = False
    probe_cache: Path | None = None  # the emotion probe's .npz (None: ~/.cache/xactor)
    jobs: int = 2  # 2: the drift streams run in a second process beside the rest


@dataclass
class EvalClip:
    """One test clip: what the sources hear (clean), the truth, and the span that is scored."""

    id: str
    feed: Feed
    motion: np.ndarray  # [T, 40] truth
    emotion: np.ndarray  # [T] labels (EMOTIONS index)
    intensity: np.ndarray  # [T] in [0, 1]
    phones: np.ndarray  # [T] phone at each frame's centre
    frames: int  # scored frames (the first ``frames`` of the clip)


@dataclass
class Timings:
    """Wall seconds per part, in the order the parts ran."""

    parts: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def __call__(self, part: str) -> Iterator[None]:
        log.info("%s ...", part)
        start = time.perf_counter()
        yield
        took = time.perf_counter() - start
        self.parts[part] = round(self.parts.get(part, 0.0) + took, 2)
        log.info("%s: %.1f s", part, took)


class FaceTracks:
    """Motion through the face model without head pose (canonical face widths): the lip landmarks
    for LVE and the inner-lip gap for closures.

    "Closed" is a gap at most the neutral face's plus 1 % of its mouth width: zero motion is a
    relaxed face with the lips together (the motion space's definition), and 1 % is the
    retargeting's own tolerance for closed lips (:mod:`xactor.engines.warp.retarget`). Not derived from
    the truth, so the truth's own closure share is a measurement, not 90 % by construction.
    """

    def __init__(self) -> None:
        self.face = FaceModel()
        neutral = self.shape(ms.zeros(1))[0]  # [478, 3]
        width = float(
            np.linalg.norm(neutral[fr.LIPS_INNER_UPPER[-1], :2] - neutral[fr.LIPS_INNER_UPPER[0], :2])
        )
        self.closed = float(lip_gap(neutral)) + CLOSED_FRACTION * width

    @torch.no_grad()
    def shape(self, motion: np.ndarray) -> np.ndarray:
        return self.face.canonical_shape(torch.from_numpy(ms.clamp_np(motion))).numpy()

    def __call__(self, motion: np.ndarray, chunk: int = 2048) -> tuple[np.ndarray, np.ndarray]:
        """[N, 40] -> lip landmarks [N, K, 3] and lip gap [N]."""
        lips, gaps = [], []
        for i in range(0, len(motion), chunk):
            marks = self.shape(motion[i : i + chunk])  # [n, 478, 3]
            lips.append(marks[:, LIP_POINTS])
            gaps.append(lip_gap(marks))
        if not lips:
            return np.zeros((0, len(LIP_POINTS), 3), np.float32), np.zeros(0, np.float32)
        return np.concatenate(lips), np.concatenate(gaps)


class Scorer:
    """Metrics 1–8 of motions against the truth of the clips, on the first ``frames`` of each."""

    def __init__(self, clips: list[EvalClip], probe: EmotionProbe) -> None:
        self.clips, self.probe = clips, probe
        self.tracks = FaceTracks()
        self.onsets = [
            mt.onset_strength(c.feed.log_mel, c.feed.speech) for c in clips
        ]  # clean audio's beats, whatever a source heard
        self._truth: dict[tuple[int, ...], tuple[np.ndarray, np.ndarray]] = {}

    def truth_tracks(self, frames: list[int]) -> tuple[np.ndarray, np.ndarray]:
        key = tuple(frames)
        if key not in self._truth:
            self._truth[key] = self.tracks(
                np.concatenate([c.motion[:n] for c, n in zip(self.clips, frames, strict=True)])
            )
        return self._truth[key]

    def lip_sync(self, motions: list[np.ndarray], frames: list[int]) -> dict[str, float]:
        """Metrics 1–4 (and the closure share off the bilabials)."""
        true = np.concatenate([c.motion[:n] for c, n in zip(self.clips, frames, strict=True)])
        pred = np.concatenate([m[:n] for m, n in zip(motions, frames, strict=True)])
        lips_t, _ = self.truth_tracks(frames)
        lips_p, gap_p = self.tracks(pred)
        phones = np.concatenate([c.phones[:n] for c, n in zip(self.clips, frames, strict=True)])
        bilabial = np.isin(phones, list(mt.BILABIALS))
        other = (phones != mt.SILENCE) & ~bilabial
        return {
            "rho_jaw": mt.jaw_correlation(pred, true),
            "lip_mae": mt.lip_mae(pred, true),
            "lve": mt.lip_vertex_error(lips_p, lips_t),
            "bilabial_closed": mt.closed_share(gap_p, bilabial, self.tracks.closed),
            "other_closed": mt.closed_share(gap_p, other, self.tracks.closed),
        }

    def emotion_accuracy(self, motions: list[np.ndarray], frames: list[int]) -> float:
        """Metric 6: the probe's accuracy on the 2 s windows of the first ``frames`` of each clip."""
        return self.probe.accuracy(
            [m[:n] for m, n in zip(motions, frames, strict=True)],
            [c.emotion[:n] for c, n in zip(self.clips, frames, strict=True)],
        )

    def score(self, motions: list[np.ndarray], frames: list[int], truth: bool = False) -> dict[str, float]:
        """Metrics 1–8; for the truth itself only those that are not trivially perfect."""
        pred = [m[:n] for m, n in zip(motions, frames, strict=True)]
        true = [c.motion[:n] for c, n in zip(self.clips, frames, strict=True)]
        out = self.lip_sync(pred, frames)
        out["fdd_upper"] = mt.upper_face_dynamics_deviation(pred, true)
        out["emotion_acc"] = self.emotion_accuracy(pred, frames)
        out.update({f"jitter_{g}": v for g, v in mt.jitter(pred).items()})
        onsets = [o[:n] for o, n in zip(self.onsets, frames, strict=True)]
        out["beat_align"] = mt.beat_alignment([mt.head_speed(m) for m in pred], onsets)
        if truth:
            for k in ("rho_jaw", "lip_mae", "lve", "fdd_upper"):
                del out[k]
            shifted = [np.roll(o, len(o) // 2) for o in onsets]  # the same beats, at unrelated times
            out["beat_align_chance"] = mt.beat_alignment([mt.head_speed(m) for m in pred], shifted)
        return out


def load_clips(cfg: EvalConfig) -> list[EvalClip]:
    """The first ``cfg.clips`` test clips, each scored on its first ``cfg.seconds``."""
    out = []
    for c in load_split(cfg.data, "test", cfg.clips):
        n = c.frames if cfg.seconds is None else min(c.frames, round(cfg.seconds * FPS))
        feed = Feed(c.audio, c.log_mel.astype(np.float32), c.speech)
        out.append(
            EvalClip(c.id, feed, c.motion, c.emotion, c.intensity, mt.frame_phones(c.phones, c.frames), n)
        )
    return out


def degraded_feeds(clips: list[EvalClip], seed: int, extra_frames: int) -> list[Feed]:
    """Each clip's scored samples (plus ``extra_frames`` of lookahead) through the loader's call
    augmentation (seed fixed per clip), features recomputed by the live front end."""
    hook = loader_augment()
    feeds = []
    for i, c in enumerate(clips):
        audio = c.feed.audio[: (c.frames + extra_frames) * SAMPLES_PER_FRAME]
        noisy = hook(audio, 1000 * seed + i).astype(np.float32)
        feats = analyse(noisy)
        feeds.append(Feed(noisy, feats.log_mel.reshape(-1, feats.log_mel.shape[-1]), feats.speech))
    return feeds


def load_sources(cfg: EvalConfig, notes: list[str]) -> dict[str, Source]:
    sources: dict[str, Source] = {}
    for name in cfg.sources:
        if name == "heuristic":
            sources[name] = HeuristicSource()
            continue
        try:
            weights = load_weights(cfg.weights, WEIGHT_NAMES[name])
        except WeightsError as exc:
            notes.append(f"{name}: skipped ({exc})")
            continue
        s = weights.sampler
        notes.append(
            f"{name}: {s.steps} steps, guidance {s.guidance}, shift {s.shift}, "
            f"default L {weights.config.lookahead} (record step {weights.record.get('step', '?')})"
        )
        sources[name] = GeneratorSource(name, weights)
    return sources


def capped(clips: list[EvalClip], seconds: float | None) -> list[int]:
    """Each clip's scored frames, at most ``seconds`` of them (None: no cap)."""
    cap = None if seconds is None else round(seconds * FPS)
    return [c.frames if cap is None else min(c.frames, cap) for c in clips]


def scale_of(clips: list[EvalClip]) -> np.ndarray:
    """The truth's per-channel std over the scored frames [40], floored (diversity and drift units)."""
    true = np.concatenate([c.motion[: c.frames] for c in clips])
    return np.maximum(true.std(0), SCALE_FLOOR)


@dataclass
class Run:
    """What every part shares: the clips, sources, scorer, scored spans and the clean main runs."""

    cfg: EvalConfig
    clips: list[EvalClip]
    sources: dict[str, Source]
    scorer: Scorer
    timings: Timings
    notes: list[str]
    span: dict[str, list[int]]  # per source: frames scored per clip
    main_runs: dict[str, list[np.ndarray]] = field(default_factory=dict)  # clean, default L, cfg.seed

    @property
    def generators(self) -> dict[str, GeneratorSource]:
        return {k: v for k, v in self.sources.items() if isinstance(v, GeneratorSource)}

    def within(self, name: str, seconds: float | None) -> list[int]:
        """Source ``name``'s span, at most ``seconds`` per clip."""
        return [min(a, b) for a, b in zip(capped(self.clips, seconds), self.span[name], strict=True)]


def evaluate(cfg: EvalConfig) -> dict[str, Any]:
    """Run every part (module docstring) and return the report (JSON-able)."""
    start = time.perf_counter()
    timings = Timings()
    notes: list[str] = []
    with timings("load test clips"):
        clips = load_clips(cfg)
    with timings("emotion probe"):
        probe = load_or_train(
            cfg.data, cfg.probe_cache or Path.home() / ".cache" / "xactor" / "emotion_probe.npz"
        )
    sources = load_sources(cfg, notes)
    main = capped(clips, None)
    span = {name: capped(clips, cfg.teacher_seconds if name == "teacher" else None) for name in sources}
    if "teacher" in sources and span["teacher"] != main:
        notes.append(
            f"teacher: first {cfg.teacher_seconds:g} s of each clip only (cost); the columns marked "
            f"≤{cfg.teacher_seconds:g}s score every source on those frames"
        )
    run = Run(cfg, clips, sources, Scorer(clips, probe), timings, notes, span)
    with drift_pool(run) as pending:  # the long drift streams run beside everything else
        report: dict[str, Any] = {
            "config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(cfg).items()},
            "clips": [c.id for c in clips],
            "scored_seconds": round(sum(main) / FPS, 1),
            "closed_gap_threshold": run.scorer.tracks.closed,
        }
        report.update(main_tables(run))
        if cfg.emotion_given:
            report["emotion_given"] = emotion_given(run)
        report["lookahead"] = lookahead_table(run)
        report["diversity"] = diversity(run)
        report["streaming_vs_offline"] = streaming_vs_offline(run)
        report["drift"] = drift_results(run, pending)
    report["notes"] = notes
    report["timings_s"] = timings.parts
    report["wall_s"] = round(time.perf_counter() - start, 1)
    return report


def main_tables(run: Run) -> dict[str, Any]:
    """Metrics 1–8 of every source on clean (and, with ``augment``, degraded) audio."""
    cfg, clips = run.cfg, run.clips
    conditions = {"clean": [c.feed for c in clips]}
    if cfg.augment:
        with run.timings("degrade audio"):
            conditions["augmented"] = degraded_feeds(clips, cfg.seed, extra_frames=4)  # ≥ any lookahead
    out = {}
    for cond, feeds in conditions.items():
        runs = {}
        for name, src in run.sources.items():
            with run.timings(f"{name} {cond}"):
                runs[name] = src.run(feeds, run.span[name], [cfg.seed] * len(clips))
        if cond == "clean":
            run.main_runs = runs
        with run.timings(f"score {cond}"):
            out[cond] = table(run.scorer, runs, run.span, capped(clips, None))
    return out


def emotion_given(run: Run) -> dict[str, Any]:
    """Metric 6 inferred vs given: each generator's clean main run (emotion "none") against the same
    feeds, spans and seed streamed on each clip's true per-frame label and intensity; the truth's
    own accuracy on those frames is the ceiling."""
    main = capped(run.clips, None)
    out = {}
    for name, gen in run.generators.items():
        frames = run.span[name]
        tracks = [(c.emotion[:n], c.intensity[:n]) for c, n in zip(run.clips, frames, strict=True)]
        feeds = [c.feed for c in run.clips]
        with run.timings(f"{name} emotion given"):
            given = gen.run(feeds, frames, [run.cfg.seed] * len(feeds), emotions=tracks)
        with run.timings("score emotion given"):
            modes = {
                mode: {
                    "emotion_acc": run.scorer.emotion_accuracy(motion, frames),
                    **run.scorer.lip_sync(motion, frames),
                }
                for mode, motion in (("inferred", run.main_runs[name]), ("given", given))
            }
            truth = run.scorer.emotion_accuracy([c.motion for c in run.clips], frames)
        out[name] = {
            "span": "all" if frames == main else f"≤{max(frames) / FPS:g}s",
            "frames": sum(frames),
            "truth_emotion_acc": truth,
            **modes,
        }
    return out


def lookahead_table(run: Run) -> dict[str, Any]:
    """Metrics 1–4 of each generator at every lookahead its weights serve (default L: the main run)."""
    out = {}
    for name, gen in run.generators.items():
        frames = run.within(name, run.cfg.short_seconds)
        rows = {}
        with run.timings(f"{name} lookahead"):
            for la in run.cfg.lookaheads:
                if la > gen.weights.config.max_lookahead:
                    continue
                feeds = [c.feed for c in run.clips]
                same = la == gen.lookahead
                motion = (
                    run.main_runs[name] if same else gen.run(feeds, frames, [run.cfg.seed] * len(feeds), la)
                )
                rows[str(la)] = run.scorer.lip_sync(motion, frames)
        out[name] = {"seconds_per_clip": run.cfg.short_seconds, "default": gen.lookahead, "rows": rows}
    return out


def diversity(run: Run) -> dict[str, float]:
    """Metric 9 for every source: ``seeds`` runs of the same audio (the main run is the first)."""
    cfg, n = run.cfg, len(run.clips)
    scale = scale_of(run.clips)
    out = {}
    for name, src in run.sources.items():
        frames = run.within(name, cfg.short_seconds)
        with run.timings(f"{name} diversity"):
            extra = [cfg.seed + k for k in range(1, cfg.seeds) for _ in range(n)]
            more = src.run([c.feed for c in run.clips] * (cfg.seeds - 1), frames * (cfg.seeds - 1), extra)
        per_seed = [run.main_runs[name]] + [more[k * n : (k + 1) * n] for k in range(cfg.seeds - 1)]
        stacked = np.stack(
            [np.concatenate([m[:f] for m, f in zip(r, frames, strict=True)]) for r in per_seed]
        )
        out[name] = mt.seed_diversity(stacked, scale)  # stacked: [seeds, N, 40]
    return out


def streaming_vs_offline(run: Run) -> dict[str, Any]:
    """Metric 11: each generator's live stream (the main run) against ``sample_offline`` on the same
    noise, and how each fares against the truth."""
    out = {}
    for name, gen in run.generators.items():
        frames = run.within(name, run.cfg.offline_seconds)
        with run.timings(f"{name} offline"):
            off = [gen.offline(c.feed, n, run.cfg.seed) for c, n in zip(run.clips, frames, strict=True)]
        stream = np.concatenate([m[:n] for m, n in zip(run.main_runs[name], frames, strict=True)])
        offline = np.concatenate(off)
        true = np.concatenate([c.motion[:n] for c, n in zip(run.clips, frames, strict=True)])
        out[name] = {
            **mt.agreement(stream, offline),
            "stream_rho_jaw_truth": mt.jaw_correlation(stream, true),
            "offline_rho_jaw_truth": mt.jaw_correlation(offline, true),
            "seconds_per_clip": run.cfg.offline_seconds,
        }
    return out


FRAMES_PER_MINUTE = 60 * FPS
NOT_PURE_LIFE = [i for i in range(ms.MOTION_DIM) if i not in set(PURE_LIFE_CHANNELS.tolist())]


def drift_frames(cfg: EvalConfig) -> int:
    return round(cfg.drift_minutes * FRAMES_PER_MINUTE)


def _drift_stream(
    name: str, weights: GeneratorWeights, vectors: np.ndarray, frames: int, seed: int
) -> tuple[np.ndarray, float]:
    """One long live stream -> (motion, seconds); in a child process when ``jobs`` > 1 (one thread,
    beside the parent's work: the other core of a 2-core machine)."""
    torch.set_num_threads(1)
    start = time.perf_counter()
    motion = GeneratorSource(name, weights).stream([vectors], [frames], [seed])[0]
    return motion, time.perf_counter() - start


@contextmanager
def drift_pool(run: Run) -> Iterator[dict[str, Any]]:
    """Start the drift streams (metric 10); yields name -> an AsyncResult or a thunk of (motion, seconds)."""
    cfg = run.cfg
    names = [
        n for n in ("student", "teacher") if n in run.generators and (n == "student" or cfg.drift_teacher)
    ]
    total = drift_frames(cfg)
    if cfg.drift_minutes <= 0 or not names:
        yield {}
        return
    args = {}
    for name in names:
        gen = run.generators[name]
        minute = np.concatenate([gen.vectors(c.feed)[: c.frames] for c in run.clips])[:FRAMES_PER_MINUTE]
        vectors = loop([minute], total + gen.lookahead)
        args[name] = (name, gen.weights, vectors, total, cfg.seed)
    if cfg.jobs <= 1:
        yield {name: (lambda a=a: _drift_stream(*a)) for name, a in args.items()}
        return
    pool = mp.get_context("spawn").Pool(1)
    try:
        yield {name: pool.apply_async(_drift_stream, a) for name, a in args.items()}
    finally:
        pool.terminate()  # the results are in by now; after an error this stops the stream at once
        pool.join()


def drift_reference(run: Run) -> dict[str, float]:
    """The heuristic's drift on the drift streams' audio: one minute of samples repeated."""
    total = drift_frames(run.cfg)
    samples = np.concatenate([c.feed.audio[: c.frames * SAMPLES_PER_FRAME] for c in run.clips])
    minute = samples[: FRAMES_PER_MINUTE * SAMPLES_PER_FRAME]
    feed = Feed(loop([minute], (total + HEURISTIC_LOOKAHEAD) * SAMPLES_PER_FRAME), np.zeros(0), np.zeros(0))
    with run.timings("heuristic drift stream (reference)"):
        motion = HeuristicSource().run([feed], [total], [run.cfg.seed])[0]
    return drift_of(motion, scale_of(run.clips))


def drift_of(motion: np.ndarray, scale: np.ndarray) -> dict[str, Any]:
    """Metric 10 over every channel, and over those not drawn from Life alone (blinks and gaze
    are Life's in every live source: their per-minute wander is Life's sampling, not drift)."""
    out = mt.drift(motion, scale)
    own = mt.drift(motion, scale, channels=NOT_PURE_LIFE)
    out["without_life"] = {k: own[k] for k in ("mean_pct", "std_pct", "median_mean_pct", "worst_channel")}
    return out


def drift_results(run: Run, pending: dict[str, Any]) -> dict[str, Any]:
    """Metric 10 from the drift streams, beside the heuristic's on the same audio."""
    if not pending:
        return {}
    cfg = run.cfg
    scale = scale_of(run.clips)
    reference = drift_reference(run)
    out: dict[str, Any] = {"heuristic": reference}
    for name, job in pending.items():
        label = f"{name} drift stream ({cfg.drift_minutes:g} min)"
        if isinstance(job, AsyncResult):
            with run.timings(f"{name} drift: waiting for it"):
                motion, seconds = job.get()
            label = label[:-1] + ", in parallel)"
        else:
            motion, seconds = job()
        run.timings.parts[label] = round(seconds, 2)
        out[name] = drift_of(motion, scale)
    run.notes.append(
        "drift stream: the first minute of the clips' front-end features (joined end to end) "
        "repeated, so every minute hears the same audio (at each join a live front end would differ "
        "for a few 10 ms rows); the heuristic streams the same minute of samples as the reference"
    )
    return out


def loop(parts: list[np.ndarray], total: int) -> np.ndarray:
    """The parts joined end to end and repeated to ``total`` rows."""
    whole = np.concatenate(parts)
    reps = -(-total // len(whole))
    return np.concatenate([whole] * reps)[:total]


def table(
    scorer: Scorer, runs: dict[str, list[np.ndarray]], span: dict[str, list[int]], main: list[int]
) -> dict[str, Any]:
    """Columns of metrics 1–8: truth and every source on all scored frames, then (when a source
    ran on less) truth and every source on that shorter span, so some columns compare like with like."""
    columns = []
    spans = [main, *sorted({tuple(s) for s in span.values() if list(s) != main}, key=sum, reverse=True)]
    for frames in map(list, spans):
        mark = "all" if frames == main else f"≤{max(frames) / FPS:g}s"
        truth = [c.motion for c in scorer.clips]
        for name, motions in {"truth": truth, **runs}.items():
            if all(len(m) >= n for m, n in zip(motions, frames, strict=True)):
                columns.append(
                    {
                        "label": name if mark == "all" else f"{name} {mark}",
                        "source": name,
                        "span": mark,
                        "frames": sum(frames),
                        "metrics": scorer.score(motions, frames, truth=name == "truth"),
                    }
                )
    return {"columns": columns}
