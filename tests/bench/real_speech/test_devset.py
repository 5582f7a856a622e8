"""The dev-set builder on a package it makes itself (no network): the clip comes out of the
package padded, aligned and checked; a clip whose bytes changed is refused."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest

from xactor.bench.speech import have_espeak, tts, write_wav

pytest.importorskip("pocketsphinx", reason="pocketsphinx is the aligner (dev extra)")
pytestmark = pytest.mark.skipif(not have_espeak(), reason="espeak-ng makes the test speech")

from xactor.bench.real_speech.devset import DevsetError, build_clip, read_member  # noqa: E402
from xactor.bench.real_speech.manifest import Clip, Source, align_words  # noqa: E402


def wheel_with(tmp_path: Path, words: str) -> tuple[Path, str]:
    wav = tmp_path / "speech.wav"
    write_wav(wav, tts(words), 16000)
    data = wav.read_bytes()
    package = tmp_path / "voice_demo-1.0-py3-none-any.whl"
    with zipfile.ZipFile(package, "w") as z:
        z.writestr("voice_demo/sample.wav", data)
    return package, hashlib.sha256(data).hexdigest()


def clip_of(sha: str, words: str) -> Clip:
    source = Source("demo", "pip-wheel", "voice-demo", "1.0", "test")
    return Clip(
        "demo",
        source,
        "voice_demo/sample.wav",
        sha,
        "espeak",
        "male",
        "read",
        (),
        words,
        align_words(words),
        "test",
        {},
    )


def test_clip_is_cut_padded_and_aligned(tmp_path: Path) -> None:
    words = "Maybe we should meet at noon."
    package, sha = wheel_with(tmp_path, words)
    assert read_member(package, "voice_demo/sample.wav")[:4] == b"RIFF"
    record = build_clip(clip_of(sha, words), package, tmp_path, pad=0.5)
    assert (tmp_path / "demo.wav").is_file()
    saved = json.loads((tmp_path / "demo.json").read_text())
    assert saved["sha256"] == sha and record["seconds"] == saved["seconds"]
    spoken = [p for p in saved["phones"] if p[0] != "sil"]
    assert [p[0] for p in spoken[:3]] == ["M", "EY", "B"]
    assert spoken[0][1] >= 0.45  # after the padding (the /m/ closure may start a frame or two early)
    assert saved["scored"][0][0] == 0.5


def test_changed_bytes_are_refused(tmp_path: Path) -> None:
    package, _ = wheel_with(tmp_path, "Hello there.")
    with pytest.raises(DevsetError, match="sha256"):
        build_clip(clip_of("0" * 64, "Hello there."), package, tmp_path, pad=0.5)
