"""store/format.py, store/loader.py and synth/splits.py: shards, manifest, resume, splits, windows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from xactor.engines import timebase
from xactor.engines.audio.features import log_mel
from xactor.training.corpus.phonemes import PhoneSpan
from xactor.training.corpus.store.format import (
    Clip,
    complete_shards,
    iter_clips,
    load_clip_arrays,
    phone_spans,
    read_manifest,
    shard_paths,
    write_manifest,
    write_shard,
)
from xactor.training.corpus.store.loader import iter_windows
from xactor.training.corpus.synth.splits import SPLITS, family, split_voices
from xactor.training.corpus.tts.voices import Voice


def _clip(i: int, split: str = "train", frames: int = 60) -> Clip:
    rng = np.random.default_rng(i)
    audio = (0.1 * rng.standard_normal(frames * timebase.SAMPLES_PER_FRAME)).astype(np.float32)
    return Clip(
        id=f"c{i:04d}",
        split=split,
        voice=f"v{i % 3}",
        seed=i,
        texts=["Bob bought a map."],
        phones=[
            PhoneSpan("sil", 0.0, 0.1),
            PhoneSpan("B", 0.1, 0.16, 0, 0),
            PhoneSpan("AA", 0.16, 0.3, 1, 0),
        ],
        audio=audio,
        log_mel=log_mel(audio),
        motion=rng.uniform(0, 1, (frames, 40)).astype(np.float32),
        speech=rng.uniform(0, 1, frames).astype(np.float32),
        emotion=rng.integers(0, 5, frames).astype(np.uint8),
        intensity=rng.uniform(0, 1, frames).astype(np.float32),
    )


def test_shards_round_trip_and_manifest(tmp_path: Path) -> None:
    clips = [_clip(0), _clip(1, "val"), _clip(2, "test", frames=30)]
    write_shard(tmp_path, 0, clips[:2])
    write_shard(tmp_path, 1, clips[2:])
    manifest = write_manifest(tmp_path, {"seed": 7})
    assert read_manifest(tmp_path) == manifest
    assert manifest["totals"]["train"]["clips"] == 1 and manifest["totals"]["test"]["clips"] == 1
    assert manifest["config"] == {"seed": 7} and [s["index"] for s in manifest["shards"]] == [0, 1]
    arrays = load_clip_arrays(tmp_path, 0, "c0001")
    assert np.abs(arrays["audio"] - clips[1].audio).max() <= 1 / 32767 + 1e-7  # int16 on disk
    np.testing.assert_allclose(arrays["motion"], clips[1].motion, atol=1e-3)  # float16 on disk
    assert arrays["emotion"].dtype == np.uint8 and np.array_equal(arrays["emotion"], clips[1].emotion)
    metas = [m for m, _ in iter_clips(tmp_path, "test")]
    assert [m["id"] for m in metas] == ["c0002"] and metas[0]["frames"] == 30
    assert phone_spans(metas[0])[1] == PhoneSpan("B", 0.1, 0.16, 0, 0)


def test_a_shard_without_its_json_is_incomplete_and_rewritten(tmp_path: Path) -> None:
    write_shard(tmp_path, 0, [_clip(0)])
    npz, meta = shard_paths(tmp_path, 1)
    npz.write_bytes(b"half a shard")  # a build killed after the arrays, before the JSON
    assert complete_shards(tmp_path) == [0]
    write_shard(tmp_path, 1, [_clip(1)])
    assert complete_shards(tmp_path) == [0, 1] and meta.is_file()
    assert not list((tmp_path / "shards").glob(".tmp-*"))


def test_clips_with_inconsistent_lengths_are_refused(tmp_path: Path) -> None:
    clip = _clip(0)
    clip.audio = clip.audio[:-1]
    with pytest.raises(ValueError, match="audio has shape"):
        write_shard(tmp_path, 0, [clip])
    assert complete_shards(tmp_path) == []


def test_windows_are_shaped_seeded_and_filtered_by_split(tmp_path: Path) -> None:
    write_shard(tmp_path, 0, [_clip(0), _clip(1, "val")])
    write_shard(tmp_path, 1, [_clip(2), _clip(3)])
    windows = list(iter_windows(tmp_path, "train", window=20, hop=10, seed=1))
    assert len(windows) == 3 * 5  # 60 frames: starts 0, 10, 20, 30, 40
    w = windows[0]
    assert w.log_mel.shape == (80, 80) and w.motion.shape == (20, 40) and w.emotion.shape == (20,)
    assert {x.clip_id for x in windows} == {"c0000", "c0002", "c0003"}
    again = list(iter_windows(tmp_path, "train", window=20, hop=10, seed=1))
    assert [(x.clip_id, x.start) for x in again] == [(x.clip_id, x.start) for x in windows]
    other = list(iter_windows(tmp_path, "train", window=20, hop=10, seed=1, epoch=1))
    assert [(x.clip_id, x.start) for x in other] != [(x.clip_id, x.start) for x in windows]


def test_augmented_windows_get_the_log_mel_of_the_augmented_audio(tmp_path: Path) -> None:
    write_shard(tmp_path, 0, [_clip(0)])
    silent = list(iter_windows(tmp_path, "train", window=60, hop=60, augment=lambda a, s: a * 0.0))
    clean = list(iter_windows(tmp_path, "train", window=60, hop=60))
    assert silent[0].log_mel.max() < clean[0].log_mel.min() + 1.0  # log floor of silence
    np.testing.assert_array_equal(silent[0].motion, clean[0].motion)  # labels stay clean


def _voices() -> list[Voice]:
    out = []
    for engine, names in (
        ("espeak-ng", ["en-us", "en-gb", "en-029"]),
        ("flite", ["slt", "kal", "awb", "rms"]),
    ):
        for name in names:
            for variant, sex in (("m1", "male"), ("f2", "female"), ("m3", "male")):
                for pitch in (40.0, 60.0):
                    out.append(
                        Voice(f"{engine}-{name}+{variant}-p{pitch}", engine, name, variant, pitch, sex=sex)
                    )  # type: ignore[arg-type]
    return out


def test_voice_splits_are_disjoint_by_family_and_cover_both_sexes() -> None:
    voices = _voices()
    splits = split_voices(voices, seed=3)
    assert sum(len(v) for v in splits.values()) == len(voices)
    fams = {s: {family(v) for v in splits[s]} for s in SPLITS}
    assert (
        not fams["train"] & fams["test"]
        and not fams["train"] & fams["val"]
        and not fams["val"] & fams["test"]
    )
    assert {v.sex for v in splits["test"]} == {"male", "female"}
    assert {v.engine for v in splits["test"]} == {"espeak-ng", "flite"}
    assert split_voices(voices, seed=3) == splits and split_voices(voices, seed=4) != splits
