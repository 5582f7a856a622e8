"""Per-stream log-mel normalisation and the articulation calibration of the generator's output."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from xactor.engines import motion_space as ms
from xactor.engines.motion_gen.calibration import QUANTILES, Calibration
from xactor.engines.motion_gen.features import MAX_SHIFT, StreamShift
from xactor.engines.motion_gen.weights import SHIPPED_DIR, STUDENT, WeightsError, load_weights

RNG = np.random.default_rng(0)


def speechy_mel(frames: int) -> np.ndarray:
    """[T, 4, 80] log-mel rows with a spectral shape and frame-to-frame variation."""
    shape = np.linspace(-2.0, -8.0, 80)  # a falling spectrum
    return (shape + RNG.normal(0.0, 1.0, (frames, 4, 80))).astype(np.float32)


def test_shift_is_causal_and_chunking_free() -> None:
    target = np.full(80, -5.0, np.float32)
    mel, speech = speechy_mel(300), np.ones(300, np.float32)
    whole = StreamShift(target, 3.0).apply(mel, speech)
    chunked_shift = StreamShift(target, 3.0)
    chunks = [chunked_shift.apply(mel[a : a + 7], speech[a : a + 7]) for a in range(0, 300, 7)]
    assert np.array_equal(whole, np.concatenate(chunks))
    # causal: the first frame is moved by the starting mean only (the target: no shift)
    assert np.array_equal(whole[0], mel[0])


def test_a_channel_offset_cancels_once_the_stream_has_spoken() -> None:
    """A quieter microphone with another EQ is a constant offset per bin in log-mel: after a few
    seconds of speech both streams give the model the same rows."""
    target = np.linspace(-2.0, -8.0, 80).astype(np.float32)
    mel, speech = speechy_mel(500), np.ones(500, np.float32)  # 20 s
    channel = (-2.5 + np.linspace(0.0, -1.5, 80)).astype(np.float32)  # -2.5 nats and a tilt
    a = StreamShift(target, 3.0).apply(mel, speech)
    b = StreamShift(target, 3.0).apply(mel + channel, speech)
    early = np.abs(a[:5] - b[:5]).mean()
    late = np.abs(a[-100:] - b[-100:]).mean()
    assert early > 1.5 and late < 0.1, (early, late)


def test_silence_does_not_move_the_mean_and_the_shift_is_bounded() -> None:
    target = np.zeros(80, np.float32)
    shift = StreamShift(target, 1.0)
    shift.apply(np.full((200, 4, 80), -30.0, np.float32), np.zeros(200, np.float32))
    assert np.array_equal(shift.mean, target)
    out = shift.apply(np.full((400, 4, 80), -30.0, np.float32), np.ones(400, np.float32))
    assert float(out[-1].max()) == pytest.approx(-30.0 + MAX_SHIFT)


def test_calibration_maps_quantiles_and_keeps_order() -> None:
    predicted = ms.zeros(4000)
    truth = ms.zeros(4000)
    jaw = ms.INDEX["jawOpen"]
    base = RNG.uniform(0.0, 1.0, 4000)
    predicted[:, jaw] = 0.1 + 0.2 * base  # squeezed toward the middle
    truth[:, jaw] = 0.5 * base**1.2  # the full range, closed to open
    cal = Calibration.fit(predicted, truth, ("jawOpen", "mouthClose"))
    out = cal.apply(predicted)
    assert np.percentile(out[:, jaw], 90) == pytest.approx(np.percentile(truth[:, jaw], 90), abs=0.01)
    assert np.percentile(out[:, jaw], 5) == pytest.approx(np.percentile(truth[:, jaw], 5), abs=0.01)
    order = np.argsort(predicted[:, jaw])
    assert np.all(np.diff(out[order, jaw]) >= -1e-6)  # monotone: timing untouched
    untouched = [i for i in range(ms.MOTION_DIM) if i not in (jaw, ms.INDEX["mouthClose"])]
    assert np.array_equal(out[:, untouched], predicted[:, untouched])
    again = Calibration.from_json(json.loads(json.dumps(cal.to_json())))
    assert np.allclose(again.apply(predicted), out, atol=1e-4)


def test_reach_opens_the_opening_channels_to_their_targets_and_leaves_closures_alone() -> None:
    predicted, truth = ms.zeros(4000), ms.zeros(4000)
    jaw, close = ms.INDEX["jawOpen"], ms.INDEX["mouthClose"]
    base = RNG.uniform(0.0, 1.0, 4000)
    predicted[:, jaw] = truth[:, jaw] = 0.4 * base
    predicted[:, close] = truth[:, close] = 0.1 * (1.0 - base)
    plain = Calibration.fit(predicted, truth, ("jawOpen", "mouthClose"))
    reached = Calibration.fit(predicted, truth, ("jawOpen", "mouthClose"), reach=1.3)
    out, ref = reached.apply(predicted), plain.apply(predicted)
    assert np.percentile(out[:, jaw], 90) == pytest.approx(1.3 * np.percentile(ref[:, jaw], 90), rel=0.01)
    assert out[:, jaw].min() == pytest.approx(ref[:, jaw].min(), abs=1e-3)  # closed stays closed
    assert np.array_equal(out[:, close], ref[:, close])  # not an opening channel
    floored = Calibration.fit(predicted, truth, ("jawOpen", "mouthClose"), reach=1.3, floor=0.1).apply(
        predicted
    )
    shut = ref[:, jaw] <= 0.09  # a closure's jaw stays where it was: stretching it unseals lips
    assert np.allclose(floored[shut, jaw], ref[shut, jaw], atol=2e-3)
    assert np.percentile(floored[:, jaw], 90) == pytest.approx(
        0.1 + 1.3 * (np.percentile(ref[:, jaw], 90) - 0.1), rel=0.01
    )
    with pytest.raises(ValueError, match="shrink"):
        Calibration.fit(predicted, truth, ("jawOpen",), reach=0.8)


def test_calibration_travels_with_the_weights(tmp_path: Path) -> None:
    for f in SHIPPED_DIR.glob(f"{STUDENT}.*"):
        shutil.copy(f, tmp_path / f.name)
    meta_path = tmp_path / f"{STUDENT}.json"
    meta = json.loads(meta_path.read_text())
    levels = len(QUANTILES)
    meta["calibration"] = {
        "quantiles": list(QUANTILES),
        "channels": {"jawOpen": {"source": list(np.linspace(0, 0.5, levels)), "target": [0.0] * levels}},
    }
    meta_path.write_text(json.dumps(meta))
    weights = load_weights(tmp_path, STUDENT)
    assert weights.calibration is not None
    z = np.zeros((3, ms.MOTION_DIM), np.float32) + 2.0  # far from the mean: an open jaw
    assert np.all(weights.absolute(z)[:, ms.INDEX["jawOpen"]] == 0.0)
    meta["calibration"]["quantiles"] = [0.0, 1.0]
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(WeightsError, match="unreadable config"):
        load_weights(tmp_path, STUDENT)


def test_a_map_fitted_at_a_lookahead_serves_sessions_at_it(tmp_path: Path) -> None:
    """The default map applies at every L without its own; a map fitted at L = 0 replaces it there,
    in the weights and in a live source streaming at L = 0."""
    from xactor.engines.motion_gen.weights import save_calibration
    from xactor.engines.motion_source.generator import GeneratorMotionSource

    for f in SHIPPED_DIR.glob(f"{STUDENT}.*"):
        shutil.copy(f, tmp_path / f.name)
    levels = len(QUANTILES)
    shut = Calibration(("jawOpen",), np.linspace(0, 1, levels)[None], np.zeros((1, levels)))  # jaw -> 0
    save_calibration(tmp_path, STUDENT, shut, {"test": True}, lookahead=0)
    weights = load_weights(tmp_path, STUDENT)
    assert weights.calibration is not None and set(weights.lookahead_calibrations) == {0}
    assert weights.calibration_for(0) is weights.lookahead_calibrations[0]
    assert (
        weights.calibration_for(1) is weights.calibration
        and weights.calibration_for(None) is weights.calibration
    )
    z = np.zeros((3, ms.MOTION_DIM), np.float32) + 2.0  # far from the mean: an open jaw
    jaw = ms.INDEX["jawOpen"]
    assert np.all(weights.absolute(z, 0)[:, jaw] == 0.0) and np.all(weights.absolute(z, 1)[:, jaw] > 0.0)

    t = np.arange(16000 * 2) / 16000
    speech = (0.3 * np.sin(2 * np.pi * 180 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)
    jaws = {}
    for lookahead in (0, 1):
        source = GeneratorMotionSource(weights, lookahead_frames=lookahead, seed=0)
        source.push_audio(speech)
        jaws[lookahead] = np.array([f.motion[jaw] for f in source.pull()])
    assert len(jaws[0]) > 20 and np.all(jaws[0] == 0.0)
    assert jaws[1].max() > 0.0
