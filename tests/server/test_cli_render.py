"""``xactor render`` through typer's test runner: demo video with audio, motion file, contact sheet."""

from __future__ import annotations

import wave
from pathlib import Path

import av
import numpy as np
import pytest
from typer.testing import CliRunner

from engines.avatar.store import AvatarStore
from server.cli import app
from tests import fixtures_images as fx

runner = CliRunner()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("render-data")
    AvatarStore(root / "avatars").ensure_default()
    return root


def test_demo_video_with_audio(data_dir: Path, tmp_path: Path) -> None:
    speech = tmp_path / "speech.wav"
    with wave.open(str(speech), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(16_000)
        f.writeframes((np.sin(np.arange(16_000) / 8.0) * 8000).astype(np.int16).tobytes())
    out = tmp_path / "demo.mp4"
    result = runner.invoke(
        app,
        [
            "render",
            "--data-dir",
            str(data_dir),
            "--demo",
            "--seconds",
            "1.2",
            "--out",
            str(out),
            "--audio",
            str(speech),
        ],
    )
    assert result.exit_code == 0, result.output
    with av.open(str(out)) as container:
        assert [s.type for s in container.streams] == ["video", "audio"]
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == 30 and frames[0].shape == (256, 256, 3)


def test_motion_file_pasted_into_the_portrait(data_dir: Path, tmp_path: Path) -> None:
    motion = tmp_path / "m.csv"
    motion.write_text("jawOpen\n0.0\n0.5\n0.9\n")
    out = tmp_path / "full.mp4"
    result = runner.invoke(
        app,
        ["render", "--data-dir", str(data_dir), "--motion", str(motion), "--full", "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    with av.open(str(out)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == 3 and frames[0].shape == (512, 512, 3)  # the astronaut portrait's size


def test_contact_sheet_from_a_portrait_file(data_dir: Path, tmp_path: Path) -> None:
    sheet = tmp_path / "sheet.png"
    result = runner.invoke(
        app,
        [
            "render", "--data-dir", str(data_dir), "--avatar", str(fx.grace_hopper_path()),
            "--contact-sheet", str(sheet), "--tile", "96",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert sheet.is_file() and sheet.stat().st_size > 10_000


def test_needs_exactly_one_motion_source(data_dir: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["render", "--data-dir", str(data_dir), "--out", str(tmp_path / "x.mp4")])
    assert result.exit_code != 0
