"""``xactor prepare`` on a talking-head video the test makes itself (the default portrait animated
by the warp renderer with known motion, with audio): both stages' data come out, and the fitted
jaw follows the jaw that drove the video."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from xactor.cli.main import app
from xactor.engines import motion_space as ms
from xactor.engines.avatar.store import AvatarStore
from xactor.engines.offline.video import write_mp4
from xactor.engines.warp import AvatarRenderer

JAW = ms.INDEX["jawOpen"]


def _video(folder: Path) -> np.ndarray:
    """A 2 s MP4 of the default portrait opening and closing its mouth, with a tone; the motion."""
    bundle = AvatarStore(folder / "avatars").ensure_default()
    renderer = AvatarRenderer.from_bundle(bundle, size=256)
    t = np.arange(50) / 25.0
    motion = ms.zeros(50)
    motion[:, JAW] = 0.45 * (1 - np.cos(2 * np.pi * t / 1.0)) / 2  # two open-close cycles
    motion[:, ms.INDEX["headYaw"]] = 0.1 * np.sin(2 * np.pi * t / 2.0)
    frames = renderer.render(motion)
    audio = folder / "tone.wav"
    tone = (0.2 * 32767 * np.sin(2 * np.pi * 220 * np.arange(32000) / 16000)).astype(np.int16)
    with wave.open(str(audio), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(tone.tobytes())
    (folder / "videos").mkdir()
    write_mp4(folder / "videos" / "talk.mp4", frames, (256, 256), audio_path=audio)
    return motion


def test_prepare_a_video_into_both_stages(tmp_path: Path) -> None:
    driving = _video(tmp_path)
    out = tmp_path / "prepared"
    result = CliRunner().invoke(
        app, ["prepare", str(tmp_path / "videos"), "--out", str(out), "--size", "128", "--split", "train"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "prepare.json").read_text())["videos"]["talk"]
    assert summary["split"] == "train" and summary["frames"] == 50 and summary["tracked"] > 0.9

    from xactor.training.corpus.store.format import iter_clips, read_manifest

    assert read_manifest(out / "motion")["totals"]["train"]["clips"] == 1
    meta, arrays = next(iter_clips(out / "motion", "train"))
    assert meta["voice"] == "video:talk" and meta["extra"]["phones_known"] is False
    assert arrays["audio"].shape == (50 * 640,) and arrays["log_mel"].shape == (200, 80)
    jaw = arrays["motion"][:, JAW].astype(np.float32)
    assert np.corrcoef(jaw, driving[:, JAW])[0, 1] > 0.9  # the fit recovers the driving jaw
    from xactor.training.motion.data import UNKNOWN_PHONE, load_split

    (clip,) = load_split(out / "motion", "train")
    assert clip.phone_ids is not None and (clip.phone_ids == UNKNOWN_PHONE).all()  # no phone loss on it

    render = json.loads((out / "render" / "manifest.json").read_text())
    assert render["config"]["size"] == 128 and render["shards"]["train"] == ["train-0000.npz"]
    with np.load(out / "render" / "train-0000.npz") as z:
        assert z["target"].shape[1:] == (128, 128, 3) and z["prior"].shape == z["target"].shape
        assert z["reference"].shape == (1, 128, 128, 3) and len(z["motion"]) == len(z["target"]) >= 45
        error = np.abs(z["prior"].astype(int) - z["target"]).mean()
        assert error < 20  # the warp of the first frame explains the others (same portrait, same renderer)

    again = CliRunner().invoke(
        app, ["prepare", str(tmp_path / "videos"), "--out", str(out), "--split", "train"]
    )
    assert again.exit_code == 0  # resumes: nothing left to do
    bad = CliRunner().invoke(app, ["prepare", str(tmp_path / "nothing"), "--out", str(out)])
    assert bad.exit_code == 1
