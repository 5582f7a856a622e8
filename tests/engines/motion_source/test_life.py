from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from xactor.engines import motion_space as ms
from xactor.engines.motion_source.life import LIFE_CHANNELS, Life, LifeConfig, life_track
from xactor.engines.timebase import FPS

BLINK = ms.INDEX["eyeBlinkLeft"]
TEN_MINUTES = FPS * 600
STILL_HEAD = {f"head_{c}": 0.0 for c in ("yaw", "pitch", "roll", "tx", "ty", "log_scale")}


def _blinks(track: np.ndarray) -> list[np.ndarray]:
    """The eyelid closure of each blink: runs of frames with closure > 0."""
    lid = track[:, BLINK]
    edges = np.flatnonzero(np.diff((lid > 0).astype(int)))
    starts, ends = edges[::2] + 1, edges[1::2] + 1
    return [lid[s:e] for s, e in zip(starts, ends, strict=False)]


@pytest.fixture(scope="module")
def silent_tracks() -> list[np.ndarray]:
    return [life_track(np.zeros(TEN_MINUTES), seed=seed) for seed in range(3)]


def test_blink_rate_and_doubles_over_ten_minutes(silent_tracks: list[np.ndarray]) -> None:
    # Measured over 20 seeds: 15.0-16.2 blinks a minute (mean 15.7): a blink 2-6 s after the
    # previous ends, ~0.2 s long, 12 % doubled; ~10 % of gaps are the short one of a double.
    rates, short_gaps = [], []
    for track in silent_tracks:
        np.testing.assert_array_equal(track[:, BLINK], track[:, ms.INDEX["eyeBlinkRight"]])
        lid = track[:, BLINK]
        onsets = np.flatnonzero((lid[1:] > 0.5) & (lid[:-1] <= 0.5)) + 1
        rates.append(len(onsets) / 10)
        gaps = np.diff(onsets) / FPS
        short_gaps.append((gaps < 0.6).mean())
        assert gaps.min() >= 0.2  # the second blink of a double starts after the first has ended
        assert gaps.max() <= 6.5
    assert all(13.5 <= r <= 18.0 for r in rates), rates
    assert 14.5 <= np.mean(rates) <= 17.0
    assert 0.04 <= np.mean(short_gaps) <= 0.2


def test_blink_shape_and_duration(silent_tracks: list[np.ndarray]) -> None:
    blinks = [b for track in silent_tracks for b in _blinks(track)]
    lengths = np.array([len(b) for b in blinks])
    # 150-250 ms with the lid moving on 4-7 frames (40 ms each, the ends of the blink excluded).
    assert lengths.min() >= 3 and lengths.max() <= 7 and 4.0 <= lengths.mean() <= 5.5
    for b in blinks:
        assert b.max() == 1.0  # the apex lands on a frame: the lids close fully
        apex = int(np.argmax(b))
        assert apex < len(b) - 1 - apex + 1  # closes faster than it opens
        assert (b > 0.5).sum() <= 4  # closed for at most ~160 ms


def test_deterministic_with_seed_and_reset_restarts() -> None:
    speech = (np.sin(np.arange(500) / 40) > 0).astype(float)
    a, b = life_track(speech, seed=5), life_track(speech, seed=5)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, life_track(speech, seed=6))
    life = Life(seed=5)
    first = np.stack([life.step(k, s) for k, s in enumerate(speech)])
    life.reset()
    again = np.stack([life.step(k, s) for k, s in enumerate(speech)])
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(first, a)  # the offline helper is the streaming Life


def test_offline_helper_equals_streaming_with_emphasis() -> None:
    rng = np.random.default_rng(0)
    speech, emphasis = rng.uniform(0, 1, 300), rng.uniform(0, 1, 300)
    life = Life(seed=1, config=LifeConfig(double_blink_p=0.5))
    streamed = np.stack([life.step(k, s, e) for k, (s, e) in enumerate(zip(speech, emphasis, strict=True))])
    np.testing.assert_array_equal(
        life_track(speech, seed=1, config=LifeConfig(double_blink_p=0.5), emphasis=emphasis), streamed
    )
    with pytest.raises(ValueError):
        life_track(speech, seed=1, emphasis=emphasis[:10])


def test_only_life_channels_are_written_and_in_range(silent_tracks: list[np.ndarray]) -> None:
    track = silent_tracks[0]
    others = np.setdiff1d(np.arange(ms.MOTION_DIM), LIFE_CHANNELS)
    assert (track[:, others] == 0).all()
    assert track.dtype == np.float32 and (track >= ms.LOW).all() and (track <= ms.HIGH).all()
    gaze = track[:, ms.GAZE_SLICE]
    assert gaze.std() > 0.005 and np.abs(gaze).max() < 0.4
    jumps = np.abs(np.diff(gaze, axis=0)).max(axis=1)
    assert (jumps > 0.03).sum() >= 100  # saccades every 1-4 s (half of them back to the camera)


def test_head_bounded_smooth_and_livelier_with_speech() -> None:
    n = FPS * 60
    for seed in range(3):
        silent = life_track(np.zeros(n), seed=seed)[:, ms.POSE_SLICE]
        talking = life_track(np.ones(n), seed=seed)[:, ms.POSE_SLICE]
        for pose in (silent, talking):
            assert np.abs(pose[:, :3]).max() < 0.15  # a few degrees, even while speaking
            assert np.abs(np.diff(pose[:, :3], axis=0)).max() < 0.015
        assert silent[:, 0].std() > 0.003 and silent[:, 1].std() > 0.003
        speed = [np.abs(np.diff(p[:, :3], axis=0)).sum(axis=1).mean() for p in (silent, talking)]
        assert speed[1] > 1.5 * speed[0]
        assert talking[:, :3].std() > 1.5 * silent[:, :3].std()


def test_emphasis_nods_the_head() -> None:
    calm = life_track(np.ones(100), seed=2)
    nod = life_track(np.ones(100), seed=2, emphasis=np.full(100, 0.5))
    pitch = ms.INDEX["headPitch"]
    np.testing.assert_allclose(nod[:, pitch] - calm[:, pitch], 0.5 * LifeConfig().nod_max, atol=1e-6)
    others = np.delete(np.arange(ms.MOTION_DIM), pitch)
    np.testing.assert_array_equal(nod[:, others], calm[:, others])


def test_breathing_in_silence_at_its_rate() -> None:
    n = FPS * 120
    cfg = LifeConfig(**STILL_HEAD)
    freqs = np.fft.rfftfreq(n, 1 / FPS)
    for seed in range(3):
        life = Life(seed=seed, config=cfg)
        assert 0.2 <= life.breath_hz <= 0.3
        pose = life_track(np.zeros(n), seed=seed, config=cfg)[:, ms.POSE_SLICE]
        for channel, amp in ((ms.INDEX["headTy"], cfg.breath_ty), (ms.INDEX["headPitch"], cfg.breath_pitch)):
            spectrum = np.abs(np.fft.rfft(pose[:, channel]))
            assert freqs[np.argmax(spectrum)] == pytest.approx(life.breath_hz, abs=1.5 / 120)
            assert np.abs(pose[:, channel]).max() == pytest.approx(amp, rel=0.05)
        # Inhale: the head rises (ty < 0) while the chin lifts (pitch < 0): the two move together.
        assert np.corrcoef(pose[:, ms.INDEX["headTy"]], pose[:, ms.INDEX["headPitch"]])[0, 1] > 0.99
        assert np.abs(pose[:, [0, 2, 3, 5]]).max() == 0.0  # yaw, roll, tx, scale: no breathing


def test_breathing_is_a_fraction_of_the_idle_motion() -> None:
    """With the default head, breathing adds a small sinusoid and leaves every other draw alone."""
    n = FPS * 120
    default = LifeConfig()
    breathless = replace(default, breath_ty=0.0, breath_pitch=0.0)
    with_breath = life_track(np.zeros(n), seed=4)[:, ms.POSE_SLICE]
    without = life_track(np.zeros(n), seed=4, config=breathless)[:, ms.POSE_SLICE]
    ty = ms.INDEX["headTy"]
    breath = with_breath[:, ty] - without[:, ty]
    assert 0.0 < np.abs(breath).max() <= 0.5 * without[:, ty].std() * 3
    assert default.breath_ty < 0.5 * default.head_ty and default.breath_pitch < 0.5 * default.head_pitch
    np.testing.assert_array_equal(with_breath[:, [0, 2, 3, 5]], without[:, [0, 2, 3, 5]])


def test_step_order_and_config_validation() -> None:
    life = Life(seed=0)
    life.step(0, 0.0)
    with pytest.raises(ValueError):
        life.step(2, 0.0)
    out = life.step(1, float("nan"), float("inf"))  # garbage in: treated as 0
    assert np.isfinite(out).all()
    with pytest.raises(ValueError):
        LifeConfig(blink_interval_s=(3.0, 1.0))
    with pytest.raises(ValueError):
        LifeConfig(breath_hz=(0.0, 0.3))


def test_blinks_come_more_often_at_phrase_ends() -> None:
    """Speech that stops every 2 s: blinks cluster in the 300 ms after each phrase end."""
    from xactor.engines.motion_source.life import LifeConfig, life_track

    frames = 25 * 600  # 10 minutes
    k = np.arange(frames)
    speech = ((k % 50) < 40).astype(np.float64)  # 1.6 s of speech, 0.4 s pause, repeated

    def onsets(track: np.ndarray) -> np.ndarray:
        closed = track[:, ms.INDEX["eyeBlinkLeft"]] > 0.5
        return np.flatnonzero(closed[1:] & ~closed[:-1]) + 1

    def share_after_ends(config: LifeConfig) -> float:
        starts = np.concatenate([onsets(life_track(speech, seed=s, config=config)) for s in range(3)])
        phase = starts % 50  # frames since the phrase's start; it ends at 40
        return float(((phase >= 40) & (phase < 48)).mean())

    base = share_after_ends(LifeConfig(phrase_end_blink_p=0.0))
    boosted = share_after_ends(LifeConfig())
    assert base < 0.3 and boosted > base + 0.2, (base, boosted)
