"""One short end-to-end run of ``xactor eval real``: an espeak-ng clip as a one-clip dev set,
the heuristic on the Grace Hopper photo, offline; the report holds finite numbers that agree
with each other, the frames a person can check are saved, and split runs merge."""

from __future__ import annotations

import json
import math
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from xactor.bench.speech import have_espeak, tts, write_wav

pytest.importorskip("pocketsphinx", reason="pocketsphinx is the aligner (dev extra)")
pytest.importorskip("mediapipe", reason="Face Mesh measures the rendered mouth")
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not have_espeak(), reason="espeak-ng makes the speech")]

WORDS = "Bob bought a map of Maine, and Pam paid a big bill."


@pytest.fixture
def devset(tmp_path: Path) -> Path:
    import hashlib

    from xactor.bench.real_speech.devset import build_clip, write_listing
    from xactor.bench.real_speech.manifest import Clip, Source, align_words

    wav = tmp_path / "speech.wav"
    write_wav(wav, tts(WORDS), 16000)
    package = tmp_path / "voice_demo-1.0-py3-none-any.whl"
    with zipfile.ZipFile(package, "w") as z:
        z.write(wav, "voice_demo/sample.wav")
    source = Source("demo", "pip-wheel", "voice-demo", "1.0", "test")
    sha = hashlib.sha256(wav.read_bytes()).hexdigest()
    clip = Clip(
        "espeak", source, "voice_demo/sample.wav", sha, "espeak", "male", "read", (), WORDS,
        align_words(WORDS), "test", {},
    )  # fmt: skip
    out = tmp_path / "devset"
    out.mkdir()
    write_listing(out, [build_clip(clip, package, out, pad=0.5)])
    return out


def test_eval_real_offline(devset: Path, tmp_path: Path) -> None:
    from xactor.cli.main import app

    out = tmp_path / "report"
    args = ["eval", "real", str(devset), "--sources", "heuristic,oracle", "--portraits", "grace-hopper"]
    result = CliRunner().invoke(app, [*args, "--out", str(out), "--data-dir", str(tmp_path / "data")])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    pixels = report["offline"]["pixels"]["grace-hopper"]["heuristic"]
    space = report["offline"]["motion_space"]["heuristic"]
    assert pixels["bilabials"] == space["bilabials"] == report["devset"]["bilabials"] >= 6
    assert 0 <= pixels["bilabials_closed"] <= pixels["bilabials"]
    assert pixels["measured_frames"] == pixels["frames"]  # Face Mesh found the face on every frame
    for value in (pixels["contrast"], pixels["rho"], space["jaw_open_vowels"]):
        assert math.isfinite(value)
    assert pixels["rho_at_lag"] >= pixels["rho"] - 1e-9  # the best lag is at least as good as lag 0
    assert "| /p b m/ visibly closed" in (out / "report.md").read_text()
    # The corpus's own motion of the aligned phones (the ceiling) seals what it was told to seal.
    oracle = report["offline"]["pixels"]["grace-hopper"]["oracle"]
    assert oracle["bilabials_closed"] >= 0.8 * oracle["bilabials"]
    assert oracle["contrast"] > pixels["contrast"]
    assert list((out / "frames").glob("grace-hopper_heuristic_espeak.png"))

    merged = tmp_path / "merged"
    result = CliRunner().invoke(app, ["eval", "real-merge", str(out), str(out), "--out", str(merged)])
    assert result.exit_code == 0, result.output
    assert json.loads((merged / "report.json").read_text())["sources"] == ["heuristic", "oracle"]
