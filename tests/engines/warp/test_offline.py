"""Offline pieces: demo motion, motion files, MP4 writing with audio, contact sheet."""

from __future__ import annotations

import wave
from pathlib import Path

import av
import numpy as np
import pytest

from engines import motion_space as ms
from engines.warp import AvatarRenderer
from engines.warp.contact_sheet import contact_sheet
from engines.warp.demo import CONTACT_SHEET, demo_motion
from engines.warp.motion_file import load_motion
from engines.warp.video import Mp4Writer, read_audio, write_mp4


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


def test_contact_sheet_has_every_pose(astronaut_renderer: AvatarRenderer) -> None:
    sheet = contact_sheet(astronaut_renderer, tile=128)
    rows = -(-len(CONTACT_SHEET) // 5)
    assert sheet.size == (5 * 128, rows * (128 + 18))
    pixels = np.asarray(sheet)
    tiles = [pixels[18 : 18 + 128, 128 * i : 128 * (i + 1)] for i in range(5)]
    assert all(t.std() > 10 for t in tiles)  # real pictures, not blank tiles
    assert np.abs(tiles[0].astype(int) - tiles[1].astype(int)).mean() > 0.5  # jawOpen differs
