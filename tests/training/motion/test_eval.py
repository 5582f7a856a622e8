"""``xactor eval motion``: each metric on hand-made arrays with a known answer, the emotion probe on
a separable toy set, the batched streamer against the live sampler, and a tiny end-to-end run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from xactor.cli.main import app
from xactor.engines import motion_space as ms
from xactor.engines.motion_gen.config import MotionGenConfig
from xactor.engines.motion_gen.features import Normalizer
from xactor.engines.motion_gen.model import MotionDenoiser
from xactor.engines.motion_gen.sampler import Denoiser, StreamingGenerator
from xactor.engines.motion_gen.weights import STUDENT, TEACHER, SamplerSettings, load_weights, save_weights
from xactor.training.motion import emotion_probe as ep
from xactor.training.motion import metrics as mt
from xactor.training.motion.evaluate import EvalConfig, load_sources
from xactor.training.motion.sources import Feed, GeneratorSource
from xactor.training.motion.streaming import stream_rows

TINY = MotionGenConfig(d_model=32, n_layers=1, n_heads=2, context=16)


def _tiny_weights(folder: Path, name: str, steps: int, guidance: float, cfg: MotionGenConfig = TINY) -> None:
    """A random-init generator; its zero-init head randomised so frames depend on audio and noise."""
    torch.manual_seed(0)
    model = MotionDenoiser(cfg)
    torch.nn.init.normal_(model.head.weight, std=0.3)
    norm = Normalizer(
        np.full(80, -6.0, np.float32),
        np.full(80, 3.0, np.float32),
        np.zeros(40, np.float32),
        np.full(40, 0.1, np.float32),
    )
    save_weights(folder, name, model, norm, SamplerSettings(steps=steps, guidance=guidance))


# --- metrics --------------------------------------------------------------------------------------------


def test_lip_sync_metrics_on_known_arrays() -> None:
    rng = np.random.default_rng(0)
    true = rng.uniform(0, 1, (200, 40)).astype(np.float32)
    assert mt.jaw_correlation(true, true) == pytest.approx(1.0)
    flipped = true.copy()
    flipped[:, mt.JAW] = 1 - true[:, mt.JAW]
    assert mt.jaw_correlation(flipped, true) == pytest.approx(-1.0)
    assert np.isnan(mt.pearson(np.ones(5), np.arange(5)))

    pred = true.copy()
    pred[:, ms.INDEX["browInnerUp"]] += 0.5  # not a lip channel
    assert mt.lip_mae(pred, true) == 0.0
    pred[:, list(mt.LIP_CHANNELS)] += 0.1
    assert mt.lip_mae(pred, true) == pytest.approx(0.1, abs=1e-6)

    lips = rng.normal(size=(10, 6, 3))
    moved = lips.copy()
    moved[:, 2] += [0.03, 0.04, 0.0]  # one landmark 0.05 away, the rest exact
    moved[:, 4] += [0.01, 0.0, 0.0]
    assert mt.lip_vertex_error(moved, lips) == pytest.approx(0.05)


def test_bilabial_closure_share_on_a_synthetic_gap_track() -> None:
    phones = [["sil", 0.0, 0.2, 0, -1], ["M", 0.2, 0.4, 0, 0], ["AA", 0.4, 0.8, 1, 0], ["P", 0.8, 1.0, 0, 1]]
    labels = mt.frame_phones(phones, 26)  # 26 frames: the last one's centre (1.02 s) is after every span
    assert list(labels[:5]) == ["sil"] * 5 and list(labels[5:10]) == ["M"] * 5
    assert list(labels[20:25]) == ["P"] * 5 and labels[25] == "sil"
    bilabial = np.isin(labels, list(mt.BILABIALS))
    gap = np.full(26, 0.1)
    gap[5:10] = 0.0  # M closed; P: closed on 2 frames of 5
    gap[20:22] = 0.0
    assert mt.closed_share(gap, bilabial, threshold=0.01) == pytest.approx(7 / 10)
    vowel = labels == "AA"
    assert mt.closed_share(gap, vowel, threshold=0.01) == 0.0
    assert np.isnan(mt.closed_share(gap, np.zeros(26, bool), 0.01))


def test_dynamics_metrics() -> None:
    t = np.arange(100, dtype=np.float64)
    line = np.tile(0.01 * t[:, None], (1, 40))
    assert all(v == pytest.approx(0.0, abs=1e-12) for v in mt.jitter([line]).values())
    parabola = np.tile(0.5 * 0.002 * t[:, None] ** 2, (1, 40))  # second difference 0.002 everywhere
    assert all(v == pytest.approx(0.002) for v in mt.jitter([parabola, parabola]).values())

    rng = np.random.default_rng(1)
    true = rng.normal(size=(300, 40))
    assert mt.upper_face_dynamics_deviation([true], [true]) == 0.0
    calmer = true * 0.5  # every std halves: the deviation is half the mean upper-face std
    expect = 0.5 * true[:, list(mt.UPPER_FACE_CHANNELS)].std(0).mean()
    assert mt.upper_face_dynamics_deviation([calmer], [true]) == pytest.approx(expect)


def test_beat_alignment() -> None:
    speed = np.zeros(200)
    onset = np.zeros(200)
    beats = [20, 60, 100, 140, 180]
    speed[beats] = 1.0
    onset[beats] = 1.0
    assert mt.beat_alignment([speed], [onset], sigma=2.0) == pytest.approx(1.0)
    late = np.roll(speed, 2)  # every head peak 2 frames (one σ) after its onset
    assert mt.beat_alignment([late], [onset], sigma=2.0) == pytest.approx(np.exp(-0.5))
    assert np.isnan(mt.beat_alignment([speed], [np.zeros(200)]))
    assert list(mt.peak_frames(np.array([0, 3, 0, 2, 2.5, 0, 0, 1, 0.0]), min_distance=2)) == [1, 4, 7]

    motion = np.zeros((50, 40))
    motion[:, 0] = np.linspace(0, 0.49, 50)  # yaw turning at 0.01 rad a frame
    assert mt.head_speed(motion, smooth=1)[1:] == pytest.approx(np.full(49, 0.01))
    mel = np.zeros((8, 80))
    mel[4:] = 1.0  # every bin rises by 1 at row 4: frame 1
    assert list(mt.onset_strength(mel, np.array([1.0, 0.5]))) == [0.0, 40.0]


def test_diversity_drift_and_agreement() -> None:
    rng = np.random.default_rng(2)
    run = rng.normal(size=(500, 40))
    scale = np.ones(40)
    assert mt.seed_diversity(np.stack([run, run, run]), scale) == pytest.approx(0.0, abs=1e-12)
    assert mt.seed_diversity(np.stack([run - 1, run + 1]), scale) == pytest.approx(1.0)

    stationary = rng.normal(size=(5 * 1500, 40))  # five minutes of one distribution
    d = mt.drift(stationary, scale)
    assert d["minutes"] == 5 and d["mean_pct"] < 15 and d["std_pct"] < 15  # sampling noise only
    assert mt.drift(np.zeros((3 * 1500, 40)), scale)["mean_pct"] == 0.0
    ramp = np.zeros((3 * 1500, 40))
    ramp[3000:, 7] = 0.5  # the third minute's mean moves by half a std
    d = mt.drift(ramp, scale)
    assert d["mean_pct"] == pytest.approx(50.0) and d["median_mean_pct"] == 0.0
    assert d["worst_channel"] == ms.CHANNELS[7].name
    assert np.isnan(mt.drift(np.zeros((1000, 40)), scale)["mean_pct"])

    assert mt.agreement(run, run) == {"rho_jaw": pytest.approx(1.0), "lip_mae": 0.0}


# --- emotion probe ------------------------------------------------------------------------------------------


def test_emotion_probe_learns_a_separable_toy_set(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    motions, labels = [], []
    for k in range(5):  # emotion k raises channel 10 + k (a smile, a frown, ...) above the noise
        m = rng.normal(0, 0.05, (400, 40))
        m[:, 10 + k] += 0.5
        motions.append(m)
        labels.append(np.full(400, k))
    feats = np.concatenate([ep.window_features(m) for m in motions])
    y = np.concatenate([ep.window_labels(e) for e in labels])
    assert feats.shape == (5 * 15, 80) and list(np.bincount(y)) == [15] * 5  # (400 - 50) / 25 + 1 each
    probe = ep.fit_probe(feats, y, classes=5)
    assert probe.accuracy(motions, labels) == 1.0
    again = ep.fit_probe(feats, y, classes=5)
    assert np.array_equal(again.weights, probe.weights)  # deterministic
    probe.save(tmp_path / "p.npz")
    assert ep.EmotionProbe.load(tmp_path / "p.npz").accuracy(motions, labels) == 1.0
    # 75 frames: windows 0..49 (30 × 0, 20 × 3) and 25..74 (5 × 0, 45 × 3), each named by its majority
    assert list(ep.window_labels(np.array([0] * 30 + [3] * 45))) == [0, 3]


# --- streaming ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("chunk", "guidance"), [(1, 1.5), (2, 1.0)])
def test_batched_streams_equal_live_streams(tmp_path: Path, chunk: int, guidance: float) -> None:
    """Row i of the batch = a live StreamingGenerator(seed_i) fed row i's audio then silence, also
    after shorter rows have left the batch."""
    cfg = MotionGenConfig(d_model=32, n_layers=1, n_heads=2, context=8, chunk=chunk)
    _tiny_weights(tmp_path, TEACHER, steps=2, guidance=guidance, cfg=cfg)
    w = load_weights(tmp_path, TEACHER)
    den, sil = Denoiser(w.model, guidance), w.normalizer.silence()
    rng = np.random.default_rng(4)
    frames, seeds = [6, 20, 13], [0, 1, 7]
    audio = [rng.normal(size=(n + 1, cfg.audio_dim)).astype(np.float32) for n in frames]
    got = stream_rows(den, sil, 2, 1.0, audio, frames, seeds, lookahead=1)
    for a, n, seed, out in zip(audio, frames, seeds, got, strict=True):
        live = StreamingGenerator(den, sil, 2, 1.0, seed=seed, lookahead=1)
        ref = live.push(a) + live.push(np.tile(sil, (chunk, 1)))  # silence until the last chunk is out
        assert out.shape == (n, 40)
        np.testing.assert_allclose(out, np.stack(ref)[:n], atol=1e-5)


@pytest.mark.parametrize(("chunk", "guidance"), [(1, 1.5), (2, 1.0)])
def test_batched_emotion_tracks_equal_live_set_emotion(tmp_path: Path, chunk: int, guidance: float) -> None:
    """Per-row, per-frame emotion: a row with a constant track = a live stream with set_emotion of
    that label; a changing track = a live stream whose set_emotion changes before each frame."""
    cfg = MotionGenConfig(d_model=32, n_layers=1, n_heads=2, context=8, chunk=chunk)
    _tiny_weights(tmp_path, TEACHER, steps=2, guidance=guidance, cfg=cfg)
    w = load_weights(tmp_path, TEACHER)
    den, sil = Denoiser(w.model, guidance), w.normalizer.silence()
    rng = np.random.default_rng(6)
    frames, seeds = [9, 20, 13], [0, 1, 7]
    audio = [rng.normal(size=(n + 1, cfg.audio_dim)).astype(np.float32) for n in frames]
    changing = rng.integers(0, cfg.n_emotions + 1, frames[2])  # n_emotions: "none" on some frames
    tracks = [
        (np.full(frames[0], 2), np.full(frames[0], 0.7, np.float32)),
        (np.full(frames[1], 4), np.ones(frames[1], np.float32)),
        (
            changing,
            np.where(changing == cfg.n_emotions, 0.0, rng.uniform(0.2, 1.0, frames[2])).astype(np.float32),
        ),
    ]
    got = stream_rows(den, sil, 2, 1.0, audio, frames, seeds, lookahead=1, tracks=tracks)
    inferred = stream_rows(den, sil, 2, 1.0, audio, frames, seeds, lookahead=1)
    for a, n, seed, (labels, strength), out, none in zip(
        audio, frames, seeds, tracks, got, inferred, strict=True
    ):
        live = StreamingGenerator(den, sil, 2, 1.0, seed=seed, lookahead=1)
        ref: list[np.ndarray] = []
        for j, row in enumerate(np.concatenate([a, np.tile(sil, (chunk, 1))])):
            k = min(max(j - 1, 0), n - 1)  # audio frame j completes frame j - L's window; then the last holds
            live.set_emotion(int(labels[k]), float(strength[k]))
            ref += live.push(row[None])
        assert out.shape == (n, 40)
        np.testing.assert_allclose(out, np.stack(ref)[:n], atol=1e-5)
        assert not np.allclose(out, none, atol=1e-3)  # the track conditions the frames


def test_offline_sees_the_noise_the_stream_draws(tmp_path: Path) -> None:
    """Frame 0 has no history, so offline and streaming agree on it exactly when the noise is the same."""
    _tiny_weights(tmp_path, TEACHER, steps=3, guidance=1.5)
    gen = GeneratorSource("teacher", load_weights(tmp_path, TEACHER))
    rng = np.random.default_rng(5)
    feed = Feed(np.zeros(30 * 640, np.float32), rng.normal(-6, 3, (120, 80)).astype(np.float32), np.ones(30))
    stream, offline = gen.run([feed], [30], [3])[0], gen.offline(feed, 30, 3)
    np.testing.assert_allclose(offline[0], stream[0], atol=1e-5)
    assert not np.allclose(offline, stream, atol=1e-4)  # later frames: noisy history vs clean


# --- end to end --------------------------------------------------------------------------------------------


def test_missing_weights_skip_that_source_with_a_note(tmp_path: Path) -> None:
    _tiny_weights(tmp_path, TEACHER, steps=2, guidance=1.5)
    notes: list[str] = []
    sources = load_sources(EvalConfig(data=tmp_path, weights=tmp_path), notes)
    assert list(sources) == ["heuristic", "teacher"]
    assert any(n.startswith("student: skipped") and "missing" in n for n in notes)


@pytest.mark.slow
def test_eval_motion_end_to_end(tiny_corpus: Path, tmp_path: Path) -> None:
    weights = tmp_path / "weights"
    _tiny_weights(weights, TEACHER, steps=2, guidance=1.5)
    _tiny_weights(weights, STUDENT, steps=1, guidance=1.0)
    out = tmp_path / "eval"
    args = ["eval", "motion", "--data", str(tiny_corpus), "--weights", str(weights), "--out", str(out)]
    small = ["--seconds", "4", "--teacher-seconds", "2", "--short-seconds", "2", "--offline-seconds", "2"]
    result = CliRunner().invoke(app, [*args, *small, "--drift-minutes", "2", "--jobs", "2"])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    labels = [c["label"] for c in report["clean"]["columns"]]
    assert labels == [
        "truth",
        "heuristic",
        "student",
        "truth ≤2s",
        "heuristic ≤2s",
        "student ≤2s",
        "teacher ≤2s",
    ]
    teacher = report["clean"]["columns"][-1]["metrics"]
    assert -1 <= teacher["rho_jaw"] <= 1 and teacher["lve"] > 0 and 0 <= teacher["emotion_acc"] <= 1
    assert set(report["lookahead"]["teacher"]["rows"]) == {"0", "1", "2", "3"}
    assert report["diversity"]["teacher"] > 0 and report["diversity"]["heuristic"] >= 0
    assert -1 <= report["streaming_vs_offline"]["student"]["rho_jaw"] <= 1
    given = report["emotion_given"]
    assert list(given) == ["student", "teacher"] and given["teacher"]["span"] == "≤2s"
    for g in given.values():
        assert 0 <= g["inferred"]["emotion_acc"] <= 1 and 0 <= g["given"]["emotion_acc"] <= 1
        assert -1 <= g["given"]["rho_jaw"] <= 1 and g["given"]["lip_mae"] > 0
    assert "emotion accuracy: inferred" in (out / "report.md").read_text()
    assert list(report["drift"]) == ["heuristic", "student"] and report["drift"]["student"]["minutes"] == 2
    assert report["drift"]["heuristic"]["minutes"] == 2 and "worst_channel" in report["drift"]["student"]
    assert report["drift"]["student"]["without_life"]["worst_channel"] not in (
        "gazeYaw",
        "gazePitch",
        "eyeBlinkLeft",
    )
    assert "student drift stream (2 min, in parallel)" in report["timings_s"]
    assert (out / "report.md").read_text().startswith("# xactor eval motion")
    assert (out / "emotion_probe.npz").is_file()
