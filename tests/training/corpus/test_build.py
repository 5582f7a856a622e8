"""training/corpus/synth/run.py, clip.py and ``xactor synth``: a small corpus end to end.

Determinism (same seed, same bytes), resumability, splits disjoint by voice and by text, labels
and phonemes on every clip, closed lips on bilabials, and the stats / preview commands.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from tests.training.conftest import ENGINES, TINY
from xactor.cli.main import app
from xactor.engines import motion_space as ms
from xactor.engines import timebase
from xactor.training.corpus.store.format import (
    complete_shards,
    iter_clips,
    phone_spans,
    read_manifest,
    shard_paths,
)
from xactor.training.corpus.synth.clip import build_shard
from xactor.training.corpus.synth.run import available_voices, plan_clips, run_build
from xactor.training.corpus.synth.splits import family


def _digest(root: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((root / "shards").iterdir())}


def test_same_seed_same_bytes_and_an_interrupted_build_resumes(tiny_corpus: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    shutil.copytree(tiny_corpus, again)
    npz, meta = shard_paths(again, 1)
    meta.unlink()  # as if the build had been killed while writing shard 1
    npz.write_bytes(b"partial")
    assert 1 not in complete_shards(again)
    voices = available_voices(ENGINES)
    run_build(again, TINY, plan_clips(TINY, voices), build_shard, workers=1)
    assert _digest(again) == _digest(tiny_corpus)
    assert read_manifest(again)["totals"] == read_manifest(tiny_corpus)["totals"]


def test_every_clip_has_labels_phonemes_and_consistent_lengths(tiny_corpus: Path) -> None:
    manifest = read_manifest(tiny_corpus)
    assert set(manifest["totals"]) == {"train", "val", "test"}
    for meta, arrays in iter_clips(tiny_corpus):
        t = meta["frames"]
        assert arrays["audio"].shape == (t * timebase.SAMPLES_PER_FRAME,)
        assert arrays["motion"].shape == (t, ms.MOTION_DIM) and arrays["log_mel"].shape == (t * 4, 80)
        assert arrays["emotion"].shape == (t,) and arrays["intensity"].shape == (t,)
        assert meta["texts"] and len(meta["phones"]) > 10
        phones = phone_spans(meta)
        assert phones[0].start == 0.0 and abs(phones[-1].end - t / timebase.FPS) < 1e-3
        motion = arrays["motion"].astype(np.float32)
        assert np.all(motion >= ms.LOW - 1e-3) and np.all(motion <= ms.HIGH + 1e-3)


def test_splits_are_disjoint_by_voice_family_and_by_sentence(tiny_corpus: Path) -> None:
    voices = {v.id: v for v in available_voices(ENGINES)}
    families: dict[str, set[str]] = {}
    sentences: dict[str, set[str]] = {}
    for meta, _ in iter_clips(tiny_corpus):
        families.setdefault(meta["split"], set()).add(family(voices[meta["voice"]]))
        sentences.setdefault(meta["split"], set()).update(meta["texts"])
    for held_out in ("val", "test"):
        assert not families["train"] & families.get(held_out, set())
        assert not sentences["train"] & sentences.get(held_out, set())


def test_bilabials_close_the_lips_and_silence_keeps_them_still(tiny_corpus: Path) -> None:
    jaw, close = ms.INDEX["jawOpen"], ms.INDEX["mouthClose"]
    press = [ms.INDEX["mouthPressLeft"], ms.INDEX["mouthPressRight"]]
    lips = [ms.INDEX[n] for n in ms.NAMES if n.startswith(("jaw", "mouth"))]
    closures = 0
    for meta, arrays in iter_clips(tiny_corpus):
        motion = arrays["motion"].astype(np.float32)
        for p in phone_spans(meta):
            k = int((p.start + p.end) / 2 * timebase.FPS)
            if p.phone in ("P", "B", "M") and p.duration >= 0.04:
                closures += 1
                assert motion[k, jaw] <= 0.12 and motion[k, close] >= 0.5 * motion[k, jaw], (meta["id"], p)
                assert motion[k, press].mean() >= 0.3, (meta["id"], p)
            if p.phone == "sil" and p.duration >= 1.0:
                # No lip motion in silence: the mouth holds still (a mood's slow offset may stay).
                a, b = int((p.start + 0.3) * timebase.FPS), int((p.end - 0.3) * timebase.FPS)
                steps = np.abs(np.diff(motion[a:b][:, lips], axis=0))  # [frames - 1, lip channels]
                assert steps.size == 0 or steps.max() <= 0.02, (meta["id"], p)
    assert closures >= 10


def test_stats_and_preview_commands(tiny_corpus: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["synth", "stats", str(tiny_corpus)])
    assert result.exit_code == 0, result.output
    assert "phoneme counts" in result.output and "emotion share" in result.output
    clip = read_manifest(tiny_corpus)["shards"][0]["clips"][0]["id"]
    out = tmp_path / "clip.mp4"
    result = runner.invoke(
        app, ["synth", "preview", clip, "--corpus", str(tiny_corpus), "--out", str(out), "--seconds", "2"]
    )
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 1000
    bad = runner.invoke(app, ["synth", "preview", "nope", "--corpus", str(tiny_corpus), "--out", str(out)])
    assert bad.exit_code == 1 and "no clip 'nope'" in bad.output
