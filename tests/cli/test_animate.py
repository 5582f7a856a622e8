"""``xactor animate`` through typer's test runner: speech file → motion source → renderer → MP4 with
the speech, on tiny random generator weights; the fallback, and clear errors for bad input."""

from __future__ import annotations

import math
import shutil
import subprocess
from pathlib import Path

import av
import pytest
from typer.testing import CliRunner

from tests.motion_weights import save_tiny_weights
from xactor.cli.main import app
from xactor.engines.avatar.store import AvatarStore

runner = CliRunner()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("animate-data")
    AvatarStore(root / "avatars").ensure_default()
    return root


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 1.5 s of espeak-ng speech at 22.05 kHz (not 16 kHz: the command resamples)."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    path = tmp_path_factory.mktemp("speech") / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(path), "Hello, how are you?"], check=True, capture_output=True)
    return path


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("weights")
    save_tiny_weights(folder)
    return folder


def _flat(text: str) -> str:
    return " ".join(text.split())


def _seconds(path: Path) -> float:
    with av.open(str(path)) as container:
        return float(container.duration or 0) / av.time_base


def test_animate_writes_an_mp4_as_long_as_the_speech_with_it(
    data_dir: Path, speech: Path, weights: Path, tmp_path: Path
) -> None:
    out = tmp_path / "talk.mp4"
    args = ["animate", "--data-dir", str(data_dir), "--audio", str(speech), "--out", str(out)]
    result = runner.invoke(
        app, [*args, "--weights-dir", str(weights), "--emotion", "happy", "--lookahead", "2"]
    )
    assert result.exit_code == 0, result.output
    assert "motion generator, motion_teacher" in _flat(result.stdout)
    speech_s = _seconds(speech)
    with av.open(str(out)) as container:
        assert [s.type for s in container.streams] == ["video", "audio"]
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == math.ceil(speech_s * 25 - 1e-6) and frames[0].shape == (256, 256, 3)
    assert abs(len(frames) / 25 - speech_s) < 0.05
    assert abs(_seconds(out) - speech_s) < 0.1


def test_without_weights_it_says_so_and_uses_the_heuristic(
    data_dir: Path, speech: Path, tmp_path: Path
) -> None:
    (tmp_path / "none").mkdir()
    out = tmp_path / "fallback.mp4"
    args = ["animate", "--data-dir", str(data_dir), "--audio", str(speech), "--out", str(out)]
    jsonl = tmp_path / "motion.jsonl"
    result = runner.invoke(app, [*args, "--weights-dir", str(tmp_path / "none"), "--motion-out", str(jsonl)])
    assert result.exit_code == 0, result.output
    assert "heuristic (fallback: generator weights unusable" in _flat(result.stderr)
    assert "motion heuristic" in _flat(result.stdout) and out.is_file()
    # Motion out for rigs: one record per video frame, on the video's clock, that renders back.
    import json

    from xactor.engines.offline.motion_file import load_motion

    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    with av.open(str(out)) as container:
        n_frames = sum(1 for _ in container.decode(video=0))
    assert len(records) == n_frames and records[3]["index"] == 3 and records[3]["t"] == 0.12
    assert "jawOpen" in records[0]["coefficients"] and "headYaw" in records[0]["coefficients"]
    motion = load_motion(jsonl)
    assert motion.shape == (n_frames, 40) and motion[:, 0].std() >= 0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--avatar", "0123456789abcdef"], "0123456789abcdef"),
        (["--emotion", "bored"], "unknown emotion 'bored'"),
        (["--lookahead", "5"], "outside 0..3"),
        (["--motion-source", "nope"], "unknown motion source 'nope'"),
    ],
)
def test_clear_errors(
    data_dir: Path, speech: Path, weights: Path, tmp_path: Path, extra: list[str], message: str
) -> None:
    args = ["animate", "--data-dir", str(data_dir), "--audio", str(speech), "--out", str(tmp_path / "x.mp4")]
    result = runner.invoke(app, [*args, "--weights-dir", str(weights), *extra])
    assert result.exit_code == 1 and message in _flat(result.stderr), result.output
    assert not (tmp_path / "x.mp4").exists()


def test_missing_or_unreadable_audio_is_a_clear_error(data_dir: Path, tmp_path: Path) -> None:
    base = ["animate", "--data-dir", str(data_dir), "--out", str(tmp_path / "x.mp4")]
    result = runner.invoke(app, [*base, "--audio", str(tmp_path / "absent.wav")])
    assert result.exit_code == 1 and "absent.wav: no such file" in _flat(result.stderr)
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"RIFF but not really a wave file" * 10)
    result = runner.invoke(app, [*base, "--audio", str(garbage)])
    assert result.exit_code == 1 and "cannot read audio" in _flat(result.stderr), result.output


def test_an_error_naming_a_long_path_keeps_it_on_one_line(data_dir: Path, tmp_path: Path) -> None:
    """The message is never hard-wrapped (the terminal wraps it): the path stays one copyable string."""
    deep = tmp_path / ("a-folder-name-long-enough-to-pass-eighty-columns-" * 3)
    missing = deep / "absent.wav"
    base = ["animate", "--data-dir", str(data_dir), "--out", str(tmp_path / "x.mp4")]
    result = runner.invoke(app, [*base, "--audio", str(missing)])
    assert result.exit_code == 1 and f"{missing}: no such file" in result.stderr, result.stderr
