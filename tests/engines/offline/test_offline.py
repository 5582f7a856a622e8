"""Offline tools: demo motion, motion files, MP4 writing with audio, rendering any renderer to
video, contact sheets (with a stand-in renderer and with the real warp renderer)."""

from __future__ import annotations

import itertools
import wave
from pathlib import Path

import av
import numpy as np
import pytest

from xactor.engines import motion_space as ms
from xactor.engines.avatar.bundle import AvatarBundle
from xactor.engines.offline.contact_sheet import contact_sheet
from xactor.engines.offline.demo import CONTACT_SHEET, demo_motion
from xactor.engines.offline.motion_file import load_motion
from xactor.engines.offline.video import Mp4Writer, read_audio, render_video, write_mp4
from xactor.engines.render import Renderer, RendererOptions, create_renderer


class JawGauge(Renderer):
    """A stand-in renderer: a grey frame whose brightness is jawOpen and a bar as wide as headYaw.

    The offline tools must work with any :class:`Renderer`, not only the warp one.
    """

    def __init__(self, size: int = 32) -> None:
        self._size = size
        self.calls: list[int] = []

    @property
    def size(self) -> int:
        return self._size

    def render(self, motion: np.ndarray) -> np.ndarray:
        motion = np.atleast_2d(motion)
        self.calls.append(len(motion))
        frames = np.empty((len(motion), self._size, self._size, 3), np.uint8)
        for frame, m in zip(frames, motion, strict=True):
            frame[:] = 40 + int(200 * m[ms.INDEX["jawOpen"]])
            frame[:4, : int(self._size * abs(m[ms.INDEX["headYaw"]]) / 0.6)] = 0
        return frames


def write_tone(path: Path, seconds: float, rate: int = 16_000) -> Path:
    t = np.arange(int(seconds * rate)) / rate
    samples = (0.3 * np.sin(2 * np.pi * 220 * t) * 32767).astype(np.int16)
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(rate)
        f.writeframes(samples.tobytes())
    return path


def test_demo_motion_exercises_mouth_lids_brows_and_pose() -> None:
    motion = demo_motion(8.0)
    assert motion.shape == (200, ms.MOTION_DIM) and motion.dtype == np.float32
    assert np.array_equal(motion, ms.clamp_np(motion))
    peak = {name: motion[:, ms.INDEX[name]].max() for name in ms.NAMES}
    for name in ("jawOpen", "mouthSmileLeft", "mouthPucker", "mouthFunnel", "eyeBlinkLeft", "browInnerUp"):
        assert peak[name] > 0.5, name
    assert np.abs(motion[:, ms.INDEX["headYaw"]]).max() > 0.2
    # Smooth: no frame-to-frame jumps bigger than a blink's.
    assert np.abs(np.diff(motion, axis=0)).max() < 0.6
    assert np.array_equal(motion, demo_motion(8.0))  # scripted, not random


def test_motion_files_round_trip(tmp_path: Path) -> None:
    motion = demo_motion(1.0)
    np.save(tmp_path / "m.npy", motion)
    np.savez(tmp_path / "m.npz", motion=motion)
    (tmp_path / "m.csv").write_text("jawOpen,headYaw\n0.5,0.1\n0.7,-0.1\n")
    assert np.array_equal(load_motion(tmp_path / "m.npy"), motion)
    assert np.array_equal(load_motion(tmp_path / "m.npz"), motion)
    csv = load_motion(tmp_path / "m.csv")
    assert csv.shape == (2, ms.MOTION_DIM) and csv[1, ms.INDEX["jawOpen"]] == pytest.approx(0.7)
    (tmp_path / "bad.csv").write_text("jawOpn\n0.5\n")
    with pytest.raises(ValueError, match="unknown motion channels"):
        load_motion(tmp_path / "bad.csv")
    np.save(tmp_path / "bad.npy", np.zeros((3, 7)))
    with pytest.raises(ValueError, match="must be"):
        load_motion(tmp_path / "bad.npy")


def test_mp4_has_every_frame_and_the_audio_trimmed_to_the_video(tmp_path: Path) -> None:
    tone = write_tone(tmp_path / "tone.wav", seconds=3.0)
    frames = [np.full((64, 96, 3), 4 * i, np.uint8) for i in range(50)]  # 2 s at 25 fps
    count = write_mp4(tmp_path / "out.mp4", frames, (96, 64), 25, tone)
    assert count == 50
    with av.open(str(tmp_path / "out.mp4")) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert video.codec_context.name == "h264" and audio.codec_context.name == "aac"
        assert video.codec_context.pix_fmt == "yuv420p"
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(decoded) == 50
    assert abs(int(decoded[40].mean()) - 160) < 6
    samples = read_audio(tmp_path / "out.mp4")
    assert abs(samples.shape[1] / 48_000 - 2.0) < 0.05
    assert np.abs(samples).max() > 0.2  # the tone made it through


def test_mp4_needs_even_sides(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="even"):
        Mp4Writer(tmp_path / "x.mp4", (63, 64))


def test_render_video_drives_any_renderer_in_batches_and_pastes(tmp_path: Path) -> None:
    renderer = JawGauge(size=32)
    motion = ms.zeros(11)
    motion[:, ms.INDEX["jawOpen"]] = np.linspace(0.0, 1.0, 11)

    def paste(crop: np.ndarray) -> np.ndarray:  # into a 51 x 41 "portrait" (odd sides get cut)
        full = np.zeros((51, 41, 3), np.uint8)
        full[5:37, 4:36] = crop
        return full

    count = render_video(tmp_path / "v.mp4", renderer, motion, fps=25, batch=4, paste=paste)
    assert count == 11 and renderer.calls == [4, 4, 3]
    with av.open(str(tmp_path / "v.mp4")) as container:
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(decoded) == 11 and decoded[0].shape == (50, 40, 3)
    centre = [int(f[15:30, 10:30].mean()) for f in decoded]
    assert abs(centre[0] - 40) < 8 and abs(centre[-1] - 240) < 8  # the frames in order
    assert all(b >= a - 3 for a, b in itertools.pairwise(centre))
    with pytest.raises(ValueError, match="no motion"):
        render_video(tmp_path / "empty.mp4", renderer, ms.zeros(0))


def test_contact_sheet_works_with_any_renderer() -> None:
    sheet = contact_sheet(JawGauge(size=32), tile=64, columns=4)
    rows = -(-len(CONTACT_SHEET) // 4)
    assert sheet.size == (4 * 64, rows * (64 + 18))
    pixels = np.asarray(sheet).astype(int)
    neutral, jaw = pixels[18 + 20 : 18 + 60, 0:64], pixels[18 + 20 : 18 + 60, 64:128]
    assert abs(neutral.mean() - 40) < 3 and jaw.mean() > neutral.mean() + 100  # poses in order


def test_contact_sheet_of_the_warp_renderer_has_every_pose(astronaut_bundle: AvatarBundle) -> None:
    renderer = create_renderer("warp", astronaut_bundle, RendererOptions(size=256))
    sheet = contact_sheet(renderer, tile=128)
    rows = -(-len(CONTACT_SHEET) // 5)
    assert sheet.size == (5 * 128, rows * (128 + 18))
    pixels = np.asarray(sheet)
    tiles = [pixels[18 : 18 + 128, 128 * i : 128 * (i + 1)] for i in range(5)]
    assert all(t.std() > 10 for t in tiles)  # real pictures, not blank tiles
    assert np.abs(tiles[0].astype(int) - tiles[1].astype(int)).mean() > 0.5  # jawOpen differs
