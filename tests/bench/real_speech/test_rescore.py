"""``xactor eval real-rescore`` on a subset: weights that have heard one of the dev set's
speakers are scored on the others, from the run's saved series (no rendering here: the series
are written by the test)."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from xactor.bench.speech import have_espeak, tts, write_wav

pytest.importorskip("pocketsphinx", reason="pocketsphinx is the aligner (dev extra)")
pytestmark = pytest.mark.skipif(not have_espeak(), reason="espeak-ng makes the speech")

SPEAKERS = {"bob": ("Bob bought a map of Maine.", "speaker-a"), "pam": ("Pam paid a big bill.", "speaker-b")}


@pytest.fixture
def run(tmp_path: Path) -> tuple[Path, Path]:
    """A two-speaker dev set and an offline run of it (heuristic on one portrait)."""
    from xactor.bench.real_speech.clips import load_clips
    from xactor.bench.real_speech.devset import build_clip, write_listing
    from xactor.bench.real_speech.manifest import Clip, Source, align_words

    source = Source("demo", "pip-wheel", "voice-demo", "1.0", "test")
    devset = tmp_path / "devset"
    devset.mkdir()
    records = []
    for clip_id, (words, speaker) in SPEAKERS.items():
        wav = tmp_path / f"{clip_id}.wav"
        write_wav(wav, tts(words), 16000)
        package = tmp_path / f"voice_demo_{clip_id}-1.0-py3-none-any.whl"
        with zipfile.ZipFile(package, "w") as z:
            z.write(wav, "voice_demo/sample.wav")
        sha = hashlib.sha256(wav.read_bytes()).hexdigest()
        clip = Clip(
            clip_id, source, "voice_demo/sample.wav", sha, speaker, "male", "read", (), words,
            align_words(words), "test", {},
        )  # fmt: skip
        records.append(build_clip(clip, package, devset, pad=0.5))
    write_listing(devset, records)
    clips = load_clips(devset)
    out = tmp_path / "run"
    out.mkdir()
    series = {}
    for c in clips:
        series[f"motion/heuristic/{c.id}"] = np.zeros((c.frames, 40), np.float32)  # [T, 40]
        series[f"pixels/grace-hopper/heuristic/{c.id}"] = c.target.astype(np.float64)  # the phones' own
    np.savez_compressed(out / "series.npz", **series)
    report = {
        "devset": {"clips": [c.id for c in clips], "seconds": 4.0, "bilabials": 9, "speakers": ["a", "b"]},
        "weights_dir": str(tmp_path / "gone"),
        "lookahead": 1,
        "sources": ["heuristic"],
        "portraits": ["grace-hopper"],
        "offline": {"motion_space": {}, "pixels": {"grace-hopper": {}}, "phone_recognizer": {"student": {}}},
    }
    (out / "report.json").write_text(json.dumps(report))
    return out, devset


def test_a_speaker_left_out_is_not_scored(run: tuple[Path, Path], tmp_path: Path) -> None:
    from xactor.bench.real_speech.clips import load_clips
    from xactor.cli.main import app

    folder, devset = run
    out = tmp_path / "rescored"
    args = ["eval", "real-rescore", str(folder), str(devset), "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--without-speaker", "speaker-a"])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    pam = load_clips(devset, ["pam"])[0]
    assert report["devset"]["clips"] == ["pam"] and report["devset"]["speakers"] == ["speaker-b"]
    assert report["devset"]["subset_of"] == ["bob", "pam"]
    scored = report["offline"]["pixels"]["grace-hopper"]["heuristic"]
    assert scored["frames"] == pam.frames and scored["bilabials"] == len(pam.bilabials) == 5  # P M, P, B, B
    assert scored["rho"] == pytest.approx(1.0)  # the test's "pixels" are the phone openness itself
    assert report["offline"]["phone_recognizer"] is None  # its weights are gone: not the whole set's

    whole = CliRunner().invoke(app, [*args[:-2], "--out", str(tmp_path / "whole")])
    assert whole.exit_code == 0, whole.output
    both = json.loads((tmp_path / "whole" / "report.json").read_text())
    assert both["offline"]["pixels"]["grace-hopper"]["heuristic"]["frames"] > scored["frames"]


def test_leaving_out_every_clip_is_an_error(run: tuple[Path, Path], tmp_path: Path) -> None:
    from xactor.cli.main import app

    folder, devset = run
    args = ["eval", "real-rescore", str(folder), str(devset), "--out", str(tmp_path / "x")]
    result = CliRunner().invoke(app, [*args, "--without-speaker", "speaker-a", "--clip", "bob"])
    assert result.exit_code != 0
    assert "no clip of the run is left" in result.output
