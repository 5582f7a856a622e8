"""``xactor render`` through typer's test runner: demo video with audio, motion file, contact sheet,
and renderers picked by name through the registry."""

from __future__ import annotations

import wave
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest
from typer.testing import CliRunner

from tests import fixtures_images as fx
from xactor.cli.main import app
from xactor.engines import motion_space as ms
from xactor.engines.avatar.bundle import AvatarBundle
from xactor.engines.avatar.store import AvatarStore
from xactor.engines.render import RENDERERS, Renderer, RendererOptions, RendererSpec, register_renderer

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


class FlatRenderer(Renderer):
    """A stand-in renderer: flat frames whose grey level is jawOpen, tagged with its options."""

    def __init__(self, options: RendererOptions) -> None:
        self.options = options

    @property
    def size(self) -> int:
        return self.options.size

    def render(self, motion: np.ndarray) -> np.ndarray:
        motion = np.atleast_2d(motion)
        level = (30 + 200 * motion[:, ms.INDEX["jawOpen"]]).astype(np.uint8)
        return np.broadcast_to(level[:, None, None, None], (len(motion), self.size, self.size, 3)).copy()


@pytest.fixture
def flat_renderer() -> Iterator[list[tuple[AvatarBundle, RendererOptions]]]:
    """Register ``flat`` (backends onnxruntime, torch) for one test; record what it was built with."""
    built: list[tuple[AvatarBundle, RendererOptions]] = []

    def build(bundle: AvatarBundle, options: RendererOptions) -> Renderer:
        built.append((bundle, options))
        return FlatRenderer(options)

    register_renderer(RendererSpec("flat", "test double", ("onnxruntime", "torch"), build))
    yield built
    RENDERERS.unregister("flat")


def test_renderer_and_backend_are_picked_by_name(
    data_dir: Path, tmp_path: Path, flat_renderer: list[tuple[AvatarBundle, RendererOptions]]
) -> None:
    motion = tmp_path / "m.csv"
    motion.write_text("jawOpen\n0.0\n1.0\n")
    out = tmp_path / "flat.mp4"
    args = ["render", "--data-dir", str(data_dir), "--motion", str(motion), "--out", str(out)]
    result = runner.invoke(app, [*args, "--renderer", "flat", "--backend", "torch"])
    assert result.exit_code == 0, result.output
    [(bundle, options)] = flat_renderer
    assert bundle.meta.is_default and options.size == 256 and options.backend == "torch"
    with av.open(str(out)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert [round(float(f.mean()) / 10) for f in frames] == [3, 23]  # the stand-in's frames, in order

    result = runner.invoke(app, [*args, "--renderer", "flat"])  # auto → the renderer's fastest
    assert result.exit_code == 0, result.output
    assert flat_renderer[-1][1].backend == "onnxruntime"


def test_unknown_renderer_or_backend_is_a_one_line_error(data_dir: Path, tmp_path: Path) -> None:
    args = ["render", "--data-dir", str(data_dir), "--demo", "--out", str(tmp_path / "x.mp4")]
    result = runner.invoke(app, [*args, "--renderer", "nope"])
    assert result.exit_code == 1 and "unknown renderer 'nope'" in result.stderr and "warp" in result.stderr
    result = runner.invoke(app, [*args, "--backend", "tensorrt"])
    assert result.exit_code == 1 and "no tensorrt backend" in " ".join(result.stderr.split())
    assert "Traceback" not in result.output and not (tmp_path / "x.mp4").exists()
